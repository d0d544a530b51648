use std::collections::BTreeMap;
use std::time::Duration;

use collector::Clusters;

use super::*;

const CONFIG: &str = r#"
[[clusters]]
name = "idc-hadoop"
role = "baseline"
location = "file:///data/{cluster}/warehouse/{db}.db/{table}/{partition_path}"

[[clusters]]
name = "cloud-emr"
role = "candidate"
location = "file:///data/{cluster}/warehouse/{db}.db/{table}/{partition_path}"

[kafka]
brokers = "127.0.0.1:9092"
properties = { "security.protocol" = "SASL_SSL", "sasl.password" = "secret" }

[runner]
max_concurrent = 3
memory_limit = "2GiB"
windows = { only = ["01:00-07:00"] }

[[tables]]
name = "dw.orders"
key = ["order_id"]
owners = ["orders-team@example.com"]
deadline = "2h"
options = { ignore = ["etl_time"], abs_tol = 0.01 }
"#;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn a_full_configuration_loads_with_environment_overrides() {
    let overrides = env(&[
        ("DQC_STORE__URL", "postgres://dqc@db/dqc"),
        ("DQC_RUNNER__MAX_CONCURRENT", "5"),
        ("HOME", "/root"),
        // Not a setting: no `__`.
        ("DQC_TEST_POSTGRES_URL", "postgres://elsewhere"),
    ]);

    let config = parse(CONFIG, "dqc.toml", &overrides).unwrap();
    assert_eq!(config.store.url, "postgres://dqc@db/dqc");
    assert_eq!(config.runner.max_concurrent, 5);
    assert_eq!(config.memory_limit(), 2 << 30);
    assert_eq!(config.clusters().unwrap(), Clusters { baseline: "idc-hadoop".into(), candidate: "cloud-emr".into() });
    assert_eq!(config.tables[0].deadline, Some(Duration::from_secs(7200)));
    assert_eq!(config.pairing.deadline, Duration::from_secs(6 * 3600));
    let shown = format!("{:?}", config.kafka);
    assert!(shown.contains("sasl.password") && !shown.contains("secret"), "secrets are not shown: {shown}");
}

#[test]
fn locations_resolve_from_the_template() {
    let template = "file:///data/{cluster}/warehouse/{db}.db/{table}/{partition_path}";
    assert_eq!(
        resolve_location(template, "cloud-emr", "dw.orders", "dt=2024-05-01"),
        "file:///data/cloud-emr/warehouse/dw.db/orders/dt=2024-05-01"
    );
    assert_eq!(resolve_location(template, "idc", "orders", ""), "file:///data/idc/warehouse/default.db/orders");
}

#[test]
fn invalid_configurations_name_the_setting() {
    let cases = [
        (CONFIG.replace("role = \"candidate\"", "role = \"baseline\""), "exactly one baseline and one candidate"),
        (CONFIG.replace("{partition_path}\"\n\n[kafka]", "{partition}\"\n\n[kafka]"), "unknown placeholder"),
        (CONFIG.replace("max_concurrent = 3", "max_concurrent = 0"), "max_concurrent"),
        (
            CONFIG.replace("max_concurrent = 3", "max_concurrent = 3\ninventory_concurrency = 0"),
            "inventory_concurrency",
        ),
        (CONFIG.replace("2GiB", "2 parsecs"), "unknown size unit"),
        (CONFIG.replace("01:00-07:00", "1am-7am"), "`1am-7am` is not a window"),
        (CONFIG.replace("deadline = \"2h\"", "deadline = \"soon\""), "`soon` is not a duration"),
        (CONFIG.replace("abs_tol = 0.01", "abs_tol = -1.0"), "a tolerance must be a finite number"),
        (CONFIG.replace("max_concurrent = 3", "max_concurent = 3"), "unknown field `max_concurent`"),
        (format!("{CONFIG}\n[[tables]]\nname = \"dw.orders\"\n"), "`dw.orders` is registered twice"),
        (
            format!("{CONFIG}\n[retention]\nevents = \"1h\"\n"),
            "retention.events (1h) must be longer than the longest pairing deadline",
        ),
    ];
    for (text, expected) in cases {
        let error = parse(&text, "dqc.toml", &BTreeMap::new()).unwrap_err().to_string();
        assert!(error.contains(expected), "{error:?} should contain {expected:?}");
    }
    let error = parse(CONFIG, "dqc.toml", &env(&[("DQC_KAFKA__BROKERS__X", "1")])).unwrap_err().to_string();
    assert!(error.contains("DQC_KAFKA__BROKERS__X: `brokers` is not a table"), "{error}");
}

#[test]
fn the_example_in_the_repository_is_valid() {
    let text = include_str!("../../../dqc.example.toml");
    let config = parse(text, "dqc.example.toml", &BTreeMap::new()).unwrap();
    assert_eq!(config.tables[0].key, vec!["order_id".to_owned()]);
    assert_eq!(config.runner.windows.only, vec!["01:00-07:00".parse().unwrap()]);
    assert_eq!(config.runner.inventory_concurrency, 16);
}

