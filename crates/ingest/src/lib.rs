//! The ingest path: from received bytes to acknowledged, durable, deduplicated events.
//!
//! Both `POST /v1/events` and `sightline import` go through [`IngestService`]: the caller
//! splits its input into raw events, [`IngestService::prepare`] validates them on the
//! caller's thread (parallel across requests), and [`IngestService::commit`] hands the
//! batch to the single writer thread, which deduplicates, appends to the event log, and
//! answers once the batch is durable.
//!
//! ## Durability contract
//!
//! A commit answers `Ok` only after every event it counts as `accepted` *or* `duplicate`
//! is in the log and the log has been fdatasync'ed. Duplicates wait for the same sync as
//! the original, so a client told "duplicate" can rely on the original being durable even
//! when both arrived in the same group. Concurrent commits share one fdatasync (group
//! commit). If a sync fails the log refuses all further writes (see `sightline-log`) and
//! every waiting commit gets an error: nothing unacknowledged is reported as stored.
//!
//! Deduplication by (`source`, `id`) happens on the writer thread, so two concurrent
//! requests carrying the same event can never both append it. Its state is derived from the
//! log (the key index of each segment), so it survives restarts without a snapshot of its
//! own. Rejected events go to the dead-letter store in the same group, before the answer.

mod dead_letters;
mod dedup;
mod error;
mod frame_pool;
pub mod metrics;
mod prepare;
mod writer;

pub use dead_letters::{DeadLetter, DeadLetterQuery, DeadLetterStore};
pub use dedup::DedupIndex;
pub use error::IngestError;
pub use metrics::{Histogram, IngestMetrics};
pub use prepare::{AcceptObserver, PreparedBatch, RawEvent, RejectedEvent};
pub use writer::{CommitOutcome, IngestOptions, IngestService, Origin, PendingCommit};
