//! The alert journal: an append-only file of records, replayed at open.
//!
//! ```text
//! u32 LE  payload length
//! u32 LE  crc32c of the payload
//! payload: one JournalRecord as JSON (readable with a hex dump when it matters most)
//! ```
//!
//! ## Durability contract
//!
//! - Records are buffered by [`Store::append`] and written and fdatasync'ed by
//!   [`Store::sync`]. Only a record whose sync returned is durable; the alerter returns a
//!   notification, or answers an acknowledgement, only after that sync.
//! - A crash (SIGKILL, power loss) can leave any prefix of the unsynced bytes: on open, the
//!   file is read up to the first frame that is incomplete or fails its checksum, the rest
//!   is copied to `<journal>.corrupt-<offset>` for inspection and cut off, so later appends
//!   follow valid records. Nothing before the last completed sync can be lost, because
//!   frames are only ever appended after it.
//! - A failed write or fdatasync puts the store in a failed state: every later write fails
//!   until the process restarts and recovers from disk. An fsync is never retried and
//!   reported as success (the page cache may hold bytes the disk does not).
//! - The in-memory backend ([`Store::in_memory`]) encodes exactly the same bytes, so the
//!   crash tests cut its bytes where a kill could have cut the file.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::delivery::DeliveryRecord;
use crate::error::AlertsError;
use crate::lifecycle::{Lifecycle, Transition};
use crate::notify::Notification;
use crate::silence::Silence;

