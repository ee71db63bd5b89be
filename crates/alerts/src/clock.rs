//! Time as the rest of Sightline counts it: `i64` microseconds since the Unix epoch, passed
//! in by the caller (the server's wall clock, or a test's controllable clock). Durations
//! are written as people write them (`"30s"`, `"5m"`, `"4h"`).

pub const SECOND_US: i64 = 1_000_000;
pub const MINUTE_US: i64 = 60 * SECOND_US;
pub const HOUR_US: i64 = 60 * MINUTE_US;
pub const DAY_US: i64 = 24 * HOUR_US;

/// `"5m"`, `"1h 30m"`, `"0s"` → microseconds.
pub fn parse_duration_us(text: &str) -> Result<i64, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|_| {
        format!("{text:?} is not a duration; write e.g. \"30s\", \"5m\", \"4h\" or \"1d\"")
    })?;
    i64::try_from(duration.as_micros()).map_err(|_| format!("{text:?} is too long a duration"))
}

/// `300_000_000` → `"5m"`; for messages and the report.
pub fn format_duration_us(micros: i64) -> String {
    let Ok(unsigned) = u64::try_from(micros) else {
        return format!("-{}", format_duration_us(micros.saturating_neg()));
    };
    // Whole seconds read better than humantime's millisecond tails.
    let seconds = std::time::Duration::from_secs(unsigned / 1_000_000);
    humantime::format_duration(seconds).to_string()
}

/// RFC 3339 in UTC, as the API prints times.
pub fn format_rfc3339(micros: i64) -> String {
    match jiff::Timestamp::from_microsecond(micros) {
        Ok(timestamp) => timestamp.to_string(),
        Err(_) => micros.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print() {
        assert_eq!(parse_duration_us("5m"), Ok(5 * MINUTE_US));
        assert_eq!(parse_duration_us("0s"), Ok(0));
        assert_eq!(parse_duration_us("1h 30m"), Ok(90 * MINUTE_US));
        assert!(parse_duration_us("soon").is_err());
        assert_eq!(format_duration_us(90 * MINUTE_US), "1h 30m");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
