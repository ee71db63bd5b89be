//! Odoo records → catalogue events (`spec/events.md`). Pure: a record in, events out;
//! the state two mappings need (a manufacturing order's previous `qty_produced`, and
//! every quant's quantity, since a product's stock in a warehouse is the sum of its
//! quants: one per lot, package and sub-location) is kept by the caller (`state.rs`),
//! which then calls [`production_output`] and [`inventory_counted`].
//!
//! ## Identities
//!
//! Every way in (webhook, poller, outbox) produces the same id for the same fact, so
//! ingest's dedup stores it once however many ways and times it arrives:
//!
//! - facts that happen once to a record get an id from the record and the fact:
//!   `sale.order/<id>/created`, `sale.order/<id>/cancelled`,
//!   `stock.picking/<id>/<stage>`, `mrp.production/<id>/status/<state>`;
//! - repeatable readings get the record and its `write_date` (Odoo's version of a row):
//!   `stock.quant/<id>/<write_date>`, `mrp.production/<id>/output/<write_date>/<qty>`.
//!   The poller's overlap window and the outbox's at-least-once delivery re-read rows;
//!   the same version of a row is the same event.
//!
//! ## Mappings
//!
//! | model | Odoo | event |
//! |---|---|---|
//! | `sale.order` | `state` `sale` or `done` | `order.created` (`date_order`, `amount_total`, currency, partner, lines when given) |
//! | `sale.order` | `state` `cancel` | `order.cancelled` |
//! | `stock.picking` (outgoing) | `draft`, `waiting`, `confirmed` / `assigned` / `done` | `fulfillment.stage_changed` `received` / `picking` / `shipped`; `ship_by` from `date_deadline`, else `scheduled_date` |
//! | `stock.quant` (internal locations) | `quantity` | `inventory.counted` of the sum of the product's quants in the warehouse (SKU: the product's Internal Reference) |
//! | `mrp.production` | `qty_produced` grew | `production.output` (units: the increase) |
//! | `mrp.production` | `state` `confirmed`, `to_close`, `done` / `progress` / `cancel` | `production.status_changed` `idle` / `running` / `stopped` |
//!
//! Any other model (a webhook can be set on any) is kept as an `odoo.<model>` event with
//! the record as `data`; no built-in KPI reads it.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use super::event::{Origin, Via, build};
use super::record::{OdooRecord, Timestamp};
use crate::error::TranslateError;
use crate::shopify::event::{EventKind, OutEvent};

/// The names Sightline cannot learn from a record, resolved from the configuration.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `odoo/<instance>`.
    pub source: String,
    /// The company currency, for orders whose currency cannot be named.
    pub currency: Option<String>,
    pub currencies: HashMap<i64, String>,
    pub products: HashMap<i64, String>,
    pub locations: HashMap<i64, String>,
    pub production_lines: HashMap<i64, String>,
}

impl Settings {
    pub fn from_config(config: &sightline_config::OdooConfig) -> Settings {
        fn ids(map: &std::collections::BTreeMap<String, String>) -> HashMap<i64, String> {
            map.iter()
                .filter_map(|(id, value)| Some((id.parse().ok()?, value.clone())))
                .collect()
        }
        Settings {
            source: config.source(),
            currency: config.currency.as_ref().map(|code| code.get_ref().clone()),
            currencies: ids(&config.currencies),
            products: ids(&config.products),
            locations: ids(&config.locations),
            production_lines: ids(&config.production_lines),
        }
    }

    /// The SKU of a product: configured, else its Internal Reference when the record
    /// carries it (`product_default_code`), else learned, else `product-<id>`.
    fn sku(
        &self,
        product: i64,
        carried: Option<&str>,
        learned: &dyn Fn(i64) -> Option<String>,
    ) -> String {
        if let Some(sku) = self.products.get(&product) {
            return sku.clone();
        }
        if let Some(code) = carried {
            return code.trim().to_owned();
        }
        learned(product).unwrap_or_else(|| format!("product-{product}"))
    }
}

