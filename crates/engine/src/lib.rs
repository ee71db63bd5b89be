//! The streaming KPI engine: events in event-time order or not, KPI windows out.
//!
//! Pure computation: no I/O, no async, no clock of its own (callers pass the wall-clock
//! time), so it can be driven by the live server, by a replay of the log, or by a test
//! against an oracle, and give the same answers. KPIs are declarative
//! ([`definition`]); nothing in here knows the built-in `commerce` pack.
//!
//! ## Time
//!
//! The watermark trails the largest event time seen by the disorder bound and never goes
//! back ([`watermark`]). An event at or after the watermark is on time; one behind it but
//! within the allowed lateness still updates its windows (they are reported again as
//! corrections); one later still is rejected as `late`. A window is final once the
//! watermark passes its end. When no event arrives for the idle timeout, the watermark
//! follows the wall clock, so a live dashboard rolls over to an empty window; lateness is
//! still judged by event times alone, so an idle stream never makes a backfill late.
//!
//! ## Windows
//!
//! Every window is built from panes: tumbling windows are one pane each, sliding windows of
//! size S sliding by L are S/L panes of L, so an event touches exactly one pane per window
//! definition whatever S/L is ([`window`]).

pub mod aggregate;
pub mod calendar;
pub mod capture;
pub mod definition;
pub mod engine;
pub mod error;
pub mod extract;
pub mod filter;
pub mod scan;
pub mod sketch;
pub mod watermark;
pub mod window;

/// The built-in `commerce` pack, shipped in the binary as the same TOML users write.
pub const COMMERCE_PACK: &str = include_str!("../packs/commerce.toml");

pub use calendar::Calendar;
pub use capture::FieldCapture;
pub use definition::{AggregateKind, KpiDefinition, KpiPack, WindowDefinition};
pub use engine::{
    ClosedWindow, Engine, EngineOptions, FieldReader, FieldsColumn, FieldsRef, Observation,
    ReadFields, WindowResult, series_label,
};
pub use error::EngineError;
pub use watermark::{Lateness, TimePolicy, Watermark};
pub use window::WindowSpec;
