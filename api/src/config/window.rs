//! Run windows: when automatic diffs may start, so that they do not compete with the
//! production batch (Youzan's lesson: comparisons launched at night delayed production).
//!
//! `only = ["01:00-07:00"]` allows starts inside any listed window; `never = ["00:00-04:00"]`
//! forbids starts inside any listed one; both may be given. A window may wrap midnight
//! (`22:00-02:00`); its start is inclusive and its end exclusive; times are wall-clock times in
//! `timezone` (an IANA name, default UTC). A diff that started inside a window runs to its end.

use chrono::{DateTime, NaiveTime, Utc};
use serde::Deserialize;

use super::{InvalidClock, TimeZone};

/// The run windows of automatic jobs, typed at load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunWindows {
    /// Automatic jobs start only inside one of these.
    #[serde(default)]
    pub only: Vec<Window>,
    /// Automatic jobs never start inside any of these.
    #[serde(default)]
    pub never: Vec<Window>,
    /// The time zone of the windows (IANA name); default UTC.
    #[serde(default)]
    pub timezone: TimeZone,
}

/// One daily window, `[start, end)`, never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Window {
    start: NaiveTime,
    end: NaiveTime,
}

impl std::str::FromStr for Window {
    type Err = InvalidClock;

    /// Parses `HH:MM-HH:MM`.
    fn from_str(text: &str) -> Result<Self, InvalidClock> {
        let invalid = || InvalidClock::new(format!("`{text}` is not a window such as 01:00-07:00"));
        let (start, end) = text.split_once('-').ok_or_else(invalid)?;
        let time = |part: &str| NaiveTime::parse_from_str(part.trim(), "%H:%M").map_err(|_| invalid());
        let window = Self { start: time(start)?, end: time(end)? };
        if window.start == window.end {
            return Err(InvalidClock::new(format!("`{text}` is empty: its start and end are the same")));
        }
        Ok(window)
    }
}

impl TryFrom<String> for Window {
    type Error = InvalidClock;

    fn try_from(text: String) -> Result<Self, InvalidClock> {
        text.parse()
    }
}

impl Window {
    /// True when `time` falls in the window.
    pub fn contains(&self, time: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }
}

impl RunWindows {
    /// True when an automatic job may start at `now`.
    pub fn allows(&self, now: DateTime<Utc>) -> bool {
        let time = now.with_timezone(&self.timezone.zone()).time();
        let inside = |windows: &[Window]| windows.iter().any(|window| window.contains(time));
        let in_only = self.only.is_empty() || inside(&self.only);
        in_only && !inside(&self.never)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn windows(only: &[&str], never: &[&str], timezone: Option<&str>) -> RunWindows {
        RunWindows {
            only: only.iter().map(|s| s.parse().unwrap()).collect(),
            never: never.iter().map(|s| s.parse().unwrap()).collect(),
            timezone: timezone.map_or(crate::config::TimeZone::UTC, |name| name.parse().unwrap()),
        }
    }

    fn utc(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 2, hour, minute, 0).unwrap()
    }

    #[test]
    fn only_and_never_windows() {
        let night = windows(&["01:00-07:00"], &[], None);
        assert!(!night.allows(utc(0, 59)));
        assert!(night.allows(utc(1, 0)));
        assert!(!night.allows(utc(7, 0)), "the end is exclusive");
        let not_early = windows(&[], &["00:00-04:00"], None);
        assert!(!not_early.allows(utc(3, 59)));
        assert!(not_early.allows(utc(4, 0)));
        assert!(RunWindows::default().allows(utc(12, 0)));
    }

    #[test]
    fn windows_wrap_midnight_and_follow_the_time_zone() {
        let late = windows(&["22:00-02:00"], &["23:00-23:30"], None);
        assert!(late.allows(utc(22, 0)) && late.allows(utc(1, 59)));
        assert!(!late.allows(utc(23, 10)) && !late.allows(utc(2, 0)));
        let shanghai = windows(&["01:00-07:00"], &[], Some("Asia/Shanghai"));
        assert!(shanghai.allows(utc(17, 0)), "17:00 UTC is 01:00 in Shanghai");
        assert!(!shanghai.allows(utc(1, 0)));
    }

    #[test]
    fn bad_windows_are_named() {
        assert_eq!("1-7".parse::<Window>().unwrap_err().to_string(), "`1-7` is not a window such as 01:00-07:00");
        assert!("05:00-05:00".parse::<Window>().unwrap_err().to_string().contains("is empty"));
        assert_eq!(
            "Mars/Base".parse::<crate::config::TimeZone>().unwrap_err().to_string(),
            "unknown time zone `Mars/Base` (use an IANA name)"
        );
    }
}
