//! dqc's service crate and the `dqc` binary's commands.
//!
//! # Layout
//!
//! - `cli`: the command line (`dqc diff`), parsed with clap into verifier specs.
//!
//! The REST API, the job runner, the store and notifications join this crate with their
//! issues; `main.rs` stays a thin shell that parses arguments, installs tracing and calls
//! [`cli::run`].

pub mod cli;
