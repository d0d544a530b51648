//! `dqc serve --config dqc.toml`: the service in the foreground until SIGINT or SIGTERM.

use std::path::PathBuf;

use clap::Args;
use tokio::sync::watch;

/// Arguments of `dqc serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (TOML); `DQC_...` environment variables override it.
    #[arg(long, default_value = "dqc.toml")]
    pub config: PathBuf,
}

/// Runs the service; exit code 0 after a clean shutdown, 2 when it cannot start or fails.
pub(crate) async fn run(args: &ServeArgs) -> i32 {
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let config = match crate::config::load(&args.config, &env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("dqc serve: {error}");
            return 2;
        }
    };
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    match crate::service::run(config, shutdown).await {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("dqc serve: {}", crate::error::chain(&error));
            2
        }
    }
}

pub(super) async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut interrupt), Ok(mut terminate)) => {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
