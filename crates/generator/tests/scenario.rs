//! The demo's scenario layer: rhythm, incidents, and what incidents do to the traffic.

use std::collections::HashMap;

use serde_json::Value;
use sightline_generator::scenario::{
    Change, IncidentKind, IncidentSchedule, Rates, Rhythm, Scenario,
};
use sightline_generator::time::parse_rfc3339;
use sightline_generator::{Conditions, GeneratorConfig, Store, TimedGenerator, Traffic};

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
/// 2026-11-25T00:00:00Z, a Wednesday.
const WEDNESDAY: i64 = 1_795_564_800_000_000;

fn config(seed: u64, start_time_us: i64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        start_time_us,
        events_per_second: 25.0,
        sku_count: 200,
        ..Default::default()
    }
}

fn events(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|line| serde_json::from_str(line).expect("valid JSON"))
        .collect()
}

fn time_of(event: &Value) -> i64 {
    parse_rfc3339(event["time"].as_str().expect("time")).expect("RFC 3339")
}

#[test]
fn rhythm_is_quiet_at_night_busy_in_the_evening_and_different_at_weekends() {
    let rhythm = Rhythm::default();
    let at = |day: i64, hour: i64| rhythm.factor(WEDNESDAY + day * 24 * HOUR + hour * HOUR);
    for day in 0..7 {
        assert!(at(day, 3) < at(day, 20) / 3.0, "day {day}");
        assert!(at(day, 3) >= 0.2, "day {day}: a shop still sells at night");
    }
    // Saturday and Sunday mornings start later, their afternoons are busier.
    assert!(at(3, 7) < at(0, 7) * 0.8);
    assert!(at(3, 14) > at(0, 14) * 1.2);
    // The offset moves the curve into local time: 20:00 at UTC+2 is 18:00 UTC.
    let local = Rhythm {
        utc_offset_minutes: 120,
    };
    assert_eq!(local.factor(WEDNESDAY + 18 * HOUR), at(0, 20));
}

#[test]
fn incident_schedule_is_deterministic_cycles_through_all_kinds_and_starts_soon() {
    let store = Store::new(200);
    let origin = WEDNESDAY + 10 * HOUR + 17 * SECOND;
    for seed in [1, 2, 3, 99] {
        let schedule = IncidentSchedule::new(seed, origin);
        let first = schedule.nth(0, &store);
        assert!(first.start_us > origin && first.start_us <= origin + MINUTE);
        assert_eq!(schedule.next_after(origin, &store), first);
        let incidents: Vec<_> = (0..10).map(|n| schedule.nth(n, &store)).collect();
        let again: Vec<_> = (0..10)
            .map(|n| IncidentSchedule::new(seed, origin).nth(n, &store))
            .collect();
        assert_eq!(incidents, again);
        for round in incidents.chunks(5) {
            let mut kinds: Vec<_> = round.iter().map(|incident| incident.kind).collect();
            kinds.sort_by_key(|kind| IncidentKind::CYCLE.iter().position(|k| k == kind));
            assert_eq!(kinds, IncidentKind::CYCLE);
        }
        for pair in incidents.windows(2) {
            let (one, next) = (pair[0], pair[1]);
            let lasts = one.end_us - one.start_us;
            assert!((MINUTE..=3 * MINUTE).contains(&lasts), "{one:?}");
            assert!(one.end_us < next.start_us, "incidents do not overlap");
            assert!(next.start_us - one.start_us <= 5 * MINUTE);
            assert_eq!(schedule.at(one.start_us + SECOND, &store), Some(one));
            assert_eq!(schedule.at(one.end_us, &store), None);
        }
        // A stockout hits one of the five most popular SKUs.
        let stockout = incidents
            .iter()
            .find(|incident| incident.kind == IncidentKind::Stockout)
            .expect("a stockout in two rounds");
        assert!(stockout.target < 5);
    }
}

