//! Checks generated traffic against the v1 event catalogue (`shared/spec/events.md`).

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use sightline_generator::time::parse_rfc3339;
use sightline_generator::{EVENT_TYPES, EventGenerator, GeneratorConfig};

/// JSON kind a required field must have.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Str,
    /// Decimal string with two decimals, or a JSON number.
    Money,
    Int,
    Number,
    /// One of the listed strings.
    OneOf(&'static [&'static str]),
}

use Kind::*;

const STAGES: &[&str] = &["received", "picking", "packing", "shipped", "delivered"];
const LINE_STATUSES: &[&str] = &["running", "idle", "stopped", "fault"];

/// Required data fields per type, written from events.md.
/// (`payment.failed` additionally needs `order_id` or `checkout_id`, checked separately.)
fn required() -> HashMap<&'static str, Vec<(&'static str, Kind)>> {
    HashMap::from([
        (
            "order.created",
            vec![("order_id", Str), ("total", Money), ("currency", Str)],
        ),
        (
            "order.paid",
            vec![("order_id", Str), ("amount", Money), ("currency", Str)],
        ),
        ("order.cancelled", vec![("order_id", Str)]),
        (
            "refund.created",
            vec![("order_id", Str), ("amount", Money), ("currency", Str)],
        ),
        ("payment.failed", vec![("gateway", Str)]),
        (
            "page.viewed",
            vec![("session_id", Str), ("visitor_id", Str)],
        ),
        (
            "cart.item_added",
            vec![("session_id", Str), ("sku", Str), ("quantity", Int)],
        ),
        (
            "checkout.started",
            vec![("session_id", Str), ("checkout_id", Str)],
        ),
        (
            "fulfillment.stage_changed",
            vec![("order_id", Str), ("stage", OneOf(STAGES))],
        ),
        (
            "inventory.adjusted",
            vec![("sku", Str), ("warehouse", Str), ("delta", Int)],
        ),
        (
            "inventory.counted",
            vec![("sku", Str), ("warehouse", Str), ("on_hand", Int)],
        ),
        (
            "production.output",
            vec![("line_id", Str), ("units", Number)],
        ),
        (
            "production.status_changed",
            vec![("line_id", Str), ("status", OneOf(LINE_STATUSES))],
        ),
        (
            "api.request",
            vec![("endpoint", Str), ("status", Int), ("latency_ms", Number)],
        ),
        ("queue.depth", vec![("queue", Str), ("depth", Int)]),
    ])
}

fn generate(config: GeneratorConfig, n: usize) -> Vec<String> {
    let mut g = EventGenerator::new(config);
    let mut lines = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = String::new();
        g.next_event(&mut s);
        lines.push(s);
    }
    assert_eq!(g.events_generated(), n as u64);
    lines
}

fn cfg(seed: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        ..Default::default()
    }
}

/// Exact cents of a money value; panics on anything else.
fn cents(v: &Value, what: &str) -> i64 {
    match v {
        Value::String(s) => {
            let (units, frac) = s.split_once('.').unwrap_or_else(|| panic!("{what}: {s}"));
            assert_eq!(frac.len(), 2, "{what}: two decimals: {s}");
            let units: i64 = units.parse().unwrap_or_else(|_| panic!("{what}: {s}"));
            let frac: i64 = frac.parse().unwrap_or_else(|_| panic!("{what}: {s}"));
            units * 100 + frac
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or_else(|| panic!("{what}: {n}"));
            let c = (f * 100.0).round();
            assert!((f * 100.0 - c).abs() < 1e-6, "{what}: not whole cents: {n}");
            c as i64
        }
        other => panic!("{what}: not money: {other}"),
    }
}

fn check_kind(v: Option<&Value>, kind: Kind, what: &str) {
    let v = v.unwrap_or_else(|| panic!("missing required field {what}"));
    match kind {
        Str => assert!(v.as_str().is_some_and(|s| !s.is_empty()), "{what}: {v}"),
        Money => {
            cents(v, what);
        }
        Int => assert!(v.is_i64(), "{what}: not an integer: {v}"),
        Number => assert!(v.is_number(), "{what}: not a number: {v}"),
        OneOf(set) => assert!(v.as_str().is_some_and(|s| set.contains(&s)), "{what}: {v}"),
    }
}

