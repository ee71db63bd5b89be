//! Sequential reader over the durable part of the log.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use crate::error::LogError;
use crate::fsio::lock;
use crate::handle::{DurableSnapshot, Shared};
use crate::record::{Offset, StoredRecord};
use crate::segment::{FrameCursor, SEGMENT_HEADER_LEN, SegmentFile, check_header};

/// Records read in one go, their payloads in one shared buffer.
#[derive(Debug, Default)]
pub struct RecordBatch {
    bytes: Vec<u8>,
    records: Vec<BatchRecord>,
}

/// One record of a [`RecordBatch`]; its payload is `RecordBatch::payload`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRecord {
    pub offset: Offset,
    pub key: u128,
    pub event_time_us: i64,
    pub append_time_us: i64,
    start: usize,
    end: usize,
}

impl RecordBatch {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn records(&self) -> &[BatchRecord] {
        &self.records
    }

    /// The payload of a record of this batch (empty for a record of another batch).
    pub fn payload(&self, record: &BatchRecord) -> &[u8] {
        self.bytes.get(record.start..record.end).unwrap_or_default()
    }

    /// Takes the buffer that holds every payload, leaving the batch's records (and their
    /// `range`s into it); `payload` answers empty until `restore_bytes`.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }

    /// Gives back a buffer taken with `take_bytes` (or any buffer to reuse).
    pub fn restore_bytes(&mut self, bytes: Vec<u8>) {
        self.bytes = bytes;
    }
}

impl BatchRecord {
    /// Where the payload sits in the batch's buffer.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// Reads records in offset order from a position, crossing segment boundaries.
///
/// It never returns data beyond the durable end, so everything it returns survives a crash;
/// every frame's CRC is verified, and a mismatch in durable data is an error, never skipped.
/// Once a segment file is open the reader keeps reading it even if retention deletes it
/// (Unix keeps unlinked open files readable); moving on to a segment that is already gone
/// yields `LogError::OffsetTruncated`.
#[derive(Debug)]
pub struct LogReader {
    shared: Arc<Shared>,
    position: Offset,
    open: Option<OpenSegment>,
    /// The read buffer, kept across segments so switching files does not reallocate 1 MiB.
    spare_buffer: Vec<u8>,
}

#[derive(Debug)]
struct OpenSegment {
    segment: Arc<SegmentFile>,
    cursor: FrameCursor,
}

impl LogReader {
    pub(crate) fn new(shared: Arc<Shared>, from: Offset) -> Result<LogReader, LogError> {
        {
            let state = lock(&shared.state);
            let first = state.first_offset();
            if from < first {
                return Err(LogError::OffsetTruncated {
                    requested: from,
                    first,
                });
            }
            if from > state.durable_end {
                return Err(LogError::OffsetBeyondEnd {
                    requested: from,
                    durable_end: state.durable_end,
                });
            }
        }
        Ok(LogReader {
            shared,
            position: from,
            open: None,
            spare_buffer: Vec::new(),
        })
    }

    /// Offset of the next record `read_batch` returns.
    pub fn position(&self) -> Offset {
        self.position
    }

    /// Appends up to `max_records` records to `out` and returns how many. Returns 0 at the
    /// durable end; call again later, more data may have become durable.
    ///
    /// If an error stops the batch after some records were read, those records are returned
    /// and the error is reported by the next call (the reader does not advance past it).
    pub fn read_batch(
        &mut self,
        max_records: usize,
        out: &mut Vec<StoredRecord>,
    ) -> Result<usize, LogError> {
        let mut count = 0;
        let read = self.read_with(max_records, &mut count, |offset, body| {
            out.push(body.to_stored(offset));
        });
        match read {
            Ok(()) => Ok(count),
            Err(_) if count > 0 => Ok(count),
            Err(error) => Err(error),
        }
    }

