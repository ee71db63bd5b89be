//! Shopify topics → catalogue events (`spec/events.md`). Pure: bytes in, events out.
//!
//! ## Identities
//!
//! An event that happens once to a Shopify object gets an id derived from that object:
//! `order/<id>/created`, `order/<id>/paid`, `order/<id>/cancelled`, `refund/<id>`,
//! `fulfillment/<id>/shipped`, `checkout/<token>/started`. Shopify's retries, the same
//! event delivered to two subscriptions, and `sightline shopify reconcile` (which reads
//! orders from the Admin API and cannot know a webhook's `X-Shopify-Event-Id`) then all
//! produce the same (`source`, `id`), and ingest's dedup stores it once. Events that
//! record a change that may happen many times (cart growth, inventory levels, unknown
//! topics) use the delivery's `X-Shopify-Event-Id`, which retries repeat.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;
use sightline_model::money::parse_decimal;
use sightline_model::time::parse_rfc3339;

use super::Shop;
use super::cart_state::{CartSnapshot, GrownItem};
use super::event::{EventKind, OutEvent, Via, build, raw_data};
use super::payload::{self, Address, LineItem, Money, Order, ShopifyId};
use crate::error::TranslateError;

/// What one delivery translates into.
#[derive(Debug)]
pub enum Translation {
    /// Events to store as they are.
    Events(Vec<OutEvent>),
    /// `carts/create|update`: what grew depends on the cart's previous state, which the
    /// caller keeps (`cart_state.rs`); [`cart_events`] then builds the events.
    Cart(CartSnapshot),
    /// `products/create|update`: the product is stored as a `shopify.products/...` event,
    /// and the inventory item → SKU pairs are learned for `inventory_levels/update`.
    Products {
        events: Vec<OutEvent>,
        skus: Vec<(String, String)>,
    },
}

/// Translates one verified delivery. `sku_of_item` finds the SKU of an inventory item
/// (configured or learned).
pub fn translate(
    shop: &Shop,
    topic: &str,
    event_id: &str,
    body: &[u8],
    sku_of_item: &dyn Fn(&str) -> Option<String>,
) -> Result<Translation, TranslateError> {
    let via = Via::Webhook { topic, event_id };
    let events = match topic {
        "orders/create" => order_created(shop, &payload::parse(body)?, via)?,
        "orders/paid" => order_paid(shop, &payload::parse(body)?, via, PaidTime::Updated)?,
        "orders/cancelled" => order_cancelled(shop, &payload::parse(body)?, via)?,
        "refunds/create" => {
            let refund: payload::Refund = payload::parse(body)?;
            match refund_created(shop, &refund, via)? {
                Some(event) => vec![event],
                None => vec![extension(shop, topic, event_id, body, None)?],
            }
        }
        "fulfillments/create" => {
            let fulfillment: payload::Fulfillment = payload::parse(body)?;
            match fulfillment_shipped(shop, &fulfillment, None, via)? {
                Some(event) => vec![event],
                None => vec![extension(shop, topic, event_id, body, None)?],
            }
        }
        "checkouts/create" => checkout_started(shop, &payload::parse(body)?, via)?,
        "carts/create" | "carts/update" => {
            return Ok(Translation::Cart(cart_snapshot(&payload::parse(body)?)?));
        }
        "inventory_levels/update" => {
            let level: payload::InventoryLevel = payload::parse(body)?;
            match inventory_counted(shop, &level, event_id, via, sku_of_item)? {
                Some(event) => vec![event],
                None => vec![extension(shop, topic, event_id, body, None)?],
            }
        }
        "products/create" | "products/update" => {
            let product: payload::Product = payload::parse(body)?;
            let skus = product_skus(&product);
            let event = extension(shop, topic, event_id, body, None)?;
            return Ok(Translation::Products {
                events: vec![event],
                skus,
            });
        }
        _ => vec![extension(shop, topic, event_id, body, None)?],
    };
    Ok(Translation::Events(events))
}

