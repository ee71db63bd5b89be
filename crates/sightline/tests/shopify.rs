//! Shopify webhooks against the real server: realistic payloads signed as Shopify signs
//! them, forged and replayed deliveries, secret rotation, reconciliation against a small
//! Admin API server, and a signed order moving the KPIs.

mod common;

use common::{wait_for, window};

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{Response, Server};
use serde_json::{Value, json};
use sightline_sources::shopify::Shop;

const SHOP: &str = "acme.myshopify.com";
const SECRET: &str = "shpss_acme_current";
const OLD_SECRET: &str = "shpss_acme_previous";

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sources/tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn edited(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&fixture(name)).expect("fixture is JSON");
    edit(&mut value);
    serde_json::to_vec(&value).expect("serializes")
}

fn sign(secret: &str, body: &[u8]) -> String {
    Shop::with_secret(SHOP, secret.as_bytes()).keys[0].sign(body)
}

/// POSTs a webhook as Shopify does.
fn deliver(
    server: &Server,
    shop: &str,
    secret: &str,
    topic: &str,
    event_id: &str,
    body: &[u8],
) -> Response {
    let signature = sign(secret, body);
    common::request(
        server.address,
        "POST",
        "/v1/sources/shopify",
        &[
            ("content-type", "application/json"),
            ("x-shopify-shop-domain", shop),
            ("x-shopify-hmac-sha256", &signature),
            ("x-shopify-topic", topic),
            ("x-shopify-event-id", event_id),
            ("x-shopify-webhook-id", &format!("wh-{event_id}")),
            ("x-shopify-api-version", "2024-10"),
            ("x-shopify-triggered-at", "2026-11-27T14:03:11.000Z"),
        ],
        body,
    )
}

fn shop_config(extra: &str) -> String {
    format!(
        "[time]\nidle_timeout = \"1h\"\n\n[[sources.shopify.shops]]\ndomain = \"{SHOP}\"\nsecret = \"{SECRET}\"\n{extra}"
    )
}

fn metric(metrics: &str, line_start: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(line_start)?.trim().parse().ok())
}

