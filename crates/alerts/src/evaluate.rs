//! Deciding a rule's condition on one series' value: met, not met, or no data, with the
//! threshold and baseline the annotations quote.
//!
//! Dynamic thresholds compare the value with mean ± k·σ of the same local hour of the week
//! over the last `weeks` weeks (DST-aware: the same wall-clock hour, not 168 h steps). The
//! history comes from a [`BaselineSource`] (the server reads the history store); the
//! bounds are computed once per series and local hour and cached, so an update costs a
//! comparison, not a history read. With fewer than `min_weeks` samples the same hour of
//! each of the last seven days is used; with fewer than `min_days` of those the rule is
//! still learning and does not fire.
//!
//! Seasonal bounds (the `seasonal` feature, `seasonal.rs`) read every hour of the last
//! `days` days instead and forecast the current one; they are cached the same way.

use std::collections::VecDeque;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::clock::{DAY_US, HOUR_US, MINUTE_US};
use crate::rule::{Condition, Direction, DynamicThreshold, NoDataPolicy, Rule};
#[cfg(feature = "seasonal")]
use crate::seasonal::bounds as seasonal_forecast;

/// A KPI value as the engine reports it, reduced to numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    /// No value (a mean or ratio over nothing).
    Empty,
    Number(f64),
    /// An object value: quantiles (`p95`), funnel steps, `{count, revenue}`.
    Members(Vec<(String, f64)>),
}

impl SeriesValue {
    /// From the JSON the engine prints (`AggregateValue::to_json`): numbers and decimal
    /// strings are numbers; objects keep their numeric members; anything else is empty.
    pub fn from_json(value: &serde_json::Value) -> SeriesValue {
        match value {
            serde_json::Value::Number(number) => number
                .as_f64()
                .map_or(SeriesValue::Empty, SeriesValue::Number),
            serde_json::Value::String(text) => text
                .parse::<f64>()
                .map_or(SeriesValue::Empty, SeriesValue::Number),
            serde_json::Value::Object(members) => SeriesValue::Members(
                members
                    .iter()
                    .filter_map(|(name, member)| match member {
                        serde_json::Value::Number(number) => {
                            number.as_f64().map(|value| (name.clone(), value))
                        }
                        serde_json::Value::String(text) => {
                            text.parse::<f64>().ok().map(|value| (name.clone(), value))
                        }
                        _ => None,
                    })
                    .collect(),
            ),
            _ => SeriesValue::Empty,
        }
    }

    /// The number a rule reads: the `field` member of an object, the value itself
    /// otherwise (an object with one member stands for that member).
    pub fn select(&self, field: Option<&str>) -> Option<f64> {
        let number = match (self, field) {
            (SeriesValue::Empty, _) => None,
            (SeriesValue::Number(value), None) => Some(*value),
            (SeriesValue::Number(_), Some(_)) => None,
            (SeriesValue::Members(members), Some(field)) => members
                .iter()
                .find(|(name, _)| name == field)
                .map(|(_, value)| *value),
            (SeriesValue::Members(members), None) if members.len() == 1 => Some(members[0].1),
            (SeriesValue::Members(_), None) => None,
        };
        number.filter(|value| value.is_finite())
    }
}

/// The series a baseline is asked for.
#[derive(Debug, Clone, Copy)]
pub struct SeriesKey<'a> {
    pub kpi: &'a str,
    /// The window label the rule names (or the one the update came with).
    pub window: &'a str,
    pub field: Option<&'a str>,
    /// The KPI group's labels, sorted by name.
    pub group: &'a [(String, String)],
}

