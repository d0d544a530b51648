//! Object stores by URL: which store a location is read from, and with which options.
//!
//! A location is a local path, a `file://` URL, or a URL of a remote store: `s3://` and `s3a://`
//! (Amazon S3 and S3-compatible servers), `oss://` (Alibaba OSS through its S3 API, which takes
//! virtual-hosted requests only: the endpoint is `https://<bucket>.oss-<region>.aliyuncs.com`),
//! `gs://`, `az://`, `abfs://`, `abfss://`, `wasb://`, `wasbs://` (Azure), `hdfs://` and
//! `viewfs://` (HDFS, through hdfs-native) and `http(s)://` (read-only). A store is built once
//! per `scheme://authority` (bucket, container or name service) from the options [`Stores`]
//! holds for the longest matching prefix, and reused by every dataset read with the same
//! [`Stores`].
//!
//! The object path is the URL's path as written, parsed with [`Path::parse`]: Hive writes a
//! partition value `10:00` as the directory `ts=10%3A00`, and that is the object's real key, so
//! no percent-decoding happens here (object_store's URL parsing would decode it, and
//! `Path::from` would encode the `%` once more).
//!
//! The verifier reads no environment: callers hand the options in (the CLI from each store's
//! standard environment variables, the service from its configuration). Option names are
//! object_store's (`aws_access_key_id`, `endpoint`, `region`, `allow_http`, ...) and an option
//! a store does not know is refused when it is given, naming it; secrets never appear in a
//! `Debug` or an error. Two options are dqc's own, for every remote store: `max_retries`
//! (object_store's default, 10) and `retry_timeout` (`30s`, `500ms`, `3m`; default 3m), the
//! bounds of object_store's retries of a failed request.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use object_store::ObjectStore;
use object_store::path::Path;

use crate::error::{Error, Result};
use crate::spec::Side;

/// The kinds of store a location can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The local file system (a path, or `file://`).
    Local,
    /// Amazon S3 or an S3-compatible server (`s3://`, `s3a://`).
    S3,
    /// Alibaba Cloud OSS (`oss://`), through the S3 API with virtual-hosted requests.
    Oss,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Azure Blob Storage and ADLS Gen2 (`az://`, `abfs[s]://`, `wasb[s]://`).
    Azure,
    /// HDFS (`hdfs://`, `viewfs://`).
    Hdfs,
    /// A web server (`http://`, `https://`), read-only.
    Http,
}

impl StoreKind {
    /// The kind of a URL scheme; `None` for a scheme no store serves.
    pub fn of_scheme(scheme: &str) -> Option<Self> {
        Some(match scheme {
            "file" => Self::Local,
            "s3" | "s3a" => Self::S3,
            "oss" => Self::Oss,
            "gs" => Self::Gcs,
            "az" | "abfs" | "abfss" | "wasb" | "wasbs" | "adl" | "azure" => Self::Azure,
            "hdfs" | "viewfs" => Self::Hdfs,
            "http" | "https" => Self::Http,
            _ => return None,
        })
    }

