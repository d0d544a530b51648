//! The `dqc` command line.
//!
//! Each subcommand lives in its own file under `cli/`; this module holds the top-level parser
//! and dispatch. Commands return the process exit code; `main.rs` exits with it.

mod demo;
pub(crate) mod diff;
mod fingerprint;
mod gate;
mod hive;
mod inventory;
mod progress;
mod scan;
mod serve;
mod token;

use clap::{Parser, Subcommand};

pub use demo::DemoArgs;
pub use diff::{CompareArgs, DiffArgs};
pub use fingerprint::FingerprintArgs;
pub use gate::{GateArgs, GateCommand};
pub use inventory::InventoryArgs;
pub use scan::ScanArgs;
pub use serve::ServeArgs;
pub use token::TokenArgs;

/// dqc verifies dual runs: the same tables produced by a baseline and a candidate cluster.
#[derive(Debug, Parser)]
#[command(name = "dqc", version, about)]
pub struct Cli {
    /// Worker threads (default: one per core).
    #[arg(long, global = true)]
    pub threads: Option<usize>,

    #[command(subcommand)]
    pub command: Command,
}

/// A dqc command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare two datasets by key; exit 0 consistent, 1 inconsistent, 2 error.
    Diff(Box<DiffArgs>),
    /// Write a dataset's bucket digests to a file; `dqc diff` of two such files names the
    /// buckets that differ, without moving the data.
    Fingerprint(Box<FingerprintArgs>),
    /// Compare two whole warehouses partition by partition: listing, footers (rows, column
    /// statistics) and, with --deep, fingerprints; exit 0 consistent, 1 inconsistent, 2 error.
    Inventory(Box<InventoryArgs>),
    /// Decode datasets fully and print their rows and the time taken: the floor of a diff.
    Scan(ScanArgs),
    /// Run the service: the REST API, the Kafka collector, the job runner and notifications.
    Serve(ServeArgs),
    /// Generate two small warehouses and run the whole service on them, with an in-process
    /// Kafka broker and a SQLite store in a temporary directory.
    Demo(DemoArgs),
    /// Gating: import the DAG, check and move workflows, the migration overview (talks to a
    /// running `dqc serve`).
    Gate(GateArgs),
    /// Make an API token and print the configuration entry that holds its digest.
    Token(TokenArgs),
    /// Print the REST API's OpenAPI document (what `/api/v1/openapi.json` serves).
    Openapi,
}

/// Runs a parsed command line and returns the exit code.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Diff(args) => diff::run(&args, cli.threads).await,
        Command::Fingerprint(args) => fingerprint::run(&args, cli.threads).await,
        Command::Inventory(args) => inventory::run(&args, cli.threads).await,
        Command::Scan(args) => scan::run(&args, cli.threads).await,
        Command::Serve(args) => serve::run(&args).await,
        Command::Demo(args) => demo::run(&args).await,
        Command::Gate(args) => gate::run(&args).await,
        Command::Token(args) => token::run(&args),
        Command::Openapi => match crate::rest::openapi().to_pretty_json() {
            Ok(json) => {
                println!("{json}");
                0
            }
            Err(error) => {
                eprintln!("dqc openapi: {error}");
                2
            }
        },
    }
}
