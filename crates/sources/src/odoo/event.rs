//! The CloudEvents this source produces (the same [`OutEvent`] as Shopify's), with the
//! way in and the Odoo record recorded as extension attributes, so a stored event says
//! where it came from.

use serde::Serialize;

use crate::shopify::event::{EventKind, OutEvent};

/// How a record reached Sightline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Via {
    /// The "Send Webhook Notification" automation.
    Webhook,
    /// The external API poller.
    Poll,
    /// The PostgreSQL outbox.
    Outbox,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Webhook => "webhook",
            Via::Poll => "poll",
            Via::Outbox => "outbox",
        }
    }
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
    odoomodel: &'a str,
    odooid: i64,
    odoovia: &'static str,
    data: &'a D,
}

/// What identifies the record an event was made from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub source: &'a str,
    pub model: &'a str,
    pub record_id: i64,
    pub via: Via,
}

/// Serializes one event. `time` is RFC 3339 (the caller made it) or absent, in which
/// case ingest stamps the receive time.
pub fn build<D: Serialize>(
    origin: Origin<'_>,
    event_type: String,
    kind: EventKind,
    id: String,
    time: Option<(&str, i64)>,
    data: &D,
) -> OutEvent {
    let envelope = Envelope {
        specversion: "1.0",
        id: &id,
        source: origin.source,
        event_type: &event_type,
        time: time.map(|(text, _)| text),
        datacontenttype: "application/json",
        odoomodel: origin.model,
        odooid: origin.record_id,
        odoovia: origin.via.as_str(),
        data,
    };
    let json = serde_json::to_vec(&envelope)
        .expect("plain structs, strings and JSON values always serialize");
    OutEvent {
        event_type,
        id,
        kind,
        time_us: time.map(|(_, micros)| micros),
        json,
    }
}
