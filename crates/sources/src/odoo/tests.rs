use serde_json::{Value, json};

use super::*;

fn settings() -> Settings {
    Settings {
        source: "odoo/prod".into(),
        currency: Some("EUR".into()),
        ..Settings::default()
    }
}

fn receiver(dir: &Path) -> OdooReceiver {
    OdooReceiver::for_tests(settings(), &["s3cret-token"], dir).expect("opens")
}

fn record(model: &str, id: i64, fields: Value) -> OdooRecord {
    OdooRecord {
        model: model.into(),
        id,
        fields: fields.as_object().cloned().expect("object"),
    }
}

fn data(event: &OutEvent) -> Value {
    serde_json::from_slice::<Value>(&event.json).expect("JSON")["data"].clone()
}

#[test]
fn tokens_are_compared_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = receiver(dir.path());
    assert!(receiver.authenticate("s3cret-token"));
    assert!(!receiver.authenticate("s3cret-toke"));
    assert!(!receiver.authenticate("s3cret-token2"));
    assert!(!receiver.authenticate(""));
    let refused = receiver
        .receive_webhook("guess", b"{}", 0)
        .expect_err("unknown token");
    assert_eq!((refused.status, refused.reason), (401, "unknown_token"));
}

/// A confirmed order as Odoo 17's "Send Webhook Notification" sends it: many2ones as
/// ids, datetimes as naive UTC text, `false` for empty fields.
const WEBHOOK_ORDER: &str = r#"{
    "_action": "Send Webhook Notification(#41)",
    "_id": 42,
    "_model": "sale.order",
    "id": 42,
    "name": "S00042",
    "state": "sale",
    "date_order": "2026-11-27 14:03:11",
    "amount_total": 84.5,
    "currency_id": 1,
    "partner_id": 7,
    "client_order_ref": false,
    "order_line": [101, 102],
    "write_date": "2026-11-27 14:03:12"
}"#;

#[test]
fn a_confirmed_order_from_a_webhook_is_an_order_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = receiver(dir.path());
    let batch = receiver
        .receive_webhook("s3cret-token", WEBHOOK_ORDER.as_bytes(), 0)
        .expect("accepted");
    assert_eq!(batch.events.len(), 1);
    let event: Value = serde_json::from_slice(&batch.events[0].json).expect("JSON");
    assert_eq!(event["id"], "sale.order/42/created");
    assert_eq!(event["source"], "odoo/prod");
    assert_eq!(event["type"], "order.created");
    assert_eq!(event["time"], "2026-11-27T14:03:11.000Z");
    assert_eq!(event["odoovia"], "webhook");
    assert_eq!(
        event["data"],
        json!({"order_id": "42", "order_name": "S00042", "total": "84.5", "currency": "EUR", "customer_id": "7"})
    );
    // The same order from the poller (pairs, lines) has the same identity.
    let polled = record(
        "sale.order",
        42,
        json!({
            "id": 42, "name": "S00042", "state": "sale", "date_order": "2026-11-27 14:03:11",
            "amount_total": 84.5, "currency_id": [2, "USD"], "partner_id": [7, "Azure Interior"],
            "write_date": "2026-11-27 14:03:12",
            "order_line": [
                {"product_id": [5, "[MUG-01] Mug"], "product_uom_qty": 2.0, "price_unit": 12.25, "discount": 0.0, "name": "Mug", "display_type": false, "product_default_code": "MUG-01"},
                {"product_id": false, "product_uom_qty": 0.0, "price_unit": 0.0, "name": "Section", "display_type": "line_section"},
                {"product_id": [6, "Tee"], "product_uom_qty": 1.0, "price_unit": 80.0, "discount": 25.0, "name": "Tee", "display_type": false}
            ]
        }),
    );
    let batch = receiver
        .translate(Via::Poll, &[polled], 0)
        .expect("translates");
    assert_eq!(batch.events[0].id, "sale.order/42/created");
    let data = data(&batch.events[0]);
    assert_eq!(data["currency"], "USD", "the pair's name is the code");
    assert_eq!(
        data["lines"],
        json!([
            {"sku": "MUG-01", "name": "Mug", "quantity": 2, "price": "12.25"},
            {"sku": "product-6", "name": "Tee", "quantity": 1, "price": "60"}
        ])
    );
    assert_eq!(receiver.learned_sku(5).as_deref(), Some("MUG-01"));
}

#[test]
fn quotations_are_skipped_and_bad_records_name_the_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = receiver(dir.path());
    let draft = WEBHOOK_ORDER.replace("\"state\": \"sale\"", "\"state\": \"draft\"");
    let batch = receiver
        .receive_webhook("s3cret-token", draft.as_bytes(), 0)
        .expect("accepted");
    assert!(batch.events.is_empty());
    let broken = WEBHOOK_ORDER.replace("\"amount_total\": 84.5,", "");
    let refused = receiver
        .receive_webhook("s3cret-token", broken.as_bytes(), 0)
        .expect_err("no total");
    assert_eq!(refused.status, 400);
    assert_eq!(refused.message, "amount_total: required field is missing");
    let no_model = receiver
        .receive_webhook("s3cret-token", br#"{"_id": 4}"#, 0)
        .expect_err("no model");
    assert!(
        no_model.message.starts_with("_model: "),
        "{}",
        no_model.message
    );
    let not_json = receiver
        .receive_webhook("s3cret-token", b"state=sale", 0)
        .expect_err("not JSON");
    assert_eq!(not_json.status, 400);
    // A currency the configuration cannot name, without a company currency.
    let strict = OdooReceiver::for_tests(
        Settings {
            source: "odoo/prod".into(),
            ..Settings::default()
        },
        &["t"],
        &dir.path().join("strict"),
    )
    .expect("opens");
    let refused = strict
        .receive_webhook("t", WEBHOOK_ORDER.as_bytes(), 0)
        .expect_err("unknown currency");
    assert!(
        refused
            .message
            .starts_with("currency_id: currency 1 has no ISO code"),
        "{}",
        refused.message
    );
}

