//! The `[api]` and `[notifications]` sections: who may call the REST API, which locations an
//! on-demand diff may read, and where reports are sent.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use super::{ByteSize, TimeOfDay, TimeZone};

/// The REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address to listen on (`127.0.0.1:8080`; port 0 picks a free one).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The URL users open, for links in notifications; default `http://{listen}`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Roots under which `POST /diffs` may read explicit locations (`/data/exports`,
    /// `file:///data/exports`). Empty: explicit locations are refused.
    #[serde(default)]
    pub allowed_roots: Vec<String>,
    /// Largest request body (`1MiB`).
    #[serde(default = "default_max_body")]
    pub max_body: ByteSize,
    /// Bearer tokens, stored as SHA-256 hex digests (`dqc token` prints one).
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    /// The role of requests without a token; none (the default): they get 401. Only `viewer`
    /// is accepted.
    #[serde(default)]
    pub anonymous_role: Option<AccessRole>,
    /// Longest time a request may take before it is answered 503 (`30s`).
    #[serde(default = "default_request_timeout", deserialize_with = "duration::deserialize")]
    pub request_timeout: Duration,
    /// Most requests in progress at once; more are answered 503 at once.
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_concurrent_requests() -> usize {
    256
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
            allowed_roots: Vec::new(),
            max_body: default_max_body(),
            tokens: Vec::new(),
            anonymous_role: None,
            request_timeout: default_request_timeout(),
            max_concurrent_requests: default_max_concurrent_requests(),
        }
    }
}

/// Secrets that anyone tries first; a token whose digest is one of theirs is refused at start.
const COMMON_SECRETS: &[&str] = &[
    "password",
    "secret",
    "admin",
    "administrator",
    "root",
    "changeme",
    "change-me",
    "123456",
    "12345678",
    "123456789",
    "qwerty",
    "letmein",
    "welcome",
    "token",
    "dqc",
    "operator",
    "viewer",
    "test",
    "default",
    "example",
    "passw0rd",
    "Password",
    "Password1",
    "hunter2",
];

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}
fn default_max_body() -> ByteSize {
    ByteSize::new(1 << 20)
}

/// One bearer token.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it, for logs.
    pub name: String,
    /// What it may do.
    pub role: AccessRole,
    /// SHA-256 of the token, lowercase hex.
    pub sha256: String,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("TokenConfig").field("name", &self.name).field("role", &self.role).finish()
    }
}

/// What a caller may do; each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessRole {
    /// Reads reports, diffs and the registry.
    Viewer,
    /// Also starts and cancels diffs, posts events, changes the registry, reads dead letters,
    /// moves workflows.
    Operator,
    /// Also deletes tables and dead letters.
    Admin,
}

impl AccessRole {
    /// The role as configured and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

/// Where reports go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// The sinks; a table's reports go to the sinks it names, or to all of them.
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// Deliveries of one notification before it is given up (and counted as failed).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Wait before the first retry; doubled at each further attempt, up to an hour.
    #[serde(default = "default_backoff", deserialize_with = "duration::deserialize")]
    pub retry_backoff: Duration,
    /// How long after it was queued a notification is still retried (`24h`); then it is given
    /// up (`failed`), and `POST /notifications/{id}/resend` queues it again.
    #[serde(default = "default_retry_for", deserialize_with = "duration::deserialize")]
    pub retry_for: Duration,
    /// Time of day (`HH:MM`, in `timezone`) at which daily digests are sent.
    #[serde(default = "default_digest_time")]
    pub digest_time: TimeOfDay,
    /// IANA time zone of `digest_time` and of a digest's day.
    #[serde(default)]
    pub timezone: TimeZone,
    /// How often the outbox is looked at when nothing wakes it.
    #[serde(default = "default_poll", deserialize_with = "duration::deserialize")]
    pub poll_interval: Duration,
    /// Timeout of one delivery.
    #[serde(default = "default_timeout", deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// Whether a notification links to its report's page with a signature that opens that one
    /// report, read-only, without signing in (for owners reading on a phone), for
    /// `signed_link_lifetime`. Off: the link needs a session or `api.anonymous_role`.
    #[serde(default = "default_signed_links")]
    pub signed_links: bool,
    /// How long a signed link opens its report.
    #[serde(default = "default_signed_link_lifetime", deserialize_with = "duration::deserialize")]
    pub signed_link_lifetime: Duration,
}

fn default_signed_links() -> bool {
    true
}
fn default_signed_link_lifetime() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            sinks: Vec::new(),
            max_attempts: default_attempts(),
            retry_backoff: default_backoff(),
            retry_for: default_retry_for(),
            digest_time: default_digest_time(),
            timezone: TimeZone::UTC,
            poll_interval: default_poll(),
            timeout: default_timeout(),
            signed_links: default_signed_links(),
            signed_link_lifetime: default_signed_link_lifetime(),
        }
    }
}

