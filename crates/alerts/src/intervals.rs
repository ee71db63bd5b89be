//! Named time intervals ("business hours"): weekdays and times of day in an IANA zone.
//!
//! ```toml
//! [[time_interval]]
//! name = "business_hours"
//! zone = "Europe/Berlin"              # default: the business time zone ([time] zone)
//! weekdays = ["monday:friday"]        # default: every day
//! times = [{ start = "09:00", end = "18:00" }]   # default: all day
//! ```
//!
//! Used by absence rules (`during`), by routes (`active_time_intervals`,
//! `mute_time_intervals`) and by digests (`digest`: a group is sent at the next start of
//! the interval: "the next business day"). The tz database is compiled in (jiff's bundled
//! tzdb), so daylight-saving days are handled the same on every machine: times are local
//! wall-clock times, and a start that falls in a spring-forward gap moves to the first
//! instant after it.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::error::AlertsError;

/// The interval the default routes and `sightline check` know without configuration:
/// Monday to Friday, 09:00 to 18:00 in the business zone.
pub const BUSINESS_HOURS: &str = "business_hours";

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalFile {
    pub name: String,
    #[serde(default)]
    pub zone: Option<String>,
    #[serde(default)]
    pub weekdays: Vec<String>,
    #[serde(default)]
    pub times: Vec<TimeRangeFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeFile {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone)]
pub struct TimeInterval {
    pub name: String,
    zone_name: String,
    zone: TimeZone,
    /// Indexed from Monday = 0.
    weekdays: [bool; 7],
    /// [start, end) minutes of the local day; `end` may be 1440 (24:00).
    ranges: Vec<(u16, u16)>,
}

impl TimeInterval {
    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// Is `at_us` inside the interval?
    pub fn contains(&self, at_us: i64) -> bool {
        let Ok(timestamp) = Timestamp::from_microsecond(at_us) else {
            return false;
        };
        let local = timestamp.to_zoned_datetime(self.zone.clone());
        if !self.weekdays[weekday_index(local.weekday())] {
            return false;
        }
        let minute = minute_of_day(local.hour(), local.minute());
        self.ranges
            .iter()
            .any(|(start, end)| *start <= minute && minute < *end)
    }

    /// When the stretch of the interval that contains `at_us` started (the start of its
    /// time range that day); `None` outside the interval. A stretch that runs over
    /// midnight as two ranges (`18:00-24:00`, `00:00-06:00`) counts from midnight.
    pub fn active_since(&self, at_us: i64) -> Option<i64> {
        let timestamp = Timestamp::from_microsecond(at_us).ok()?;
        let local = timestamp.to_zoned_datetime(self.zone.clone());
        if !self.weekdays[weekday_index(local.weekday())] {
            return None;
        }
        let minute = minute_of_day(local.hour(), local.minute());
        let (start, _) = self
            .ranges
            .iter()
            .find(|(start, end)| *start <= minute && minute < *end)?;
        self.local_instant(local.date(), *start)
    }

