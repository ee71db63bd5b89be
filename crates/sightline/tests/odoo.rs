//! Odoo against the real server: the webhook with realistic payloads, the PostgreSQL
//! outbox end to end through a Sightline and a PostgreSQL restart, and the JSON-RPC and
//! JSON-2 pollers against a small Odoo stand-in that answers the documented request
//! shapes from the same PostgreSQL tables.
//!
//! The PostgreSQL tests need `SIGHTLINE_TEST_POSTGRES` (a connection string; `.ci/run`
//! starts a cluster and sets it) and say loudly that they are skipped without it. They
//! run one at a time (they restart the cluster), each in a schema of its own.

mod common;

use common::{wait_for, window};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{Response, Server};
use serde_json::{Value, json};

const TOKEN: &str = "odoo-hook-7f3a9c";

fn webhook(server: &Server, token: &str, body: &Value) -> Response {
    common::request(
        server.address,
        "POST",
        &format!("/v1/sources/odoo/{token}"),
        &[("content-type", "application/json")],
        &serde_json::to_vec(body).expect("JSON"),
    )
}

fn metric(metrics: &str, line_start: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(line_start)?.trim().parse().ok())
}

/// A confirmed order as Odoo 17's "Send Webhook Notification" sends it.
fn webhook_order(id: i64, state: &str, total: f64) -> Value {
    json!({
        "_action": "Send Webhook Notification(#41)",
        "_id": id,
        "_model": "sale.order",
        "id": id,
        "name": format!("S{id:05}"),
        "state": state,
        "date_order": "2026-11-27 14:03:11",
        "amount_total": total,
        "currency_id": 1,
        "partner_id": 7,
        "client_order_ref": false,
        "order_line": [101, 102],
        "write_date": "2026-11-27 14:03:12"
    })
}

fn webhook_config(extra: &str) -> String {
    format!(
        "[time]\nidle_timeout = \"1h\"\n\n[dedup]\nhorizon = \"3650d\"\n\n[sources.odoo]\ninstance = \"prod\"\ncurrencies = {{ \"1\" = \"EUR\" }}\nlocations = {{ \"8\" = \"berlin\" }}\nproduction_lines = {{ \"12\" = \"line-a\" }}\n{extra}\n[sources.odoo.webhook]\ntoken = \"{TOKEN}\"\n"
    )
}

#[test]
fn webhook_payloads_are_stored_once_and_strangers_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::write_config(dir.path(), &webhook_config(""));
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir, Some(&config));

    let payloads = [
        webhook_order(42, "sale", 84.5),
        webhook_order(43, "draft", 10.0),
        webhook_order(44, "cancel", 12.0),
        json!({"_model": "stock.picking", "_id": 9, "id": 9, "name": "WH/OUT/00009", "state": "assigned",
               "sale_id": 42, "picking_type_code": "outgoing", "scheduled_date": "2026-11-28 09:00:00",
               "date_deadline": false, "date_done": false, "write_date": "2026-11-27 15:00:00"}),
        json!({"_model": "stock.picking", "_id": 10, "id": 10, "name": "WH/IN/00010", "state": "done",
               "picking_type_code": "incoming", "write_date": "2026-11-27 15:00:00"}),
        json!({"_model": "stock.quant", "_id": 3, "id": 3, "product_id": 5, "location_id": 8,
               "quantity": 17.0, "write_date": "2026-11-27 15:01:00"}),
        json!({"_model": "mrp.production", "_id": 11, "id": 11, "name": "WH/MO/00011", "state": "progress",
               "picking_type_id": 12, "product_id": 5, "qty_produced": 4.0, "write_date": "2026-11-27 15:02:00"}),
        json!({"_model": "res.partner", "_id": 7, "id": 7, "name": "Azure Interior", "write_date": "2026-11-27 15:03:00"}),
    ];
    let mut answered = Vec::new();
    for payload in &payloads {
        let answer = webhook(&server, TOKEN, payload);
        assert_eq!(answer.status, 200, "{payload}: {}", answer.text());
        answered.push(answer.json());
    }
    assert_eq!(answered[0]["events"][0]["id"], "sale.order/42/created");
    assert_eq!(answered[1]["events"], json!([]), "a quotation is no order");
    assert_eq!(
        answered[4]["events"],
        json!([]),
        "a receipt is no fulfilment"
    );
    assert_eq!(answered[7]["events"][0]["type"], "odoo.res.partner");

    // Odoo sends the same notification again (a second automation, a retry by hand).
    let again = webhook(&server, TOKEN, &payloads[0]);
    assert_eq!(
        (
            again.status,
            again.json()["accepted"].clone(),
            again.json()["duplicates"].clone()
        ),
        (200, json!(0), json!(1))
    );

    // Strangers: a wrong token, a token that is a prefix of the real one.
    for token in ["guess", &TOKEN[..TOKEN.len() - 1]] {
        let refused = webhook(&server, token, &webhook_order(99, "sale", 1.0));
        assert_eq!(refused.status, 401, "{}", refused.text());
        assert!(
            !refused.text().contains(TOKEN),
            "the real token is never echoed"
        );
    }
    // An authenticated payload that cannot be translated: 400 naming the field, kept.
    let mut broken = webhook_order(45, "sale", 1.0);
    broken["date_order"] = json!("27/11/2026");
    let bad = webhook(&server, TOKEN, &broken);
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .expect("error")
            .starts_with("date_order: "),
        "{}",
        bad.text()
    );
    let not_odoo = webhook(&server, TOKEN, &json!({"hello": "world"}));
    assert_eq!(not_odoo.status, 400);
    assert!(not_odoo.text().contains("_model"), "{}", not_odoo.text());
    let letters = server.get("/v1/dead-letters?reason=invalid_field").json();
    assert_eq!(letters["total"], 2, "{letters}");

    let metrics = server.get("/metrics").text();
    let base = "source=\"odoo\",instance=\"prod\",via=\"webhook\"";
    assert_eq!(
        metric(
            &metrics,
            &format!("sightline_source_received_total{{{base},model=\"sale.order\"}}")
        ),
        Some(5.0),
        "three orders, one again, one untranslatable: every authenticated record counts"
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("sightline_source_rejected_total{{{base},reason=\"unknown_token\"}}")
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("sightline_source_rejected_total{{{base},reason=\"bad_payload\"}}")
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("sightline_source_duplicates_total{{{base}}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &metrics,
            &format!("sightline_source_skipped_total{{{base},model=\"stock.picking\"}}")
        ),
        Some(1.0)
    );
    assert!(
        metrics.contains("sightline_source_lag_seconds{source=\"odoo\""),
        "{metrics}"
    );
    assert!(!metrics.contains(TOKEN), "tokens never reach /metrics");
    assert_eq!(
        metrics
            .matches("# TYPE sightline_source_received_total")
            .count(),
        1,
        "one family, however many sources"
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
            "mrp.production/11/output/2026-11-27T15:02:00.000Z/4",
            "mrp.production/11/status/progress",
            "res.partner/7/2026-11-27T15:03:00.000Z",
            "sale.order/42/created",
            "sale.order/44/cancelled",
            "stock.picking/9/picking",
            "stock.quant/3/2026-11-27T15:01:00.000Z",
        ]
    );
    let quant = stored
        .iter()
        .find(|event| event["type"] == "inventory.counted")
        .expect("quant");
    assert_eq!(
        quant["data"],
        json!({"sku": "product-5", "warehouse": "berlin", "on_hand": 17, "product_id": 5, "location_id": 8})
    );
    assert!(stored.iter().all(|event| event["source"] == "odoo/prod"));
}

