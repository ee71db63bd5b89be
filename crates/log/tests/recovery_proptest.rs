//! Property test of framing and crash recovery.
//!
//! Random records are appended with syncs at random points; what the last sync covered is
//! "acknowledged". More records may follow that are written to the file but never synced.
//! Then the last segment file is damaged the way a crash can damage it: cut at a random
//! length, random bytes flipped, or garbage appended, always after the acknowledged bytes.
//! After reopening, every acknowledged record must read back exactly, nothing may read back
//! different from what was appended at its offset, and appends must continue at the next
//! offset.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use sightline_log::{FRAME_OVERHEAD, LogOptions, Offset, Record, SegmentLog, StoredRecord};

#[derive(Debug, Clone)]
struct TestRecord {
    key: u128,
    event_time_us: i64,
    append_time_us: i64,
    payload: Vec<u8>,
}

impl TestRecord {
    fn as_record(&self) -> Record<'_> {
        Record {
            key: self.key,
            event_time_us: self.event_time_us,
            append_time_us: self.append_time_us,
            payload: &self.payload,
        }
    }

    fn stored(&self, offset: Offset) -> StoredRecord {
        StoredRecord {
            offset,
            key: self.key,
            event_time_us: self.event_time_us,
            append_time_us: self.append_time_us,
            payload: self.payload.clone(),
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Append(TestRecord),
    Sync,
}

#[derive(Debug, Clone)]
enum Damage {
    None,
    /// Cut the file at `acknowledged + (fraction of the rest)`.
    Truncate(prop::sample::Index),
    /// XOR bytes after the acknowledged length.
    Corrupt(Vec<(prop::sample::Index, u8)>),
    AppendGarbage(Vec<u8>),
}

fn arb_record() -> impl Strategy<Value = TestRecord> {
    (
        any::<u128>(),
        any::<i64>(),
        any::<i64>(),
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(key, event_time_us, append_time_us, payload)| TestRecord {
            key,
            event_time_us,
            append_time_us,
            payload,
        })
}

fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            6 => arb_record().prop_map(Step::Append),
            1 => Just(Step::Sync),
        ],
        0..60,
    )
}

fn arb_damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        1 => Just(Damage::None),
        3 => any::<prop::sample::Index>().prop_map(Damage::Truncate),
        3 => prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8).prop_map(Damage::Corrupt),
        2 => prop::collection::vec(any::<u8>(), 1..300).prop_map(Damage::AppendGarbage),
    ]
}

fn last_segment(dir: &Path) -> (PathBuf, Offset) {
    let mut segments: Vec<(Offset, PathBuf)> = fs::read_dir(dir)
        .expect("list")
        .filter_map(|entry| {
            let path = entry.expect("entry").path();
            let name = path.file_name()?.to_str()?.to_owned();
            let base = name.strip_suffix(".log")?.parse().ok()?;
            Some((base, path))
        })
        .collect();
    segments.sort();
    let (base, path) = segments.pop().expect("at least one segment");
    (path, base)
}

fn read_everything(log: &SegmentLog) -> Vec<StoredRecord> {
    let handle = log.handle();
    let mut reader = handle.reader(0).expect("reader");
    let mut out = Vec::new();
    while reader.read_batch(13, &mut out).expect("read_batch") > 0 {}
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn acknowledged_records_survive_damage_after_them(
        segment_max_bytes in 1024u64..4096,
        steps in arb_steps(),
        unsynced in prop::collection::vec(arb_record(), 0..8),
        damage in arb_damage(),
        more in prop::collection::vec(arb_record(), 1..5),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = LogOptions { segment_max_bytes, ..LogOptions::default() };
        let mut appended: Vec<TestRecord> = Vec::new();
        let mut acknowledged: Offset = 0;
        {
            let (mut log, _) = SegmentLog::open(dir.path(), options.clone()).expect("open");
            for step in &steps {
                match step {
                    Step::Append(record) => {
                        let offset = log.append(&record.as_record()).expect("append");
                        prop_assert_eq!(offset, appended.len() as Offset);
                        appended.push(record.clone());
                    }
                    Step::Sync => acknowledged = log.sync().expect("sync"),
                }
            }
            for record in &unsynced {
                log.append(&record.as_record()).expect("append");
                appended.push(record.clone());
            }
            // Unacknowledged records reach the file (as after a process crash), or not.
            log.flush().expect("flush");
        }

        // Bytes of the last segment that hold acknowledged records (the header counts: a
        // segment whose header is not durable holds nothing acknowledged, but rolling
        // fdatasyncs it, so the damage starts after it).
        let (path, base) = last_segment(dir.path());
        let acknowledged_len: u64 = 16 + (base..acknowledged.max(base))
            .map(|offset| (FRAME_OVERHEAD + appended[offset as usize].payload.len()) as u64)
            .sum::<u64>();
        let file_len = fs::metadata(&path).expect("metadata").len();
        prop_assert!(file_len >= acknowledged_len);
        match &damage {
            Damage::None => {}
            Damage::Truncate(at) => {
                let keep = acknowledged_len + at.index((file_len - acknowledged_len + 1) as usize) as u64;
                fs::OpenOptions::new().write(true).open(&path).expect("open")
                    .set_len(keep).expect("truncate");
            }
            Damage::Corrupt(flips) => {
                let mut bytes = fs::read(&path).expect("read");
                let tail = bytes.len() - acknowledged_len as usize;
                if tail > 0 {
                    for (at, mask) in flips {
                        bytes[acknowledged_len as usize + at.index(tail)] ^= mask;
                    }
                }
                fs::write(&path, &bytes).expect("write");
            }
            Damage::AppendGarbage(garbage) => {
                let mut bytes = fs::read(&path).expect("read");
                bytes.extend_from_slice(garbage);
                fs::write(&path, &bytes).expect("write");
            }
        }

        let (mut log, report) = SegmentLog::open(dir.path(), options.clone()).expect("reopen");
        let recovered = read_everything(&log);
        prop_assert_eq!(report.next_offset, recovered.len() as Offset);
        prop_assert!(
            recovered.len() as Offset >= acknowledged,
            "lost acknowledged records: recovered {}, acknowledged {}", recovered.len(), acknowledged
        );
        for record in &recovered {
            let original = appended.get(record.offset as usize);
            prop_assert!(original.is_some(), "record {} was never appended", record.offset);
            let original = original.expect("checked above");
            prop_assert_eq!(record, &original.stored(record.offset));
        }
        for (index, record) in recovered.iter().enumerate() {
            prop_assert_eq!(record.offset, index as Offset);
        }

        // Appends continue right after the recovered records, and read back.
        let next = recovered.len() as Offset;
        for (i, record) in more.iter().enumerate() {
            prop_assert_eq!(log.append(&record.as_record()).expect("append"), next + i as Offset);
        }
        prop_assert_eq!(log.sync().expect("sync"), next + more.len() as Offset);
        let after = read_everything(&log);
        prop_assert_eq!(&after[..recovered.len()], &recovered[..]);
        for (i, record) in more.iter().enumerate() {
            prop_assert_eq!(&after[recovered.len() + i], &record.stored(next + i as Offset));
        }

        // A second recovery has nothing left to repair.
        drop(log);
        let (log, report) = SegmentLog::open(dir.path(), options).expect("reopen again");
        prop_assert_eq!(report.truncated, None);
        prop_assert_eq!(read_everything(&log), after);
    }
}