#[test]
fn every_topic_is_stored_once_and_forgeries_never() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::write_config(dir.path(), &shop_config(""));
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir, Some(&config));

    let deliveries: [(&str, &str, Vec<u8>); 11] = [
        ("orders/create", "e-1", fixture("orders_create.json")),
        ("orders/create", "e-2", fixture("orders_create_guest.json")),
        (
            "orders/create",
            "e-3",
            edited("orders_create.json", |order| {
                order["id"] = json!(5678901230000u64);
                order["test"] = json!(true);
            }),
        ),
        ("orders/paid", "e-4", fixture("orders_create.json")),
        (
            "orders/cancelled",
            "e-5",
            edited("orders_create.json", |order| {
                order["cancelled_at"] = json!("2026-11-27T18:00:00+01:00");
                order["cancel_reason"] = json!("customer");
            }),
        ),
        ("refunds/create", "e-6", fixture("refunds_create.json")),
        ("checkouts/create", "e-7", fixture("checkouts_create.json")),
        ("carts/create", "e-8", fixture("carts_update.json")),
        (
            "fulfillments/create",
            "e-9",
            fixture("fulfillments_create.json"),
        ),
        ("products/update", "e-10", fixture("products_update.json")),
        (
            "inventory_levels/update",
            "e-11",
            fixture("inventory_levels_update.json"),
        ),
    ];
    for (topic, event_id, body) in &deliveries {
        let answer = deliver(&server, SHOP, SECRET, topic, event_id, body);
        assert_eq!(answer.status, 200, "{topic}: {}", answer.text());
        assert!(
            answer.json()["accepted"].as_u64() >= Some(1),
            "{topic}: {}",
            answer.text()
        );
    }
    let unknown = deliver(
        &server,
        SHOP,
        SECRET,
        "customers/create",
        "e-12",
        &fixture("customers_create.json"),
    );
    assert_eq!(
        unknown.json()["events"][0]["type"],
        "shopify.customers/create"
    );

    // Forged: signed with a guessed secret, for a configured and an unknown shop.
    let forged_body = edited("orders_create.json", |order| order["id"] = json!(1u64));
    let forged = deliver(
        &server,
        SHOP,
        "guessed",
        "orders/create",
        "f-1",
        &forged_body,
    );
    assert_eq!(forged.status, 401);
    assert!(
        forged.json()["error"]
            .as_str()
            .expect("error")
            .contains("X-Shopify-Hmac-Sha256")
    );
    let stranger = deliver(
        &server,
        "evil.myshopify.com",
        SECRET,
        "orders/create",
        "f-2",
        &forged_body,
    );
    assert_eq!(stranger.status, 401);
    let unsigned = common::request(
        server.address,
        "POST",
        "/v1/sources/shopify",
        &[
            ("x-shopify-shop-domain", SHOP),
            ("x-shopify-topic", "orders/create"),
            ("x-shopify-event-id", "f-3"),
        ],
        &forged_body,
    );
    assert_eq!(unsigned.status, 401);

    // Replayed: Shopify's retry (same event id), and the same order under another event id.
    let retry = deliver(
        &server,
        SHOP,
        SECRET,
        "orders/create",
        "e-1",
        &fixture("orders_create.json"),
    );
    assert_eq!(
        (
            retry.status,
            retry.json()["accepted"].clone(),
            retry.json()["duplicates"].clone()
        ),
        (200, json!(0), json!(1))
    );
    let again = deliver(
        &server,
        SHOP,
        SECRET,
        "orders/create",
        "e-1-bis",
        &fixture("orders_create.json"),
    );
    assert_eq!(
        again.json()["duplicates"],
        1,
        "the id comes from the order, not the delivery"
    );

    // A verified payload that cannot be translated: 400 naming the field, dead-lettered.
    let broken = edited("orders_create.json", |order| {
        order["total_price"] = json!("84,50")
    });
    let bad = deliver(&server, SHOP, SECRET, "orders/create", "e-13", &broken);
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .expect("error")
            .starts_with("total_price: "),
        "{}",
        bad.text()
    );
    let letters = server.get("/v1/dead-letters?reason=invalid_field").json();
    assert_eq!(letters["total"], 1, "{letters}");
    // A missing event id names the header.
    let no_id = common::request(
        server.address,
        "POST",
        "/v1/sources/shopify",
        &[
            ("x-shopify-shop-domain", SHOP),
            ("x-shopify-hmac-sha256", &sign(SECRET, b"{}")),
            ("x-shopify-topic", "orders/create"),
        ],
        b"{}",
    );
    assert_eq!(no_id.status, 400);
    assert!(
        no_id.text().contains("X-Shopify-Event-Id"),
        "{}",
        no_id.text()
    );

    let metrics = server.get("/metrics").text();
    let shop_label = format!("source=\"shopify\",shop=\"{SHOP}\"");
    assert_eq!(
        metric(
            &metrics,
            &format!("sightline_source_received_total{{{shop_label},topic=\"orders/create\"}}")
        ),
        Some(6)
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("sightline_source_rejected_total{{{shop_label},reason=\"bad_signature\"}}")
        ),
        Some(1)
    );
    assert_eq!(
        metric(
            &metrics,
            &format!(
                "sightline_source_rejected_total{{{shop_label},reason=\"missing_signature\"}}"
            )
        ),
        Some(1)
    );
    assert_eq!(
        metric(
            &metrics,
            "sightline_source_rejected_total{source=\"shopify\",shop=\"unknown\",reason=\"unknown_shop\"}"
        ),
        Some(1)
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("sightline_source_rejected_total{{{shop_label},reason=\"bad_payload\"}}")
        ),
        Some(1)
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("sightline_source_duplicates_total{{{shop_label}}}")
        ),
        Some(2)
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("sightline_source_events_total{{{shop_label},kind=\"test\"}}")
        ),
        Some(1)
    );
    assert!(!metrics.contains(SECRET), "secrets never reach /metrics");
    server.stop();

    let stored = common::stored_events(&data_dir);
    let mut types: Vec<String> = stored
        .iter()
        .map(|event| event["type"].as_str().expect("type").to_owned())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "cart.item_added",
            "cart.item_added",
            "checkout.started",
            "fulfillment.stage_changed",
            "inventory.counted",
            "order.cancelled",
            "order.created",
            "order.created",
            "order.paid",
            "refund.created",
            "shopify.customers/create",
            "shopify.products/update",
            "shopify.test.order.created",
        ]
    );
    assert!(
        stored.iter().all(|event| event["data"]["order_id"] != "1"),
        "nothing of the forged deliveries is stored"
    );
    assert!(
        stored
            .iter()
            .all(|event| event["source"] == "shopify/acme.myshopify.com")
    );
}

