//! Fast RFC 3339 formatting for generated events (no allocation, the date cached per
//! day); parsing and the civil-date algorithms are the model's.

const US_PER_SEC: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

pub use sightline_model::time::{civil_from_days, days_from_civil};

#[inline]
fn push2(out: &mut String, v: u32) {
    out.push((b'0' + (v / 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

fn push_date(out: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        let y = y as u32;
        push2(out, y / 100);
        push2(out, y % 100);
    } else {
        // Outside RFC 3339's range; still unambiguous ISO 8601 expanded form.
        use std::fmt::Write as _;
        let _ = write!(out, "{y:+05}");
    }
    out.push('-');
    push2(out, m);
    out.push('-');
    push2(out, d);
}

fn push_clock(out: &mut String, us_of_day: i64) {
    let ms_of_day = (us_of_day / 1000) as u32;
    let secs = ms_of_day / 1000;
    push2(out, secs / 3600);
    out.push(':');
    push2(out, secs / 60 % 60);
    out.push(':');
    push2(out, secs % 60);
    out.push('.');
    let ms = ms_of_day % 1000;
    out.push((b'0' + (ms / 100) as u8) as char);
    push2(out, ms % 100);
    out.push('Z');
}

/// Appends `time_us` as RFC 3339 UTC with millisecond precision, e.g.
/// `2026-11-27T14:03:11.120Z` (sub-millisecond digits are truncated, towards the past).
pub fn write_rfc3339_millis(out: &mut String, time_us: i64) {
    let days = time_us.div_euclid(US_PER_DAY);
    push_date(out, days);
    out.push('T');
    push_clock(out, time_us.rem_euclid(US_PER_DAY));
}

/// [`write_rfc3339_millis`] into a new `String`.
pub fn format_rfc3339_millis(time_us: i64) -> String {
    let mut s = String::with_capacity(24);
    write_rfc3339_millis(&mut s, time_us);
    s
}

/// Formatter that caches the date part: consecutive events almost always share a day.
#[derive(Clone, Debug, Default)]
pub(crate) struct CachedTimeFormatter {
    day: Option<i64>,
    date: String,
}

impl CachedTimeFormatter {
    #[inline]
    pub(crate) fn write(&mut self, out: &mut String, time_us: i64) {
        let days = time_us.div_euclid(US_PER_DAY);
        if self.day != Some(days) {
            self.date.clear();
            push_date(&mut self.date, days);
            self.day = Some(days);
        }
        out.push_str(&self.date);
        out.push('T');
        push_clock(out, time_us.rem_euclid(US_PER_DAY));
    }
}

/// Parses an RFC 3339 timestamp into microseconds since the Unix epoch (the model's
/// parser, the one ingest uses).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    sightline_model::time::parse_rfc3339(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
        // 2024-02-29T12:34:56.789Z (leap day)
        assert_eq!(
            format_rfc3339_millis(1_709_210_096_789_123),
            "2024-02-29T12:34:56.789Z"
        );
        // 2038-01-19T03:14:08Z, one second past the 32-bit time_t limit.
        assert_eq!(
            format_rfc3339_millis(2_147_483_648_000_000),
            "2038-01-19T03:14:08.000Z"
        );
        assert_eq!(
            format_rfc3339_millis(4_102_444_800_000_000),
            "2100-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339_millis(951_782_400_000_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339_millis(1_795_788_191_120_000),
            "2026-11-27T14:03:11.120Z"
        );
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn parse_round_trip_and_offsets() {
        for &us in &[
            0,
            1_709_210_096_789_000,
            2_147_483_648_000_000,
            -86_400_000_000,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339_millis(us)), Some(us));
        }
        assert_eq!(
            parse_rfc3339("2026-11-27T15:03:11.12+01:00"),
            Some(1_795_788_191_120_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-27t14:03:11z"),
            Some(1_795_788_191_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-27T14:03:11.1234567Z"),
            Some(1_795_788_191_123_456)
        );
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-27 14:03"), None);
        assert_eq!(parse_rfc3339("2026-11-27T14:03:11.Z"), None);
    }

    #[test]
    fn cached_formatter_matches() {
        let mut f = CachedTimeFormatter::default();
        for &us in &[
            0,
            5,
            86_399_999_999,
            86_400_000_000,
            1_709_210_096_789_123,
            -1,
        ] {
            let mut s = String::new();
            f.write(&mut s, us);
            assert_eq!(s, format_rfc3339_millis(us));
        }
    }
}