/// What one record translates into.
#[derive(Debug, Default)]
pub struct Translated {
    pub events: Vec<OutEvent>,
    /// Product id → Internal Reference pairs the record carried (for `products.journal`).
    pub learned_skus: Vec<(i64, String)>,
    /// A manufacturing order's produced quantity, for the caller's state.
    pub production: Option<ProductionReading>,
    /// A quant's quantity, for the caller's state (which sums the warehouse's quants).
    pub quant: Option<QuantReading>,
}

/// One version of a quant: its quantity in a warehouse (an internal location, or the
/// name configured for it).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantReading {
    pub quant: i64,
    pub product: i64,
    pub location: i64,
    pub sku: String,
    pub warehouse: String,
    pub quantity: Decimal,
    pub write_date: Timestamp,
}

/// A manufacturing order's `qty_produced` at one version of the record.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductionReading {
    pub production: i64,
    pub line_id: String,
    pub write_date: Timestamp,
    pub qty_produced: Decimal,
}

/// Translates one record. `learned_sku` finds the SKU learned for a product.
pub fn translate(
    settings: &Settings,
    record: &OdooRecord,
    via: Via,
    learned_sku: &dyn Fn(i64) -> Option<String>,
) -> Result<Translated, TranslateError> {
    let origin = Origin {
        source: &settings.source,
        model: &record.model,
        record_id: record.id,
        via,
    };
    let mut translated = Translated::default();
    match record.model.as_str() {
        "sale.order" => sale_order(settings, record, origin, learned_sku, &mut translated)?,
        "stock.picking" => translated.events.extend(stock_picking(record, origin)?),
        "stock.quant" => stock_quant(settings, record, origin, learned_sku, &mut translated)?,
        "mrp.production" => mrp_production(settings, record, origin, &mut translated)?,
        _ => translated.events.push(extension(record, origin)?),
    }
    Ok(translated)
}

#[derive(Serialize)]
struct OrderCreatedData<'a> {
    order_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_name: Option<&'a str>,
    total: Decimal,
    currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    lines: Vec<LineData<'a>>,
}

#[derive(Serialize)]
struct LineData<'a> {
    sku: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    quantity: i64,
    price: Decimal,
}

#[derive(Serialize)]
struct OrderCancelledData<'a> {
    order_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_name: Option<&'a str>,
}

fn sale_order(
    settings: &Settings,
    record: &OdooRecord,
    origin: Origin<'_>,
    learned_sku: &dyn Fn(i64) -> Option<String>,
    translated: &mut Translated,
) -> Result<(), TranslateError> {
    let state = record.required("state", record.text("state"))?;
    let order_id = record.id.to_string();
    let order_name = record.text("name")?;
    match state {
        "sale" | "done" => {
            // Odoo sets `date_order` to the confirmation time when an order is confirmed.
            let time = record.required("date_order", record.datetime("date_order"))?;
            let total = non_negative(
                "amount_total",
                record.required("amount_total", record.decimal("amount_total"))?,
            )?;
            let currency = order_currency(settings, record)?;
            let customer_id = record.many2one("partner_id")?.map(|id| id.to_string());
            let lines = order_lines(settings, record, learned_sku, translated)?;
            let data = OrderCreatedData {
                order_id: order_id.clone(),
                order_name,
                total,
                currency,
                customer_id,
                lines,
            };
            translated.events.push(build(
                origin,
                "order.created".to_owned(),
                EventKind::Catalogue,
                format!("sale.order/{order_id}/created"),
                Some((&time.text, time.micros)),
                &data,
            ));
        }
        "cancel" => {
            let time = record.datetime("write_date")?;
            let data = OrderCancelledData {
                order_id: order_id.clone(),
                order_name,
            };
            translated.events.push(build(
                origin,
                "order.cancelled".to_owned(),
                EventKind::Catalogue,
                format!("sale.order/{order_id}/cancelled"),
                time.as_ref().map(|time| (time.text.as_str(), time.micros)),
                &data,
            ));
        }
        // Quotations (`draft`, `sent`) are not orders yet.
        _ => {}
    }
    Ok(())
}

