//! History: the final windows of every KPI, on disk, so past windows are served after a
//! restart and for longer than the engine keeps them in memory.
//!
//! The engine hands over each window once no event can change it any more
//! ([`sightline_engine::ClosedWindow`]); the KPI runner writes them here in one redb
//! transaction *before* it writes the engine checkpoint that no longer holds them. A crash
//! between the two replays the log from the older checkpoint, which closes the same
//! windows again with the same values: writes are keyed by (KPI, window, start), so the
//! second write replaces the first and nothing is lost or doubled.
//!
//! Retention is per resolution (the step between a definition's windows): minute, hourly
//! and daily windows are kept for their own configured time, measured from a window's
//! end.

mod error;
mod store;

pub use error::HistoryError;
pub use store::{HistoryStore, RetentionPolicy};
