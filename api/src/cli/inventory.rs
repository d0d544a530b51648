//! `dqc inventory --baseline <WAREHOUSE> --candidate <WAREHOUSE> [--deep] [--diff]`: two whole
//! warehouses compared partition by partition, from their files' footers (and, with `--deep`,
//! their fingerprints). Exit codes as for `dqc diff`: 0 consistent, 1 a partition differs or is
//! missing, 2 error (including a partition that could not be read, when nothing differs).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use verifier::inventory::{InventoryProgress, InventorySpec, Level, NoInventoryProgress, PartitionInventory};
use verifier::{DiffOptions, Verdict};

use super::diff::{ClusterArgs, CompareArgs, Format, key_columns};
use crate::metastore::HiveWarehouse;

/// Arguments of `dqc inventory`.
#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// The baseline warehouse: a directory tree of tables (`orders/dt=2024-05-01/...`,
    /// `sales.db/orders/...`) on local disk or in a store (s3://, oss://, hdfs://, ...), or a
    /// Hive Metastore's database or table, hive://HOST:PORT/DB[/TABLE] (each partition read
    /// where the metastore says it is).
    #[arg(long)]
    pub baseline: String,
    /// The candidate warehouse.
    #[arg(long)]
    pub candidate: String,
    /// Tables to cover, by name pattern (`*`, `?`), comma-separated; default: all.
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Conditions on partition values, all met, e.g. `dt>=2024-01-01` (repeatable; = != < <= > >=;
    /// numbers compare as numbers, other values as text).
    #[arg(long = "partitions")]
    pub partitions: Vec<String>,
    /// Also fingerprint the partitions whose footers agree (reads their data) and compare them.
    #[arg(long, conflicts_with = "listing_only")]
    pub deep: bool,
    /// Run a full diff of each partition whose footers differ; its report goes into the JSON.
    #[arg(long, conflicts_with = "listing_only")]
    pub diff: bool,
    /// Only list: tables, partitions, files and bytes; no file is opened.
    #[arg(long)]
    pub listing_only: bool,
    /// Key columns for `--deep` and `--diff`, where a table has them all (else whole rows).
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// Output format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write every partition's row (table, partition, verdict, reason, sides' files, bytes and
    /// rows) to this Parquet file.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Record finished partitions in this file; an inventory started again with it continues
    /// where the last one stopped.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Partitions worked on at once, and footer reads in flight per warehouse.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Partitions not equal listed per table in the text output.
    #[arg(long, default_value_t = 10)]
    pub show: usize,
    /// What `--deep` and `--diff` compare and how.
    #[command(flatten)]
    pub compare: CompareArgs,
    /// Where `--deep` and `--diff` read.
    #[command(flatten)]
    pub on: ClusterArgs,
}

impl InventoryArgs {
    fn to_spec(&self, threads: Option<usize>) -> Result<InventorySpec, String> {
        let level = match (self.listing_only, self.deep) {
            (true, _) => Level::Listing,
            (false, true) => Level::Deep,
            (false, false) => Level::Footers,
        };
        Ok(InventorySpec {
            tables: self.tables.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect(),
            partitions: self.partitions.clone(),
            level,
            diff: self.diff,
            key: key_columns(&self.key),
            options: DiffOptions { sample_limit: 20, ..self.compare.to_options()? },
            limits: self.compare.limits(threads),
            concurrency: self.concurrency,
            checkpoint: self.checkpoint.clone(),
            stores: super::diff::environment(),
            ..InventorySpec::new(&self.baseline, &self.candidate)
        })
    }
}

/// A side's catalog when it is a `hive://` warehouse.
async fn catalog(
    location: &str,
    patterns: &[String],
    concurrency: usize,
) -> Result<Option<Arc<verifier::inventory::Catalog>>, String> {
    let warehouse = HiveWarehouse::parse(location).map_err(|error| error.to_string())?;
    match warehouse {
        Some(warehouse) => {
            let catalog = warehouse.catalog(patterns, concurrency).await.map_err(|error| error.to_string())?;
            Ok(Some(Arc::new(catalog)))
        }
        None => Ok(None),
    }
}

