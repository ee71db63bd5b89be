//! The poller: Odoo's external API read with `search_read`, the source of truth (Odoo's
//! webhooks are sent once and lost when Sightline is down).
//!
//! - Odoo 16–18: JSON-RPC, `POST /jsonrpc` with
//!   `{"jsonrpc":"2.0","method":"call","params":{"service":"object","method":"execute_kw",
//!   "args":[db, uid, password, model, "search_read", [domain], {fields, order, limit}]}}`;
//!   a `login` is exchanged for the uid with `common.login` first.
//! - Odoo 19+: JSON-2, `POST /json/2/<model>/search_read` with
//!   `Authorization: bearer <API key>`, `X-Odoo-Database` and
//!   `{"domain", "fields", "order", "limit"}`; the answer is the list of records.
//!
//! ## Cursor and overlap
//!
//! Each model has a cursor: the newest `write_date` read, persisted in
//! `data/sources/odoo/poll-cursors.json` (written to a temporary file, fsynced, renamed)
//! after the page that reached it is durable in the log. A pass reads rows with
//! `write_date >= cursor − overlap`: a transaction that ran long commits rows whose
//! `write_date` (its start) is older than rows other transactions committed meanwhile,
//! which the cursor may already have passed. Rows read again are the same versions,
//! hence the same event identities, and ingest's dedup stores them once.
//!
//! Pages are ordered by `write_date, id`. Odoo shows `write_date` to the second while
//! the column may hold microseconds, so the next page asks for `write_date >= W` minus
//! the ids already read at second `W` (`W` the last page's newest second): nothing in
//! that second is skipped, and a second holding more rows than a page still ends.
//! A first pass (no cursor) starts at midnight UTC of the current day, so today's KPIs
//! are complete; `sightline odoo poll --once --since T` reads from any time.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sightline_config::OdooPoller;
use sightline_model::time::format_rfc3339;

use super::record::{OdooRecord, parse_datetime};
use super::{EventSink, OdooReceiver, Via, read_secret};
use crate::error::SourceError;

/// Largest answer read (a page of a few hundred records is far below).
const MAX_ANSWER_BYTES: u64 = 256 << 20;
const MICROS_PER_SECOND: i64 = 1_000_000;

/// The fields read per model (those `translate.rs` uses).
pub fn fields_of(model: &str) -> &'static [&'static str] {
    match model {
        "sale.order" => &[
            "name",
            "state",
            "date_order",
            "amount_total",
            "currency_id",
            "partner_id",
            "write_date",
        ],
        "stock.picking" => &[
            "name",
            "state",
            "scheduled_date",
            "date_deadline",
            "date_done",
            "sale_id",
            "picking_type_code",
            "write_date",
        ],
        "stock.quant" => &["product_id", "location_id", "quantity", "write_date"],
        "mrp.production" => &[
            "name",
            "state",
            "product_id",
            "qty_produced",
            "picking_type_id",
            "write_date",
        ],
        _ => &["write_date"],
    }
}

/// The fields of `sale.order.line` read for an order's lines.
pub const LINE_FIELDS: &[&str] = &[
    "order_id",
    "product_id",
    "product_uom_qty",
    "price_unit",
    "discount",
    "name",
    "display_type",
];

/// What every pass of a model reads besides the cursor condition.
fn base_domain(model: &str) -> Vec<Value> {
    match model {
        // Quants of customer, supplier and loss locations are bookkeeping, not stock.
        "stock.quant" => vec![json!(["location_id.usage", "=", "internal"])],
        _ => Vec::new(),
    }
}

/// `2026-11-27 14:03:11`: how Odoo writes a datetime in a domain.
pub fn odoo_datetime(micros: i64) -> String {
    let text = format_rfc3339(micros);
    text.get(..19).unwrap_or(&text).replacen('T', " ", 1)
}

/// Which API, and how it authenticates.
#[derive(Debug, Clone)]
enum Api {
    JsonRpc { uid: i64 },
    Json2,
}