#[test]
fn the_example_holds_no_usable_token_and_guessable_ones_are_refused() {
    let text = include_str!("../../../dqc.example.toml");
    assert!(parse(text, "dqc.example.toml", &BTreeMap::new()).unwrap().api.tokens.is_empty());
    let password = crate::rest::hash_token("password");
    let with = |api: &str| format!("{CONFIG}\n[api]\n{api}\n");
    let cases = [
        (
            with(&format!("tokens = [{{ name = \"ci\", role = \"operator\", sha256 = \"{password}\" }}]")),
            "api.tokens `ci`: the secret is the common word `password`",
        ),
        (with("anonymous_role = \"operator\""), "api.anonymous_role: `operator` would let anyone"),
        (with("anonymous_role = \"admin\""), "api.anonymous_role: `admin` would let anyone"),
    ];
    for (text, expected) in cases {
        let error = parse(&text, "dqc.toml", &BTreeMap::new()).unwrap_err().to_string();
        assert!(error.contains(expected), "{error:?} should contain {expected:?}");
    }
    assert!(parse(&with("anonymous_role = \"viewer\""), "dqc.toml", &BTreeMap::new()).is_ok());
}

#[test]
fn the_store_password_is_in_no_debug_and_no_error() {
    let env = BTreeMap::from([("DQC_STORE__URL".to_owned(), "postgres://dqc:hunter22@db/dqc".to_owned())]);
    let config = parse(CONFIG, "dqc.toml", &env).unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter22") && shown.contains("postgres://dqc:***@db/dqc"), "{shown}");
    assert_eq!(crate::store::redacted("mysql://u:hunter22@h/d"), "mysql://u:***@h/d");
    assert!(!crate::store::redacted("mysql//u:hunter22@h").contains("hunter22"));
}

#[test]
fn a_clusters_storage_options_are_checked_at_load_and_their_secrets_read_from_the_environment() {
    let oss = CONFIG.replace(
        "role = \"candidate\"\nlocation = \"file:///data/{cluster}/warehouse/{db}.db/{table}/{partition_path}\"",
        "role = \"candidate\"\nlocation = \"oss://emr-wh/warehouse/{db}.db/{table}/{partition_path}\"\n\
         storage = { region = \"cn-hangzhou\", access_key_id = { env = \"EMR_KEY\" }, secret_access_key = { env = \"EMR_SECRET\" } }",
    );
    let secrets = env(&[("EMR_KEY", "LTAI-key"), ("EMR_SECRET", "hunter2-secret")]);
    let config = parse(&oss, "dqc.toml", &secrets).unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("LTAI"), "secrets are not shown: {shown}");
    assert!(format!("{:?}", config.stores).contains("\"oss://emr-wh\""), "{:?}", config.stores);
    let error = parse(&oss, "dqc.toml", &env(&[("EMR_KEY", "k")])).unwrap_err().to_string();
    assert!(
        error.contains("storage.secret_access_key names the environment variable `EMR_SECRET`, which is not set"),
        "{error}"
    );
    let typo = oss.replace("region = ", "regoin = ");
    let error = parse(&typo, "dqc.toml", &secrets).unwrap_err().to_string();
    assert!(error.contains("`regoin` is not an option of the OSS store"), "{error}");
    let local = CONFIG.replace("role = \"baseline\"\n", "role = \"baseline\"\nstorage = { region = \"x\" }\n");
    let error = parse(&local, "dqc.toml", &secrets).unwrap_err().to_string();
    assert!(error.contains("storage options need a location in an object store"), "{error}");
}

#[test]
fn a_clusters_metastore_is_checked_at_load() {
    let with = |address: &str| {
        CONFIG.replacen("role = \"baseline\"\n", &format!("role = \"baseline\"\nmetastore = \"{address}\"\n"), 1)
    };
    let config = parse(&with("thrift://hms.idc"), "dqc.toml", &BTreeMap::new()).unwrap();
    assert_eq!(config.metastores["idc-hadoop"].uri(), "thrift://hms.idc:9083");
    assert!(!config.metastores.contains_key("cloud-emr"));
    let error = parse(&with("thrift://hms.idc:port"), "dqc.toml", &BTreeMap::new()).unwrap_err().to_string();
    assert!(
        error.contains("clusters `idc-hadoop`: metastore") && error.contains("the port is not a number"),
        "{error}"
    );
}

#[test]
fn diffs_above_the_cluster_threshold_go_to_the_cluster_or_fall_back_as_configured() {
    let config = parse(CONFIG, "test", &BTreeMap::new()).unwrap();
    assert!(config.cluster.url.is_none() && config.cluster.fallback == Fallback::Local);
    let text = format!("{CONFIG}\n[cluster]\nurl = \"df://sched:50050\"\nabove_rows = 1000\nfallback = \"fail\"\n");
    let config = parse(&text, "test", &BTreeMap::new()).unwrap();
    let cluster = ::cluster::Cluster::new(config.cluster.url.as_deref().unwrap(), config.cluster.partitions).unwrap();
    assert!(matches!(config.cluster.route(Some(&cluster), 999), verifier::Route::Local));
    assert!(matches!(config.cluster.route(Some(&cluster), 1000), verifier::Route::Remote { fall_back: false, .. }));
    let refused = config.cluster.route(None, 5000);
    assert!(matches!(&refused, verifier::Route::Refused(reason) if reason.contains("cluster.above_rows (1000)")));
    let local = DiffClusterConfig { fallback: Fallback::Local, ..config.cluster.clone() };
    assert!(matches!(local.route(None, 5000), verifier::Route::Local));
    assert!(matches!(local.route(Some(&cluster), 5000), verifier::Route::Remote { fall_back: true, .. }));
    // A URL that is not df://HOST:PORT is refused at load, naming the setting.
    let text = format!("{CONFIG}\n[cluster]\nurl = \"http://sched:50050\"\n");
    let error = parse(&text, "test", &BTreeMap::new()).unwrap_err().to_string();
    assert!(error.contains("cluster.url") && error.contains("df://HOST:PORT"), "{error}");
}
