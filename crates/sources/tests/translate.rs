//! Every Shopify topic through the receiver: signed like Shopify signs, translated, and the
//! result checked by the model's own validation (the catalogue's rules, not ours).

use serde_json::{Value, json};
use sightline_model::{CurrencyCode, CurrencyPolicy, validate_event};
use sightline_sources::shopify::{DeliveryHeaders, Shop, ShopifyReceiver, Shops};

const SHOP: &str = "acme.myshopify.com";
const SECRET: &[u8] = b"shpss_test_secret";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture exists")
}

struct Harness {
    receiver: ShopifyReceiver,
    _dir: tempfile::TempDir,
    signer: Shop,
}

impl Harness {
    fn new(configure: impl FnOnce(&mut Shop)) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut shop = Shop::with_secret(SHOP, SECRET);
        configure(&mut shop);
        let receiver =
            ShopifyReceiver::open(Shops::from_shops(vec![shop]), dir.path()).expect("opens");
        Harness {
            receiver,
            _dir: dir,
            signer: Shop::with_secret(SHOP, SECRET),
        }
    }

    /// Delivers `body` as Shopify would; returns the events as JSON, each validated.
    fn deliver(&self, topic: &str, event_id: &str, body: &[u8]) -> Result<Vec<Value>, String> {
        let signature = self.signer.keys[0].sign(body);
        let headers = DeliveryHeaders {
            shop_domain: Some(SHOP),
            hmac: Some(signature.as_bytes()),
            topic: Some(topic),
            event_id: Some(event_id),
            ..DeliveryHeaders::default()
        };
        let accepted = self
            .receiver
            .receive(&headers, body, 0)
            .map_err(|refusal| {
                format!("{} {}: {}", refusal.status, refusal.reason, refusal.message)
            })?;
        let policy = CurrencyPolicy::reporting_only(CurrencyCode::parse("EUR").expect("code"));
        let events = accepted
            .events
            .iter()
            .map(|event| {
                let text = std::str::from_utf8(&event.json).expect("UTF-8");
                if let Err(rejection) = validate_event(text, &policy, 0) {
                    panic!("{topic} produced an invalid event ({rejection}): {text}");
                }
                serde_json::from_str(text).expect("JSON")
            })
            .collect();
        self.receiver.committed(&accepted, 0, 0);
        Ok(events)
    }
}

fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&fixture(name)).expect("fixture is JSON");
    edit(&mut value);
    serde_json::to_vec(&value).expect("serializes")
}

#[test]
fn orders_create_is_an_order_with_lines_region_channel_and_segment() {
    let harness = Harness::new(|_| {});
    let events = harness
        .deliver("orders/create", "evt-1", &fixture("orders_create.json"))
        .expect("accepted");
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["type"], "order.created");
    assert_eq!(event["source"], "shopify/acme.myshopify.com");
    assert_eq!(event["id"], "order/5678901234567/created");
    assert_eq!(event["time"], "2026-11-27T15:03:11+01:00");
    assert_eq!(event["shopifyeventid"], "evt-1");
    assert_eq!(
        event["data"],
        json!({
            "order_id": "5678901234567", "order_name": "#1042", "total": "84.50",
            "currency": "EUR", "customer_id": "7012345678901",
            "session_id": "Z2NwLWV1cm9wZS13ZXN0MzowMUhYWjBBQ1pNUVg", "region": "DE-BY",
            "channel": "web", "segment": "returning",
            "lines": [
                {"sku": "MUG-01", "name": "Stoneware Mug", "quantity": 2, "price": "12.25"},
                {"sku": "variant-44000000002", "name": "Organic Tee", "quantity": 1, "price": "60.00"}
            ]
        })
    );
}

