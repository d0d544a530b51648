//! The `dqc` binary: parses arguments, installs tracing, runs the command, exits with its code.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = api::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(threads.max(1));
    }
    let code = runtime.enable_all().build()?.block_on(api::cli::run(cli));
    std::process::exit(code);
}
