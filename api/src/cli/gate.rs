//! `dqc gate`: the gating API from the command line. It talks to a running `dqc serve` (its
//! roles and its record of who moved what apply), with the token in `--token` or `DQC_TOKEN`.
//!
//! Exit codes: 0 done or allowed, 1 refused (every broken rule is printed), 2 error.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::gating::{Dag, Violation, WorkflowState};

/// Arguments of `dqc gate`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// The dqc service.
    #[arg(long, env = "DQC_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// An API token (operator to import and move, admin to force).
    #[arg(long, env = "DQC_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the service's JSON answer instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: GateCommand,
}

/// A `dqc gate` command.
#[derive(Debug, Subcommand)]
pub enum GateCommand {
    /// Replace the DAG with a file's (JSON, or TOML by its extension); known workflows keep
    /// their states.
    Import {
        /// The DAG file.
        file: PathBuf,
    },
    /// May the workflow (and its cycle) move to a state? Changes nothing.
    Check {
        /// The workflow.
        workflow: String,
        /// not_migrated, dual_run or migrated.
        #[arg(long, value_parser = parse_state)]
        to: WorkflowState,
    },
    /// Move the workflow (and its cycle) to a state, if the rules allow it; recorded.
    Move {
        /// The workflow.
        workflow: String,
        /// not_migrated, dual_run or migrated.
        #[arg(long, value_parser = parse_state)]
        to: WorkflowState,
        /// Why (recorded).
        #[arg(long, default_value = "")]
        reason: String,
        /// Move although rules are broken (admin token); the rules overridden are recorded.
        #[arg(long)]
        force: bool,
    },
    /// Workflows per state, and what blocks each one's next step.
    Overview {
        /// Only workflows in this state.
        #[arg(long, value_parser = parse_state)]
        state: Option<WorkflowState>,
        /// Only workflows whose next step is refused.
        #[arg(long)]
        blocked: bool,
        /// At most this many workflows.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Recorded transitions, newest first.
    History {
        /// Only those of this workflow.
        workflow: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

fn parse_state(text: &str) -> Result<WorkflowState, String> {
    WorkflowState::parse(text).ok_or_else(|| format!("`{text}` is not a state (not_migrated, dual_run, migrated)"))
}

/// Runs `dqc gate`.
pub(crate) async fn run(args: &GateArgs) -> i32 {
    match call(args).await {
        Ok((code, answer)) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
            } else {
                print!("{}", render(&args.command, &answer));
            }
            code
        }
        Err(message) => {
            eprintln!("dqc gate: {message}");
            2
        }
    }
}

/// Sends the command's request; the exit code and the answer.
async fn call(args: &GateArgs) -> Result<(i32, Value), String> {
    let url = |segments: &[&str]| -> Result<reqwest::Url, String> {
        let mut url = reqwest::Url::parse(&args.server)
            .map_err(|error| format!("--server `{}` is not a URL: {error}", args.server))?;
        url.path_segments_mut()
            .map_err(|()| format!("--server `{}` cannot take a path", args.server))?
            .pop_if_empty()
            .extend(["api", "v1", "gating"])
            .extend(segments);
        Ok(url)
    };
    let client = reqwest::Client::new();
    let request = match &args.command {
        GateCommand::Import { file } => {
            client.put(url(&["dag"])?).json(&Dag::load(file).map_err(|error| error.to_string())?)
        }
        GateCommand::Check { workflow, to } => {
            client.post(url(&["workflows", workflow, "transitions"])?).json(&json!({ "to": to, "dry_run": true }))
        }
        GateCommand::Move { workflow, to, reason, force } => client
            .post(url(&["workflows", workflow, "transitions"])?)
            .json(&json!({ "to": to, "reason": reason, "force": force })),
        GateCommand::Overview { state, blocked, limit } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(state.map(|state| ("state", state.as_str().to_owned())));
            if *blocked {
                query.push(("blocked", "true".to_owned()));
            }
            client.get(url(&["overview"])?).query(&query)
        }
        GateCommand::History { workflow, limit } => {
            let mut query = vec![("limit", limit.to_string())];
            query.extend(workflow.iter().map(|workflow| ("workflow", workflow.clone())));
            client.get(url(&["transitions"])?).query(&query)
        }
    };
    let request = match &args.token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response =
        request.send().await.map_err(|error| format!("cannot reach {}: {}", args.server, error.without_url()))?;
    let status = response.status();
    let answer: Value = response.json().await.map_err(|error| format!("the answer ({status}) is not JSON: {error}"))?;
    let refused = status == reqwest::StatusCode::CONFLICT && answer.get("violations").is_some();
    let allowed = answer.get("allowed").and_then(Value::as_bool).unwrap_or(true);
    match status {
        _ if refused => Ok((1, answer)),
        _ if status.is_success() => Ok((if allowed || answer["forced"] == true { 0 } else { 1 }, answer)),
        _ => Err(format!("{status}: {}", answer["error"].as_str().unwrap_or("(no message)"))),
    }
}