/// The events an order read from the Admin API stands for, with the same identities as
/// the webhooks: created always; paid when its financial status says it was paid;
/// cancelled when it has `cancelled_at`; each refund; each successful fulfilment.
pub fn reconciled_order(shop: &Shop, order: &Order) -> Result<Vec<OutEvent>, TranslateError> {
    let via = Via::Reconcile;
    let mut events = order_created(shop, order, via)?;
    let paid = matches!(
        order.financial_status.as_deref(),
        Some("paid" | "partially_refunded" | "refunded")
    );
    if paid {
        events.extend(order_paid(shop, order, via, PaidTime::Processed)?);
    }
    if order.cancelled_at.is_some() {
        events.extend(order_cancelled(shop, order, via)?);
    }
    for (index, refund) in order.refunds.iter().flatten().enumerate() {
        let event = refund_created(shop, refund, via)
            .map_err(|error| error.nested(&format!("refunds[{index}]")))?;
        events.extend(event);
    }
    let order_id = order.id.as_ref().map(|id| id.0.as_str());
    for (index, fulfillment) in order.fulfillments.iter().flatten().enumerate() {
        let event = fulfillment_shipped(shop, fulfillment, order_id, via)
            .map_err(|error| error.nested(&format!("fulfillments[{index}]")))?;
        events.extend(event);
    }
    Ok(events)
}

#[derive(Serialize)]
struct OrderCreatedData<'a> {
    order_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_name: Option<&'a str>,
    total: Decimal,
    currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    segment: Option<&'static str>,
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

fn order_created(
    shop: &Shop,
    order: &Order,
    via: Via<'_>,
) -> Result<Vec<OutEvent>, TranslateError> {
    let order_id = required_id(&order.id, "id")?;
    let currency = currency(order.currency.as_deref(), "currency")?;
    let total = money(&order.total_price, "total_price")?;
    let time = order_time(order)?;
    let mut lines = Vec::new();
    for (index, line) in order.line_items.iter().flatten().enumerate() {
        let path = format!("line_items[{index}]");
        let quantity = line.quantity.unwrap_or(0);
        if quantity < 0 {
            return Err(TranslateError::invalid(
                format!("{path}.quantity"),
                format!("expected a quantity of 0 or more, got {quantity}"),
            ));
        }
        // A line edited down to nothing sold nothing; the catalogue wants quantity ≥ 1.
        if quantity == 0 {
            continue;
        }
        lines.push(LineData {
            sku: sku_of_line(line),
            name: non_empty(line.title.as_deref()).or(non_empty(line.name.as_deref())),
            quantity,
            price: money(&line.price, &format!("{path}.price"))?,
        });
    }
    let customer = order.customer.as_ref();
    let data = OrderCreatedData {
        order_id,
        order_name: non_empty(order.name.as_deref()),
        total,
        currency,
        customer_id: customer
            .and_then(|customer| customer.id.as_ref())
            .map(|id| id.0.as_str()),
        session_id: session_of(order),
        region: region_of(order.shipping_address.as_ref())
            .or_else(|| region_of(order.billing_address.as_ref())),
        channel: non_empty(order.source_name.as_deref()).map(str::to_ascii_lowercase),
        segment: customer
            .and_then(|customer| customer.orders_count)
            .map(|count| if count <= 1 { "new" } else { "returning" }),
        lines,
    };
    let (event_type, kind) = typed(shop, order, "order.created");
    Ok(vec![build(
        &shop.source,
        via,
        event_type,
        kind,
        format!("order/{order_id}/created"),
        Some(time),
        &data,
    )])
}

#[derive(Serialize)]
struct OrderPaidData<'a> {
    order_id: &'a str,
    amount: Decimal,
    currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
}

/// Which order time stands for the moment of payment.
#[derive(Debug, Clone, Copy)]
enum PaidTime {
    /// `orders/paid` is sent when the order becomes paid: its `updated_at` is that moment.
    Updated,
    /// Reconciliation only knows the order is paid now; most orders are paid at checkout,
    /// so the processing time stands in.
    Processed,
}

fn order_paid(
    shop: &Shop,
    order: &Order,
    via: Via<'_>,
    paid_time: PaidTime,
) -> Result<Vec<OutEvent>, TranslateError> {
    let order_id = required_id(&order.id, "id")?;
    let currency = currency(order.currency.as_deref(), "currency")?;
    let amount = money(&order.total_price, "total_price")?;
    let time = match paid_time {
        PaidTime::Updated => match optional_time(&order.updated_at, "updated_at")? {
            Some(time) => time,
            None => order_time(order)?,
        },
        PaidTime::Processed => order_time(order)?,
    };
    let gateway = non_empty(order.gateway.as_deref()).or_else(|| {
        order
            .payment_gateway_names
            .iter()
            .flatten()
            .find_map(|name| non_empty(name.as_deref()))
    });
    let data = OrderPaidData {
        order_id,
        amount,
        currency,
        gateway,
        session_id: session_of(order),
    };
    let (event_type, kind) = typed(shop, order, "order.paid");
    Ok(vec![build(
        &shop.source,
        via,
        event_type,
        kind,
        format!("order/{order_id}/paid"),
        Some(time),
        &data,
    )])
}

