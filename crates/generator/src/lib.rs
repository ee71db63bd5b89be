//! Deterministic, realistic CloudEvents traffic covering the whole Sightline v1 event
//! catalogue (`shared/spec/events.md`).
//!
//! The generator simulates a small omnichannel store — a [`Store`] world model with
//! web sessions walking a funnel, a Zipf-popular SKU catalogue, orders in flight
//! through payment, fulfilment, cancellation and refund, stock per warehouse with
//! picks, restocks and cycle counts, production lines that occasionally fault, API
//! endpoints with log-normal latencies and incidents, and work queues — and writes one
//! structured-mode CloudEvent (one line of JSON) per step. The load generator and the
//! benchmarks use it now; `sightline demo` will use it later.
//!
//! Output is a pure function of [`GeneratorConfig`]: the same seed and configuration
//! give byte-identical output on every machine and in every version. That is why the
//! PRNG ([`rng`]), the `exp` used for latencies and the timestamp formatting
//! ([`time`]) are implemented here with integer and exactly-rounded arithmetic only.
//! Changing what is generated for a given configuration changes every benchmark input:
//! the `golden_output` test pins it.
//!
//! No I/O, no async, no allocation per event beyond the caller's output buffer growing.

mod generator;
mod json;
pub mod rng;
pub mod scenario;
pub mod store;
pub mod time;

pub use generator::{
    Action, Conditions, EventGenerator, GATEWAY_NAMES, LEAN_PRODUCTION_BATCH, TimedGenerator,
    Traffic,
};
pub use store::Store;

/// Every event type of the v1 catalogue, in the order of `events.md`.
pub const EVENT_TYPES: [&str; 15] = [
    "order.created",
    "order.paid",
    "order.cancelled",
    "refund.created",
    "payment.failed",
    "page.viewed",
    "cart.item_added",
    "checkout.started",
    "fulfillment.stage_changed",
    "inventory.adjusted",
    "inventory.counted",
    "production.output",
    "production.status_changed",
    "api.request",
    "queue.depth",
];

/// What to generate. Output is a pure function of this value.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    /// Traffic seed: also determines the run tag in every id, so runs with different
    /// seeds do not collide on (`source`, `id`) or on order/session ids.
    pub seed: u64,
    /// Event time of the first event, µs since the Unix epoch.
    pub start_time_us: i64,
    /// Event-time rate: consecutive events are `1 / events_per_second` apart in `time`.
    pub events_per_second: f64,
    /// CloudEvents `source` of every event, e.g. `web/shop`.
    pub source: String,
    /// ISO 4217 code of every money field.
    pub currency: String,
    /// Number of SKUs in the catalogue (at least 1).
    pub sku_count: u32,
    /// Maximum random backwards jitter of `time` (µs); 0 keeps event times ordered.
    pub disorder_us: i64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 1,
            // 2026-01-01T00:00:00Z
            start_time_us: 1_767_225_600_000_000,
            events_per_second: 1000.0,
            source: "web/shop".to_string(),
            currency: "EUR".to_string(),
            sku_count: 1000,
            disorder_us: 0,
        }
    }
}
