//! The engine against an oracle written independently here: every window is recomputed
//! from the raw events that the oracle itself judges on time or late-but-allowed.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use rust_decimal::Decimal;
use sightline_engine::aggregate::AggregateValue;
use sightline_engine::{Engine, EngineOptions, KpiPack, Observation, TimePolicy};

const SECOND: i64 = 1_000_000;
const BOUND: i64 = 5 * SECOND;
const LATENESS: i64 = 20 * SECOND;

const PACK: &str = r#"
[[kpi]]
name = "orders"
events = ["order.created"]
aggregate = "count"
windows = [{ tumbling = "10s" }, { sliding = "30s", every = "10s" }]

[[kpi]]
name = "revenue"
events = ["order.created"]
value = "data.total"
aggregate = "sum"
group_by = ["data.channel"]
windows = [{ tumbling = "10s" }, { sliding = "30s", every = "10s" }]

[[kpi]]
name = "order_value"
events = ["order.created"]
value = "data.total"
aggregate = "mean"
windows = [{ sliding = "30s", every = "10s" }]

[[kpi]]
name = "largest_order"
events = ["order.created"]
value = "data.total"
aggregate = "max"
group_by = ["data.channel"]
windows = [{ tumbling = "10s" }]
"#;

#[derive(Debug, Clone)]
struct Order {
    time: i64,
    cents: i64,
    channel: &'static str,
    currency: &'static str,
}

fn order_json(order: &Order) -> String {
    let total = Decimal::new(order.cents, 2);
    // Half of the totals as JSON numbers, half as strings: both are money.
    let total = if order.cents % 2 == 0 {
        format!("\"{total}\"")
    } else {
        total.to_string()
    };
    format!(
        r#"{{"specversion":"1.0","id":"x","source":"t","type":"order.created","data":{{"order_id":"1","total":{total},"currency":"{}","channel":"{}"}}}}"#,
        order.currency, order.channel
    )
}

fn orders() -> impl Strategy<Value = Vec<Order>> {
    // A stream that mostly moves forward with jitter, sometimes jumps back by up to 40 s
    // (late or too late). Whole seconds, so events land exactly on window edges and on
    // the lateness boundary often.
    prop::collection::vec(
        (
            (0i64..3).prop_map(|seconds| seconds * SECOND),
            prop::bool::weighted(0.15),
            (0i64..40).prop_map(|seconds| seconds * SECOND),
            1i64..100_000,
            0usize..3,
            prop::bool::weighted(0.2),
        ),
        1..300,
    )
    .prop_map(|steps| {
        let mut clock = 1_000 * SECOND;
        steps
            .into_iter()
            .map(|(advance, jump_back, back, cents, channel, usd)| {
                clock += advance;
                let time = if jump_back {
                    clock - back
                } else {
                    clock - advance / 2 / SECOND * SECOND
                };
                Order {
                    time,
                    cents,
                    channel: ["web", "pos", "marketplace"][channel],
                    currency: if usd { "USD" } else { "EUR" },
                }
            })
            .collect()
    })
}

/// The oracle's own watermark rule, straight from kpis.md.
fn accepted_by_oracle(orders: &[Order]) -> Vec<Order> {
    let mut newest = i64::MIN;
    let mut accepted = Vec::new();
    for order in orders {
        let watermark = newest.saturating_sub(BOUND);
        if order.time < watermark.saturating_sub(LATENESS) {
            continue;
        }
        newest = newest.max(order.time);
        accepted.push(order.clone());
    }
    accepted
}

fn in_reporting_currency(order: &Order) -> Decimal {
    let amount = Decimal::new(order.cents, 2);
    if order.currency == "USD" {
        amount * Decimal::new(92, 2)
    } else {
        amount
    }
}