#[derive(Serialize)]
struct OrderCancelledData<'a> {
    order_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

fn order_cancelled(
    shop: &Shop,
    order: &Order,
    via: Via<'_>,
) -> Result<Vec<OutEvent>, TranslateError> {
    let order_id = required_id(&order.id, "id")?;
    let time = match optional_time(&order.cancelled_at, "cancelled_at")? {
        Some(time) => time,
        None => match optional_time(&order.updated_at, "updated_at")? {
            Some(time) => time,
            None => order_time(order)?,
        },
    };
    let data = OrderCancelledData {
        order_id,
        reason: non_empty(order.cancel_reason.as_deref()),
    };
    let (event_type, kind) = typed(shop, order, "order.cancelled");
    Ok(vec![build(
        &shop.source,
        via,
        event_type,
        kind,
        format!("order/{order_id}/cancelled"),
        Some(time),
        &data,
    )])
}

#[derive(Serialize)]
struct RefundData<'a> {
    order_id: &'a str,
    refund_id: &'a str,
    amount: Decimal,
    currency: &'a str,
}

/// The money a refund returned: its successful refund transactions, or (a refund
/// recorded without a transaction) its line items' subtotal and tax in shop money.
/// `None` when it moved no money in any currency we can name (a restock only).
fn refund_created(
    shop: &Shop,
    refund: &payload::Refund,
    via: Via<'_>,
) -> Result<Option<OutEvent>, TranslateError> {
    let refund_id = required_id(&refund.id, "id")?;
    let order_id = required_id(&refund.order_id, "order_id")?;
    let time = match optional_time(&refund.processed_at, "processed_at")? {
        Some(time) => Some(time),
        None => optional_time(&refund.created_at, "created_at")?,
    };
    let mut total = RefundTotal::default();
    let transactions = refund.transactions.as_deref().unwrap_or(&[]);
    for (index, transaction) in transactions.iter().enumerate() {
        let refunded = transaction.kind.as_deref() == Some("refund")
            && matches!(transaction.status.as_deref(), Some("success") | None);
        if !refunded {
            continue;
        }
        let path = format!("transactions[{index}]");
        let value = money(&transaction.amount, &format!("{path}.amount"))?;
        let code = currency(transaction.currency.as_deref(), &format!("{path}.currency"))?;
        total.add(value, code, &path)?;
    }
    if total.currency.is_none() {
        for (index, line) in refund.refund_line_items.iter().flatten().enumerate() {
            for (set, name) in [
                (&line.subtotal_set, "subtotal_set"),
                (&line.total_tax_set, "total_tax_set"),
            ] {
                let Some(shop_money) = set.as_ref().and_then(|set| set.shop_money.as_ref()) else {
                    continue;
                };
                let path = format!("refund_line_items[{index}].{name}.shop_money");
                let value = money(&shop_money.amount, &format!("{path}.amount"))?;
                let code = currency(
                    shop_money.currency_code.as_deref(),
                    &format!("{path}.currency_code"),
                )?;
                total.add(value, code, &path)?;
            }
        }
    }
    let amount = total.amount;
    let Some(refund_currency) = total.currency else {
        return Ok(None);
    };
    let data = RefundData {
        order_id,
        refund_id,
        amount,
        currency: refund_currency,
    };
    Ok(Some(build(
        &shop.source,
        via,
        "refund.created".to_owned(),
        EventKind::Catalogue,
        format!("refund/{refund_id}"),
        time,
        &data,
    )))
}

/// A refund's money, in the one currency it is in.
#[derive(Default)]
struct RefundTotal<'a> {
    amount: Decimal,
    currency: Option<&'a str>,
}

impl<'a> RefundTotal<'a> {
    fn add(&mut self, value: Decimal, code: &'a str, path: &str) -> Result<(), TranslateError> {
        if let Some(seen) = self.currency
            && seen != code
        {
            return Err(TranslateError::invalid(
                path.to_owned(),
                format!(
                    "the refund mixes currencies {seen} and {code}; one refund event holds one currency"
                ),
            ));
        }
        self.amount = self.amount.checked_add(value).ok_or_else(|| {
            TranslateError::invalid(path.to_owned(), "the refund total overflows")
        })?;
        self.currency = Some(code);
        Ok(())
    }
}

