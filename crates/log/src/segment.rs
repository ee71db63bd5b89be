//! Segment files: naming, header, shared per-segment metadata and the buffered frame cursor
//! used by recovery, readers and key-index rebuilds.
//!
//! A segment is `<dir>/<base offset, 20 digits>.log`: a 16-byte header (8-byte magic, u64 LE
//! base offset) followed by frames. Only the newest segment is ever written; older ones are
//! sealed (fdatasync'ed before the next segment was created) and immutable until retention
//! deletes them.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, OnceLock};

use crate::error::LogError;
use crate::fsio::lock;
use crate::record::{
    BODY_HEADER_LEN, DecodedBody, FRAME_PREFIX_LEN, FrameDecode, Offset, decode_frame,
    parse_prefix, parse_verified_frame,
};

pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"SLLOG\0\x01\0";
pub(crate) const SEGMENT_HEADER_LEN: u64 = 16;
/// One sparse-index entry per this many records: ~1 MiB of 250-byte records, so a seek
/// scans at most one read-buffer worth of frames.
pub(crate) const INDEX_INTERVAL: u64 = 4096;
/// Read buffer of readers and scans: large enough that sequential reading costs one read
/// syscall per thousands of records.
pub(crate) const READ_BUFFER_BYTES: usize = 1024 * 1024;

pub(crate) fn segment_path(dir: &Path, base: Offset) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

pub(crate) fn keys_path(dir: &Path, base: Offset) -> PathBuf {
    dir.join(format!("{base:020}.keys"))
}

/// Parses `<20 digits><suffix>` into the base offset.
pub(crate) fn parse_base(file_name: &str, suffix: &str) -> Option<Offset> {
    let digits = file_name.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn encode_header(base: Offset) -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    header[..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..].copy_from_slice(&base.to_le_bytes());
    header
}

/// Checks a segment header; the error says what is wrong with it.
pub(crate) fn check_header(header: &[u8], base: Offset) -> Result<(), String> {
    if header.len() < SEGMENT_HEADER_LEN as usize {
        return Err(format!(
            "segment header is {} bytes, expected {SEGMENT_HEADER_LEN}",
            header.len()
        ));
    }
    if header[..8] != SEGMENT_MAGIC {
        return Err("segment magic is missing".to_string());
    }
    let stored_base = u64::from_le_bytes(header[8..16].try_into().expect("8-byte slice"));
    if stored_base != base {
        return Err(format!(
            "segment header names base offset {stored_base}, the file name says {base}"
        ));
    }
    Ok(())
}

/// Creates a new, empty segment with its header and fdatasyncs it. The caller fsyncs the
/// directory.
pub(crate) fn create_segment_file(dir: &Path, base: Offset) -> Result<File, LogError> {
    let path = segment_path(dir, base);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(LogError::io("create segment", &path))?;
    file.write_all(&encode_header(base))
        .map_err(LogError::io("write segment header to", &path))?;
    file.sync_data().map_err(LogError::io("fdatasync", &path))?;
    Ok(file)
}

/// Size and end of a segment that will not be written any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SealedInfo {
    /// Offset of the first record after this segment (= base of the next segment).
    pub(crate) end: Offset,
    pub(crate) size_bytes: u64,
}

/// Per-segment metadata shared between the writer, readers and retention.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    pub(crate) base: Offset,
    pub(crate) path: PathBuf,
    pub(crate) keys_path: PathBuf,
    /// Set once, by the writer when it rolls (under the log state lock) or at open for
    /// segments that are not the newest.
    pub(crate) sealed: OnceLock<SealedInfo>,
    /// Newest append time of a sealed segment (`None` inside = segment has no records).
    /// Learned when sealing, or lazily from the key index.
    pub(crate) newest_append_us: OnceLock<Option<i64>>,
    /// `sparse_index[k]` = file position of record `base + k * INDEX_INTERVAL`. Always a
    /// prefix: the writer fills it while appending, readers extend it while scanning
    /// segments that were opened from disk.
    pub(crate) sparse_index: Mutex<Vec<u64>>,
    /// Serializes key-index rebuilds with each other and with retention deleting the
    /// segment, so a rebuild can't recreate the `.keys` file of a deleted segment.
    pub(crate) keys_lock: Mutex<()>,
    /// Set by retention under `keys_lock` before it deletes the files.
    pub(crate) deleted: AtomicBool,
}

impl SegmentFile {
    pub(crate) fn new(dir: &Path, base: Offset) -> SegmentFile {
        SegmentFile {
            base,
            path: segment_path(dir, base),
            keys_path: keys_path(dir, base),
            sealed: OnceLock::new(),
            newest_append_us: OnceLock::new(),
            sparse_index: Mutex::new(vec![SEGMENT_HEADER_LEN]),
            keys_lock: Mutex::new(()),
            deleted: AtomicBool::new(false),
        }
    }

