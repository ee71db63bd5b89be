//! The event model: what an event *is* before anything stores or computes with it.
//!
//! Every event Sightline ingests is a CloudEvents 1.0 event from the v1 catalogue of
//! `spec/events.md`. This crate parses and validates one event from its JSON bytes — the
//! envelope, the catalogue's required fields and field types, money as exact decimals with
//! a currency — and derives its identity key from (`source`, `id`). It does no I/O and holds
//! no state, so the HTTP ingest path, `sightline import` and the tests all run the very same
//! validation, and every rejection names the field and what was expected.
//!
//! The hot path borrows from the input: attribute values are raw JSON slices that are only
//! unescaped when they contain escapes, and `data` is walked once against the catalogue
//! schema without building a generic JSON tree.

pub mod catalogue;
pub mod envelope;
pub mod error;
pub mod identity;
pub mod json;
pub mod money;
pub mod time;

pub use catalogue::{EventType, FieldKind, FieldSpec};
pub use envelope::{
    CurrencyPolicy, MemberPlace, MemberSink, ValidEvent, validate_event, validate_event_observed,
};
pub use error::{Rejection, RejectionCode};
pub use identity::identity_key;
pub use money::{CurrencyCode, parse_decimal, parse_decimal_text};