/// Full traffic for `minutes` from `start` with `conditions` in effect from the start.
fn run_with(conditions: Conditions, start: i64, minutes: i64) -> Vec<Value> {
    let mut scenario = Scenario::new(config(5, start), Rhythm::default(), Rates::default());
    let mut out = String::new();
    let mut changes = Vec::new();
    // Warm up: sessions, orders and fulfilment in flight.
    scenario.generate_until(start + 10 * MINUTE, &mut out, &mut changes);
    out.clear();
    scenario.set_conditions(conditions);
    scenario.generate_until(start + (10 + minutes) * MINUTE, &mut out, &mut changes);
    events(&out)
}

#[test]
fn gateway_outage_fails_most_of_that_gateways_payments() {
    let failure_rate = |events: &[Value], gateway: &str| {
        let of_gateway = |ty: &str| {
            events
                .iter()
                .filter(|event| event["type"] == ty && event["data"]["gateway"] == gateway)
                .count() as f64
        };
        let failed = of_gateway("payment.failed");
        failed / (failed + of_gateway("order.paid"))
    };
    let normal = run_with(Conditions::default(), WEDNESDAY + 12 * HOUR, 20);
    let outage = run_with(
        Conditions {
            gateway_outage: Some(0),
            ..Default::default()
        },
        WEDNESDAY + 12 * HOUR,
        20,
    );
    // Abandoned checkouts fail some payments too, at every gateway.
    let (normal_stripe, outage_stripe) = (
        failure_rate(&normal, "stripe"),
        failure_rate(&outage, "stripe"),
    );
    assert!(outage_stripe > 0.6, "{normal_stripe} → {outage_stripe}");
    assert!(
        outage_stripe > 3.0 * normal_stripe,
        "{normal_stripe} → {outage_stripe}"
    );
    assert!(failure_rate(&outage, "adyen") < outage_stripe / 2.0);
}

#[test]
fn latency_spike_slows_one_endpoint_and_raises_its_errors() {
    let median_and_errors = |events: &[Value], endpoint: &str| {
        let mut latencies: Vec<f64> = Vec::new();
        let mut errors = 0;
        for event in events
            .iter()
            .filter(|event| event["type"] == "api.request" && event["data"]["endpoint"] == endpoint)
        {
            latencies.push(event["data"]["latency_ms"].as_f64().expect("latency"));
            errors += usize::from(event["data"]["status"].as_u64() >= Some(500));
        }
        latencies.sort_by(f64::total_cmp);
        (
            latencies[latencies.len() / 2],
            errors as f64 / latencies.len() as f64,
        )
    };
    let normal = run_with(Conditions::default(), WEDNESDAY + 12 * HOUR, 5);
    let spike = run_with(
        Conditions {
            slow_endpoint: Some(3),
            ..Default::default()
        },
        WEDNESDAY + 12 * HOUR,
        5,
    );
    let (normal_median, normal_errors) = median_and_errors(&normal, "/checkout");
    let (spike_median, spike_errors) = median_and_errors(&spike, "/checkout");
    assert!(
        spike_median > 4.0 * normal_median,
        "{normal_median} → {spike_median}"
    );
    assert!(spike_errors > 0.08 && normal_errors < 0.03);
    let (product_median, _) = median_and_errors(&spike, "/product");
    let (product_normal, _) = median_and_errors(&normal, "/product");
    assert!(
        product_median < 2.0 * product_normal,
        "other endpoints stay fast"
    );
}

#[test]
fn shipping_backlog_holds_fulfilment_before_shipping() {
    let backlog = run_with(
        Conditions {
            shipping_backlog: true,
            ..Default::default()
        },
        WEDNESDAY + 12 * HOUR,
        5,
    );
    let stages = |events: &[Value], stage: &str| {
        events
            .iter()
            .filter(|e| e["type"] == "fulfillment.stage_changed" && e["data"]["stage"] == stage)
            .count()
    };
    assert!(stages(&backlog, "received") > 20);
    for stage in ["picking", "packing", "shipped"] {
        assert_eq!(stages(&backlog, stage), 0, "{stage}");
    }
}

