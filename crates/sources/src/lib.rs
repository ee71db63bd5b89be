//! Sources: systems that speak their own format, translated into the catalogue of
//! `spec/events.md` at the edge, so nothing downstream of ingest knows where an event
//! came from.
//!
//! [`shopify`] receives Shopify webhooks (signature check, topic → CloudEvents, the small
//! state some topics need) and reconciles orders from the Admin API. The code here does
//! not serve HTTP and does not store events: the server's route hands it a delivery and
//! commits the events it returns through the same ingest path as `POST /v1/events`, and
//! `sightline shopify reconcile` posts them to a running server. Translation is pure and
//! tested on its own; the only files this crate writes are the state journals that cart
//! diffs and inventory-item SKUs need (`shopify/journal.rs`).

pub mod error;
pub mod metrics;
pub mod odoo;
pub mod shopify;

pub use error::{SourceError, TranslateError};
