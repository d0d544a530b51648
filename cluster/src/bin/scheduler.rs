//! `dqc-scheduler`: Ballista's scheduler, with dqc's codec. Takes Ballista's scheduler flags
//! (`--bind-host`, `--bind-port`, ...; `--help` lists them).

use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{Config, SchedulerConfig};
use ballista_scheduler::scheduler_process::start_server;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Config::parse();
    cluster::processes::init_logging(&flags.log_level_setting);
    let address = format!("{}:{}", flags.bind_host, flags.bind_port).parse()?;
    let config: SchedulerConfig = flags.try_into()?;
    let config = cluster::processes::scheduler_config(config);
    let ballista = BallistaCluster::new_from_config(&config).await?;
    start_server(ballista, address, Arc::new(config)).await?;
    Ok(())
}
