//! Retention: deleting whole sealed segments from the old end of the log.
//!
//! Only a prefix of sealed segments is ever deleted (oldest first, stopping at the first one
//! that must be kept), so the retained offsets stay one dense range. The active segment is
//! never deleted: it is where the next append goes, and it holds the newest data anyway.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::error::LogError;
use crate::fsio::{lock, sync_dir};
use crate::handle::Shared;
use crate::keys;
use crate::record::Offset;
use crate::segment::SegmentFile;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Delete a sealed segment once its newest record's append time is older than this.
    pub max_age: Option<Duration>,
    /// Delete the oldest sealed segments while the log is larger than this.
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub segments_deleted: usize,
    pub records_deleted: u64,
    pub bytes_deleted: u64,
    /// First retained offset after this run.
    pub first_offset: Offset,
}

/// Deletes what `policy` says must go. `active_bytes` is the active segment's current size
/// (including buffered records), which counts towards `max_bytes`.
pub(crate) fn enforce(
    shared: &Shared,
    policy: &RetentionPolicy,
    now_us: i64,
    active_bytes: u64,
) -> Result<RetentionReport, LogError> {
    let segments: Vec<Arc<SegmentFile>> = lock(&shared.state).segments.clone();
    let mut total_bytes = active_bytes;
    for segment in &segments {
        if let Some(sealed) = segment.sealed.get() {
            total_bytes += sealed.size_bytes;
        }
    }
    let age_cutoff_us = policy.max_age.map(|max_age| {
        let max_age_us = i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX);
        now_us.saturating_sub(max_age_us)
    });

    let mut doomed = 0usize;
    for segment in &segments {
        let Some(sealed) = segment.sealed.get().copied() else {
            break; // the active segment
        };
        let too_big = policy.max_bytes.is_some_and(|max| total_bytes > max);
        let too_old = match age_cutoff_us {
            Some(cutoff) => match keys::newest_append_of_sealed(shared, segment, sealed)? {
                Some(newest) => newest.is_none_or(|newest| newest < cutoff),
                None => true,
            },
            None => false,
        };
        if !too_big && !too_old {
            break;
        }
        total_bytes -= sealed.size_bytes;
        doomed += 1;
    }

    let mut report = RetentionReport::default();
    if doomed == 0 {
        report.first_offset = lock(&shared.state).first_offset();
        return Ok(report);
    }

    let removed: Vec<Arc<SegmentFile>> = {
        let mut state = lock(&shared.state);
        let removed = state.segments.drain(..doomed).collect();
        report.first_offset = state.first_offset();
        removed
    };
    // Files are unlinked only after the segments left the shared state: a reader that finds
    // a segment in the state opens it under the lock, so it never races with the unlink.
    for segment in &removed {
        let sealed = segment
            .sealed
            .get()
            .copied()
            .expect("only sealed segments are selected for deletion");
        let _guard = lock(&segment.keys_lock);
        segment.deleted.store(true, Ordering::Release);
        remove_if_present(&segment.path)?;
        remove_if_present(&segment.keys_path)?;
        report.segments_deleted += 1;
        report.records_deleted += sealed.end - segment.base;
        report.bytes_deleted += sealed.size_bytes;
        tracing::info!(
            path = %segment.path.display(),
            records = sealed.end - segment.base,
            bytes = sealed.size_bytes,
            "retention deleted segment"
        );
    }
    sync_dir(&shared.dir)?;
    Ok(report)
}

fn remove_if_present(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(LogError::io("delete", path)(error)),
    }
}
