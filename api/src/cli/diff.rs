//! `dqc diff`: the CLI contract of DESIGN.md.
//!
//! ```text
//! dqc diff --baseline <URI> --candidate <URI> --key <col[,col]> [--format text|json]
//!          [--output report.json] [--export diff.parquet] [--ignore col,...] [--rename b=c,...]
//!          [--abs-tol [col=]x] [--rel-tol [col=]x] [--memory-limit 4GiB] [--sample N]
//! ```
//! plus `--where <SQL predicate>` (for example on Hive partition columns) and
//! `--trim-trailing-spaces`. Exit codes: 0 consistent, 1 inconsistent, 2 error.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use verifier::{Declared, DiffOptions, DiffSpec, FingerprintFile, ResourceLimits, Tolerance, Verdict};

use super::hive;
use super::progress::with_progress;

use crate::config::ByteSize;

/// How the report is printed on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// DESIGN.md's JSON report.
    Json,
}

/// Arguments of `dqc diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The baseline dataset: a file, a directory tree, a store URL (s3://, oss://, hdfs://, ...)
    /// or hive://HOST:PORT/DB/TABLE[/k=v] (without a partition: every partition, each reported
    /// on its own); or the baseline's fingerprint file (`dqc fingerprint`).
    #[arg(long)]
    pub baseline: String,
    /// The candidate dataset, or its fingerprint file.
    #[arg(long)]
    pub candidate: String,
    /// Unique key columns, comma-separated. Without a key, whole rows are compared as multisets.
    #[arg(long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// Output format on standard output.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Write every differing row to this Parquet file.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Renamed columns, `baseline_name=candidate_name`, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub rename: Vec<String>,
    /// What to compare and how.
    #[command(flatten)]
    pub compare: CompareArgs,
    /// Samples kept per kind of finding.
    #[arg(long, default_value_t = 20)]
    pub sample: usize,
    /// Where the reads run.
    #[command(flatten)]
    pub on: ClusterArgs,
}

/// Where the reads run: here, or on a Ballista cluster (shared by `dqc diff` and `dqc fingerprint`).
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Run the reads on a Ballista cluster of `dqc-scheduler` and `dqc-executor` processes: its
    /// scheduler's URL, df://HOST:PORT. The report (or fingerprint) is the same as here.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Scan tasks per side on the cluster: about the executors' task slots in all.
    #[arg(long, default_value_t = 8, requires = "cluster")]
    pub cluster_partitions: usize,
    /// Longest wait for a cluster job's result, or its next batch, before the command fails.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration, requires = "cluster")]
    pub cluster_timeout: std::time::Duration,
}

impl ClusterArgs {
    /// The cluster `--cluster` names, if any.
    pub(crate) fn cluster(&self) -> verifier::Result<Option<::cluster::Cluster>> {
        self.cluster
            .as_deref()
            .map(
                |url| Ok(::cluster::Cluster::new(url, self.cluster_partitions)?.with_job_timeout(self.cluster_timeout)),
            )
            .transpose()
    }
}

/// Runs one diff, here or on `--cluster`, with a progress bar on a terminal.
async fn run_one(args: &DiffArgs, spec: &DiffSpec) -> verifier::Result<verifier::Report> {
    let cluster = args.on.cluster()?;
    with_progress(|progress| async move {
        match &cluster {
            Some(cluster) => cluster.interruptible(::cluster::diff(spec, cluster, progress)).await,
            None => verifier::diff_with_progress(spec, progress).await,
        }
    })
    .await
}

/// Options shared by `dqc diff` and `dqc fingerprint`: they shape what is compared and hashed.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Columns to leave out, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub ignore: Vec<String>,
    /// Absolute tolerance: `x` for every float column, `col=x` for one numeric column.
    #[arg(long = "abs-tol")]
    pub abs_tol: Vec<String>,
    /// Relative tolerance: `x` for every float column, `col=x` for one numeric column.
    #[arg(long = "rel-tol")]
    pub rel_tol: Vec<String>,
    /// Compare strings without their trailing spaces (CHAR(n) against STRING).
    #[arg(long)]
    pub trim_trailing_spaces: bool,
    /// A SQL predicate applied to both sides, e.g. "dt = '2024-05-01'".
    #[arg(long = "where")]
    pub filter: Option<String>,
    /// Memory the engine may use, e.g. 4GiB.
    #[arg(long)]
    pub memory_limit: Option<ByteSize>,
}