#[test]
fn a_confirmed_order_moves_orders_and_revenue_today() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::write_config(dir.path(), &webhook_config(""));
    let server = Server::start(&dir.path().join("data"), Some(&config));
    for (id, total) in [(42, 84.5), (43, 15.5)] {
        let answer = webhook(&server, TOKEN, &webhook_order(id, "sale", total));
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let range = "from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z";
    let orders = wait_for(&server, &format!("/v1/kpis/orders?{range}"), |json| {
        window(json, "1h", "2026-11-27T14:00:00.000Z")
            .is_some_and(|hour| hour["values"][0]["value"] == 2)
    });
    assert!(window(&orders, "1h", "2026-11-27T14:00:00.000Z").is_some());
    let revenue = wait_for(
        &server,
        &format!("/v1/kpis/revenue_today?{range}"),
        |json| window(json, "day", "2026-11-27T00:00:00.000Z").is_some(),
    );
    let day = window(&revenue, "day", "2026-11-27T00:00:00.000Z").expect("the day");
    assert_eq!(day["values"][0]["value"], 100, "{revenue}");
}

#[test]
fn serve_refuses_to_start_without_the_webhook_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::write_config(
        dir.path(),
        "[sources.odoo.webhook]\ntoken_env = \"SIGHTLINE_TEST_UNSET_ODOO_TOKEN\"\n",
    );
    let stderr = common::serve_refusal(dir.path(), &config, "SIGHTLINE_TEST_UNSET_ODOO_TOKEN");
    assert!(
        stderr.contains("SIGHTLINE_TEST_UNSET_ODOO_TOKEN") && stderr.contains("not set"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------
// PostgreSQL: Odoo's tables, the outbox, and an Odoo stand-in for the pollers.
// ---------------------------------------------------------------------------------

/// The PostgreSQL tests restart the cluster: one at a time.
static POSTGRES: Mutex<()> = Mutex::new(());

fn postgres_lock() -> MutexGuard<'static, ()> {
    POSTGRES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn postgres_url() -> Option<String> {
    match std::env::var("SIGHTLINE_TEST_POSTGRES") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!(
                "\n*** SKIPPED: this test needs PostgreSQL. Set SIGHTLINE_TEST_POSTGRES to a connection string (.ci/run starts a cluster and sets it). ***\n"
            );
            None
        }
    }
}

/// The columns of Odoo's tables that the outbox triggers and the pollers read.
const ODOO_TABLES: &str = "
CREATE TABLE res_currency (id serial PRIMARY KEY, name varchar NOT NULL);
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar);
CREATE TABLE product_product (id serial PRIMARY KEY, default_code varchar, active boolean DEFAULT true);
CREATE TABLE stock_location (id serial PRIMARY KEY, name varchar, usage varchar NOT NULL);
CREATE TABLE stock_picking_type (id serial PRIMARY KEY, name varchar, code varchar NOT NULL);
CREATE TABLE sale_order (
    id serial PRIMARY KEY, name varchar NOT NULL, state varchar, date_order timestamp NOT NULL,
    amount_total numeric, currency_id integer REFERENCES res_currency, partner_id integer REFERENCES res_partner,
    create_date timestamp DEFAULT (now() at time zone 'UTC'), write_date timestamp);
CREATE TABLE sale_order_line (
    id serial PRIMARY KEY, order_id integer NOT NULL REFERENCES sale_order, sequence integer DEFAULT 10,
    product_id integer REFERENCES product_product, product_uom_qty numeric, price_unit numeric,
    discount numeric DEFAULT 0, name text, display_type varchar);
CREATE INDEX ON sale_order_line (order_id);
CREATE TABLE stock_picking (
    id serial PRIMARY KEY, name varchar, state varchar, scheduled_date timestamp, date_deadline timestamp,
    date_done timestamp, sale_id integer REFERENCES sale_order, picking_type_id integer REFERENCES stock_picking_type,
    write_date timestamp);
CREATE TABLE stock_quant (
    id serial PRIMARY KEY, product_id integer REFERENCES product_product, location_id integer REFERENCES stock_location,
    quantity double precision, write_date timestamp);
CREATE TABLE mrp_production (
    id serial PRIMARY KEY, name varchar, state varchar, product_id integer REFERENCES product_product,
    picking_type_id integer REFERENCES stock_picking_type, write_date timestamp);
-- Odoo computes qty_produced from these (no column): the order's done finished moves.
CREATE TABLE stock_move (
    id serial PRIMARY KEY, production_id integer REFERENCES mrp_production, product_id integer REFERENCES product_product,
    state varchar, quantity numeric, write_date timestamp);
INSERT INTO res_currency (id, name) VALUES (1, 'EUR'), (2, 'USD');
INSERT INTO res_partner (id, name) VALUES (7, 'Azure Interior');
INSERT INTO product_product (id, default_code) VALUES (5, 'MUG-01'), (6, 'TEE-04'), (7, NULL);
INSERT INTO stock_location (id, name, usage) VALUES (8, 'WH/Stock', 'internal'), (9, 'Partners/Customers', 'customer');
INSERT INTO stock_picking_type (id, name, code) VALUES (1, 'Delivery Orders', 'outgoing'), (2, 'Receipts', 'incoming'), (12, 'Manufacturing', 'mrp_operation');
SELECT setval('sale_order_id_seq', 1000);
";

