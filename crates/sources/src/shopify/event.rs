//! The CloudEvents this source produces, serialized once into the bytes ingest stores.

use serde::Serialize;
use serde_json::value::RawValue;

/// How an event reached Sightline: recorded in the envelope as extension attributes, so
/// a stored event says which delivery (or reconciliation) brought it.
#[derive(Debug, Clone, Copy)]
pub enum Via<'a> {
    Webhook { topic: &'a str, event_id: &'a str },
    Reconcile,
}

/// What kind of event, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A type of the v1 catalogue: it feeds the KPIs.
    Catalogue,
    /// `shopify.<topic>`: kept and counted, read only by KPIs that name it.
    Extension,
    /// A test order's event, kept as `shopify.test.<type>`.
    Test,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Catalogue => "catalogue",
            EventKind::Extension => "extension",
            EventKind::Test => "test",
        }
    }
}

/// One translated event.
#[derive(Debug, Clone)]
pub struct OutEvent {
    pub event_type: String,
    pub id: String,
    pub kind: EventKind,
    /// Its `time` in microseconds since the epoch, when it has one.
    pub time_us: Option<i64>,
    /// The structured-mode CloudEvent.
    pub json: Vec<u8>,
}

#[derive(Serialize)]
struct Envelope<'a, D: Serialize> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    // `type` before `data`: ingest then checks `data` while it parses it, in one pass.
    #[serde(rename = "type")]
    event_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<&'a str>,
    datacontenttype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    shopifytopic: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shopifyeventid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shopifyvia: Option<&'static str>,
    data: &'a D,
}

/// Serializes one event. `time` is RFC 3339 (checked by the caller) or absent, in which
/// case ingest stamps the receive time.
pub fn build<D: Serialize>(
    source: &str,
    via: Via<'_>,
    event_type: String,
    kind: EventKind,
    id: String,
    time: Option<&str>,
    data: &D,
) -> OutEvent {
    let (shopifytopic, shopifyeventid, shopifyvia) = match via {
        Via::Webhook { topic, event_id } => (Some(topic), Some(event_id), None),
        Via::Reconcile => (None, None, Some("reconcile")),
    };
    let envelope = Envelope {
        specversion: "1.0",
        id: &id,
        source,
        event_type: &event_type,
        time,
        datacontenttype: "application/json",
        shopifytopic,
        shopifyeventid,
        shopifyvia,
        data,
    };
    let json = serde_json::to_vec(&envelope)
        .expect("plain structs, strings and checked raw JSON always serialize");
    OutEvent {
        event_type,
        id,
        kind,
        time_us: time.and_then(|time| sightline_model::time::parse_rfc3339(time).ok()),
        json,
    }
}

/// `data` that is the delivery's own JSON, unchanged (unknown topics, products).
pub fn raw_data(body: &[u8]) -> Option<&RawValue> {
    let text = std::str::from_utf8(body).ok()?;
    let raw: &RawValue = serde_json::from_str(text).ok()?;
    raw.get().trim_start().starts_with('{').then_some(raw)
}