impl CompareArgs {
    /// The engine options these flags describe (no renames, default samples).
    pub fn to_options(&self) -> Result<DiffOptions, String> {
        let mut options = DiffOptions {
            ignore: self.ignore.clone(),
            trim_trailing_spaces: self.trim_trailing_spaces,
            filter: self.filter.clone(),
            ..DiffOptions::default()
        };
        for (flag, values, set) in [
            ("--abs-tol", &self.abs_tol, (|t: &mut Tolerance, x| t.absolute = Some(x)) as fn(&mut Tolerance, f64)),
            ("--rel-tol", &self.rel_tol, |t: &mut Tolerance, x| t.relative = Some(x)),
        ] {
            for value in values {
                let (column, amount) = parse_tolerance(flag, value)?;
                match column {
                    Some(column) => set(options.column_tolerances.entry(column).or_default(), amount),
                    None => set(&mut options.tolerance, amount),
                }
            }
        }
        Ok(options)
    }

    /// The resource limits these flags describe.
    pub fn limits(&self, threads: Option<usize>) -> ResourceLimits {
        ResourceLimits { memory_limit: self.memory_limit.map(ByteSize::bytes), threads }
    }
}

/// The key columns of `--key`, trimmed, empty names dropped.
pub(crate) fn key_columns(key: &[String]) -> Vec<String> {
    key.iter().map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect()
}

impl DiffArgs {
    /// The engine spec these arguments describe.
    pub fn to_spec(&self, threads: Option<usize>) -> Result<DiffSpec, String> {
        let options = DiffOptions {
            rename: parse_renames(&self.rename)?,
            sample_limit: self.sample,
            ..self.compare.to_options()?
        };
        Ok(DiffSpec {
            baseline: self.baseline.clone(),
            candidate: self.candidate.clone(),
            key: key_columns(&self.key),
            options,
            limits: self.compare.limits(threads),
            export: self.export.clone(),
            confinement: None,
            stores: environment(),
            declared: Declared::default(),
        })
    }
}

/// The stores' options from this process's environment (`AWS_*`, `OSS_*`, ...).
pub(super) fn environment() -> verifier::Stores {
    crate::config::environment_stores(&std::env::vars().collect())
}

fn parse_renames(renames: &[String]) -> Result<BTreeMap<String, String>, String> {
    renames
        .iter()
        .map(|rename| match rename.split_once('=') {
            Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
                Ok((from.trim().to_owned(), to.trim().to_owned()))
            }
            _ => Err(format!("--rename `{rename}`: expected baseline_name=candidate_name")),
        })
        .collect()
}

fn parse_tolerance(flag: &str, value: &str) -> Result<(Option<String>, f64), String> {
    let (column, amount) = match value.rsplit_once('=') {
        Some((column, amount)) => (Some(column.trim().to_owned()), amount),
        None => (None, value),
    };
    let amount: f64 = amount.trim().parse().map_err(|_| format!("{flag} `{value}`: `{amount}` is not a number"))?;
    if !amount.is_finite() || amount < 0.0 {
        return Err(format!("{flag} `{value}`: a tolerance is a finite number >= 0"));
    }
    Ok((column, amount))
}

/// Runs `dqc diff` and returns its exit code.
pub(crate) async fn run(args: &DiffArgs, threads: Option<usize>) -> i32 {
    match (FingerprintFile::read(&args.baseline), FingerprintFile::read(&args.candidate)) {
        (Ok(Some(baseline)), Ok(Some(candidate))) => {
            let paths = [args.baseline.as_str(), args.candidate.as_str()];
            return match verifier::compare_fingerprints(&baseline, &candidate, paths) {
                Ok(comparison) => {
                    let json = serde_json::to_string_pretty(&comparison).unwrap_or_default();
                    print_outcome(args, &json, || comparison.to_text(), comparison.verdict)
                }
                Err(error) => fail(args, &crate::error::chain(&error)),
            };
        }
        (Ok(Some(_)), Ok(None)) | (Ok(None), Ok(Some(_))) => {
            let message = "one side is a fingerprint file and the other a dataset: give two datasets, \
                           or two fingerprint files";
            return fail(args, message);
        }
        (Err(error), _) | (_, Err(error)) => return fail(args, &crate::error::chain(&error)),
        (Ok(None), Ok(None)) => {}
    }
    let mut spec = match args.to_spec(threads) {
        Ok(spec) => spec,
        Err(message) => return fail(args, &message),
    };
    let (baseline, candidate) =
        match tokio::try_join!(hive::Resolved::of(&args.baseline), hive::Resolved::of(&args.candidate)) {
            Ok(sides) => sides,
            Err(error) => return fail(args, &error.to_string()),
        };
    if spec.key.is_empty()
        && let Some((key, source)) = baseline.primary_key().or_else(|| candidate.primary_key())
    {
        eprintln!("key: {} (the primary key that {source} declares)", key.join(","));
        spec.key = key.to_vec();
    }
    match hive::plan(&baseline, &candidate) {
        hive::Plan::Single { baseline, candidate } => {
            let (baseline, candidate) = (*baseline, *candidate);
            spec.baseline = baseline.location;
            spec.candidate = candidate.location;
            spec.declared = Declared { baseline: baseline.declared, candidate: candidate.declared };
            match run_one(args, &spec).await {
                Ok(report) => {
                    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
                    print_outcome(args, &json, || report.to_text(), report.verdict)
                }
                Err(error) => fail(args, &crate::error::chain(&error)),
            }
        }
        hive::Plan::Partitions(pairs) => diff_partitions(args, spec, pairs).await,
    }
}

