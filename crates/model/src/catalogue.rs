//! The v1 event catalogue (`spec/events.md`) as data: each type's fields and their kinds.
//!
//! Validation walks `data` against these tables, so adding a type or a field is a table
//! edit, and the engine can later ask the same tables which fields hold money.

/// What a field must hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldKind {
    /// A non-empty string that identifies something (order, session, SKU, …).
    Id,
    /// Any string.
    Text,
    /// A decimal amount, string or JSON number, in the event's `currency`; not negative.
    Money,
    /// An ISO 4217 code: three upper-case letters.
    Currency,
    /// A JSON integer within the bounds.
    Integer { min: i64, max: i64 },
    /// Any finite JSON number, at least `min`.
    Number { min: f64 },
    /// An RFC 3339 timestamp string.
    Timestamp,
    /// One of a closed set of strings.
    OneOf(&'static [&'static str]),
    /// ISO 3166-1 alpha-2 (`DE`) or ISO 3166-2 (`US-CA`).
    Region,
    /// The order lines of `order.created`: an array of objects of [`LINE_FIELDS`].
    Lines,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub kind: FieldKind,
    pub required: bool,
}

const fn required(name: &'static str, kind: FieldKind) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: true,
    }
}

const fn optional(name: &'static str, kind: FieldKind) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        required: false,
    }
}

const POSITIVE: FieldKind = FieldKind::Integer {
    min: 1,
    max: i64::MAX,
};
const NON_NEGATIVE: FieldKind = FieldKind::Integer {
    min: 0,
    max: i64::MAX,
};
const ANY_INTEGER: FieldKind = FieldKind::Integer {
    min: i64::MIN,
    max: i64::MAX,
};
const HTTP_STATUS: FieldKind = FieldKind::Integer { min: 100, max: 599 };
const NON_NEGATIVE_NUMBER: FieldKind = FieldKind::Number { min: 0.0 };

pub const FULFILLMENT_STAGES: &[&str] = &["received", "picking", "packing", "shipped", "delivered"];
pub const PRODUCTION_STATUSES: &[&str] = &["running", "idle", "stopped", "fault"];

/// The fields of one element of `order.created.lines`.
pub const LINE_FIELDS: &[FieldSpec] = &[
    required("sku", FieldKind::Id),
    optional("name", FieldKind::Text),
    required("quantity", POSITIVE),
    required("price", FieldKind::Money),
];

const ORDER_CREATED: &[FieldSpec] = &[
    required("order_id", FieldKind::Id),
    required("total", FieldKind::Money),
    required("currency", FieldKind::Currency),
    optional("customer_id", FieldKind::Text),
    optional("session_id", FieldKind::Text),
    optional("region", FieldKind::Region),
    optional("channel", FieldKind::Text),
    optional("segment", FieldKind::Text),
    optional("lines", FieldKind::Lines),
];
const ORDER_PAID: &[FieldSpec] = &[
    required("order_id", FieldKind::Id),
    required("amount", FieldKind::Money),
    required("currency", FieldKind::Currency),
    optional("gateway", FieldKind::Text),
    optional("session_id", FieldKind::Text),
];
const ORDER_CANCELLED: &[FieldSpec] = &[
    required("order_id", FieldKind::Id),
    optional("reason", FieldKind::Text),
];
const REFUND_CREATED: &[FieldSpec] = &[
    required("order_id", FieldKind::Id),
    required("amount", FieldKind::Money),
    required("currency", FieldKind::Currency),
];
const PAYMENT_FAILED: &[FieldSpec] = &[
    required("gateway", FieldKind::Id),
    optional("order_id", FieldKind::Text),
    optional("checkout_id", FieldKind::Text),
    optional("reason", FieldKind::Text),
];
const PAGE_VIEWED: &[FieldSpec] = &[
    required("session_id", FieldKind::Id),
    required("visitor_id", FieldKind::Id),
    optional("path", FieldKind::Text),
];
const CART_ITEM_ADDED: &[FieldSpec] = &[
    required("session_id", FieldKind::Id),
    required("sku", FieldKind::Id),
    required("quantity", POSITIVE),
];
const CHECKOUT_STARTED: &[FieldSpec] = &[
    required("session_id", FieldKind::Id),
    required("checkout_id", FieldKind::Id),
];
const FULFILLMENT_STAGE_CHANGED: &[FieldSpec] = &[
    required("order_id", FieldKind::Id),
    required("stage", FieldKind::OneOf(FULFILLMENT_STAGES)),
    optional("ship_by", FieldKind::Timestamp),
];
const INVENTORY_ADJUSTED: &[FieldSpec] = &[
    required("sku", FieldKind::Id),
    required("warehouse", FieldKind::Id),
    required("delta", ANY_INTEGER),
];
const INVENTORY_COUNTED: &[FieldSpec] = &[
    required("sku", FieldKind::Id),
    required("warehouse", FieldKind::Id),
    required("on_hand", NON_NEGATIVE),
];
const PRODUCTION_OUTPUT: &[FieldSpec] = &[
    required("line_id", FieldKind::Id),
    required("units", NON_NEGATIVE_NUMBER),
];
const PRODUCTION_STATUS_CHANGED: &[FieldSpec] = &[
    required("line_id", FieldKind::Id),
    required("status", FieldKind::OneOf(PRODUCTION_STATUSES)),
];
const API_REQUEST: &[FieldSpec] = &[
    required("endpoint", FieldKind::Id),
    required("status", HTTP_STATUS),
    required("latency_ms", NON_NEGATIVE_NUMBER),
    optional("method", FieldKind::Text),
];
const QUEUE_DEPTH: &[FieldSpec] = &[
    required("queue", FieldKind::Id),
    required("depth", NON_NEGATIVE),
];