    /// The first start of the interval at or after `at_us` (the next business morning);
    /// `None` if it never starts (no weekday or no time range).
    pub fn next_start(&self, at_us: i64) -> Option<i64> {
        let timestamp = Timestamp::from_microsecond(at_us).ok()?;
        let today = timestamp.to_zoned_datetime(self.zone.clone()).date();
        let mut day = today;
        // Eight days cover every weekday even when today's ranges have all started.
        for _ in 0..8 {
            if self.weekdays[weekday_index(day.weekday())] {
                let mut starts: Vec<i64> = self
                    .ranges
                    .iter()
                    .filter_map(|(start, _)| self.local_instant(day, *start))
                    .filter(|start| *start >= at_us)
                    .collect();
                starts.sort_unstable();
                if let Some(first) = starts.first() {
                    return Some(*first);
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }

    fn local_instant(&self, day: Date, minute: u16) -> Option<i64> {
        let (day, minute) = if minute >= 1440 {
            (day.tomorrow().ok()?, minute - 1440)
        } else {
            (day, minute)
        };
        let hour = i8::try_from(minute / 60).ok()?;
        let minute = i8::try_from(minute % 60).ok()?;
        let local = day
            .at(hour, minute, 0, 0)
            .to_zoned_datetime(self.zone.clone())
            .ok()?;
        Some(local.timestamp().as_microsecond())
    }
}

fn weekday_index(weekday: Weekday) -> usize {
    // 0..=6 by construction.
    usize::try_from(weekday.to_monday_zero_offset()).unwrap_or(0)
}

fn minute_of_day(hour: i8, minute: i8) -> u16 {
    u16::try_from(i16::from(hour) * 60 + i16::from(minute)).unwrap_or(0)
}

pub fn time_zone(name: &str) -> Result<TimeZone, String> {
    jiff::tz::db().get(name).map_err(|_| {
        format!("unknown time zone {name:?}; use an IANA name such as \"Europe/Berlin\" or \"UTC\"")
    })
}

impl TimeIntervalFile {
    pub fn compile(&self, default_zone: &str) -> Result<TimeInterval, AlertsError> {
        let invalid = |field: &str, message: String| AlertsError::InvalidInterval {
            interval: self.name.clone(),
            field: field.to_owned(),
            message,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "an interval needs a name".to_owned()));
        }
        let zone_name = self.zone.clone().unwrap_or_else(|| default_zone.to_owned());
        let zone = time_zone(&zone_name).map_err(|message| invalid("zone", message))?;
        let mut weekdays = [self.weekdays.is_empty(); 7];
        for text in &self.weekdays {
            let (first, last) = match text.split_once(':') {
                Some((first, last)) => (first.trim(), last.trim()),
                None => (text.trim(), text.trim()),
            };
            let day_index = |name: &str| {
                WEEKDAYS
                    .iter()
                    .position(|day| *day == name.to_ascii_lowercase())
                    .ok_or_else(|| {
                        invalid(
                            "weekdays",
                            format!("{name:?} is not a weekday; write e.g. \"monday:friday\" or \"saturday\""),
                        )
                    })
            };
            let first = day_index(first)?;
            let last = day_index(last)?;
            if first > last {
                return Err(invalid(
                    "weekdays",
                    format!("{text:?} runs backwards; write ranges from Monday towards Sunday"),
                ));
            }
            for selected in &mut weekdays[first..=last] {
                *selected = true;
            }
        }
        let mut ranges = Vec::new();
        for range in &self.times {
            let start =
                parse_clock(&range.start).map_err(|message| invalid("times.start", message))?;
            let end = parse_clock(&range.end).map_err(|message| invalid("times.end", message))?;
            if start >= end {
                return Err(invalid(
                    "times",
                    format!(
                        "{}-{} ends before it starts; split a range over midnight in two",
                        range.start, range.end
                    ),
                ));
            }
            ranges.push((start, end));
        }
        if ranges.is_empty() {
            ranges.push((0, 1440));
        }
        Ok(TimeInterval {
            name: self.name.clone(),
            zone_name,
            zone,
            weekdays,
            ranges,
        })
    }
}

/// `"09:00"` → 540; `"24:00"` is the end of the day.
fn parse_clock(text: &str) -> Result<u16, String> {
    let wrong =
        || format!("{text:?} is not a time of day; write HH:MM, e.g. \"09:00\" or \"24:00\"");
    let (hour, minute) = text.trim().split_once(':').ok_or_else(wrong)?;
    let hour: u16 = hour.parse().map_err(|_| wrong())?;
    let minute: u16 = minute.parse().map_err(|_| wrong())?;
    if minute >= 60 || hour > 24 || (hour == 24 && minute != 0) {
        return Err(wrong());
    }
    Ok(hour * 60 + minute)
}

/// The intervals by name.
#[derive(Debug, Clone, Default)]
pub struct TimeIntervals {
    by_name: BTreeMap<String, TimeInterval>,
}

impl TimeIntervals {
    /// The configured intervals plus `business_hours` (Monday to Friday, 09:00 to 18:00 in
    /// `default_zone`) unless one of that name is configured.
    pub fn compile(
        files: &[TimeIntervalFile],
        default_zone: &str,
    ) -> Result<TimeIntervals, AlertsError> {
        let mut by_name = BTreeMap::new();
        for file in files {
            let interval = file.compile(default_zone)?;
            if by_name.contains_key(&interval.name) {
                return Err(AlertsError::InvalidInterval {
                    interval: interval.name.clone(),
                    field: "name".to_owned(),
                    message: "two intervals have this name; names must be unique".to_owned(),
                });
            }
            by_name.insert(interval.name.clone(), interval);
        }
        if !by_name.contains_key(BUSINESS_HOURS) {
            let business_hours = TimeIntervalFile {
                name: BUSINESS_HOURS.to_owned(),
                zone: None,
                weekdays: vec!["monday:friday".to_owned()],
                times: vec![TimeRangeFile {
                    start: "09:00".to_owned(),
                    end: "18:00".to_owned(),
                }],
            }
            .compile(default_zone)?;
            by_name.insert(BUSINESS_HOURS.to_owned(), business_hours);
        }
        Ok(TimeIntervals { by_name })
    }