/// Odoo's tables holding `rows` behind the external-API stand-in, and a data directory
/// for Sightline; `None` (said loudly) without PostgreSQL.
struct OdooStandIn {
    db: Db,
    odoo: FakeOdoo,
    dir: tempfile::TempDir,
    data_dir: std::path::PathBuf,
    // Last: held until the rest is dropped.
    _serial: MutexGuard<'static, ()>,
}

impl OdooStandIn {
    fn start(name: &str, rows: &str) -> Option<OdooStandIn> {
        let base_url = postgres_url()?;
        let serial = postgres_lock();
        let db = Db::create(&base_url, name, false);
        if !rows.is_empty() {
            db.execute(rows);
        }
        let odoo = FakeOdoo::start(&db.url);
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        Some(OdooStandIn {
            db,
            odoo,
            dir,
            data_dir,
            _serial: serial,
        })
    }
}

/// A schema of our own in the test database, with Odoo's tables.
struct Db {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    /// The connection string with `search_path` set to the schema.
    url: String,
}

impl Db {
    fn create(base_url: &str, name: &str, outbox: bool) -> Db {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let schema = format!("odoo_{name}_{}", std::process::id());
        let url = format!("{base_url} options='-c search_path={schema}'");
        let admin = connect(&runtime, base_url);
        runtime
            .block_on(admin.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
            )))
            .expect("schema");
        let client = connect(&runtime, &url);
        runtime
            .block_on(client.batch_execute(ODOO_TABLES))
            .expect("Odoo's tables");
        if outbox {
            let script = std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../sources/sql/odoo_outbox.sql"),
            )
            .expect("the outbox script");
            runtime
                .block_on(client.batch_execute(&script))
                .expect("the outbox script installs");
            // Installing twice is safe.
            runtime
                .block_on(client.batch_execute(&script))
                .expect("the outbox script installs again");
        }
        Db {
            runtime,
            client,
            url,
        }
    }

    fn execute(&self, sql: &str) {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    fn count(&self, sql: &str) -> i64 {
        let row = self
            .runtime
            .block_on(self.client.query_one(sql, &[]))
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
        row.get(0)
    }

    /// Reconnects (after a PostgreSQL restart), waiting for the server to accept.
    fn reconnect(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self
                .runtime
                .block_on(tokio_postgres::connect(&self.url, tokio_postgres::NoTls))
            {
                Ok((client, connection)) => {
                    self.runtime.spawn(connection);
                    self.client = client;
                    return;
                }
                Err(error) => {
                    assert!(Instant::now() < deadline, "PostgreSQL is not back: {error}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

fn connect(runtime: &tokio::runtime::Runtime, url: &str) -> tokio_postgres::Client {
    let (client, connection) = runtime
        .block_on(tokio_postgres::connect(url, tokio_postgres::NoTls))
        .unwrap_or_else(|error| panic!("cannot connect to SIGHTLINE_TEST_POSTGRES: {error}"));
    runtime.spawn(connection);
    client
}

/// Restarts the PostgreSQL cluster (`SIGHTLINE_TEST_POSTGRES_RESTART`), or, without a way
/// to, ends every other connection to it, which a client sees the same way.
fn restart_postgres(db: &mut Db) {
    match std::env::var("SIGHTLINE_TEST_POSTGRES_RESTART") {
        Ok(command) if !command.trim().is_empty() => {
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .stdout(std::process::Stdio::null())
                .status()
                .expect("the restart command runs");
            assert!(status.success(), "{command} failed: {status}");
        }
        _ => {
            eprintln!(
                "*** SIGHTLINE_TEST_POSTGRES_RESTART is not set: ending every connection instead of restarting PostgreSQL ***"
            );
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database()",
            );
        }
    }
    db.reconnect();
}

/// Inserts orders `first..first+count` as quotations, then confirms them (and cancels
/// every fifth), in transactions of ten, like Odoo's users do. Returns the events they
/// stand for.
fn order_workload(db: &Db, first: i64, count: i64) -> Vec<String> {
    let mut expected = Vec::new();
    for chunk_start in (first..first + count).step_by(10) {
        let chunk_end = (chunk_start + 10).min(first + count);
        let mut sql = String::from("BEGIN;");
        for id in chunk_start..chunk_end {
            sql.push_str(&format!(
                "INSERT INTO sale_order (id, name, state, date_order, amount_total, currency_id, partner_id, write_date) \
                 VALUES ({id}, 'S{id:05}', 'draft', '2026-11-27 10:00:00', {id}.50, 1, 7, now() at time zone 'UTC');\
                 INSERT INTO sale_order_line (order_id, product_id, product_uom_qty, price_unit, name) VALUES ({id}, 5, 2, {id}.25, 'Mug');"
            ));
        }
        sql.push_str("COMMIT;BEGIN;");
        for id in chunk_start..chunk_end {
            sql.push_str(&format!(
                "UPDATE sale_order SET state = 'sale', date_order = '2026-11-27 10:{:02}:00', write_date = now() at time zone 'UTC' WHERE id = {id};",
                id % 60
            ));
            expected.push(format!("sale.order/{id}/created"));
            if id % 5 == 0 {
                sql.push_str(&format!(
                    "UPDATE sale_order SET state = 'cancel', write_date = now() at time zone 'UTC' WHERE id = {id};"
                ));
                expected.push(format!("sale.order/{id}/cancelled"));
            }
        }
        sql.push_str("COMMIT;");
        db.execute(&sql);
    }
    expected
}

fn outbox_config(db: &Db, data_dir: &Path) -> String {
    format!(
        "[storage]\ndata_dir = {:?}\n\n[dedup]\nhorizon = \"3650d\"\n\n[time]\nidle_timeout = \"1h\"\n\n[sources.odoo]\ninstance = \"prod\"\n\n[sources.odoo.postgres]\nconnection = {:?}\nbatch = 64\nrescan = \"500ms\"\n",
        data_dir.display().to_string(),
        db.url
    )
}

fn wait_until_outbox_done(db: &mut Db, rows: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let total = db.count("SELECT count(*) FROM sightline_outbox");
        let undone = db.count("SELECT count(*) FROM sightline_outbox WHERE done_at IS NULL");
        if total == rows && undone == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox was not drained: {undone} of {total} rows undone (expected {rows} rows)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_outbox_delivers_every_change_once_through_sightline_and_postgres_restarts() {
    let Some(base_url) = postgres_url() else {
        return;
    };
    let _serial = postgres_lock();
    let mut db = Db::create(&base_url, "outbox", true);
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let config = common::write_config(dir.path(), &outbox_config(&db, &data_dir));

    // Changes made while Sightline is not running wait in the outbox.
    let mut expected = order_workload(&db, 1001, 30);
    let server = Server::start(&data_dir, Some(&config));
    expected.extend(order_workload(&db, 1031, 100));
    // Sightline dies mid-stream: whatever it had not marked done is read again.
    server.kill();
    expected.extend(order_workload(&db, 1131, 50));
    let server = Server::start(&data_dir, Some(&config));
    expected.extend(order_workload(&db, 1181, 60));
    // PostgreSQL restarts mid-stream: the connector reconnects and reads what is undone.
    restart_postgres(&mut db);
    expected.extend(order_workload(&db, 1241, 60));
    // Stock and manufacturing go through the same outbox.
    db.execute(
        "INSERT INTO stock_quant (id, product_id, location_id, quantity, write_date) VALUES (3, 5, 8, 10, '2026-11-27 11:00:00');
         UPDATE stock_quant SET quantity = 7, write_date = '2026-11-27 11:05:00' WHERE id = 3;
         UPDATE stock_quant SET write_date = '2026-11-27 11:06:00' WHERE id = 3;
         INSERT INTO stock_quant (id, product_id, location_id, quantity, write_date) VALUES (4, 5, 9, -2, '2026-11-27 11:00:00');
         INSERT INTO stock_quant (id, product_id, location_id, quantity, write_date) VALUES (5, 5, 8, 3, '2026-11-27 11:07:00');
         DELETE FROM stock_quant WHERE id = 5;
         INSERT INTO stock_picking (id, name, state, sale_id, picking_type_id, scheduled_date, write_date) VALUES (9, 'WH/OUT/00009', 'confirmed', 1001, 1, '2026-11-28 09:00:00', '2026-11-27 11:10:00');
         UPDATE stock_picking SET state = 'assigned', write_date = '2026-11-27 11:20:00' WHERE id = 9;
         UPDATE stock_picking SET state = 'done', date_done = '2026-11-27 11:30:00', write_date = '2026-11-27 11:30:00' WHERE id = 9;
         INSERT INTO mrp_production (id, name, state, product_id, picking_type_id, write_date) VALUES (11, 'WH/MO/00011', 'confirmed', 5, 12, '2026-11-27 11:00:00');
         UPDATE mrp_production SET state = 'progress', write_date = '2026-11-27 11:10:00' WHERE id = 11;
         INSERT INTO stock_move (id, production_id, product_id, state, quantity, write_date) VALUES (1, 11, 5, 'assigned', 4, '2026-11-27 11:15:00');
         UPDATE stock_move SET state = 'done', write_date = '2026-11-27 11:20:00' WHERE id = 1;
         INSERT INTO stock_move (id, production_id, product_id, state, quantity, write_date) VALUES (2, 11, 6, 'done', 9, '2026-11-27 11:30:00');
         INSERT INTO stock_move (id, production_id, product_id, state, quantity, write_date) VALUES (3, 11, 5, 'done', 6, '2026-11-27 11:40:00');
         UPDATE mrp_production SET state = 'to_close', write_date = '2026-11-27 11:40:00' WHERE id = 11;",
    );
    expected.extend(
        [
            "stock.quant/3/2026-11-27T11:00:00.000Z",
            "stock.quant/3/2026-11-27T11:05:00.000Z",
            "stock.quant/5/2026-11-27T11:07:00.000Z",
            "stock.picking/9/received",
            "stock.picking/9/picking",
            "stock.picking/9/shipped",
            "mrp.production/11/status/confirmed",
            "mrp.production/11/status/progress",
            "mrp.production/11/status/to_close",
            "mrp.production/11/output/2026-11-27T11:20:00.000Z/4",
            "mrp.production/11/output/2026-11-27T11:40:00.000Z/10",
        ]
        .map(str::to_owned),
    );
    // 300 orders: insert, confirm, a fifth cancelled (60); line inserts touch no watched
    // table; 5 quant rows (the write without a new quantity is not a change; a delete
    // is one), 3 picking rows, 3 production rows and 2 of its finished moves done (a
    // move not yet done and a by-product's move report nothing).
    let rows = 300 + 300 + 60 + 5 + 3 + 3 + 2;
    wait_until_outbox_done(&mut db, rows);
    let metrics = server.get("/metrics").text();
    assert!(
        metric(
            &metrics,
            "sightline_source_received_total{source=\"odoo\",instance=\"prod\",via=\"outbox\",model=\"sale.order\"}"
        )
        .is_some(),
        "{metrics}"
    );
    server.stop();

    let stored = common::stored_events(&data_dir);
    // A second lot of product 5 in location 8 (quant 5) adds to quant 3's 7; deleted
    // (merged away), it leaves 7. The delete's time is the database's clock.
    let level_of = |id: &str| {
        stored
            .iter()
            .find(|event| event["id"] == id)
            .map(|event| event["data"]["on_hand"].clone())
    };
    assert_eq!(
        level_of("stock.quant/3/2026-11-27T11:05:00.000Z"),
        Some(json!(7))
    );
    assert_eq!(
        level_of("stock.quant/5/2026-11-27T11:07:00.000Z"),
        Some(json!(10))
    );
    let deleted: Vec<&Value> = stored
        .iter()
        .filter(|event| {
            let id = event["id"].as_str().unwrap_or_default();
            id.starts_with("stock.quant/5/") && id != "stock.quant/5/2026-11-27T11:07:00.000Z"
        })
        .collect();
    assert_eq!(
        deleted.len(),
        1,
        "one event for the deleted quant: {deleted:?}"
    );
    assert_eq!(deleted[0]["data"]["on_hand"], 7);
    let mut ids: Vec<String> = stored
        .iter()
        .map(|event| event["id"].as_str().expect("id").to_owned())
        .filter(|id| {
            !(id.starts_with("stock.quant/5/") && id != "stock.quant/5/2026-11-27T11:07:00.000Z")
        })
        .collect();
    ids.sort_unstable();
    expected.sort_unstable();
    let doubled: Vec<&String> = ids
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| &pair[0])
        .collect();
    assert!(doubled.is_empty(), "stored twice: {doubled:?}");
    assert_eq!(ids.len(), expected.len(), "lost or extra events");
    assert_eq!(ids, expected);
    // Orders carry their lines from the trigger; production output is the growth.
    let order = stored
        .iter()
        .find(|event| event["id"] == "sale.order/1001/created")
        .expect("order 1001");
    assert_eq!(
        order["data"]["lines"],
        json!([{"sku": "MUG-01", "name": "Mug", "quantity": 2, "price": "1001.25"}])
    );
    assert_eq!(order["data"]["total"], "1001.5");
    assert_eq!(order["data"]["currency"], "EUR");
    let units: Vec<&Value> = stored
        .iter()
        .filter(|event| event["type"] == "production.output")
        .map(|event| &event["data"]["units"])
        .collect();
    assert_eq!(units, [&json!(4), &json!(6)]);
    let shipped = stored
        .iter()
        .find(|event| event["id"] == "stock.picking/9/shipped")
        .expect("shipped");
    assert_eq!(shipped["data"]["order_id"], "1001");
    assert_eq!(shipped["data"]["ship_by"], "2026-11-28T09:00:00.000Z");
}

// The Odoo stand-in: JSON-RPC and JSON-2 `search_read` over the same tables.

const DB_NAME: &str = "acme-prod";
const LOGIN: &str = "sightline@example.com";
const PASSWORD: &str = "rpc-pass-51c2";
const API_KEY: &str = "json2-key-9d0e";

struct FakeOdoo {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    _runtime: tokio::runtime::Runtime,
}

#[derive(Clone)]
struct FakeState {
    client: Arc<tokio_postgres::Client>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl FakeOdoo {
    fn start(url: &str) -> FakeOdoo {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let client = Arc::new(connect(&runtime, url));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = FakeState {
            client,
            requests: Arc::clone(&requests),
        };
        let app = axum::Router::new()
            .route("/jsonrpc", axum::routing::post(json_rpc))
            .route("/json/2/{model}/{method}", axum::routing::post(json2))
            .with_state(state);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("binds");
        let address = listener.local_addr().expect("address");
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeOdoo {
            address,
            requests,
            _runtime: runtime,
        }
    }
}

async fn json_rpc(
    axum::extract::State(state): axum::extract::State<FakeState>,
    axum::Json(body): axum::Json<Value>,
) -> axum::Json<Value> {
    let params = &body["params"];
    let args = params["args"].as_array().cloned().unwrap_or_default();
    let id = body["id"].clone();
    let denied = json!({"jsonrpc": "2.0", "id": id, "error": {"code": 200, "message": "Odoo Server Error",
        "data": {"name": "odoo.exceptions.AccessDenied", "message": "Access Denied", "arguments": ["Access Denied"]}}});
    match (params["service"].as_str(), params["method"].as_str()) {
        (Some("common"), Some("login")) => {
            state
                .requests
                .lock()
                .expect("lock")
                .push("common.login".into());
            let ok = args.first() == Some(&json!(DB_NAME))
                && args.get(1) == Some(&json!(LOGIN))
                && args.get(2) == Some(&json!(PASSWORD));
            axum::Json(
                json!({"jsonrpc": "2.0", "id": id, "result": if ok { json!(2) } else { json!(false) }}),
            )
        }
        (Some("object"), Some("execute_kw")) => {
            let authorized = args.first() == Some(&json!(DB_NAME))
                && args.get(1) == Some(&json!(2))
                && args.get(2) == Some(&json!(PASSWORD));
            if !authorized {
                return axum::Json(denied);
            }
            let model = args.get(3).and_then(Value::as_str).unwrap_or("").to_owned();
            let method = args.get(4).and_then(Value::as_str).unwrap_or("");
            let domain = args
                .get(5)
                .and_then(|positional| positional.get(0))
                .cloned()
                .unwrap_or(json!([]));
            let keywords = args.get(6).cloned().unwrap_or(json!({}));
            state
                .requests
                .lock()
                .expect("lock")
                .push(format!("jsonrpc {model}.{method} {domain}"));
            match search_read(&state, &model, method, &domain, &keywords).await {
                Ok(rows) => axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": rows})),
                Err(message) => {
                    axum::Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": 200,
                    "message": "Odoo Server Error", "data": {"name": "builtins.ValueError", "message": message}}}))
                }
            }
        }
        _ => axum::Json(denied),
    }
}

async fn json2(
    axum::extract::State(state): axum::extract::State<FakeState>,
    axum::extract::Path((model, method)): axum::extract::Path<(String, String)>,
    headers: axum::http::HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let bearer = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.to_owned());
    let database = headers
        .get("x-odoo-database")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if bearer.as_deref() != Some(API_KEY) || database != DB_NAME {
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey"}),
            ),
        );
    }
    let domain = body["domain"].clone();
    state
        .requests
        .lock()
        .expect("lock")
        .push(format!("json2 {model}.{method} {domain}"));
    match search_read(&state, &model, &method, &domain, &body).await {
        Ok(rows) => (axum::http::StatusCode::OK, axum::Json(rows)),
        Err(message) => (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"name": "builtins.ValueError", "message": message})),
        ),
    }
}