/// Past values of a series, for dynamic thresholds and rates of change.
pub trait BaselineSource {
    /// The series' value over the local hour `[start_us, end_us)` in the past (for a
    /// windowed rate, the mean of its windows ending in that hour), or `None` when history
    /// has nothing for it.
    fn hour_value(&self, series: &SeriesKey<'_>, start_us: i64, end_us: i64) -> Option<f64>;

    /// The series' value over each whole hour of `[start_us, end_us)`, oldest first: one
    /// entry per hour, `None` where history has nothing. Seasonal rules read weeks of
    /// hours at once; a source that can answer them with one read should override this.
    ///
    /// The hours are steps of 3,600 s from `start_us` (the start of a local hour), not
    /// wall-clock hours: across a DST change the repeated hour comes twice and the skipped
    /// one not at all, one value per elapsed hour, which is what a forecast over evenly
    /// spaced values needs.
    fn hour_values(&self, series: &SeriesKey<'_>, start_us: i64, end_us: i64) -> Vec<Option<f64>> {
        let hours = (end_us - start_us).div_euclid(HOUR_US).max(0);
        (0..hours)
            .map(|hour| {
                let hour_start = start_us + hour * HOUR_US;
                self.hour_value(series, hour_start, hour_start + HOUR_US)
            })
            .collect()
    }

    /// The series' value at `at_us` in the past. Change rules use it until they have seen
    /// the series for long enough themselves (after a restart).
    fn value_at(&self, _series: &SeriesKey<'_>, _at_us: i64) -> Option<f64> {
        None
    }
}

/// No history at all: dynamic rules keep learning and never fire.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHistory;

impl BaselineSource for NoHistory {
    fn hour_value(&self, _series: &SeriesKey<'_>, _start_us: i64, _end_us: i64) -> Option<f64> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    NoData,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    pub verdict: Verdict,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub baseline: Option<f64>,
    /// Too little history to judge (dynamic, change): not met, and not a NoData either.
    pub learning: bool,
}

impl Evaluation {
    fn new(verdict: Verdict, value: Option<f64>) -> Evaluation {
        Evaluation {
            verdict,
            value,
            threshold: None,
            baseline: None,
            learning: false,
        }
    }

