//! `dqc-executor`: Ballista's executor, with dqc's codec. Takes Ballista's executor flags
//! (`--scheduler-host`, `--scheduler-port`, `--bind-port`, `--bind-grpc-port`, `--concurrent-tasks`,
//! ...; `--help` lists them). Object stores are configured as for the CLI, from the environment
//! (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ... for `s3://`).

use std::sync::Arc;

use ballista_executor::config::Config;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Config::parse();
    let mut config: ExecutorProcessConfig = flags.try_into()?;
    cluster::processes::init_logging(&config.special_mod_log_level);
    config.override_physical_codec = Some(cluster::processes::codec(cluster::processes::environment_stores()));
    start_executor_process(Arc::new(config)).await?;
    Ok(())
}