/// (window label, start) → group → value text, recomputed from scratch.
fn oracle(accepted: &[Order], kpi: &str) -> BTreeMap<(String, i64), BTreeMap<String, String>> {
    let windows: &[(&str, i64, i64)] = match kpi {
        "orders" | "revenue" => &[
            ("10s", 10 * SECOND, 10 * SECOND),
            ("30s/10s", 30 * SECOND, 10 * SECOND),
        ],
        "order_value" => &[("30s/10s", 30 * SECOND, 10 * SECOND)],
        _ => &[("10s", 10 * SECOND, 10 * SECOND)],
    };
    let mut members: BTreeMap<(String, i64), HashMap<String, Vec<Decimal>>> = BTreeMap::new();
    for order in accepted {
        for (label, size, slide) in windows {
            let mut start = order.time - order.time.rem_euclid(*slide);
            while start + size > order.time {
                let group = if matches!(kpi, "revenue" | "largest_order") {
                    order.channel.to_owned()
                } else {
                    String::new()
                };
                members
                    .entry(((*label).to_owned(), start))
                    .or_default()
                    .entry(group)
                    .or_default()
                    .push(in_reporting_currency(order));
                start -= slide;
            }
        }
    }
    members
        .into_iter()
        .map(|(window, groups)| {
            let values = groups
                .into_iter()
                .map(|(group, amounts)| {
                    let sum: Decimal = amounts.iter().copied().sum();
                    let value = match kpi {
                        "orders" => amounts.len().to_string(),
                        "revenue" => sum.normalize().to_string(),
                        "order_value" => (sum / Decimal::from(amounts.len()))
                            .round_dp(6)
                            .normalize()
                            .to_string(),
                        _ => amounts
                            .iter()
                            .copied()
                            .max()
                            .unwrap_or_default()
                            .normalize()
                            .to_string(),
                    };
                    (group, value)
                })
                .collect();
            (window, values)
        })
        .collect()
}

fn engine_windows(engine: &Engine, kpi: &str) -> BTreeMap<(String, i64), BTreeMap<String, String>> {
    engine
        .windows(kpi, i64::MIN / 2, i64::MAX / 2)
        .expect("known KPI")
        .into_iter()
        .map(|window| {
            let values = window
                .values
                .iter()
                .map(|(group, value)| {
                    let label = group
                        .first()
                        .map(|(_, value)| value.clone())
                        .unwrap_or_default();
                    let text = match value {
                        AggregateValue::Empty => "null".to_owned(),
                        other => other.to_json(),
                    };
                    (label, text)
                })
                .collect();
            ((window.window, window.start_us), values)
        })
        .collect()
}

fn new_engine(keep_final_for_us: i64) -> Engine {
    let kpis = KpiPack::from_toml(PACK, "oracle pack")
        .and_then(|pack| pack.compile(&sightline_engine::Calendar::utc()))
        .expect("valid pack");
    let options = EngineOptions {
        time: TimePolicy {
            disorder_bound_us: BOUND,
            allowed_lateness_us: LATENESS,
            idle_timeout_us: i64::MAX / 4,
        },
        reporting_currency: "EUR".into(),
        rates: HashMap::from([("USD".to_owned(), Decimal::new(92, 2))]),
        keep_final_for_us,
        reorder_points: HashMap::new(),
    };
    Engine::new(kpis, options)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_window_matches_the_oracle(orders in orders()) {
        let mut engine = new_engine(i64::MAX / 4);
        let mut too_late = 0;
        for order in &orders {
            if engine.process(order.time, &order_json(order), 0) == Observation::TooLate {
                too_late += 1;
            }
        }
        let accepted = accepted_by_oracle(&orders);
        prop_assert_eq!(too_late, orders.len() - accepted.len(), "late judgement differs");
        for kpi in ["orders", "revenue", "order_value", "largest_order"] {
            prop_assert_eq!(engine_windows(&engine, kpi), oracle(&accepted, kpi), "KPI {}", kpi);
        }
    }

    #[test]
    fn windows_are_final_exactly_when_the_watermark_passed_their_end(orders in orders()) {
        let mut engine = new_engine(i64::MAX / 4);
        for order in &orders {
            engine.process(order.time, &order_json(order), 0);
        }
        let watermark = engine.watermark();
        for window in engine.windows("orders", i64::MIN / 2, i64::MAX / 2).expect("known KPI") {
            prop_assert_eq!(window.is_final, window.end_us <= watermark);
        }
    }
}

#[test]
fn replaying_the_same_stream_gives_the_same_windows() {
    let orders: Vec<Order> = (0..500)
        .map(|index| Order {
            time: 1_000 * SECOND + index * 700_000 - (index % 7) * SECOND,
            cents: 1_000 + index,
            channel: ["web", "pos"][index as usize % 2],
            currency: "EUR",
        })
        .collect();
    let mut live = new_engine(i64::MAX / 4);
    let mut replay = new_engine(i64::MAX / 4);
    for order in &orders {
        live.process(order.time, &order_json(order), 0);
        replay.process(order.time, &order_json(order), 1_000_000 * SECOND);
    }
    assert_eq!(
        engine_windows(&live, "revenue"),
        engine_windows(&replay, "revenue")
    );
}