#[derive(Serialize)]
struct StageData<'a> {
    order_id: &'a str,
    stage: &'static str,
    fulfillment_id: &'a str,
}

/// A fulfilment that left the warehouse (`status` `success`) is the order's `shipped`
/// stage. Pending, cancelled or failed fulfilments are not a stage change: `None`.
fn fulfillment_shipped(
    shop: &Shop,
    fulfillment: &payload::Fulfillment,
    order_id_of_parent: Option<&str>,
    via: Via<'_>,
) -> Result<Option<OutEvent>, TranslateError> {
    let fulfillment_id = required_id(&fulfillment.id, "id")?;
    let order_id = match (&fulfillment.order_id, order_id_of_parent) {
        (Some(id), _) => id.0.as_str(),
        (None, Some(parent)) => parent,
        (None, None) => return Err(TranslateError::missing("order_id")),
    };
    if !matches!(fulfillment.status.as_deref(), Some("success") | None) {
        return Ok(None);
    }
    let time = match optional_time(&fulfillment.created_at, "created_at")? {
        Some(time) => Some(time),
        None => optional_time(&fulfillment.updated_at, "updated_at")?,
    };
    let data = StageData {
        order_id,
        stage: "shipped",
        fulfillment_id,
    };
    Ok(Some(build(
        &shop.source,
        via,
        "fulfillment.stage_changed".to_owned(),
        EventKind::Catalogue,
        format!("fulfillment/{fulfillment_id}/shipped"),
        time,
        &data,
    )))
}

#[derive(Serialize)]
struct CheckoutData<'a> {
    session_id: &'a str,
    checkout_id: &'a str,
}

fn checkout_started(
    shop: &Shop,
    checkout: &payload::Checkout,
    via: Via<'_>,
) -> Result<Vec<OutEvent>, TranslateError> {
    let token =
        non_empty(checkout.token.as_deref()).ok_or_else(|| TranslateError::missing("token"))?;
    let time = match optional_time(&checkout.created_at, "created_at")? {
        Some(time) => Some(time),
        None => optional_time(&checkout.updated_at, "updated_at")?,
    };
    // The cart token is the session the cart events and the order carry; a checkout
    // without a cart (a draft order, the Storefront API) is its own session.
    let data = CheckoutData {
        session_id: non_empty(checkout.cart_token.as_deref()).unwrap_or(token),
        checkout_id: token,
    };
    Ok(vec![build(
        &shop.source,
        via,
        "checkout.started".to_owned(),
        EventKind::Catalogue,
        format!("checkout/{token}/started"),
        time,
        &data,
    )])
}

fn cart_snapshot(cart: &payload::Cart) -> Result<CartSnapshot, TranslateError> {
    let token = match (non_empty(cart.token.as_deref()), &cart.id) {
        (Some(token), _) => token.to_owned(),
        (None, Some(id)) => id.0.clone(),
        (None, None) => return Err(TranslateError::missing("token")),
    };
    let (updated_at, updated_at_us) = match (&cart.updated_at, &cart.created_at) {
        (Some(time), _) => (time.clone(), checked_time(time, "updated_at")?),
        (None, Some(time)) => (time.clone(), checked_time(time, "created_at")?),
        (None, None) => return Err(TranslateError::missing("updated_at")),
    };
    let mut quantities: BTreeMap<String, u64> = BTreeMap::new();
    for (index, line) in cart.line_items.iter().flatten().enumerate() {
        let quantity = line.quantity.unwrap_or(0);
        let quantity = u64::try_from(quantity).map_err(|_| {
            TranslateError::invalid(
                format!("line_items[{index}].quantity"),
                format!("expected a quantity of 0 or more, got {quantity}"),
            )
        })?;
        let entry = quantities.entry(sku_of_line(line)).or_default();
        *entry = entry.saturating_add(quantity);
    }
    quantities.retain(|_, quantity| *quantity > 0);
    Ok(CartSnapshot {
        token,
        updated_at,
        updated_at_us,
        quantities,
    })
}

#[derive(Serialize)]
struct CartItemData<'a> {
    session_id: &'a str,
    sku: &'a str,
    quantity: u64,
}

