//! Shopify: webhooks in (`POST /v1/sources/shopify`), orders reconciled from the Admin API.
//!
//! A delivery goes through [`ShopifyReceiver::receive`]: the shop named by
//! `X-Shopify-Shop-Domain` must be configured, `X-Shopify-Hmac-Sha256` must verify with
//! one of its secrets (`verify.rs`) before anything reads the body, the topic and event
//! id headers must be there; then `translate.rs` turns the payload into catalogue events,
//! with the state carts and inventory levels need (`cart_state.rs`, `sku_map.rs`). The
//! caller commits the events and answers; [`ShopifyReceiver::committed`] then records
//! what the commit did.

pub mod cart_state;
pub mod event;
pub(crate) mod journal;
pub mod metrics;
pub mod payload;
pub mod reconcile;
pub mod sku_map;
pub mod translate;
pub mod verify;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sightline_config::{SecretSource, ShopifyConfig, ShopifyShop};
use sightline_model::time::parse_rfc3339;

pub use cart_state::{CartStep, CartStore};
pub use event::{EventKind, OutEvent, Via};
pub use metrics::ShopifyMetrics;
pub use sku_map::SkuMap;
pub use translate::Translation;
pub use verify::{KeyRole, SigningKey, VerifyError};

use crate::error::{SourceError, TranslateError};

/// One configured store, its secrets resolved.
#[derive(Debug)]
pub struct Shop {
    pub domain: String,
    /// `shopify/<domain>`: the CloudEvents `source` of its events.
    pub source: String,
    pub keys: Vec<SigningKey>,
    pub include_test_orders: bool,
    pub configured_skus: HashMap<String, String>,
    pub locations: HashMap<String, String>,
    pub admin_url: String,
    access_token: Option<SecretSource>,
}

impl Shop {
    /// Resolves the shop's secrets (environment or file) from its configuration.
    pub fn from_config(config: &ShopifyShop) -> Result<Shop, SourceError> {
        let keys = Shop::signing_keys(config)?;
        Ok(Shop::without_keys(config, keys))
    }

    /// The shop for reconciliation, which needs the access token, not the webhook secrets.
    pub fn for_reconcile(config: &ShopifyShop) -> Shop {
        Shop::without_keys(config, Vec::new())
    }

    fn signing_keys(config: &ShopifyShop) -> Result<Vec<SigningKey>, SourceError> {
        let domain = config.domain.get_ref().clone();
        let mut keys = Vec::new();
        let current = config
            .secret_source()
            .ok_or_else(|| SourceError::SecretEmpty {
                shop: domain.clone(),
                what: "webhook secret",
            })?;
        keys.push(SigningKey::new(
            &read_secret(&current, &domain, "webhook secret")?,
            KeyRole::Current,
            None,
        ));
        if let Some(previous) = config.previous_secret_source() {
            let until = config
                .previous_secret_until
                .as_ref()
                .and_then(|until| parse_rfc3339(until.get_ref()).ok());
            keys.push(SigningKey::new(
                &read_secret(&previous, &domain, "previous webhook secret")?,
                KeyRole::Previous,
                until,
            ));
        }
        Ok(keys)
    }

    fn without_keys(config: &ShopifyShop, keys: Vec<SigningKey>) -> Shop {
        let domain = config.domain.get_ref().clone();
        Shop {
            source: format!("shopify/{domain}"),
            include_test_orders: config.include_test_orders,
            configured_skus: config
                .inventory_skus
                .iter()
                .map(|(item, sku)| (item.clone(), sku.clone()))
                .collect(),
            locations: config
                .locations
                .iter()
                .map(|(id, name)| (id.clone(), name.clone()))
                .collect(),
            admin_url: config.admin_base_url(),
            access_token: config.access_token_source(),
            keys,
            domain,
        }
    }

    /// A shop for tests and benchmarks, with one inline secret.
    pub fn with_secret(domain: &str, secret: &[u8]) -> Shop {
        Shop {
            domain: domain.to_owned(),
            source: format!("shopify/{domain}"),
            keys: vec![SigningKey::new(secret, KeyRole::Current, None)],
            include_test_orders: false,
            configured_skus: HashMap::new(),
            locations: HashMap::new(),
            admin_url: format!("https://{domain}"),
            access_token: None,
        }
    }

