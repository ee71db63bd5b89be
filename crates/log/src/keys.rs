//! Key index files (`<base>.keys`) and the key scan the dedup layer rebuilds its state from.
//!
//! When a segment is sealed the writer stores, for each record, its identity key and append
//! time, so that after a restart dedup state can be rebuilt by reading 24 bytes per record
//! instead of whole events. The file is derived data: if it is missing or fails its CRC it is
//! rebuilt from the segment, which stays the source of truth.
//!
//! ```text
//! header:  8-byte magic | u64 LE base offset | u64 LE record count | i64 LE newest append time
//! entries: count x (u128 LE key | i64 LE append_time_us)
//! trailer: u32 LE crc32c of header + entries
//! ```

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::Ordering;

use crate::error::LogError;
use crate::fsio::{lock, write_file_atomically};
use crate::handle::Shared;
use crate::record::Offset;
use crate::segment::{FrameCursor, SEGMENT_HEADER_LEN, SealedInfo, SegmentFile, check_header};

const KEYS_MAGIC: [u8; 8] = *b"SLKEYS\x01\0";
const KEYS_HEADER_LEN: usize = 32;
pub(crate) const KEY_ENTRY_LEN: usize = 24;
const TRAILER_LEN: usize = 4;
/// Stored as newest append time when the segment has no records.
const NO_RECORDS: i64 = i64::MIN;

/// Appends one entry in file format (the writer accumulates the active segment's entries
/// this way, so sealing writes them out without conversion).
pub(crate) fn push_entry(entries: &mut Vec<u8>, key: u128, append_time_us: i64) {
    entries.extend_from_slice(&key.to_le_bytes());
    entries.extend_from_slice(&append_time_us.to_le_bytes());
}

fn encode_keys_file(base: Offset, entries: &[u8], newest: Option<i64>) -> Vec<u8> {
    let count = (entries.len() / KEY_ENTRY_LEN) as u64;
    let mut bytes = Vec::with_capacity(KEYS_HEADER_LEN + entries.len() + TRAILER_LEN);
    bytes.extend_from_slice(&KEYS_MAGIC);
    bytes.extend_from_slice(&base.to_le_bytes());
    bytes.extend_from_slice(&count.to_le_bytes());
    bytes.extend_from_slice(&newest.unwrap_or(NO_RECORDS).to_le_bytes());
    bytes.extend_from_slice(entries);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// A loaded key index: the verified file bytes.
#[derive(Debug)]
pub(crate) struct KeyIndex {
    bytes: Vec<u8>,
    pub(crate) newest: Option<i64>,
}

impl KeyIndex {
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u128, i64)> + '_ {
        let entries = &self.bytes[KEYS_HEADER_LEN..self.bytes.len() - TRAILER_LEN];
        entries.chunks_exact(KEY_ENTRY_LEN).map(|entry| {
            let key = u128::from_le_bytes(entry[..16].try_into().expect("16-byte slice"));
            let append = i64::from_le_bytes(entry[16..].try_into().expect("8-byte slice"));
            (key, append)
        })
    }
}

fn decode_keys_file(bytes: Vec<u8>, base: Offset, expected_count: u64) -> Result<KeyIndex, String> {
    if bytes.len() < KEYS_HEADER_LEN + TRAILER_LEN {
        return Err(format!("file is only {} bytes long", bytes.len()));
    }
    let body_len = bytes.len() - TRAILER_LEN;
    let stored_crc = u32::from_le_bytes(bytes[body_len..].try_into().expect("4-byte slice"));
    if crc32c::crc32c(&bytes[..body_len]) != stored_crc {
        return Err("crc mismatch".to_string());
    }
    if bytes[..8] != KEYS_MAGIC {
        return Err("magic is missing".to_string());
    }
    let stored_base = u64::from_le_bytes(bytes[8..16].try_into().expect("8-byte slice"));
    let count = u64::from_le_bytes(bytes[16..24].try_into().expect("8-byte slice"));
    let newest = i64::from_le_bytes(bytes[24..32].try_into().expect("8-byte slice"));
    if stored_base != base {
        return Err(format!(
            "file names base offset {stored_base}, expected {base}"
        ));
    }
    if count != expected_count {
        return Err(format!(
            "file lists {count} records, the segment holds {expected_count}"
        ));
    }
    if (body_len - KEYS_HEADER_LEN) as u64 != count * KEY_ENTRY_LEN as u64 {
        return Err("file length does not match its record count".to_string());
    }
    let newest = if count == 0 { None } else { Some(newest) };
    Ok(KeyIndex { bytes, newest })
}

