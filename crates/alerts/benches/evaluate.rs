//! Alert series evaluated per second: 10,000 series (one rule per group of a KPI)
//! re-evaluated on every update, the target of issue 5. Steady state: the values move but
//! stay on their side of the threshold, which is what nearly every update looks like.
//! With the `seasonal` feature, also one seasonal fit: what a seasonal rule costs per
//! series once an hour.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sightline_alerts::clock::{HOUR_US, SECOND_US};
use sightline_alerts::evaluate::SeriesKey;
use sightline_alerts::{Alerter, AlerterOptions, AlertsConfig, BaselineSource, SeriesValue};

const SERIES: usize = 10_000;
const START: i64 = 1_795_600_000 * SECOND_US;

/// History with a flat hourly value: the baseline is read once per series and hour.
struct FlatHistory;

impl BaselineSource for FlatHistory {
    fn hour_value(&self, _series: &SeriesKey<'_>, start_us: i64, _end_us: i64) -> Option<f64> {
        Some(100.0 + (start_us / HOUR_US % 7) as f64)
    }
}

fn alerter(rules: &str) -> Alerter {
    let config = AlertsConfig::from_toml(rules, "bench", "Europe/Berlin").expect("valid rules");
    let mut alerter =
        Alerter::in_memory(config, AlerterOptions::default(), START).expect("alerter");
    alerter.set_baseline_source(Box::new(FlatHistory));
    alerter
}

fn groups(count: usize) -> Vec<Vec<(String, String)>> {
    (0..count)
        .map(|index| vec![("endpoint".to_owned(), format!("/api/v1/resource/{index}"))])
        .collect()
}

fn bench_rules(
    criterion: &mut Criterion,
    name: &str,
    rules: &str,
    rule_count: usize,
    value: fn(usize, i64) -> SeriesValue,
) {
    let groups = groups(SERIES / rule_count);
    let mut alerter = alerter(rules);
    let mut now = START;
    // Warm up: every series exists and has its baseline for the hour.
    for group in &groups {
        alerter.observe("api_latency", "5m/10s", group, &value(0, now), now);
    }
    // The values are made outside the measurement (the server converts the engine's
    // values anyway); two rounds alternate so every update carries a new value.
    let rounds: Vec<Vec<SeriesValue>> = (0..2)
        .map(|round| {
            (0..groups.len())
                .map(|index| value(index, START + round * 37 * SECOND_US))
                .collect()
        })
        .collect();
    let mut round = 0;
    let mut group_bench = criterion.benchmark_group("alerts");
    group_bench.throughput(Throughput::Elements(SERIES as u64));
    group_bench.bench_function(name, |bencher| {
        bencher.iter(|| {
            now += SECOND_US;
            round = 1 - round;
            for (group, value) in groups.iter().zip(&rounds[round]) {
                alerter.observe("api_latency", "5m/10s", group, value, now);
            }
        })
    });
    group_bench.finish();
}

fn latency(index: usize, now: i64) -> SeriesValue {
    let p95 = 200.0 + ((index as i64 + now / SECOND_US) % 100) as f64;
    SeriesValue::Members(vec![
        ("p50".to_owned(), 80.0),
        ("p95".to_owned(), p95),
        ("p99".to_owned(), p95 * 2.0),
    ])
}

fn static_threshold(criterion: &mut Criterion) {
    let rules = r#"
[[alert]]
name = "latency_high"
kpi = "api_latency"
window = "5m/10s"
field = "p95"
condition = { above = 800 }
for = "5m"
severity = "high"
"#;
    bench_rules(criterion, "static_threshold_10k_series", rules, 1, latency);
}

fn dynamic_threshold(criterion: &mut Criterion) {
    let rules = r#"
[[alert]]
name = "latency_unusual"
kpi = "api_latency"
window = "5m/10s"
field = "p95"
condition = { dynamic = { k = 3.0, weeks = 4, min_weeks = 2, direction = "above", min_delta = 500.0 } }
severity = "medium"
"#;
    bench_rules(criterion, "dynamic_threshold_10k_series", rules, 1, latency);
}