    /// The Admin API access token, read now (it is never kept in memory longer).
    pub fn access_token(&self) -> Result<String, SourceError> {
        let source = self
            .access_token
            .as_ref()
            .ok_or_else(|| SourceError::NoAccessToken {
                shop: self.domain.clone(),
            })?;
        let bytes = read_secret(source, &self.domain, "Admin API access token")?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

fn read_secret(
    source: &SecretSource,
    shop: &str,
    what: &'static str,
) -> Result<Vec<u8>, SourceError> {
    let value = match source {
        SecretSource::Env(name) => std::env::var_os(name)
            .ok_or_else(|| SourceError::SecretEnvMissing {
                shop: shop.to_owned(),
                what,
                name: name.clone(),
            })?
            .into_encoded_bytes(),
        SecretSource::File(path) => {
            std::fs::read(path).map_err(|source| SourceError::SecretFile {
                shop: shop.to_owned(),
                what,
                path: path.clone(),
                source,
            })?
        }
        SecretSource::Inline(secret) => secret.expose().as_bytes().to_vec(),
    };
    let trimmed = value.trim_ascii().to_vec();
    if trimmed.is_empty() {
        return Err(SourceError::SecretEmpty {
            shop: shop.to_owned(),
            what,
        });
    }
    Ok(trimmed)
}

/// Every configured shop, by domain.
#[derive(Debug, Default)]
pub struct Shops {
    by_domain: HashMap<String, Arc<Shop>>,
}

impl Shops {
    pub fn from_config(config: &ShopifyConfig) -> Result<Shops, SourceError> {
        let mut by_domain = HashMap::new();
        for shop in &config.shops {
            let shop = Shop::from_config(shop)?;
            by_domain.insert(shop.domain.clone(), Arc::new(shop));
        }
        Ok(Shops { by_domain })
    }

    pub fn from_shops(shops: Vec<Shop>) -> Shops {
        Shops {
            by_domain: shops
                .into_iter()
                .map(|shop| (shop.domain.clone(), Arc::new(shop)))
                .collect(),
        }
    }

    pub fn get(&self, domain: &str) -> Option<&Arc<Shop>> {
        self.by_domain.get(domain)
    }

    pub fn is_empty(&self) -> bool {
        self.by_domain.is_empty()
    }

    pub fn domains(&self) -> Vec<&str> {
        let mut domains: Vec<&str> = self.by_domain.keys().map(String::as_str).collect();
        domains.sort_unstable();
        domains
    }
}

/// The headers of a delivery that the receiver reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryHeaders<'a> {
    pub shop_domain: Option<&'a str>,
    pub hmac: Option<&'a [u8]>,
    pub topic: Option<&'a str>,
    pub event_id: Option<&'a str>,
    pub webhook_id: Option<&'a str>,
    pub triggered_at: Option<&'a str>,
}

/// A delivery that was refused: the status to answer, the metrics reason and a message
/// that says what to fix.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
    pub message: String,
    /// The shop's label in `/metrics` (`unknown` when it is not configured).
    pub shop: String,
    /// Set for a payload that was verified but cannot be translated (dead-lettered).
    pub translate_error: Option<TranslateError>,
}

/// A verified, translated delivery, ready to commit.
#[derive(Debug)]
pub struct Accepted {
    pub shop: Arc<Shop>,
    pub topic: String,
    pub delivery_id: String,
    pub events: Vec<OutEvent>,
    /// The cart whose state this delivery advanced, to mark committed afterwards.
    cart: Option<String>,
}

/// The Shopify webhook endpoint's logic and state, shared by every request.
#[derive(Debug)]
pub struct ShopifyReceiver {
    shops: Shops,
    carts: Mutex<CartStore>,
    skus: Mutex<SkuMap>,
    pub metrics: ShopifyMetrics,
}

impl ShopifyReceiver {
    /// Opens the receiver with its state journals under `state_dir`.
    pub fn open(shops: Shops, state_dir: &Path) -> Result<ShopifyReceiver, SourceError> {
        Ok(ShopifyReceiver {
            carts: Mutex::new(CartStore::open(&state_dir.join("carts.journal"))?),
            skus: Mutex::new(SkuMap::open(&state_dir.join("skus.journal"))?),
            shops,
            metrics: ShopifyMetrics::default(),
        })
    }