#[test]
fn an_event_missing_a_field_is_skipped_for_that_kpi_and_counted() {
    let mut engine = new_engine(i64::MAX / 4);
    let no_channel = r#"{"specversion":"1.0","id":"x","source":"t","type":"order.created","data":{"order_id":"1","total":"5","currency":"EUR"}}"#;
    assert_eq!(
        engine.process(1_000 * SECOND, no_channel, 0),
        Observation::Counted
    );
    let orders = engine.windows("orders", 0, i64::MAX / 2).expect("known");
    assert_eq!(
        orders[0].values[0].1,
        AggregateValue::Count(1),
        "counted by the KPI that needs no channel"
    );
    assert!(
        engine
            .windows("revenue", 0, i64::MAX / 2)
            .expect("known")
            .is_empty()
    );
    let skipped = engine.skipped();
    assert!(
        skipped.contains(&("revenue".to_owned(), "missing data.channel".to_owned(), 1)),
        "{skipped:?}"
    );
    let yen = r#"{"specversion":"1.0","id":"y","source":"t","type":"order.created","data":{"order_id":"2","total":"5","currency":"JPY","channel":"web"}}"#;
    engine.process(1_000 * SECOND, yen, 0);
    assert!(engine.skipped().contains(&(
        "revenue".to_owned(),
        "no rate for data.currency".to_owned(),
        1
    )));
}