    pub fn get(&self, name: &str) -> Option<&TimeInterval> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> std::collections::BTreeSet<String> {
        self.by_name.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        text.parse::<Timestamp>()
            .expect("valid time")
            .as_microsecond()
    }

    fn berlin_business_hours() -> TimeInterval {
        TimeIntervals::compile(&[], "Europe/Berlin")
            .expect("default intervals")
            .get(BUSINESS_HOURS)
            .expect("business hours by default")
            .clone()
    }

    #[test]
    fn business_hours_in_berlin() {
        let hours = berlin_business_hours();
        // Friday 2026-11-27 10:00 CET = 09:00 UTC.
        assert!(hours.contains(at("2026-11-27T09:00:00Z")));
        assert!(!hours.contains(at("2026-11-27T07:59:00Z")), "08:59 local");
        assert!(
            !hours.contains(at("2026-11-27T17:00:00Z")),
            "18:00 local is the end"
        );
        assert!(!hours.contains(at("2026-11-28T10:00:00Z")), "Saturday");
        assert_eq!(
            hours.active_since(at("2026-11-27T12:34:00Z")),
            Some(at("2026-11-27T08:00:00Z"))
        );
        assert_eq!(hours.active_since(at("2026-11-28T12:00:00Z")), None);
    }

    #[test]
    fn the_next_business_day_skips_the_weekend_and_follows_daylight_saving() {
        let hours = berlin_business_hours();
        // Friday evening → Monday 09:00 local.
        assert_eq!(
            hours.next_start(at("2026-11-27T20:00:00Z")),
            Some(at("2026-11-30T08:00:00Z"))
        );
        // Friday 2026-03-27 evening (CET) → Monday 2026-03-30 09:00 CEST = 07:00 UTC.
        assert_eq!(
            hours.next_start(at("2026-03-27T20:00:00Z")),
            Some(at("2026-03-30T07:00:00Z"))
        );
        // Exactly at a start is that start.
        assert_eq!(
            hours.next_start(at("2026-11-30T08:00:00Z")),
            Some(at("2026-11-30T08:00:00Z"))
        );
    }

    #[test]
    fn invalid_intervals_name_the_field() {
        let file = |weekdays: &[&str], start: &str, end: &str| TimeIntervalFile {
            name: "x".to_owned(),
            zone: None,
            weekdays: weekdays.iter().map(|day| day.to_string()).collect(),
            times: vec![TimeRangeFile {
                start: start.to_owned(),
                end: end.to_owned(),
            }],
        };
        let cases = [
            (file(&["funday"], "09:00", "10:00"), "weekdays"),
            (file(&["friday:monday"], "09:00", "10:00"), "weekdays"),
            (file(&[], "9am", "10:00"), "times.start"),
            (file(&[], "18:00", "06:00"), "times"),
        ];
        for (file, field) in cases {
            let error = file.compile("UTC").expect_err(field).to_string();
            assert!(
                error.starts_with(&format!("time interval \"x\": {field}: ")),
                "{error}"
            );
        }
        let mut zoned = file(&[], "09:00", "10:00");
        zoned.zone = Some("Mars/Olympus".to_owned());
        assert!(
            zoned
                .compile("UTC")
                .expect_err("zone")
                .to_string()
                .contains("Mars/Olympus")
        );
    }
}
