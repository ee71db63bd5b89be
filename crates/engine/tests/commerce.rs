//! The built-in commerce pack over a small hand-made day of events, each KPI checked
//! against the value worked out by hand.

use std::collections::HashMap;

use sightline_engine::{
    COMMERCE_PACK, Calendar, Engine, EngineOptions, KpiPack, Observation, TimePolicy,
};
use sightline_model::time::parse_rfc3339;

fn engine() -> Engine {
    engine_with_reorder_points(HashMap::new())
}

fn engine_with_reorder_points(reorder_points: HashMap<String, rust_decimal::Decimal>) -> Engine {
    let kpis = KpiPack::from_toml(COMMERCE_PACK, "commerce")
        .and_then(|pack| pack.compile(&Calendar::utc()))
        .expect("valid pack");
    let options = EngineOptions {
        time: TimePolicy {
            disorder_bound_us: 5_000_000,
            allowed_lateness_us: 3_600_000_000,
            idle_timeout_us: i64::MAX / 4,
        },
        rates: HashMap::from([("USD".to_owned(), "0.5".parse().expect("decimal"))]),
        reorder_points,
        ..EngineOptions::default()
    };
    Engine::new(kpis, options)
}

fn feed(engine: &mut Engine, time: &str, event_type: &str, data: &str) {
    let at = parse_rfc3339(time).expect("timestamp");
    let payload = format!(
        r#"{{"specversion":"1.0","id":"x","source":"t","type":"{event_type}","time":"{time}","data":{data}}}"#
    );
    let observed = engine.process(at, &payload, 0);
    assert!(
        matches!(observed, Observation::Counted | Observation::CountedLate),
        "{payload}: {observed:?}"
    );
}

/// The value of `kpi` in the window labelled `window` that contains `time`, for `group`
/// (`""` for an ungrouped KPI), as JSON text.
fn value(engine: &Engine, kpi: &str, window: &str, time: &str, group: &str) -> String {
    let at = parse_rfc3339(time).expect("timestamp");
    let windows = engine.windows(kpi, at, at + 1).expect("known KPI");
    let found = windows
        .iter()
        .filter(|result| result.window == window && result.start_us <= at && at < result.end_us)
        // Of the sliding windows that contain `time`, the one ending soonest covers the
        // last `size` up to `time`.
        .min_by_key(|result| result.start_us)
        .unwrap_or_else(|| panic!("{kpi}: no {window} window at {time}: {windows:?}"));
    let (_, value) = found
        .values
        .iter()
        .find(|(labels, _)| labels.first().map_or("", |(_, value)| value.as_str()) == group)
        .unwrap_or_else(|| panic!("{kpi}: no group {group:?} in {:?}", found.values));
    value.to_json()
}