/// The answer as text.
fn render(command: &GateCommand, answer: &Value) -> String {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let list = |value: &Value| -> Vec<String> { value.as_array().into_iter().flatten().map(text).collect() };
    let violations = |value: &Value| -> Vec<String> { value.as_array().into_iter().flatten().map(describe).collect() };
    let mut out = String::new();
    match command {
        GateCommand::Import { file } => {
            out += &format!(
                "imported {}: {} workflows, {} tasks, {} edges; added {}, removed {}\n",
                file.display(),
                answer["workflows"],
                answer["tasks"],
                answer["edges"],
                list(&answer["added"]).len(),
                list(&answer["removed"]).len()
            );
            for workflow in list(&answer["states_kept"]) {
                out +=
                    &format!("  {workflow}: the file's state is ignored; dqc's stays (states change by transitions)\n");
            }
        }
        GateCommand::Check { .. } | GateCommand::Move { .. } => {
            let unit = list(&answer["unit"]).join(", ");
            let (from, to) = (text(&answer["from"]), text(&answer["to"]));
            let verdict = match (answer["allowed"] == true, answer["dry_run"] == true, answer["forced"] == true) {
                (true, true, _) => "allowed".to_owned(),
                (true, false, _) => format!("moved (transition {})", answer["transition"]),
                (false, false, true) => format!("FORCED (transition {})", answer["transition"]),
                (false, _, _) => "REFUSED".to_owned(),
            };
            out += &format!("{unit}: {from} -> {to}: {verdict}\n");
            for line in violations(&answer["violations"]) {
                out += &format!("  {line}\n");
            }
        }
        GateCommand::Overview { .. } => {
            let counts = &answer["counts"];
            out += &format!(
                "not_migrated {}, dual_run {}, migrated {}; next step ready {}, blocked {}\n",
                counts["not_migrated"], counts["dual_run"], counts["migrated"], answer["ready"], answer["blocked"]
            );
            for line in violations(&answer["violations"]) {
                out += &format!("  the states break {line}\n");
            }
            for step in answer["workflows"].as_array().into_iter().flatten() {
                let next = step["next"].as_str().map_or("done".to_owned(), |next| format!("next {next}"));
                let blockers = violations(&step["blocked_by"]);
                let status = if step["next"].is_null() {
                    String::new()
                } else if blockers.is_empty() {
                    ": ready".into()
                } else {
                    ": blocked".into()
                };
                out += &format!("{} ({}, {next}){status}\n", text(&step["workflow"]), text(&step["state"]));
                for line in blockers {
                    out += &format!("  {line}\n");
                }
            }
        }
        GateCommand::History { .. } => {
            for item in answer["transitions"].as_array().into_iter().flatten() {
                out += &format!(
                    "{} {} {} -> {} by {}{}: {}\n",
                    text(&item["at"]),
                    list(&item["unit"]).join(", "),
                    text(&item["from"]),
                    text(&item["to"]),
                    text(&item["actor"]),
                    if item["evidence"]["overridden"].as_array().is_some_and(|o| !o.is_empty()) {
                        " (forced)"
                    } else {
                        ""
                    },
                    text(&item["reason"])
                );
            }
        }
    }
    out
}

/// A violation from the service as a line of text.
fn describe(value: &Value) -> String {
    serde_json::from_value::<Violation>(value.clone()).map_or_else(|_| value.to_string(), |v| v.to_string())
}
