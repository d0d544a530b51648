//! dqc's service crate and the `dqc` binary's commands.
//!
//! # Layout
//!
//! - `cli`: the command line (`dqc diff`, `dqc scan`), parsed with clap into verifier calls,
//!   with a progress bar on terminals.
//!
//! The REST API, the job runner, the store and notifications join this crate with their
//! issues; `main.rs` stays a thin shell that parses arguments, installs tracing and calls
//! [`cli::run`].

pub mod cli;