/// How the stand-in reads a field: a column, a datetime (shown to the second, as Odoo's
/// ORM does), a many2one (`[id, display name]`), or a related field.
fn field_sql(model: &str, field: &str) -> Option<String> {
    let many2one = |table: &str, name: &str| {
        format!(
            "CASE WHEN t.{field} IS NULL THEN NULL ELSE jsonb_build_array(t.{field}, (SELECT {name} FROM {table} WHERE id = t.{field})) END"
        )
    };
    Some(match (model, field) {
        (
            _,
            "id" | "name" | "state" | "quantity" | "product_uom_qty" | "price_unit" | "discount"
            | "display_type" | "default_code",
        ) => {
            format!("to_jsonb(t.{field})")
        }
        // A computed field, as Odoo computes it.
        ("mrp.production", "qty_produced") => {
            "(SELECT to_jsonb(COALESCE(SUM(m.quantity), 0)::float8) FROM stock_move m \
             WHERE m.production_id = t.id AND m.product_id = t.product_id AND m.state = 'done')"
                .into()
        }
        ("sale.order", "amount_total") => "to_jsonb(t.amount_total::float8)".into(),
        (_, "date_order" | "write_date" | "scheduled_date" | "date_deadline" | "date_done") => {
            format!("to_jsonb(to_char(t.{field}, 'YYYY-MM-DD HH24:MI:SS'))")
        }
        (_, "currency_id") => many2one("res_currency", "name"),
        (_, "partner_id") => many2one("res_partner", "name"),
        (_, "product_id") => many2one("product_product", "coalesce(default_code, 'Product')"),
        (_, "location_id") => many2one("stock_location", "name"),
        (_, "picking_type_id") => many2one("stock_picking_type", "name"),
        (_, "sale_id" | "order_id") => many2one("sale_order", "name"),
        ("stock.picking", "picking_type_code") => {
            "to_jsonb((SELECT code FROM stock_picking_type WHERE id = t.picking_type_id))".into()
        }
        _ => return None,
    })
}

