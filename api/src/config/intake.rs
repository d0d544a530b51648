//! Intake: the Kafka connection events come through, and how pairs wait for their other side.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::duration;

/// The Kafka connection.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The events topic.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// The consumer group shared by every dqc instance.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// librdkafka properties passed through (`security.protocol`, `sasl.*`, `ssl.*`, ...).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Most messages per store transaction.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Longest wait for a batch to fill.
    #[serde(default = "default_batch_wait", deserialize_with = "duration::deserialize")]
    pub batch_wait: Duration,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("group_id", &self.group_id)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .field("batch_size", &self.batch_size)
            .field("batch_wait", &self.batch_wait)
            .finish()
    }
}

fn default_topic() -> String {
    "dqc.task-finished".to_owned()
}
fn default_group() -> String {
    "dqc".to_owned()
}
fn default_batch_size() -> usize {
    500
}
fn default_batch_wait() -> Duration {
    Duration::from_millis(50)
}

/// Pairing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairingConfig {
    /// How long after one side finished the other side may still come, unless the table sets
    /// its own.
    #[serde(default = "default_deadline", deserialize_with = "duration::deserialize")]
    pub deadline: Duration,
    /// How often deadlines are checked.
    #[serde(default = "default_sweep", deserialize_with = "duration::deserialize")]
    pub sweep_interval: Duration,
}

impl Default for PairingConfig {
    fn default() -> Self {
        Self { deadline: default_deadline(), sweep_interval: default_sweep() }
    }
}

fn default_deadline() -> Duration {
    Duration::from_secs(6 * 3600)
}
fn default_sweep() -> Duration {
    Duration::from_secs(30)
}