#[test]
fn a_guest_order_without_customer_address_or_skus_still_translates() {
    let harness = Harness::new(|_| {});
    let events = harness
        .deliver(
            "orders/create",
            "evt-2",
            &fixture("orders_create_guest.json"),
        )
        .expect("accepted");
    let data = &events[0]["data"];
    assert_eq!(
        events[0]["time"], "2026-11-27T16:20:00+01:00",
        "created_at stands in for processed_at"
    );
    for absent in ["customer_id", "region", "segment", "session_id"] {
        assert!(
            data.get(absent).is_none(),
            "{absent} should be absent: {data}"
        );
    }
    assert_eq!(data["channel"], "pos");
    let skus: Vec<&str> = data["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| line["sku"].as_str().expect("sku"))
        .collect();
    assert_eq!(
        skus,
        ["custom:Gift wrapping", "variant-44000000009"],
        "the zero-quantity line is left out"
    );
}

#[test]
fn test_orders_are_kept_apart_unless_the_shop_counts_them() {
    let body = edited("orders_create.json", |order| order["test"] = json!(true));
    let harness = Harness::new(|_| {});
    let events = harness
        .deliver("orders/create", "evt-3", &body)
        .expect("accepted");
    assert_eq!(events[0]["type"], "shopify.test.order.created");
    assert_eq!(events[0]["id"], "order/5678901234567/created");
    let counting = Harness::new(|shop| shop.include_test_orders = true);
    let events = counting
        .deliver("orders/create", "evt-3", &body)
        .expect("accepted");
    assert_eq!(events[0]["type"], "order.created");
}

#[test]
fn paid_cancelled_refund_fulfillment_and_checkout() {
    let harness = Harness::new(|_| {});
    let paid = harness
        .deliver("orders/paid", "evt-p", &fixture("orders_create.json"))
        .expect("accepted");
    assert_eq!(paid[0]["type"], "order.paid");
    assert_eq!(paid[0]["id"], "order/5678901234567/paid");
    assert_eq!(
        paid[0]["time"], "2026-11-27T15:03:12+01:00",
        "updated_at: when it became paid"
    );
    assert_eq!(
        paid[0]["data"],
        json!({"order_id": "5678901234567", "amount": "84.50", "currency": "EUR",
               "gateway": "shopify_payments", "session_id": "Z2NwLWV1cm9wZS13ZXN0MzowMUhYWjBBQ1pNUVg"})
    );
    let guest_paid = harness
        .deliver(
            "orders/paid",
            "evt-p2",
            &fixture("orders_create_guest.json"),
        )
        .expect("accepted");
    assert_eq!(
        guest_paid[0]["data"]["gateway"], "cash",
        "from payment_gateway_names"
    );

    let cancelled_body = edited("orders_create.json", |order| {
        order["cancelled_at"] = json!("2026-11-27T18:00:00+01:00");
        order["cancel_reason"] = json!("customer");
    });
    let cancelled = harness
        .deliver("orders/cancelled", "evt-c", &cancelled_body)
        .expect("accepted");
    assert_eq!(cancelled[0]["type"], "order.cancelled");
    assert_eq!(cancelled[0]["time"], "2026-11-27T18:00:00+01:00");
    assert_eq!(
        cancelled[0]["data"],
        json!({"order_id": "5678901234567", "reason": "customer"})
    );

    let refund = harness
        .deliver("refunds/create", "evt-r", &fixture("refunds_create.json"))
        .expect("accepted");
    assert_eq!(refund[0]["type"], "refund.created");
    assert_eq!(refund[0]["id"], "refund/890088186047892319");
    assert_eq!(
        refund[0]["data"]["amount"], "12.25",
        "the failed transaction does not count"
    );
    let without_transactions = edited("refunds_create.json", |refund| {
        refund["transactions"] = json!([])
    });
    let refund = harness
        .deliver("refunds/create", "evt-r2", &without_transactions)
        .expect("accepted");
    assert_eq!(
        refund[0]["data"]["amount"], "14.21",
        "subtotal and tax of the refunded lines"
    );

    let shipped = harness
        .deliver(
            "fulfillments/create",
            "evt-f",
            &fixture("fulfillments_create.json"),
        )
        .expect("accepted");
    assert_eq!(shipped[0]["type"], "fulfillment.stage_changed");
    assert_eq!(shipped[0]["id"], "fulfillment/4567890123/shipped");
    assert_eq!(shipped[0]["data"]["stage"], "shipped");
    let pending = edited("fulfillments_create.json", |fulfillment| {
        fulfillment["status"] = json!("pending")
    });
    let kept = harness
        .deliver("fulfillments/create", "evt-f2", &pending)
        .expect("accepted");
    assert_eq!(
        kept[0]["type"], "shopify.fulfillments/create",
        "pending is not shipped"
    );

    let checkout = harness
        .deliver(
            "checkouts/create",
            "evt-k",
            &fixture("checkouts_create.json"),
        )
        .expect("accepted");
    assert_eq!(checkout[0]["type"], "checkout.started");
    assert_eq!(
        checkout[0]["data"],
        json!({"session_id": "Z2NwLWV1cm9wZS13ZXN0MzowMUhYWjBBQ1pNUVg", "checkout_id": "8f1b4c2d9e7a6b5c4d3e2f1a0b9c8d7e"})
    );
}

#[test]
fn carts_emit_only_what_grew() {
    let harness = Harness::new(|_| {});
    let first = harness
        .deliver("carts/create", "evt-cart-1", &fixture("carts_update.json"))
        .expect("accepted");
    let added: Vec<(String, u64)> = first
        .iter()
        .map(|event| {
            assert_eq!(event["type"], "cart.item_added");
            (
                event["data"]["sku"].as_str().expect("sku").to_owned(),
                event["data"]["quantity"].as_u64().expect("quantity"),
            )
        })
        .collect();
    assert_eq!(
        added,
        [
            ("MUG-01".to_owned(), 2),
            ("variant-44000000002".to_owned(), 1)
        ]
    );
    let grown = edited("carts_update.json", |cart| {
        cart["line_items"][0]["quantity"] = json!(5);
        cart["line_items"][1]["quantity"] = json!(0);
        cart["updated_at"] = json!("2026-11-27T15:02:00.000Z");
    });
    let second = harness
        .deliver("carts/update", "evt-cart-2", &grown)
        .expect("accepted");
    assert_eq!(second.len(), 1);
    assert_eq!(
        second[0]["data"],
        json!({"session_id": "Z2NwLWV1cm9wZS13ZXN0MzowMUhYWjBBQ1pNUVg", "sku": "MUG-01", "quantity": 3})
    );
    assert_eq!(second[0]["id"], "evt-cart-2/MUG-01");
    let stale = harness
        .deliver("carts/update", "evt-cart-0", &fixture("carts_update.json"))
        .expect("accepted");
    assert!(
        stale.is_empty(),
        "an older cart state adds nothing: {stale:?}"
    );
}

#[test]
fn inventory_levels_use_learned_or_configured_skus() {
    let harness = Harness::new(|shop| {
        shop.locations.insert("655441491".into(), "berlin".into());
    });
    let unknown = harness
        .deliver(
            "inventory_levels/update",
            "evt-i1",
            &fixture("inventory_levels_update.json"),
        )
        .expect("accepted");
    assert_eq!(
        unknown[0]["type"], "shopify.inventory_levels/update",
        "SKU not known yet"
    );
    let product = harness
        .deliver(
            "products/update",
            "evt-prod",
            &fixture("products_update.json"),
        )
        .expect("accepted");
    assert_eq!(product[0]["type"], "shopify.products/update");
    let counted = harness
        .deliver(
            "inventory_levels/update",
            "evt-i2",
            &fixture("inventory_levels_update.json"),
        )
        .expect("accepted");
    assert_eq!(counted[0]["type"], "inventory.counted");
    assert_eq!(counted[0]["id"], "evt-i2");
    assert_eq!(
        counted[0]["data"],
        json!({"sku": "MUG-01", "warehouse": "berlin", "on_hand": 7, "inventory_item_id": "271878346596884015"})
    );
    let oversold = edited("inventory_levels_update.json", |level| {
        level["available"] = json!(-3);
        level["inventory_item_id"] = json!(271878346596884016u64);
    });
    let counted = harness
        .deliver("inventory_levels/update", "evt-i3", &oversold)
        .expect("accepted");
    assert_eq!(
        counted[0]["data"]["sku"], "variant-44000000003",
        "a variant without SKU"
    );
    assert_eq!(counted[0]["data"]["on_hand"], 0);
    let configured = Harness::new(|shop| {
        shop.configured_skus
            .insert("271878346596884015".into(), "MUG-SAND".into());
    });
    let counted = configured
        .deliver(
            "inventory_levels/update",
            "evt-i4",
            &fixture("inventory_levels_update.json"),
        )
        .expect("accepted");
    assert_eq!(counted[0]["data"]["sku"], "MUG-SAND");
    assert_eq!(counted[0]["data"]["warehouse"], "655441491");
}

#[test]
fn unknown_topics_are_kept_as_shopify_events() {
    let harness = Harness::new(|_| {});
    let events = harness
        .deliver(
            "customers/create",
            "evt-u",
            &fixture("customers_create.json"),
        )
        .expect("accepted");
    assert_eq!(events[0]["type"], "shopify.customers/create");
    assert_eq!(events[0]["id"], "evt-u");
    assert_eq!(events[0]["time"], "2026-11-27T15:10:00+01:00");
    assert_eq!(events[0]["data"]["email"], "new.customer@example.com");
}

#[test]
fn bad_payloads_name_the_field() {
    let harness = Harness::new(|_| {});
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "orders/create",
            edited("orders_create.json", |order| {
                order["total_price"] = json!("12,50")
            }),
            "total_price: expected a decimal amount",
        ),
        (
            "orders/create",
            edited("orders_create.json", |order| {
                order["line_items"][1]["price"] = Value::Null
            }),
            "line_items[1].price: required field is missing",
        ),
        (
            "orders/create",
            edited("orders_create.json", |order| {
                order["line_items"][0]["quantity"] = json!("2")
            }),
            "line_items[0].quantity: invalid type",
        ),
        (
            "orders/create",
            edited("orders_create.json", |order| {
                order.as_object_mut().expect("object").remove("id");
            }),
            "id: required field is missing",
        ),
        (
            "refunds/create",
            b"not json".to_vec(),
            "body: not a JSON object",
        ),
    ];
    for (topic, body, expected) in cases {
        let error = harness
            .deliver(topic, "evt-bad", &body)
            .expect_err("refused");
        assert!(
            error.starts_with("400 bad_payload: ") && error.contains(expected),
            "{error}"
        );
    }
}