    /// Applies the rule's no-data policy to a no-data verdict.
    pub fn with_no_data_policy(mut self, policy: NoDataPolicy) -> Evaluation {
        if self.verdict != Verdict::NoData {
            return self;
        }
        self.verdict = match policy {
            NoDataPolicy::Keep => Verdict::NoData,
            NoDataPolicy::Alerting => Verdict::Met,
            NoDataPolicy::Ok => Verdict::NotMet,
        };
        self
    }
}

/// mean ± k·σ, widened to at least `min_delta` either side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
    pub samples: usize,
}

/// The bounds from the same hour of the week (`weekly`, one value per past week) or,
/// when there are fewer than `min_weeks` of those, the same hour of day (`daily`, one per
/// past day); `None` while there is too little of either.
pub fn dynamic_bounds(
    weekly: &[f64],
    daily: &[f64],
    threshold: &DynamicThreshold,
) -> Option<Bounds> {
    let samples = if weekly.len() >= threshold.min_weeks as usize {
        weekly
    } else if daily.len() >= threshold.min_days as usize {
        daily
    } else {
        return None;
    };
    let count = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / count;
    // The sample standard deviation: a handful of weeks is a sample, not the population.
    let variance = if samples.len() > 1 {
        samples
            .iter()
            .map(|value| (value - mean).powi(2))
            .sum::<f64>()
            / (count - 1.0)
    } else {
        0.0
    };
    let delta = (threshold.k * variance.sqrt()).max(threshold.min_delta);
    Some(Bounds {
        mean,
        lower: mean - delta,
        upper: mean + delta,
        samples: samples.len(),
    })
}

/// Judges `value` against dynamic bounds.
pub fn judge_dynamic(value: f64, bounds: &Bounds, direction: Direction) -> Evaluation {
    let below = value < bounds.lower;
    let above = value > bounds.upper;
    let (met, threshold) = match direction {
        Direction::Below => (below, bounds.lower),
        Direction::Above => (above, bounds.upper),
        Direction::Both if value < bounds.mean => (below, bounds.lower),
        Direction::Both => (above, bounds.upper),
    };
    Evaluation {
        verdict: if met { Verdict::Met } else { Verdict::NotMet },
        value: Some(value),
        threshold: Some(threshold),
        baseline: Some(bounds.mean),
        learning: false,
    }
}

/// The local hour `[start, end)` containing `at_us` (an hour is 60 minutes of UTC time
/// from a local hour mark; in every zone with whole- or half-hour offsets that is the
/// local hour).
pub fn local_hour(zone: &TimeZone, at_us: i64) -> (i64, i64) {
    let fallback_start = at_us.div_euclid(HOUR_US) * HOUR_US;
    let Ok(timestamp) = Timestamp::from_microsecond(at_us) else {
        return (fallback_start, fallback_start + HOUR_US);
    };
    let local = timestamp.to_zoned_datetime(zone.clone());
    let into_hour_us = (i64::from(local.minute()) * 60 + i64::from(local.second())) * 1_000_000
        + i64::from(local.subsec_nanosecond()) / 1_000;
    let start = at_us - into_hour_us;
    (start, start + HOUR_US)
}

/// The same local hour `back` days earlier (DST-aware: same wall-clock time).
fn days_earlier(zone: &TimeZone, at_us: i64, back: i64) -> Option<i64> {
    let timestamp = Timestamp::from_microsecond(at_us).ok()?;
    let span = jiff::Span::new().try_days(back).ok()?;
    let earlier = timestamp
        .to_zoned_datetime(zone.clone())
        .checked_sub(span)
        .ok()?;
    Some(earlier.timestamp().as_microsecond())
}

/// What a series remembers between updates to evaluate it.
#[derive(Debug, Clone, Default)]
pub struct SeriesMemory {
    /// The local hour the cached bounds are for, and the bounds (`None` = learning).
    baseline: Option<(i64, i64, Option<Bounds>)>,
    /// One sample per minute (its last value) for rate-of-change rules, oldest first.
    samples: VecDeque<(i64, f64)>,
    /// The last update with a non-zero value (absence rules).
    pub last_present_us: Option<i64>,
    /// The last update of any kind.
    pub last_update_us: Option<i64>,
}

/// What rules that compare with the past read: the business zone (local hours), the
/// history, and how many series may still have their bounds recomputed this round (see
/// `AlerterOptions::baseline_refreshes_per_round`).
pub struct Past<'a> {
    pub zone: &'a TimeZone,
    pub source: &'a dyn BaselineSource,
    pub refreshes_left: u32,
}

impl SeriesMemory {
    /// Evaluates an update of the series.
    pub fn evaluate(
        &mut self,
        rule: &Rule,
        key: &SeriesKey<'_>,
        value: &SeriesValue,
        now_us: i64,
        past: &mut Past<'_>,
    ) -> Evaluation {
        let number = value.select(rule.field.as_deref());
        self.last_update_us = Some(now_us);
        if number.is_some_and(|number| number != 0.0) {
            self.last_present_us = Some(now_us);
        }
        let (zone, source) = (past.zone, past.source);
        let evaluation = match &rule.condition {
            Condition::Above(threshold) => {
                static_threshold(number, *threshold, |value| value > *threshold)
            }
            Condition::Below(threshold) => {
                static_threshold(number, *threshold, |value| value < *threshold)
            }
            Condition::Dynamic(threshold) => self.judge_against_bounds(
                number,
                threshold.direction,
                now_us,
                past,
                |start, end| same_hour_bounds(threshold, key, zone, source, start, end),
            ),
            Condition::Seasonal(seasonal) => {
                self.judge_against_bounds(number, seasonal.direction, now_us, past, |start, _| {
                    let history_start = start - i64::from(seasonal.days) * DAY_US;
                    seasonal_forecast(&source.hour_values(key, history_start, start), seasonal)
                })
            }
            Condition::Change {
                over_us,
                below,
                above,
            } => match number {
                None => Evaluation::new(Verdict::NoData, None),
                Some(number) => {
                    let past = self
                        .past_value(*over_us, now_us)
                        .or_else(|| source.value_at(key, now_us - over_us));
                    self.remember(*over_us, now_us, number);
                    judge_change(number, past, *below, *above)
                }
            },
            // Absence is judged by the clock ([`SeriesMemory::evaluate_absence`]); an
            // update only moves `last_present_us`.
            Condition::Absent { .. } => Evaluation::new(Verdict::NotMet, number),
        };
        evaluation.with_no_data_policy(rule.no_data)
    }