    /// Checks an option name for this kind of store: `Err` names what it would accept.
    pub fn check_option(self, key: &str) -> std::result::Result<(), String> {
        use object_store::ClientConfigKey;
        if RETRY_OPTIONS.contains(&key) && self != Self::Local {
            return Ok(());
        }
        let known = match self {
            Self::S3 | Self::Oss => object_store::aws::AmazonS3ConfigKey::from_str(key).is_ok(),
            Self::Gcs => object_store::gcp::GoogleConfigKey::from_str(key).is_ok(),
            Self::Azure => object_store::azure::AzureConfigKey::from_str(key).is_ok(),
            Self::Http => ClientConfigKey::from_str(key).is_ok(),
            // Hadoop's settings (`dfs.nameservices`, `dfs.ha.namenodes.<ns>`, ...).
            Self::Hdfs => key.contains('.') && !key.starts_with('.'),
            Self::Local => false,
        };
        if known {
            return Ok(());
        }
        Err(match self {
            Self::Local => format!("`{key}`: local files take no options"),
            Self::Hdfs => format!("`{key}` is not a Hadoop setting such as dfs.nameservices"),
            _ => format!(
                "`{key}` is not an option of the {} store (object_store's names, e.g. endpoint, region)",
                self.name()
            ),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::S3 => "S3",
            Self::Oss => "OSS",
            Self::Gcs => "GCS",
            Self::Azure => "Azure",
            Self::Hdfs => "HDFS",
            Self::Http => "HTTP",
        }
    }
}

/// dqc's own options of every remote store: the bounds of object_store's retries.
const RETRY_OPTIONS: [&str; 2] = ["max_retries", "retry_timeout"];

/// object_store's retry settings with `max_retries` and `retry_timeout` from `options`.
fn retry_config(options: &BTreeMap<String, String>) -> std::result::Result<object_store::RetryConfig, String> {
    let mut retry = object_store::RetryConfig::default();
    if let Some(text) = options.get("max_retries") {
        retry.max_retries = text.parse().map_err(|_| format!("max_retries: `{text}` is not a number"))?;
    }
    if let Some(text) = options.get("retry_timeout") {
        retry.retry_timeout = humantime::parse_duration(text)
            .map_err(|error| format!("retry_timeout: `{text}` is not a duration such as 30s: {error}"))?;
    }
    Ok(retry)
}

/// The variables each store reads, with the option each one sets: the names of the stores' own
/// command-line tools and SDKs.
const ENVIRONMENT: [(&str, &str, &str); 9] = [
    ("oss://", "OSS_ACCESS_KEY_ID", "aws_access_key_id"),
    ("oss://", "OSS_ACCESS_KEY_SECRET", "aws_secret_access_key"),
    ("oss://", "OSS_SESSION_TOKEN", "aws_session_token"),
    ("oss://", "OSS_SECURITY_TOKEN", "aws_session_token"),
    ("oss://", "OSS_REGION", "region"),
    ("oss://", "OSS_ENDPOINT", "endpoint"),
    ("oss://", "ALIBABA_CLOUD_ACCESS_KEY_ID", "aws_access_key_id"),
    ("oss://", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "aws_secret_access_key"),
    ("oss://", "ALIBABA_CLOUD_SECURITY_TOKEN", "aws_session_token"),
];

/// Options per location prefix, and the stores built from them.
///
/// Cloning shares the built stores. Two `Stores` are equal when they hold the same options.
#[derive(Clone, Default)]
pub struct Stores {
    options: Arc<Vec<(String, BTreeMap<String, String>)>>,
    built: Arc<Mutex<HashMap<String, Arc<dyn ObjectStore>>>>,
}

impl std::fmt::Debug for Stores {
    /// Prefixes and option names only: values can be secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<(&str, Vec<&str>)> = self
            .options
            .iter()
            .map(|(prefix, options)| (prefix.as_str(), options.keys().map(String::as_str).collect()))
            .collect();
        f.debug_struct("Stores").field("options", &shown).finish()
    }
}

impl PartialEq for Stores {
    fn eq(&self, other: &Self) -> bool {
        self.options == other.options
    }
}

/// A location's store and the path of the location in it.
pub(crate) struct Located {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) path: Path,
}

impl Stores {
    /// Stores configured as each store's own tools are: options from the standard environment variables of each store. `AWS_*`
    /// for `s3://` and `s3a://` (as the AWS CLI reads them: `AWS_ACCESS_KEY_ID`, `AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, ...), `OSS_*` and `ALIBABA_CLOUD_*` for `oss://`, `GOOGLE_*` for `gs://`,
    /// `AZURE_*` for Azure; HDFS reads `HADOOP_CONF_DIR` itself. Variables a store does not know
    /// are left alone.
    pub fn from_environment(env: &BTreeMap<String, String>) -> Stores {
        let mut by_scheme: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
        for (name, value) in env {
            let lower = name.to_ascii_lowercase();
            let schemes: &[(&str, StoreKind)] = if lower.starts_with("aws_") {
                &[("s3://", StoreKind::S3), ("s3a://", StoreKind::S3)]
            } else if lower.starts_with("google_") {
                &[("gs://", StoreKind::Gcs)]
            } else if lower.starts_with("azure_") {
                &[("az://", StoreKind::Azure), ("abfs://", StoreKind::Azure), ("abfss://", StoreKind::Azure)]
            } else {
                &[]
            };
            for (scheme, kind) in schemes {
                if kind.check_option(&lower).is_ok() {
                    by_scheme.entry(scheme).or_default().insert(lower.clone(), value.clone());
                }
            }
        }
        for (scheme, name, key) in ENVIRONMENT {
            if let Some(value) = env.get(name) {
                by_scheme.entry(scheme).or_default().insert(key.to_owned(), value.clone());
            }
        }
        by_scheme.into_iter().fold(Stores::default(), |stores, (scheme, options)| {
            // Every option was checked against its store above.
            stores.clone().with(scheme, options).unwrap_or(stores)
        })
    }