#[test]
fn calendar_days_follow_the_business_time_zone_across_daylight_saving() {
    let pack = r#"
[[kpi]]
name = "revenue_today"
events = ["order.created"]
value = "data.total"
aggregate = "sum"
windows = [{ calendar = "day" }]
"#;
    let berlin = sightline_engine::Calendar::new("Europe/Berlin").expect("bundled zone");
    let kpis = KpiPack::from_toml(pack, "test")
        .and_then(|pack| pack.compile(&berlin))
        .expect("valid");
    let mut engine = Engine::new(kpis, EngineOptions::default());
    let at = |text: &str| sightline_model::time::parse_rfc3339(text).expect("timestamp");
    // 22:30 UTC on the 28th is 23:30 CET (still the 28th); 23:30 UTC is 01:30 CET on the
    // 29th, the 23-hour day; 21:59 UTC on the 29th is 23:59 CEST, its last minute.
    for (time, cents) in [
        ("2026-03-28T22:30:00Z", 100),
        ("2026-03-28T23:30:00Z", 200),
        ("2026-03-29T21:59:00Z", 400),
    ] {
        let order = Order {
            time: at(time),
            cents,
            channel: "web",
            currency: "EUR",
        };
        assert_eq!(
            engine.process(order.time, &order_json(&order), 0),
            Observation::Counted
        );
    }
    let days = engine
        .windows(
            "revenue_today",
            at("2026-03-28T00:00:00Z"),
            at("2026-03-31T00:00:00Z"),
        )
        .expect("known");
    let summary: Vec<(String, i64, String)> = days
        .iter()
        .map(|day| {
            (
                sightline_model::time::format_rfc3339(day.start_us),
                (day.end_us - day.start_us) / 3_600_000_000,
                day.values[0].1.to_json(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("2026-03-27T23:00:00.000Z".to_owned(), 24, "1".to_owned()),
            ("2026-03-28T23:00:00.000Z".to_owned(), 23, "6".to_owned()),
        ]
    );
    assert!(days.iter().all(|day| day.window == "day"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Stopping anywhere, checkpointing, and continuing in a new engine from the checkpoint
    /// gives exactly the windows of an uninterrupted run.
    #[test]
    fn a_checkpoint_resumes_exactly(orders in orders(), cut in 0usize..300) {
        let cut = cut.min(orders.len());
        let mut uninterrupted = new_engine(i64::MAX / 4);
        for order in &orders {
            uninterrupted.process(order.time, &order_json(order), 0);
        }
        let mut first = new_engine(i64::MAX / 4);
        for order in &orders[..cut] {
            first.process(order.time, &order_json(order), 0);
        }
        let saved = first.checkpoint(cut as u64);
        drop(first);
        let mut resumed = new_engine(i64::MAX / 4);
        let offset = resumed.restore(&saved).expect("same definitions");
        prop_assert_eq!(offset, cut as u64);
        for order in &orders[offset as usize..] {
            resumed.process(order.time, &order_json(order), 0);
        }
        for kpi in ["orders", "revenue", "order_value", "largest_order"] {
            prop_assert_eq!(engine_windows(&resumed, kpi), engine_windows(&uninterrupted, kpi), "KPI {}", kpi);
        }
        prop_assert_eq!(resumed.too_late_events(), uninterrupted.too_late_events());
    }
}

#[test]
fn a_checkpoint_of_other_definitions_is_refused() {
    let engine = new_engine(i64::MAX / 4);
    let saved = engine.checkpoint(7);
    let other_pack = PACK.replace("\"10s\" }, { sliding", "\"20s\" }, { sliding");
    let kpis = KpiPack::from_toml(&other_pack, "other")
        .and_then(|pack| pack.compile(&sightline_engine::Calendar::utc()))
        .expect("valid");
    let mut other = Engine::new(kpis, EngineOptions::default());
    let error = other.restore(&saved).expect_err("different definitions");
    assert!(
        error.to_string().contains("other KPI definitions"),
        "{error}"
    );
    assert!(other.restore(b"garbage").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The history hand-over loses nothing: an engine that forgets final windows at once,
    /// whose closed windows are taken at random moments, answers — together with what
    /// it handed over — exactly what an engine keeping everything in memory answers.
    #[test]
    fn closed_windows_handed_over_complete_what_the_engine_forgot(
        orders in orders(),
        take_every in 1usize..50,
    ) {
        let mut keeping = new_engine(i64::MAX / 4);
        let mut forgetting = new_engine(0);
        let mut handed_over: Vec<sightline_engine::ClosedWindow> = Vec::new();
        for (index, order) in orders.iter().enumerate() {
            keeping.process(order.time, &order_json(order), 0);
            forgetting.process(order.time, &order_json(order), 0);
            if index % take_every == 0 {
                handed_over.extend(forgetting.take_closed());
            }
        }
        for kpi in ["orders", "revenue", "order_value", "largest_order"] {
            let mut combined = engine_windows(&forgetting, kpi);
            let mut seen = std::collections::BTreeSet::new();
            for closed in handed_over.iter().filter(|closed| closed.kpi == kpi) {
                prop_assert!(seen.insert((closed.window.clone(), closed.start_us)), "window {} {} handed over twice", closed.window, closed.start_us);
                let values = closed
                    .values
                    .iter()
                    .map(|(group, value)| {
                        let label = group.first().map(|(_, value)| value.clone()).unwrap_or_default();
                        let text = match value {
                            AggregateValue::Empty => "null".to_owned(),
                            other => other.to_json(),
                        };
                        (label, text)
                    })
                    .collect();
                combined.entry((closed.window.clone(), closed.start_us)).or_insert(values);
            }
            prop_assert_eq!(combined, engine_windows(&keeping, kpi), "KPI {}", kpi);
        }
    }
}

/// Closed windows copied for the history store stay answered by the engine until it is
/// told they are stored: a query while history is being written misses nothing.
#[test]
fn closed_windows_are_answered_until_forgotten() {
    let mut engine = new_engine(0);
    let orders: Vec<Order> = (0..40)
        .map(|index| Order {
            time: index * 10 * SECOND,
            cents: 100,
            channel: "web",
            currency: "EUR",
        })
        .collect();
    for order in &orders {
        engine.process(order.time, &order_json(order), 0);
    }
    let copy = engine.closed_to_persist();
    assert!(!copy.is_empty(), "windows closed");
    let before = engine_windows(&engine, "orders");
    for closed in copy.iter().filter(|closed| closed.kpi == "orders") {
        assert!(
            before.contains_key(&(closed.window.clone(), closed.start_us)),
            "{} {} answered while being written",
            closed.window,
            closed.start_us
        );
    }
    engine.forget_closed(copy.len());
    assert!(engine.closed_to_persist().is_empty());
    let after = engine_windows(&engine, "orders");
    assert!(after.len() < before.len(), "stored windows are forgotten");
}
