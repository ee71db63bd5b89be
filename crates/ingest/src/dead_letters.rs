//! The dead-letter store: every rejected or too-late event, with its reason, raw input and
//! time, kept in a log of its own and bounded by that log's retention.
//!
//! Each record's key holds the rejection code, so the in-memory index (offset, code, time)
//! is rebuilt from the log's key index at start-up without reading payloads, and a query
//! by code reads only the records it returns.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sightline_log::{LogError, LogHandle, LogOptions, Offset, Record, SegmentLog, StoredRecord};
use sightline_model::RejectionCode;

/// One stored dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub code: String,
    pub reason: String,
    /// When it was rejected, microseconds since the epoch.
    #[serde(skip)]
    pub time_us: i64,
    /// Where it came from: `http`, `import`, `engine`.
    pub origin: String,
    /// The event as received (lossy UTF-8, at most 1 MiB).
    pub raw: String,
}

/// `reason` matches a code exactly (`missing_field`, `late`), or the field path a reason
/// starts with (`data.total`), or else the start of the reason text among the newest
/// records.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterQuery {
    pub reason: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    offset: Offset,
    code: u8,
    /// Hash of the reason's field path (the text before its first ':').
    field: u64,
}

/// Reasons read `data.total: expected …`; queries by field path use this hash.
fn field_hash(reason: &str) -> u64 {
    let field = reason.split(':').next().unwrap_or("").trim();
    xxhash_rust::xxh3::xxh3_64(field.as_bytes())
}

/// The record key packs the code (low byte) and the field hash, so the index is rebuilt
/// from the log's key files without reading payloads.
fn pack_key(code: u8, field: u64) -> u128 {
    code as u128 | (field as u128) << 8
}

/// A prefix query that matches no code and no field path scans at most this many of the
/// newest records: a query must not read a quarter gigabyte.
const PREFIX_SCAN_LIMIT: usize = 50_000;

#[derive(Debug)]
struct Inner {
    log: SegmentLog,
    index: VecDeque<IndexEntry>,
    unsynced: bool,
    bytes_since_retention: u64,
    retention_check_bytes: u64,
}

#[derive(Debug)]
pub struct DeadLetterStore {
    inner: Mutex<Inner>,
    handle: LogHandle,
}

enum IndexFilter {
    All,
    Code(u8),
    Field(u64),
}

impl IndexFilter {
    fn accepts(&self, entry: &IndexEntry) -> bool {
        match self {
            IndexFilter::All => true,
            IndexFilter::Code(code) => entry.code == *code,
            IndexFilter::Field(field) => entry.field == *field,
        }
    }
}

impl DeadLetterStore {
    pub fn open(dir: &Path, options: LogOptions) -> Result<DeadLetterStore, LogError> {
        let retention_check_bytes = options.segment_max_bytes;
        let (log, report) = SegmentLog::open(dir, options)?;
        tracing::debug!(?report, "dead-letter store opened");
        let handle = log.handle();
        let mut index = VecDeque::new();
        let mut next = handle.first_offset();
        handle.scan_keys(i64::MIN, &mut |key, _append_time| {
            index.push_back(IndexEntry {
                offset: next,
                code: (key & 0xff) as u8,
                field: (key >> 8) as u64,
            });
            next += 1;
        })?;
        Ok(DeadLetterStore {
            inner: Mutex::new(Inner {
                log,
                index,
                unsynced: false,
                bytes_since_retention: 0,
                retention_check_bytes,
            }),
            handle,
        })
    }

    /// Appends dead letters; they are durable after the next [`DeadLetterStore::sync`].
    pub fn append(&self, code: RejectionCode, letter: &DeadLetter) -> Result<(), LogError> {
        let payload = serde_json::to_vec(letter).unwrap_or_default();
        let field = field_hash(&letter.reason);
        let mut inner = self.lock();
        let offset = inner.log.append(&Record {
            key: pack_key(code.index() as u8, field),
            event_time_us: letter.time_us,
            append_time_us: letter.time_us,
            payload: &payload,
        })?;
        inner.index.push_back(IndexEntry {
            offset,
            code: code.index() as u8,
            field,
        });
        inner.unsynced = true;
        inner.bytes_since_retention += payload.len() as u64;
        Ok(())
    }

