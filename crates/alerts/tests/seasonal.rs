//! Seasonal bounds over four weeks of synthetic hourly history: a daily cycle, a weekly
//! shape and a little noise, on a controllable clock.
#![cfg(feature = "seasonal")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sightline_alerts::clock::{DAY_US, HOUR_US, MINUTE_US, SECOND_US};
use sightline_alerts::evaluate::{Evaluation, Past, SeriesKey, SeriesMemory, Verdict};
use sightline_alerts::intervals::time_zone;
use sightline_alerts::rule::Rule;
use sightline_alerts::{
    AlertState, Alerter, AlerterOptions, AlertsConfig, BaselineSource, SeriesValue,
};

/// Wednesday 2026-11-25 00:00 UTC.
const WEDNESDAY: i64 = 1_795_564_800 * SECOND_US;

/// Orders per hour as they normally are: 20 at 3 AM, 200 at 3 PM on a weekday, busier on
/// Fridays, quieter at the weekend.
fn expected_orders(at: i64) -> f64 {
    let hour = (at.rem_euclid(DAY_US) / HOUR_US) as f64;
    let daily = 110.0 - 90.0 * ((hour - 3.0) * std::f64::consts::PI / 12.0).cos();
    // 1970-01-01 was a Thursday: 0 = Monday.
    let weekday = (at.div_euclid(DAY_US) + 3).rem_euclid(7) as usize;
    let weekly = [1.0, 1.05, 1.05, 1.0, 1.1, 0.75, 0.6][weekday];
    daily * weekly
}