fn literal(value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(format!("'{}'", text.replace('\'', "''"))),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        Value::Null => Ok("NULL".into()),
        other => Err(format!("unsupported domain value {other}")),
    }
}

/// An Odoo domain (prefix notation, implicit AND) as SQL, for the terms the poller uses.
fn domain_sql(domain: &[Value]) -> Result<String, String> {
    fn term(terms: &mut std::slice::Iter<'_, Value>) -> Result<String, String> {
        let Some(next) = terms.next() else {
            return Err("an operator without operands".into());
        };
        match next.as_str() {
            Some("|") => Ok(format!("({} OR {})", term(terms)?, term(terms)?)),
            Some("&") => Ok(format!("({} AND {})", term(terms)?, term(terms)?)),
            Some("!") => Ok(format!("(NOT {})", term(terms)?)),
            _ => {
                let leaf = next.as_array().ok_or("a domain term must be a triple")?;
                let (field, operator, value) = match leaf.as_slice() {
                    [field, operator, value] => (
                        field.as_str().ok_or("field")?,
                        operator.as_str().ok_or("operator")?,
                        value,
                    ),
                    _ => return Err("a domain term must be a triple".into()),
                };
                let column = match field {
                    "location_id.usage" => {
                        return Ok(format!(
                            "t.location_id IN (SELECT id FROM stock_location WHERE usage {operator} {})",
                            literal(value)?
                        ));
                    }
                    field
                        if field
                            .bytes()
                            .all(|byte| byte.is_ascii_lowercase() || byte == b'_') =>
                    {
                        format!("t.{field}")
                    }
                    other => return Err(format!("unsupported field {other}")),
                };
                match operator {
                    "=" | "!=" | ">" | ">=" | "<" | "<=" => {
                        Ok(format!("{column} {operator} {}", literal(value)?))
                    }
                    "in" | "not in" => {
                        let items = value.as_array().ok_or("in needs a list")?;
                        if items.is_empty() {
                            return Ok(if operator == "in" { "FALSE" } else { "TRUE" }.into());
                        }
                        let list: Result<Vec<String>, String> = items.iter().map(literal).collect();
                        Ok(format!("{column} {operator} ({})", list?.join(", ")))
                    }
                    other => Err(format!("unsupported operator {other}")),
                }
            }
        }
    }
    let mut terms = domain.iter();
    let mut parts = Vec::new();
    while terms.len() > 0 {
        parts.push(term(&mut terms)?);
    }
    Ok(if parts.is_empty() {
        "TRUE".into()
    } else {
        parts.join(" AND ")
    })
}

