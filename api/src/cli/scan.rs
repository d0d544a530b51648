//! `dqc scan <URI>...`: decode datasets fully and print their rows and the time taken.
//!
//! The floor that `dqc diff` is measured against: the same readers, every column, nothing kept.
//! Several datasets are read at once, as `dqc diff` reads its two sides.
//! Exit codes: 0 read, 2 error.

use clap::Args;
use verifier::ResourceLimits;

use super::diff::Format;
use crate::config::ByteSize;

/// Arguments of `dqc scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The datasets: files, directory trees, store URLs or hive://HOST:PORT/DB/TABLE[/k=v]
    /// (a whole table: each of its partitions).
    #[arg(required = true)]
    pub uris: Vec<String>,
    /// Output format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Memory the engine may use, e.g. 4GiB.
    #[arg(long)]
    pub memory_limit: Option<ByteSize>,
}

/// Runs `dqc scan` and returns its exit code.
pub(crate) async fn run(args: &ScanArgs, threads: Option<usize>) -> i32 {
    let limits = ResourceLimits { memory_limit: args.memory_limit.map(ByteSize::bytes), threads };
    let started = std::time::Instant::now();
    let stores = super::diff::environment();
    let mut uris = Vec::with_capacity(args.uris.len());
    for uri in &args.uris {
        match super::hive::Resolved::locations(uri).await {
            Ok(locations) => uris.extend(locations),
            Err(error) => {
                eprintln!("error: {error}");
                return 2;
            }
        }
    }
    let scans = uris.iter().map(|uri| verifier::scan(uri, &limits, &stores));
    match futures::future::try_join_all(scans).await {
        Ok(summaries) => {
            let elapsed_ms = started.elapsed().as_millis();
            for summary in &summaries {
                match args.format {
                    Format::Text => println!(
                        "{} rows, {} columns, {} files in {} ms  {}",
                        summary.rows, summary.columns, summary.files, summary.elapsed_ms, summary.uri
                    ),
                    Format::Json => println!("{}", serde_json::to_string(summary).unwrap_or_default()),
                }
            }
            if summaries.len() > 1 && args.format == Format::Text {
                let rows: u64 = summaries.iter().map(|s| s.rows).sum();
                println!("{rows} rows in all in {elapsed_ms} ms");
            }
            0
        }
        Err(error) => {
            eprintln!("error: {}", crate::error::chain(&error));
            2
        }
    }
}
