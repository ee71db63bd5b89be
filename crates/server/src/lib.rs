//! The HTTP server: the public API of `spec/api.md` over the ingest path.
//!
//! Routes live one file each under `routes/`; `decode.rs` turns the four CloudEvents
//! HTTP modes into raw events; `listener.rs` owns connections and their timeouts so that
//! a slow or stalled client costs a connection slot, never the log writer.

pub mod alerting;
mod decode;
mod error;
pub mod feed;
pub mod kpis;
mod listener;
mod metrics;
pub mod odoo;
pub mod push;
mod routes;
mod state;

pub use error::ServerError;
pub use listener::{bind, serve};
pub use state::AppState;

/// The router with every route, for the listener and for tests that drive it in process.
pub fn router(state: AppState) -> axum::Router {
    routes::router(state)
}
