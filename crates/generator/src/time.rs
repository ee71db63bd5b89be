//! RFC 3339 timestamps from/to microseconds since the Unix epoch (UTC), without any
//! date library: Howard Hinnant's `days_from_civil` / `civil_from_days` algorithms.

const US_PER_SEC: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

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

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s.iter()
            .fold(0i64, |acc, &b| acc * 10 + i64::from(b - b'0')),
    )
}

/// Parses an RFC 3339 timestamp (`2026-11-27T14:03:11.120Z`, `…+01:00`, fraction
/// optional, `t`/`z`/space accepted) into microseconds since the Unix epoch.
/// Fraction digits beyond microseconds are truncated. Leap second 60 is clamped to 59.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])? as u32;
    let day = digits(&b[8..10])? as u32;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?.min(59);
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_len = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > month_len {
        return None;
    }
    let mut i = 19;
    let mut frac_us = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                frac_us = frac_us * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            frac_us *= 10;
        }
    }
    let offset_secs = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs * US_PER_SEC + frac_us)
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
