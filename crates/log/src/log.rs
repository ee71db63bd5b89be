//! `SegmentLog`: the single writer of the log, and recovery when it opens a directory.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use crate::error::LogError;
use crate::fsio::{lock, sync_dir};
use crate::handle::{LogHandle, LogState, Shared};
use crate::keys::{self, KEY_ENTRY_LEN};
use crate::position;
use crate::record::{BODY_HEADER_LEN, FRAME_OVERHEAD, FrameBuffer, Offset, Record, encode_frame};
use crate::retention::{self, RetentionPolicy, RetentionReport};
use crate::segment::{
    FrameCursor, INDEX_INTERVAL, NextFrame, SEGMENT_HEADER_LEN, SealedInfo, SegmentFile,
    check_header, create_segment_file, encode_header, parse_base, segment_path,
};

/// Above this many buffered bytes `append` hands the buffer to the OS (without fdatasync)
/// so a caller that syncs rarely does not grow memory without bound.
const WRITE_BUFFER_SPILL_BYTES: usize = 8 * 1024 * 1024;
/// Runs of frames at least this long are written from where they lie, not copied into
/// the write buffer.
const DIRECT_WRITE_MIN_BYTES: usize = 256 * 1024;
const LOCK_FILE_NAME: &str = "LOCK";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// A segment is sealed and a new one started when the next record would not fit.
    /// Default 128 MiB.
    pub segment_max_bytes: u64,
    /// Largest accepted payload. Default 16 MiB. Recovery treats a length field above
    /// this (plus the record header) as a torn write, so do not lower it below the size of
    /// records already in the log.
    pub max_record_bytes: u32,
    pub retention: RetentionPolicy,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_max_bytes: 128 * 1024 * 1024,
            max_record_bytes: 16 * 1024 * 1024,
            retention: RetentionPolicy::default(),
        }
    }
}

impl LogOptions {
    fn validate(&self) -> Result<(), LogError> {
        if self.max_record_bytes == 0 || self.max_record_bytes > 1024 * 1024 * 1024 {
            return Err(LogError::InvalidOptions {
                reason: format!(
                    "max_record_bytes is {}, it must be between 1 byte and 1 GiB",
                    self.max_record_bytes
                ),
            });
        }
        if self.segment_max_bytes < 1024 {
            return Err(LogError::InvalidOptions {
                reason: format!(
                    "segment_max_bytes is {}, it must be at least 1024",
                    self.segment_max_bytes
                ),
            });
        }
        Ok(())
    }

    fn max_body_len(&self) -> usize {
        BODY_HEADER_LEN + self.max_record_bytes as usize
    }
}

