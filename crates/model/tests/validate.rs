//! Validation of single events against events.md: what passes, and that every rejection
//! names the field.

use sightline_model::envelope::stamp_ingest_time;
use sightline_model::{CurrencyCode, CurrencyPolicy, EventType, RejectionCode, validate_event};

const RECEIVED_AT: i64 = 1_800_000_000_000_000;

fn policy() -> CurrencyPolicy {
    CurrencyPolicy {
        reporting: CurrencyCode::parse("EUR").expect("valid code"),
        convertible: vec![CurrencyCode::parse("USD").expect("valid code")],
    }
}

const EXAMPLE: &str = r#"{"specversion":"1.0","id":"5921","source":"shopify/acme.myshopify.com",
 "type":"order.created","time":"2026-11-27T14:03:11.120Z",
 "data":{"order_id":"5921","total":"84.50","currency":"EUR","customer_id":"c-77",
         "session_id":"s-9d2","region":"DE-BY","channel":"web","segment":"returning",
         "lines":[{"sku":"MUG-01","name":"Mug","quantity":2,"price":"12.25"},
                  {"sku":"TEE-04","name":"Tee","quantity":1,"price":"60.00"}]}}"#;

fn event(event_type: &str, data: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"e-1","source":"test/unit","type":"{event_type}","time":"2026-11-27T10:00:00Z","data":{data}}}"#
    )
}

fn rejection(raw: &str) -> (RejectionCode, String) {
    let outcome = validate_event(raw, &policy(), RECEIVED_AT);
    let error = outcome.expect_err("the event should be rejected");
    (error.code, error.message)
}

#[test]
fn the_spec_example_is_valid() {
    let valid = validate_event(EXAMPLE, &policy(), RECEIVED_AT).expect("example is valid");
    assert_eq!(valid.id, "5921");
    assert_eq!(valid.source, "shopify/acme.myshopify.com");
    assert_eq!(valid.known_type, Some(EventType::OrderCreated));
    assert_eq!(valid.time_us, 1_795_788_191_120_000);
    assert!(!valid.time_from_ingest);
}

