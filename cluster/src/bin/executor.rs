//! `dqc-executor`: Ballista's executor, with dqc's codec. Takes Ballista's executor flags
//! (`--scheduler-host`, `--scheduler-port`, `--bind-port`, `--bind-grpc-port`, `--concurrent-tasks`,
//! ...; `--help` lists them) and `--dqc-config dqc.toml`: object stores are configured from the
//! service's configuration (its clusters' `[clusters.storage]`), or without it from the
//! environment, as for the CLI (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ... for `s3://`).

use std::sync::Arc;

use ballista_executor::config::Config;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use clap::Parser;
use cluster::processes::DqcFlags;

#[derive(Parser)]
#[command(version, about = "A Ballista executor that runs dqc's plans")]
struct Flags {
    #[command(flatten)]
    ballista: Config,
    #[command(flatten)]
    dqc: DqcFlags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let stores = flags.dqc.stores(&std::env::vars().collect())?;
    let mut config: ExecutorProcessConfig = flags.ballista.try_into()?;
    cluster::processes::init_logging(&config.special_mod_log_level);
    config.override_physical_codec = Some(cluster::processes::codec(stores));
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}