/// Four rules on one KPI, 2,500 groups: static, dynamic, rate of change and absence.
fn mixed_rules(criterion: &mut Criterion) {
    let rules = r#"
[[alert]]
name = "latency_high"
kpi = "api_latency"
field = "p95"
condition = { above = 800 }
for = "5m"
severity = "high"

[[alert]]
name = "latency_unusual"
kpi = "api_latency"
field = "p95"
condition = { dynamic = { k = 3.0, weeks = 4, min_weeks = 2, direction = "above", min_delta = 500.0 } }
severity = "medium"

[[alert]]
name = "latency_jump"
kpi = "api_latency"
field = "p95"
condition = { change = { over = "1h", above = 2.0 } }
severity = "medium"

[[alert]]
name = "no_traffic"
kpi = "api_latency"
field = "p95"
condition = { absent = "10m" }
severity = "low"
"#;
    bench_rules(
        criterion,
        "four_rules_2500_groups_10k_series",
        rules,
        4,
        latency,
    );
}

/// The once-a-second tick over 10,000 quiet series.
fn tick(criterion: &mut Criterion) {
    let rules = r#"
[[alert]]
name = "latency_high"
kpi = "api_latency"
field = "p95"
condition = { above = 800 }
for = "5m"
severity = "high"
"#;
    let groups = groups(SERIES);
    let mut alerter = alerter(rules);
    let mut now = START;
    for group in &groups {
        alerter.observe("api_latency", "5m/10s", group, &latency(0, now), now);
    }
    let mut group_bench = criterion.benchmark_group("alerts");
    group_bench.throughput(Throughput::Elements(SERIES as u64));
    group_bench.bench_function("tick_10k_series", |bencher| {
        bencher.iter(|| {
            now += SECOND_US;
            alerter.tick(now).expect("in-memory tick")
        })
    });
    group_bench.finish();
}

/// One seasonal fit over 28 days of hourly values (daily and weekly cycle, noise, a few
/// gaps): the work a seasonal rule does per series at the first update of each hour.
#[cfg(feature = "seasonal")]
fn seasonal_fit(criterion: &mut Criterion) {
    use sightline_alerts::rule::{Direction, SeasonalBounds};
    let seasonal = SeasonalBounds {
        days: 28,
        min_days: 14,
        level: 0.99,
        direction: Direction::Both,
        min_delta: 0.0,
    };
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let hours: Vec<Option<f64>> = (0..28 * 24)
        .map(|hour| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let hour_of_day = (hour % 24) as f64;
            let weekend = if (hour / 24) % 7 >= 5 { 0.7 } else { 1.0 };
            let value = (110.0 - 90.0 * ((hour_of_day - 3.0) * std::f64::consts::PI / 12.0).cos())
                * weekend
                * (1.0 + 0.05 * noise);
            (hour % 97 != 0).then_some(value)
        })
        .collect();
    let mut group_bench = criterion.benchmark_group("alerts");
    group_bench.throughput(Throughput::Elements(1));
    group_bench.bench_function("seasonal_fit_28_days_hourly", |bencher| {
        bencher.iter(|| {
            sightline_alerts::seasonal::bounds(std::hint::black_box(&hours), &seasonal)
                .expect("four weeks fit")
        })
    });
    group_bench.finish();
}

criterion_group!(
    benches,
    static_threshold,
    dynamic_threshold,
    mixed_rules,
    tick
);
#[cfg(feature = "seasonal")]
criterion_group!(seasonal_benches, seasonal_fit);
#[cfg(feature = "seasonal")]
criterion_main!(benches, seasonal_benches);
#[cfg(not(feature = "seasonal"))]
criterion_main!(benches);