/// `cart.item_added` for each SKU whose quantity grew; the ids are the delivery's event
/// id and the SKU, so a retried delivery re-emits the same identities.
pub fn cart_events(
    shop: &Shop,
    snapshot: &CartSnapshot,
    grown: &[GrownItem],
    topic: &str,
    delivery_id: &str,
) -> Vec<OutEvent> {
    grown
        .iter()
        .map(|item| {
            let data = CartItemData {
                session_id: &snapshot.token,
                sku: &item.sku,
                quantity: item.quantity,
            };
            build(
                &shop.source,
                Via::Webhook {
                    topic,
                    event_id: delivery_id,
                },
                "cart.item_added".to_owned(),
                EventKind::Catalogue,
                format!("{delivery_id}/{}", item.sku),
                Some(&snapshot.updated_at),
                &data,
            )
        })
        .collect()
}

#[derive(Serialize)]
struct CountedData<'a> {
    sku: &'a str,
    warehouse: &'a str,
    on_hand: i64,
    inventory_item_id: &'a str,
}

/// An inventory level whose item has a known SKU; `None` for an untracked level
/// (`available: null`) or an item whose SKU is not known yet.
fn inventory_counted(
    shop: &Shop,
    level: &payload::InventoryLevel,
    event_id: &str,
    via: Via<'_>,
    sku_of_item: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<OutEvent>, TranslateError> {
    let item = required_id(&level.inventory_item_id, "inventory_item_id")?;
    let location = required_id(&level.location_id, "location_id")?;
    let time = optional_time(&level.updated_at, "updated_at")?;
    let Some(available) = level.available else {
        return Ok(None);
    };
    let sku = shop
        .configured_skus
        .get(item)
        .cloned()
        .or_else(|| sku_of_item(item));
    let Some(sku) = sku else {
        tracing::debug!(shop = %shop.domain, item, "inventory level of an item with no known SKU; kept as shopify.inventory_levels/update");
        return Ok(None);
    };
    let warehouse = shop
        .locations
        .get(location)
        .map_or(location, String::as_str);
    let data = CountedData {
        sku: &sku,
        warehouse,
        // Shopify's `available` goes below zero when a store oversells; the catalogue's
        // on-hand level does not, and "out" is what the dashboard should say.
        on_hand: available.max(0),
        inventory_item_id: item,
    };
    Ok(Some(build(
        &shop.source,
        via,
        "inventory.counted".to_owned(),
        EventKind::Catalogue,
        event_id.to_owned(),
        time,
        &data,
    )))
}

/// The inventory item → SKU pairs of a product's variants (same SKU rule as order lines).
fn product_skus(product: &payload::Product) -> Vec<(String, String)> {
    product
        .variants
        .iter()
        .flatten()
        .filter_map(|variant| {
            let item = variant.inventory_item_id.as_ref()?;
            let sku = match non_empty(variant.sku.as_deref()) {
                Some(sku) => sku.to_owned(),
                None => format!("variant-{}", variant.id.as_ref()?.0),
            };
            Some((item.0.clone(), sku))
        })
        .collect()
}

/// A topic without a catalogue mapping (or a delivery of a mapped topic that is not a
/// catalogue event, such as a pending fulfilment): kept as `shopify.<topic>` with the
/// payload as `data`, under the delivery's event id.
fn extension(
    shop: &Shop,
    topic: &str,
    event_id: &str,
    body: &[u8],
    time: Option<&str>,
) -> Result<OutEvent, TranslateError> {
    let data = raw_data(body).ok_or_else(|| TranslateError::NotJson {
        message: "expected a JSON object".into(),
    })?;
    let time = match time {
        Some(time) => Some(time.to_owned()),
        None => time_in_payload(data),
    };
    Ok(build(
        &shop.source,
        Via::Webhook { topic, event_id },
        format!("shopify.{topic}"),
        EventKind::Extension,
        event_id.to_owned(),
        time.as_deref(),
        &data,
    ))
}

/// `updated_at` or `created_at` of an unknown payload, when it is valid RFC 3339.
fn time_in_payload(data: &RawValue) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Times {
        updated_at: Option<String>,
        created_at: Option<String>,
    }
    let times: Times = serde_json::from_str(data.get()).ok()?;
    [times.updated_at, times.created_at]
        .into_iter()
        .flatten()
        .find(|time| parse_rfc3339(time).is_ok())
}

