//! `dqc-scheduler`: Ballista's scheduler, with dqc's codec. Takes Ballista's scheduler flags
//! (`--bind-host`, `--bind-port`, ...; `--help` lists them) and `--dqc-config dqc.toml`, as
//! `dqc-executor` does (the scheduler decodes dqc's scans, though it reads no data).

use std::sync::Arc;

use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{Config, SchedulerConfig};
use ballista_scheduler::scheduler_process::start_server;
use clap::Parser;
use cluster::processes::DqcFlags;

#[derive(Parser)]
#[command(version, about = "A Ballista scheduler that plans dqc's jobs")]
struct Flags {
    #[command(flatten)]
    ballista: Config,
    #[command(flatten)]
    dqc: DqcFlags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Flags { ballista: flags, dqc } = Flags::parse();
    let stores = dqc.stores(&std::env::vars().collect())?;
    cluster::processes::init_logging(&flags.log_level_setting);
    let address = format!("{}:{}", flags.bind_host, flags.bind_port).parse()?;
    let config: SchedulerConfig = flags.try_into()?;
    let config = cluster::processes::scheduler_config(config, stores);
    let ballista = BallistaCluster::new_from_config(&config).await?;
    start_server(ballista, address, Arc::new(config)).await?;
    Ok(())
}