#[test]
fn signatures_shops_and_headers_are_checked_first() {
    let harness = Harness::new(|_| {});
    let body = fixture("orders_create.json");
    let good = harness.signer.keys[0].sign(&body);
    let forged = Shop::with_secret(SHOP, b"guess").keys[0].sign(&body);
    let cases: [(DeliveryHeaders<'_>, &str); 5] = [
        (
            DeliveryHeaders {
                shop_domain: Some(SHOP),
                hmac: Some(forged.as_bytes()),
                topic: Some("orders/create"),
                event_id: Some("e"),
                ..DeliveryHeaders::default()
            },
            "401 bad_signature",
        ),
        (
            DeliveryHeaders {
                shop_domain: Some(SHOP),
                hmac: None,
                topic: Some("orders/create"),
                event_id: Some("e"),
                ..DeliveryHeaders::default()
            },
            "401 missing_signature",
        ),
        (
            DeliveryHeaders {
                shop_domain: Some("other.myshopify.com"),
                hmac: Some(good.as_bytes()),
                topic: Some("orders/create"),
                event_id: Some("e"),
                ..DeliveryHeaders::default()
            },
            "401 unknown_shop",
        ),
        (
            DeliveryHeaders {
                shop_domain: Some(SHOP),
                hmac: Some(good.as_bytes()),
                topic: None,
                event_id: Some("e"),
                ..DeliveryHeaders::default()
            },
            "400 missing_header",
        ),
        (
            DeliveryHeaders {
                shop_domain: Some(SHOP),
                hmac: Some(good.as_bytes()),
                topic: Some("orders/create"),
                event_id: None,
                ..DeliveryHeaders::default()
            },
            "400 missing_header",
        ),
    ];
    for (headers, expected) in cases {
        let refusal = harness
            .receiver
            .receive(&headers, &body, 0)
            .expect_err("refused");
        assert_eq!(
            format!("{} {}", refusal.status, refusal.reason),
            expected,
            "{}",
            refusal.message
        );
    }
    let webhook_id_only = DeliveryHeaders {
        shop_domain: Some("ACME.myshopify.com"),
        hmac: Some(good.as_bytes()),
        topic: Some("orders/create"),
        webhook_id: Some("wh-1"),
        ..DeliveryHeaders::default()
    };
    let accepted = harness
        .receiver
        .receive(&webhook_id_only, &body, 0)
        .expect("the webhook id stands in");
    assert_eq!(accepted.delivery_id, "wh-1");
    let mut metrics = String::new();
    harness.receiver.render_metrics(&mut metrics);
    assert!(metrics.contains("sightline_source_rejected_total{source=\"shopify\",shop=\"acme.myshopify.com\",reason=\"bad_signature\"} 1\n"), "{metrics}");
    assert!(metrics.contains("sightline_source_rejected_total{source=\"shopify\",shop=\"unknown\",reason=\"unknown_shop\"} 1\n"), "{metrics}");
}

#[test]
fn reconciled_orders_carry_the_webhook_identities() {
    let shop = Shop::with_secret(SHOP, SECRET);
    let mut order: Value = serde_json::from_slice(&fixture("orders_create.json")).expect("JSON");
    order["cancelled_at"] = json!("2026-11-27T18:00:00+01:00");
    order["refunds"] =
        json!([serde_json::from_slice::<Value>(&fixture("refunds_create.json")).expect("JSON")]);
    let mut fulfillment: Value =
        serde_json::from_slice(&fixture("fulfillments_create.json")).expect("JSON");
    fulfillment
        .as_object_mut()
        .expect("object")
        .remove("order_id");
    order["fulfillments"] = json!([fulfillment]);
    let page = json!({"orders": [order, {"id": "broken", "total_price": "x"}]});
    let page = sightline_sources::shopify::reconcile::translate_page(
        &shop,
        &serde_json::to_vec(&page).expect("JSON"),
        "test",
    )
    .expect("the page's shape is right");
    assert_eq!(page.orders, 2);
    assert_eq!(
        page.skipped.len(),
        1,
        "the broken order is reported, not fatal"
    );
    let ids: Vec<String> = page.events.iter().map(|event| event.id.clone()).collect();
    assert_eq!(
        ids,
        [
            "order/5678901234567/created",
            "order/5678901234567/paid",
            "order/5678901234567/cancelled",
            "refund/890088186047892319",
            "fulfillment/4567890123/shipped"
        ]
    );
    let paid: Value = serde_json::from_slice(&page.events[1].json).expect("JSON");
    assert_eq!(paid["shopifyvia"], "reconcile");
    assert_eq!(
        paid["time"], "2026-11-27T15:03:11+01:00",
        "processed_at stands in"
    );
}