#[test]
fn every_event_matches_the_catalogue() {
    let table = required();
    assert_eq!(table.len(), EVENT_TYPES.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut last_time = i64::MIN;
    for line in generate(cfg(3), 200_000) {
        assert!(!line.contains('\n'));
        let e: Value = serde_json::from_str(&line).unwrap_or_else(|err| panic!("{err}: {line}"));
        assert_eq!(e["specversion"], "1.0", "{line}");
        assert!(e["id"].as_str().is_some_and(|s| !s.is_empty()), "{line}");
        assert_eq!(e["source"], "web/shop", "{line}");
        let time = e["time"].as_str().expect("time is a string");
        assert_eq!(time.len(), 24, "{time}");
        assert!(time.ends_with('Z'));
        let t = parse_rfc3339(time).expect("time parses");
        assert!(t >= last_time, "times are ordered without disorder");
        last_time = t;
        let ty = e["type"].as_str().expect("type is a string");
        let fields = table.get(ty).unwrap_or_else(|| panic!("unknown type {ty}"));
        let data = e["data"]
            .as_object()
            .unwrap_or_else(|| panic!("data object: {line}"));
        for (name, kind) in fields {
            check_kind(data.get(*name), *kind, &format!("{ty}.{name}"));
        }
        match ty {
            "payment.failed" => {
                assert!(
                    data.contains_key("order_id") || data.contains_key("checkout_id"),
                    "{line}"
                )
            }
            "order.created" => {
                let lines = data["lines"].as_array().expect("lines");
                assert!((1..=4).contains(&lines.len()), "{line}");
                for l in lines {
                    check_kind(l.get("sku"), Str, "line.sku");
                    check_kind(l.get("quantity"), Int, "line.quantity");
                    check_kind(l.get("price"), Money, "line.price");
                }
                let region = data["region"].as_str().expect("region");
                let (country, sub) = region.split_once('-').unwrap_or((region, "X"));
                assert!(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()));
                assert!((1..=3).contains(&sub.len()), "{region}");
                assert!(
                    ["web", "pos", "marketplace"]
                        .contains(&data["channel"].as_str().expect("channel"))
                );
                assert!(["new", "returning"].contains(&data["segment"].as_str().expect("segment")));
            }
            "fulfillment.stage_changed" => {
                let ship_by = data["ship_by"].as_str().expect("ship_by");
                assert!(parse_rfc3339(ship_by).is_some(), "{ship_by}");
            }
            "api.request" => {
                let status = data["status"].as_i64().expect("status");
                assert!((100..600).contains(&status));
                assert!(data["latency_ms"].as_f64().expect("latency") > 0.0);
            }
            _ => {}
        }
        *seen.entry(ty.to_string()).or_default() += 1;
    }
    for ty in EVENT_TYPES {
        assert!(seen.contains_key(ty), "{ty} never generated");
    }
}

#[test]
fn order_totals_are_exact_and_flows_are_consistent() {
    let mut totals: HashMap<String, i64> = HashMap::new();
    let mut paid: HashSet<String> = HashSet::new();
    let mut stage: HashMap<String, usize> = HashMap::new();
    let mut money_numbers = 0;
    let mut late = 0;
    let mut shipped = 0;
    for line in generate(cfg(11), 300_000) {
        let e: Value = serde_json::from_str(&line).expect("valid JSON");
        let d = &e["data"];
        let order = d["order_id"].as_str().map(str::to_string);
        match e["type"].as_str().expect("type") {
            "order.created" => {
                let sum: i64 = d["lines"]
                    .as_array()
                    .expect("lines")
                    .iter()
                    .map(|l| l["quantity"].as_i64().expect("qty") * cents(&l["price"], "price"))
                    .sum();
                assert_eq!(cents(&d["total"], "total"), sum, "{line}");
                if d["total"].is_number() {
                    money_numbers += 1;
                }
                let order = order.expect("order_id");
                assert!(totals.insert(order, sum).is_none(), "order ids are unique");
            }
            "order.paid" => {
                let order = order.expect("order_id");
                assert_eq!(cents(&d["amount"], "amount"), totals[&order], "{line}");
                assert!(paid.insert(order), "paid once");
            }
            "refund.created" => {
                let order = order.expect("order_id");
                assert!(paid.contains(&order), "refund of a paid order: {line}");
                let amount = cents(&d["amount"], "amount");
                assert!(amount > 0 && amount <= totals[&order], "{line}");
            }
            "fulfillment.stage_changed" => {
                let order = order.expect("order_id");
                assert!(paid.contains(&order), "fulfilment of a paid order: {line}");
                let s = STAGES.iter().position(|s| *s == d["stage"]).expect("stage");
                let expected = stage.get(&order).map_or(0, |s| s + 1);
                assert_eq!(s, expected, "stages in order: {line}");
                stage.insert(order, s);
                if s == 3 {
                    shipped += 1;
                    let t = parse_rfc3339(e["time"].as_str().expect("time")).expect("time");
                    let by =
                        parse_rfc3339(d["ship_by"].as_str().expect("ship_by")).expect("ship_by");
                    if t > by {
                        late += 1;
                    }
                }
            }
            "order.cancelled" | "payment.failed" => {
                if let Some(order) = order {
                    assert!(totals.contains_key(&order), "{line}");
                }
            }
            _ => {}
        }
    }
    assert!(totals.len() > 5_000);
    assert!(money_numbers > 0, "some money as JSON numbers");
    assert!(
        shipped > 1000 && late > 0 && late * 4 < shipped,
        "late {late} of {shipped}"
    );
}

