//! dqc's service crate and the `dqc` binary's commands.
//!
//! # Layout
//!
//! - `cli`: the command line (`dqc diff`, `dqc scan`, `dqc fingerprint`, `dqc serve`, `dqc demo`,
//!   `dqc token`), parsed
//!   with clap; a progress bar on terminals.
//! - [`config`]: the service's TOML configuration with `DQC_` environment overrides.
//! - [`store`]: pairs, jobs, reports, dead letters and the table registry in SQL (SQLite file or
//!   PostgreSQL); it implements the collector's `PairingStore`.
//! - [`runner`]: the job runner (concurrency, memory limit, run windows, retries, leases).
//! - [`rest`]: the REST API (axum) with its OpenAPI document, tokens and roles.
//! - [`metastore`]: a cluster's Hive Metastore (Thrift) and `hive://` locations.
//! - [`notify`]: reports to owners through a persisted outbox (webhook, Slack, DingTalk, SMTP).
//! - [`telemetry`]: this process's counters and the progress of its diffs.
//! - [`service`]: `dqc serve`, all of it in one process.
//! - [`error`]: the service's error, split by fault, and [`error::chain`] for people.
//! - [`demo`]: `dqc demo`, the service on generated warehouses and an in-process broker.
//!
//! `main.rs` stays a thin shell that parses arguments, installs tracing and calls [`cli::run`].

pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod gating;
pub mod inventories;
pub mod metastore;
pub mod notify;
pub mod rest;
pub mod runner;
pub mod service;
pub mod store;
pub mod telemetry;
