//! Odoo: one database reached three ways, all translated by the same code into the same
//! identities (`translate.rs`), so a fact that arrives by several ways, or several times,
//! is stored once:
//!
//! - **webhook** (`POST /v1/sources/odoo/<token>`): Odoo 17+'s "Send Webhook
//!   Notification" automation. Odoo signs nothing, so the token in the URL is the secret,
//!   compared in constant time; the server commits what [`OdooReceiver::receive_webhook`]
//!   returns and answers once it is durable.
//! - **poller** (`poller.rs`): `search_read` over JSON-RPC (Odoo 16–18) or JSON-2 (19+),
//!   a `write_date` cursor per model with an overlap window; the source of truth, since
//!   webhooks are lost when Sightline is down.
//! - **outbox** (`outbox.rs`, cargo feature `postgres`): triggers in Odoo's PostgreSQL
//!   write changed rows to an outbox table and `NOTIFY`; rows are marked done only once
//!   their events are durable.
//!
//! The poller and the outbox commit through an [`EventSink`] (the server's ingest path,
//! or a running server over HTTP); [`OdooReceiver::committed`] then records what the
//! commit did.

pub mod event;
pub mod metrics;
#[cfg(feature = "postgres")]
pub mod outbox;
pub mod poller;
pub mod record;
pub mod state;
pub mod translate;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sightline_config::{OdooConfig, SecretSource};

pub use event::Via;
pub use metrics::OdooMetrics;
pub use record::{OdooRecord, Timestamp};
pub use translate::Settings;

use self::state::{ProductStore, ProductionStep, ProductionStore, QuantStep, QuantStore};
use self::translate::ProductionReading;
use crate::error::{SourceError, TranslateError};
use crate::shopify::event::{EventKind, OutEvent};

/// A record that could not be translated: kept in the dead letters with its reason.
#[derive(Debug, Clone)]
pub struct DeadRecord {
    pub model: String,
    pub record_id: i64,
    /// The record as received (JSON).
    pub raw: Vec<u8>,
    pub error: TranslateError,
}

impl DeadRecord {
    /// The dead letter's reason: the record, then the field.
    pub fn reason(&self) -> String {
        format!("{}/{}: {}", self.model, self.record_id, self.error)
    }
}

/// What ingest did with a commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkOutcome {
    pub accepted: usize,
    pub duplicates: usize,
    /// Events validation refused: their index in the committed slice and the reason.
    pub rejected: Vec<(usize, String)>,
}

/// Where the poller and the outbox commit events: durable when `commit` returns `Ok`.
pub trait EventSink: Send + Sync {
    fn commit(&self, events: &[OutEvent], dead: &[DeadRecord]) -> Result<SinkOutcome, SourceError>;
}

/// Records translated together, ready to commit.
#[derive(Debug)]
pub struct Batch {
    pub via: Via,
    pub events: Vec<OutEvent>,
    /// Records that cannot be translated (dead-lettered beside the events).
    pub dead: Vec<DeadRecord>,
    /// Production growth among the events, noted as committed afterwards.
    outputs: Vec<ProductionReading>,
}

impl Batch {
    pub fn empty(via: Via) -> Batch {
        Batch {
            via,
            events: Vec::new(),
            dead: Vec::new(),
            outputs: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.dead.is_empty()
    }
}

/// A webhook delivery that was refused: the status to answer, the metrics reason and a
/// message that says what to fix.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
    pub message: String,
    /// Set for a payload that was authenticated but cannot be translated (dead-lettered).
    pub translate_error: Option<TranslateError>,
}