/// The event type for an order's event: `shopify.test.<type>` for a test order unless the
/// shop counts test orders.
fn typed(shop: &Shop, order: &Order, catalogue_type: &str) -> (String, EventKind) {
    if order.test == Some(true) && !shop.include_test_orders {
        return (format!("shopify.test.{catalogue_type}"), EventKind::Test);
    }
    (catalogue_type.to_owned(), EventKind::Catalogue)
}

/// The order's time: `processed_at` (what Shopify's own reports use; set to the original
/// time for imported orders), else `created_at`.
fn order_time(order: &Order) -> Result<&str, TranslateError> {
    if let Some(time) = optional_time(&order.processed_at, "processed_at")? {
        return Ok(time);
    }
    optional_time(&order.created_at, "created_at")?
        .ok_or_else(|| TranslateError::missing("created_at"))
}

fn optional_time<'a>(
    time: &'a Option<String>,
    path: &str,
) -> Result<Option<&'a str>, TranslateError> {
    match time.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => checked_time(text, path).map(|_| Some(text)),
    }
}

fn checked_time(text: &str, path: &str) -> Result<i64, TranslateError> {
    parse_rfc3339(text).map_err(|problem| {
        TranslateError::invalid(path.to_owned(), format!("{problem} (got {text:?})"))
    })
}

/// The line's SKU; Shopify sends `""` or `null` for variants without one: then the
/// variant id (`variant-<id>`), and for a custom line item (no variant) its title.
fn sku_of_line(line: &LineItem) -> String {
    if let Some(sku) = non_empty(line.sku.as_deref()) {
        return sku.to_owned();
    }
    if let Some(variant) = &line.variant_id {
        return format!("variant-{}", variant.0);
    }
    if let Some(title) = non_empty(line.title.as_deref()).or(non_empty(line.name.as_deref())) {
        return format!("custom:{title}");
    }
    match &line.id {
        Some(id) => format!("line-{}", id.0),
        None => "custom".to_owned(),
    }
}

/// The session the order's cart and checkout events carry.
fn session_of(order: &Order) -> Option<&str> {
    non_empty(order.cart_token.as_deref()).or(non_empty(order.checkout_token.as_deref()))
}

/// ISO 3166-2 (`US-CA`) from Shopify's `country_code` and `province_code`, or the
/// country alone when the province is absent or not a code ISO would accept.
fn region_of(address: Option<&Address>) -> Option<String> {
    let address = address?;
    let country = address.country_code.as_deref()?.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|byte| byte.is_ascii_uppercase()) {
        return None;
    }
    let Some(province) = non_empty(address.province_code.as_deref()) else {
        return Some(country);
    };
    let province = province.trim().to_ascii_uppercase();
    // Some countries' province codes already carry the country (`JP-13`).
    let subdivision = province
        .strip_prefix(&format!("{country}-"))
        .unwrap_or(&province);
    let valid = (1..=3).contains(&subdivision.len())
        && subdivision
            .bytes()
            .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit());
    if valid {
        Some(format!("{country}-{subdivision}"))
    } else {
        Some(country)
    }
}

fn required_id<'a>(id: &'a Option<ShopifyId>, path: &str) -> Result<&'a str, TranslateError> {
    id.as_ref()
        .map(|id| id.0.as_str())
        .ok_or_else(|| TranslateError::missing(path))
}

fn currency<'a>(code: Option<&'a str>, path: &str) -> Result<&'a str, TranslateError> {
    let code = code.ok_or_else(|| TranslateError::missing(path))?;
    if code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_uppercase()) {
        return Ok(code);
    }
    Err(TranslateError::invalid(
        path.to_owned(),
        format!("expected an ISO 4217 code such as \"USD\", got {code:?}"),
    ))
}

/// Exact money from Shopify's decimal string (or number), never negative.
fn money(raw: &Money, path: &str) -> Result<Decimal, TranslateError> {
    let raw = raw
        .as_deref()
        .ok_or_else(|| TranslateError::missing(path))?;
    let value = parse_decimal(raw).map_err(|_| {
        let text = raw.get();
        let shown: String = text.chars().take(40).collect();
        TranslateError::invalid(
            path.to_owned(),
            format!("expected a decimal amount such as \"19.99\", got {shown}"),
        )
    })?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(TranslateError::invalid(
            path.to_owned(),
            format!("expected an amount of 0 or more, got {value}"),
        ));
    }
    Ok(value)
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|text| !text.trim().is_empty())
}