#[test]
fn ids_are_unique() {
    let mut ids = HashSet::new();
    for line in generate(cfg(5), 100_000) {
        let e: Value = serde_json::from_str(&line).expect("valid JSON");
        assert!(
            ids.insert(e["id"].as_str().expect("id").to_string()),
            "duplicate id"
        );
    }
    // Another seed gives other ids.
    let other = generate(cfg(6), 1000);
    for line in other {
        let e: Value = serde_json::from_str(&line).expect("valid JSON");
        assert!(!ids.contains(e["id"].as_str().expect("id")));
    }
}

#[test]
fn deterministic_per_seed() {
    let a = generate(cfg(42), 50_000);
    let b = generate(cfg(42), 50_000);
    assert!(a == b, "same seed, same bytes");
    let c = generate(cfg(43), 50_000);
    assert_ne!(a, c);
    let d = generate(
        GeneratorConfig {
            start_time_us: 0,
            ..cfg(42)
        },
        50_000,
    );
    assert_ne!(a, d);
}

fn fnv1a(lines: &[String]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for line in lines {
        for b in line.bytes().chain(std::iter::once(b'\n')) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Pins the output for the default configuration. If you changed the model on purpose,
/// update the constant: every benchmark's input changes with it, so say so in the
/// commit message.
#[test]
fn golden_output() {
    let lines = generate(GeneratorConfig::default(), 20_000);
    assert_eq!(
        lines[0],
        r#"{"specversion":"1.0","id":"0313bf03-0","source":"web/shop","type":"api.request","time":"2026-01-01T00:00:00.000Z","data":{"endpoint":"/search","status":200,"latency_ms":51.3,"method":"GET"}}"#
    );
    assert_eq!(fnv1a(&lines), GOLDEN, "got {:#x}", fnv1a(&lines));
}

const GOLDEN: u64 = 0x9372_32a8_cbd8_2ba5;

#[test]
fn mix_is_roughly_as_intended() {
    let n = 300_000;
    let mut count: HashMap<String, usize> = HashMap::new();
    let mut bytes = 0;
    for line in generate(cfg(9), n) {
        bytes += line.len();
        let e: Value = serde_json::from_str(&line).expect("valid JSON");
        *count
            .entry(e["type"].as_str().expect("type").to_string())
            .or_default() += 1;
    }
    let pct = |t: &str| 100.0 * count.get(t).copied().unwrap_or(0) as f64 / n as f64;
    for (ty, want) in [
        ("page.viewed", 40.0),
        ("api.request", 20.0),
        ("cart.item_added", 8.0),
        ("checkout.started", 4.0),
        ("order.created", 3.0),
        ("order.paid", 3.0),
    ] {
        let got = pct(ty);
        assert!(
            (got - want).abs() <= want * 0.2,
            "{ty}: {got:.2} % (want ~{want} %)"
        );
    }
    let avg = bytes as f64 / n as f64;
    assert!((170.0..240.0).contains(&avg), "average event size {avg}");
}

#[test]
fn disorder_jitters_backwards_within_bound() {
    let config = GeneratorConfig {
        disorder_us: 5_000_000,
        events_per_second: 100.0,
        ..cfg(1)
    };
    let mut g = EventGenerator::new(config.clone());
    let mut out_of_order = 0;
    let mut prev = i64::MIN;
    let step = 10_000; // µs between events at 100/s
    for i in 0..10_000i64 {
        let mut s = String::new();
        g.next_event(&mut s);
        let e: Value = serde_json::from_str(&s).expect("valid JSON");
        let t = parse_rfc3339(e["time"].as_str().expect("time")).expect("time");
        let nominal = config.start_time_us + i * step;
        assert!(
            t <= nominal && t >= nominal - config.disorder_us - 1000,
            "{i}: {t}"
        );
        if t < prev {
            out_of_order += 1;
        }
        prev = t;
    }
    assert!(out_of_order > 1000);
}

#[test]
fn config_strings_are_escaped() {
    let config = GeneratorConfig {
        source: "web/\"odd\"\\shop".into(),
        currency: "EUR".into(),
        ..cfg(1)
    };
    for line in generate(config, 100) {
        let e: Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(e["source"], "web/\"odd\"\\shop");
    }
}