async fn search_read(
    state: &FakeState,
    model: &str,
    method: &str,
    domain: &Value,
    keywords: &Value,
) -> Result<Value, String> {
    if method != "search_read" {
        return Err(format!("the stand-in only knows search_read, not {method}"));
    }
    let table = match model {
        "sale.order" | "sale.order.line" | "stock.picking" | "stock.quant" | "mrp.production"
        | "product.product" => model.replace('.', "_"),
        other => return Err(format!("unknown model {other}")),
    };
    let domain = domain.as_array().ok_or("the domain must be a list")?;
    let fields: Vec<String> = keywords["fields"]
        .as_array()
        .ok_or("fields")?
        .iter()
        .filter_map(|field| field.as_str().map(str::to_owned))
        .collect();
    let mut columns = vec!["'id', to_jsonb(t.id)".to_owned()];
    for field in &fields {
        let sql = field_sql(model, field)
            .ok_or_else(|| format!("Invalid field '{field}' on model '{model}'"))?;
        columns.push(format!("'{field}', {sql}"));
    }
    let order = keywords["order"].as_str().unwrap_or("id");
    if !order
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || b"_ ,".contains(&byte))
    {
        return Err(format!("unsupported order {order}"));
    }
    let order: Vec<String> = order
        .split(',')
        .map(|part| format!("t.{}", part.trim()))
        .collect();
    let limit = match keywords["limit"].as_u64() {
        Some(limit) if limit > 0 => format!(" LIMIT {limit}"),
        _ => String::new(),
    };
    let sql = format!(
        "SELECT jsonb_build_object({})::text FROM {table} t WHERE {} ORDER BY {}{limit}",
        columns.join(", "),
        domain_sql(domain)?,
        order.join(", ")
    );
    let rows = state
        .client
        .query(&sql, &[])
        .await
        .map_err(|error| format!("{sql}: {error}"))?;
    Ok(Value::Array(
        rows.iter()
            .map(|row| {
                let text: String = row.get(0);
                let mut record: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                // Odoo writes false for every empty field.
                if let Value::Object(fields) = &mut record {
                    for value in fields.values_mut() {
                        if value.is_null() {
                            *value = Value::Bool(false);
                        }
                    }
                }
                record
            })
            .collect(),
    ))
}

