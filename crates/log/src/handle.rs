//! State shared between the single writer and any number of readers, and the cheap
//! `LogHandle` that readers on other threads hold.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::LogError;
use crate::fsio::lock;
use crate::keys;
use crate::position;
use crate::reader::LogReader;
use crate::record::Offset;
use crate::segment::SegmentFile;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    /// Largest accepted frame body (record header + max payload).
    pub(crate) max_body_len: usize,
    pub(crate) state: Mutex<LogState>,
    /// Notified whenever `durable_end` advances.
    pub(crate) durable_changed: Condvar,
    /// Serializes consumer-position commits (they share temp-file names).
    pub(crate) positions_lock: Mutex<()>,
}

/// What readers may see. Only the writer mutates it (and retention, which the writer runs).
#[derive(Debug)]
pub(crate) struct LogState {
    /// Oldest first; never empty; the last one is the active (written) segment.
    pub(crate) segments: Vec<Arc<SegmentFile>>,
    /// Records below this offset survive a machine crash.
    pub(crate) durable_end: Offset,
    /// Bytes of the active segment that are written and fdatasync'ed.
    pub(crate) active_durable_bytes: u64,
    /// Bumped by `wake_waiters`, so a waiting reader returns early (to see that it must stop).
    pub(crate) wakeups: u64,
}

/// A consistent view of the durable end, taken under the state lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DurableSnapshot {
    pub(crate) durable_end: Offset,
    pub(crate) active_durable_bytes: u64,
}

impl LogState {
    pub(crate) fn first_offset(&self) -> Offset {
        self.segments
            .first()
            .map_or(self.durable_end, |segment| segment.base)
    }

    /// The segment whose range contains `offset` (the newest one with `base <= offset`).
    pub(crate) fn segment_containing(&self, offset: Offset) -> Option<&Arc<SegmentFile>> {
        let after = self
            .segments
            .partition_point(|segment| segment.base <= offset);
        if after == 0 {
            return None;
        }
        self.segments.get(after - 1)
    }

    pub(crate) fn snapshot(&self) -> DurableSnapshot {
        DurableSnapshot {
            durable_end: self.durable_end,
            active_durable_bytes: self.active_durable_bytes,
        }
    }
}

impl Shared {
    pub(crate) fn snapshot(&self) -> DurableSnapshot {
        lock(&self.state).snapshot()
    }

    /// (end offset, byte limit) up to which `segment` may be read.
    ///
    /// A sealed segment is durable in full. A segment that is not sealed was the active one
    /// when `snapshot` was taken (sealing and the snapshot happen under the same lock), so
    /// the snapshot bounds it.
    pub(crate) fn read_limits(segment: &SegmentFile, snapshot: &DurableSnapshot) -> (Offset, u64) {
        match segment.sealed.get() {
            Some(sealed) => (sealed.end, sealed.size_bytes),
            None => (snapshot.durable_end, snapshot.active_durable_bytes),
        }
    }
}

/// Cheap, cloneable access to the log for readers on other threads.
#[derive(Debug, Clone)]
pub struct LogHandle {
    pub(crate) shared: Arc<Shared>,
}

impl LogHandle {
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Records below this offset are durable and readable.
    pub fn durable_end(&self) -> Offset {
        lock(&self.shared.state).durable_end
    }

    /// The oldest offset still retained.
    pub fn first_offset(&self) -> Offset {
        lock(&self.shared.state).first_offset()
    }

    /// A reader positioned at `from`, which must lie in `first_offset()..=durable_end()`.
    pub fn reader(&self, from: Offset) -> Result<LogReader, LogError> {
        LogReader::new(Arc::clone(&self.shared), from)
    }

    /// Blocks until `durable_end() > offset`, `timeout` passes or [`LogHandle::wake_waiters`]
    /// is called; returns the durable end.
    pub fn wait_for_durable_beyond(&self, offset: Offset, timeout: Duration) -> Offset {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        let wakeups_at_start = state.wakeups;
        while state.durable_end <= offset && state.wakeups == wakeups_at_start {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let (guard, _) = self
                .shared
                .durable_changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner);
            state = guard;
        }
        state.durable_end
    }

    /// Ends every current `wait_for_durable_beyond` now: a reader being stopped need not
    /// sit out its timeout (it would delay a shutdown by that much).
    pub fn wake_waiters(&self) {
        lock(&self.shared.state).wakeups += 1;
        self.shared.durable_changed.notify_all();
    }

    /// Calls `f(key, append_time_us)` for every durable record with
    /// `append_time_us >= since_append_us`, oldest first. Whole segments older than `since`
    /// are skipped; callers must still tolerate older entries.
    ///
    /// Sealed segments are read from their `.keys` files (rebuilt from the segment, with a
    /// warning, if missing or corrupt); the active segment is scanned up to the durable end.
    /// At most how many records `scan_keys(since_append_us)` would report (cheap: from
    /// the segments' offsets), for sizing what the keys are loaded into.
    pub fn records_since_at_most(&self, since_append_us: i64) -> u64 {
        keys::records_since_at_most(&self.shared, since_append_us)
    }

    pub fn scan_keys(
        &self,
        since_append_us: i64,
        f: &mut dyn FnMut(u128, i64),
    ) -> Result<(), LogError> {
        keys::scan_keys(&self.shared, since_append_us, f)
    }

    /// Durably records that `consumer` has processed everything below `offset`.
    pub fn commit_position(&self, consumer: &str, offset: Offset) -> Result<(), LogError> {
        let durable_end = self.durable_end();
        if offset > durable_end {
            return Err(LogError::OffsetBeyondEnd {
                requested: offset,
                durable_end,
            });
        }
        let _guard = lock(&self.shared.positions_lock);
        position::commit(&self.shared.dir, consumer, offset)
    }

    /// The last position committed by `consumer`, if any.
    pub fn committed_position(&self, consumer: &str) -> Result<Option<Offset>, LogError> {
        position::load(&self.shared.dir, consumer)
    }
}