/// Writes `<base>.keys` atomically. The caller holds `segment.keys_lock`.
pub(crate) fn write_keys_file(
    dir: &Path,
    segment: &SegmentFile,
    entries: &[u8],
    newest: Option<i64>,
) -> Result<(), LogError> {
    let bytes = encode_keys_file(segment.base, entries, newest);
    let temp_path = segment.keys_path.with_extension("keys.tmp");
    write_file_atomically(dir, &segment.keys_path, &temp_path, &bytes)
}

/// Loads the key index of a sealed segment, rebuilding it from the segment if the file is
/// missing or invalid. `None` if retention deleted the segment meanwhile.
pub(crate) fn load_sealed(
    shared: &Shared,
    segment: &SegmentFile,
    sealed: SealedInfo,
) -> Result<Option<KeyIndex>, LogError> {
    let _guard = lock(&segment.keys_lock);
    if segment.deleted.load(Ordering::Acquire) {
        return Ok(None);
    }
    let expected_count = sealed.end - segment.base;
    match fs::read(&segment.keys_path) {
        Ok(bytes) => match decode_keys_file(bytes, segment.base, expected_count) {
            Ok(index) => {
                let _ = segment.newest_append_us.set(index.newest);
                return Ok(Some(index));
            }
            Err(reason) => tracing::warn!(
                path = %segment.keys_path.display(),
                %reason,
                "key index file is invalid; rebuilding it from its segment"
            ),
        },
        Err(error) if error.kind() == io::ErrorKind::NotFound => tracing::warn!(
            path = %segment.keys_path.display(),
            "key index file is missing; rebuilding it from its segment"
        ),
        Err(error) => return Err(LogError::io("read key index", &segment.keys_path)(error)),
    }

    let (entries, newest) =
        scan_segment_keys(shared, segment, sealed.end, sealed.size_bytes, true)?;
    let bytes = encode_keys_file(segment.base, &entries, newest);
    let temp_path = segment.keys_path.with_extension("keys.tmp");
    // The rebuilt index is correct whether or not it can be stored; failing to store it
    // only means the next scan rebuilds it again.
    if let Err(error) = write_file_atomically(&shared.dir, &segment.keys_path, &temp_path, &bytes) {
        tracing::warn!(path = %segment.keys_path.display(), %error, "could not store rebuilt key index");
    }
    let _ = segment.newest_append_us.set(newest);
    Ok(Some(KeyIndex { bytes, newest }))
}

/// Newest append time of a sealed segment (`None` = no records), loading its key index if
/// not known yet. Outer `None`: the segment was deleted meanwhile.
pub(crate) fn newest_append_of_sealed(
    shared: &Shared,
    segment: &SegmentFile,
    sealed: SealedInfo,
) -> Result<Option<Option<i64>>, LogError> {
    if let Some(newest) = segment.newest_append_us.get() {
        return Ok(Some(*newest));
    }
    Ok(load_sealed(shared, segment, sealed)?.map(|index| index.newest))
}

fn open_segment_checked(segment: &SegmentFile) -> Result<File, LogError> {
    let mut file =
        File::open(&segment.path).map_err(LogError::io("open segment", &segment.path))?;
    let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
    file.read_exact(&mut header)
        .map_err(LogError::io("read segment header of", &segment.path))?;
    check_header(&header, segment.base)
        .map_err(|reason| LogError::corrupt(&segment.path, 0, reason))?;
    Ok(file)
}

/// Reads (key, append time) of records `base..end` from the segment file, verifying every
/// frame. With `whole_segment` it also checks that nothing follows `end` (a sealed segment
/// must end exactly where the next one starts, or offsets would be ambiguous).
fn scan_segment_keys(
    shared: &Shared,
    segment: &SegmentFile,
    end: Offset,
    byte_limit: u64,
    whole_segment: bool,
) -> Result<(Vec<u8>, Option<i64>), LogError> {
    let file = open_segment_checked(segment)?;
    let mut cursor = FrameCursor::new(file, segment.path.clone(), SEGMENT_HEADER_LEN, Vec::new())?;
    let mut entries = Vec::with_capacity((end - segment.base) as usize * KEY_ENTRY_LEN);
    let mut newest: Option<i64> = None;
    for offset in segment.base..end {
        let body = cursor.next_durable_frame(byte_limit, shared.max_body_len, offset)?;
        push_entry(&mut entries, body.key, body.append_time_us);
        newest = Some(newest.map_or(body.append_time_us, |n| n.max(body.append_time_us)));
    }
    if whole_segment && cursor.position() != byte_limit {
        return Err(LogError::corrupt(
            &segment.path,
            cursor.position(),
            format!(
                "sealed segment has data after record {}, where the next segment starts",
                end.saturating_sub(1)
            ),
        ));
    }
    Ok((entries, newest))
}