    /// Closest known (offset, file position) at or before `offset`.
    pub(crate) fn index_lookup(&self, offset: Offset) -> (Offset, u64) {
        let index = lock(&self.sparse_index);
        let slot = ((offset - self.base) / INDEX_INTERVAL) as usize;
        let slot = slot.min(index.len() - 1);
        (self.base + slot as u64 * INDEX_INTERVAL, index[slot])
    }

    /// Adds an entry learned by scanning, if it is the next one missing.
    pub(crate) fn index_learn(&self, offset: Offset, position: u64) {
        let relative = offset - self.base;
        if !relative.is_multiple_of(INDEX_INTERVAL) {
            return;
        }
        let mut index = lock(&self.sparse_index);
        if index.len() as u64 == relative / INDEX_INTERVAL {
            index.push(position);
        }
    }
}

/// What the cursor found at its position.
#[derive(Debug)]
pub(crate) enum NextFrame {
    /// A verified frame, already consumed; `FrameCursor::frame_body` gives its fields until
    /// the cursor is used again.
    Frame {
        position: u64,
        frame_start: usize,
        frame_len: usize,
    },
    /// The cursor is exactly at the limit.
    End,
    /// A short, torn or corrupt frame starts at `position`. Nothing was consumed.
    Invalid { position: u64, reason: &'static str },
    /// The length field exceeds the maximum; nothing was consumed.
    Oversized { position: u64, body_len: usize },
    /// A frame with a valid CRC in a format this build does not know.
    Unsupported { position: u64, detail: String },
}

/// Buffered sequential frame reader over one segment file.
///
/// Unlike `BufReader` it never reads past a caller-given byte limit. That matters for the
/// active segment: bytes past the durable end may be a write in progress, and a buffer that
/// had cached half of it would later be parsed as if it were complete.
#[derive(Debug)]
pub(crate) struct FrameCursor {
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File position of `buf[end]`.
    file_pos: u64,
}

impl FrameCursor {
    /// `buffer` is reused storage (its contents are ignored); it grows if a frame is larger.
    pub(crate) fn new(
        mut file: File,
        path: PathBuf,
        position: u64,
        mut buffer: Vec<u8>,
    ) -> Result<FrameCursor, LogError> {
        file.seek(SeekFrom::Start(position))
            .map_err(LogError::io("seek in", &path))?;
        if buffer.len() < READ_BUFFER_BYTES {
            buffer.resize(READ_BUFFER_BYTES, 0);
        }
        Ok(FrameCursor {
            file,
            path,
            buf: buffer,
            start: 0,
            end: 0,
            file_pos: position,
        })
    }

    pub(crate) fn into_parts(self) -> (File, Vec<u8>) {
        (self.file, self.buf)
    }

    /// File position of the next unconsumed byte.
    pub(crate) fn position(&self) -> u64 {
        self.file_pos - (self.end - self.start) as u64
    }

    pub(crate) fn seek_to(&mut self, position: u64) -> Result<(), LogError> {
        self.file
            .seek(SeekFrom::Start(position))
            .map_err(LogError::io("seek in", &self.path))?;
        self.start = 0;
        self.end = 0;
        self.file_pos = position;
        Ok(())
    }

