//! The setup of the `dqc-scheduler` and `dqc-executor` binaries: Ballista's own processes and
//! command-line flags, with dqc's codec (which also carries dqc's row functions) on both.

use std::sync::Arc;

use ballista_scheduler::config::SchedulerConfig;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use verifier::Stores;

use crate::codec::DqcCodec;

/// The codec both processes decode dqc's plans with, reading datasets through `stores`.
pub fn codec(stores: Stores) -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(DqcCodec::new(stores))
}

/// The object stores' options from this process's environment, as the CLI reads them (`AWS_*`
/// for `s3://`, `OSS_*` for `oss://`, ...: [`Stores::from_environment`]).
pub fn environment_stores() -> Stores {
    Stores::from_environment(&std::env::vars().collect())
}

/// A scheduler configuration (from Ballista's flags) that plans dqc's jobs.
pub fn scheduler_config(mut config: SchedulerConfig) -> SchedulerConfig {
    config.override_physical_codec = Some(codec(environment_stores()));
    config
}

/// Logs to standard output, filtered by `RUST_LOG` or else `default`.
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_ansi(false).with_env_filter(filter).init();
}