    pub fn sync(&self) -> Result<(), LogError> {
        let mut inner = self.lock();
        if !inner.unsynced {
            return Ok(());
        }
        inner.log.sync()?;
        inner.unsynced = false;
        // A burst of rejections must not outgrow the size bound until the next
        // housekeeping round: apply retention once a segment's worth was written.
        if inner.bytes_since_retention >= inner.retention_check_bytes {
            drop(inner);
            self.enforce_retention(sightline_model::time::now_micros())?;
        }
        Ok(())
    }

    pub fn enforce_retention(&self, now_us: i64) -> Result<(), LogError> {
        let mut inner = self.lock();
        inner.bytes_since_retention = 0;
        inner.log.enforce_retention(now_us)?;
        let first = inner.log.stats().first_offset;
        while inner
            .index
            .front()
            .is_some_and(|entry| entry.offset < first)
        {
            inner.index.pop_front();
        }
        Ok(())
    }

    /// Matching dead letters, newest first, and how many match in all.
    pub fn query(&self, query: &DeadLetterQuery) -> Result<(u64, Vec<DeadLetter>), LogError> {
        let filter = match query.reason.as_deref() {
            None => IndexFilter::All,
            Some(text) => match RejectionCode::from_str_opt(text) {
                Some(code) => IndexFilter::Code(code.index() as u8),
                None => IndexFilter::Field(field_hash(text)),
            },
        };
        let (total, offsets) = {
            let inner = self.lock();
            let matching = || {
                inner
                    .index
                    .iter()
                    .rev()
                    .filter(|entry| filter.accepts(entry))
            };
            let total = matching().count() as u64;
            let offsets: Vec<Offset> = matching()
                .take(query.limit)
                .map(|entry| entry.offset)
                .collect();
            (total, offsets)
        };
        if total == 0
            && let Some(prefix) = query.reason.as_deref()
            && matches!(filter, IndexFilter::Field(_))
        {
            return self.query_by_reason_prefix(prefix, query.limit);
        }
        let Some(&oldest) = offsets.last() else {
            return Ok((total, Vec::new()));
        };
        let mut wanted: Vec<Offset> = offsets;
        wanted.sort_unstable();
        let mut letters = Vec::with_capacity(wanted.len());
        self.read_from(oldest, |record| {
            if wanted.binary_search(&record.offset).is_ok() {
                letters.push(decode(record));
            }
            record.offset < *wanted.last().unwrap_or(&0)
        })?;
        letters.reverse();
        Ok((total, letters))
    }

    /// Matches the start of the reason text, over the newest [`PREFIX_SCAN_LIMIT`]
    /// records only.
    fn query_by_reason_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<(u64, Vec<DeadLetter>), LogError> {
        let mut total = 0u64;
        let mut newest = VecDeque::with_capacity(limit.min(1024));
        let newest_first_offset = {
            let inner = self.lock();
            let skip = inner.index.len().saturating_sub(PREFIX_SCAN_LIMIT);
            inner
                .index
                .get(skip)
                .map_or(self.handle.first_offset(), |entry| entry.offset)
        };
        self.read_from(newest_first_offset, |record| {
            let letter = decode(record);
            if letter.reason.starts_with(prefix) {
                total += 1;
                if newest.len() == limit {
                    newest.pop_front();
                }
                if limit > 0 {
                    newest.push_back(letter);
                }
            }
            true
        })?;
        Ok((total, newest.into_iter().rev().collect()))
    }

    /// Reads durable records from `from` on while `visit` returns true.
    fn read_from(
        &self,
        from: Offset,
        mut visit: impl FnMut(&StoredRecord) -> bool,
    ) -> Result<(), LogError> {
        let mut reader = self.handle.reader(from)?;
        let mut records = Vec::with_capacity(256);
        loop {
            records.clear();
            if reader.read_batch(256, &mut records)? == 0 {
                return Ok(());
            }
            for record in &records {
                if !visit(record) {
                    return Ok(());
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lock().index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the log half-written in memory in a
        // way later appends would misread (the log validates on read), so keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn decode(record: &StoredRecord) -> DeadLetter {
    let mut letter: DeadLetter =
        serde_json::from_slice(&record.payload).unwrap_or_else(|error| DeadLetter {
            code: "unknown".into(),
            reason: format!("unreadable dead-letter record: {error}"),
            time_us: 0,
            origin: String::new(),
            raw: String::from_utf8_lossy(&record.payload).into_owned(),
        });
    letter.time_us = record.event_time_us;
    letter
}