/// What `SegmentLog::open` found and repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files present when the log was opened (0 for a new log).
    pub segments_found: usize,
    pub active_segment_base: Offset,
    /// Valid records found in the active (last) segment.
    pub records_recovered: u64,
    pub next_offset: Offset,
    /// Set if the active segment ended in a torn or corrupt tail that was cut off.
    pub truncated: Option<TruncatedTail>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedTail {
    pub segment: PathBuf,
    /// File position where the first invalid frame started; the file now ends here.
    pub position: u64,
    pub bytes_dropped: u64,
    pub reason: String,
    /// Where the dropped bytes were copied for forensics.
    pub corrupt_copy: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStats {
    pub first_offset: Offset,
    pub next_offset: Offset,
    pub durable_end: Offset,
    /// Bytes of all segment files, including records still buffered in memory.
    pub total_bytes: u64,
    pub segment_count: usize,
    /// True once an I/O failure stopped the writer (see `LogError::Failed`).
    pub failed: bool,
}

/// The durable, append-only event log. One writer (`&mut self`); readers use `handle()`.
#[derive(Debug)]
pub struct SegmentLog {
    shared: Arc<Shared>,
    options: LogOptions,
    /// Held for the lifetime of the writer; the OS releases the lock when it is closed,
    /// including when the process dies.
    _lock_file: File,
    active: Arc<SegmentFile>,
    active_file: File,
    /// Bytes of the active segment handed to the OS (header included).
    active_written: u64,
    /// Encoded frames not yet written.
    buffer: Vec<u8>,
    active_records: u64,
    /// Key index entries of the active segment, in `.keys` format, written when sealing.
    active_keys: Vec<u8>,
    active_newest_append_us: Option<i64>,
    next_offset: Offset,
    durable_end: Offset,
    /// Set by the first write/fsync failure; the writer refuses all work afterwards.
    failed: Option<String>,
    #[cfg(test)]
    fail_next_fsync: bool,
}

impl SegmentLog {
    /// Opens (or creates) the log in `dir`, recovering the active segment.
    pub fn open(dir: &Path, options: LogOptions) -> Result<(SegmentLog, RecoveryReport), LogError> {
        options.validate()?;
        let created = !dir.is_dir();
        fs::create_dir_all(dir).map_err(LogError::io("create log directory", dir))?;
        if created && let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        let lock_file = acquire_directory_lock(dir)?;
        let bases = list_segments_and_clean_up(dir)?;
        position::remove_stale_temp_files(dir)?;
        let max_body_len = options.max_body_len();

        let mut segments = Vec::with_capacity(bases.len().max(1));
        for pair in bases.windows(2) {
            let segment = SegmentFile::new(dir, pair[0]);
            let size_bytes = fs::metadata(&segment.path)
                .map_err(LogError::io("read metadata of", &segment.path))?
                .len();
            let _ = segment.sealed.set(SealedInfo {
                end: pair[1],
                size_bytes,
            });
            segments.push(Arc::new(segment));
        }

        let (active, recovered) = match bases.last() {
            Some(&base) => {
                let active = SegmentFile::new(dir, base);
                let recovered = recover_active_segment(&active, max_body_len)?;
                // The previous process may have crashed between creating this segment and
                // fsyncing the directory; records acknowledged into it from now on must not
                // vanish with its directory entry.
                sync_dir(dir)?;
                (active, recovered)
            }
            None => {
                let active = SegmentFile::new(dir, 0);
                let file = create_segment_file(dir, 0)?;
                sync_dir(dir)?;
                let recovered = RecoveredSegment::empty(file, None);
                (active, recovered)
            }
        };
        *lock(&active.sparse_index) = recovered.sparse_index;
        let active = Arc::new(active);
        segments.push(Arc::clone(&active));

        let next_offset = active.base + recovered.records;
        let report = RecoveryReport {
            segments_found: bases.len(),
            active_segment_base: active.base,
            records_recovered: recovered.records,
            next_offset,
            truncated: recovered.truncated,
        };
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            max_body_len,
            state: Mutex::new(LogState {
                segments,
                durable_end: next_offset,
                active_durable_bytes: recovered.written,
                wakeups: 0,
            }),
            durable_changed: Condvar::new(),
            positions_lock: Mutex::new(()),
        });
        tracing::info!(
            dir = %dir.display(),
            segments = report.segments_found,
            next_offset,
            "opened event log"
        );
        let log = SegmentLog {
            shared,
            options,
            _lock_file: lock_file,
            active,
            active_file: recovered.file,
            active_written: recovered.written,
            buffer: Vec::with_capacity(1024 * 1024),
            active_records: recovered.records,
            active_keys: recovered.keys,
            active_newest_append_us: recovered.newest_append_us,
            next_offset,
            durable_end: next_offset,
            failed: None,
            #[cfg(test)]
            fail_next_fsync: false,
        };
        Ok((log, report))
    }

    /// Buffers `record` and returns its offset. Not durable (and not visible to readers)
    /// until `sync` returns an offset above it.
    pub fn append(&mut self, record: &Record<'_>) -> Result<Offset, LogError> {
        self.check_not_failed()?;
        self.check_payload_len(record.payload.len())?;
        let frame_len = record.frame_len() as u64;
        self.append_frame_with(frame_len, record.key, record.append_time_us, |buffer| {
            encode_frame(record, buffer)
        })
    }

    /// Appends frames `indices` (ascending) of `frames` (records framed ahead of time), as
    /// [`SegmentLog::append`] of each record would, and returns the offset of the first (`None` for none). Frames that
    /// lie side by side in `frames` are handed to the OS straight from it, in one write,
    /// rather than copied through the write buffer first: a backfill's batches are
    /// megabytes.
    pub fn append_frames(
        &mut self,
        frames: &FrameBuffer,
        indices: &[usize],
    ) -> Result<Option<Offset>, LogError> {
        self.check_not_failed()?;
        let first = (!indices.is_empty()).then_some(self.next_offset);
        // Adjacent frames not yet written nor buffered (byte positions in `frames`).
        let mut run = 0..0;
        for &index in indices {
            let (frame, key, append_time_us) = frames.frame(index);
            self.check_payload_len(frame.len() - FRAME_OVERHEAD)?;
            let frame_len = frame.len() as u64;
            if self.cannot_take(run.len() as u64 + frame_len) {
                self.write_run(frames, std::mem::replace(&mut run, 0..0))?;
                self.roll()?;
            }
            self.index_record(self.active_len() + run.len() as u64, key, append_time_us);
            let start = frames.frame_start(index);
            if run.is_empty() || run.end != start {
                self.write_run(frames, std::mem::replace(&mut run, start..start))?;
            }
            run.end = start + frame.len();
        }
        self.write_run(frames, run)?;
        Ok(first)
    }

    /// Whether `bytes` more would overflow the active segment (which always takes its
    /// first record, however large).
    fn cannot_take(&self, bytes: u64) -> bool {
        self.active_records > 0 && self.active_len() + bytes > self.options.segment_max_bytes
    }

    /// Accounts for the record about to go at byte `position` of the active segment: its
    /// sparse index entry, its key index entry, its offset.
    fn index_record(&mut self, position: u64, key: u128, append_time_us: i64) {
        let relative = self.next_offset - self.active.base;
        if relative > 0 && relative.is_multiple_of(INDEX_INTERVAL) {
            lock(&self.active.sparse_index).push(position);
        }
        keys::push_entry(&mut self.active_keys, key, append_time_us);
        self.active_newest_append_us = Some(
            self.active_newest_append_us
                .map_or(append_time_us, |newest| newest.max(append_time_us)),
        );
        self.active_records += 1;
        self.next_offset += 1;
    }

    /// Hands `run` of `frames` to the OS after whatever is buffered; a short run is
    /// buffered instead, so many small batches still make few writes.
    fn write_run(
        &mut self,
        frames: &FrameBuffer,
        run: std::ops::Range<usize>,
    ) -> Result<(), LogError> {
        if run.len() < DIRECT_WRITE_MIN_BYTES {
            self.buffer.extend_from_slice(frames.bytes(run));
            if self.buffer.len() >= WRITE_BUFFER_SPILL_BYTES {
                self.write_buffer()?;
            }
            return Ok(());
        }
        self.write_buffer()?;
        let bytes = frames.bytes(run);
        if let Err(error) = self.active_file.write_all(bytes) {
            let path = self.active.path.clone();
            return Err(self.fail("write to segment", &path, error));
        }
        self.active_written += bytes.len() as u64;
        Ok(())
    }

    fn check_payload_len(&self, payload_len: usize) -> Result<(), LogError> {
        if payload_len > self.options.max_record_bytes as usize {
            return Err(LogError::RecordTooLarge {
                payload_len,
                max_record_bytes: self.options.max_record_bytes,
            });
        }
        Ok(())
    }

    fn append_frame_with(
        &mut self,
        frame_len: u64,
        key: u128,
        append_time_us: i64,
        write_frame: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Offset, LogError> {
        if self.cannot_take(frame_len) {
            self.roll()?;
        }

        let offset = self.next_offset;
        self.index_record(self.active_len(), key, append_time_us);
        write_frame(&mut self.buffer);
        if self.buffer.len() >= WRITE_BUFFER_SPILL_BYTES {
            self.write_buffer()?;
        }
        Ok(offset)
    }

    /// Hands buffered records to the OS without making them durable. They survive a crash
    /// of this process but not of the machine, and readers still do not see them. Only
    /// useful to bound memory or to start write-back early; `sync` implies it.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.check_not_failed()?;
        self.write_buffer()
    }

    /// Makes every appended record durable and returns the durable end (the next offset).
    ///
    /// This is the durability point: only records below the returned offset may be
    /// acknowledged. If the write or the fdatasync fails, the log enters the failed state
    /// and every later `append`/`sync` fails: after a failed fsync the kernel may have
    /// dropped the dirty pages and cleared the error, so a retry could "succeed" without the
    /// data being on disk (PostgreSQL's fsyncgate).
    pub fn sync(&mut self) -> Result<Offset, LogError> {
        self.check_not_failed()?;
        if self.durable_end == self.next_offset {
            return Ok(self.durable_end);
        }
        self.write_buffer()?;
        self.fdatasync_active()?;
        self.durable_end = self.next_offset;
        {
            let mut state = lock(&self.shared.state);
            state.durable_end = self.durable_end;
            state.active_durable_bytes = self.active_written;
        }
        self.shared.durable_changed.notify_all();
        Ok(self.durable_end)
    }

    pub fn next_offset(&self) -> Offset {
        self.next_offset
    }

    pub fn durable_end(&self) -> Offset {
        self.durable_end
    }

    pub fn handle(&self) -> LogHandle {
        LogHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Deletes sealed segments (oldest first, never the active one) while the oldest is
    /// older than `retention.max_age` (by its newest append time, compared with `now_us`)
    /// or the log exceeds `retention.max_bytes`. Readers positioned in deleted segments
    /// keep reading the files they have open; new reads there get `OffsetTruncated`.
    pub fn enforce_retention(&mut self, now_us: i64) -> Result<RetentionReport, LogError> {
        retention::enforce(
            &self.shared,
            &self.options.retention,
            now_us,
            self.active_len(),
        )
    }

    pub fn stats(&self) -> LogStats {
        let state = lock(&self.shared.state);
        let sealed_bytes: u64 = state
            .segments
            .iter()
            .filter_map(|segment| segment.sealed.get())
            .map(|sealed| sealed.size_bytes)
            .sum();
        LogStats {
            first_offset: state.first_offset(),
            next_offset: self.next_offset,
            durable_end: self.durable_end,
            total_bytes: sealed_bytes + self.active_len(),
            segment_count: state.segments.len(),
            failed: self.failed.is_some(),
        }
    }

    /// Makes the next fdatasync fail, to test the failed state through the real error path.
    #[cfg(test)]
    pub(crate) fn fail_next_fsync_for_test(&mut self) {
        self.fail_next_fsync = true;
    }

    fn active_len(&self) -> u64 {
        self.active_written + self.buffer.len() as u64
    }

    fn check_not_failed(&self) -> Result<(), LogError> {
        match &self.failed {
            None => Ok(()),
            Some(reason) => Err(LogError::Failed {
                dir: self.shared.dir.clone(),
                reason: reason.clone(),
            }),
        }
    }

    /// Records an I/O failure of the write path and puts the log in the failed state.
    fn fail(&mut self, action: &'static str, path: &Path, source: io::Error) -> LogError {
        self.enter_failed_state(LogError::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }

    fn enter_failed_state(&mut self, error: LogError) -> LogError {
        tracing::error!(
            %error,
            "event log entered the failed state; appends and syncs are refused until restart"
        );
        self.failed = Some(error.to_string());
        error
    }

    fn write_buffer(&mut self) -> Result<(), LogError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        // A partial write leaves unknown bytes in the file; the failed state keeps us from
        // appending after them. Reopening truncates them as a torn tail.
        if let Err(error) = self.active_file.write_all(&self.buffer) {
            let path = self.active.path.clone();
            return Err(self.fail("write to segment", &path, error));
        }
        self.active_written += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    fn fdatasync_active(&mut self) -> Result<(), LogError> {
        #[cfg(test)]
        if std::mem::take(&mut self.fail_next_fsync) {
            let path = self.active.path.clone();
            return Err(self.fail(
                "fdatasync",
                &path,
                io::Error::other("injected fsync failure"),
            ));
        }
        if let Err(error) = self.active_file.sync_data() {
            let path = self.active.path.clone();
            return Err(self.fail("fdatasync", &path, error));
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at `next_offset`.
    ///
    /// Order matters for crash safety: the old segment is fully durable before the new one
    /// exists, so recovery only ever has to repair the last segment.
    fn roll(&mut self) -> Result<(), LogError> {
        self.sync()?;
        let sealed = SealedInfo {
            end: self.next_offset,
            size_bytes: self.active_written,
        };
        let mut keys = std::mem::take(&mut self.active_keys);
        {
            let _guard = lock(&self.active.keys_lock);
            // The key index is derived data: if it cannot be written, scans rebuild it.
            if let Err(error) = keys::write_keys_file(
                &self.shared.dir,
                &self.active,
                &keys,
                self.active_newest_append_us,
            ) {
                tracing::warn!(%error, "could not write key index; it will be rebuilt when needed");
            }
        }

        let dir = self.shared.dir.clone();
        let new_base = self.next_offset;
        let file = match create_segment_file(&dir, new_base) {
            Ok(file) => file,
            Err(error) => return Err(self.enter_failed_state(error)),
        };
        if let Err(error) = sync_dir(&dir) {
            return Err(self.enter_failed_state(error));
        }

        let new_segment = Arc::new(SegmentFile::new(&dir, new_base));
        {
            let mut state = lock(&self.shared.state);
            let _ = self.active.sealed.set(sealed);
            let _ = self
                .active
                .newest_append_us
                .set(self.active_newest_append_us);
            state.segments.push(Arc::clone(&new_segment));
            state.active_durable_bytes = SEGMENT_HEADER_LEN;
        }
        tracing::debug!(path = %new_segment.path.display(), "started new segment");
        self.active = new_segment;
        self.active_file = file;
        self.active_written = SEGMENT_HEADER_LEN;
        self.active_records = 0;
        // The sealed segment's entries are written: its buffer (already paged in, and
        // sized for a segment) takes the new segment's.
        keys.clear();
        self.active_keys = keys;
        self.active_newest_append_us = None;
        Ok(())
    }
}

fn acquire_directory_lock(dir: &Path) -> Result<File, LogError> {
    let lock_path = dir.join(LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(LogError::io("open lock file", &lock_path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(LogError::Locked {
            dir: dir.to_path_buf(),
            lock_path,
        }),
        Err(TryLockError::Error(error)) => Err(LogError::io("lock", &lock_path)(error)),
    }
}

/// Returns the segment base offsets in order, after removing files that interrupted
/// operations leave behind: key-index temp files and key indexes whose segment retention
/// already deleted.
fn list_segments_and_clean_up(dir: &Path) -> Result<Vec<Offset>, LogError> {
    let mut bases = Vec::new();
    let mut key_files = Vec::new();
    let entries = fs::read_dir(dir).map_err(LogError::io("list log directory", dir))?;
    for entry in entries {
        let entry = entry.map_err(LogError::io("list log directory", dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some(base) = parse_base(&name, ".log") {
            bases.push(base);
        } else if let Some(base) = parse_base(&name, ".keys") {
            key_files.push(base);
        } else if parse_base(&name, ".keys.tmp").is_some() {
            let path = entry.path();
            fs::remove_file(&path).map_err(LogError::io("remove stale temp file", &path))?;
        }
    }
    bases.sort_unstable();
    for base in key_files {
        if bases.binary_search(&base).is_err() {
            let path = crate::segment::keys_path(dir, base);
            fs::remove_file(&path).map_err(LogError::io("remove orphaned key index", &path))?;
        }
    }
    Ok(bases)
}

struct RecoveredSegment {
    file: File,
    written: u64,
    records: u64,
    keys: Vec<u8>,
    newest_append_us: Option<i64>,
    sparse_index: Vec<u64>,
    truncated: Option<TruncatedTail>,
}

impl RecoveredSegment {
    /// A segment holding only its header.
    fn empty(file: File, truncated: Option<TruncatedTail>) -> RecoveredSegment {
        RecoveredSegment {
            file,
            written: SEGMENT_HEADER_LEN,
            records: 0,
            keys: Vec::new(),
            newest_append_us: None,
            sparse_index: vec![SEGMENT_HEADER_LEN],
            truncated,
        }
    }
}

/// Scans the last segment frame by frame and cuts it at the first frame that is short,
/// fails its CRC or has an absurd length: that is where the previous process stopped
/// writing (or the machine stopped persisting) mid-frame. Earlier segments need no scan:
/// they were fdatasync'ed before the next segment was created.
fn recover_active_segment(
    segment: &SegmentFile,
    max_body_len: usize,
) -> Result<RecoveredSegment, LogError> {
    let path = &segment.path;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(LogError::io("open segment", path))?;
    let file_len = file
        .metadata()
        .map_err(LogError::io("read metadata of", path))?
        .len();

    let mut header = Vec::with_capacity(SEGMENT_HEADER_LEN as usize);
    (&mut file)
        .take(SEGMENT_HEADER_LEN)
        .read_to_end(&mut header)
        .map_err(LogError::io("read segment header of", path))?;
    if let Err(reason) = check_header(&header, segment.base) {
        // A crash while the segment was being created: nothing in it was ever acknowledged
        // (acknowledging requires an fdatasync of this file, header included).
        let truncated = cut_tail(&mut file, path, 0, file_len, reason)?;
        file.write_all(&encode_header(segment.base))
            .map_err(LogError::io("write segment header to", path))?;
        file.sync_data().map_err(LogError::io("fdatasync", path))?;
        return Ok(RecoveredSegment::empty(file, truncated));
    }

    let reader = file
        .try_clone()
        .map_err(LogError::io("duplicate handle of", path))?;
    let mut cursor = FrameCursor::new(reader, path.clone(), SEGMENT_HEADER_LEN, Vec::new())?;
    let mut records = 0u64;
    let mut keys = Vec::new();
    let mut newest_append_us: Option<i64> = None;
    let mut sparse_index = vec![SEGMENT_HEADER_LEN];
    let stop = loop {
        let (position, frame_start, frame_len) = match cursor.next_frame(file_len, max_body_len)? {
            NextFrame::Frame {
                position,
                frame_start,
                frame_len,
            } => (position, frame_start, frame_len),
            NextFrame::End => break None,
            NextFrame::Invalid { position, reason } => break Some((position, reason.to_string())),
            NextFrame::Oversized { position, body_len } => {
                // A length above the limit is normally a torn length field, but if the frame
                // is complete and its CRC matches, it is real data written with a larger
                // limit: refuse to open rather than throw acknowledged records away.
                if cursor.oversized_frame_is_valid(body_len, file_len)? {
                    return Err(LogError::OversizedRecord {
                        path: path.clone(),
                        position,
                        body_len: body_len as u64,
                        max_body_len: max_body_len as u64,
                    });
                }
                break Some((
                    position,
                    format!("length field {body_len} exceeds the maximum record size"),
                ));
            }
            NextFrame::Unsupported { position, detail } => {
                return Err(LogError::UnsupportedFormat {
                    path: path.clone(),
                    position,
                    detail,
                });
            }
        };
        let body = cursor.frame_body(frame_start, frame_len);
        if records > 0 && records.is_multiple_of(INDEX_INTERVAL) {
            sparse_index.push(position);
        }
        keys::push_entry(&mut keys, body.key, body.append_time_us);
        newest_append_us =
            Some(newest_append_us.map_or(body.append_time_us, |n| n.max(body.append_time_us)));
        records += 1;
    };
    let written = match &stop {
        None => file_len,
        Some((position, _)) => *position,
    };
    drop(cursor);

    let truncated = match stop {
        None => {
            // The previous process may have written records without syncing them (then
            // crashed). They are about to be exposed to readers as durable, so make them so.
            file.sync_data().map_err(LogError::io("fdatasync", path))?;
            None
        }
        Some((position, reason)) => cut_tail(&mut file, path, position, file_len, reason)?,
    };
    file.seek(SeekFrom::Start(written))
        .map_err(LogError::io("seek in", path))?;
    debug_assert_eq!(keys.len() as u64, records * KEY_ENTRY_LEN as u64);
    Ok(RecoveredSegment {
        file,
        written,
        records,
        keys,
        newest_append_us,
        sparse_index,
        truncated,
    })
}

/// Copies `file[position..file_len]` to `<segment>.corrupt-<position>` for forensics, then
/// truncates the segment at `position` and makes that durable.
fn cut_tail(
    file: &mut File,
    path: &Path,
    position: u64,
    file_len: u64,
    reason: String,
) -> Result<Option<TruncatedTail>, LogError> {
    let bytes_dropped = file_len.saturating_sub(position);
    let mut corrupt_copy = None;
    if bytes_dropped > 0 {
        let copy_path = free_corrupt_copy_path(path, position);
        file.seek(SeekFrom::Start(position))
            .map_err(LogError::io("seek in", path))?;
        let mut copy = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&copy_path)
            .map_err(LogError::io("create", &copy_path))?;
        io::copy(&mut (&mut *file).take(bytes_dropped), &mut copy)
            .map_err(LogError::io("copy torn tail to", &copy_path))?;
        copy.sync_data()
            .map_err(LogError::io("fdatasync", &copy_path))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        corrupt_copy = Some(copy_path);
    }
    file.set_len(position)
        .map_err(LogError::io("truncate torn tail of", path))?;
    file.sync_data().map_err(LogError::io("fdatasync", path))?;
    file.seek(SeekFrom::Start(position))
        .map_err(LogError::io("seek in", path))?;
    if bytes_dropped == 0 {
        // A header-only rewrite of an empty file: nothing was lost.
        return Ok(None);
    }
    tracing::warn!(
        path = %path.display(),
        position,
        bytes_dropped,
        %reason,
        copy = ?corrupt_copy,
        "truncated torn or corrupt tail of the event log; records after this position were never acknowledged"
    );
    Ok(Some(TruncatedTail {
        segment: path.to_path_buf(),
        position,
        bytes_dropped,
        reason,
        corrupt_copy,
    }))
}

/// `<segment>.corrupt-<position>`, with a numeric suffix if an earlier recovery already used
/// that name (e.g. two crashes at the same position).
fn free_corrupt_copy_path(path: &Path, position: u64) -> PathBuf {
    let base_name = format!(
        "{}.corrupt-{position}",
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let mut candidate = path.with_file_name(&base_name);
    let mut attempt = 1;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{base_name}.{attempt}"));
        attempt += 1;
    }
    candidate
}

/// Path of the segment starting at `base` (for tests and tools).
pub fn segment_file_path(dir: &Path, base: Offset) -> PathBuf {
    segment_path(dir, base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: &[u8]) -> Record<'_> {
        Record {
            key: 1,
            event_time_us: 2,
            append_time_us: 3,
            payload,
        }
    }

    #[test]
    fn failed_fsync_puts_the_log_in_a_failed_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
        log.append(&record(b"a")).expect("append");
        assert_eq!(log.sync().expect("sync"), 1);

        log.append(&record(b"b")).expect("append");
        log.fail_next_fsync_for_test();
        let error = log.sync().expect_err("injected fsync failure");
        assert!(
            matches!(
                error,
                LogError::Io {
                    action: "fdatasync",
                    ..
                }
            ),
            "{error}"
        );

        // No retry may pretend the data is durable now.
        assert!(matches!(log.sync(), Err(LogError::Failed { .. })));
        assert!(matches!(
            log.append(&record(b"c")),
            Err(LogError::Failed { .. })
        ));
        assert!(matches!(log.flush(), Err(LogError::Failed { .. })));
        assert_eq!(log.durable_end(), 1);
        assert_eq!(log.handle().durable_end(), 1);
        assert!(log.stats().failed);
        drop(log);

        // A restart recovers from disk; the unacknowledged record may or may not be there,
        // the acknowledged one must be.
        let (log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("reopen");
        let mut out = Vec::new();
        log.handle()
            .reader(0)
            .expect("reader")
            .read_batch(10, &mut out)
            .expect("read");
        assert!(!out.is_empty());
        assert_eq!(out[0].payload, b"a");
    }

    #[test]
    fn failed_fsync_during_roll_also_fails_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = LogOptions {
            segment_max_bytes: 1024,
            ..LogOptions::default()
        };
        let (mut log, _) = SegmentLog::open(dir.path(), options).expect("open");
        let payload = [0u8; 300];
        log.append(&record(&payload)).expect("append");
        log.append(&record(&payload)).expect("append");
        log.fail_next_fsync_for_test();
        // The third record does not fit: rolling syncs the old segment first.
        assert!(log.append(&record(&payload)).is_err());
        assert!(matches!(
            log.append(&record(&payload)),
            Err(LogError::Failed { .. })
        ));
        assert_eq!(log.stats().segment_count, 1);
    }

    #[test]
    fn options_are_validated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = LogOptions {
            segment_max_bytes: 10,
            ..LogOptions::default()
        };
        assert!(matches!(
            SegmentLog::open(dir.path(), options),
            Err(LogError::InvalidOptions { .. })
        ));
    }
}