/// One accepted webhook token, kept as its SHA-256 so that comparing takes the same time
/// whatever the length or content of the token tried.
struct TokenKey([u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("TokenKey(<redacted>)")
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl TokenKey {
    fn matches(&self, candidate: &[u8; 32]) -> bool {
        // Constant time: every byte is compared, whatever differs first.
        self.0
            .iter()
            .zip(candidate)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
    }
}

/// The Odoo source's logic and state, shared by the webhook route, the poller and the
/// outbox.
#[derive(Debug)]
pub struct OdooReceiver {
    settings: Settings,
    tokens: Vec<TokenKey>,
    products: Mutex<ProductStore>,
    productions: Mutex<ProductionStore>,
    quants: Mutex<QuantStore>,
    pub metrics: OdooMetrics,
    /// Odoo's external API (the poller's settings), for what a webhook payload lacks.
    api: Option<WebhookApi>,
}

/// The external API as the webhook path uses it: a webhook sends a confirmed order's
/// lines as ids only, and an order stored without its lines would keep them out of the
/// product KPIs for good (the poller's copy, with lines, is then a duplicate).
#[derive(Debug)]
struct WebhookApi {
    config: sightline_config::OdooPoller,
    /// Connected on first use, dropped after a failure to connect again next time.
    client: Mutex<Option<Arc<poller::OdooClient>>>,
}

/// Reads a secret (token, password, connection string) from its source, trimmed.
pub fn read_secret(source: &SecretSource, what: &'static str) -> Result<String, SourceError> {
    let value = match source {
        SecretSource::Env(name) => std::env::var_os(name)
            .ok_or_else(|| SourceError::OdooSecretEnvMissing {
                what,
                name: name.clone(),
            })?
            .into_encoded_bytes(),
        SecretSource::File(path) => {
            std::fs::read(path).map_err(|source| SourceError::OdooSecretFile {
                what,
                path: path.clone(),
                source,
            })?
        }
        SecretSource::Inline(secret) => secret.expose().as_bytes().to_vec(),
    };
    let text = String::from_utf8_lossy(value.trim_ascii()).into_owned();
    if text.is_empty() {
        return Err(SourceError::OdooSecretEmpty { what });
    }
    Ok(text)
}

/// Reads every secret the configuration names (webhook tokens, the poller's password or
/// key, the outbox connection string), so `serve` and `check` fail or warn up front.
pub fn check_secrets(config: &OdooConfig) -> Result<(), SourceError> {
    read_tokens(config)?;
    if let Some(poller) = &config.poller {
        let source = poller
            .password_source()
            .ok_or(SourceError::OdooSecretEmpty {
                what: "poller password or API key",
            })?;
        read_secret(&source, "poller password or API key")?;
    }
    if let Some(postgres) = &config.postgres {
        let source = postgres
            .connection_source()
            .ok_or(SourceError::OdooSecretEmpty {
                what: "PostgreSQL connection string",
            })?;
        read_secret(&source, "PostgreSQL connection string")?;
    }
    Ok(())
}

fn read_tokens(config: &OdooConfig) -> Result<Vec<TokenKey>, SourceError> {
    let Some(webhook) = &config.webhook else {
        return Ok(Vec::new());
    };
    let mut tokens = Vec::new();
    let current = webhook.token_source().ok_or(SourceError::OdooSecretEmpty {
        what: "webhook token",
    })?;
    tokens.push(TokenKey(sha256(
        read_secret(&current, "webhook token")?.as_bytes(),
    )));
    if let Some(previous) = webhook.previous_token_source() {
        tokens.push(TokenKey(sha256(
            read_secret(&previous, "previous webhook token")?.as_bytes(),
        )));
    }
    Ok(tokens)
}

impl OdooReceiver {
    /// Opens the source with its state journals under `state_dir`, reading the webhook
    /// tokens (when the webhook is configured).
    pub fn open(config: &OdooConfig, state_dir: &Path) -> Result<OdooReceiver, SourceError> {
        let tokens = read_tokens(config)?;
        let mut receiver =
            OdooReceiver::with_settings(Settings::from_config(config), tokens, state_dir)?;
        receiver.api = config.poller.clone().map(|poller| WebhookApi {
            config: poller,
            client: Mutex::new(None),
        });
        Ok(receiver)
    }

    /// A receiver for tests and benchmarks, with inline webhook tokens.
    pub fn for_tests(
        settings: Settings,
        tokens: &[&str],
        state_dir: &Path,
    ) -> Result<OdooReceiver, SourceError> {
        let tokens = tokens
            .iter()
            .map(|token| TokenKey(sha256(token.as_bytes())))
            .collect();
        OdooReceiver::with_settings(settings, tokens, state_dir)
    }

    fn with_settings(
        settings: Settings,
        tokens: Vec<TokenKey>,
        state_dir: &Path,
    ) -> Result<OdooReceiver, SourceError> {
        let instance = settings
            .source
            .strip_prefix("odoo/")
            .unwrap_or(&settings.source)
            .to_owned();
        Ok(OdooReceiver {
            products: Mutex::new(ProductStore::open(&state_dir.join("products.journal"))?),
            productions: Mutex::new(ProductionStore::open(
                &state_dir.join("productions.journal"),
            )?),
            quants: Mutex::new(QuantStore::open(&state_dir.join("quants.journal"))?),
            metrics: OdooMetrics::new(&instance),
            settings,
            tokens,
            api: None,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The SKU learned for a product (from a record that carried its Internal Reference).
    pub fn learned_sku(&self, product: i64) -> Option<String> {
        self.products
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(product)
    }

    pub fn accepts_webhooks(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Whether `token` is one of the configured webhook tokens (constant time).
    pub fn authenticate(&self, token: &str) -> bool {
        let candidate = sha256(token.as_bytes());
        self.tokens
            .iter()
            .fold(false, |found, key| key.matches(&candidate) | found)
    }

    /// Authenticates and translates one webhook delivery. Refusals are counted and
    /// logged here (never with the token or the body).
    pub fn receive_webhook(&self, token: &str, body: &[u8], now_us: i64) -> Result<Batch, Refusal> {
        let result = self.receive_webhook_uncounted(token, body, now_us);
        if let Err(refusal) = &result {
            self.metrics.rejected(Via::Webhook, refusal.reason, 1);
            tracing::warn!(
                reason = refusal.reason,
                status = refusal.status,
                body_bytes = body.len(),
                "Odoo webhook refused: {}",
                refusal.message
            );
        }
        result
    }

    fn receive_webhook_uncounted(
        &self,
        token: &str,
        body: &[u8],
        now_us: i64,
    ) -> Result<Batch, Refusal> {
        if !self.authenticate(token) {
            return Err(Refusal {
                status: 401,
                reason: "unknown_token",
                message: "the token in the URL is not a configured Odoo webhook token; use the URL with the token of [sources.odoo.webhook]".into(),
                translate_error: None,
            });
        }
        let bad_payload = |error: TranslateError| Refusal {
            status: 400,
            reason: "bad_payload",
            message: error.to_string(),
            translate_error: Some(error),
        };
        let mut record = webhook_record(body).map_err(bad_payload)?;
        if lines_are_ids(&record) {
            self.read_lines(&mut record).map_err(|error| Refusal {
                status: 503,
                reason: "odoo_api",
                message: format!(
                    "the order's lines could not be read from Odoo's API ({error}); nothing was stored, and the poller will deliver the order with its lines"
                ),
                translate_error: None,
            })?;
        }
        let batch = self
            .translate(Via::Webhook, std::slice::from_ref(&record), now_us)
            .map_err(|error| Refusal {
                status: 503,
                reason: "storage",
                message: error.to_string(),
                translate_error: None,
            })?;
        if let Some(dead) = batch.dead.first() {
            return Err(bad_payload(dead.error.clone()));
        }
        Ok(batch)
    }

    /// Reads a webhook order's lines through the external API, when the poller's is
    /// configured (without it, the order is stored without lines).
    fn read_lines(&self, record: &mut OdooRecord) -> Result<(), SourceError> {
        let Some(api) = &self.api else {
            return Ok(());
        };
        // The lock covers only taking (or making) the client: concurrent deliveries read
        // their lines at the same time, not one after another.
        let client = {
            let mut slot = api
                .client
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match slot.as_ref() {
                Some(client) => Arc::clone(client),
                None => {
                    let client = Arc::new(poller::OdooClient::connect(&api.config)?);
                    *slot = Some(Arc::clone(&client));
                    client
                }
            }
        };
        let read = poller::enrich(&client, self, "sale.order", std::slice::from_mut(record));
        if read.is_err() {
            // Connect again next time (a stale session, a changed key).
            let mut slot = api
                .client
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if slot
                .as_ref()
                .is_some_and(|current| Arc::ptr_eq(current, &client))
            {
                *slot = None;
            }
        }
        read
    }

    /// Translates records of one way in. A record that cannot be translated is put
    /// in `dead` (and counted), never stops the others; only a failure to keep this
    /// source's own state fails the whole batch.
    pub fn translate(
        &self,
        via: Via,
        records: &[OdooRecord],
        now_us: i64,
    ) -> Result<Batch, SourceError> {
        let mut batch = Batch::empty(via);
        let mut received: BTreeMap<&str, (u64, Option<i64>)> = BTreeMap::new();
        let mut learned = Vec::new();
        let mut readings = Vec::new();
        let mut quant_readings = Vec::new();
        {
            let products = self
                .products
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let learned_sku = |product: i64| products.get(product);
            for record in records {
                let entry = received.entry(record.model.as_str()).or_default();
                entry.0 += 1;
                let written = record.datetime("write_date").ok().flatten();
                if let Some(written) = written {
                    entry.1 = Some(
                        entry
                            .1
                            .map_or(written.micros, |seen| seen.max(written.micros)),
                    );
                }
                match translate::translate(&self.settings, record, via, &learned_sku) {
                    Ok(translated) => {
                        if translated.events.is_empty()
                            && translated.production.is_none()
                            && translated.quant.is_none()
                        {
                            self.metrics.skipped(via, &record.model);
                        }
                        batch.events.extend(translated.events);
                        learned.extend(translated.learned_skus);
                        readings.extend(translated.production);
                        quant_readings.extend(translated.quant);
                    }
                    Err(error) => batch.dead.push(DeadRecord {
                        model: record.model.clone(),
                        record_id: record.id,
                        raw: serde_json::to_vec(&record.fields).unwrap_or_default(),
                        error,
                    }),
                }
            }
        }
        for (model, (count, newest)) in received {
            let lag = newest.map(|newest| (now_us - newest) as f64 / 1e6);
            self.metrics.received(via, model, count, lag);
        }
        self.metrics
            .rejected(via, "bad_record", batch.dead.len() as u64);
        if !learned.is_empty() {
            self.products
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .learn(&learned)?;
        }
        if !readings.is_empty() {
            let mut productions = self
                .productions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for reading in readings {
                match productions.step(&reading)? {
                    ProductionStep::Output(Some(units)) => {
                        batch.events.push(translate::production_output(
                            &self.settings.source,
                            via,
                            &reading,
                            units,
                        ));
                        batch.outputs.push(reading);
                    }
                    ProductionStep::Output(None) | ProductionStep::Stale => {}
                }
            }
        }
        if !quant_readings.is_empty() {
            let mut quants = self
                .quants
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for reading in &quant_readings {
                if let QuantStep::Level(level) = quants.step(reading)? {
                    batch.events.push(translate::inventory_counted(
                        &self.settings.source,
                        via,
                        reading,
                        level,
                    ));
                }
            }
            // A level sent out must survive a crash: the next reading of another quant
            // of the warehouse sums with this one.
            quants.sync()?;
        }
        Ok(batch)
    }

    /// Quants this source knows with stock that Odoo no longer has (`existing`: every
    /// quant id Odoo holds in internal locations), read as 0 as of `now_us`, and the
    /// levels that follow; for the poller, which never sees a deleted row.
    pub fn quants_vanished(
        &self,
        existing: &std::collections::BTreeSet<i64>,
        now_us: i64,
    ) -> Result<Batch, SourceError> {
        let mut batch = Batch::empty(Via::Poll);
        // To the second, as Odoo writes `write_date`.
        let at = Timestamp::from_micros(now_us - now_us.rem_euclid(1_000_000));
        let mut quants = self
            .quants
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let gone = quants.vanished(existing, &at);
        if gone.is_empty() {
            return Ok(batch);
        }
        for reading in &gone {
            if let QuantStep::Level(level) = quants.step(reading)? {
                batch.events.push(translate::inventory_counted(
                    &self.settings.source,
                    Via::Poll,
                    reading,
                    level,
                ));
            }
        }
        quants.sync()?;
        Ok(batch)
    }

    /// Records what the commit of `batch` did (durable by now).
    pub fn committed(&self, batch: &Batch, outcome: &SinkOutcome) {
        let new_events = outcome.accepted;
        let mut stored = [(EventKind::Catalogue, 0), (EventKind::Extension, 0)];
        // The commit reports totals, not which events were new; attribute the new ones
        // by kind in order (a batch's events are nearly always catalogue events).
        let mut left = new_events;
        for event in &batch.events {
            if left == 0 {
                break;
            }
            if let Some(slot) = stored.iter_mut().find(|(kind, _)| *kind == event.kind) {
                slot.1 += 1;
                left -= 1;
            }
        }
        self.metrics
            .committed(batch.via, outcome.duplicates, &stored);
        self.metrics
            .rejected(batch.via, "invalid_event", outcome.rejected.len() as u64);
        if batch.outputs.is_empty() {
            return;
        }
        let mut productions = self
            .productions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for reading in &batch.outputs {
            productions.committed(reading);
        }
    }

    /// Production growth journalled before a crash but perhaps never committed: commit
    /// these at start (their ids make a second copy a duplicate), then call
    /// [`OdooReceiver::committed`].
    pub fn pending_outputs(&self) -> Batch {
        let productions = self
            .productions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut batch = Batch::empty(Via::Outbox);
        for (reading, units) in productions.uncommitted() {
            batch.events.push(translate::production_output(
                &self.settings.source,
                Via::Outbox,
                &reading,
                units,
            ));
            batch.outputs.push(reading);
        }
        batch
    }

    /// Commits a batch through `sink` and records the outcome.
    pub fn commit(&self, sink: &dyn EventSink, batch: &Batch) -> Result<SinkOutcome, SourceError> {
        if batch.is_empty() {
            return Ok(SinkOutcome::default());
        }
        let outcome = sink.commit(&batch.events, &batch.dead)?;
        self.committed(batch, &outcome);
        Ok(outcome)
    }

    pub fn collect_metrics(&self, families: &mut crate::metrics::MetricFamilies) {
        self.metrics.collect(families);
    }
}

/// The record a "Send Webhook Notification" payload carries: `_model`, `_id` and the
/// fields the automation sends.
/// A confirmed order whose `order_line` holds ids (the webhook's form), not lines.
fn lines_are_ids(record: &OdooRecord) -> bool {
    record.model == "sale.order"
        && matches!(record.text("state"), Ok(Some("sale" | "done")))
        && matches!(record.value("order_line"), Some(Value::Array(lines))
            if lines.iter().any(|line| !line.is_object()))
}

pub fn webhook_record(body: &[u8]) -> Result<OdooRecord, TranslateError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| TranslateError::NotJson {
        message: error.to_string(),
    })?;
    let Value::Object(fields) = value else {
        return Err(TranslateError::NotJson {
            message: "expected a JSON object".into(),
        });
    };
    let model = match fields.get("_model") {
        Some(Value::String(model)) if !model.trim().is_empty() => model.trim().to_owned(),
        Some(_) => {
            return Err(TranslateError::invalid(
                "_model",
                "expected the model's technical name, such as \"sale.order\"",
            ));
        }
        None => {
            return Err(TranslateError::invalid(
                "_model",
                "required field is missing; the body must be the payload of Odoo's \"Send Webhook Notification\" action",
            ));
        }
    };
    let id = match fields.get("_id").or_else(|| fields.get("id")) {
        Some(value) => value.as_i64().filter(|id| *id > 0).ok_or_else(|| {
            TranslateError::invalid("_id", format!("expected a record id, got {value}"))
        })?,
        None => return Err(TranslateError::missing("_id")),
    };
    Ok(OdooRecord { model, id, fields })
}

#[cfg(test)]
mod tests;