    pub fn shops(&self) -> &Shops {
        &self.shops
    }

    /// Whether a topic's translation writes a journal (fsync): run it off the async workers.
    pub fn blocks(topic: Option<&str>) -> bool {
        matches!(
            topic,
            Some("carts/create" | "carts/update" | "products/create" | "products/update")
        )
    }

    /// Authenticates and translates one delivery. Refusals are counted and logged here
    /// (never with the body).
    pub fn receive(
        &self,
        headers: &DeliveryHeaders<'_>,
        body: &[u8],
        now_us: i64,
    ) -> Result<Accepted, Refusal> {
        let result = self.receive_uncounted(headers, body, now_us);
        if let Err(refusal) = &result {
            self.metrics.rejected(&refusal.shop, refusal.reason);
            tracing::warn!(
                shop = %refusal.shop,
                claimed_shop = headers.shop_domain.unwrap_or(""),
                topic = headers.topic.unwrap_or(""),
                reason = refusal.reason,
                status = refusal.status,
                body_bytes = body.len(),
                "Shopify delivery refused: {}",
                refusal.message
            );
        }
        result
    }

    fn receive_uncounted(
        &self,
        headers: &DeliveryHeaders<'_>,
        body: &[u8],
        now_us: i64,
    ) -> Result<Accepted, Refusal> {
        let refuse = |status, reason, shop: &str, message: String| Refusal {
            status,
            reason,
            message,
            shop: shop.to_owned(),
            translate_error: None,
        };
        let claimed = headers
            .shop_domain
            .map(|domain| domain.trim().to_ascii_lowercase());
        let Some(claimed) = claimed.filter(|domain| !domain.is_empty()) else {
            return Err(refuse(
                401,
                "unknown_shop",
                "unknown",
                "the X-Shopify-Shop-Domain header is missing; Shopify sends it with every webhook"
                    .into(),
            ));
        };
        let Some(shop) = self.shops.get(&claimed) else {
            return Err(refuse(
                401,
                "unknown_shop",
                "unknown",
                format!(
                    "shop {claimed} is not configured; add a [[sources.shopify.shops]] table for it"
                ),
            ));
        };
        let shop = Arc::clone(shop);
        if let Err(error) = verify::verify(&shop.keys, body, headers.hmac, now_us) {
            let message = match error {
                VerifyError::Missing => {
                    "the X-Shopify-Hmac-Sha256 header is missing; Shopify signs every webhook"
                        .to_owned()
                }
                VerifyError::Malformed => {
                    "X-Shopify-Hmac-Sha256 is not the base64 of a SHA-256 HMAC".to_owned()
                }
                VerifyError::Mismatch => format!(
                    "X-Shopify-Hmac-Sha256 does not match the body signed with a secret of {}; check the shop's secret in [[sources.shopify.shops]]",
                    shop.domain
                ),
                VerifyError::ExpiredSecret => format!(
                    "the delivery is signed with the previous secret of {}, refused since previous_secret_until",
                    shop.domain
                ),
            };
            return Err(refuse(401, error.as_str(), &shop.domain, message));
        }
        let Some(topic) = headers
            .topic
            .map(str::trim)
            .filter(|topic| !topic.is_empty())
        else {
            return Err(refuse(
                400,
                "missing_header",
                &shop.domain,
                "X-Shopify-Topic: required header is missing".into(),
            ));
        };
        let delivery_id = [headers.event_id, headers.webhook_id]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|id| !id.is_empty());
        let Some(delivery_id) = delivery_id else {
            return Err(refuse(400, "missing_header", &shop.domain, "X-Shopify-Event-Id: required header is missing (and there is no X-Shopify-Webhook-Id either)".into()));
        };
        let lag = headers
            .triggered_at
            .and_then(|time| parse_rfc3339(time).ok())
            .map(|triggered| (now_us - triggered) as f64 / 1e6);
        self.metrics.received(&shop.domain, topic, lag);