/// Runs `dqc inventory` and returns its exit code.
pub(crate) async fn run(args: &InventoryArgs, threads: Option<usize>) -> i32 {
    let mut spec = match args.to_spec(threads) {
        Ok(spec) => spec,
        Err(message) => return fail(args, &message),
    };
    let catalogs = tokio::try_join!(
        catalog(&spec.baseline, &spec.tables, spec.concurrency),
        catalog(&spec.candidate, &spec.tables, spec.concurrency)
    );
    match catalogs {
        Ok((baseline, candidate)) => spec.catalogs = [baseline, candidate],
        Err(message) => return fail(args, &message),
    }
    let bar = TerminalInventory::when_interactive();
    let progress: Arc<dyn InventoryProgress> =
        bar.clone().map_or_else(|| Arc::new(NoInventoryProgress) as _, |b| b as _);
    let outcome = match args.on.cluster() {
        Ok(Some(cluster)) => {
            let passes: &dyn verifier::remote::RemotePasses = &cluster;
            let route = move |_: u64| verifier::Route::Remote { passes, fall_back: false };
            cluster.interruptible(verifier::inventory::inventory_on(&spec, progress, &route)).await
        }
        Ok(None) => verifier::inventory::inventory(&spec, progress).await,
        Err(error) => Err(error),
    };
    if let Some(bar) = bar {
        bar.bar.finish_and_clear();
    }
    let report = match outcome {
        Ok(report) => report,
        Err(error) => return fail(args, &crate::error::chain(&error)),
    };
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    if let Some(path) = &args.output
        && let Err(error) = std::fs::write(path, format!("{json}\n"))
    {
        eprintln!("error: cannot write the report to `{}`: {error}", path.display());
        return 2;
    }
    if let Some(path) = &args.export
        && let Err(error) = report.write_parquet(path)
    {
        eprintln!("error: {error}");
        return 2;
    }
    match args.format {
        Format::Text => print!("{}", report.to_text(args.show)),
        Format::Json => println!("{json}"),
    }
    report.verdict.exit_code()
}

fn fail(args: &InventoryArgs, message: &str) -> i32 {
    eprintln!("error: {message}");
    if args.format == Format::Json {
        println!("{}", serde_json::json!({ "verdict": Verdict::Error, "error": message }));
    }
    Verdict::Error.exit_code()
}

/// Tables and partitions done of the totals on stderr, when it is a terminal.
struct TerminalInventory {
    bar: ProgressBar,
    /// Partitions left per table, and tables done of all.
    tables: Mutex<(HashMap<String, usize>, usize, usize)>,
}

impl TerminalInventory {
    fn when_interactive() -> Option<Arc<Self>> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let style = ProgressStyle::with_template("{msg} [{bar:30}] {human_pos}/{human_len} partitions, eta {eta}")
            .map(|style| style.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        Some(Arc::new(Self { bar: ProgressBar::new(0).with_style(style), tables: Mutex::default() }))
    }
}

impl InventoryProgress for TerminalInventory {
    fn listed(&self, tables: &[(String, usize)]) {
        self.bar.set_length(tables.iter().map(|(_, partitions)| *partitions as u64).sum());
        if let Ok(mut state) = self.tables.lock() {
            *state = (tables.iter().cloned().collect(), 0, tables.len());
            self.bar.set_message(format!("tables 0/{}", tables.len()));
        }
    }

    fn partition_done(&self, table: &str, _partition: &PartitionInventory, _resumed: bool) {
        self.bar.inc(1);
        if let Ok(mut state) = self.tables.lock() {
            let (left, done, all) = &mut *state;
            if let Some(count) = left.get_mut(table) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    *done += 1;
                    self.bar.set_message(format!("tables {done}/{all}"));
                }
            }
        }
    }
}
