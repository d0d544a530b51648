//! `dqc demo [--exit]`: the service on generated warehouses, with nothing to install.

use clap::Args;
use tokio::sync::watch;

/// Arguments of `dqc demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The API's port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Rows per table and side.
    #[arg(long, default_value_t = 20_000)]
    pub rows: i64,
    /// Exit once the reports are printed, with 0 when every verdict is the expected one.
    #[arg(long)]
    pub exit: bool,
}

/// Runs the demo; exit code 0 when the verdicts are the expected ones, 1 when not, 2 on failure.
pub(crate) async fn run(args: &DemoArgs) -> i32 {
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        super::serve::wait_for_signal().await;
        let _ = stop.send(true);
    });
    let options = api_options(args);
    match crate::demo::run(&options, shutdown).await {
        Ok(outcome) if outcome.verdicts == crate::demo::expected_verdicts() => {
            println!("\ndqc demo: every verdict is the expected one");
            0
        }
        Ok(outcome) => {
            eprintln!(
                "dqc demo: unexpected verdicts {:?}, expected {:?}",
                outcome.verdicts,
                crate::demo::expected_verdicts()
            );
            1
        }
        Err(error) => {
            eprintln!("dqc demo: {}", crate::error::chain(&error));
            2
        }
    }
}

fn api_options(args: &DemoArgs) -> crate::demo::DemoOptions {
    crate::demo::DemoOptions { port: args.port, rows: args.rows.max(10), exit: args.exit }
}
