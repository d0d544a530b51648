//! `dqc fingerprint <URI> --key ... --output fp.json|fp.parquet`: one dataset's bucket digests,
//! computed where the data lives. `dqc diff` of two such files names the buckets that differ,
//! so two clusters can be compared without moving their data across the link.
//! Exit codes: 0 written, 2 error.

use std::path::PathBuf;

use clap::Args;
use verifier::{FingerprintSpec, Side};

use super::diff::{ClusterArgs, CompareArgs, key_columns};
use super::progress::with_progress;

/// Arguments of `dqc fingerprint`.
#[derive(Debug, Args)]
pub struct FingerprintArgs {
    /// The dataset: a file, a directory tree or a file:// URL.
    pub uri: String,
    /// Unique key columns, comma-separated (as for `dqc diff`). Without a key, whole rows.
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// Where to write the fingerprint: JSON, or Parquet when the name ends in `.parquet`.
    #[arg(long)]
    pub output: PathBuf,
    /// Buckets, a power of two (default: from the footer row count, as `dqc diff` chooses).
    /// Files with different counts are still comparable, at the smaller count.
    #[arg(long)]
    pub buckets: Option<usize>,
    /// Which side this dataset is, for messages.
    #[arg(long, value_enum, default_value_t = SideArg::Baseline)]
    pub side: SideArg,
    /// What is hashed and how: must be the same for both sides' fingerprints.
    #[command(flatten)]
    pub compare: CompareArgs,
    /// Where the reads run.
    #[command(flatten)]
    pub on: ClusterArgs,
}

/// `--side`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SideArg {
    /// The old cluster.
    Baseline,
    /// The new cluster.
    Candidate,
}

/// Runs `dqc fingerprint` and returns its exit code.
pub(crate) async fn run(args: &FingerprintArgs, threads: Option<usize>) -> i32 {
    let options = match args.compare.to_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}");
            return 2;
        }
    };
    let uri = match super::hive::Resolved::locations(&args.uri).await {
        Ok(locations) if locations.len() == 1 => locations.into_iter().next().unwrap_or_default(),
        Ok(locations) => {
            eprintln!(
                "error: `{}` means {} datasets (the partitions of a table): a fingerprint is of one; name a partition",
                args.uri,
                locations.len()
            );
            return 2;
        }
        Err(error) => {
            eprintln!("error: {error}");
            return 2;
        }
    };
    let spec = FingerprintSpec {
        uri,
        side: match args.side {
            SideArg::Baseline => Side::Baseline,
            SideArg::Candidate => Side::Candidate,
        },
        key: key_columns(&args.key),
        options,
        limits: args.compare.limits(threads),
        buckets: args.buckets,
        stores: super::diff::environment(),
    };
    let outcome = match args.on.cluster() {
        Ok(Some(cluster)) => {
            with_progress(|progress| async move {
                cluster.interruptible(verifier::fingerprint_dataset_on(&spec, progress, &cluster)).await
            })
            .await
        }
        Ok(None) => with_progress(|progress| verifier::fingerprint_dataset_with_progress(&spec, progress)).await,
        Err(error) => Err(error),
    };
    match outcome.and_then(|file| file.write(&args.output).map(|()| file)) {
        Ok(file) => {
            let header = &file.header;
            println!(
                "{} rows, {} of {} buckets used, {} ms  {} -> {}",
                header.rows,
                file.buckets.len(),
                header.bucket_count,
                header.elapsed_ms,
                header.uri,
                args.output.display()
            );
            0
        }
        Err(error) => {
            eprintln!("error: {}", crate::error::chain(&error));
            2
        }
    }
}
