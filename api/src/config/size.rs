//! Byte sizes as people write them: `4GiB`, `512MiB`, `2GB`, `1048576`. Parsed once, at load
//! (the configuration) or at the command line; past that a size is a number of bytes.

use serde::Deserialize;

/// A size in bytes, at least 1: binary (`KiB`, `MiB`, `GiB`, `TiB`) and decimal (`KB`, `MB`,
/// `GB`, `TB`) units, case-insensitive, optional space; a bare number is bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ByteSize(usize);

/// A text that is not a size; the message quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSize(String);

impl ByteSize {
    /// The size in bytes.
    pub fn bytes(self) -> usize {
        self.0
    }

    /// A size of `bytes` (at least 1).
    pub const fn new(bytes: usize) -> Self {
        Self(if bytes == 0 { 1 } else { bytes })
    }
}

impl std::str::FromStr for ByteSize {
    type Err = InvalidSize;

    fn from_str(text: &str) -> Result<Self, InvalidSize> {
        let trimmed = text.trim();
        let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let number: f64 =
            number.parse().map_err(|_| InvalidSize(format!("`{text}` is not a size such as 4GiB or 512MiB")))?;
        let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kib" => 1024.0,
            "m" | "mib" => 1024.0 * 1024.0,
            "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
            "t" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            "kb" => 1e3,
            "mb" => 1e6,
            "gb" => 1e9,
            "tb" => 1e12,
            other => {
                return Err(InvalidSize(format!(
                    "unknown size unit `{other}` in `{text}` (use KiB, MiB, GiB, TiB, KB, MB, GB or TB)"
                )));
            }
        };
        let bytes = number * multiplier;
        if !bytes.is_finite() || bytes < 1.0 || bytes > usize::MAX as f64 {
            return Err(InvalidSize(format!("`{text}` is not a usable size")));
        }
        Ok(Self(bytes as usize))
    }
}

impl TryFrom<String> for ByteSize {
    type Error = InvalidSize;

    fn try_from(text: String) -> Result<Self, InvalidSize> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::ByteSize;

    fn parse(text: &str) -> Result<usize, String> {
        text.parse::<ByteSize>().map(ByteSize::bytes).map_err(|error| error.to_string())
    }

    #[test]
    fn sizes_parse_in_binary_and_decimal_units() {
        assert_eq!(parse("4GiB"), Ok(4 << 30));
        assert_eq!(parse("512 MiB"), Ok(512 << 20));
        assert_eq!(parse("2GB"), Ok(2_000_000_000));
        assert_eq!(parse("1.5g"), Ok(3 << 29));
        assert_eq!(parse("1048576"), Ok(1 << 20));
        assert!(parse("lots").is_err());
        assert!(parse("4 parsecs").unwrap_err().contains("unknown size unit `parsecs`"));
        assert!(parse("0").is_err());
    }
}
