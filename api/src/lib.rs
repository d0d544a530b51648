//! dqc's service crate and the `dqc` binary's commands.
//!
//! # Layout
//!
//! - `cli`: the command line (`dqc diff`, `dqc scan`, `dqc fingerprint`, `dqc serve`), parsed
//!   with clap; a progress bar on terminals.
//! - [`config`]: the service's TOML configuration with `DQC_` environment overrides.
//! - [`store`]: pairs, jobs, reports, dead letters and the table registry in SQL (SQLite file or
//!   PostgreSQL); it implements the collector's `PairingStore`.
//! - [`runner`]: the job runner (concurrency, memory limit, run windows, retries, leases).
//! - [`service`]: `dqc serve`, all of it in one process.
//!
//! `main.rs` stays a thin shell that parses arguments, installs tracing and calls [`cli::run`].

pub mod cli;
pub mod config;
pub mod runner;
pub mod service;
pub mod store;
