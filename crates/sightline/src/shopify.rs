//! `sightline shopify reconcile`: orders the webhooks missed, read back from the Admin API
//! and posted to the running server with the webhooks' identities (so what did arrive is
//! a duplicate, and only what was lost is stored).

use anyhow::{Context, bail};
use sightline_config::Config;
use sightline_sources::shopify::Shop;
use sightline_sources::shopify::reconcile::{Client, PostOutcome};

pub fn reconcile(
    config: &Config,
    since: &str,
    only_shop: Option<&str>,
    url: Option<&str>,
) -> anyhow::Result<()> {
    if let Err(problem) = sightline_model::time::parse_rfc3339(since) {
        bail!("--since {since:?}: {problem}; give an RFC 3339 time such as 2026-11-27T00:00:00Z");
    }
    let shopify = &config.sources.shopify;
    let shops: Vec<Shop> = shopify
        .shops
        .iter()
        .filter(|shop| only_shop.is_none_or(|only| shop.domain.get_ref() == only))
        .map(Shop::for_reconcile)
        .collect();
    if shops.is_empty() {
        match only_shop {
            Some(only) => bail!(
                "no Shopify shop {only} in the configuration; add a [[sources.shopify.shops]] table for it"
            ),
            None => bail!(
                "no Shopify shops are configured; add a [[sources.shopify.shops]] table (see sightline.example.toml)"
            ),
        }
    }
    let base_url = match url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => server_url(config),
    };
    // Dedup remembers identities for dedup.horizon only: an event older than that may be
    // stored and forgotten, and posting it again would store it twice. Its webhook was
    // sent at its time, long before any outage reconciliation is for, so it is skipped.
    let horizon_us = i64::try_from(config.dedup.horizon.0.as_micros()).unwrap_or(i64::MAX);
    let oldest_us = sightline_model::time::now_micros()
        .saturating_sub(horizon_us)
        .saturating_add(3_600_000_000);
    let client = Client::new();
    for shop in &shops {
        let mut orders = 0;
        let mut skipped = 0;
        let mut too_old = 0;
        let mut totals = PostOutcome::default();
        let pages = client
            .reconcile_orders(shop, &shopify.api_version, since, &mut |page| {
                orders += page.orders;
                for (position, error) in &page.skipped {
                    skipped += 1;
                    tracing::warn!(shop = %shop.domain, order = %position, %error, "order not reconciled");
                }
                let before = page.events.len();
                let events: Vec<_> = page
                    .events
                    .into_iter()
                    .filter(|event| event.time_us.is_none_or(|time| time >= oldest_us))
                    .collect();
                too_old += before - events.len();
                let outcome = client.post_events(&base_url, &events)?;
                totals.accepted += outcome.accepted;
                totals.duplicates += outcome.duplicates;
                totals.rejected += outcome.rejected;
                Ok(())
            })
            .with_context(|| format!("reconciling {}", shop.domain))?;
        println!(
            "{}: {orders} orders updated since {since} in {pages} pages; {} events stored (missed before), {} already stored, {} rejected; {skipped} orders skipped; {too_old} events older than the dedup horizon left alone",
            shop.domain, totals.accepted, totals.duplicates, totals.rejected
        );
    }
    Ok(())
}

/// The server of this configuration, as a client on this machine reaches it.
fn server_url(config: &Config) -> String {
    let listen = config.server.listen;
    let host = if listen.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if listen.is_ipv6() {
        format!("[{}]", listen.ip())
    } else {
        listen.ip().to_string()
    };
    format!("http://{host}:{}", listen.port())
}