        let translated = {
            let skus = self
                .skus
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let sku_of_item = |item: &str| skus.get(&shop.domain, item);
            translate::translate(&shop, topic, delivery_id, body, &sku_of_item)
        };
        let translated = translated.map_err(|error| Refusal {
            status: 400,
            reason: "bad_payload",
            message: format!("{error}"),
            shop: shop.domain.clone(),
            translate_error: Some(error),
        })?;
        let storage_refusal = |error: SourceError| Refusal {
            status: 503,
            reason: "storage",
            message: error.to_string(),
            shop: shop.domain.clone(),
            translate_error: None,
        };
        let (events, cart) = match translated {
            Translation::Events(events) => (events, None),
            Translation::Products { events, skus } => {
                let mut map = self
                    .skus
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                map.learn(&shop.domain, &skus).map_err(storage_refusal)?;
                (events, None)
            }
            Translation::Cart(snapshot) => {
                let mut carts = self
                    .carts
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                match carts.step(&shop.domain, &snapshot, delivery_id, topic) {
                    CartStep::Stale => (Vec::new(), None),
                    CartStep::Repeat(record) => (
                        translate::cart_events(
                            &shop,
                            &snapshot,
                            &record.grown,
                            &record.topic,
                            delivery_id,
                        ),
                        Some(snapshot.token.clone()),
                    ),
                    CartStep::Advance {
                        record,
                        unconfirmed_before,
                    } => {
                        let mut events = Vec::new();
                        if let Some(before) = unconfirmed_before {
                            let before_snapshot = before.snapshot(&snapshot.token);
                            events.extend(translate::cart_events(
                                &shop,
                                &before_snapshot,
                                &before.grown,
                                &before.topic,
                                &before.delivery,
                            ));
                        }
                        events.extend(translate::cart_events(
                            &shop,
                            &snapshot,
                            &record.grown,
                            topic,
                            delivery_id,
                        ));
                        carts
                            .record(&shop.domain, &snapshot.token, record)
                            .map_err(storage_refusal)?;
                        (events, Some(snapshot.token.clone()))
                    }
                }
            }
        };
        Ok(Accepted {
            shop,
            topic: topic.to_owned(),
            delivery_id: delivery_id.to_owned(),
            events,
            cart,
        })
    }

    /// Records what the commit of `accepted` did (durable by now).
    pub fn committed(&self, accepted: &Accepted, duplicates: usize, now_us: i64) {
        let mut stored = [
            (EventKind::Catalogue, 0),
            (EventKind::Extension, 0),
            (EventKind::Test, 0),
        ];
        let new_events = accepted.events.len().saturating_sub(duplicates);
        // The commit reports totals, not which events were new; attribute the new ones
        // by kind in order (a delivery's events are nearly always of one kind).
        let mut left = new_events;
        for event in &accepted.events {
            if left == 0 {
                break;
            }
            if let Some(slot) = stored.iter_mut().find(|(kind, _)| *kind == event.kind) {
                slot.1 += 1;
                left -= 1;
            }
        }
        self.metrics
            .committed(&accepted.shop.domain, duplicates, &stored);
        if let Some(token) = &accepted.cart {
            let mut carts = self
                .carts
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            carts.committed(&accepted.shop.domain, token, &accepted.delivery_id, now_us);
        }
    }

    /// Counts a delivery whose events ingest rejected (e.g. a currency without a rate).
    pub fn events_rejected(&self, shop: &str) {
        self.metrics.rejected(shop, "invalid_event");
    }

    /// The cart growth recorded before a crash but perhaps never committed: commit these
    /// at start (their ids make a second copy a duplicate), then call
    /// [`ShopifyReceiver::committed`] for each.
    pub fn pending_cart_deliveries(&self) -> Vec<Accepted> {
        let carts = self
            .carts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        carts
            .uncommitted()
            .into_iter()
            .filter_map(|(domain, token, record)| {
                let Some(shop) = self.shops.get(&domain) else {
                    tracing::warn!(shop = %domain, "cart growth of a shop no longer configured is dropped");
                    return None;
                };
                let snapshot = record.snapshot(&token);
                Some(Accepted {
                    shop: Arc::clone(shop),
                    topic: record.topic.clone(),
                    delivery_id: record.delivery.clone(),
                    events: translate::cart_events(shop, &snapshot, &record.grown, &record.topic, &record.delivery),
                    cart: Some(token),
                })
            })
            .collect()
    }

    pub fn render_metrics(&self, out: &mut String) {
        self.metrics.render(out);
    }
}