/// The order's ISO currency: configured for its `currency_id`, the pair's name
/// (`search_read` gives `[1, "EUR"]`, and a currency's name is its code), a
/// `currency_code` the outbox trigger adds, or the configured company currency.
fn order_currency(settings: &Settings, record: &OdooRecord) -> Result<String, TranslateError> {
    let currency_id = record.many2one("currency_id")?;
    if let Some(code) = currency_id.and_then(|id| settings.currencies.get(&id)) {
        return Ok(code.clone());
    }
    let named = record
        .many2one_name("currency_id")
        .or(record.text("currency_code")?)
        .map(str::trim);
    if let Some(code) = named {
        if is_currency_code(code) {
            return Ok(code.to_owned());
        }
        return Err(TranslateError::invalid(
            "currency_id",
            format!("expected a currency named by its ISO 4217 code such as \"EUR\", got {code:?}"),
        ));
    }
    if let Some(code) = &settings.currency {
        return Ok(code.clone());
    }
    Err(match currency_id {
        Some(id) => TranslateError::invalid(
            "currency_id",
            format!(
                "currency {id} has no ISO code known to Sightline; add \"{id}\" = \"EUR\" (its code) under [sources.odoo] currencies, or set currency"
            ),
        ),
        None => TranslateError::missing("currency_id"),
    })
}

fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_uppercase())
}

/// The order's lines, when the record carries them as objects (the poller and the outbox
/// add them, and so does the webhook path when the poller's API is configured; a bare
/// webhook sends only line ids, and its orders have no lines). Section and
/// note lines, lines without a product and lines of no whole unit are left out; a
/// discount is taken off the unit price.
fn order_lines<'a>(
    settings: &Settings,
    record: &'a OdooRecord,
    learned_sku: &dyn Fn(i64) -> Option<String>,
    translated: &mut Translated,
) -> Result<Vec<LineData<'a>>, TranslateError> {
    let Some(Value::Array(lines)) = record.value("order_line") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Value::Object(fields) = line else {
            // Ids only: the webhook's form.
            continue;
        };
        let path = |field: &str| format!("order_line[{index}].{field}");
        let nest = |error: TranslateError| error.nested(&format!("order_line[{index}]"));
        let line = OdooRecord {
            model: "sale.order.line".into(),
            id: 0,
            fields: fields.clone(),
        };
        if line.text("display_type").map_err(nest)?.is_some() {
            continue;
        }
        let Some(product) = line.many2one("product_id").map_err(nest)? else {
            continue;
        };
        let quantity = line.decimal("product_uom_qty").map_err(nest)?;
        let Some(quantity) = quantity.and_then(|quantity| quantity.round().try_into().ok()) else {
            continue;
        };
        let quantity: i64 = quantity;
        if quantity < 1 {
            continue;
        }
        let unit_price = line
            .decimal("price_unit")
            .map_err(nest)?
            .ok_or_else(|| TranslateError::missing(path("price_unit")))?;
        let discount = line.decimal("discount").map_err(nest)?.unwrap_or_default();
        let price = unit_price * (Decimal::ONE_HUNDRED - discount) / Decimal::ONE_HUNDRED;
        // Negative lines (a discount product, a down payment deducted) are no sale.
        if price.is_sign_negative() && !price.is_zero() {
            continue;
        }
        let carried = line.text("product_default_code").map_err(nest)?;
        if let Some(code) = carried {
            translated
                .learned_skus
                .push((product, code.trim().to_owned()));
        }
        let sku = settings.sku(product, carried, learned_sku);
        out.push(LineData {
            sku,
            name: match fields.get("name") {
                Some(Value::String(name)) if !name.trim().is_empty() => Some(name.as_str()),
                _ => None,
            },
            quantity,
            price: price.normalize(),
        });
    }
    Ok(out)
}

#[derive(Serialize)]
struct StageData<'a> {
    order_id: String,
    stage: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ship_by: Option<String>,
    picking_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    picking_name: Option<&'a str>,
}

/// The fulfilment stage of a delivery order's state.
pub fn picking_stage(state: &str) -> Option<&'static str> {
    match state {
        "draft" | "waiting" | "confirmed" => Some("received"),
        "assigned" => Some("picking"),
        "done" => Some("shipped"),
        _ => None,
    }
}