macro_rules! event_types {
    ($($variant:ident => $name:literal,)*) => {
        /// A type of the v1 catalogue. Types outside it are accepted and logged but have
        /// no schema; they feed only user-defined KPIs that name them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType { $($variant,)* }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)* }
            }

            pub fn parse(name: &str) -> Option<EventType> {
                match name { $($name => Some(EventType::$variant),)* _ => None }
            }
        }
    };
}

event_types! {
    OrderCreated => "order.created",
    OrderPaid => "order.paid",
    OrderCancelled => "order.cancelled",
    RefundCreated => "refund.created",
    PaymentFailed => "payment.failed",
    PageViewed => "page.viewed",
    CartItemAdded => "cart.item_added",
    CheckoutStarted => "checkout.started",
    FulfillmentStageChanged => "fulfillment.stage_changed",
    InventoryAdjusted => "inventory.adjusted",
    InventoryCounted => "inventory.counted",
    ProductionOutput => "production.output",
    ProductionStatusChanged => "production.status_changed",
    ApiRequest => "api.request",
    QueueDepth => "queue.depth",
}

impl EventType {
    /// The `data` fields of this type. At most 32 (validation tracks them in a bit set).
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            EventType::OrderCreated => ORDER_CREATED,
            EventType::OrderPaid => ORDER_PAID,
            EventType::OrderCancelled => ORDER_CANCELLED,
            EventType::RefundCreated => REFUND_CREATED,
            EventType::PaymentFailed => PAYMENT_FAILED,
            EventType::PageViewed => PAGE_VIEWED,
            EventType::CartItemAdded => CART_ITEM_ADDED,
            EventType::CheckoutStarted => CHECKOUT_STARTED,
            EventType::FulfillmentStageChanged => FULFILLMENT_STAGE_CHANGED,
            EventType::InventoryAdjusted => INVENTORY_ADJUSTED,
            EventType::InventoryCounted => INVENTORY_COUNTED,
            EventType::ProductionOutput => PRODUCTION_OUTPUT,
            EventType::ProductionStatusChanged => PRODUCTION_STATUS_CHANGED,
            EventType::ApiRequest => API_REQUEST,
            EventType::QueueDepth => QUEUE_DEPTH,
        }
    }

    /// Whether this type carries money (and so a `currency` that must be convertible).
    pub fn has_money(self) -> bool {
        self.fields()
            .iter()
            .any(|field| field.kind == FieldKind::Currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_tables_fit_the_bitset() {
        for &event_type in EventType::ALL {
            assert_eq!(EventType::parse(event_type.as_str()), Some(event_type));
            assert!(event_type.fields().len() <= 32);
        }
        assert_eq!(EventType::ALL.len(), 15);
        assert_eq!(EventType::parse("order.shipped"), None);
    }
}
