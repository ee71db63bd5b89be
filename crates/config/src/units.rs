//! Sizes and durations as people write them in a config file.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A size in bytes, written as an integer or as text such as `"16 MiB"` or `"2GB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
        for (name, size) in UNITS {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(formatter, "{} {name}", self.0 / size);
            }
        }
        write!(formatter, "{} bytes", self.0)
    }
}

impl ByteSize {
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("expected a size such as \"16 MiB\", got {text:?}"))?;
        let multiplier: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "TiB" => 1 << 40,
            "KB" | "kB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            other => {
                return Err(format!(
                    "unknown size unit {other:?}; use B, KiB, MiB, GiB, KB, MB or GB"
                ));
            }
        };
        number
            .checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| format!("size {text:?} is too large"))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ByteSize, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = ByteSize;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a size in bytes or text such as \"16 MiB\"")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<ByteSize, E> {
                u64::try_from(value)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(value))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<ByteSize, E> {
                ByteSize::parse(value).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// A duration written as text such as `"7d"`, `"30s"` or `"1h 30m"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HumanDuration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text)
            .map(HumanDuration)
            .map_err(|error| {
                de::Error::custom(format!(
                    "expected a duration such as \"30s\" or \"7d\", got {text:?} ({error})"
                ))
            })
    }
}

/// How long something is kept: a duration, or `"forever"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    For(Duration),
    Forever,
}

impl Retention {
    /// The duration in microseconds, `None` for forever.
    pub fn as_micros(&self) -> Option<i64> {
        match self {
            Retention::For(duration) => {
                Some(i64::try_from(duration.as_micros()).unwrap_or(i64::MAX))
            }
            Retention::Forever => None,
        }
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Whole days as days: humantime says "1year 1month 4days 7h 26m 24s" for 400d.
            Retention::For(duration)
                if duration.as_secs() >= 86_400 && duration.as_secs().is_multiple_of(86_400) =>
            {
                write!(formatter, "{}d", duration.as_secs() / 86_400)
            }
            Retention::For(duration) => {
                write!(formatter, "{}", humantime::format_duration(*duration))
            }
            Retention::Forever => formatter.write_str("forever"),
        }
    }
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Retention, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim() == "forever" {
            return Ok(Retention::Forever);
        }
        humantime::parse_duration(&text)
            .map(Retention::For)
            .map_err(|error| {
                de::Error::custom(format!(
                    "expected a duration such as \"8d\" or \"forever\", got {text:?} ({error})"
                ))
            })
    }
}