/// A delivery order's stage. Receipts and internal transfers (a `picking_type_code`
/// other than `outgoing`, when the record says) are not fulfilment.
fn stock_picking(
    record: &OdooRecord,
    origin: Origin<'_>,
) -> Result<Option<OutEvent>, TranslateError> {
    if let Some(code) = record.text("picking_type_code")?
        && code != "outgoing"
    {
        return Ok(None);
    }
    let state = record.required("state", record.text("state"))?;
    let Some(stage) = picking_stage(state) else {
        return Ok(None);
    };
    let ship_by = match record.datetime("date_deadline")? {
        Some(deadline) => Some(deadline),
        None => record.datetime("scheduled_date")?,
    };
    let time = match (stage, record.datetime("date_done")?) {
        ("shipped", Some(done)) => Some(done),
        _ => record.datetime("write_date")?,
    };
    let order_id = match record.many2one("sale_id")? {
        Some(order) => order.to_string(),
        None => format!("picking-{}", record.id),
    };
    let data = StageData {
        order_id,
        stage,
        ship_by: ship_by.map(|deadline| deadline.text),
        picking_id: record.id,
        picking_name: record.text("name")?,
    };
    Ok(Some(build(
        origin,
        "fulfillment.stage_changed".to_owned(),
        EventKind::Catalogue,
        format!("stock.picking/{}/{stage}", record.id),
        time.as_ref().map(|time| (time.text.as_str(), time.micros)),
        &data,
    )))
}

#[derive(Serialize)]
struct CountedData {
    sku: String,
    warehouse: String,
    on_hand: i64,
    product_id: i64,
    location_id: i64,
}

/// A quant's quantity as the level of (SKU, location). Quants of non-internal locations
/// (customers, suppliers, inventory loss) are Odoo's bookkeeping, not stock.
fn stock_quant(
    settings: &Settings,
    record: &OdooRecord,
    origin: Origin<'_>,
    learned_sku: &dyn Fn(i64) -> Option<String>,
    translated: &mut Translated,
) -> Result<(), TranslateError> {
    if let Some(usage) = record.text("location_usage")?
        && usage != "internal"
    {
        return Ok(());
    }
    let product = record.required("product_id", record.many2one("product_id"))?;
    let location = record.required("location_id", record.many2one("location_id"))?;
    let quantity = record.required("quantity", record.decimal("quantity"))?;
    // The version of the row is the identity: without it a reading cannot be told
    // from a repeat.
    let written = record.required("write_date", record.datetime("write_date"))?;
    let carried = record.text("product_default_code")?;
    if let Some(code) = carried {
        translated
            .learned_skus
            .push((product, code.trim().to_owned()));
    }
    if whole_units(quantity).is_none() {
        return Err(TranslateError::invalid(
            "quantity",
            format!("{quantity} is out of range"),
        ));
    }
    translated.quant = Some(QuantReading {
        quant: origin.record_id,
        product,
        location,
        sku: settings.sku(product, carried, learned_sku),
        warehouse: settings
            .locations
            .get(&location)
            .cloned()
            .unwrap_or_else(|| location.to_string()),
        quantity,
        write_date: written,
    });
    Ok(())
}

/// A stock level in whole units: a negative total (stock sold before it was received)
/// is "out" on a dashboard, and units of measure with fractions are rounded.
fn whole_units(quantity: Decimal) -> Option<i64> {
    quantity.round().max(Decimal::ZERO).try_into().ok()
}

/// `inventory.counted` for the warehouse of `reading`: `level` is the sum of the
/// product's quants there, this reading's included. The id is the reading's, so every
/// delivery of one version of a quant is one event.
pub fn inventory_counted(
    source: &str,
    via: Via,
    reading: &QuantReading,
    level: Decimal,
) -> OutEvent {
    let origin = Origin {
        source,
        model: "stock.quant",
        record_id: reading.quant,
        via,
    };
    let data = CountedData {
        sku: reading.sku.clone(),
        warehouse: reading.warehouse.clone(),
        // The sum of quantities that each fit is far from the bound, but never panic.
        on_hand: whole_units(level).unwrap_or(i64::MAX),
        product_id: reading.product,
        location_id: reading.location,
    };
    build(
        origin,
        "inventory.counted".to_owned(),
        EventKind::Catalogue,
        format!("stock.quant/{}/{}", reading.quant, reading.write_date.text),
        Some((&reading.write_date.text, reading.write_date.micros)),
        &data,
    )
}

