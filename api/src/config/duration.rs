//! Durations in the configuration, written as people write them: `30s`, `6h`, `1h 30m`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text)
        .map_err(|error| serde::de::Error::custom(format!("`{text}` is not a duration such as 30s or 6h: {error}")))
}

pub(super) mod option {
    use super::*;

    pub(in crate::config) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        super::deserialize(deserializer).map(Some)
    }

    pub(in crate::config) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_str(&humantime::format_duration(*duration).to_string()),
            None => serializer.serialize_none(),
        }
    }
}