    /// Judges an absence rule at `now_us`: met once nothing non-zero was seen for `for_us`
    /// while the `during` interval was active (`active_since` = when its current stretch
    /// began; `None` = outside it). `watch_start_us` stands in for a series never seen.
    pub fn evaluate_absence(
        &self,
        for_us: i64,
        interval_active_since: Option<Option<i64>>,
        watch_start_us: i64,
        now_us: i64,
    ) -> Evaluation {
        let mut quiet_since = self.last_present_us.unwrap_or(watch_start_us);
        match interval_active_since {
            // No `during`: always watched.
            None => {}
            // Outside the interval: absence does not count.
            Some(None) => return Evaluation::new(Verdict::NotMet, None),
            Some(Some(active_since)) => quiet_since = quiet_since.max(active_since),
        }
        let quiet_for = now_us - quiet_since;
        Evaluation {
            verdict: if quiet_for >= for_us {
                Verdict::Met
            } else {
                Verdict::NotMet
            },
            value: Some(0.0),
            threshold: Some(for_us as f64 / MINUTE_US as f64),
            baseline: None,
            learning: false,
        }
    }

    /// Judges `number` against the bounds of the local hour of `now_us`; learning (not
    /// met) while there are none.
    fn judge_against_bounds(
        &mut self,
        number: Option<f64>,
        direction: Direction,
        now_us: i64,
        past: &mut Past<'_>,
        compute: impl FnOnce(i64, i64) -> Option<Bounds>,
    ) -> Evaluation {
        let Some(number) = number else {
            return Evaluation::new(Verdict::NoData, None);
        };
        match self.hour_bounds(now_us, past, compute) {
            Some(bounds) => judge_dynamic(number, &bounds, direction),
            None => Evaluation {
                learning: true,
                ..Evaluation::new(Verdict::NotMet, Some(number))
            },
        }
    }

    /// The bounds for the local hour of `now_us`, computed (`compute(start, end)` of the
    /// hour) once per series and hour — a series belongs to one rule, so dynamic and
    /// seasonal rules never share the cache. When a refresh is due but this round's
    /// refreshes are spent, the previous hour's bounds stand in for a round or two, rather
    /// than one round at the top of the hour reading (and, for seasonal rules, fitting)
    /// the history of every series while the alerter is locked.
    fn hour_bounds(
        &mut self,
        now_us: i64,
        past: &mut Past<'_>,
        compute: impl FnOnce(i64, i64) -> Option<Bounds>,
    ) -> Option<Bounds> {
        if let Some((start, end, bounds)) = self.baseline
            && start <= now_us
            && now_us < end
        {
            return bounds;
        }
        if past.refreshes_left == 0 {
            return self.baseline.and_then(|(_, _, bounds)| bounds);
        }
        past.refreshes_left -= 1;
        let (start, end) = local_hour(past.zone, now_us);
        let bounds = compute(start, end);
        self.baseline = Some((start, end, bounds));
        bounds
    }

    /// The newest remembered sample at or before `now - over`.
    fn past_value(&self, over_us: i64, now_us: i64) -> Option<f64> {
        let target = now_us - over_us;
        self.samples
            .iter()
            .rev()
            .find(|(minute_start, _)| *minute_start <= target)
            .map(|(_, value)| *value)
    }

