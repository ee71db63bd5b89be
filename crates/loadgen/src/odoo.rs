//! `odoo-outbox`: the PostgreSQL outbox of a self-hosted Odoo, measured end to end
//! against a running `sightline serve` whose `[sources.odoo.postgres]` points at the
//! same database (and schema).
//!
//! 1. Throughput: `--orders` quotations with a line each, confirmed, in one transaction
//!    (two outbox rows per order: the insert and the confirmation); from its COMMIT to the
//!    moment no outbox row is undone, i.e. every row's events are durable in Sightline's
//!    log and the row is marked done.
//! 2. Delay: `--latency-orders` single-order transactions, one at a time; from each
//!    COMMIT to the moment `GET /v1/kpis/orders` counts the order in the current hour.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use tokio_postgres::NoTls;

use crate::OdooOutboxArgs;
use crate::http::{Conn, Target};
use crate::stats::{LatencySummary, round3};

/// The columns of Odoo's tables the outbox triggers read (`--setup` creates them).
const TABLES: &str = "
DROP TABLE IF EXISTS sightline_outbox, sale_order_line, sale_order, product_product, res_partner, res_currency CASCADE;
CREATE TABLE res_currency (id serial PRIMARY KEY, name varchar NOT NULL);
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar);
CREATE TABLE product_product (id serial PRIMARY KEY, default_code varchar);
CREATE TABLE sale_order (
    id serial PRIMARY KEY, name varchar NOT NULL, state varchar, date_order timestamp NOT NULL,
    amount_total numeric, currency_id integer, partner_id integer, write_date timestamp);
CREATE TABLE sale_order_line (
    id serial PRIMARY KEY, order_id integer NOT NULL REFERENCES sale_order, sequence integer DEFAULT 10,
    product_id integer, product_uom_qty numeric, price_unit numeric, discount numeric DEFAULT 0,
    name text, display_type varchar);
CREATE INDEX ON sale_order_line (order_id);  -- as Odoo's (order_id is index=True)
INSERT INTO res_currency (id, name) VALUES (1, 'EUR');
INSERT INTO res_partner (id, name) VALUES (7, 'Azure Interior');
INSERT INTO product_product (id, default_code) VALUES (5, 'MUG-01');
";

const OUTBOX_SQL: &str = include_str!("../../sources/sql/odoo_outbox.sql");