#[test]
fn a_rotated_secret_is_accepted_until_its_end() {
    let dir = tempfile::tempdir().expect("temp dir");
    let second = "shop-two.myshopify.com";
    let config = common::write_config(
        dir.path(),
        &format!(
            "[[sources.shopify.shops]]\ndomain = \"{SHOP}\"\nsecret_file = \"{}\"\nprevious_secret = \"{OLD_SECRET}\"\n\n[[sources.shopify.shops]]\ndomain = \"{second}\"\nsecret = \"{SECRET}\"\nprevious_secret = \"{OLD_SECRET}\"\nprevious_secret_until = \"2020-01-01T00:00:00Z\"\n",
            dir.path().join("acme.secret").display()
        ),
    );
    std::fs::write(dir.path().join("acme.secret"), format!("{SECRET}\n")).expect("secret file");
    let server = Server::start(&dir.path().join("data"), Some(&config));
    let body = fixture("orders_create.json");
    assert_eq!(
        deliver(&server, SHOP, SECRET, "orders/create", "r-1", &body).status,
        200,
        "the new secret (from a file, trimmed)"
    );
    assert_eq!(
        deliver(&server, SHOP, OLD_SECRET, "orders/create", "r-2", &body).status,
        200,
        "the previous secret, no end set"
    );
    assert_eq!(
        deliver(&server, second, SECRET, "orders/create", "r-3", &body).status,
        200
    );
    let expired = deliver(&server, second, OLD_SECRET, "orders/create", "r-4", &body);
    assert_eq!(expired.status, 401);
    assert!(
        expired.text().contains("previous secret"),
        "{}",
        expired.text()
    );
    let metrics = server.get("/metrics").text();
    assert_eq!(
        metric(
            &metrics,
            &format!(
                "sightline_source_rejected_total{{source=\"shopify\",shop=\"{second}\",reason=\"expired_secret\"}}"
            )
        ),
        Some(1)
    );
}

#[test]
fn a_signed_order_moves_orders_revenue_and_top_products() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::write_config(dir.path(), &shop_config(""));
    let server = Server::start(&dir.path().join("data"), Some(&config));
    let answer = deliver(
        &server,
        SHOP,
        SECRET,
        "orders/create",
        "k-1",
        &fixture("orders_create.json"),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    // processed_at 2026-11-27T15:03:11+01:00 is 14:03:11 UTC.
    let range = "from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z";
    let orders = wait_for(&server, &format!("/v1/kpis/orders?{range}"), |json| {
        window(json, "1h", "2026-11-27T14:00:00.000Z").is_some()
    });
    let hour = window(&orders, "1h", "2026-11-27T14:00:00.000Z").expect("the 14:00 hour");
    assert_eq!(hour["values"][0]["value"], 1);
    let revenue = wait_for(
        &server,
        &format!("/v1/kpis/revenue_today?{range}"),
        |json| window(json, "day", "2026-11-27T00:00:00.000Z").is_some(),
    );
    let day = window(&revenue, "day", "2026-11-27T00:00:00.000Z").expect("the day");
    assert_eq!(day["values"][0]["value"], 84.5, "{revenue}");
    let top = wait_for(
        &server,
        &format!("/v1/kpis/top_products_today?{range}"),
        |json| window(json, "day", "2026-11-27T00:00:00.000Z").is_some(),
    );
    let products = &window(&top, "day", "2026-11-27T00:00:00.000Z").expect("the day")["values"];
    let by_sku: Vec<(String, Value)> = products
        .as_array()
        .expect("values")
        .iter()
        .map(|value| {
            (
                value["group"]["sku"].as_str().expect("sku").to_owned(),
                value["value"].clone(),
            )
        })
        .collect();
    assert_eq!(
        by_sku,
        [
            (
                "variant-44000000002".to_owned(),
                json!({"count": 1, "revenue": 60, "units": 1})
            ),
            (
                "MUG-01".to_owned(),
                json!({"count": 1, "revenue": 24.5, "units": 2})
            )
        ],
        "{top}"
    );
}