fn poll(config: &Path, since: Option<&str>) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sightline"));
    command
        .args(["odoo", "poll", "--once", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn");
    if let Some(since) = since {
        command.args(["--since", since]);
    }
    command.output().expect("the sightline binary runs")
}

fn poller_config(odoo: &FakeOdoo, data_dir: &Path, api: &str) -> String {
    format!(
        "[storage]\ndata_dir = {:?}\n\n[dedup]\nhorizon = \"3650d\"\n\n[currency.rates]\nUSD = \"0.92\"\n\n[sources.odoo]\ninstance = \"prod\"\n\n[sources.odoo.poller]\nurl = \"http://{}\"\ndb = \"{DB_NAME}\"\npage_size = 3\noverlap = \"5m\"\n{api}\n",
        data_dir.display().to_string(),
        odoo.address
    )
}

fn stored_ids(data_dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = common::stored_events(data_dir)
        .iter()
        .map(|event| event["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort_unstable();
    ids
}

/// Rows for the pollers, written at times around 2026-11-27 12:00 (microseconds set, as
/// a real `write_date` may have them; several share a second, more than a page holds).
const POLLED_ROWS: &str = "
INSERT INTO sale_order (id, name, state, date_order, amount_total, currency_id, partner_id, write_date) VALUES
  (1, 'S00001', 'sale',  '2026-11-27 11:00:00', 84.50, 1, 7,    '2026-11-27 12:00:00.100001'),
  (2, 'S00002', 'draft', '2026-11-27 11:01:00', 10.00, 1, 7,    '2026-11-27 12:00:00.200002'),
  (3, 'S00003', 'sale',  '2026-11-27 11:02:00', 30.00, 2, NULL, '2026-11-27 12:00:00.300003'),
  (4, 'S00004', 'cancel','2026-11-27 11:03:00', 12.00, 1, 7,    '2026-11-27 12:00:00.400004'),
  (5, 'S00005', 'sale',  '2026-11-27 11:04:00', 99.99, 1, 7,    '2026-11-27 12:00:00.500005');
INSERT INTO sale_order_line (order_id, sequence, product_id, product_uom_qty, price_unit, discount, name, display_type) VALUES
  (1, 1, NULL, 0, 0, 0, 'Mugs', 'line_section'),
  (1, 2, 5, 2, 12.25, 0, 'Mug', NULL),
  (1, 3, 7, 1, 80, 25, 'Poster', NULL);
INSERT INTO stock_picking (id, name, state, sale_id, picking_type_id, scheduled_date, date_deadline, write_date) VALUES
  (9, 'WH/OUT/00009', 'assigned', 1, 1, '2026-11-28 09:00:00', '2026-11-28 08:00:00', '2026-11-27 12:01:00'),
  (10, 'WH/IN/00010', 'done', NULL, 2, NULL, NULL, '2026-11-27 12:01:00');
INSERT INTO stock_quant (id, product_id, location_id, quantity, write_date) VALUES
  (3, 5, 8, 17, '2026-11-27 12:02:00'),
  (4, 5, 9, -2, '2026-11-27 12:02:00'),
  (5, 6, 8, 4.6, '2026-11-27 12:02:30');
INSERT INTO mrp_production (id, name, state, product_id, picking_type_id, write_date) VALUES
  (11, 'WH/MO/00011', 'progress', 5, 12, '2026-11-27 12:03:00');
INSERT INTO stock_move (production_id, product_id, state, quantity, write_date) VALUES
  (11, 5, 'done', 4, '2026-11-27 12:02:50'),
  (11, 5, 'assigned', 3, '2026-11-27 12:02:50'),
  (11, 6, 'done', 9, '2026-11-27 12:02:50');
";

fn expected_first_poll() -> Vec<&'static str> {
    let mut ids = vec![
        "mrp.production/11/output/2026-11-27T12:03:00.000Z/4",
        "mrp.production/11/status/progress",
        "sale.order/1/created",
        "sale.order/3/created",
        "sale.order/4/cancelled",
        "sale.order/5/created",
        "stock.picking/9/picking",
        "stock.quant/3/2026-11-27T12:02:00.000Z",
        "stock.quant/5/2026-11-27T12:02:30.000Z",
    ];
    ids.sort_unstable();
    ids
}

fn check_polled_events(data_dir: &Path) {
    let stored = common::stored_events(data_dir);
    let by_id: BTreeMap<&str, &Value> = stored
        .iter()
        .map(|event| (event["id"].as_str().expect("id"), event))
        .collect();
    let order = by_id["sale.order/1/created"];
    assert_eq!(order["odoovia"], "poll");
    assert_eq!(order["time"], "2026-11-27T11:00:00.000Z");
    assert_eq!(
        order["data"],
        json!({"order_id": "1", "order_name": "S00001", "total": "84.5", "currency": "EUR", "customer_id": "7",
               "lines": [{"sku": "MUG-01", "name": "Mug", "quantity": 2, "price": "12.25"},
                         {"sku": "product-7", "name": "Poster", "quantity": 1, "price": "60"}]})
    );
    assert_eq!(by_id["sale.order/3/created"]["data"]["currency"], "USD");
    assert_eq!(
        by_id["stock.picking/9/picking"]["data"]["ship_by"], "2026-11-28T08:00:00.000Z",
        "the deadline wins over the scheduled date"
    );
    let quant = &by_id["stock.quant/5/2026-11-27T12:02:30.000Z"]["data"];
    assert_eq!(
        (&quant["sku"], &quant["on_hand"]),
        (&json!("TEE-04"), &json!(5))
    );
}

#[test]
fn the_json_rpc_poller_reads_each_version_once_with_an_overlap() {
    let Some(stand_in) = OdooStandIn::start("jsonrpc", POLLED_ROWS) else {
        return;
    };
    let OdooStandIn {
        db,
        odoo,
        dir,
        data_dir,
        ..
    } = &stand_in;
    let config = common::write_config(
        dir.path(),
        &poller_config(
            odoo,
            data_dir,
            &format!("version = 17\nlogin = \"{LOGIN}\"\npassword = \"{PASSWORD}\""),
        ),
    );

    let first = poll(&config, Some("2026-11-27T11:59:00Z"));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        stdout.contains("odoo poll: 10 records")
            && stdout.contains("9 stored, 0 already stored, 0 rejected"),
        "{stdout}"
    );
    assert_eq!(stored_ids(data_dir), expected_first_poll());
    check_polled_events(data_dir);
    let requests = odoo.requests.lock().expect("lock").clone();
    assert_eq!(requests[0], "common.login", "{requests:?}");
    assert!(
        requests
            .iter()
            .any(|request| request.contains("\"not in\"")),
        "five orders share a second, more than a page of three: {requests:?}"
    );

    // Again from the cursor: the overlap re-reads the last five minutes, all duplicates.
    let second = poll(&config, None);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        stdout.contains(" 0 stored, ") && !stdout.contains(" 0 already stored"),
        "{stdout}"
    );

    // A long transaction commits an order written before the cursor (within the overlap),
    // another one older than the overlap; and a new version of a quant.
    db.execute(
        "INSERT INTO sale_order (id, name, state, date_order, amount_total, currency_id, write_date) VALUES
           (6, 'S00006', 'sale', '2026-11-27 11:05:00', 5, 1, '2026-11-27 11:59:30'),
           (7, 'S00007', 'sale', '2026-11-27 11:06:00', 5, 1, '2026-11-27 11:50:00');
         UPDATE stock_quant SET quantity = 16, write_date = '2026-11-27 12:10:00' WHERE id = 3;",
    );
    let third = poll(&config, None);
    let stdout = String::from_utf8_lossy(&third.stdout);
    assert!(stdout.contains(" 2 stored, "), "{stdout}");
    let ids = stored_ids(data_dir);
    assert!(ids.contains(&"sale.order/6/created".to_owned()), "{ids:?}");
    assert!(ids.contains(&"stock.quant/3/2026-11-27T12:10:00.000Z".to_owned()));
    assert!(
        !ids.contains(&"sale.order/7/created".to_owned()),
        "older than cursor minus overlap: outside the window"
    );

    // Odoo merges quant 5 into another and deletes its row, which no read by
    // `write_date` returns: the poll's sweep of quant ids reads it as 0.
    db.execute("DELETE FROM stock_quant WHERE id = 5;");
    let fourth = poll(&config, None);
    let stdout = String::from_utf8_lossy(&fourth.stdout);
    assert!(stdout.contains(" 1 stored, "), "{stdout}");
    let stored = common::stored_events(data_dir);
    let vanished: Vec<&Value> = stored
        .iter()
        .filter(|event| {
            let id = event["id"].as_str().unwrap_or_default();
            id.starts_with("stock.quant/5/") && id != "stock.quant/5/2026-11-27T12:02:30.000Z"
        })
        .collect();
    assert_eq!(vanished.len(), 1, "{vanished:?}");
    assert_eq!(
        (&vanished[0]["data"]["sku"], &vanished[0]["data"]["on_hand"]),
        (&json!("TEE-04"), &json!(0))
    );
    let again = poll(&config, None);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains(" 0 stored, "),
        "a deleted quant reads as 0 once: {stdout}"
    );

    // A wrong password: the poll fails, says why, and never prints the secret.
    std::fs::create_dir_all(dir.path().join("wrong")).expect("dir");
    let wrong = common::write_config(
        &dir.path().join("wrong"),
        &poller_config(
            odoo,
            &dir.path().join("wrong-data"),
            &format!("version = 16\nuid = 2\npassword = \"not-{PASSWORD}\""),
        ),
    );
    let refused = poll(&wrong, None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("Access Denied"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn the_json2_poller_reads_with_a_bearer_key() {
    let Some(stand_in) = OdooStandIn::start("json2", POLLED_ROWS) else {
        return;
    };
    let OdooStandIn {
        odoo,
        dir,
        data_dir,
        ..
    } = &stand_in;
    std::fs::write(dir.path().join("odoo.key"), format!("{API_KEY}\n")).expect("key file");
    let config = common::write_config(
        dir.path(),
        &poller_config(
            odoo,
            data_dir,
            &format!(
                "version = 19\npassword_file = {:?}",
                dir.path().join("odoo.key").display().to_string()
            ),
        ),
    );
    let first = poll(&config, Some("2026-11-27T11:59:00Z"));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(stored_ids(data_dir), expected_first_poll());
    check_polled_events(data_dir);
    let requests = odoo.requests.lock().expect("lock").clone();
    assert!(
        requests.iter().all(|request| request.starts_with("json2 ")),
        "{requests:?}"
    );

    std::fs::write(dir.path().join("odoo.key"), "revoked-key\n").expect("key file");
    let refused = poll(&config, None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("401") && stderr.contains("API key"),
        "{stderr}"
    );
    assert!(!stderr.contains("revoked-key"), "{stderr}");
}

#[test]
fn serve_runs_the_poller_on_its_interval() {
    let Some(stand_in) = OdooStandIn::start("served", "") else {
        return;
    };
    let OdooStandIn {
        db,
        odoo,
        dir,
        data_dir,
        ..
    } = &stand_in;
    let config = common::write_config(
        dir.path(),
        &format!(
            "{}interval = \"1s\"\n",
            poller_config(
                odoo,
                data_dir,
                &format!("version = 18\nuid = 2\npassword = \"{PASSWORD}\"")
            )
        ),
    );
    let server = Server::start(data_dir, Some(&config));
    // Written now: the first pass reads from midnight UTC.
    db.execute(
        "INSERT INTO sale_order (id, name, state, date_order, amount_total, currency_id, write_date) VALUES
           (21, 'S00021', 'sale', now() at time zone 'UTC', 42, 1, now() at time zone 'UTC')",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let events = "sightline_source_events_total{source=\"odoo\",instance=\"prod\",via=\"poll\",kind=\"catalogue\"}";
    while metric(&server.get("/metrics").text(), events).is_none() {
        assert!(
            Instant::now() < deadline,
            "the served poller stored nothing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
    assert_eq!(stored_ids(data_dir), ["sale.order/21/created"]);
}

#[test]
fn a_webhook_order_gets_its_lines_through_the_pollers_api() {
    let Some(stand_in) = OdooStandIn::start("webhooklines", POLLED_ROWS) else {
        return;
    };
    let OdooStandIn {
        odoo,
        dir,
        data_dir,
        ..
    } = &stand_in;
    // The poller's one pass here (at start) reads from midnight UTC today, after these
    // rows of 2026-11-27, so the order can only come by the webhook, which reads its
    // lines through the poller's API (`odoovia` says which way it came).
    let poller = format!(
        "[sources.odoo.poller]\nurl = \"http://{}\"\ndb = \"{DB_NAME}\"\nversion = 17\nlogin = \"{LOGIN}\"\npassword = \"{PASSWORD}\"\ninterval = \"1d\"\n",
        odoo.address
    );
    let config = common::write_config(dir.path(), &webhook_config(&poller));
    let server = Server::start(data_dir, Some(&config));
    // Order 1 of POLLED_ROWS as a webhook sends it: its lines as ids.
    let mut order = webhook_order(1, "sale", 84.5);
    order["order_line"] = json!([1, 2, 3]);
    let answer = webhook(&server, TOKEN, &order);
    assert_eq!(answer.status, 200, "{}", answer.text());
    server.stop();
    let stored = common::stored_events(data_dir);
    let created = stored
        .iter()
        .find(|event| event["id"] == "sale.order/1/created")
        .expect("the order is stored");
    assert_eq!(created["odoovia"], "webhook");
    assert_eq!(
        created["data"]["lines"],
        json!([{"sku": "MUG-01", "name": "Mug", "quantity": 2, "price": "12.25"},
               {"sku": "product-7", "name": "Poster", "quantity": 1, "price": "60"}])
    );
    let requests = odoo.requests.lock().expect("lock").clone();
    assert!(
        requests
            .iter()
            .any(|request| request.contains("sale.order.line")),
        "{requests:?}"
    );
}