#[test]
fn incidents_show_and_end_in_the_events() {
    let start = WEDNESDAY + 19 * HOUR;
    let mut scenario = Scenario::new(config(11, start), Rhythm::default(), Rates::default());
    scenario.set_incidents(IncidentSchedule::new(11, start));
    let mut out = String::new();
    let mut changes = Vec::new();
    // Two full rounds of the five kinds.
    scenario.generate_until(start + 40 * MINUTE, &mut out, &mut changes);
    let all = events(&out);
    let mut previous = i64::MIN;
    for event in &all {
        let time = time_of(event);
        assert!(time >= previous, "event times never go backwards");
        previous = time;
    }
    let started: Vec<_> = changes
        .iter()
        .filter_map(|change| match change {
            Change::IncidentStarted(incident) => Some(*incident),
            Change::IncidentEnded(_) => None,
        })
        .collect();
    let ended = changes
        .iter()
        .filter(|change| matches!(change, Change::IncidentEnded(_)))
        .count();
    assert_eq!(started.len(), 10);
    assert_eq!(ended, 10);
    let during = |incident: &sightline_generator::scenario::Incident| {
        all.iter()
            .filter(|event| (incident.start_us..incident.end_us).contains(&time_of(event)))
            .collect::<Vec<_>>()
    };
    let store = scenario.generator().store();
    for incident in &started {
        let events_during = during(incident);
        match incident.kind {
            IncidentKind::Stockout => {
                let sku = &store.skus()[incident.target].id;
                let zeros = events_during
                    .iter()
                    .filter(|e| {
                        e["type"] == "inventory.counted"
                            && e["data"]["sku"] == sku.as_str()
                            && e["data"]["on_hand"] == 0
                    })
                    .count();
                assert!(zeros >= store.warehouses().len(), "{incident:?}");
                let moves = events_during
                    .iter()
                    .filter(|e| {
                        e["type"] == "inventory.adjusted" && e["data"]["sku"] == sku.as_str()
                    })
                    .count();
                assert_eq!(moves, 0, "no stock moves while out of stock");
                let restocked = all.iter().any(|e| {
                    e["type"] == "inventory.adjusted"
                        && e["data"]["sku"] == sku.as_str()
                        && time_of(e) >= incident.end_us
                });
                assert!(restocked, "restocked after {incident:?}");
            }
            IncidentKind::LineFault => {
                let line = store.production_lines()[incident.target].id;
                let of_line = |e: &&&Value| e["data"]["line_id"] == line;
                assert!(
                    events_during
                        .iter()
                        .filter(of_line)
                        .any(|e| e["data"]["status"] == "fault")
                );
                let output = events_during
                    .iter()
                    .filter(of_line)
                    .filter(|e| e["type"] == "production.output" && time_of(e) > incident.start_us)
                    .count();
                assert_eq!(output, 0, "a faulted line produces nothing");
                let back = all.iter().any(|e| {
                    e["data"]["line_id"] == line
                        && e["data"]["status"] == "running"
                        && time_of(e) >= incident.end_us
                });
                assert!(back, "the line runs again after {incident:?}");
            }
            _ => {}
        }
    }
}