/// Diffs a table partition by partition and prints every partition's outcome.
async fn diff_partitions(
    args: &DiffArgs,
    spec: DiffSpec,
    pairs: Vec<(String, Option<hive::Dataset>, Option<hive::Dataset>)>,
) -> i32 {
    if args.export.is_some() {
        return fail(args, "--export writes the differences of one dataset: name one partition on each side");
    }
    if pairs.is_empty() {
        return fail(args, "neither side has a partition: there is nothing to compare");
    }
    let mut outcomes = Vec::with_capacity(pairs.len());
    for (name, baseline, candidate) in pairs {
        let (baseline, candidate) = match (baseline, candidate) {
            (Some(baseline), Some(candidate)) => (baseline, candidate),
            (baseline, _) => {
                let (missing, given) =
                    if baseline.is_none() { ("baseline", &args.baseline) } else { ("candidate", &args.candidate) };
                let reason = format!("the {missing} has no partition `{name}` ({given})");
                outcomes.push(hive::PartitionOutcome::failed(name, Verdict::Divergent, reason));
                continue;
            }
        };
        let spec = DiffSpec {
            baseline: baseline.location,
            candidate: candidate.location,
            declared: Declared { baseline: baseline.declared, candidate: candidate.declared },
            ..spec.clone()
        };
        let outcome = match run_one(args, &spec).await {
            Ok(report) => hive::PartitionOutcome::diffed(name, &report),
            Err(error) => hive::PartitionOutcome::failed(name, Verdict::Error, crate::error::chain(&error)),
        };
        outcomes.push(outcome);
    }
    let outcome = hive::TableOutcome::new(&args.baseline, &args.candidate, outcomes);
    let json = serde_json::to_string_pretty(&outcome).unwrap_or_default();
    print_outcome(args, &json, || outcome.to_text(), outcome.verdict)
}

/// Writes the JSON to `--output`, prints the outcome in the chosen format, returns the exit code.
fn print_outcome(args: &DiffArgs, json: &str, text: impl FnOnce() -> String, verdict: Verdict) -> i32 {
    if let Err(message) = write_output(args, json) {
        eprintln!("error: {message}");
        return 2;
    }
    match args.format {
        Format::Text => print!("{}", text()),
        Format::Json => println!("{json}"),
    }
    verdict.exit_code()
}

/// Reports an error (stderr, and as a JSON error report) and returns exit code 2.
fn fail(args: &DiffArgs, message: &str) -> i32 {
    eprintln!("error: {message}");
    let json = serde_json::to_string_pretty(&serde_json::json!({ "verdict": Verdict::Error, "error": message }))
        .unwrap_or_default();
    if args.format == Format::Json {
        println!("{json}");
    }
    // The error itself is what matters; a failure to also write it is reported above.
    let _ = write_output(args, &json);
    Verdict::Error.exit_code()
}

fn write_output(args: &DiffArgs, json: &str) -> Result<(), String> {
    match &args.output {
        Some(path) => std::fs::write(path, format!("{json}\n"))
            .map_err(|e| format!("cannot write the report to `{}`: {e}", path.display())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_parse_globally_and_per_column() {
        assert_eq!(parse_tolerance("--abs-tol", "0.01"), Ok((None, 0.01)));
        assert_eq!(parse_tolerance("--abs-tol", "price=0.5"), Ok((Some("price".to_owned()), 0.5)));
        assert!(parse_tolerance("--abs-tol", "price=abc").unwrap_err().contains("`abc` is not a number"));
        assert!(parse_tolerance("--rel-tol", "-1").is_err());
    }

    #[test]
    fn renames_need_both_names() {
        assert_eq!(parse_renames(&["a=b".to_owned()]).unwrap().get("a").map(String::as_str), Some("b"));
        assert!(parse_renames(&["a=".to_owned()]).is_err());
        assert!(parse_renames(&["ab".to_owned()]).is_err());
    }
}