/// A stand-in for Shopify's Admin API: `GET /admin/api/2024-10/orders.json` in two
/// pages linked by `page_info`, only with the right access token.
struct AdminApi {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl AdminApi {
    fn start(token: &'static str, first_page: Value, second_page: Value) -> AdminApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let address = listener.local_addr().expect("address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut authorized = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("x-shopify-access-token")
                    {
                        authorized = value.trim() == token;
                    }
                }
                let target = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                seen.lock().expect("lock").push(target.clone());
                let (status, link, body) = if !authorized {
                    (
                        "401 Unauthorized",
                        None,
                        json!({"errors": "[API] Invalid API key or access token"}),
                    )
                } else if target
                    .starts_with("/admin/api/2024-10/orders.json?status=any&updated_at_min=")
                    && target.ends_with("&limit=250")
                {
                    (
                        "200 OK",
                        Some(format!(
                            "<http://{address}/admin/api/2024-10/orders.json?limit=250&page_info=cGFnZTI>; rel=\"next\""
                        )),
                        first_page.clone(),
                    )
                } else if target == "/admin/api/2024-10/orders.json?limit=250&page_info=cGFnZTI" {
                    (
                        "200 OK",
                        Some(format!(
                            "<http://{address}/admin/api/2024-10/orders.json?limit=250&page_info=cGFnZTE>; rel=\"previous\""
                        )),
                        second_page.clone(),
                    )
                } else {
                    (
                        "400 Bad Request",
                        None,
                        json!({"errors": "unexpected request"}),
                    )
                };
                let body = serde_json::to_vec(&body).expect("JSON");
                let mut head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                if let Some(link) = link {
                    head.push_str(&format!("link: {link}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        AdminApi { address, requests }
    }
}

fn reconcile(config: &Path, server: &Server, token_env: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args([
            "shopify",
            "reconcile",
            "--since",
            "2026-11-27T00:00:00Z",
            "--config",
        ])
        .arg(config)
        .args(["--url", &server.url("")])
        .env("SHOPIFY_ACME_TOKEN", token_env)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the sightline binary runs")
}

#[test]
fn reconciliation_fills_what_the_webhooks_missed_and_counts_nothing_twice() {
    let order = |id: u64, edit: &dyn Fn(&mut Value)| {
        let mut value: Value =
            serde_json::from_slice(&fixture("orders_create.json")).expect("JSON");
        value["id"] = json!(id);
        edit(&mut value);
        value
    };
    let delivered = order(5678901234567, &|_| {});
    let missed = order(5678901234568, &|value| {
        value["financial_status"] = json!("pending")
    });
    let refunds: Value = serde_json::from_slice(&fixture("refunds_create.json")).expect("JSON");
    let cancelled = order(5678901234569, &|value| {
        value["cancelled_at"] = json!("2026-11-27T18:00:00+01:00");
        value["financial_status"] = json!("refunded");
        value["refunds"] = json!([refunds.clone()]);
    });
    // Updated recently, created long ago: its events are older than any dedup horizon.
    let ancient = order(5678901234570, &|value| {
        value["processed_at"] = json!("1990-01-01T00:00:00Z");
        value["financial_status"] = json!("pending");
    });
    let api = AdminApi::start(
        "shpat_test_token",
        json!({"orders": [delivered, missed]}),
        json!({"orders": [cancelled, ancient]}),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::write_config(
        dir.path(),
        &format!(
            // The fixtures' times are fixed: a horizon of ten years keeps them inside it
            // whatever the date the test runs on.
            "[dedup]\nhorizon = \"3650d\"\n{}",
            shop_config(&format!(
                "access_token_env = \"SHOPIFY_ACME_TOKEN\"\nadmin_url = \"http://{}\"\n",
                api.address
            ))
        ),
    );
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir, Some(&config));
    // The webhook path delivered the first order (created and paid) before the outage.
    assert_eq!(
        deliver(
            &server,
            SHOP,
            SECRET,
            "orders/create",
            "w-1",
            &fixture("orders_create.json")
        )
        .json()["accepted"],
        1
    );
    assert_eq!(
        deliver(
            &server,
            SHOP,
            SECRET,
            "orders/paid",
            "w-2",
            &fixture("orders_create.json")
        )
        .json()["accepted"],
        1
    );

    let wrong_token = reconcile(&config, &server, "not-the-token");
    assert!(!wrong_token.status.success());
    let stderr = String::from_utf8_lossy(&wrong_token.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("access token"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not-the-token"),
        "the token is never printed: {stderr}"
    );

    let first = reconcile(&config, &server, "shpat_test_token");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // Page 1: created+paid of the delivered order (2 duplicates) and created of the
    // pending one; page 2: created, paid, cancelled and the refund of the third.
    assert!(
        stdout.contains("4 orders updated since 2026-11-27T00:00:00Z in 2 pages; 5 events stored (missed before), 2 already stored, 0 rejected; 0 orders skipped; 1 events older than the dedup horizon left alone"),
        "{stdout}"
    );
    let second = reconcile(&config, &server, "shpat_test_token");
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        stdout.contains("0 events stored (missed before), 7 already stored"),
        "{stdout}"
    );
    let requests = api.requests.lock().expect("lock").clone();
    assert_eq!(
        requests.len(),
        5,
        "one refused, then two pages twice: {requests:?}"
    );
    server.stop();

    let stored = common::stored_events(&data_dir);
    let mut ids: Vec<&str> = stored
        .iter()
        .map(|event| event["id"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "order/5678901234567/created",
            "order/5678901234567/paid",
            "order/5678901234568/created",
            "order/5678901234569/cancelled",
            "order/5678901234569/created",
            "order/5678901234569/paid",
            "refund/890088186047892319",
        ]
    );
}

/// With `reconcile_every`, the server reconciles by itself: what the webhooks missed is
/// stored, what they delivered counts once, and the next run starts from a saved cursor.
#[test]
fn the_server_reconciles_periodically() {
    let order = |id: u64, edit: &dyn Fn(&mut Value)| {
        let mut value: Value =
            serde_json::from_slice(&fixture("orders_create.json")).expect("JSON");
        value["id"] = json!(id);
        edit(&mut value);
        value
    };
    let delivered = order(5678901234567, &|_| {});
    let missed = order(5678901234568, &|value| {
        value["financial_status"] = json!("pending")
    });
    let api = AdminApi::start(
        "shpat_test_token",
        json!({"orders": [delivered]}),
        json!({"orders": [missed]}),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::write_config(
        dir.path(),
        &format!(
            "[dedup]\nhorizon = \"3650d\"\n[sources.shopify]\nreconcile_every = \"1s\"\n{}",
            shop_config(&format!(
                "access_token_env = \"SHOPIFY_PERIODIC_TOKEN\"\nadmin_url = \"http://{}\"\n",
                api.address
            ))
        ),
    );
    let data_dir = dir.path().join("data");
    let server = Server::start_with_env(
        &data_dir,
        Some(&config),
        &[("SHOPIFY_PERIODIC_TOKEN", "shpat_test_token")],
    );
    // The webhook of the first order arrived; the second order's was lost.
    assert_eq!(
        deliver(
            &server,
            SHOP,
            SECRET,
            "orders/create",
            "w-1",
            &fixture("orders_create.json")
        )
        .json()["accepted"],
        1
    );
    // Two runs at least: the second asks from the first one's cursor.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let requests = api.requests.lock().expect("lock").clone();
        let firsts: Vec<&String> = requests
            .iter()
            .filter(|target| target.contains("updated_at_min="))
            .collect();
        if firsts.len() >= 2 {
            let since = |target: &str| {
                target
                    .split("updated_at_min=")
                    .nth(1)
                    .and_then(|rest| rest.split('&').next())
                    .map(str::to_owned)
                    .expect("since")
            };
            assert!(
                since(firsts[1]) > since(firsts[0]),
                "the second run starts from the first one's cursor: {firsts:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server never reconciled twice: {requests:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        data_dir
            .join("sources/shopify/reconcile-acme.myshopify.com.cursor")
            .exists()
    );
    server.stop();
    let stored = common::stored_events(&data_dir);
    let mut ids: Vec<&str> = stored
        .iter()
        .map(|event| event["id"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "order/5678901234567/created",
            "order/5678901234567/paid",
            "order/5678901234568/created",
        ],
        "each order's events once, however many runs read them"
    );
}

#[test]
fn serve_refuses_to_start_without_a_shops_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::write_config(
        dir.path(),
        &format!(
            "[[sources.shopify.shops]]\ndomain = \"{SHOP}\"\nsecret_env = \"SIGHTLINE_TEST_UNSET_SECRET\"\n"
        ),
    );
    let stderr = common::serve_refusal(dir.path(), &config, "SIGHTLINE_TEST_UNSET_SECRET");
    assert!(
        stderr.contains("SIGHTLINE_TEST_UNSET_SECRET") && stderr.contains("not set"),
        "{stderr}"
    );
}