    /// Keeps one sample per minute (the minute's last value) for as long as `over` needs.
    fn remember(&mut self, over_us: i64, now_us: i64, value: f64) {
        let minute = now_us.div_euclid(MINUTE_US) * MINUTE_US;
        match self.samples.back_mut() {
            Some((last_minute, last_value)) if *last_minute == minute => *last_value = value,
            _ => self.samples.push_back((minute, value)),
        }
        // Keep one sample older than `over` so the value `over` ago is always answerable.
        while self.samples.len() > 1 && self.samples[1].0 <= now_us - over_us - MINUTE_US {
            self.samples.pop_front();
        }
    }
}

/// Dynamic bounds for the local hour `[start, end)`: the same hour of the last `weeks`
/// weeks, or of the last seven days when fewer weeks have a value.
fn same_hour_bounds(
    threshold: &DynamicThreshold,
    key: &SeriesKey<'_>,
    zone: &TimeZone,
    source: &dyn BaselineSource,
    start: i64,
    end: i64,
) -> Option<Bounds> {
    let read = |back_days: i64| {
        let past_start = days_earlier(zone, start, back_days)?;
        source.hour_value(key, past_start, past_start + (end - start))
    };
    let weekly: Vec<f64> = (1..=i64::from(threshold.weeks))
        .filter_map(|week| read(week * 7))
        .filter(|value| value.is_finite())
        .collect();
    let daily: Vec<f64> = if weekly.len() >= threshold.min_weeks as usize {
        Vec::new()
    } else {
        (1..=7)
            .filter_map(read)
            .filter(|value| value.is_finite())
            .collect()
    };
    dynamic_bounds(&weekly, &daily, threshold)
}

/// A build without the `seasonal` feature refuses seasonal rules when it loads them
/// ([`crate::rule`]), so this is never asked; if it were, the rule would only learn.
#[cfg(not(feature = "seasonal"))]
fn seasonal_forecast(
    _hours: &[Option<f64>],
    _seasonal: &crate::rule::SeasonalBounds,
) -> Option<Bounds> {
    None
}

fn static_threshold(
    number: Option<f64>,
    threshold: f64,
    is_met: impl Fn(f64) -> bool,
) -> Evaluation {
    let Some(number) = number else {
        return Evaluation {
            threshold: Some(threshold),
            ..Evaluation::new(Verdict::NoData, None)
        };
    };
    Evaluation {
        verdict: if is_met(number) {
            Verdict::Met
        } else {
            Verdict::NotMet
        },
        value: Some(number),
        threshold: Some(threshold),
        baseline: None,
        learning: false,
    }
}

