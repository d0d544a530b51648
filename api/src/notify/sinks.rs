//! Delivering one message to one sink: a JSON webhook, Slack, DingTalk or SMTP e-mail.
//!
//! Every delivery carries an idempotency key, the same on every retry of the same report and
//! sink: the webhook's `idempotency_key` field and `Idempotency-Key` header, the `Message-ID`
//! of an e-mail, a `ref` line in chat messages. A receiver that got a delivery whose `sent`
//! mark was lost (a crash in between) sees the key again and can drop it.

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::json;

use super::message::Message;
use crate::config::{SinkConfig, SinkKind};

/// One delivery.
#[derive(Debug, Clone)]
pub struct Delivery<'a> {
    /// The idempotency key.
    pub key: String,
    /// The message.
    pub message: Message,
    /// The structured payload of the generic webhook (report summaries).
    pub payload: serde_json::Value,
    /// E-mail recipients (the tables' owners that are addresses, and the sink's `to`).
    pub recipients: Vec<String>,
    /// The sink.
    pub sink: &'a SinkConfig,
}

/// Why a delivery failed, by fault: the receiver is unreachable or busy (it may pass), or it
/// refuses this message or this sink's settings (it will not pass by retrying: the notification
/// is given up at once, and `POST /notifications/{id}/resend` queues it again once fixed).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The receiver cannot be reached (DNS, connection, timeout); its URL is left out.
    #[error("cannot reach the {kind} sink `{sink}`: {source}")]
    Unreachable {
        /// The sink's kind.
        kind: &'static str,
        /// The sink's name.
        sink: String,
        /// reqwest's error, without the URL (a webhook URL can hold a secret).
        #[source]
        source: reqwest::Error,
    },
    /// The receiver answered with an HTTP error.
    #[error("the sink `{sink}` answered HTTP {status}: {body}")]
    Status {
        /// The sink's name.
        sink: String,
        /// The status.
        status: reqwest::StatusCode,
        /// The start of the answer's body.
        body: String,
    },
    /// A DingTalk robot answered 200 with an error code (a rate limit, a keyword filter).
    #[error("the DingTalk robot `{sink}` refused the message: {body}")]
    Robot {
        /// The sink's name.
        sink: String,
        /// The start of the answer's body.
        body: String,
    },
    /// An e-mail sink's settings or recipients cannot make a message.
    #[error("e-mail sink `{sink}`: {problem}")]
    Mail {
        /// The sink's name.
        sink: String,
        /// What is wrong, naming the address.
        problem: String,
    },
    /// The SMTP server failed or refused.
    #[error("e-mail sink `{sink}`: the SMTP server refused: {source}")]
    Smtp {
        /// The sink's name.
        sink: String,
        /// lettre's error.
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

impl DeliveryError {
    /// True when retrying the same message cannot help: a client error other than timeout and
    /// rate limits, an e-mail that cannot be built, a permanent SMTP refusal (5xx).
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Status { status, .. } => status.is_client_error() && !matches!(status.as_u16(), 408 | 425 | 429),
            Self::Mail { .. } => true,
            Self::Smtp { source, .. } => source.is_permanent(),
            Self::Unreachable { .. } | Self::Robot { .. } => false,
        }
    }
}

/// Delivers; the error says what the receiver answered.
pub async fn send(client: &reqwest::Client, delivery: &Delivery<'_>) -> Result<(), DeliveryError> {
    let message = &delivery.message;
    let footer = format!("ref {}", delivery.key);
    let body = match delivery.sink.kind {
        SinkKind::Email => return send_email(delivery).await,
        SinkKind::Webhook => {
            let mut payload = delivery.payload.clone();
            payload["idempotency_key"] = json!(delivery.key);
            payload["title"] = json!(message.title);
            payload["text"] = json!(message.text(("", ""), "\n"));
            payload
        }
        SinkKind::Slack => {
            json!({ "text": format!("{}\n{footer}", message.marked_up(("*", "*"), "\n", super::message::slack_escape)) })
        }
        SinkKind::Dingtalk => json!({
            "msgtype": "markdown",
            "markdown": {
                "title": message.title,
                "text": format!("{}  \n{footer}", message.marked_up(("**", "**"), "  \n", super::message::markdown_escape)),
            },
        }),
    };
    let response =
        client.post(&delivery.sink.url).header("Idempotency-Key", &delivery.key).json(&body).send().await.map_err(
            |error| DeliveryError::Unreachable {
                kind: kind(delivery.sink.kind),
                sink: delivery.sink.name.clone(),
                source: error.without_url(),
            },
        )?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(DeliveryError::Status { sink: delivery.sink.name.clone(), status, body: snippet(&text) });
    }
    // DingTalk (and Slack's newer endpoints) answer 200 with an error code in the body.
    if delivery.sink.kind == SinkKind::Dingtalk
        && let Ok(answer) = serde_json::from_str::<serde_json::Value>(&text)
        && answer.get("errcode").and_then(serde_json::Value::as_i64).is_some_and(|code| code != 0)
    {
        return Err(DeliveryError::Robot { sink: delivery.sink.name.clone(), body: snippet(&text) });
    }
    Ok(())
}

async fn send_email(delivery: &Delivery<'_>) -> Result<(), DeliveryError> {
    let sink = delivery.sink;
    let failed = |what: &str, error: &dyn std::fmt::Display| DeliveryError::Mail {
        sink: sink.name.clone(),
        problem: format!("{what}: {error}"),
    };
    if delivery.recipients.is_empty() {
        return Err(DeliveryError::Mail {
            sink: sink.name.clone(),
            problem: "no recipients (no owner is an address, no `to`)".into(),
        });
    }
    let from = sink.from.as_deref().unwrap_or_default();
    let mut builder = lettre::Message::builder()
        .from(from.parse().map_err(|e| failed("invalid from", &e))?)
        .subject(&delivery.message.title)
        .message_id(Some(format!("<{}@dqc>", delivery.key)))
        .header(ContentType::TEXT_PLAIN);
    for recipient in &delivery.recipients {
        builder = builder.to(recipient.parse().map_err(|e| failed(&format!("invalid recipient `{recipient}`"), &e))?);
    }
    let email = builder
        .body(format!("{}\n\nref {}\n", delivery.message.lines.join("\n"), delivery.key))
        .map_err(|e| failed("cannot build the message", &e))?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&sink.url)
        .map_err(|e| failed("invalid SMTP URL", &e))?
        .timeout(Some(std::time::Duration::from_secs(30)))
        .build();
    transport.send(email).await.map_err(|source| DeliveryError::Smtp { sink: sink.name.clone(), source })?;
    Ok(())
}

fn kind(kind: SinkKind) -> &'static str {
    match kind {
        SinkKind::Webhook => "webhook",
        SinkKind::Slack => "Slack",
        SinkKind::Dingtalk => "DingTalk",
        SinkKind::Email => "e-mail",
    }
}

fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}