#[test]
fn lean_history_orders_match_full_traffic() {
    // Six hours across an evening, twice: the same rhythm, lean and full.
    let start = WEDNESDAY + 16 * HOUR;
    let run = |traffic: Traffic| {
        let mut scenario = Scenario::new(config(21, start), Rhythm::default(), Rates::default());
        scenario.set_traffic(traffic);
        let mut out = String::new();
        scenario.generate_until(start + 6 * HOUR, &mut out, &mut Vec::new());
        events(&out)
    };
    let full = run(Traffic::Full);
    let lean = run(Traffic::Lean);
    let sparse = run(Traffic::Sparse);
    let by_type = |events: &[Value]| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for event in events {
            *counts
                .entry(event["type"].as_str().expect("type").to_string())
                .or_default() += 1;
        }
        counts
    };
    let (full_counts, lean_counts) = (by_type(&full), by_type(&lean));
    let orders = |events: &[Value], channel: &str| {
        events
            .iter()
            .filter(|e| e["type"] == "order.created" && e["data"]["channel"] == channel)
            .count() as f64
    };
    for channel in ["web", "pos", "marketplace"] {
        let full_orders = orders(&full, channel);
        for (name, history) in [("lean", &lean), ("sparse", &sparse)] {
            let history_orders = orders(history, channel);
            assert!(
                (history_orders / full_orders - 1.0).abs() < 0.15,
                "{channel}: {name} {history_orders} vs full {full_orders}"
            );
        }
    }
    let sparse_counts = by_type(&sparse);
    assert!(lean_counts["order.paid"] > 0 && lean_counts["payment.failed"] > 0);
    assert_eq!(sparse_counts.get("order.paid"), None);
    assert_eq!(sparse_counts.get("payment.failed"), None);
    assert!(sparse_counts["refund.created"] > 0, "{sparse_counts:?}");
    let units = |events: &[Value]| -> u64 {
        events
            .iter()
            .filter(|e| e["type"] == "production.output")
            .map(|e| e["data"]["units"].as_u64().expect("units"))
            .sum()
    };
    let (full_units, lean_units) = (units(&full) as f64, units(&lean) as f64);
    assert!(
        (lean_units / full_units - 1.0).abs() < 0.12,
        "{lean_units} vs {full_units}"
    );
    for ty in [
        "page.viewed",
        "api.request",
        "fulfillment.stage_changed",
        "queue.depth",
    ] {
        assert!(
            full_counts.get(ty).copied().unwrap_or(0) > 0,
            "{ty} in full"
        );
        assert_eq!(lean_counts.get(ty), None, "{ty} not in lean");
    }
    assert!(
        lean.len() * 5 < full.len(),
        "lean {} vs full {}",
        lean.len(),
        full.len()
    );
    eprintln!("full {full_counts:?}\nlean {lean_counts:?}");
}

#[test]
fn some_stock_is_low_in_steady_state() {
    let start = WEDNESDAY + 12 * HOUR;
    let mut scenario = Scenario::new(config(3, start), Rhythm::default(), Rates::default());
    scenario.set_traffic(Traffic::Sparse);
    let mut out = String::new();
    // Weeks of history (no stock moves), then full traffic: it counts every level.
    scenario.generate_until(start + 14 * 24 * HOUR, &mut out, &mut Vec::new());
    out.clear();
    scenario.set_traffic(Traffic::Full);
    scenario.generate_until(start + (14 * 24 + 3) * HOUR, &mut out, &mut Vec::new());
    let mut levels: HashMap<(String, String), i64> = HashMap::new();
    for event in events(&out) {
        let key = || {
            (
                event["data"]["sku"].as_str().expect("sku").to_string(),
                event["data"]["warehouse"]
                    .as_str()
                    .expect("warehouse")
                    .to_string(),
            )
        };
        if event["type"] == "inventory.counted" {
            levels.insert(key(), event["data"]["on_hand"].as_i64().expect("on_hand"));
        } else if event["type"] == "inventory.adjusted" {
            *levels.entry(key()).or_default() += event["data"]["delta"].as_i64().expect("delta");
        }
    }
    assert_eq!(levels.len(), 200 * 4, "every level is known");
    let low = levels.values().filter(|level| **level <= 10).count();
    assert!(
        (5..200).contains(&low),
        "{low} low levels after three hours"
    );
}

#[test]
fn timed_generator_is_deterministic() {
    let run = || {
        let mut generator = TimedGenerator::new(config(8, WEDNESDAY));
        let mut out = String::new();
        for step in 0..5_000 {
            let time = WEDNESDAY + step * 40_000;
            while generator.next_due_us().is_some_and(|due| due <= time) {
                generator.run_due(&mut out);
            }
            generator.act_at(time, sightline_generator::Action::SessionStep, &mut out);
        }
        out
    };
    assert_eq!(run(), run());
}