    /// Adds the options of the store `prefix` names: one bucket, container or name service
    /// (`s3://bucket`), or every one of a scheme (`s3://`). A bucket's own options are applied
    /// over its scheme's. Refuses a prefix that names no store, or more than a store, and an
    /// option that store does not know.
    pub fn with(self, prefix: &str, options: BTreeMap<String, String>) -> Result<Self> {
        let refuse = |reason: String| Error::StoreOptions { prefix: prefix.to_owned(), reason };
        let (scheme, authority) =
            prefix.split_once("://").ok_or_else(|| refuse("not a URL prefix such as s3://bucket".to_owned()))?;
        let kind = StoreKind::of_scheme(scheme).ok_or_else(|| refuse(unsupported(scheme)))?;
        let authority = authority.trim_end_matches('/');
        if authority.contains('/') {
            return Err(refuse("options apply to a whole bucket or scheme (s3://bucket or s3://)".to_owned()));
        }
        for key in options.keys() {
            kind.check_option(key).map_err(refuse)?;
        }
        retry_config(&options).map_err(refuse)?;
        let prefix = format!("{scheme}://{authority}");
        let mut all = Arc::unwrap_or_clone(self.options);
        all.retain(|(known, _)| *known != prefix);
        all.push((prefix, options));
        Ok(Self { options: Arc::new(all), built: Arc::default() })
    }

    /// The store of a remote `uri` and the path of `uri` in it. `None` for a local location.
    pub(crate) fn locate(&self, side: Side, uri: &str) -> Result<Option<Located>> {
        let invalid = |reason: String| Error::InvalidLocation { side, uri: uri.to_owned(), reason };
        let Some((scheme, rest)) = uri.split_once("://") else { return Ok(None) };
        let kind = StoreKind::of_scheme(scheme).ok_or_else(|| invalid(unsupported(scheme)))?;
        if kind == StoreKind::Local {
            return Ok(None);
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() {
            return Err(invalid(format!("a {scheme}:// location needs a bucket, container or host")));
        }
        let path = Path::parse(path.split(['?', '#']).next().unwrap_or_default())
            .map_err(|error| invalid(format!("its path is not usable: {error}")))?;
        let root = format!("{scheme}://{authority}");
        let store = self.store(kind, scheme, authority, &root).map_err(|source| invalid(source.to_string()))?;
        Ok(Some(Located { store, path }))
    }

    /// The options of the store at `root` (`scheme://authority`): its scheme's, then its own.
    fn options_for(&self, root: &str) -> BTreeMap<String, String> {
        let scheme = format!("{}://", root.split("://").next().unwrap_or_default());
        let of = |wanted: &str| {
            self.options
                .iter()
                .filter(|(prefix, _)| prefix == wanted)
                .flat_map(|(_, given)| given.clone())
                .collect::<Vec<_>>()
        };
        of(&scheme).into_iter().chain(of(root)).collect()
    }

    fn store(
        &self,
        kind: StoreKind,
        scheme: &str,
        authority: &str,
        root: &str,
    ) -> object_store::Result<Arc<dyn ObjectStore>> {
        let mut built = self.built.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(store) = built.get(root) {
            return Ok(Arc::clone(store));
        }
        let options = self.options_for(root);
        let store = build(kind, scheme, authority, root, &options)?;
        built.insert(root.to_owned(), Arc::clone(&store));
        Ok(store)
    }
}

fn unsupported(scheme: &str) -> String {
    format!(
        "no object store serves the `{scheme}` scheme (supported: local paths, file://, s3://, s3a://, oss://, \
         gs://, az://, abfs[s]://, wasb[s]://, hdfs://, viewfs://, http(s)://)"
    )
}

fn config<K: FromStr>(options: &BTreeMap<String, String>) -> impl Iterator<Item = (K, &String)> {
    options.iter().filter_map(|(key, value)| Some((K::from_str(key).ok()?, value)))
}

fn build(
    kind: StoreKind,
    scheme: &str,
    authority: &str,
    root: &str,
    options: &BTreeMap<String, String>,
) -> object_store::Result<Arc<dyn ObjectStore>> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    // Checked when the options were given.
    let retry = retry_config(options).unwrap_or_default();
    Ok(match kind {
        StoreKind::S3 => {
            let mut builder = AmazonS3Builder::new().with_bucket_name(authority).with_retry(retry);
            for (key, value) in config::<AmazonS3ConfigKey>(options) {
                builder = builder.with_config(key, value);
            }
            Arc::new(builder.build()?)
        }
        StoreKind::Oss => {
            // The recipe datafusion-cli uses for OSS: its region is in the endpoint; the
            // signature's region is not checked.
            let mut builder =
                AmazonS3Builder::new().with_bucket_name(authority).with_region("do_not_care").with_retry(retry);
            for (key, value) in config::<AmazonS3ConfigKey>(options) {
                if !matches!(key, AmazonS3ConfigKey::Region | AmazonS3ConfigKey::DefaultRegion) {
                    builder = builder.with_config(key, value);
                }
            }
            let endpoint = oss_endpoint(authority, options)?;
            Arc::new(builder.with_endpoint(endpoint).with_virtual_hosted_style_request(true).build()?)
        }
        StoreKind::Gcs => {
            let mut builder =
                object_store::gcp::GoogleCloudStorageBuilder::new().with_bucket_name(authority).with_retry(retry);
            for (key, value) in config::<object_store::gcp::GoogleConfigKey>(options) {
                builder = builder.with_config(key, value);
            }
            Arc::new(builder.build()?)
        }
        StoreKind::Azure => {
            let mut builder =
                object_store::azure::MicrosoftAzureBuilder::new().with_url(azure_url(scheme, root)).with_retry(retry);
            for (key, value) in config::<object_store::azure::AzureConfigKey>(options) {
                builder = builder.with_config(key, value);
            }
            Arc::new(builder.build()?)
        }
        StoreKind::Http => {
            let mut builder = object_store::http::HttpBuilder::new().with_url(root).with_retry(retry);
            for (key, value) in config::<object_store::ClientConfigKey>(options) {
                builder = builder.with_config(key, value);
            }
            Arc::new(builder.build()?)
        }
        StoreKind::Hdfs => Arc::new(
            hdfs_native_object_store::HdfsObjectStoreBuilder::new()
                .with_url(root)
                .with_config(
                    options
                        .iter()
                        .filter(|(key, _)| !RETRY_OPTIONS.contains(&key.as_str()))
                        .map(|(key, value)| (key.clone(), value.clone())),
                )
                .build()?,
        ),
        StoreKind::Local => Arc::new(object_store::local::LocalFileSystem::new()),
    })
}

