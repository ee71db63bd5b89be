//! RFC 3339 timestamps as microseconds since the Unix epoch.
//!
//! Hand-written because it is on the hot path of every event: a general date library
//! parses several times slower, and RFC 3339 is a fixed-shape format.

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (also `t`, `z` and a space for `T`, as
/// RFC 3339 allows). Fractions beyond microseconds are truncated. Returns a short
/// description of what is wrong on failure.
pub fn parse_rfc3339(text: &str) -> Result<i64, &'static str> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 {
        return Err("too short for an RFC 3339 timestamp such as 2026-11-27T14:03:11Z");
    }
    let year = digits(bytes, 0, 4)? as i64;
    let month = digits(bytes, 5, 2)?;
    let day = digits(bytes, 8, 2)?;
    let hour = digits(bytes, 11, 2)?;
    let minute = digits(bytes, 14, 2)?;
    let second = digits(bytes, 17, 2)?;
    if bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' || bytes[16] != b':' {
        return Err("date and time separators must be '-' and ':'");
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') {
        return Err("date and time must be separated by 'T'");
    }
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range for the month");
    }
    // 60 is a leap second; like most systems we fold it onto :59.
    if hour > 23 || minute > 59 || second > 60 {
        return Err("time of day out of range");
    }
    let mut position = 19;
    let mut micros: i64 = 0;
    if bytes[position] == b'.' {
        position += 1;
        let start = position;
        let mut scale = 100_000;
        while position < bytes.len() && bytes[position].is_ascii_digit() {
            micros += (bytes[position] - b'0') as i64 * scale;
            scale /= 10;
            position += 1;
        }
        if position == start {
            return Err("a '.' must be followed by fraction digits");
        }
    }
    let offset_seconds: i64 = match bytes.get(position) {
        Some(b'Z' | b'z') if position + 1 == bytes.len() => 0,
        Some(sign @ (b'+' | b'-')) if position + 6 == bytes.len() => {
            if bytes[position + 3] != b':' {
                return Err("the UTC offset must look like +01:00");
            }
            let offset_hours = digits(bytes, position + 1, 2)? as i64;
            let offset_minutes = digits(bytes, position + 4, 2)? as i64;
            if offset_hours > 23 || offset_minutes > 59 {
                return Err("UTC offset out of range");
            }
            let magnitude = offset_hours * 3600 + offset_minutes * 60;
            if *sign == b'+' { magnitude } else { -magnitude }
        }
        _ => return Err("must end with 'Z' or a UTC offset such as +01:00"),
    };
    let second = second.min(59) as i64;
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour as i64 * 3600 + minute as i64 * 60 + second - offset_seconds;
    Ok(seconds * 1_000_000 + micros)
}

/// Formats microseconds since the epoch as `2026-11-27T14:03:11.120Z` (milliseconds) or
/// with microseconds when they are not zero.
pub fn format_rfc3339(micros_since_epoch: i64) -> String {
    let seconds = micros_since_epoch.div_euclid(1_000_000);
    let micros = micros_since_epoch.rem_euclid(1_000_000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    if micros % 1000 == 0 {
        format!(
            "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{:03}Z",
            micros / 1000
        )
    } else {
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z")
    }
}

/// The current wall-clock time in microseconds since the epoch.
pub fn now_micros() -> i64 {
    let elapsed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    elapsed.as_micros() as i64
}

fn digits(bytes: &[u8], start: usize, count: usize) -> Result<u32, &'static str> {
    let mut value = 0u32;
    for &byte in &bytes[start..start + count] {
        if !byte.is_ascii_digit() {
            return Err("expected digits in the date or time");
        }
        value = value * 10 + (byte - b'0') as u32;
    }
    Ok(value)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = month as i64;
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_known_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_rfc3339("2026-11-27T14:03:11.120Z"),
            Ok(1_795_788_191_120_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T15:03:11.12+01:00"),
            Ok(1_795_788_191_120_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Ok(1_709_164_800_000_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Ok(-500_000));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "2026-11-27",
            "2026-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T14:03:11",
            "2026-11-27T14:03:11+0100",
            "2026/11/27T14:03:11Z",
            "2026-11-27T14:03:11.Z",
            "2026-11-27T14:03:11Zjunk",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad} should be rejected");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_roundtrips(micros in -62_000_000_000_000_000i64..250_000_000_000_000_000i64) {
            let text = format_rfc3339(micros);
            prop_assert_eq!(parse_rfc3339(&text), Ok(micros));
        }

        #[test]
        fn civil_roundtrips(days in -800_000i64..2_900_000i64) {
            let (year, month, day) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
