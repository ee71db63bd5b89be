//! Per-shop counters of the Shopify source, rendered into `/metrics`.
//!
//! Label values are bounded: a shop label is a configured domain (requests naming any
//! other shop count as `unknown`), and topics are counted only for verified deliveries,
//! at most [`MAX_TOPICS_PER_SHOP`] per shop (then `other`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::event::EventKind;
use crate::metrics::{Family, MetricFamilies, escape};

const MAX_TOPICS_PER_SHOP: usize = 64;

#[derive(Debug, Default)]
pub struct ShopifyMetrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    received: BTreeMap<(String, String), u64>,
    rejected: BTreeMap<(String, &'static str), u64>,
    duplicates: BTreeMap<String, u64>,
    stored: BTreeMap<(String, &'static str), u64>,
    lag_seconds: BTreeMap<String, f64>,
}

impl ShopifyMetrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A verified delivery; `lag_seconds` is receive time minus Shopify's trigger time.
    pub fn received(&self, shop: &str, topic: &str, lag_seconds: Option<f64>) {
        let mut inner = self.lock();
        let topics_of_shop = inner
            .received
            .keys()
            .filter(|(known_shop, _)| known_shop == shop)
            .count();
        let key = (shop.to_owned(), topic.to_owned());
        let key = if inner.received.contains_key(&key) || topics_of_shop < MAX_TOPICS_PER_SHOP {
            key
        } else {
            (shop.to_owned(), "other".to_owned())
        };
        *inner.received.entry(key).or_default() += 1;
        if let Some(lag) = lag_seconds {
            inner.lag_seconds.insert(shop.to_owned(), lag);
        }
    }

    pub fn rejected(&self, shop: &str, reason: &'static str) {
        *self
            .lock()
            .rejected
            .entry((shop.to_owned(), reason))
            .or_default() += 1;
    }

    pub fn committed(&self, shop: &str, duplicates: usize, stored: &[(EventKind, usize)]) {
        let mut inner = self.lock();
        if duplicates > 0 {
            *inner.duplicates.entry(shop.to_owned()).or_default() += duplicates as u64;
        }
        for &(kind, count) in stored {
            if count > 0 {
                *inner
                    .stored
                    .entry((shop.to_owned(), kind.as_str()))
                    .or_default() += count as u64;
            }
        }
    }

    pub fn received_count(&self, shop: &str, topic: &str) -> u64 {
        self.lock()
            .received
            .get(&(shop.to_owned(), topic.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    pub fn render(&self, out: &mut String) {
        let mut families = MetricFamilies::default();
        self.collect(&mut families);
        families.render(out);
    }

    /// Adds this source's samples to the shared `sightline_source_*` families.
    pub fn collect(&self, families: &mut MetricFamilies) {
        let inner = self.lock();
        for ((shop, topic), count) in &inner.received {
            families.add(
                Family::Received,
                format!(
                    "source=\"shopify\",shop=\"{}\",topic=\"{}\"",
                    escape(shop),
                    escape(topic)
                ),
                count,
            );
        }
        for ((shop, reason), count) in &inner.rejected {
            families.add(
                Family::Rejected,
                format!(
                    "source=\"shopify\",shop=\"{}\",reason=\"{reason}\"",
                    escape(shop)
                ),
                count,
            );
        }
        for (shop, count) in &inner.duplicates {
            families.add(
                Family::Duplicates,
                format!("source=\"shopify\",shop=\"{}\"", escape(shop)),
                count,
            );
        }
        for ((shop, kind), count) in &inner.stored {
            families.add(
                Family::Events,
                format!(
                    "source=\"shopify\",shop=\"{}\",kind=\"{kind}\"",
                    escape(shop)
                ),
                count,
            );
        }
        for (shop, lag) in &inner.lag_seconds {
            families.add(
                Family::Lag,
                format!("source=\"shopify\",shop=\"{}\"", escape(shop)),
                lag,
            );
        }
    }
}