#[derive(Serialize)]
struct StatusData<'a> {
    line_id: &'a str,
    status: &'static str,
    production_id: i64,
    odoo_state: &'a str,
}

/// The production line status a manufacturing order's state stands for.
pub fn production_status(state: &str) -> Option<&'static str> {
    match state {
        "progress" => Some("running"),
        "confirmed" | "to_close" | "done" => Some("idle"),
        "cancel" => Some("stopped"),
        _ => None,
    }
}

fn mrp_production(
    settings: &Settings,
    record: &OdooRecord,
    origin: Origin<'_>,
    translated: &mut Translated,
) -> Result<(), TranslateError> {
    let operation = record.required("picking_type_id", record.many2one("picking_type_id"))?;
    let line_id = settings
        .production_lines
        .get(&operation)
        .cloned()
        .unwrap_or_else(|| operation.to_string());
    let state = record.required("state", record.text("state"))?;
    let written = record.datetime("write_date")?;
    if let Some(status) = production_status(state) {
        let data = StatusData {
            line_id: &line_id,
            status,
            production_id: record.id,
            odoo_state: state,
        };
        translated.events.push(build(
            origin,
            "production.status_changed".to_owned(),
            EventKind::Catalogue,
            format!("mrp.production/{}/status/{state}", record.id),
            written
                .as_ref()
                .map(|time| (time.text.as_str(), time.micros)),
            &data,
        ));
    }
    if let Some(qty_produced) = record.decimal("qty_produced")? {
        let write_date = written.ok_or_else(|| TranslateError::missing("write_date"))?;
        translated.production = Some(ProductionReading {
            production: record.id,
            line_id,
            write_date,
            qty_produced,
        });
    }
    Ok(())
}

#[derive(Serialize)]
struct OutputData<'a> {
    line_id: &'a str,
    /// A JSON number: the catalogue's `units` is a number, not decimal text.
    units: Value,
    production_id: i64,
    qty_produced: Value,
}

/// A decimal as a JSON number (an integer when it is one).
fn json_number(value: Decimal) -> Value {
    let text = value.normalize().to_string();
    text.parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// `production.output` for a manufacturing order whose produced quantity grew by
/// `units` at `reading`.
pub fn production_output(
    source: &str,
    via: Via,
    reading: &ProductionReading,
    units: Decimal,
) -> OutEvent {
    let origin = Origin {
        source,
        model: "mrp.production",
        record_id: reading.production,
        via,
    };
    let data = OutputData {
        line_id: &reading.line_id,
        units: json_number(units),
        production_id: reading.production,
        qty_produced: json_number(reading.qty_produced),
    };
    build(
        origin,
        "production.output".to_owned(),
        EventKind::Catalogue,
        format!(
            "mrp.production/{}/output/{}/{}",
            reading.production,
            reading.write_date.text,
            reading.qty_produced.normalize()
        ),
        Some((&reading.write_date.text, reading.write_date.micros)),
        &data,
    )
}

/// A record of a model Sightline does not map, kept as `odoo.<model>`. Its identity is
/// its version (`write_date`), or the content when the sender left `write_date` out.
fn extension(record: &OdooRecord, origin: Origin<'_>) -> Result<OutEvent, TranslateError> {
    let written = record.datetime("write_date")?;
    let version = match &written {
        Some(time) => time.text.clone(),
        None => {
            let bytes = serde_json::to_vec(&record.fields).expect("JSON values serialize");
            let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
            digest.as_ref()[..8]
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect()
        }
    };
    let mut data = record.fields.clone();
    data.insert("id".into(), Value::from(record.id));
    Ok(build(
        origin,
        format!("odoo.{}", record.model),
        EventKind::Extension,
        format!("{}/{}/{version}", record.model, record.id),
        written
            .as_ref()
            .map(|time| (time.text.as_str(), time.micros)),
        &data,
    ))
}

/// An amount the catalogue wants at least 0.
fn non_negative(field: &str, value: Decimal) -> Result<Decimal, TranslateError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(TranslateError::invalid(
            field,
            format!("expected an amount of 0 or more, got {value}"),
        ));
    }
    Ok(value.normalize())
}