/// OSS's endpoint for `bucket`: `https://<bucket>.oss-<region>.aliyuncs.com` from the `region`
/// option, or the `endpoint` option with the bucket put in front of its host when it is not
/// there yet (OSS refuses path-style requests: the bucket must be in the host name).
pub fn oss_endpoint(bucket: &str, options: &BTreeMap<String, String>) -> object_store::Result<String> {
    let option = |names: &[&str]| names.iter().find_map(|name| options.get(*name)).cloned();
    let generic = |message: String| object_store::Error::Generic { store: "OSS", source: message.into() };
    if let Some(endpoint) = option(&["endpoint", "aws_endpoint", "aws_endpoint_url", "endpoint_url"]) {
        let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", endpoint.as_str()));
        let host = host.trim_end_matches('/');
        return Ok(if host.starts_with(&format!("{bucket}.")) {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{bucket}.{host}")
        });
    }
    let region = option(&["region", "aws_region"])
        .ok_or_else(|| generic(format!("oss://{bucket} needs a `region` (cn-hangzhou) or an `endpoint` option")))?;
    let region = region.strip_prefix("oss-").unwrap_or(&region);
    Ok(format!("https://{bucket}.oss-{region}.aliyuncs.com"))
}

/// object_store's Azure builder takes `az://container`, `abfs[s]://container@account...`; the
/// Hadoop `wasb[s]://` scheme is the same store.
fn azure_url(scheme: &str, root: &str) -> String {
    match scheme {
        "wasb" => root.replacen("wasb://", "abfs://", 1).replace(".blob.core.windows.net", ".dfs.core.windows.net"),
        "wasbs" => root.replacen("wasbs://", "abfss://", 1).replace(".blob.core.windows.net", ".dfs.core.windows.net"),
        _ => root.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn oss_is_virtual_hosted_with_the_bucket_in_the_host() {
        assert_eq!(
            oss_endpoint("wh", &options(&[("region", "cn-hangzhou")])).unwrap(),
            "https://wh.oss-cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(
            oss_endpoint("wh", &options(&[("endpoint", "https://oss-cn-beijing-internal.aliyuncs.com")])).unwrap(),
            "https://wh.oss-cn-beijing-internal.aliyuncs.com"
        );
        assert_eq!(
            oss_endpoint("wh", &options(&[("endpoint", "http://wh.localhost:9000/")])).unwrap(),
            "http://wh.localhost:9000"
        );
        assert!(oss_endpoint("wh", &BTreeMap::new()).unwrap_err().to_string().contains("needs a `region`"));
    }

    #[test]
    fn unknown_options_and_schemes_are_refused_by_name() {
        let stores = Stores::default();
        let error = stores
            .clone()
            .with("s3://wh", options(&[("endpoint", "http://x"), ("acess_key", "k")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("`acess_key` is not an option of the S3 store"), "{error}");
        assert!(stores.clone().with("s3://wh", options(&[("aws_access_key_id", "k"), ("allow_http", "true")])).is_ok());
        assert!(stores.clone().with("hdfs://ns", options(&[("dfs.nameservices", "ns")])).is_ok());
        assert!(stores.clone().with("ftp://host", BTreeMap::new()).unwrap_err().to_string().contains("`ftp` scheme"));
        let error = stores.locate(Side::Baseline, "cosn://bucket/t").err().unwrap().to_string();
        assert!(error.contains("`cosn` scheme"), "{error}");
    }

    #[test]
    fn paths_are_kept_as_hive_wrote_them_and_secrets_stay_out_of_debug() {
        let stores = Stores::default()
            .with(
                "s3://wh",
                options(&[
                    ("aws_access_key_id", "AKIA"),
                    ("aws_secret_access_key", "hunter2"),
                    ("region", "us-east-1"),
                ]),
            )
            .unwrap();
        assert!(!format!("{stores:?}").contains("hunter2"));
        let located = stores.locate(Side::Baseline, "s3://wh/db/t/ts=10%3A00").unwrap().unwrap();
        assert_eq!(located.path.as_ref(), "db/t/ts=10%3A00");
        assert!(stores.locate(Side::Baseline, "/data/t").unwrap().is_none());
        assert!(stores.locate(Side::Baseline, "file:///data/t").unwrap().is_none());
        let error = stores.locate(Side::Baseline, "s3://wh/db/../etc").err().unwrap().to_string();
        assert!(error.contains("its path is not usable"), "{error}");
    }

    #[test]
    fn hdfs_locations_map_to_the_name_service_with_the_path_from_its_root() {
        let hadoop = options(&[
            ("dfs.nameservices", "ns1"),
            ("dfs.ha.namenodes.ns1", "nn1,nn2"),
            ("dfs.namenode.rpc-address.ns1.nn1", "127.0.0.1:8020"),
            ("dfs.namenode.rpc-address.ns1.nn2", "127.0.0.1:8021"),
        ]);
        let stores = Stores::default().with("hdfs://ns1", hadoop).unwrap();
        // Built without a connection (hdfs-native connects on the first call).
        let located = stores.locate(Side::Baseline, "hdfs://ns1/user/hive/warehouse/dw.db/t").unwrap().unwrap();
        assert_eq!(located.path.as_ref(), "user/hive/warehouse/dw.db/t");
        assert!(format!("{:?}", located.store).contains("Hdfs"), "{:?}", located.store);
        let error = Stores::default().with("hdfs://ns1", options(&[("nameservices", "ns1")])).unwrap_err().to_string();
        assert!(error.contains("not a Hadoop setting"), "{error}");
    }

    #[test]
    fn a_buckets_options_apply_over_its_schemes() {
        let stores = Stores::default()
            .with("s3://", options(&[("region", "us-east-1"), ("allow_http", "true")]))
            .unwrap()
            .with("s3://wh", options(&[("region", "eu-west-1")]))
            .unwrap();
        let options = stores.options_for("s3://wh");
        assert_eq!((options["region"].as_str(), options["allow_http"].as_str()), ("eu-west-1", "true"));
        assert_eq!(stores.options_for("s3://other")["region"], "us-east-1");
        assert!(stores.options_for("gs://wh").is_empty());
        assert!(
            Stores::default().with("s3://wh/dir", BTreeMap::new()).unwrap_err().to_string().contains("a whole bucket")
        );
    }
}