/// A blocking client of one Odoo database's external API.
pub struct OdooClient {
    agent: ureq::Agent,
    base_url: String,
    db: String,
    secret: String,
    api: Api,
}

impl std::fmt::Debug for OdooClient {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password or key.
        formatter
            .debug_struct("OdooClient")
            .field("base_url", &self.base_url)
            .field("db", &self.db)
            .field("api", &self.api)
            .finish()
    }
}

impl OdooClient {
    /// Reads the password or key and, for JSON-RPC with a `login`, asks Odoo for the uid.
    pub fn connect(config: &OdooPoller) -> Result<OdooClient, SourceError> {
        let source = config
            .password_source()
            .ok_or(SourceError::OdooSecretEmpty {
                what: "poller password or API key",
            })?;
        let secret = read_secret(&source, "poller password or API key")?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout.0))
            .build()
            .into();
        let mut client = OdooClient {
            agent,
            base_url: config.base_url(),
            db: config.db.clone(),
            secret,
            api: Api::Json2,
        };
        if config.uses_json2() {
            return Ok(client);
        }
        let uid = match (config.uid, &config.login) {
            (Some(uid), _) => i64::try_from(uid).unwrap_or(i64::MAX),
            (None, Some(login)) => client.login(login)?,
            (None, None) => {
                return Err(SourceError::OdooAuth {
                    what: "the user",
                    url: client.base_url.clone(),
                    message: "no uid or login is configured".into(),
                });
            }
        };
        client.api = Api::JsonRpc { uid };
        Ok(client)
    }

    fn login(&self, login: &str) -> Result<i64, SourceError> {
        let url = format!("{}/jsonrpc", self.base_url);
        let params = json!({
            "service": "common",
            "method": "login",
            "args": [self.db, login, self.secret],
        });
        let result = self.json_rpc(&url, params)?;
        match result.as_i64() {
            Some(uid) if uid > 0 => Ok(uid),
            _ => Err(SourceError::OdooAuth {
                what: "the login",
                url,
                message: "common.login answered false (wrong login, password or database)".into(),
            }),
        }
    }

    /// `search_read` of `model`; records as JSON objects.
    pub fn search_read(
        &self,
        model: &str,
        domain: &[Value],
        fields: &[&str],
        order: &str,
        limit: usize,
    ) -> Result<Vec<Map<String, Value>>, SourceError> {
        let (url, answer) = match &self.api {
            Api::JsonRpc { uid } => {
                let url = format!("{}/jsonrpc", self.base_url);
                let mut keywords = json!({
                    "fields": fields,
                    "order": order,
                    "context": {"active_test": false},
                });
                if limit > 0 {
                    keywords["limit"] = json!(limit);
                }
                let params = json!({
                    "service": "object",
                    "method": "execute_kw",
                    "args": [self.db, uid, self.secret, model, "search_read", [domain], keywords],
                });
                let answer = self.json_rpc(&url, params)?;
                (url, answer)
            }
            Api::Json2 => {
                let url = format!("{}/json/2/{model}/search_read", self.base_url);
                let mut body = json!({
                    "domain": domain,
                    "fields": fields,
                    "order": order,
                    "context": {"active_test": false},
                });
                if limit > 0 {
                    body["limit"] = json!(limit);
                }
                let answer = self.json2(&url, &body)?;
                (url, answer)
            }
        };
        let Value::Array(rows) = answer else {
            return Err(SourceError::OdooApiShape {
                url,
                message: "expected a list of records".into(),
            });
        };
        rows.into_iter()
            .map(|row| match row {
                Value::Object(fields) => Ok(fields),
                other => Err(SourceError::OdooApiShape {
                    url: url.clone(),
                    message: format!("expected a record object, got {other}"),
                }),
            })
            .collect()
    }

    fn post(&self, url: &str, body: &Value, bearer: bool) -> Result<(u16, Vec<u8>), SourceError> {
        let failed = |message: String| SourceError::OdooApi {
            url: url.to_owned(),
            message,
        };
        let bytes = serde_json::to_vec(body).expect("JSON values serialize");
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if bearer {
            request = request
                .header("Authorization", &format!("bearer {}", self.secret))
                .header("X-Odoo-Database", &self.db);
        }
        let mut response = request
            .send(&bytes[..])
            .map_err(|error| failed(error.to_string()))?;
        let status = response.status().as_u16();
        let answer = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|error| failed(error.to_string()))?;
        Ok((status, answer))
    }

    fn json_rpc(&self, url: &str, params: Value) -> Result<Value, SourceError> {
        let body = json!({"jsonrpc": "2.0", "method": "call", "params": params, "id": 1});
        let (status, answer) = self.post(url, &body, false)?;
        let parsed: Value = serde_json::from_slice(&answer).map_err(|_| SourceError::OdooApi {
            url: url.to_owned(),
            message: format!("answered {status}: {}", excerpt(&answer)),
        })?;
        if let Some(error) = parsed.get("error") {
            let name = error["data"]["name"].as_str().unwrap_or("");
            let message = error["data"]["message"]
                .as_str()
                .or(error["message"].as_str())
                .unwrap_or("no message")
                .to_owned();
            if name.contains("AccessDenied") || name.contains("AccessError") {
                return Err(SourceError::OdooAuth {
                    what: "the request",
                    url: url.to_owned(),
                    message,
                });
            }
            return Err(SourceError::OdooApi {
                url: url.to_owned(),
                message: format!("{name}: {message}"),
            });
        }
        match parsed.get("result") {
            Some(result) => Ok(result.clone()),
            None => Err(SourceError::OdooApiShape {
                url: url.to_owned(),
                message: "a JSON-RPC answer with neither result nor error".into(),
            }),
        }
    }

    fn json2(&self, url: &str, body: &Value) -> Result<Value, SourceError> {
        let (status, answer) = self.post(url, body, true)?;
        if status == 401 || status == 403 {
            return Err(SourceError::OdooAuth {
                what: "the API key",
                url: url.to_owned(),
                message: format!("answered {status}: {}", excerpt(&answer)),
            });
        }
        if !(200..300).contains(&status) {
            return Err(SourceError::OdooApi {
                url: url.to_owned(),
                message: format!("answered {status}: {}", excerpt(&answer)),
            });
        }
        serde_json::from_slice(&answer).map_err(|error| SourceError::OdooApiShape {
            url: url.to_owned(),
            message: error.to_string(),
        })
    }
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}

