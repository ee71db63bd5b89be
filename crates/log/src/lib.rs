//! `sightline-log` is Sightline's embedded, durable, append-only event log. Every event the
//! server acknowledges is in this log; the streaming engine reads it back by offset, the
//! dedup layer rebuilds its state from the log's key index, and consumers store their
//! positions next to it. It runs on plain std threads and files: one writer
//! ([`SegmentLog`], `&mut self`) and any number of readers ([`LogHandle`], [`LogReader`]).
//!
//! # Durability contract
//!
//! * [`SegmentLog::append`] only buffers. [`SegmentLog::sync`] writes the buffer and
//!   fdatasyncs the active segment; **only records below the offset `sync` returns may be
//!   acknowledged**. They survive a crash of the process and of the machine.
//! * Segments are rolled in an order that keeps this true across files: the old segment is
//!   fdatasync'ed before the new one is created, and the directory is fsynced after it, so
//!   only the last segment can ever have a torn tail.
//! * On open, the last segment is scanned frame by frame (length and crc32c) and cut at the
//!   first invalid frame. Everything acknowledged is before that point, because it was
//!   fdatasync'ed; the dropped bytes are copied to `<segment>.corrupt-<position>`.
//! * If a write or fdatasync fails, the writer enters a failed state and refuses all later
//!   appends and syncs. It never retries an fsync and reports success: after a failed fsync
//!   Linux may have dropped the dirty pages and cleared the error (PostgreSQL's
//!   "fsyncgate"). A restart recovers from what is on disk.
//! * Readers never see data beyond the durable end, and verify every frame's CRC: a
//!   mismatch in durable data is an error ([`LogError::Corrupt`]), never skipped.
//! * A `LOCK` file (OS file lock) keeps a second process from writing the same directory.
//!
//! # On disk
//!
//! ```text
//! <dir>/LOCK
//! <dir>/00000000000000000000.log    segment: 16-byte header + frames (see `record`)
//! <dir>/00000000000000000000.keys   key index of a sealed segment (see `keys`)
//! <dir>/positions/<consumer>        committed consumer positions
//! ```
//!
//! Offsets are implicit: record `i` of the segment with base `b` has offset `b + i`.

mod backend;
mod error;
mod fsio;
mod handle;
mod keys;
mod log;
mod position;
mod reader;
mod record;
mod retention;
mod segment;

pub use backend::{LogRead, LogSource, LogWriter};
pub use error::LogError;
pub use handle::LogHandle;
pub use log::{LogOptions, LogStats, RecoveryReport, SegmentLog, TruncatedTail, segment_file_path};
pub use reader::{BatchRecord, LogReader, RecordBatch};
pub use record::{FRAME_OVERHEAD, FrameBuffer, Offset, Record, StoredRecord};
pub use retention::{RetentionPolicy, RetentionReport};