/// ±2 % noise, the same for an hour whenever it is asked for (splitmix64 of the hour).
fn noise(hour_start: i64) -> f64 {
    let mut state = (hour_start / HOUR_US) as u64 ^ 0x9e37_79b9_7f4a_7c15;
    state = (state ^ (state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    state = (state ^ (state >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    state ^= state >> 31;
    let uniform = (state >> 11) as f64 / (1u64 << 53) as f64;
    1.0 + 0.04 * (uniform - 0.5)
}

/// History from `since` on; every `missing_every`-th hour has no value.
struct Synthetic {
    since: i64,
    missing_every: Option<i64>,
    hours_read: Arc<AtomicUsize>,
}

impl Synthetic {
    fn since(since: i64) -> Synthetic {
        Synthetic {
            since,
            missing_every: None,
            hours_read: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl BaselineSource for Synthetic {
    fn hour_value(&self, _series: &SeriesKey<'_>, start_us: i64, _end_us: i64) -> Option<f64> {
        self.hours_read.fetch_add(1, Ordering::Relaxed);
        if start_us < self.since {
            return None;
        }
        if let Some(every) = self.missing_every
            && (start_us / HOUR_US) % every == 0
        {
            return None;
        }
        Some(expected_orders(start_us) * noise(start_us))
    }
}

const SEASONAL_RULES: &str = r#"
[[alert]]
name = "orders_unusual"
kpi = "orders"
window = "1h"
condition = { seasonal = { days = 28, min_days = 14 } }
severity = "high"
annotations = { summary = "{{value}} orders, expected {{baseline}}, alert under {{threshold}}" }

[[alert]]
name = "orders_below_50"
kpi = "orders"
window = "1h"
condition = { below = 50 }
severity = "low"
"#;

fn seasonal_rule() -> Rule {
    let config = AlertsConfig::from_toml(SEASONAL_RULES, "test rules", "UTC").expect("valid");
    config.rules[0].clone()
}

const NO_GROUP: &[(String, String)] = &[];

fn key() -> SeriesKey<'static> {
    SeriesKey {
        kpi: "orders",
        window: "1h",
        field: None,
        group: NO_GROUP,
    }
}

/// `rule`'s evaluation of `orders` at `at` on `source`'s history, in UTC, with every
/// refresh allowed.
fn evaluate(
    memory: &mut SeriesMemory,
    rule: &Rule,
    source: &Synthetic,
    orders: f64,
    at: i64,
) -> Evaluation {
    let zone = time_zone("UTC").expect("bundled");
    memory.evaluate(
        rule,
        &key(),
        &SeriesValue::Number(orders),
        at,
        &mut Past {
            zone: &zone,
            source,
            refreshes_left: u32::MAX,
        },
    )
}

fn firing_rules(alerter: &Alerter, now: i64) -> Vec<String> {
    alerter
        .alerts(Some(AlertState::Firing), now)
        .into_iter()
        .map(|alert| alert.rule)
        .collect()
}

/// Quiet through the 3 AM low (where a static threshold fires) and on a normal
/// afternoon; fires when the afternoon's orders drop to 40 % of normal.
#[test]
fn a_seasonal_rule_is_quiet_at_night_and_fires_on_an_afternoon_drop() {
    let three_am = WEDNESDAY + 3 * HOUR_US + 30 * MINUTE_US;
    let three_pm = WEDNESDAY + 15 * HOUR_US + 30 * MINUTE_US;
    let config = AlertsConfig::from_toml(SEASONAL_RULES, "test rules", "UTC").expect("valid");
    let mut alerter =
        Alerter::in_memory(config, AlerterOptions::default(), three_am).expect("alerter");
    alerter.set_baseline_source(Box::new(Synthetic::since(WEDNESDAY - 28 * DAY_US)));

    let night = expected_orders(three_am);
    alerter.observe("orders", "1h", &[], &SeriesValue::Number(night), three_am);
    alerter.tick(three_am).expect("tick");
    assert_eq!(
        firing_rules(&alerter, three_am),
        ["orders_below_50"],
        "{night} orders at night: the static threshold cannot tell night from an outage"
    );

    let afternoon = expected_orders(three_pm);
    alerter.observe(
        "orders",
        "1h",
        &[],
        &SeriesValue::Number(afternoon * 1.01),
        three_pm,
    );
    alerter.tick(three_pm).expect("tick");
    assert_eq!(firing_rules(&alerter, three_pm), Vec::<String>::new());

    let drop = three_pm + MINUTE_US;
    alerter.observe(
        "orders",
        "1h",
        &[],
        &SeriesValue::Number(afternoon * 0.4),
        drop,
    );
    let fired = alerter.alerts(Some(AlertState::Firing), drop);
    let seasonal = fired
        .iter()
        .find(|alert| alert.rule == "orders_unusual")
        .expect("the drop fires");
    let baseline = seasonal.baseline.expect("the forecast");
    assert!(
        (baseline - afternoon).abs() < 0.05 * afternoon,
        "forecast {baseline}, normal {afternoon}"
    );
    let threshold = seasonal.threshold.expect("the lower bound");
    assert!(
        afternoon * 0.4 < threshold && threshold < baseline,
        "{threshold}"
    );
    assert!(
        seasonal.annotations["summary"].starts_with("84 orders, expected 2"),
        "{}",
        seasonal.annotations["summary"]
    );
}

/// The forecast follows the day and the week (a Sunday afternoon is 40 % quieter than a
/// Wednesday's), normal values stay inside the bounds and a drop to 40 % falls outside.
#[test]
fn the_bounds_follow_the_day_and_the_week() {
    let rule = seasonal_rule();
    let source = Synthetic::since(WEDNESDAY - 28 * DAY_US);
    let sunday = WEDNESDAY + 4 * DAY_US;
    for at in [
        WEDNESDAY + 3 * HOUR_US + 30 * MINUTE_US,
        WEDNESDAY + 15 * HOUR_US + 30 * MINUTE_US,
        sunday + 3 * HOUR_US + 30 * MINUTE_US,
        sunday + 15 * HOUR_US + 30 * MINUTE_US,
    ] {
        let normal = expected_orders(at);
        let mut memory = SeriesMemory::default();
        let quiet = evaluate(&mut memory, &rule, &source, normal, at);
        assert_eq!(
            quiet.verdict,
            Verdict::NotMet,
            "{normal} at {at}: {quiet:?}"
        );
        assert!(!quiet.learning);
        let forecast = quiet.baseline.expect("a forecast");
        assert!(
            (forecast - normal).abs() < 0.05 * normal + 1.0,
            "forecast {forecast}, normal {normal} at {at}"
        );
        let dropped = evaluate(&mut memory, &rule, &source, normal * 0.4, at + MINUTE_US);
        assert_eq!(dropped.verdict, Verdict::Met, "{dropped:?} at {at}");
        assert_eq!(dropped.baseline, Some(forecast), "the same hour's bounds");
    }
}

/// With five days of history and `min_days = 14` the rule is learning: it does not fire,
/// not even on a value at 40 % of normal.
#[test]
fn with_five_days_of_history_the_rule_is_learning() {
    let three_pm = WEDNESDAY + 15 * HOUR_US + 30 * MINUTE_US;
    let dropped = expected_orders(three_pm) * 0.4;
    let rule = seasonal_rule();
    let source = Synthetic::since(WEDNESDAY - 5 * DAY_US);
    let evaluation = evaluate(
        &mut SeriesMemory::default(),
        &rule,
        &source,
        dropped,
        three_pm,
    );
    assert_eq!(evaluation.verdict, Verdict::NotMet);
    assert!(evaluation.learning, "{evaluation:?}");
    assert_eq!(evaluation.threshold, None);

    let config = AlertsConfig::from_toml(SEASONAL_RULES, "test rules", "UTC").expect("valid");
    let mut alerter =
        Alerter::in_memory(config, AlerterOptions::default(), three_pm).expect("alerter");
    alerter.set_baseline_source(Box::new(Synthetic::since(WEDNESDAY - 5 * DAY_US)));
    alerter.observe("orders", "1h", &[], &SeriesValue::Number(dropped), three_pm);
    alerter.tick(three_pm).expect("tick");
    assert!(
        alerter
            .alerts(None, three_pm)
            .iter()
            .all(|alert| alert.rule != "orders_unusual"),
        "a learning rule raises nothing"
    );
}

/// Hours history has nothing for are filled in: with every fifth hour missing the rule
/// still tells a normal afternoon from a drop.
#[test]
fn missing_hours_are_filled() {
    let three_pm = WEDNESDAY + 15 * HOUR_US + 30 * MINUTE_US;
    let normal = expected_orders(three_pm);
    let rule = seasonal_rule();
    let source = Synthetic {
        missing_every: Some(5),
        ..Synthetic::since(WEDNESDAY - 28 * DAY_US)
    };
    let mut memory = SeriesMemory::default();
    let quiet = evaluate(&mut memory, &rule, &source, normal, three_pm);
    assert_eq!(quiet.verdict, Verdict::NotMet, "{quiet:?}");
    assert!(!quiet.learning);
    let dropped = evaluate(
        &mut memory,
        &rule,
        &source,
        normal * 0.4,
        three_pm + MINUTE_US,
    );
    assert_eq!(dropped.verdict, Verdict::Met, "{dropped:?}");
}

/// The history is read once per series and local hour (28 days of hours), not per
/// update.
#[test]
fn the_history_is_read_once_per_local_hour() {
    let rule = seasonal_rule();
    let source = Synthetic::since(WEDNESDAY - 28 * DAY_US);
    let hours_read = Arc::clone(&source.hours_read);
    let mut memory = SeriesMemory::default();
    let start = WEDNESDAY + 15 * HOUR_US;
    for second in (0..2 * 3600).step_by(10) {
        let now = start + second * SECOND_US;
        evaluate(&mut memory, &rule, &source, expected_orders(now), now);
    }
    assert_eq!(hours_read.load(Ordering::Relaxed), 2 * 28 * 24);
}

/// The seasonal rule the example file shows in a comment (the default build could not
/// load it) is valid in a build that can.
#[test]
fn the_commented_example_rule_loads() {
    let example = include_str!("../examples/alerts.toml");
    let start = example
        .find("# [[alert]]\n# name = \"orders_off_forecast\"")
        .expect("the example shows a seasonal rule");
    let rule: String = example[start..]
        .lines()
        .take_while(|line| line.starts_with("# "))
        .map(|line| format!("{}\n", &line[2..]))
        .collect();
    let config = AlertsConfig::from_toml(&rule, "examples/alerts.toml", "Europe/Berlin")
        .expect("the commented rule is valid");
    assert_eq!(config.rules.len(), 1);
    assert!(
        matches!(
            config.rules[0].condition,
            sightline_alerts::rule::Condition::Seasonal(_)
        ),
        "{:?}",
        config.rules[0].condition
    );
}

/// Normal hours rarely fall outside the bounds: over a week of normal hours (each forecast
/// from the 28 days before it), at most 3 % do at the default `level` (0.999) — the
/// share of hours a person would be paged for nothing. (At 0.99 it was 4.2 %.)
#[test]
fn normal_hours_rarely_fall_outside_the_bounds() {
    let rule = seasonal_rule();
    let sightline_alerts::rule::Condition::Seasonal(seasonal) = &rule.condition else {
        panic!("the rule is seasonal");
    };
    let history = Synthetic::since(WEDNESDAY - 40 * DAY_US);
    let mut outside = 0;
    let week_hours = 7 * 24;
    for hour in 0..week_hours {
        let start = WEDNESDAY + hour * HOUR_US;
        let hours = history.hour_values(&key(), start - 28 * DAY_US, start);
        let bounds = sightline_alerts::seasonal::bounds(&hours, seasonal).expect("fitted");
        let actual = expected_orders(start) * noise(start);
        if actual < bounds.lower || actual > bounds.upper {
            outside += 1;
        }
    }
    let share = f64::from(outside) / week_hours as f64;
    eprintln!(
        "{outside} of {week_hours} normal hours outside the bounds ({:.1} %)",
        share * 100.0
    );
    assert!(
        share <= 0.03,
        "{outside} of {week_hours} normal hours outside the bounds"
    );
}