/// The cursors of every model, as persisted.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cursors {
    /// Model → the newest `write_date` read (`2026-11-27 14:03:11`).
    pub models: BTreeMap<String, String>,
}

impl Cursors {
    pub fn load(path: &Path) -> Result<Cursors, SourceError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| SourceError::OdooCursor {
                action: "read",
                path: path.to_owned(),
                source: std::io::Error::other(error),
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Cursors::default()),
            Err(source) => Err(SourceError::OdooCursor {
                action: "read",
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Replaces the file atomically: a crash leaves the old cursors or the new ones.
    pub fn save(&self, path: &Path) -> Result<(), SourceError> {
        let failed = |source| SourceError::OdooCursor {
            action: "write",
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let temporary = path.with_extension("json.writing");
        let mut file = File::create(&temporary).map_err(failed)?;
        file.write_all(&serde_json::to_vec_pretty(self).expect("strings serialize"))
            .map_err(failed)?;
        file.sync_all().map_err(failed)?;
        drop(file);
        std::fs::rename(&temporary, path).map_err(failed)?;
        if let Some(parent) = path.parent() {
            File::open(parent)
                .and_then(|directory| directory.sync_all())
                .map_err(failed)?;
        }
        Ok(())
    }
}

/// What one pass did, per model and in total.
#[derive(Debug, Default, Clone)]
pub struct PassSummary {
    pub records: usize,
    pub pages: usize,
    pub events: usize,
    pub accepted: usize,
    pub duplicates: usize,
    pub dead: usize,
    pub rejected: usize,
    pub per_model: BTreeMap<String, usize>,
}

/// The poller of one Odoo database.
#[derive(Debug)]
pub struct Poller {
    config: OdooPoller,
    client: Option<OdooClient>,
    cursor_path: PathBuf,
}

impl Poller {
    pub fn new(config: &OdooPoller, state_dir: &Path) -> Poller {
        Poller {
            config: config.clone(),
            client: None,
            cursor_path: state_dir.join("poll-cursors.json"),
        }
    }

    pub fn interval(&self) -> Duration {
        self.config.interval.0
    }

    pub fn cursors(&self) -> Result<Cursors, SourceError> {
        Cursors::load(&self.cursor_path)
    }

    /// One pass over every configured model: pages read, translated and committed
    /// through `sink`, each model's cursor saved after each durable page. `since`
    /// (microseconds) overrides the cursors for this pass.
    pub fn poll_once(
        &mut self,
        receiver: &OdooReceiver,
        sink: &dyn EventSink,
        since: Option<i64>,
        now_us: i64,
    ) -> Result<PassSummary, SourceError> {
        let result = self.poll_uncounted(receiver, sink, since, now_us);
        if let Err(error) = &result {
            receiver.metrics.failed(Via::Poll);
            // A failed login or a stale uid: connect again next time.
            if matches!(error, SourceError::OdooAuth { .. }) {
                self.client = None;
            }
        }
        result
    }

    fn poll_uncounted(
        &mut self,
        receiver: &OdooReceiver,
        sink: &dyn EventSink,
        since: Option<i64>,
        now_us: i64,
    ) -> Result<PassSummary, SourceError> {
        if self.client.is_none() {
            self.client = Some(OdooClient::connect(&self.config)?);
        }
        let client = self.client.as_ref().expect("connected just above");
        let mut cursors = Cursors::load(&self.cursor_path)?;
        let overlap = i64::try_from(self.config.overlap.0.as_micros()).unwrap_or(i64::MAX);
        let midnight = now_us - now_us.rem_euclid(86_400 * MICROS_PER_SECOND);
        let mut summary = PassSummary::default();
        for model in self.config.model_names() {
            let from = match since {
                Some(since) => since,
                None => match cursors.models.get(&model) {
                    Some(cursor) => parse_datetime(cursor)
                        .map(|cursor| cursor.micros.saturating_sub(overlap))
                        .unwrap_or(midnight),
                    None => midnight,
                },
            };
            let read = poll_model(
                client,
                receiver,
                sink,
                &model,
                from,
                self.config.page_size,
                now_us,
                &mut |newest: &str| {
                    let advanced = cursors
                        .models
                        .get(&model)
                        .and_then(|cursor| parse_datetime(cursor).ok())
                        .is_none_or(|cursor| {
                            parse_datetime(newest).is_ok_and(|newest| newest.micros > cursor.micros)
                        });
                    if advanced {
                        cursors.models.insert(model.clone(), newest.to_owned());
                        cursors.save(&self.cursor_path)?;
                    }
                    Ok(())
                },
            )?;
            summary.records += read.records;
            summary.pages += read.pages;
            summary.events += read.events;
            summary.accepted += read.accepted;
            summary.duplicates += read.duplicates;
            summary.dead += read.dead;
            summary.rejected += read.rejected;
            summary.per_model.insert(model.clone(), read.records);
        }
        if self
            .config
            .model_names()
            .iter()
            .any(|model| model == "stock.quant")
        {
            let swept = sweep_vanished_quants(client, receiver, sink, now_us)?;
            summary.events += swept.events;
            summary.accepted += swept.accepted;
            summary.duplicates += swept.duplicates;
            summary.rejected += swept.rejected;
        }
        Ok(summary)
    }
}

/// Asks Odoo which quants it still has and reads the ones it deleted (emptied, or merged
/// into another quant, whose quantity then counts for both) as 0: the incremental read
/// by `write_date` never sees a deleted row, and a level summed over a deleted quant's
/// last quantity would stay too high.
fn sweep_vanished_quants(
    client: &OdooClient,
    receiver: &OdooReceiver,
    sink: &dyn EventSink,
    now_us: i64,
) -> Result<PassSummary, SourceError> {
    let rows = client.search_read(
        "stock.quant",
        &base_domain("stock.quant"),
        &["id"],
        "id asc",
        0,
    )?;
    let existing: BTreeSet<i64> = rows
        .iter()
        .filter_map(|fields| fields.get("id").and_then(Value::as_i64))
        .collect();
    let batch = receiver.quants_vanished(&existing, now_us)?;
    let outcome = receiver.commit(sink, &batch)?;
    Ok(PassSummary {
        events: batch.events.len(),
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        rejected: outcome.rejected.len(),
        ..PassSummary::default()
    })
}

/// Reads one model from `from` on, page by page.
#[allow(clippy::too_many_arguments)]
fn poll_model(
    client: &OdooClient,
    receiver: &OdooReceiver,
    sink: &dyn EventSink,
    model: &str,
    from: i64,
    page_size: usize,
    now_us: i64,
    save_cursor: &mut dyn FnMut(&str) -> Result<(), SourceError>,
) -> Result<PassSummary, SourceError> {
    let mut summary = PassSummary::default();
    // The newest second read so far, and the ids read within it.
    let mut second = from - from.rem_euclid(MICROS_PER_SECOND);
    let mut seen_in_second: BTreeSet<i64> = BTreeSet::new();
    loop {
        let mut domain = base_domain(model);
        domain.push(json!(["write_date", ">=", odoo_datetime(second)]));
        if !seen_in_second.is_empty() {
            domain.push(json!("|"));
            domain.push(json!([
                "write_date",
                ">=",
                odoo_datetime(second + MICROS_PER_SECOND)
            ]));
            domain.push(json!(["id", "not in", seen_in_second]));
        }
        let rows = client.search_read(
            model,
            &domain,
            fields_of(model),
            "write_date asc, id asc",
            page_size,
        )?;
        let full_page = rows.len() >= page_size;
        summary.pages += 1;
        if rows.is_empty() {
            break;
        }
        let mut records = Vec::with_capacity(rows.len());
        let mut newest: Option<(i64, String)> = None;
        for fields in rows {
            let Some(id) = fields.get("id").and_then(Value::as_i64) else {
                return Err(SourceError::OdooApiShape {
                    url: model.to_owned(),
                    message: "a record without an id".into(),
                });
            };
            let record = OdooRecord {
                model: model.to_owned(),
                id,
                fields,
            };
            if let Ok(Some(written)) = record.datetime("write_date") {
                let at = written.micros - written.micros.rem_euclid(MICROS_PER_SECOND);
                if at > second {
                    second = at;
                    seen_in_second.clear();
                }
                if at == second {
                    seen_in_second.insert(id);
                }
                let text = record
                    .text("write_date")
                    .ok()
                    .flatten()
                    .unwrap_or("")
                    .to_owned();
                if newest
                    .as_ref()
                    .is_none_or(|(micros, _)| written.micros > *micros)
                {
                    newest = Some((written.micros, text));
                }
            }
            records.push(record);
        }
        enrich(client, receiver, model, &mut records)?;
        summary.records += records.len();
        let batch = receiver.translate(Via::Poll, &records, now_us)?;
        let outcome = receiver.commit(sink, &batch)?;
        summary.events += batch.events.len();
        summary.dead += batch.dead.len();
        summary.accepted += outcome.accepted;
        summary.duplicates += outcome.duplicates;
        summary.rejected += outcome.rejected.len();
        // Durable: the cursor may move past these rows.
        if let Some((_, text)) = newest {
            save_cursor(&text)?;
        }
        if !full_page {
            break;
        }
    }
    Ok(summary)
}

/// Adds what a record's translation needs from other models: an order's lines, and the
/// Internal Reference of products whose SKU is not known yet.
pub(crate) fn enrich(
    client: &OdooClient,
    receiver: &OdooReceiver,
    model: &str,
    records: &mut [OdooRecord],
) -> Result<(), SourceError> {
    match model {
        "sale.order" => {
            let confirmed: Vec<i64> = records
                .iter()
                .filter(|record| matches!(record.text("state"), Ok(Some("sale" | "done"))))
                .map(|record| record.id)
                .collect();
            if confirmed.is_empty() {
                return Ok(());
            }
            let mut lines = client.search_read(
                "sale.order.line",
                &[json!(["order_id", "in", confirmed])],
                LINE_FIELDS,
                "order_id asc, sequence asc, id asc",
                0,
            )?;
            add_product_codes(client, receiver, &mut lines)?;
            let mut by_order: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
            for line in lines {
                let order = OdooRecord {
                    model: "sale.order.line".into(),
                    id: 0,
                    fields: line,
                };
                if let Ok(Some(order_id)) = order.many2one("order_id") {
                    by_order
                        .entry(order_id)
                        .or_default()
                        .push(Value::Object(order.fields));
                }
            }
            for record in records.iter_mut() {
                if let Some(lines) = by_order.remove(&record.id) {
                    record
                        .fields
                        .insert("order_line".into(), Value::Array(lines));
                }
            }
        }
        "stock.quant" => {
            let mut rows: Vec<Map<String, Value>> =
                records.iter().map(|record| record.fields.clone()).collect();
            add_product_codes(client, receiver, &mut rows)?;
            for (record, row) in records.iter_mut().zip(rows) {
                record.fields = row;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Sets `product_default_code` on rows whose product's SKU is neither configured nor
/// learned, read from `product.product` (archived products too).
fn add_product_codes(
    client: &OdooClient,
    receiver: &OdooReceiver,
    rows: &mut [Map<String, Value>],
) -> Result<(), SourceError> {
    let product_of = |row: &Map<String, Value>| {
        OdooRecord {
            model: String::new(),
            id: 0,
            fields: row.clone(),
        }
        .many2one("product_id")
        .ok()
        .flatten()
    };
    let settings = receiver.settings();
    let unknown: HashSet<i64> = rows
        .iter()
        .filter_map(product_of)
        .filter(|product| {
            !settings.products.contains_key(product) && receiver.learned_sku(*product).is_none()
        })
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<i64> = unknown.into_iter().collect();
    ids.sort_unstable();
    let products = client.search_read(
        "product.product",
        &[json!(["id", "in", ids])],
        &["default_code"],
        "id asc",
        0,
    )?;
    let codes: BTreeMap<i64, String> = products
        .iter()
        .filter_map(|product| {
            let id = product.get("id")?.as_i64()?;
            let code = product.get("default_code")?.as_str()?.trim();
            (!code.is_empty()).then(|| (id, code.to_owned()))
        })
        .collect();
    for row in rows.iter_mut() {
        if let Some(code) = product_of(row).and_then(|product| codes.get(&product)) {
            row.insert("product_default_code".into(), Value::String(code.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_datetimes_are_odoo_text() {
        let micros = parse_datetime("2026-11-27 14:03:11.5")
            .expect("time")
            .micros;
        assert_eq!(odoo_datetime(micros), "2026-11-27 14:03:11");
    }

    #[test]
    fn cursors_are_replaced_atomically_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("odoo").join("poll-cursors.json");
        assert_eq!(Cursors::load(&path).expect("absent"), Cursors::default());
        let mut cursors = Cursors::default();
        cursors
            .models
            .insert("sale.order".into(), "2026-11-27 14:03:11".into());
        cursors.save(&path).expect("saves");
        assert_eq!(Cursors::load(&path).expect("reads"), cursors);
        std::fs::write(&path, b"{not json").expect("corrupt");
        let error = Cursors::load(&path).expect_err("corrupt").to_string();
        assert!(error.contains("poll-cursors.json"), "{error}");
    }
}