#[test]
fn every_kpi_of_the_pack_over_a_small_day() {
    let mut engine = engine();
    // Three sessions view pages; two add to the cart; one checks out and orders.
    for (minute, session) in [
        ("10:00", "s1"),
        ("10:01", "s2"),
        ("10:02", "s3"),
        ("10:02", "s1"),
    ] {
        feed(
            &mut engine,
            &format!("2026-11-27T{minute}:00Z"),
            "page.viewed",
            &format!(r#"{{"session_id":"{session}","visitor_id":"v-{session}"}}"#),
        );
    }
    feed(
        &mut engine,
        "2026-11-27T10:03:00Z",
        "cart.item_added",
        r#"{"session_id":"s1","sku":"A","quantity":1}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:03:30Z",
        "cart.item_added",
        r#"{"session_id":"s2","sku":"B","quantity":2}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:04:00Z",
        "checkout.started",
        r#"{"session_id":"s1","checkout_id":"c1"}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:05:00Z",
        "order.created",
        r#"{"order_id":"o1","total":"84.50","currency":"EUR","session_id":"s1","region":"DE-BY","channel":"web","segment":"returning","lines":[{"sku":"MUG","quantity":2,"price":"12.25"},{"sku":"TEE","quantity":1,"price":"60.00"}]}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:05:10Z",
        "order.created",
        r#"{"order_id":"o2","total":"31.00","currency":"USD","region":"US-CA","channel":"pos","segment":"new","lines":[{"sku":"MUG","quantity":1,"price":31}]}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:05:20Z",
        "order.paid",
        r#"{"order_id":"o1","amount":"84.50","currency":"EUR","gateway":"stripe","session_id":"s1"}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:05:30Z",
        "payment.failed",
        r#"{"gateway":"stripe","order_id":"o3"}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:05:40Z",
        "payment.failed",
        r#"{"gateway":"stripe","order_id":"o3"}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:06:00Z",
        "refund.created",
        r#"{"order_id":"o1","amount":"4.50","currency":"EUR"}"#,
    );
    for (latency, status) in [(10, 200), (20, 200), (30, 503), (1000, 200)] {
        feed(
            &mut engine,
            "2026-11-27T10:06:10Z",
            "api.request",
            &format!(r#"{{"endpoint":"/cart","status":{status},"latency_ms":{latency}}}"#),
        );
    }
    feed(
        &mut engine,
        "2026-11-27T10:06:20Z",
        "queue.depth",
        r#"{"queue":"emails","depth":7}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:06:25Z",
        "queue.depth",
        r#"{"queue":"emails","depth":3}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:06:30Z",
        "production.status_changed",
        r#"{"line_id":"line-1","status":"fault"}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:06:40Z",
        "production.output",
        r#"{"line_id":"line-1","units":12}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:06:50Z",
        "production.output",
        r#"{"line_id":"line-1","units":8.5}"#,
    );

    // Stock: a count, an adjustment after it, and a late adjustment from before the count
    // (already in the count, so ignored).
    feed(
        &mut engine,
        "2026-11-27T10:00:30Z",
        "inventory.counted",
        r#"{"sku":"MUG","warehouse":"BER-1","on_hand":40}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:01:00Z",
        "inventory.adjusted",
        r#"{"sku":"MUG","warehouse":"BER-1","delta":-3}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:00:10Z",
        "inventory.adjusted",
        r#"{"sku":"MUG","warehouse":"BER-1","delta":-5}"#,
    );
    // Fulfilment: o1 is packing, o2 was delivered, o3 is still received with a passed
    // ship-by, o4 is received with a ship-by in the future.
    for (time, order, stage, ship_by) in [
        ("10:01:00", "o1", "received", Some("2026-11-27T10:02:00Z")),
        ("10:02:00", "o1", "packing", None),
        ("10:01:00", "o2", "received", None),
        ("10:03:00", "o2", "shipped", None),
        ("10:04:00", "o2", "delivered", None),
        ("10:01:30", "o3", "received", Some("2026-11-27T10:03:00Z")),
        ("10:02:30", "o4", "received", Some("2026-11-27T12:00:00Z")),
    ] {
        let ship_by = ship_by.map_or(String::new(), |deadline| {
            format!(r#","ship_by":"{deadline}""#)
        });
        feed(
            &mut engine,
            &format!("2026-11-27T{time}Z"),
            "fulfillment.stage_changed",
            &format!(r#"{{"order_id":"{order}","stage":"{stage}"{ship_by}}}"#),
        );
    }
    let now = "2026-11-27T10:06:55Z";
    assert_eq!(
        value(&engine, "orders", "1m", "2026-11-27T10:05:30Z", ""),
        "2"
    );
    assert_eq!(value(&engine, "orders", "1h", now, ""), "2");
    // 84.50 EUR + 31.00 USD at 0.5 = 100.00 EUR, exactly.
    assert_eq!(value(&engine, "revenue_today", "day", now, ""), "100");
    assert_eq!(value(&engine, "refunds_today", "day", now, ""), "4.5");
    assert_eq!(
        value(&engine, "average_order_value", "1h/1m", now, ""),
        "50"
    );
    assert_eq!(
        value(&engine, "revenue_by_segment_today", "day", now, "returning"),
        "84.5"
    );
    assert_eq!(
        value(&engine, "revenue_by_channel_today", "day", now, "pos"),
        "15.5"
    );
    assert_eq!(
        value(&engine, "orders_by_region_today", "day", now, "US-CA"),
        r#"{"count":1,"revenue":15.5}"#
    );
    // MUG: 2 × 12.25 EUR + 1 × 31 USD at 0.5 = 40 EUR over 3 units; TEE: 60 EUR, 1 unit.
    let day = parse_rfc3339(now).expect("time");
    let top = engine
        .windows("top_products_today", day, day + 1)
        .expect("known");
    let ranked: Vec<(String, String)> = top[0]
        .values
        .iter()
        .map(|(group, value)| (group[0].1.clone(), value.to_json()))
        .collect();
    assert_eq!(
        ranked,
        vec![
            (
                "TEE".to_owned(),
                r#"{"count":1,"revenue":60,"units":1}"#.to_owned()
            ),
            (
                "MUG".to_owned(),
                r#"{"count":2,"revenue":40,"units":3}"#.to_owned()
            ),
        ],
        "ordered by revenue, largest first"
    );
    // One of three viewing sessions ordered; one of two carting sessions ordered.
    assert_eq!(
        value(&engine, "conversion_rate", "30m/1m", now, ""),
        "0.333333"
    );
    assert_eq!(
        value(&engine, "cart_abandonment_rate", "1h/1m", now, ""),
        "0.5"
    );
    assert_eq!(value(&engine, "funnel", "30m/1m", now, "page.viewed"), "3");
    assert_eq!(
        value(&engine, "funnel", "30m/1m", now, "cart.item_added"),
        "2"
    );
    assert_eq!(
        value(&engine, "funnel", "30m/1m", now, "checkout.started"),
        "1"
    );
    assert_eq!(value(&engine, "funnel", "30m/1m", now, "order.paid"), "1");
    // Two failures, one success at stripe.
    assert_eq!(
        value(&engine, "payment_failure_rate", "5m/10s", now, "stripe"),
        "0.666667"
    );
    assert_eq!(value(&engine, "error_rate", "5m/10s", now, "/cart"), "0.25");
    let latency = value(&engine, "api_latency", "5m/10s", now, "/cart");
    let latency: serde_json::Value = serde_json::from_str(&latency).expect("an object");
    let p50 = latency["p50"].as_f64().expect("p50");
    assert!((p50 - 20.0).abs() <= 0.2, "p50 {p50} is 20 within 1 %");
    let p99 = latency["p99"].as_f64().expect("p99");
    // p99 of four values is the third by rank (floor(0.99 * 3) = 2): 30, within 1 %.
    assert!((p99 - 30.0).abs() <= 0.3, "p99 {p99}");
    // The last five minutes (from 10:02) saw visitors v-s3 and v-s1 only.
    assert_eq!(value(&engine, "active_users", "5m/10s", now, ""), "2");
    assert_eq!(value(&engine, "queue_depth", "current", now, "emails"), "3");
    assert!(
        value(&engine, "production_line_status", "current", now, "line-1")
            .starts_with(r#"{"status":"fault","#)
    );
    assert_eq!(
        value(&engine, "production_output_rate", "1h/1m", now, "line-1"),
        "20.5"
    );
    assert_eq!(
        value(&engine, "inventory_on_hand", "current", now, "MUG"),
        r#"{"level":37,"status":"ok"}"#
    );
    assert_eq!(
        value(&engine, "fulfillment_pipeline", "current", now, ""),
        r#"{"packing":1,"received":2}"#
    );
    // o1 was packing when its ship-by (10:02) passed: still not shipped, so late too.
    let delays: serde_json::Value =
        serde_json::from_str(&value(&engine, "shipping_delays", "current", now, ""))
            .expect("object");
    assert_eq!(delays["count"], 2);
    assert_eq!(delays["oldest"][0]["key"], "o1");
    assert_eq!(delays["oldest"][1]["key"], "o3");
    assert_eq!(delays["oldest"][1]["deadline"], "2026-11-27T10:03:00.000Z");
}

#[test]
fn sessions_close_after_the_gap_and_report_revenue_per_session() {
    let mut engine = engine();
    feed(
        &mut engine,
        "2026-11-27T10:00:00Z",
        "page.viewed",
        r#"{"session_id":"s1","visitor_id":"v1"}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:10:00Z",
        "order.created",
        r#"{"order_id":"o1","total":"50.00","currency":"EUR","session_id":"s1"}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:05:00Z",
        "page.viewed",
        r#"{"session_id":"s2","visitor_id":"v2"}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:06:00Z",
        "order.created",
        r#"{"order_id":"o2","total":"60.00","currency":"USD","session_id":"s2"}"#,
    );
    // 45 minutes later s2 comes back: its first session (closed 10:36) is over.
    feed(
        &mut engine,
        "2026-11-27T10:51:00Z",
        "page.viewed",
        r#"{"session_id":"s2","visitor_id":"v2"}"#,
    );
    // Nothing closes before the watermark passes: s1 closes at 10:40, s2's second at 11:21.
    feed(
        &mut engine,
        "2026-11-27T11:30:00Z",
        "queue.depth",
        r#"{"queue":"q","depth":1}"#,
    );
    assert!(
        engine
            .windows("revenue_per_session", 0, i64::MAX / 2)
            .expect("known")
            .iter()
            .all(|window| window.start_us < parse_rfc3339("2026-11-27T11:22:00Z").expect("t"))
    );
    feed(
        &mut engine,
        "2026-11-27T11:30:00Z",
        "page.viewed",
        r#"{"session_id":"s9","visitor_id":"v9"}"#,
    );
    // Sessions closed at 10:36 (60 USD = 30 EUR), 10:40 (50 EUR) and 11:21 (nothing):
    // the hour before 11:25 holds all three.
    assert_eq!(
        value(
            &engine,
            "revenue_per_session",
            "1h/1m",
            "2026-11-27T11:25:00Z",
            ""
        ),
        r#"{"count":3,"mean":26.666667}"#
    );
}

#[test]
fn a_late_event_bridges_two_sessions_into_one() {
    let mut engine = engine();
    let session = r#"{"session_id":"s3","visitor_id":"v3"}"#;
    feed(&mut engine, "2026-11-27T10:00:00Z", "page.viewed", session);
    feed(
        &mut engine,
        "2026-11-27T10:00:30Z",
        "order.created",
        r#"{"order_id":"o3","total":"50.00","currency":"EUR","session_id":"s3"}"#,
    );
    // 50 minutes on: a second session; the watermark (10:49:55) closes the first at 10:30:30.
    feed(&mut engine, "2026-11-27T10:50:00Z", "page.viewed", session);
    let before = value(
        &engine,
        "revenue_per_session",
        "1h/1m",
        "2026-11-27T10:31:00Z",
        "",
    );
    assert_eq!(before, r#"{"count":1,"mean":50}"#);
    // A late view at 10:25 lies within 30 minutes of both: they were one session all along.
    feed(&mut engine, "2026-11-27T10:25:00Z", "page.viewed", session);
    let retracted = engine
        .windows("revenue_per_session", 0, i64::MAX / 2)
        .expect("known")
        .iter()
        .filter(|window| {
            window.start_us <= parse_rfc3339("2026-11-27T10:31:00Z").expect("t")
                && parse_rfc3339("2026-11-27T10:31:00Z").expect("t") < window.end_us
        })
        .flat_map(|window| window.values.iter().map(|(_, value)| value.to_json()))
        .collect::<Vec<_>>();
    assert!(
        retracted.iter().all(|value| value == "null"),
        "the first session's close is taken back: {retracted:?}"
    );
    // The merged session (10:00 to 10:50) closes at 11:20, once, with its 50 EUR.
    feed(
        &mut engine,
        "2026-11-27T11:30:00Z",
        "page.viewed",
        r#"{"session_id":"s9","visitor_id":"v9"}"#,
    );
    assert_eq!(
        value(
            &engine,
            "revenue_per_session",
            "1h/1m",
            "2026-11-27T11:25:00Z",
            ""
        ),
        r#"{"count":1,"mean":50}"#
    );
}

/// Validation accepts any members in an order line and in the envelope: the engine must
/// find the ones it reads however many come before them.
#[test]
fn fields_are_found_after_many_other_members() {
    let mut engine = engine();
    let extras: String = (0..20)
        .map(|index| format!(r#""extra{index}":"x","#))
        .collect();
    // A line whose sku, quantity and price come after twenty other members.
    feed(
        &mut engine,
        "2026-11-27T10:00:00Z",
        "order.created",
        &format!(
            r#"{{"order_id":"o1","total":"24.50","currency":"EUR","lines":[{{{extras}"sku":"MUG","quantity":2,"price":"12.25"}}]}}"#
        ),
    );
    // `data` before `type`, after twenty extension attributes.
    let at = parse_rfc3339("2026-11-27T10:01:00Z").expect("timestamp");
    let payload = format!(
        r#"{{"specversion":"1.0","id":"o2","source":"t",{extras}"data":{{"order_id":"o2","total":"10","currency":"EUR"}},"type":"order.created","time":"2026-11-27T10:01:00Z"}}"#
    );
    assert_eq!(engine.process(at, &payload, 0), Observation::Counted);
    let now = "2026-11-27T10:01:00Z";
    assert_eq!(
        value(&engine, "top_products_today", "day", now, "MUG"),
        r#"{"count":1,"revenue":24.5,"units":2}"#
    );
    assert_eq!(value(&engine, "revenue_today", "day", now, ""), "34.5");
    let skipped = engine.skipped();
    assert!(
        !skipped
            .iter()
            .any(|(kpi, _, _)| kpi == "top_products_today" || kpi == "revenue_today"),
        "{skipped:?}"
    );
}

#[test]
fn numbers_past_the_exact_range_are_skipped_not_fatal() {
    let mut engine = engine();
    feed(
        &mut engine,
        "2026-11-27T10:00:00Z",
        "order.created",
        r#"{"order_id":"o1","total":"1","currency":"EUR","lines":[{"sku":"A","quantity":1000000000000,"price":"100000000000000000000"}]}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:00:01Z",
        "order.created",
        r#"{"order_id":"o2","total":"50000000000000000000000000000","currency":"EUR"}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:00:02Z",
        "order.created",
        r#"{"order_id":"o3","total":"50000000000000000000000000000","currency":"EUR"}"#,
    );
    assert!(
        engine
            .skipped()
            .iter()
            .any(|(kpi, reason, _)| kpi == "top_products_today"
                && reason == "value out of the exact decimal range")
    );
    // Sums saturate instead of panicking; the engine keeps going.
    assert_eq!(
        value(&engine, "orders", "1m", "2026-11-27T10:00:02Z", ""),
        "3"
    );
    let _ = engine.windows("revenue_today", 0, i64::MAX / 2);
    let _ = engine.process(
        i64::MAX - 1,
        r#"{"type":"order.created","data":{"order_id":"x","total":"1","currency":"EUR"}}"#,
        0,
    );
    let _ = engine.process(
        i64::MIN + 1,
        r#"{"type":"order.created","data":{"order_id":"y","total":"1","currency":"EUR"}}"#,
        0,
    );
}

#[test]
fn stock_levels_turn_low_at_the_reorder_point_and_out_at_zero() {
    let mut engine = engine();
    feed(
        &mut engine,
        "2026-11-27T10:00:00Z",
        "inventory.counted",
        r#"{"sku":"A","warehouse":"W","on_hand":12}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:00:00Z",
        "inventory.counted",
        r#"{"sku":"B","warehouse":"W","on_hand":3}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:01:00Z",
        "inventory.adjusted",
        r#"{"sku":"A","warehouse":"W","delta":-2}"#,
    );
    feed(
        &mut engine,
        "2026-11-27T10:01:00Z",
        "inventory.adjusted",
        r#"{"sku":"B","warehouse":"W","delta":-3}"#,
    );
    let now = "2026-11-27T10:02:00Z";
    assert_eq!(
        value(&engine, "inventory_on_hand", "current", now, "A"),
        r#"{"level":10,"status":"low"}"#
    );
    assert_eq!(
        value(&engine, "inventory_on_hand", "current", now, "B"),
        r#"{"level":0,"status":"out"}"#
    );
}

#[test]
fn a_sku_with_its_own_reorder_point_is_judged_by_it() {
    // A is low at 50 (a fast seller); B has no point of its own: the pack's 10.
    let mut engine = engine_with_reorder_points(HashMap::from([(
        "A".to_owned(),
        "50".parse().expect("decimal"),
    )]));
    for (sku, warehouse, on_hand) in [("A", "W", 40), ("A", "V", 60), ("B", "W", 40)] {
        feed(
            &mut engine,
            "2026-11-27T10:00:00Z",
            "inventory.counted",
            &format!(r#"{{"sku":"{sku}","warehouse":"{warehouse}","on_hand":{on_hand}}}"#),
        );
    }
    let statuses: Vec<String> = engine
        .windows("inventory_on_hand", 0, i64::MAX / 2)
        .expect("known KPI")
        .iter()
        .flat_map(|window| window.values.iter())
        .map(|(group, value)| {
            let labels: Vec<&str> = group.iter().map(|(_, label)| label.as_str()).collect();
            format!("{} {}", labels.join("/"), value.to_json())
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            r#"A/V {"level":60,"status":"ok"}"#,
            r#"A/W {"level":40,"status":"low"}"#,
            r#"B/W {"level":40,"status":"ok"}"#,
        ]
    );
}

#[test]
fn production_lines_report_status_and_minutes_down_today() {
    let mut engine = engine();
    for (time, status) in [
        ("10:00:00", "running"),
        ("10:10:00", "fault"),
        ("10:40:00", "running"),
        ("11:00:00", "idle"),
    ] {
        feed(
            &mut engine,
            &format!("2026-11-27T{time}Z"),
            "production.status_changed",
            &format!(r#"{{"line_id":"line-1","status":"{status}"}}"#),
        );
    }
    // Moves the watermark to 11:29:55: the idle stretch so far is 29 min 55 s.
    feed(
        &mut engine,
        "2026-11-27T11:30:00Z",
        "production.output",
        r#"{"line_id":"line-2","units":1}"#,
    );
    assert_eq!(
        value(
            &engine,
            "production_line_status",
            "day",
            "2026-11-27T11:30:00Z",
            "line-1"
        ),
        r#"{"status":"idle","minutes_down":59.9}"#
    );
}

/// Fields picked out of the validation walk (`FieldCapture`, as `sightline import` feeds
/// the engine) are the fields a `FieldReader` reads from the stored event, over a
/// generated stream of every type, and most events take the capture.
#[test]
fn fields_captured_during_validation_are_the_fields_read() {
    use sightline_generator::{EventGenerator, GeneratorConfig};
    use sightline_model::{CurrencyCode, CurrencyPolicy, validate_event_observed};
    let mut generator = EventGenerator::new(GeneratorConfig::default());
    let mut reader = engine().field_reader();
    let capture_reader = reader.clone();
    let mut capture = capture_reader.capture();
    let currencies = CurrencyPolicy::reporting_only(CurrencyCode::parse("EUR").expect("EUR"));
    let (mut read, mut captured) = (
        sightline_engine::ReadFields::default(),
        sightline_engine::ReadFields::default(),
    );
    let mut line = String::new();
    let mut taken = 0;
    for _ in 0..30_000 {
        line.clear();
        generator.next_event(&mut line);
        capture.start();
        let (_, complete) = validate_event_observed(&line, &currencies, 0, &mut capture)
            .unwrap_or_else(|rejection| panic!("{rejection:?}: {line}"));
        if !complete {
            continue;
        }
        taken += 1;
        capture.finish(&mut captured);
        reader.read(&line, &mut read);
        assert_eq!(captured, read, "{line}");
    }
    assert!(taken > 29_000, "only {taken} of 30000 took the capture");
}

/// Reading fields on another thread (`FieldReader` + `process_read`, as the KPI runner
/// does) counts exactly what `process` counts, over a generated stream of every type.
#[test]
fn fields_read_apart_count_as_processing_does() {
    use sightline_generator::{EventGenerator, GeneratorConfig};
    let mut generator = EventGenerator::new(GeneratorConfig {
        disorder_us: 30_000_000,
        ..GeneratorConfig::default()
    });
    let mut whole = engine();
    let mut apart = engine();
    // And in runs of events (`process_read_all`, as the runner counts a batch).
    let mut in_runs = engine();
    let mut reader = apart.field_reader();
    let mut fields = sightline_engine::ReadFields::default();
    let mut line = String::new();
    // The run's fields side by side in a column, as the runner keeps a batch's.
    let mut run: Vec<(i64, String)> = Vec::new();
    let mut column = sightline_engine::FieldsColumn::default();
    let mut run_observations = Vec::new();
    let mut observations = Vec::new();
    for index in 0..30_000 {
        line.clear();
        generator.next_event(&mut line);
        let time = generator.last_event_time_us();
        reader.read(&line, &mut fields);
        let observed = whole.process(time, &line, 0);
        assert_eq!(
            observed,
            apart.process_read(time, &line, &fields, 0),
            "{line}"
        );
        observations.push((observed, apart.event_watermark()));
        run.push((time, line.clone()));
        column.push(&fields);
        if index % 777 == 0 || index == 29_999 {
            let events = run
                .iter()
                .zip(column.iter())
                .map(|((time, payload), fields)| (*time, payload.as_str(), fields));
            in_runs.process_read_all(events, 0, |_, observed, watermark| {
                run_observations.push((observed, watermark));
            });
            run.clear();
            column.clear();
        }
    }
    assert_eq!(run_observations, observations);
    assert!(
        observations
            .iter()
            .any(|(observed, _)| *observed == Observation::CountedLate),
        "the disorder makes some events late"
    );
    let names: Vec<String> = whole.kpis().map(|kpi| kpi.name.clone()).collect();
    for name in names {
        let expected = whole.windows(&name, i64::MIN / 2, i64::MAX / 2);
        assert_eq!(
            expected,
            apart.windows(&name, i64::MIN / 2, i64::MAX / 2),
            "{name}"
        );
        assert_eq!(
            expected,
            in_runs.windows(&name, i64::MIN / 2, i64::MAX / 2),
            "{name}"
        );
    }
    // An escaped type and a payload that is not an object.
    let escaped = r#"{"specversion":"1.0","id":"e","source":"t","type":"order.creat\u0065d","time":"2026-11-27T10:00:00Z","data":{"order_id":"o9","total":"5","currency":"EUR"}}"#;
    let at = parse_rfc3339("2026-11-27T10:00:00Z").expect("time");
    reader.read(escaped, &mut fields);
    assert_eq!(
        apart.process_read(at, escaped, &fields, 0),
        whole.process(at, escaped, 0)
    );
    reader.read("[1,2]", &mut fields);
    assert_eq!(
        apart.process_read(at, "[1,2]", &fields, 0),
        Observation::Unused
    );
}

/// What a push sends after a step: the windows that hold the counted events, those the
/// watermark made final, and of a sliding definition only the current and final windows.
#[test]
fn changed_windows_are_the_touched_the_newly_final_and_the_current() {
    let mut engine = engine();
    let order = |id: &str| {
        format!(r#"{{"order_id":"{id}","total":"10.00","currency":"EUR","channel":"web"}}"#)
    };
    let before = engine.watermark();
    feed(
        &mut engine,
        "2026-11-27T10:00:30Z",
        "order.created",
        &order("a"),
    );
    let touched = engine.take_touched();
    let span_of = |touched: &[(String, i64, i64)], name: &str| {
        touched
            .iter()
            .find(|(kpi, _, _)| kpi == name)
            .map(|(_, first, last)| (*first, *last))
    };
    let at = parse_rfc3339("2026-11-27T10:00:30Z").expect("time");
    assert_eq!(span_of(&touched, "orders"), Some((at, at)));
    assert!(
        span_of(&touched, "api_latency").is_none(),
        "no request was counted"
    );
    assert!(engine.take_touched().is_empty(), "taken once");

    let changed = |engine: &Engine, name: &str, touched: &[(String, i64, i64)], before| {
        engine
            .changed_windows(name, span_of(touched, name), before)
            .expect("a KPI of the pack")
            .into_iter()
            .map(|window| (window.window, window.start_us, window.is_final))
            .collect::<Vec<_>>()
    };
    let minute = |text: &str| parse_rfc3339(text).expect("time");
    assert_eq!(
        changed(&engine, "orders", &touched, before),
        vec![
            ("1m".to_owned(), minute("2026-11-27T10:00:00Z"), false),
            ("1h".to_owned(), minute("2026-11-27T10:00:00Z"), false),
        ]
    );
    // An hour wide sliding every minute: the order is in 60 open windows; only the
    // current one is sent.
    let sliding = changed(&engine, "average_order_value", &touched, before);
    assert_eq!(sliding.len(), 1, "{sliding:?}");
    assert!(!sliding[0].2);

    // Five minutes later: the 10:00 minute became final, the 10:05 minute holds the new
    // order, and the sliding KPI sends its newly final windows and the current one.
    let before = engine.watermark();
    feed(
        &mut engine,
        "2026-11-27T10:05:30Z",
        "order.created",
        &order("b"),
    );
    let touched = engine.take_touched();
    let orders = changed(&engine, "orders", &touched, before);
    assert!(
        orders.contains(&("1m".to_owned(), minute("2026-11-27T10:00:00Z"), true)),
        "{orders:?}"
    );
    assert!(
        orders.contains(&("1m".to_owned(), minute("2026-11-27T10:05:00Z"), false)),
        "{orders:?}"
    );
    assert!(
        orders.contains(&("1h".to_owned(), minute("2026-11-27T10:00:00Z"), false)),
        "{orders:?}"
    );
    let sliding = changed(&engine, "average_order_value", &touched, before);
    assert!(
        sliding.len() <= 6 && sliding.iter().filter(|window| !window.2).count() == 1,
        "{sliding:?}"
    );
    // Nothing counted and the clock still: nothing to send.
    let before = engine.watermark();
    assert!(changed(&engine, "orders", &[], before).is_empty());
}

/// The benchmark's probe KPI (`bench/push-probe.toml`) stays a valid definition.
#[test]
fn the_push_probe_benchmark_kpi_compiles() {
    let pack = KpiPack::from_toml(
        include_str!("../../../bench/push-probe.toml"),
        "bench/push-probe.toml",
    )
    .expect("valid TOML");
    let kpis = pack.compile(&Calendar::utc()).expect("compiles");
    assert_eq!(kpis.len(), 1);
    assert_eq!(kpis[0].name, "push_probe");
}
