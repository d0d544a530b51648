//! Identifiers, parsed once at the edge (a Kafka message, an HTTP request, a configuration or
//! DAG file) into types that cannot hold what must not reach a store key, a log line or a path.
//!
//! Every identifier refuses the empty string, control characters (NUL included) and more than
//! its stated length in bytes. The ones that become part of a path (cluster, table, partition
//! columns and values) also refuse `%`, `\`, `/` and a leading `.`, so that nothing substituted
//! into a location template can climb out of it, whatever later decoding happens.

use serde::{Deserialize, Serialize};

/// Why a text is not a valid identifier; the message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct InvalidIdentifier {
    /// The field, as the input names it (`event_id`, `outputs[0].table`).
    pub field: String,
    /// The rule it breaks.
    pub reason: String,
}

impl InvalidIdentifier {
    /// The same error for a field named differently (`outputs[2].` before `table`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}{}", self.field);
        self
    }
}

/// The rules of one kind of identifier.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Most bytes.
    pub max_bytes: usize,
    /// Becomes part of a path: no `%`, `\`, `/` or leading `.`.
    pub path: bool,
}

/// Checks `value` against `rules`, naming `field` in the error.
pub fn check(field: &str, value: &str, rules: Rules) -> Result<(), InvalidIdentifier> {
    let refuse = |reason: String| Err(InvalidIdentifier { field: field.to_owned(), reason });
    if value.trim().is_empty() {
        return refuse("is empty".to_owned());
    }
    if value.len() > rules.max_bytes {
        return refuse(format!("is {} bytes long, more than the {} allowed", value.len(), rules.max_bytes));
    }
    if let Some(control) = value.chars().find(|c| c.is_control()) {
        return refuse(format!("contains the control character U+{:04X}", u32::from(control)));
    }
    if rules.path {
        if let Some(bad) = value.chars().find(|c| matches!(c, '%' | '\\' | '/')) {
            return refuse(format!("contains `{bad}`, which is not allowed in a name that becomes a path"));
        }
        if value.starts_with('.') {
            return refuse("starts with `.`, which is not allowed in a name that becomes a path".to_owned());
        }
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses `value`, naming `field` in the error.
            pub fn parse_as(field: &str, value: impl Into<String>) -> Result<Self, InvalidIdentifier> {
                let value = value.into();
                let check: fn(&str, &str) -> Result<(), InvalidIdentifier> = $check;
                check(field, &value)?;
                Ok(Self(value))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidIdentifier;
            fn try_from(value: String) -> Result<Self, InvalidIdentifier> {
                Self::parse_as($field, value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidIdentifier;
            fn from_str(value: &str) -> Result<Self, InvalidIdentifier> {
                Self::parse_as($field, value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

const fn rules(max_bytes: usize, path: bool) -> Rules {
    Rules { max_bytes, path }
}

identifier!(
    /// A producer's id of one event (unique per cluster), at most 256 bytes.
    EventId, "event_id", |field, value| check(field, value, rules(256, false))
);
identifier!(
    /// A cluster's name (`idc-hadoop`), at most 64 bytes; part of warehouse paths.
    ClusterName, "cluster", |field, value| check(field, value, rules(64, true))
);
identifier!(
    /// A scheduled task's id, at most 256 bytes.
    TaskId, "task_id", |field, value| check(field, value, rules(256, false))
);
identifier!(
    /// A workflow's id, at most 256 bytes.
    WorkflowId, "workflow_id", |field, value| check(field, value, rules(256, false))
);
identifier!(
    /// A logical run (`2024-05-01`), at most 128 bytes.
    RunId, "run_id", |field, value| check(field, value, rules(128, false))
);
identifier!(
    /// `db.table` or a bare `table` (Hive's `default` database), at most 256 bytes; each part
    /// becomes a path segment.
    TableName, "table", check_table
);

impl TableName {
    /// The database (`default` for a bare name) and the table.
    pub fn parts(&self) -> (&str, &str) {
        self.0.split_once('.').unwrap_or(("default", &self.0))
    }
}

/// Most bytes of a `db.table` name.
pub const TABLE_MAX_BYTES: usize = 256;

/// Most bytes of a partition column's name.
pub const PARTITION_COLUMN_MAX_BYTES: usize = 128;

/// Most bytes of a partition value.
pub const PARTITION_VALUE_MAX_BYTES: usize = 256;

/// Checks a `db.table` (or bare `table`) name: at most one `.`, each part a path-safe name.
pub fn check_table(field: &str, name: &str) -> Result<(), InvalidIdentifier> {
    check(field, name, rules(TABLE_MAX_BYTES, false))?;
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 || parts.iter().any(|part| part.trim().is_empty()) {
        return Err(InvalidIdentifier {
            field: field.to_owned(),
            reason: format!("`{name}` is not `db.table` or `table`"),
        });
    }
    for part in parts {
        check(field, part, rules(TABLE_MAX_BYTES, true))?;
    }
    Ok(())
}

/// Checks one partition column and its value, as text.
pub fn check_partition(column: &str, value: &str) -> Result<(), InvalidIdentifier> {
    check("partition column", column, rules(PARTITION_COLUMN_MAX_BYTES, true))?;
    if column.contains('=') {
        return Err(InvalidIdentifier {
            field: "partition column".to_owned(),
            reason: format!("`{column}` contains `=`"),
        });
    }
    check(&format!("partition.{column}"), value, rules(PARTITION_VALUE_MAX_BYTES, true))
}

/// Hive's escaping of a partition value in a path (`FileUtils.escapePathName`): `10:00` is
/// written `10%3A00`. The listing decodes it back.
pub fn hive_escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '\x7f' | '{' | '[' | ']' | '^')
            || c.is_ascii_control()
        {
            escaped.push_str(&format!("%{:02X}", u32::from(c)));
        } else {
            escaped.push(c);
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn each_rule_is_named() {
        let cases = [
            ("", "cluster is empty"),
            ("a\0b", "cluster contains the control character U+0000"),
            ("a%2e", "cluster contains `%`"),
            ("a\\b", "cluster contains `\\`"),
            ("..", "cluster starts with `.`"),
        ];
        for (value, expected) in cases {
            let error = ClusterName::parse_as("cluster", value).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error:?} should start with {expected:?}");
        }
        let long = "e".repeat(4096);
        assert_eq!(
            EventId::parse_as("event_id", long).unwrap_err().to_string(),
            "event_id is 4096 bytes long, more than the 256 allowed"
        );
        assert!(EventId::parse_as("event_id", "a/../%2e").is_ok(), "an event id never reaches a path");
    }

    #[test]
    fn tables_and_partitions() {
        assert!(check_table("table", "dw.orders").is_ok());
        assert!(check_table("table", "orders").is_ok());
        for bad in ["a.b.c", "x.%2e%2e", ".hidden", "dw..x", "dw./etc", "dw\0.x"] {
            assert!(check_table("table", bad).is_err(), "{bad}");
        }
        assert!(check_partition("dt", "2024-05-01").is_ok());
        assert!(check_partition("ts", "2024-05-01 10:00").is_ok());
        for (column, value) in [("dt", "2024-05-01%2f..%2f.."), ("dt", ".."), ("d=t", "x"), ("dt", "a/b")] {
            assert!(check_partition(column, value).is_err(), "{column}={value}");
        }
        assert_eq!(hive_escape("10:00 a=b"), "10%3A00 a%3Db");
    }

    proptest! {
        /// Any text parses or is refused with a message naming the field; a parsed one keeps no
        /// character that a path or a store key could misread.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,12}|[\\x00-\\x7f]{0,12}|.{250,260}") {
            match ClusterName::parse_as("cluster", text.clone()) {
                Ok(name) => {
                    prop_assert!(!name.contains(['%', '\\', '/', '\0']) && !name.starts_with('.'));
                    prop_assert!(name.len() <= 64 && !name.trim().is_empty());
                }
                Err(error) => prop_assert!(error.to_string().starts_with("cluster ")),
            }
            match check_partition("dt", &text) {
                Ok(()) => prop_assert!(!hive_escape(&text).contains(['/', '\\']) && !text.starts_with('.')),
                Err(error) => prop_assert!(error.to_string().starts_with("partition.dt ")),
            }
        }
    }
}