pub async fn run(args: &OdooOutboxArgs) -> Result<(String, serde_json::Value)> {
    let (client, connection) = tokio_postgres::connect(&args.postgres, NoTls)
        .await
        .context("connecting to --postgres")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    if args.setup {
        client
            .batch_execute(TABLES)
            .await
            .context("creating Odoo's tables")?;
        client
            .batch_execute(OUTBOX_SQL)
            .await
            .context("installing the outbox")?;
    }
    let target = Arc::new(Target::parse(&args.url)?);

    let first: i64 = client
        .query_one(
            "SELECT (coalesce(max(id), 0) + 1)::bigint FROM sale_order",
            &[],
        )
        .await?
        .try_get(0)?;
    let orders = i64::try_from(args.orders).unwrap_or(i64::MAX);
    let last = first + orders - 1;
    let load = format!(
        "BEGIN;
         INSERT INTO sale_order (id, name, state, date_order, amount_total, currency_id, partner_id, write_date)
           SELECT g, 'S' || g, 'draft', now() at time zone 'UTC', 24.50, 1, 7, now() at time zone 'UTC'
           FROM generate_series({first}, {last}) g;
         INSERT INTO sale_order_line (order_id, product_id, product_uom_qty, price_unit, name)
           SELECT g, 5, 2, 12.25, 'Mug' FROM generate_series({first}, {last}) g;
         UPDATE sale_order SET state = 'sale', write_date = now() at time zone 'UTC'
           WHERE id BETWEEN {first} AND {last};"
    );
    let load_started = Instant::now();
    client
        .batch_execute(&load)
        .await
        .context("loading orders")?;
    let before_commit = load_started.elapsed();
    client.batch_execute("COMMIT").await.context("COMMIT")?;
    let committed = Instant::now();
    let rows = 2 * orders;
    let deadline = committed + Duration::from_secs(600);
    loop {
        let undone: i64 = client
            .query_one(
                "SELECT count(*) FROM sightline_outbox WHERE done_at IS NULL",
                &[],
            )
            .await?
            .try_get(0)?;
        if undone == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{undone} outbox rows still undone after 10 minutes: is the server's [sources.odoo.postgres] on this database?"
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = committed.elapsed();
    let rows_per_second = rows as f64 / drained.as_secs_f64();

    // Connected now: the server closes keep-alive connections idle through the drain.
    let mut http = Conn::connect(target).await?;
    let mut delays_us = Vec::with_capacity(args.latency_orders as usize);
    let latency_orders = i64::try_from(args.latency_orders).unwrap_or(i64::MAX);
    for id in last + 1..=last + latency_orders {
        let hour = hour_start_us();
        let before = orders_in_hour(&mut http, hour).await?;
        client
            .batch_execute(&format!(
                "BEGIN;
                 INSERT INTO sale_order (id, name, state, date_order, amount_total, currency_id, partner_id, write_date)
                   VALUES ({id}, 'S{id}', 'draft', now() at time zone 'UTC', 24.50, 1, 7, now() at time zone 'UTC');
                 INSERT INTO sale_order_line (order_id, product_id, product_uom_qty, price_unit, name) VALUES ({id}, 5, 2, 12.25, 'Mug');
                 UPDATE sale_order SET state = 'sale', date_order = now() at time zone 'UTC' WHERE id = {id};"
            ))
            .await?;
        client.batch_execute("COMMIT").await?;
        let commit = Instant::now();
        loop {
            if orders_in_hour(&mut http, hour).await? > before {
                break;
            }
            if commit.elapsed() > Duration::from_secs(30) {
                bail!("order {id} did not reach the orders KPI within 30 s");
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        delays_us.push(u32::try_from(commit.elapsed().as_micros()).unwrap_or(u32::MAX));
        tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
    }
    let delay = LatencySummary::from_us(&mut delays_us);
    let human = format!(
        "odoo outbox: {orders} orders ({rows} outbox rows) committed in one transaction (load {:.2} s before COMMIT); drained in {:.3} s: {:.0} rows/s ({:.0} orders/s)\n\
         commit → KPI delay over {} single-order commits: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        before_commit.as_secs_f64(),
        drained.as_secs_f64(),
        rows_per_second,
        orders as f64 / drained.as_secs_f64(),
        delay.count,
        delay.p50_ms,
        delay.p90_ms,
        delay.p99_ms,
        delay.max_ms
    );
    let machine = serde_json::json!({
        "mode": "odoo-outbox",
        "orders": orders,
        "rows": rows,
        "drain_seconds": round3(drained.as_secs_f64()),
        "rows_per_second": round3(rows_per_second),
        "commit_to_kpi": delay.to_json(),
    });
    Ok((human, machine))
}

fn hour_start_us() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_micros() as i64)
        .unwrap_or(0);
    now - now.rem_euclid(3_600_000_000)
}

/// The `orders` count of the hour starting at `hour_us` (0 when it has no window yet).
async fn orders_in_hour(http: &mut Conn, hour_us: i64) -> Result<u64> {
    let start = sightline_generator::time::format_rfc3339_millis(hour_us);
    let end = sightline_generator::time::format_rfc3339_millis(hour_us + 3_600_000_000);
    let body = http
        .get(&format!("/v1/kpis/orders?from={start}&to={end}"))
        .await?;
    let answer: serde_json::Value =
        serde_json::from_slice(&body).context("GET /v1/kpis/orders is not JSON")?;
    let count = answer["windows"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|window| window["window"] == "1h" && window["start"].as_str() == Some(&start))
        .and_then(|window| window["values"][0]["value"].as_u64())
        .unwrap_or(0);
    Ok(count)
}
