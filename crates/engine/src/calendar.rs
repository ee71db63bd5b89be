//! Calendar days in the business time zone: windows from local midnight to local
//! midnight, 23 or 25 hours long on daylight-saving days (kpis.md, "Time").
//!
//! The time zone database is compiled into the binary (jiff's bundled tzdb), so a server
//! gives the same day boundaries on every machine, with or without `/usr/share/zoneinfo`.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;

#[derive(Clone)]
pub struct Calendar {
    name: String,
    zone: TimeZone,
}

impl fmt::Debug for Calendar {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Calendar({})", self.name)
    }
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Calendar) -> bool {
        self.name == other.name
    }
}

impl Calendar {
    /// The calendar of an IANA time zone such as `Europe/Berlin` (or `UTC`).
    pub fn new(zone_name: &str) -> Result<Calendar, String> {
        let zone = jiff::tz::db()
            .get(zone_name)
            .map_err(|_| format!("unknown time zone {zone_name:?}; use an IANA name such as \"Europe/Berlin\" or \"UTC\""))?;
        Ok(Calendar {
            name: zone_name.to_owned(),
            zone,
        })
    }

    pub fn utc() -> Calendar {
        Calendar {
            name: "UTC".to_owned(),
            zone: TimeZone::UTC,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Local midnight at or before `time_us`, as microseconds since the epoch.
    pub fn day_start(&self, time_us: i64) -> i64 {
        let Ok(timestamp) = Timestamp::from_microsecond(time_us) else {
            return time_us;
        };
        let local = timestamp.to_zoned_datetime(self.zone.clone());
        match local.start_of_day() {
            Ok(start) => start.timestamp().as_microsecond(),
            Err(_) => time_us,
        }
    }

    /// The local midnight after the day that starts at `day_start_us`.
    pub fn next_day_start(&self, day_start_us: i64) -> i64 {
        let Ok(timestamp) = Timestamp::from_microsecond(day_start_us) else {
            return day_start_us.saturating_add(86_400_000_000);
        };
        let local = timestamp.to_zoned_datetime(self.zone.clone());
        let next = local
            .tomorrow()
            .and_then(|tomorrow| tomorrow.start_of_day())
            .map(|start| start.timestamp().as_microsecond());
        next.unwrap_or(day_start_us.saturating_add(86_400_000_000))
    }

    /// The same local time of day `days` local days earlier (a gap in the clocks, on a
    /// daylight-saving day, resolves forward as jiff does).
    pub fn days_earlier(&self, time_us: i64, days: u32) -> i64 {
        let fallback = time_us.saturating_sub(i64::from(days).saturating_mul(86_400_000_000));
        let Ok(timestamp) = Timestamp::from_microsecond(time_us) else {
            return fallback;
        };
        // `days` comes from a KPI definition: past jiff's range it is an error, not a panic.
        let Ok(span) = jiff::Span::new().try_days(i64::from(days)) else {
            return fallback;
        };
        let local = timestamp.to_zoned_datetime(self.zone.clone());
        local
            .checked_sub(span)
            .map(|earlier| earlier.timestamp().as_microsecond())
            .unwrap_or(fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::time::parse_rfc3339;

    fn at(text: &str) -> i64 {
        parse_rfc3339(text).expect("valid timestamp")
    }

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn a_week_earlier_is_the_same_local_time_across_daylight_saving() {
        let berlin = Calendar::new("Europe/Berlin").expect("bundled zone");
        // 2026-04-01 15:30 CEST (UTC+2) → 2026-03-25 15:30 CET (UTC+1): 7 days + 1 hour.
        assert_eq!(
            berlin.days_earlier(at("2026-04-01T13:30:00Z"), 7),
            at("2026-03-25T14:30:00Z")
        );
        assert_eq!(
            Calendar::utc().days_earlier(at("2026-04-01T13:30:00Z"), 7),
            at("2026-03-25T13:30:00Z")
        );
    }

    #[test]
    fn any_number_of_days_earlier_is_an_answer_not_a_panic() {
        // `days_back` comes from a KPI file: values past jiff's span range must not panic.
        let now = at("2026-04-01T13:30:00Z");
        let berlin = Calendar::new("Europe/Berlin").expect("bundled zone");
        for days in [7_304_485, u32::MAX] {
            for calendar in [Calendar::utc(), berlin.clone()] {
                // Twenty thousand years and more: long before any event.
                let earlier = calendar.days_earlier(now, days);
                assert!(earlier < -600_000_000 * 1_000_000_000, "{days}: {earlier}");
            }
        }
    }

    #[test]
    fn berlin_days_across_daylight_saving_are_23_and_25_hours() {
        let berlin = Calendar::new("Europe/Berlin").expect("bundled zone");
        // 2026-03-29: clocks go 02:00 → 03:00 (a 23-hour day).
        let spring = berlin.day_start(at("2026-03-29T12:00:00Z"));
        assert_eq!(spring, at("2026-03-28T23:00:00Z"), "midnight CET");
        assert_eq!(berlin.next_day_start(spring) - spring, 23 * HOUR);
        // 2026-10-25: clocks go 03:00 → 02:00 (a 25-hour day).
        let autumn = berlin.day_start(at("2026-10-25T12:00:00Z"));
        assert_eq!(autumn, at("2026-10-24T22:00:00Z"), "midnight CEST");
        assert_eq!(berlin.next_day_start(autumn) - autumn, 25 * HOUR);
        // An ordinary day.
        let day = berlin.day_start(at("2026-11-27T23:30:00Z"));
        assert_eq!(
            day,
            at("2026-11-27T23:00:00Z"),
            "23:30 UTC is already the 28th in Berlin"
        );
        assert_eq!(berlin.next_day_start(day) - day, 24 * HOUR);
    }

    #[test]
    fn utc_and_unknown_zones() {
        let utc = Calendar::new("UTC").expect("UTC");
        assert_eq!(
            utc.day_start(at("2026-11-27T14:03:11Z")),
            at("2026-11-27T00:00:00Z")
        );
        assert_eq!(
            Calendar::utc().day_start(at("2026-11-27T00:00:00Z")),
            at("2026-11-27T00:00:00Z")
        );
        assert!(
            Calendar::new("Mars/Olympus")
                .expect_err("unknown")
                .contains("Mars/Olympus")
        );
    }
}