    /// As `read_batch`, into `batch` (cleared first): the payloads share one buffer, so a
    /// batch costs no allocation per record once the buffers have grown.
    pub fn read_into_batch(
        &mut self,
        max_records: usize,
        batch: &mut RecordBatch,
    ) -> Result<usize, LogError> {
        batch.clear();
        let mut count = 0;
        let read = self.read_with(max_records, &mut count, |offset, body| {
            let start = batch.bytes.len();
            batch.bytes.extend_from_slice(body.payload);
            batch.records.push(BatchRecord {
                offset,
                key: body.key,
                event_time_us: body.event_time_us,
                append_time_us: body.append_time_us,
                start,
                end: batch.bytes.len(),
            });
        });
        match read {
            Ok(()) => Ok(count),
            Err(_) if count > 0 => Ok(count),
            Err(error) => Err(error),
        }
    }

    fn read_with(
        &mut self,
        max_records: usize,
        count: &mut usize,
        mut sink: impl FnMut(Offset, crate::record::DecodedBody<'_>),
    ) -> Result<(), LogError> {
        let snapshot = self.shared.snapshot();
        let max_body_len = self.shared.max_body_len;
        while *count < max_records && self.position < snapshot.durable_end {
            if self.open.is_none() {
                let opened = self.open_segment(&snapshot)?;
                self.open = Some(opened);
            }
            let open = self.open.as_mut().expect("a segment was opened just above");
            let (segment_end, byte_limit) = Shared::read_limits(&open.segment, &snapshot);
            if self.position >= segment_end {
                // Only a sealed segment can end below the durable end: move to the next one.
                self.close_segment();
                continue;
            }
            let body = open
                .cursor
                .next_durable_frame(byte_limit, max_body_len, self.position)?;
            sink(self.position, body);
            self.position += 1;
            *count += 1;
        }
        Ok(())
    }

    fn close_segment(&mut self) {
        if let Some(open) = self.open.take() {
            let (_file, buffer) = open.cursor.into_parts();
            self.spare_buffer = buffer;
        }
    }

    /// Opens the segment containing `self.position` and positions a cursor on it, using the
    /// sparse index and extending it while skipping.
    fn open_segment(&mut self, snapshot: &DurableSnapshot) -> Result<OpenSegment, LogError> {
        let (segment, mut file) = {
            let state = lock(&self.shared.state);
            let first = state.first_offset();
            let Some(segment) = state
                .segment_containing(self.position)
                .filter(|_| self.position >= first)
            else {
                return Err(LogError::OffsetTruncated {
                    requested: self.position,
                    first,
                });
            };
            // Opened under the lock: retention removes a segment from the state before it
            // unlinks the file, so a segment found here still exists on disk.
            let file =
                File::open(&segment.path).map_err(LogError::io("open segment", &segment.path))?;
            (Arc::clone(segment), file)
        };

        let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
        match file.read_exact(&mut header) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(LogError::corrupt(
                    &segment.path,
                    0,
                    "segment is shorter than its header",
                ));
            }
            Err(error) => return Err(LogError::io("read segment header of", &segment.path)(error)),
        }
        check_header(&header, segment.base)
            .map_err(|reason| LogError::corrupt(&segment.path, 0, reason))?;

        let (_, byte_limit) = Shared::read_limits(&segment, snapshot);
        let max_body_len = self.shared.max_body_len;
        let (mut offset, position) = segment.index_lookup(self.position);
        let buffer = std::mem::take(&mut self.spare_buffer);
        let mut cursor = FrameCursor::new(file, segment.path.clone(), position, buffer)?;
        while offset < self.position {
            if !cursor.skip_frame(byte_limit, max_body_len)? {
                return Err(LogError::corrupt(
                    &segment.path,
                    cursor.position(),
                    format!(
                        "cannot seek to record {}: the frame of record {offset} is truncated or \
                         has an invalid length",
                        self.position
                    ),
                ));
            }
            offset += 1;
            segment.index_learn(offset, cursor.position());
        }
        Ok(OpenSegment { segment, cursor })
    }
}
