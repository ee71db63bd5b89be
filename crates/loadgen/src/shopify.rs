//! `shopify`: webhooks per second through `POST /v1/sources/shopify`, each one a signed
//! `orders/create` delivery (a realistic ~5 KB order) verified, translated and answered
//! only once durable — one order per request, as Shopify sends them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use sightline_sources::shopify::Shop;
use tokio::task::JoinSet;

use crate::ShopifyArgs;
use crate::http::{Conn, Target};
use crate::stats::{LatencySummary, Totals, round3};

/// The realistic order the benchmark sends (the same one the tests use).
const ORDER: &str = include_str!("../../sources/tests/fixtures/orders_create.json");
/// Its id, replaced by a fresh one in every delivery.
const ORDER_ID: &str = "5678901234567";

/// One signed delivery, ready to send.
struct Delivery {
    body: Bytes,
    signature: HeaderValue,
    event_id: HeaderValue,
}

/// Builds delivery `number`'s body: the order with its own id, so each is a new order.
struct Template {
    parts: Vec<&'static str>,
}

impl Template {
    fn new() -> Result<Template> {
        let parts: Vec<&str> = ORDER.split(ORDER_ID).collect();
        if parts.len() < 2 {
            bail!("the order fixture no longer holds its id {ORDER_ID}");
        }
        Ok(Template { parts })
    }

    fn body(&self, order_id: &str) -> Vec<u8> {
        self.parts.join(order_id).into_bytes()
    }
}

pub async fn run(args: &ShopifyArgs) -> Result<(String, serde_json::Value)> {
    let target = Arc::new(Target::parse(&args.url)?);
    let template = Arc::new(Template::new()?);
    let shop = Arc::new(Shop::with_secret(&args.shop, args.secret.as_bytes()));
    let domain = HeaderValue::from_str(&args.shop).context("--shop")?;
    // Ids unique to this run, so a second run against the same data directory stores
    // new orders instead of counting duplicates.
    let run_tag = crate::clock_seed();
    let total = args.webhooks;
    // Bodies and signatures are made before the clock starts: Shopify signs on its own
    // machines, and on a shared 2-core machine signing in the timed loop would take CPU
    // from the server being measured.
    let prepared = Instant::now();
    let deliveries: Vec<Delivery> = (0..total)
        .map(|number| {
            // Shopify's ids are unsigned 64-bit integers: keep within them.
            let order_id = ((run_tag % 1_000_000) * 10_000_000_000 + number).to_string();
            let body = template.body(&order_id);
            let signature = HeaderValue::from_str(&shop.keys[0].sign(&body))?;
            let event_id = HeaderValue::from_str(&format!("bench-{run_tag}-{number}"))?;
            Ok(Delivery {
                body: Bytes::from(body),
                signature,
                event_id,
            })
        })
        .collect::<Result<_>>()?;
    let deliveries = Arc::new(deliveries);
    eprintln!(
        "shopify: {total} signed deliveries prepared in {:.2} s",
        prepared.elapsed().as_secs_f64()
    );
    let next = Arc::new(AtomicU64::new(0));
    let mut conns = Vec::new();
    for _ in 0..args.connections {
        conns.push(Conn::connect(target.clone()).await?);
    }
    eprintln!(
        "shopify: {total} signed orders/create webhooks over {} connections to {} (run tag {run_tag})",
        args.connections, target.display
    );
    let started = Instant::now();
    let mut set = JoinSet::new();
    for mut conn in conns {
        let (deliveries, next, domain) = (deliveries.clone(), next.clone(), domain.clone());
        set.spawn(async move {
            let mut totals = Totals::default();
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed);
                let Some(delivery) = usize::try_from(number)
                    .ok()
                    .and_then(|index| deliveries.get(index))
                else {
                    break;
                };
                let headers = vec![
                    (CONTENT_TYPE, HeaderValue::from_static("application/json")),
                    (
                        HeaderName::from_static("x-shopify-shop-domain"),
                        domain.clone(),
                    ),
                    (
                        HeaderName::from_static("x-shopify-topic"),
                        HeaderValue::from_static("orders/create"),
                    ),
                    (
                        HeaderName::from_static("x-shopify-hmac-sha256"),
                        delivery.signature.clone(),
                    ),
                    (
                        HeaderName::from_static("x-shopify-event-id"),
                        delivery.event_id.clone(),
                    ),
                ];
                let size = delivery.body.len() as u64;
                let (answer, latency_us) = conn.post_with(delivery.body.clone(), headers).await?;
                totals.record(1, size, latency_us, &answer);
            }
            anyhow::Ok(totals)
        });
    }
    let mut totals = Totals::default();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(part)) => totals.merge(part),
            Ok(Err(error)) => {
                set.abort_all();
                return Err(error);
            }
            Err(error) => {
                set.abort_all();
                return Err(error.into());
            }
        }
    }
    let wall_secs = started.elapsed().as_secs_f64();
    let latency = LatencySummary::from_us(&mut totals.latencies_us);
    let per_sec = totals.requests as f64 / wall_secs.max(1e-9);
    let ack = totals.ack;
    let human = format!(
        "shopify: {} webhooks in {wall_secs:.3} s: {per_sec:.0} webhooks/s ({:.1} MB/s of bodies)\n  \
         acked: accepted {}, duplicates {}, rejected {}\n  \
         request latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        totals.requests,
        totals.body_bytes as f64 / wall_secs.max(1e-9) / 1e6,
        ack.accepted,
        ack.duplicates,
        ack.rejected,
        latency.p50_ms,
        latency.p90_ms,
        latency.p99_ms,
        latency.max_ms,
    );
    let machine = serde_json::json!({
        "mode": "shopify",
        "url": target.display,
        "connections": args.connections,
        "webhooks": totals.requests,
        "accepted": ack.accepted,
        "duplicates": ack.duplicates,
        "rejected": ack.rejected,
        "wall_secs": round3(wall_secs),
        "webhooks_per_sec": per_sec.round(),
        "latency": latency.to_json(),
    });
    Ok((human, machine))
}
