//! `dqc scan <URI>`: decode a dataset fully and print its rows and the time taken.
//!
//! The floor that `dqc diff` is measured against: the same readers, every column, nothing kept.
//! Exit codes: 0 read, 2 error.

use clap::Args;
use verifier::ResourceLimits;

use super::diff::{Format, error_chain};
use super::size::parse_size;

/// Arguments of `dqc scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The dataset: a file, a directory tree or a file:// URL.
    pub uri: String,
    /// Output format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Memory the engine may use, e.g. 4GiB.
    #[arg(long, value_parser = parse_size)]
    pub memory_limit: Option<usize>,
}

/// Runs `dqc scan` and returns its exit code.
pub(crate) async fn run(args: &ScanArgs, threads: Option<usize>) -> i32 {
    let limits = ResourceLimits { memory_limit: args.memory_limit, threads };
    match verifier::scan(&args.uri, &limits).await {
        Ok(summary) => {
            match args.format {
                Format::Text => println!(
                    "{} rows, {} columns, {} files in {} ms  {}",
                    summary.rows, summary.columns, summary.files, summary.elapsed_ms, summary.uri
                ),
                Format::Json => println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default()),
            }
            0
        }
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            2
        }
    }
}
