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
    let client = Client::new();
    for shop in &shops {
        let summary = reconcile_shop(&client, config, shop, since, &base_url)
            .with_context(|| format!("reconciling {}", shop.domain))?;
        println!("{}: {summary}", shop.domain);
    }
    Ok(())
}

/// What one reconciliation of a shop did.
struct Summary {
    since: String,
    orders: usize,
    pages: usize,
    posted: PostOutcome,
    skipped: usize,
    too_old: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{} orders updated since {} in {} pages; {} events stored (missed before), {} already stored, {} rejected; {} orders skipped; {} events older than the dedup horizon left alone",
            self.orders,
            self.since,
            self.pages,
            self.posted.accepted,
            self.posted.duplicates,
            self.posted.rejected,
            self.skipped,
            self.too_old
        )
    }
}

/// Reads the orders of `shop` updated since `since` and posts their events to the server
/// at `base_url`.
fn reconcile_shop(
    client: &Client,
    config: &Config,
    shop: &Shop,
    since: &str,
    base_url: &str,
) -> anyhow::Result<Summary> {
    // Dedup remembers identities for dedup.horizon only: an event older than that may be
    // stored and forgotten, and posting it again would store it twice. Its webhook was
    // sent at its time, long before any outage reconciliation is for, so it is skipped.
    let horizon_us = i64::try_from(config.dedup.horizon.0.as_micros()).unwrap_or(i64::MAX);
    let oldest_us = sightline_model::time::now_micros()
        .saturating_sub(horizon_us)
        .saturating_add(3_600_000_000);
    let mut summary = Summary {
        since: since.to_owned(),
        orders: 0,
        pages: 0,
        posted: PostOutcome::default(),
        skipped: 0,
        too_old: 0,
    };
    summary.pages = client.reconcile_orders(
        shop,
        &config.sources.shopify.api_version,
        since,
        &mut |page| {
            summary.orders += page.orders;
            for (position, error) in &page.skipped {
                summary.skipped += 1;
                tracing::warn!(shop = %shop.domain, order = %position, %error, "order not reconciled");
            }
            let before = page.events.len();
            let events: Vec<_> = page
                .events
                .into_iter()
                .filter(|event| event.time_us.is_none_or(|time| time >= oldest_us))
                .collect();
            summary.too_old += before - events.len();
            let outcome = client.post_events(base_url, &events)?;
            summary.posted.accepted += outcome.accepted;
            summary.posted.duplicates += outcome.duplicates;
            summary.posted.rejected += outcome.rejected;
            Ok(())
        },
    )?;
    Ok(summary)
}

/// How far back a periodic run looks before the previous run started: orders updated
/// while it ran are read again (their events are duplicates then, counted once).
const RECONCILE_OVERLAP_US: i64 = 10 * 60 * 1_000_000;
/// How far back the first periodic run of a shop looks.
const FIRST_RECONCILE_LOOKBACK_US: i64 = 24 * 3_600 * 1_000_000;

/// Starts the periodic reconciliation of `[sources.shopify] reconcile_every`, when set,
/// for every shop with an access token, posting to the server at `base_url`. Each shop's
/// cursor (when its last successful run started) is kept in the data directory, so a
/// restart goes on where it stopped. Stops when `stop` is set.
pub fn start_periodic(
    config: &Config,
    base_url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    let every = config.sources.shopify.reconcile_every?.0;
    let shops: Vec<Shop> = config
        .sources
        .shopify
        .shops
        .iter()
        .filter(|shop| shop.access_token_source().is_some())
        .map(Shop::for_reconcile)
        .collect();
    if shops.is_empty() {
        tracing::warn!(
            "sources.shopify.reconcile_every is set but no shop has an access token; nothing to reconcile"
        );
        return None;
    }
    let config = config.clone();
    let cursors = config.storage.data_dir.join("sources/shopify");
    std::thread::Builder::new()
        .name("shopify-reconcile".into())
        .spawn(move || {
            let client = Client::new();
            // The first run comes one period after the start, as every later one.
            loop {
                // Sleep in short steps so a stop is not kept waiting for a whole period.
                let wake_at = std::time::Instant::now() + every;
                while std::time::Instant::now() < wake_at {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                for shop in &shops {
                    reconcile_periodically(&client, &config, shop, &base_url, &cursors);
                }
            }
        })
        .map_err(|error| tracing::error!(%error, "cannot start the Shopify reconciliation"))
        .ok()
}

fn reconcile_periodically(
    client: &Client,
    config: &Config,
    shop: &Shop,
    base_url: &str,
    cursors: &std::path::Path,
) {
    use sightline_model::time::{format_rfc3339, now_micros, parse_rfc3339};
    let cursor_path = cursors.join(format!("reconcile-{}.cursor", shop.domain));
    let started = now_micros();
    let since_us = std::fs::read_to_string(&cursor_path)
        .ok()
        .and_then(|text| parse_rfc3339(text.trim()).ok())
        .map_or(
            started.saturating_sub(FIRST_RECONCILE_LOOKBACK_US),
            |last| last.saturating_sub(RECONCILE_OVERLAP_US),
        );
    // The Admin API takes whole seconds.
    let since = format_rfc3339(since_us - since_us.rem_euclid(1_000_000)).replace(".000Z", "Z");
    match reconcile_shop(client, config, shop, &since, base_url) {
        Ok(summary) => {
            tracing::info!(shop = %shop.domain, "reconciled: {summary}");
            let written = std::fs::create_dir_all(cursors).and_then(|()| {
                let temporary = cursor_path.with_extension("cursor.tmp");
                std::fs::write(&temporary, format_rfc3339(started))?;
                std::fs::rename(&temporary, &cursor_path)
            });
            if let Err(error) = written {
                tracing::warn!(shop = %shop.domain, %error, "cannot save the reconciliation cursor; the next run looks back further");
            }
        }
        Err(error) => {
            tracing::warn!(shop = %shop.domain, error = format!("{error:#}"), "reconciliation failed; retrying at the next period");
        }
    }
}

/// The server of this configuration, as a client on this machine reaches it.
fn server_url(config: &Config) -> String {
    url_of(config.server.listen)
}

/// The URL a client on this machine reaches a server listening on `listen` at.
pub fn url_of(listen: std::net::SocketAddr) -> String {
    let host = if listen.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if listen.is_ipv6() {
        format!("[{}]", listen.ip())
    } else {
        listen.ip().to_string()
    };
    format!("http://{host}:{}", listen.port())
}