    /// Makes at least `need` bytes available in the buffer without reading at or beyond
    /// `limit`. Returns false if the file (or limit) ends first.
    fn fill(&mut self, need: usize, limit: u64) -> Result<bool, LogError> {
        if self.end - self.start >= need {
            return Ok(true);
        }
        if self.position() + need as u64 > limit {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        while self.end < need {
            let room = self.buf.len() - self.end;
            let allowed = (limit - self.file_pos).min(room as u64) as usize;
            let read = match self.file.read(&mut self.buf[self.end..self.end + allowed]) {
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(LogError::io("read", &self.path)(error)),
            };
            if read == 0 {
                return Ok(false);
            }
            self.end += read;
            self.file_pos += read as u64;
        }
        Ok(true)
    }

    /// Reads, verifies and consumes the next frame if it is valid.
    pub(crate) fn next_frame(
        &mut self,
        limit: u64,
        max_body_len: usize,
    ) -> Result<NextFrame, LogError> {
        let position = self.position();
        if position >= limit {
            return Ok(NextFrame::End);
        }
        if !self.fill(FRAME_PREFIX_LEN, limit)? {
            return Ok(NextFrame::Invalid {
                position,
                reason: "incomplete frame header",
            });
        }
        let (body_len, _) = parse_prefix(&self.buf[self.start..self.end]);
        if body_len <= max_body_len && !self.fill(FRAME_PREFIX_LEN + body_len, limit)? {
            return Ok(NextFrame::Invalid {
                position,
                reason: "frame extends past the end of the data",
            });
        }
        let (start, end) = (self.start, self.end);
        match decode_frame(&self.buf[start..end], max_body_len) {
            FrameDecode::Complete { frame_len, .. } => {
                self.start += frame_len;
                Ok(NextFrame::Frame {
                    position,
                    frame_start: start,
                    frame_len,
                })
            }
            FrameDecode::Incomplete => Ok(NextFrame::Invalid {
                position,
                reason: "frame extends past the end of the data",
            }),
            FrameDecode::Invalid(reason) => Ok(NextFrame::Invalid { position, reason }),
            FrameDecode::Oversized { body_len } => Ok(NextFrame::Oversized { position, body_len }),
            FrameDecode::Unsupported(detail) => Ok(NextFrame::Unsupported { position, detail }),
        }
    }

    /// Fields of the frame last returned by `next_frame`.
    pub(crate) fn frame_body(&self, frame_start: usize, frame_len: usize) -> DecodedBody<'_> {
        parse_verified_frame(&self.buf[frame_start..frame_start + frame_len])
    }

    /// Reads the next frame of data the log says is durable: anything but a valid frame is
    /// corruption (or a newer format), reported with the file and position.
    pub(crate) fn next_durable_frame(
        &mut self,
        limit: u64,
        max_body_len: usize,
        offset: Offset,
    ) -> Result<DecodedBody<'_>, LogError> {
        match self.next_frame(limit, max_body_len)? {
            NextFrame::Frame {
                frame_start,
                frame_len,
                ..
            } => Ok(self.frame_body(frame_start, frame_len)),
            NextFrame::End => Err(LogError::corrupt(
                &self.path,
                self.position(),
                format!("data ends before record {offset}, which the log says is durable"),
            )),
            NextFrame::Invalid { position, reason } => Err(LogError::corrupt(
                &self.path,
                position,
                format!("{reason} (record {offset})"),
            )),
            NextFrame::Oversized { position, body_len } => Err(LogError::corrupt(
                &self.path,
                position,
                format!(
                    "length field {body_len} of record {offset} exceeds the maximum record \
                     size; if records this large were written, raise max_record_bytes"
                ),
            )),
            NextFrame::Unsupported { position, detail } => Err(LogError::UnsupportedFormat {
                path: self.path.clone(),
                position,
                detail,
            }),
        }
    }

    /// Skips the next frame without verifying its CRC (used to seek within durable data,
    /// where the frames are re-verified when actually read). Returns false if no whole frame
    /// fits before `limit`.
    pub(crate) fn skip_frame(&mut self, limit: u64, max_body_len: usize) -> Result<bool, LogError> {
        if !self.fill(FRAME_PREFIX_LEN, limit)? {
            return Ok(false);
        }
        let (body_len, _) = parse_prefix(&self.buf[self.start..self.end]);
        if !(BODY_HEADER_LEN..=max_body_len).contains(&body_len) {
            return Ok(false);
        }
        let frame_len = (FRAME_PREFIX_LEN + body_len) as u64;
        let position = self.position();
        if position + frame_len > limit {
            return Ok(false);
        }
        let buffered = (self.end - self.start) as u64;
        if buffered >= frame_len {
            self.start += frame_len as usize;
            return Ok(true);
        }
        self.seek_to(position + frame_len)?;
        Ok(true)
    }

    /// Computes whether the (oversized) frame at the cursor has a valid CRC, streaming the
    /// body through the buffer instead of allocating it. Consumes the frame.
    pub(crate) fn oversized_frame_is_valid(
        &mut self,
        body_len: usize,
        limit: u64,
    ) -> Result<bool, LogError> {
        if !self.fill(FRAME_PREFIX_LEN, limit)? {
            return Ok(false);
        }
        let (_, expected_crc) = parse_prefix(&self.buf[self.start..self.end]);
        self.start += FRAME_PREFIX_LEN;
        let mut crc = 0u32;
        let mut remaining = body_len;
        while remaining > 0 {
            if self.end == self.start && !self.fill(1, limit)? {
                return Ok(false);
            }
            let take = remaining.min(self.end - self.start);
            crc = crc32c::crc32c_append(crc, &self.buf[self.start..self.start + take]);
            self.start += take;
            remaining -= take;
        }
        Ok(crc == expected_crc)
    }
}
