//! Wall-clock settings, typed at load: a time of day (`09:00`) and an IANA time zone
//! (`Asia/Shanghai`). Past the configuration nothing parses them again.

use chrono::NaiveTime;
use serde::Deserialize;

/// A time of day, `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TimeOfDay(NaiveTime);

/// An IANA time zone name (`UTC`, `Asia/Shanghai`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TimeZone(chrono_tz::Tz);

/// A text that is not a time of day or a time zone; the message quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidClock(String);

impl InvalidClock {
    pub(super) fn new(message: String) -> Self {
        Self(message)
    }
}

impl TimeOfDay {
    /// The time.
    pub fn time(self) -> NaiveTime {
        self.0
    }

    /// `hour:minute`.
    pub fn at(hour: u32, minute: u32) -> Self {
        Self(NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN))
    }
}

impl std::str::FromStr for TimeOfDay {
    type Err = InvalidClock;

    fn from_str(text: &str) -> Result<Self, InvalidClock> {
        NaiveTime::parse_from_str(text.trim(), "%H:%M")
            .map(Self)
            .map_err(|_| InvalidClock::new(format!("`{text}` is not a time of day such as 09:00")))
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = InvalidClock;

    fn try_from(text: String) -> Result<Self, InvalidClock> {
        text.parse()
    }
}

impl TimeZone {
    /// Coordinated Universal Time.
    pub const UTC: Self = Self(chrono_tz::UTC);

    /// The zone.
    pub fn zone(self) -> chrono_tz::Tz {
        self.0
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        Self::UTC
    }
}

impl std::str::FromStr for TimeZone {
    type Err = InvalidClock;

    fn from_str(text: &str) -> Result<Self, InvalidClock> {
        text.parse().map(Self).map_err(|_| InvalidClock::new(format!("unknown time zone `{text}` (use an IANA name)")))
    }
}

impl TryFrom<String> for TimeZone {
    type Error = InvalidClock;

    fn try_from(text: String) -> Result<Self, InvalidClock> {
        text.parse()
    }
}