/// Relative change against `past`: met at or below `below`, or at or above `above`. A
/// past of zero (or none) says nothing about a relative change: not met, learning.
pub fn judge_change(
    value: f64,
    past: Option<f64>,
    below: Option<f64>,
    above: Option<f64>,
) -> Evaluation {
    let Some(past) = past.filter(|past| *past != 0.0 && past.is_finite()) else {
        return Evaluation {
            learning: true,
            ..Evaluation::new(Verdict::NotMet, Some(value))
        };
    };
    let change = (value - past) / past.abs();
    let met_below = below.is_some_and(|below| change <= below);
    let met_above = above.is_some_and(|above| change >= above);
    let threshold = if met_above || below.is_none() {
        above
    } else {
        below
    };
    Evaluation {
        verdict: if met_below || met_above {
            Verdict::Met
        } else {
            Verdict::NotMet
        },
        value: Some(value),
        threshold: threshold.map(|relative| past * (1.0 + relative)),
        baseline: Some(past),
        learning: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dynamic(k: f64, min_weeks: u32, min_days: u32, direction: Direction) -> DynamicThreshold {
        DynamicThreshold {
            k,
            weeks: 4,
            min_weeks,
            min_days,
            direction,
            min_delta: 0.0,
        }
    }

    #[test]
    fn values_are_selected_from_numbers_and_objects() {
        let quantiles =
            SeriesValue::from_json(&serde_json::json!({"p50": 10, "p95": "80.5", "p99": null}));
        assert_eq!(quantiles.select(Some("p95")), Some(80.5));
        assert_eq!(quantiles.select(Some("p99")), None);
        assert_eq!(quantiles.select(None), None, "which member is ambiguous");
        assert_eq!(
            SeriesValue::from_json(&serde_json::json!("84.50")).select(None),
            Some(84.5)
        );
        assert_eq!(
            SeriesValue::from_json(&serde_json::json!(null)),
            SeriesValue::Empty
        );
        assert_eq!(SeriesValue::Number(3.0).select(Some("p95")), None);
    }

    #[test]
    fn bounds_are_mean_plus_minus_k_sigma_with_fallbacks_and_a_floor() {
        let threshold = dynamic(2.0, 2, 3, Direction::Both);
        let bounds = dynamic_bounds(&[10.0, 12.0, 14.0], &[], &threshold).expect("enough weeks");
        assert_eq!(bounds.mean, 12.0);
        assert!(
            (bounds.upper - 16.0).abs() < 1e-9,
            "σ = 2 (sample), k = 2: {bounds:?}"
        );
        assert_eq!(
            dynamic_bounds(&[10.0], &[1.0, 2.0], &threshold),
            None,
            "learning"
        );
        let daily =
            dynamic_bounds(&[10.0], &[1.0, 2.0, 3.0], &threshold).expect("fallback to days");
        assert_eq!(daily.mean, 2.0);
        let flat = DynamicThreshold {
            min_delta: 5.0,
            ..threshold
        };
        let bounds = dynamic_bounds(&[7.0, 7.0], &[], &flat).expect("flat");
        assert_eq!((bounds.lower, bounds.upper), (2.0, 12.0));
        assert_eq!(
            judge_dynamic(1.0, &bounds, Direction::Below).verdict,
            Verdict::Met
        );
        assert_eq!(
            judge_dynamic(13.0, &bounds, Direction::Below).verdict,
            Verdict::NotMet
        );
        assert_eq!(
            judge_dynamic(13.0, &bounds, Direction::Both).verdict,
            Verdict::Met
        );
        assert_eq!(
            judge_dynamic(13.0, &bounds, Direction::Both).threshold,
            Some(12.0)
        );
    }

    #[test]
    fn change_is_relative_to_the_past_value() {
        let down = judge_change(70.0, Some(100.0), Some(-0.3), None);
        assert_eq!(down.verdict, Verdict::Met, "down exactly 30 %");
        assert_eq!(down.threshold, Some(70.0));
        assert_eq!(
            judge_change(71.0, Some(100.0), Some(-0.3), None).verdict,
            Verdict::NotMet
        );
        assert_eq!(
            judge_change(150.0, Some(100.0), Some(-0.3), Some(0.5)).verdict,
            Verdict::Met
        );
        assert!(judge_change(5.0, Some(0.0), Some(-0.3), None).learning);
    }

    #[test]
    fn change_rules_remember_minute_samples_for_as_long_as_needed() {
        let mut memory = SeriesMemory::default();
        for minute in 0..200 {
            memory.remember(HOUR_US, minute * MINUTE_US, minute as f64);
        }
        let now = 199 * MINUTE_US;
        assert_eq!(memory.past_value(HOUR_US, now), Some(139.0));
        assert!(memory.samples.len() <= 62, "{}", memory.samples.len());
    }

    #[test]
    fn the_local_hour_follows_the_zone() {
        let kolkata = crate::intervals::time_zone("Asia/Kolkata").expect("bundled");
        // 10:40 UTC is 16:10 in Kolkata (UTC+5:30): the local hour began at 10:30 UTC.
        let at = 10 * HOUR_US + 40 * MINUTE_US;
        assert_eq!(
            local_hour(&kolkata, at),
            (10 * HOUR_US + 30 * MINUTE_US, 11 * HOUR_US + 30 * MINUTE_US)
        );
        assert_eq!(local_hour(&TimeZone::UTC, at), (10 * HOUR_US, 11 * HOUR_US));
    }
}