/// An upper bound on the records `scan_keys(since_append_us)` calls back for, from the
/// segments' offsets alone (no key file is read): whole segments, the one that straddles
/// `since` included, and sealed ones whose newest append time is not known yet.
pub(crate) fn records_since_at_most(shared: &Shared, since_append_us: i64) -> u64 {
    let state = lock(&shared.state);
    let snapshot = state.snapshot();
    state
        .segments
        .iter()
        .map(|segment| match segment.sealed.get() {
            Some(sealed) => {
                let older = segment
                    .newest_append_us
                    .get()
                    .is_some_and(|newest| newest.is_none_or(|newest| newest < since_append_us));
                if older {
                    0
                } else {
                    sealed.end.saturating_sub(segment.base)
                }
            }
            None => snapshot.durable_end.saturating_sub(segment.base),
        })
        .sum()
}

pub(crate) fn scan_keys(
    shared: &Shared,
    since_append_us: i64,
    f: &mut dyn FnMut(u128, i64),
) -> Result<(), LogError> {
    let (segments, snapshot) = {
        let state = lock(&shared.state);
        (state.segments.clone(), state.snapshot())
    };
    for segment in segments {
        if let Some(sealed) = segment.sealed.get().copied() {
            if let Some(newest) = segment.newest_append_us.get()
                && newest.is_none_or(|newest| newest < since_append_us)
            {
                continue;
            }
            let Some(index) = load_sealed(shared, &segment, sealed)? else {
                continue;
            };
            if index.newest.is_none_or(|newest| newest < since_append_us) {
                continue;
            }
            for (key, append_time_us) in index.entries() {
                if append_time_us >= since_append_us {
                    f(key, append_time_us);
                }
            }
            continue;
        }

        // The active segment when the snapshot was taken: scan its durable part. The entries
        // are few enough (one segment) to collect before calling back.
        let (entries, _) = scan_segment_keys(
            shared,
            &segment,
            snapshot.durable_end,
            snapshot.active_durable_bytes,
            false,
        )?;
        for entry in entries.chunks_exact(KEY_ENTRY_LEN) {
            let key = u128::from_le_bytes(entry[..16].try_into().expect("16-byte slice"));
            let append_time_us = i64::from_le_bytes(entry[16..].try_into().expect("8-byte slice"));
            if append_time_us >= since_append_us {
                f(key, append_time_us);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_file_roundtrip_and_crc_check() {
        let mut entries = Vec::new();
        push_entry(&mut entries, 7, 100);
        push_entry(&mut entries, u128::MAX, -3);
        let bytes = encode_keys_file(42, &entries, Some(100));
        let index = decode_keys_file(bytes.clone(), 42, 2).expect("valid file");
        assert_eq!(index.newest, Some(100));
        assert_eq!(
            index.entries().collect::<Vec<_>>(),
            vec![(7, 100), (u128::MAX, -3)]
        );

        assert!(
            decode_keys_file(bytes.clone(), 43, 2).is_err(),
            "wrong base"
        );
        assert!(
            decode_keys_file(bytes.clone(), 42, 3).is_err(),
            "wrong count"
        );
        for position in 0..bytes.len() {
            let mut corrupted = bytes.clone();
            corrupted[position] ^= 0x10;
            assert!(
                decode_keys_file(corrupted, 42, 2).is_err(),
                "flip at {position} not detected"
            );
        }
        assert!(decode_keys_file(bytes[..bytes.len() - 1].to_vec(), 42, 2).is_err());
    }

    #[test]
    fn empty_keys_file_has_no_newest_time() {
        let bytes = encode_keys_file(5, &[], None);
        let index = decode_keys_file(bytes, 5, 0).expect("valid file");
        assert_eq!(index.newest, None);
        assert_eq!(index.entries().count(), 0);
    }
}