/// Bigger frames are corruption, not records (a notification of a thousand alerts is a
/// few hundred kilobytes).
const MAX_RECORD_BYTES: usize = 64 << 20;
const FRAME_PREFIX_LEN: usize = 8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum JournalRecord {
    Transition(Transition),
    /// A silence created or changed (expiring one sets its end).
    Silence(Silence),
    /// An expired silence forgotten.
    SilenceForgotten {
        id: String,
    },
    /// A notification queued in the outbox.
    Queued(Notification),
    /// A queued notification delivered (or given up by the delivery layer).
    Sent {
        notification_id: u64,
        at_us: i64,
    },
    /// What became of a notification at its receiver (kept in the alert's history; a
    /// final outcome is followed by `Sent`).
    Delivery(DeliveryRecord),
    /// Compaction: the counters, so numbers are never reused.
    Counters {
        next_seq: u64,
        next_notification_id: u64,
    },
    /// Compaction: an alert as it stood (replaces what earlier records said of it).
    AlertSnapshot(AlertSnapshot),
    /// Compaction: what a group's receiver has been told (replaces earlier knowledge).
    GroupSnapshot(GroupSnapshot),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSnapshot {
    pub alert_id: String,
    pub rule: String,
    pub group: Vec<(String, String)>,
    pub lifecycle: Lifecycle,
    /// Escalation steps taken: (incident, lapse count, step).
    pub escalation: (u64, u32, u32),
    /// The last (incident, lapse count) whose lapse was announced.
    pub lapse_notified: (u64, u32),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSnapshot {
    pub key: String,
    pub receiver: String,
    pub labels: crate::matcher::Labels,
    /// (alert id, incident) told firing.
    pub told_firing: Vec<(String, u64)>,
    pub last_notified_at: Option<i64>,
}

#[derive(Debug)]
enum Backend {
    File { file: File, path: PathBuf },
    Memory { bytes: Vec<u8> },
}

#[derive(Debug)]
pub struct Store {
    backend: Backend,
    /// Encoded frames not yet written.
    pending: Vec<u8>,
    durable_len: u64,
    failed: bool,
}

/// The records of a journal and how many bytes of it are valid.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub records: Vec<JournalRecord>,
    pub valid_len: usize,
}

/// Reads frames from the start of `bytes` up to the first incomplete or invalid one.
pub fn decode(bytes: &[u8]) -> Decoded {
    let mut records = Vec::new();
    let mut position = 0;
    while bytes.len() - position >= FRAME_PREFIX_LEN {
        let length = u32::from_le_bytes(read4(&bytes[position..]));
        let crc = u32::from_le_bytes(read4(&bytes[position + 4..]));
        let Ok(length) = usize::try_from(length) else {
            break;
        };
        if length > MAX_RECORD_BYTES || bytes.len() - position - FRAME_PREFIX_LEN < length {
            break;
        }
        let payload = &bytes[position + FRAME_PREFIX_LEN..position + FRAME_PREFIX_LEN + length];
        if crc32c::crc32c(payload) != crc {
            break;
        }
        let Ok(record) = serde_json::from_slice::<JournalRecord>(payload) else {
            break;
        };
        records.push(record);
        position += FRAME_PREFIX_LEN + length;
    }
    Decoded {
        records,
        valid_len: position,
    }
}

fn read4(bytes: &[u8]) -> [u8; 4] {
    [bytes[0], bytes[1], bytes[2], bytes[3]]
}

/// Appends the frame of `record` to `out`.
pub fn encode(record: &JournalRecord, out: &mut Vec<u8>) {
    // Every field is a string-keyed map, a string or a number: serializing cannot fail.
    let payload = serde_json::to_vec(record).expect("journal records serialize to JSON");
    let length = u32::try_from(payload.len()).expect("a journal record is far below 4 GiB");
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

impl Store {
    /// Opens (or creates) the journal at `path` and returns its records. A torn tail is
    /// kept aside and cut off (see the module's contract).
    pub fn open(path: &Path) -> Result<(Store, Vec<JournalRecord>), AlertsError> {
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(AlertsError::journal("open", path))?;
        if !existed {
            sync_parent(path)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(AlertsError::journal("read", path))?;
        let decoded = decode(&bytes);
        if decoded.valid_len < bytes.len() {
            let corrupt = path.with_extension(format!("corrupt-{}", decoded.valid_len));
            fs::write(&corrupt, &bytes[decoded.valid_len..])
                .map_err(AlertsError::journal("keep the torn tail of", path))?;
            file.set_len(decoded.valid_len as u64)
                .map_err(AlertsError::journal("cut the torn tail of", path))?;
            file.sync_all()
                .map_err(AlertsError::journal("fsync", path))?;
        }
        let store = Store {
            backend: Backend::File {
                file,
                path: path.to_path_buf(),
            },
            pending: Vec::new(),
            durable_len: decoded.valid_len as u64,
            failed: false,
        };
        Ok((store, decoded.records))
    }

    /// The records of a journal another process may be appending to (for
    /// `sightline alerts report`); a torn tail is ignored, never cut.
    pub fn read_records(path: &Path) -> Result<Vec<JournalRecord>, AlertsError> {
        let bytes = fs::read(path).map_err(AlertsError::journal("read", path))?;
        Ok(decode(&bytes).records)
    }

    /// A store that keeps its bytes in memory: same encoding, no file.
    pub fn in_memory() -> Store {
        Store::from_bytes(Vec::new()).0
    }

    /// An in-memory store holding `bytes` (say, a journal cut where a crash would cut it),
    /// with their valid records.
    pub fn from_bytes(bytes: Vec<u8>) -> (Store, Vec<JournalRecord>) {
        let decoded = decode(&bytes);
        let mut bytes = bytes;
        bytes.truncate(decoded.valid_len);
        let store = Store {
            backend: Backend::Memory { bytes },
            pending: Vec::new(),
            durable_len: decoded.valid_len as u64,
            failed: false,
        };
        (store, decoded.records)
    }

    /// Buffers a record; durable only after the next [`Store::sync`].
    pub fn append(&mut self, record: &JournalRecord) {
        encode(record, &mut self.pending);
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the buffered records and makes them durable.
    pub fn sync(&mut self) -> Result<(), AlertsError> {
        if self.failed {
            return Err(self.failed_error());
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = match &mut self.backend {
            Backend::Memory { bytes } => {
                bytes.extend_from_slice(&self.pending);
                Ok(())
            }
            Backend::File { file, path } => file
                .write_all(&self.pending)
                .map_err(AlertsError::journal("append to", path))
                .and_then(|()| {
                    file.sync_data()
                        .map_err(AlertsError::journal("fdatasync", path))
                }),
        };
        if let Err(error) = result {
            self.failed = true;
            return Err(error);
        }
        self.durable_len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Bytes known to be durable.
    pub fn durable_len(&self) -> u64 {
        self.durable_len
    }

    /// The bytes of an in-memory store (`None` for a file).
    pub fn memory_bytes(&self) -> Option<&[u8]> {
        match &self.backend {
            Backend::Memory { bytes } => Some(bytes),
            Backend::File { .. } => None,
        }
    }

    /// Replaces the journal with `records` (compaction): a crash leaves either the old or
    /// the new file (write a temp file, fdatasync, rename, fsync the directory).
    pub fn rewrite(&mut self, records: &[JournalRecord]) -> Result<(), AlertsError> {
        if self.failed {
            return Err(self.failed_error());
        }
        let mut bytes = Vec::new();
        for record in records {
            encode(record, &mut bytes);
        }
        match &mut self.backend {
            Backend::Memory { bytes: stored } => {
                *stored = bytes.clone();
            }
            Backend::File { file, path } => {
                let temp = path.with_extension("compacting");
                let result = write_synced(&temp, &bytes)
                    .and_then(|()| {
                        fs::rename(&temp, &*path).map_err(AlertsError::journal(
                            "rename the compacted journal over",
                            path,
                        ))
                    })
                    .and_then(|()| sync_parent(path));
                if let Err(error) = result {
                    let _ = fs::remove_file(&temp);
                    return Err(error);
                }
                *file = OpenOptions::new()
                    .read(true)
                    .append(true)
                    .open(&*path)
                    .map_err(AlertsError::journal("reopen", path))?;
            }
        }
        self.pending.clear();
        self.durable_len = bytes.len() as u64;
        Ok(())
    }

    fn failed_error(&self) -> AlertsError {
        let path = match &self.backend {
            Backend::File { path, .. } => path.clone(),
            Backend::Memory { .. } => PathBuf::from("(memory)"),
        };
        AlertsError::JournalFailed { path }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), AlertsError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(AlertsError::journal("create", path))?;
    file.write_all(bytes)
        .map_err(AlertsError::journal("write", path))?;
    file.sync_data()
        .map_err(AlertsError::journal("fdatasync", path))
}

/// Makes a created or renamed journal's directory entry durable.
fn sync_parent(path: &Path) -> Result<(), AlertsError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    File::open(parent)
        .and_then(|directory| directory.sync_all())
        .map_err(AlertsError::journal("fsync the directory of", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{AlertState, Cause};

    fn transition(seq: u64) -> JournalRecord {
        JournalRecord::Transition(Transition {
            seq,
            at_us: seq as i64 * 1000,
            alert_id: format!("{seq:016x}"),
            rule: "rule".to_owned(),
            group: vec![("endpoint".to_owned(), "/checkout".to_owned())],
            incident: 1,
            from: AlertState::Pending,
            to: AlertState::Firing,
            cause: Cause::Evaluation,
            value: Some(0.25),
            threshold: Some(0.1),
            baseline: None,
        })
    }

    fn sent(id: u64) -> JournalRecord {
        JournalRecord::Sent {
            notification_id: id,
            at_us: 5,
        }
    }

    /// Every cut of the journal (a kill at any byte) keeps every record whose sync
    /// completed before the cut, and nothing else beyond the last whole frame; a `Sent`
    /// that survives means the notification is never queued again.
    #[test]
    fn a_cut_at_every_byte_keeps_every_synced_record() {
        let mut store = Store::in_memory();
        let mut synced_at = Vec::new();
        let mut all = Vec::new();
        for seq in 0..6u64 {
            let record = if seq % 3 == 2 {
                sent(seq)
            } else {
                transition(seq)
            };
            store.append(&record);
            all.push(record);
            if seq % 2 == 1 {
                store.sync().expect("memory sync");
                synced_at.push((store.durable_len() as usize, all.len()));
            }
        }
        let bytes = store.memory_bytes().expect("memory").to_vec();
        for cut in 0..=bytes.len() {
            let (reopened, records) = Store::from_bytes(bytes[..cut].to_vec());
            let must_have = synced_at
                .iter()
                .filter(|(length, _)| *length <= cut)
                .map(|(_, count)| *count)
                .max()
                .unwrap_or(0);
            assert!(
                records.len() >= must_have,
                "cut {cut}: {} < {must_have}",
                records.len()
            );
            assert_eq!(
                records[..],
                all[..records.len()],
                "cut {cut}: a prefix, in order"
            );
            assert_eq!(
                reopened.durable_len() as usize,
                decode(&bytes[..cut]).valid_len
            );
            let sent_ids: Vec<u64> = records
                .iter()
                .filter_map(|record| match record {
                    JournalRecord::Sent {
                        notification_id, ..
                    } => Some(*notification_id),
                    _ => None,
                })
                .collect();
            for (index, record) in all.iter().enumerate() {
                if let JournalRecord::Sent {
                    notification_id, ..
                } = record
                    && index < must_have
                {
                    assert!(
                        sent_ids.contains(notification_id),
                        "cut {cut}: a synced Sent was lost"
                    );
                }
            }
        }
    }

    #[test]
    fn a_torn_file_is_cut_kept_aside_and_appended_after() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("alerts.journal");
        {
            let (mut store, records) = Store::open(&path).expect("create");
            assert!(records.is_empty());
            store.append(&transition(1));
            store.append(&transition(2));
            store.sync().expect("sync");
        }
        let mut bytes = fs::read(&path).expect("read");
        let whole = bytes.len();
        bytes.truncate(whole - 3);
        bytes.extend_from_slice(b"garbage");
        fs::write(&path, &bytes).expect("tear");
        let (mut store, records) = Store::open(&path).expect("reopen");
        assert_eq!(records, [transition(1)]);
        let kept_aside: Vec<_> = fs::read_dir(directory.path())
            .expect("list")
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().contains("corrupt-"))
            .collect();
        assert_eq!(kept_aside.len(), 1);
        store.append(&transition(3));
        store.sync().expect("append after the cut");
        drop(store);
        let (_, records) = Store::open(&path).expect("reopen again");
        assert_eq!(records, [transition(1), transition(3)]);
        assert_eq!(
            Store::read_records(&path).expect("read only"),
            [transition(1), transition(3)]
        );
    }

    #[test]
    fn rewrite_replaces_the_journal() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("alerts.journal");
        let (mut store, _) = Store::open(&path).expect("create");
        for seq in 0..5 {
            store.append(&transition(seq));
        }
        store.sync().expect("sync");
        store.rewrite(&[transition(4)]).expect("compact");
        store.append(&sent(9));
        store.sync().expect("append after compaction");
        drop(store);
        let (_, records) = Store::open(&path).expect("reopen");
        assert_eq!(records, [transition(4), sent(9)]);
    }
}