fn default_attempts() -> u32 {
    1000
}
fn default_retry_for() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_backoff() -> Duration {
    Duration::from_secs(10)
}
fn default_digest_time() -> TimeOfDay {
    TimeOfDay::at(9, 0)
}
fn default_poll() -> Duration {
    Duration::from_secs(2)
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// A place notifications are sent to.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Its name, as tables refer to it.
    pub name: String,
    /// What it is.
    pub kind: SinkKind,
    /// The webhook URL (webhook, slack, dingtalk) or the SMTP server (email:
    /// `smtp://host:25`, `smtps://user:password@host`, `smtp://host:587?tls=required`).
    pub url: String,
    /// E-mail: the sender.
    #[serde(default)]
    pub from: Option<String>,
    /// E-mail: recipients besides the table's owners that are addresses.
    #[serde(default)]
    pub to: Vec<String>,
}

impl std::fmt::Debug for SinkConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Webhook URLs and SMTP URLs carry secrets.
        formatter.debug_struct("SinkConfig").field("name", &self.name).field("kind", &self.kind).finish()
    }
}

/// The kind of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// A JSON POST of the report summary, with an `Idempotency-Key` header.
    Webhook,
    /// A Slack incoming webhook.
    Slack,
    /// A DingTalk robot (markdown message).
    Dingtalk,
    /// E-mail over SMTP.
    Email,
}

/// When a table's reports are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyPolicy {
    /// Reports that are inconsistent, divergent or error.
    #[default]
    Problems,
    /// Every report.
    Always,
    /// One message a day per sink with the day's problem reports.
    DailyDigest,
    /// None.
    Never,
}

impl NotifyPolicy {
    /// True for the default, so that it is left out of stored registrations.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl super::Config {
    pub(super) fn validate_service(&self) -> Result<(), super::ConfigError> {
        let invalid = |message: String| Err(super::ConfigError::Invalid(message));
        if self.api.listen.parse::<std::net::SocketAddr>().is_err() {
            return invalid(format!("api.listen: `{}` is not an address and port (127.0.0.1:8080)", self.api.listen));
        }
        if self.api.max_concurrent_requests == 0 || self.api.request_timeout.is_zero() {
            return invalid("api.max_concurrent_requests and api.request_timeout must be above 0".into());
        }
        if let Some(role) = self.api.anonymous_role.filter(|role| *role != AccessRole::Viewer) {
            return invalid(format!(
                "api.anonymous_role: `{}` would let anyone who reaches the port change things; only `viewer` \
                 may be anonymous (give operators and admins tokens: `dqc token`)",
                role.as_str()
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for token in &self.api.tokens {
            if let Some(word) =
                COMMON_SECRETS.iter().find(|word| crate::rest::hash_token(word) == token.sha256.to_ascii_lowercase())
            {
                return invalid(format!(
                    "api.tokens `{}`: the secret is the common word `{word}`, which anyone can guess; \
                     `dqc token` makes a random one",
                    token.name
                ));
            }
            if token.sha256.len() != 64 || !token.sha256.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                return invalid(format!(
                    "api.tokens `{}`: sha256 must be 64 hex digits (`dqc token` prints one)",
                    token.name
                ));
            }
            if !names.insert(token.name.as_str()) {
                return invalid(format!("api.tokens: `{}` is named twice", token.name));
            }
        }
        let notifications = &self.notifications;
        let mut names = std::collections::BTreeSet::new();
        for sink in &notifications.sinks {
            if !names.insert(sink.name.as_str()) {
                return invalid(format!("notifications.sinks: `{}` is named twice", sink.name));
            }
            let schemes: &[&str] = if sink.kind == SinkKind::Email { &["smtp", "smtps"] } else { &["http", "https"] };
            match url::Url::parse(&sink.url) {
                Ok(url) if schemes.contains(&url.scheme()) => {}
                _ => {
                    return invalid(format!(
                        "notifications.sinks `{}`: url must be a {} URL",
                        sink.name,
                        schemes.join("/")
                    ));
                }
            }
            if sink.kind == SinkKind::Email && sink.from.is_none() {
                return invalid(format!("notifications.sinks `{}`: an email sink needs `from`", sink.name));
            }
        }
        if notifications.max_attempts == 0 {
            return invalid("notifications.max_attempts must be at least 1".into());
        }
        Ok(())
    }

    /// The URL that links in notifications start with, without a trailing `/`.
    pub fn public_url(&self) -> String {
        let url = self.api.public_url.clone().unwrap_or_else(|| format!("http://{}", self.api.listen));
        url.trim_end_matches('/').to_owned()
    }
}