#[test]
fn pickings_quants_and_productions_map_to_operations_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = receiver(dir.path());
    let records = [
        record(
            "stock.picking",
            9,
            json!({"name": "WH/OUT/00009", "state": "assigned", "sale_id": 42, "picking_type_code": "outgoing",
                   "scheduled_date": "2026-11-28 09:00:00", "date_deadline": false, "date_done": false,
                   "write_date": "2026-11-27 15:00:00"}),
        ),
        record(
            "stock.picking",
            10,
            json!({"name": "WH/IN/00010", "state": "done", "picking_type_code": "incoming", "write_date": "2026-11-27 15:00:00"}),
        ),
        record(
            "stock.quant",
            3,
            json!({"product_id": [5, "Mug"], "location_id": [8, "WH/Stock"], "quantity": 17.0,
                   "location_usage": "internal", "product_default_code": "MUG-01", "write_date": "2026-11-27 15:01:00"}),
        ),
        record(
            "stock.quant",
            4,
            json!({"product_id": 5, "location_id": 9, "quantity": -2.0, "location_usage": "customer", "write_date": "2026-11-27 15:01:00"}),
        ),
        record(
            "mrp.production",
            11,
            json!({"name": "WH/MO/00011", "state": "progress", "picking_type_id": [12, "Manufacturing"],
                   "qty_produced": 4.0, "write_date": "2026-11-27 15:02:00"}),
        ),
    ];
    let batch = receiver
        .translate(Via::Outbox, &records, 0)
        .expect("translates");
    let summary: Vec<(String, String, Value)> = batch
        .events
        .iter()
        .map(|event| (event.event_type.clone(), event.id.clone(), data(event)))
        .collect();
    assert_eq!(summary.len(), 4, "{summary:?}");
    let by_type = |event_type: &str| {
        summary
            .iter()
            .find(|(found, _, _)| found == event_type)
            .unwrap_or_else(|| panic!("no {event_type} in {summary:?}"))
    };
    let picking = by_type("fulfillment.stage_changed");
    assert_eq!(picking.1, "stock.picking/9/picking");
    assert_eq!(picking.2["order_id"], "42");
    assert_eq!(picking.2["ship_by"], "2026-11-28T09:00:00.000Z");
    let counted = by_type("inventory.counted");
    assert_eq!(counted.1, "stock.quant/3/2026-11-27T15:01:00.000Z");
    assert_eq!(
        (
            &counted.2["sku"],
            &counted.2["warehouse"],
            &counted.2["on_hand"]
        ),
        (&json!("MUG-01"), &json!("8"), &json!(17))
    );
    let status = by_type("production.status_changed");
    assert_eq!(status.2["status"], "running");
    assert_eq!(status.2["line_id"], "12");
    assert_eq!(by_type("production.output").2["units"], 4);
    // The next version produced 3 more; an older delivery of the first changes nothing.
    let later = record(
        "mrp.production",
        11,
        json!({"state": "to_close", "picking_type_id": 12, "qty_produced": 7.0, "write_date": "2026-11-27 15:30:00"}),
    );
    let batch = receiver
        .translate(Via::Webhook, &[later, records[4].clone()], 0)
        .expect("translates");
    let outputs: Vec<Value> = batch
        .events
        .iter()
        .filter(|event| event.event_type == "production.output")
        .map(data)
        .collect();
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert_eq!(outputs[0]["units"], 3);
    // A webhook quant with only the product id gets the SKU learned above.
    let webhook_quant = record(
        "stock.quant",
        3,
        json!({"product_id": 5, "location_id": 8, "quantity": 16.0, "write_date": "2026-11-27 16:00:00"}),
    );
    let batch = receiver
        .translate(Via::Webhook, &[webhook_quant], 0)
        .expect("translates");
    assert_eq!(data(&batch.events[0])["sku"], "MUG-01");
    assert_eq!(data(&batch.events[0])["on_hand"], 16);
    // A second lot of the product in the same location: the level is both lots.
    let second_lot = record(
        "stock.quant",
        21,
        json!({"product_id": 5, "location_id": 8, "quantity": 5.0, "write_date": "2026-11-27 16:05:00"}),
    );
    let batch = receiver
        .translate(Via::Poll, &[second_lot], 0)
        .expect("translates");
    assert_eq!(data(&batch.events[0])["on_hand"], 21);
    assert_eq!(
        batch.events[0].id,
        "stock.quant/21/2026-11-27T16:05:00.000Z"
    );
}