#[test]
fn one_valid_event_of_every_catalogue_type() {
    let samples = [
        (
            "order.paid",
            r#"{"order_id":"1","amount":10.5,"currency":"USD","gateway":"stripe"}"#,
        ),
        ("order.cancelled", r#"{"order_id":"1"}"#),
        (
            "refund.created",
            r#"{"order_id":"1","amount":"3","currency":"EUR"}"#,
        ),
        (
            "payment.failed",
            r#"{"gateway":"adyen","checkout_id":"c1","reason":"declined"}"#,
        ),
        (
            "page.viewed",
            r#"{"session_id":"s","visitor_id":"v","path":"/"}"#,
        ),
        (
            "cart.item_added",
            r#"{"session_id":"s","sku":"A","quantity":3}"#,
        ),
        (
            "checkout.started",
            r#"{"session_id":"s","checkout_id":"c"}"#,
        ),
        (
            "fulfillment.stage_changed",
            r#"{"order_id":"1","stage":"picking","ship_by":"2026-11-28T12:00:00+01:00"}"#,
        ),
        (
            "inventory.adjusted",
            r#"{"sku":"A","warehouse":"BER-1","delta":-4}"#,
        ),
        (
            "inventory.counted",
            r#"{"sku":"A","warehouse":"BER-1","on_hand":0}"#,
        ),
        ("production.output", r#"{"line_id":"l1","units":12.5}"#),
        (
            "production.status_changed",
            r#"{"line_id":"l1","status":"fault"}"#,
        ),
        (
            "api.request",
            r#"{"endpoint":"/cart","status":503,"latency_ms":12.7,"method":"GET"}"#,
        ),
        ("queue.depth", r#"{"queue":"emails","depth":17}"#),
    ];
    for (event_type, data) in samples {
        let raw = event(event_type, data);
        let outcome = validate_event(&raw, &policy(), RECEIVED_AT);
        assert!(outcome.is_ok(), "{event_type}: {outcome:?}");
    }
}

#[test]
fn unknown_types_are_accepted_without_a_schema() {
    let raw = event("custom.thing_happened", r#"{"anything":[1,2,3]}"#);
    let valid = validate_event(&raw, &policy(), RECEIVED_AT).expect("unknown types pass");
    assert_eq!(valid.known_type, None);
    assert_eq!(valid.event_type, "custom.thing_happened");
}

#[test]
fn rejections_name_the_field_and_what_was_expected() {
    let cases: &[(String, RejectionCode, &str)] = &[
        (event("order.created", r#"{"total":"1","currency":"EUR"}"#), RejectionCode::MissingField, "data.order_id: required field is missing"),
        (event("order.created", r#"{"order_id":"1","total":true,"currency":"EUR"}"#), RejectionCode::InvalidField, "data.total: expected a decimal amount"),
        (event("order.created", r#"{"order_id":"1","total":"12,5","currency":"EUR"}"#), RejectionCode::InvalidField, "data.total:"),
        (event("order.created", r#"{"order_id":"1","total":"-1","currency":"EUR"}"#), RejectionCode::InvalidField, "data.total: expected an amount of at least 0"),
        (event("order.created", r#"{"order_id":"1","total":"1","currency":"eur"}"#), RejectionCode::InvalidField, "data.currency: expected an ISO 4217 code"),
        (event("order.created", r#"{"order_id":"1","total":"1","currency":"GBP"}"#), RejectionCode::NoCurrencyRate, "data.currency: GBP has no conversion rate to the reporting currency EUR"),
        (event("order.created", r#"{"order_id":"1","total":"1","currency":"EUR","lines":[{"sku":"A","quantity":1,"price":"1"},{"sku":"B","quantity":"2","price":"1"}]}"#), RejectionCode::InvalidField, "data.lines[1].quantity: expected an integer, got \"2\""),
        (event("order.created", r#"{"order_id":"1","total":"1","currency":"EUR","lines":[{"sku":"A","quantity":1}]}"#), RejectionCode::MissingField, "data.lines[0].price: required field is missing"),
        (event("order.created", r#"{"order_id":"1","total":"1","currency":"EUR","region":"Bavaria"}"#), RejectionCode::InvalidField, "data.region: expected an ISO 3166 code"),
        (event("order.created", r#"{"order_id":"","total":"1","currency":"EUR"}"#), RejectionCode::InvalidField, "data.order_id: expected a non-empty string"),
        (event("cart.item_added", r#"{"session_id":"s","sku":"A","quantity":0}"#), RejectionCode::InvalidField, "data.quantity: expected a positive integer, got 0"),
        (event("cart.item_added", r#"{"session_id":"s","sku":"A","quantity":1.5}"#), RejectionCode::InvalidField, "data.quantity: expected an integer, got 1.5"),
        (event("fulfillment.stage_changed", r#"{"order_id":"1","stage":"lost"}"#), RejectionCode::InvalidField, "data.stage: expected one of received, picking, packing, shipped, delivered, got \"lost\""),
        (event("fulfillment.stage_changed", r#"{"order_id":"1","stage":"shipped","ship_by":"tomorrow"}"#), RejectionCode::InvalidField, "data.ship_by:"),
        (event("api.request", r#"{"endpoint":"/","status":700,"latency_ms":1}"#), RejectionCode::InvalidField, "data.status: expected an integer from 100 to 599, got 700"),
        (event("api.request", r#"{"endpoint":"/","status":200,"latency_ms":"fast"}"#), RejectionCode::InvalidField, "data.latency_ms: expected a number"),
        (event("queue.depth", r#"{"queue":"q","depth":null}"#), RejectionCode::MissingField, "data.depth: required field is missing"),
        (event("page.viewed", r#"{"session_id":"s","visitor_id":"v","session_id":"t"}"#), RejectionCode::InvalidField, "data.session_id: expected to appear once"),
        (event("page.viewed", "[1]"), RejectionCode::InvalidField, "data: expected a JSON object, got an array"),
        (r#"{"specversion":"0.3","id":"1","source":"s","type":"t","data":{}}"#.into(), RejectionCode::UnsupportedSpecVersion, "specversion: expected \"1.0\""),
        (r#"{"specversion":"1.0","source":"s","type":"t","data":{}}"#.into(), RejectionCode::MissingField, "id: required field is missing"),
        (r#"{"specversion":"1.0","id":7,"source":"s","type":"t","data":{}}"#.into(), RejectionCode::InvalidField, "id: expected a string, got a number"),
        (r#"{"specversion":"1.0","id":"1","type":"t","data":{}}"#.into(), RejectionCode::MissingField, "source: required field is missing"),
        (r#"{"specversion":"1.0","id":"1","source":"s","data":{}}"#.into(), RejectionCode::MissingField, "type: required field is missing"),
        (r#"{"specversion":"1.0","id":"1","source":"s","type":"t"}"#.into(), RejectionCode::MissingField, "data: required field is missing"),
        (r#"{"specversion":"1.0","id":"1","source":"s","type":"t","time":"yesterday","data":{}}"#.into(), RejectionCode::InvalidField, "time: "),
        (r#"{"specversion":"1.0","id":"1","source":"s","type":"t","time":null,"data":{}}"#.into(), RejectionCode::InvalidField, "time: expected a string, got null"),
        (r#"{"specversion":"1.0","id":"1","id":"2","source":"s","type":"t","data":{}}"#.into(), RejectionCode::InvalidField, "id: expected to appear once"),
        (r#"{"specversion":"1.0","id":"1","source":"s","type":"t","datacontenttype":"text/xml","data":{}}"#.into(), RejectionCode::InvalidField, "datacontenttype:"),
        (r#"{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"AA=="}"#.into(), RejectionCode::InvalidField, "data_base64:"),
        (r#"{"specversion":"1.0","id":"1""#.into(), RejectionCode::InvalidJson, "invalid JSON at line 1 column"),
        ("[1,2]".into(), RejectionCode::InvalidJson, "event: expected a JSON object, got an array"),
        ("".into(), RejectionCode::InvalidJson, "invalid JSON"),
    ];
    for (raw, code, message_start) in cases {
        let (actual_code, message) = rejection(raw);
        assert_eq!(actual_code, *code, "{raw} → {message}");
        assert!(
            message.starts_with(message_start),
            "{raw}\n  got:      {message}\n  expected: {message_start}…"
        );
    }
}

#[test]
fn a_missing_time_is_stamped_with_the_receive_time() {
    let raw = r#"{"specversion":"1.0","id":"1","source":"s","type":"queue.depth","data":{"queue":"q","depth":1}}"#;
    let valid = validate_event(raw, &policy(), RECEIVED_AT).expect("time is optional");
    assert!(valid.time_from_ingest);
    assert_eq!(valid.time_us, RECEIVED_AT);
    let stamped = stamp_ingest_time(raw, valid.time_us);
    let reparsed = validate_event(&stamped, &policy(), 0).expect("stamped event is valid");
    assert_eq!(reparsed.time_us, RECEIVED_AT);
    assert!(!reparsed.time_from_ingest);
    let json: serde_json::Value = serde_json::from_str(&stamped).expect("valid JSON");
    assert_eq!(json["sightlinetimesource"], "ingest");
    assert_eq!(json["data"]["depth"], 1);
}

#[test]
fn escaped_strings_are_unescaped_for_identity() {
    let plain = r#"{"specversion":"1.0","id":"a/b","source":"s","type":"t","data":{}}"#;
    let escaped = r#"{"specversion":"1.0","id":"a\/b","source":"s","type":"t","data":{}}"#;
    let first = validate_event(plain, &policy(), 0).expect("valid");
    let second = validate_event(escaped, &policy(), 0).expect("valid");
    assert_eq!(first.identity_key(), second.identity_key());
}

#[test]
fn data_before_type_is_checked_after_the_walk() {
    let valid = r#"{"data":{"queue":"q","depth":3},"specversion":"1.0","id":"1","source":"s","type":"queue.depth"}"#;
    assert!(validate_event(valid, &policy(), 0).is_ok());
    let invalid = r#"{"data":{"queue":"q","depth":-3},"specversion":"1.0","id":"1","source":"s","type":"queue.depth"}"#;
    let (code, message) = rejection(invalid);
    assert_eq!(code, RejectionCode::InvalidField);
    assert_eq!(
        message,
        "data.depth: expected an integer of at least 0, got -3"
    );
    let no_rate = r#"{"data":{"order_id":"1","amount":"1","currency":"CHF"},"specversion":"1.0","id":"1","source":"s","type":"order.paid"}"#;
    assert_eq!(rejection(no_rate).0, RejectionCode::NoCurrencyRate);
    let unknown_not_object =
        r#"{"data":"text","specversion":"1.0","id":"1","source":"s","type":"custom.x"}"#;
    assert_eq!(
        rejection(unknown_not_object).1,
        "data: expected a JSON object, got a string"
    );
    let unknown_after =
        r#"{"specversion":"1.0","id":"1","source":"s","type":"custom.x","data":[1]}"#;
    assert_eq!(
        rejection(unknown_after).1,
        "data: expected a JSON object, got an array"
    );
}

#[test]
fn lines_must_be_an_array_of_objects() {
    let (_, message) = rejection(&event(
        "order.created",
        r#"{"order_id":"1","total":"1","currency":"EUR","lines":{"sku":"A"}}"#,
    ));
    assert_eq!(
        message,
        "data.lines: expected an array of order lines, got an object"
    );
    let (_, message) = rejection(&event(
        "order.created",
        r#"{"order_id":"1","total":"1","currency":"EUR","lines":[1]}"#,
    ));
    assert_eq!(
        message,
        "data.lines[0]: expected a JSON object, got a number"
    );
    assert!(
        validate_event(
            &event(
                "order.created",
                r#"{"order_id":"1","total":"1","currency":"EUR","lines":null}"#
            ),
            &policy(),
            0
        )
        .is_ok()
    );
    assert!(
        validate_event(
            &event(
                "order.created",
                r#"{"order_id":"1","total":"1","currency":"EUR","lines":[]}"#
            ),
            &policy(),
            0
        )
        .is_ok()
    );
}

#[test]
fn money_numbers_are_read_exactly_or_rejected() {
    for bad in [
        "1e30",
        "123456789012345678901234567890",
        "\"1e30x\"",
        "true",
    ] {
        let raw = event(
            "order.paid",
            &format!(r#"{{"order_id":"1","amount":{bad},"currency":"EUR"}}"#),
        );
        let (code, message) = rejection(&raw);
        assert_eq!(code, RejectionCode::InvalidField, "{bad}");
        assert!(
            message.starts_with("data.amount: expected a decimal amount"),
            "{bad}: {message}"
        );
    }
    for good in ["1.5e2", "199.9", "0", "\"12.50\"", "1e-2"] {
        let raw = event(
            "order.paid",
            &format!(r#"{{"order_id":"1","amount":{good},"currency":"EUR"}}"#),
        );
        assert!(validate_event(&raw, &policy(), 0).is_ok(), "{good}");
    }
}

#[test]
fn long_values_are_cut_short_in_reasons() {
    let long = "a".repeat(100_000);
    let raw = format!(
        r#"{{"specversion":"1.0","id":"1","source":"s","type":"t","time":"{long}","data":{{}}}}"#
    );
    let (_, message) = rejection(&raw);
    assert!(message.len() < 300, "{} bytes", message.len());
    assert!(message.ends_with("… (100000 bytes))"), "{message}");
}

#[test]
fn sightlinetimesource_is_reserved_without_time() {
    let raw = r#"{"specversion":"1.0","id":"1","source":"s","type":"t","sightlinetimesource":"producer","data":{}}"#;
    assert!(rejection(raw).1.starts_with("sightlinetimesource:"));
    let with_time = r#"{"specversion":"1.0","id":"1","source":"s","type":"t","time":"2026-11-27T10:00:00Z","sightlinetimesource":"ingest","data":{}}"#;
    assert!(
        validate_event(with_time, &policy(), 0).is_ok(),
        "a stamped event can be imported again"
    );
}
