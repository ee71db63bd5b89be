//! End-to-end tests of the embedded log through its public API.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sightline_log::{
    FRAME_OVERHEAD, LogError, LogHandle, LogOptions, LogSource, LogWriter, Offset, Record,
    RetentionPolicy, SegmentLog, StoredRecord, segment_file_path,
};

/// Deterministic test record `n`.
fn payload(n: u64) -> Vec<u8> {
    let len = (n * 7 % 90) as usize;
    let mut bytes = format!("{{\"n\":{n},\"pad\":\"").into_bytes();
    bytes.extend(std::iter::repeat_n(b'a' + (n % 26) as u8, len));
    bytes.extend_from_slice(b"\"}");
    bytes
}

fn key(n: u64) -> u128 {
    (u128::from(n) << 64) | u128::from(n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn expected(n: u64) -> StoredRecord {
    StoredRecord {
        offset: n,
        key: key(n),
        event_time_us: 1_000 + n as i64,
        append_time_us: 2_000 + n as i64,
        payload: payload(n),
    }
}

fn append_range(log: &mut SegmentLog, range: std::ops::Range<u64>) {
    for n in range {
        let p = payload(n);
        let offset = log
            .append(&Record {
                key: key(n),
                event_time_us: 1_000 + n as i64,
                append_time_us: 2_000 + n as i64,
                payload: &p,
            })
            .expect("append");
        assert_eq!(offset, n);
    }
}

fn read_all(handle: &LogHandle, from: Offset) -> Vec<StoredRecord> {
    let mut reader = handle.reader(from).expect("reader");
    let mut out = Vec::new();
    loop {
        let read = reader.read_batch(97, &mut out).expect("read_batch");
        if read == 0 {
            break;
        }
    }
    assert_eq!(reader.position(), from + out.len() as u64);
    out
}

fn small_segments() -> LogOptions {
    LogOptions {
        segment_max_bytes: 2048,
        ..LogOptions::default()
    }
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

#[test]
fn open_append_sync_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, report) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    assert_eq!(report.segments_found, 0);
    assert_eq!(report.next_offset, 0);
    append_range(&mut log, 0..100);
    assert_eq!(log.next_offset(), 100);
    assert_eq!(log.durable_end(), 0);
    assert_eq!(log.sync().expect("sync"), 100);
    assert_eq!(log.durable_end(), 100);
    drop(log);

    let (log, report) = SegmentLog::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(report.segments_found, 1);
    assert_eq!(report.records_recovered, 100);
    assert_eq!(report.next_offset, 100);
    assert_eq!(report.truncated, None);
    let records = read_all(&log.handle(), 0);
    assert_eq!(records, (0..100).map(expected).collect::<Vec<_>>());
}

#[test]
fn readers_see_only_durable_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    let handle = log.handle();
    let mut reader = handle.reader(0).expect("reader");
    let mut out = Vec::new();
    append_range(&mut log, 0..10);
    log.flush().expect("flush");
    assert_eq!(reader.read_batch(100, &mut out).expect("read"), 0);
    log.sync().expect("sync");
    assert_eq!(reader.read_batch(100, &mut out).expect("read"), 10);
    append_range(&mut log, 10..15);
    assert_eq!(reader.read_batch(100, &mut out).expect("read"), 0);
    log.sync().expect("sync");
    assert_eq!(reader.read_batch(3, &mut out).expect("read"), 3);
    assert_eq!(reader.read_batch(100, &mut out).expect("read"), 2);
    assert_eq!(out, (0..15).map(expected).collect::<Vec<_>>());
    assert!(matches!(
        handle.reader(16),
        Err(LogError::OffsetBeyondEnd {
            requested: 16,
            durable_end: 15
        })
    ));
}

#[test]
fn unsynced_records_are_lost_on_reopen_and_offsets_continue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    append_range(&mut log, 0..10);
    log.sync().expect("sync");
    append_range(&mut log, 10..20);
    drop(log); // never written: the buffer dies with the writer

    let (mut log, report) = SegmentLog::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(report.next_offset, 10);
    append_range(&mut log, 10..12);
    log.sync().expect("sync");
    assert_eq!(
        read_all(&log.handle(), 0),
        (0..12).map(expected).collect::<Vec<_>>()
    );
}

#[test]
fn segments_roll_and_readers_cross_boundaries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), small_segments()).expect("open");
    for chunk in 0..10u64 {
        append_range(&mut log, chunk * 100..(chunk + 1) * 100);
        log.sync().expect("sync");
    }
    let stats = log.stats();
    assert!(stats.segment_count > 20, "{stats:?}");
    assert_eq!(stats.next_offset, 1000);
    assert_eq!(stats.durable_end, 1000);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), stats.segment_count);
    for file in &files {
        assert!(
            fs::metadata(file).expect("metadata").len() <= 2048,
            "{file:?}"
        );
    }
    let on_disk: u64 = files
        .iter()
        .map(|f| fs::metadata(f).expect("metadata").len())
        .sum();
    assert_eq!(on_disk, stats.total_bytes);

    let all: Vec<StoredRecord> = (0..1000).map(expected).collect();
    let handle = log.handle();
    assert_eq!(read_all(&handle, 0), all);
    for from in [1, 17, 499, 500, 998, 999, 1000] {
        assert_eq!(read_all(&handle, from), all[from as usize..], "from {from}");
    }
    drop(log);

    // Sealed segments opened from disk have no index in memory yet.
    let (log, report) = SegmentLog::open(dir.path(), small_segments()).expect("reopen");
    assert_eq!(report.segments_found, files.len());
    assert_eq!(report.next_offset, 1000);
    let handle = log.handle();
    for from in [0, 3, 333, 999] {
        assert_eq!(read_all(&handle, from), all[from as usize..], "from {from}");
    }
}

#[test]
fn reader_seeks_into_the_middle_of_large_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let count = 20_000u64;
    let (mut log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    append_range(&mut log, 0..count);
    log.sync().expect("sync");
    let check = |handle: &LogHandle| {
        let end = handle.durable_end();
        for from in [0, 1, 4095, 4096, 4097, 8192, 12_345, 19_999, 20_000] {
            let mut reader = handle.reader(from).expect("reader");
            let mut out = Vec::new();
            reader.read_batch(2, &mut out).expect("read");
            let want: Vec<_> = (from..(from + 2).min(end)).map(expected).collect();
            assert_eq!(out, want, "from {from}");
        }
    };
    check(&log.handle());
    drop(log);

    // Force the active segment to be sealed by rolling with a tiny limit, so the big segment
    // is a sealed segment from disk with a lazily built index.
    let options = LogOptions {
        segment_max_bytes: 4096,
        ..LogOptions::default()
    };
    let (mut log, report) = SegmentLog::open(dir.path(), options.clone()).expect("reopen");
    assert_eq!(report.records_recovered, count);
    append_range(&mut log, count..count + 100);
    log.sync().expect("sync");
    assert!(log.stats().segment_count > 1);
    drop(log);
    let (log, _) = SegmentLog::open(dir.path(), options).expect("reopen");
    let handle = log.handle();
    check(&handle);
    // Seeks in descending order use the index entries learned by the earlier scans.
    check(&handle);
}

#[test]
fn concurrent_reader_follows_writer_across_rolls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), small_segments()).expect("open");
    let handle = log.handle();
    let total = 3000u64;
    let reader_thread = thread::spawn(move || {
        let mut reader = handle.reader(0).expect("reader");
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while reader.position() < total {
            assert!(
                Instant::now() < deadline,
                "reader stalled at {}",
                reader.position()
            );
            if reader.read_batch(64, &mut out).expect("read") == 0 {
                handle.wait_for_durable_beyond(reader.position(), Duration::from_millis(200));
            }
        }
        out
    });
    for chunk in 0..30u64 {
        append_range(&mut log, chunk * 100..(chunk + 1) * 100);
        log.sync().expect("sync");
    }
    let out = reader_thread.join().expect("reader thread");
    assert_eq!(out, (0..total).map(expected).collect::<Vec<_>>());
}

#[test]
fn wait_for_durable_beyond_times_out_with_the_current_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    append_range(&mut log, 0..3);
    log.sync().expect("sync");
    let handle = log.handle();
    let started = Instant::now();
    assert_eq!(
        handle.wait_for_durable_beyond(3, Duration::from_millis(50)),
        3
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(
        handle.wait_for_durable_beyond(1, Duration::from_secs(10)),
        3
    );
}

#[test]
fn wake_waiters_ends_a_long_wait_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    append_range(&mut log, 0..3);
    log.sync().expect("sync");
    let handle = log.handle();
    let (waiting, wait_started) = std::sync::mpsc::channel();
    let waiter = {
        let handle = handle.clone();
        std::thread::spawn(move || {
            waiting.send(()).expect("send");
            // An hour: only the wake-up can end this within the test's lifetime.
            handle.wait_for_durable_beyond(3, Duration::from_secs(3600))
        })
    };
    wait_started.recv().expect("waiter started");
    // The waiter may not be inside the wait yet; waking until it returns covers both.
    while !waiter.is_finished() {
        handle.wake_waiters();
        std::thread::yield_now();
    }
    assert_eq!(waiter.join().expect("waiter"), 3, "nothing new is durable");
}

/// Appends 10 segments of 20 records; segment `s` has append times `s * 1000 + i`.
fn log_with_aged_segments(dir: &Path, retention: RetentionPolicy) -> SegmentLog {
    let payload = vec![b'x'; 100];
    let frame_len = (FRAME_OVERHEAD + payload.len()) as u64;
    let options = LogOptions {
        segment_max_bytes: 16 + 20 * frame_len,
        retention,
        ..LogOptions::default()
    };
    let (mut log, _) = SegmentLog::open(dir, options).expect("open");
    for segment in 0..10i64 {
        for i in 0..20i64 {
            log.append(&Record {
                key: (segment * 20 + i) as u128,
                event_time_us: 0,
                append_time_us: segment * 1000 + i,
                payload: &payload,
            })
            .expect("append");
        }
    }
    log.sync().expect("sync");
    assert_eq!(log.stats().segment_count, 10);
    log
}

#[test]
fn retention_by_age_deletes_old_sealed_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = log_with_aged_segments(
        dir.path(),
        RetentionPolicy {
            max_age: Some(Duration::from_micros(5000)),
            max_bytes: None,
        },
    );
    let handle = log.handle();
    // Cutoff 8500 - 5000 = 3500: segments 0..=3 have newest append times 19 .. 3019.
    let report = log.enforce_retention(8500).expect("retention");
    assert_eq!(report.segments_deleted, 4);
    assert_eq!(report.records_deleted, 80);
    assert_eq!(report.first_offset, 80);
    assert_eq!(handle.first_offset(), 80);
    assert_eq!(log.stats().first_offset, 80);
    assert_eq!(log.stats().segment_count, 6);
    assert!(!segment_file_path(dir.path(), 0).exists());
    assert!(!dir.path().join("00000000000000000000.keys").exists());
    assert!(matches!(
        handle.reader(79),
        Err(LogError::OffsetTruncated {
            requested: 79,
            first: 80
        })
    ));
    assert_eq!(read_all(&handle, 80).len(), 120);

    // Idempotent.
    assert_eq!(
        log.enforce_retention(8500)
            .expect("retention")
            .segments_deleted,
        0
    );

    // Everything is old now: all sealed segments go, the active one stays.
    let report = log.enforce_retention(1_000_000).expect("retention");
    assert_eq!(report.segments_deleted, 5);
    assert_eq!(report.first_offset, 180);
    assert_eq!(log.stats().segment_count, 1);
    assert_eq!(read_all(&handle, 180).len(), 20);
    drop(log);

    let (log, report) = SegmentLog::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(report.segments_found, 1);
    assert_eq!(report.next_offset, 200);
    assert_eq!(log.handle().first_offset(), 180);
}

#[test]
fn retention_by_age_after_reopen_uses_key_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = RetentionPolicy {
        max_age: Some(Duration::from_micros(5000)),
        max_bytes: None,
    };
    let log = log_with_aged_segments(dir.path(), policy.clone());
    drop(log);
    // Remove one key file: retention must rebuild it to learn the segment's age.
    fs::remove_file(dir.path().join(format!("{:020}.keys", 20))).expect("remove keys");
    let options = LogOptions {
        retention: policy,
        ..small_segments()
    };
    let (mut log, _) = SegmentLog::open(dir.path(), options).expect("reopen");
    let report = log.enforce_retention(8500).expect("retention");
    assert_eq!(report.segments_deleted, 4);
    assert_eq!(report.first_offset, 80);
}

#[test]
fn retention_by_size_keeps_the_newest_segments_and_never_the_active() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = log_with_aged_segments(
        dir.path(),
        RetentionPolicy {
            max_age: None,
            max_bytes: Some(3 * (16 + 20 * (FRAME_OVERHEAD as u64 + 100))),
        },
    );
    let report = log.enforce_retention(0).expect("retention");
    assert_eq!(report.segments_deleted, 7);
    assert_eq!(report.first_offset, 140);
    assert!(log.stats().total_bytes <= 3 * (16 + 20 * (FRAME_OVERHEAD as u64 + 100)));

    let mut log = {
        drop(log);
        let options = LogOptions {
            retention: RetentionPolicy {
                max_age: None,
                max_bytes: Some(1),
            },
            ..LogOptions::default()
        };
        SegmentLog::open(dir.path(), options).expect("reopen").0
    };
    let report = log.enforce_retention(0).expect("retention");
    assert_eq!(report.segments_deleted, 2);
    assert_eq!(log.stats().segment_count, 1, "the active segment stays");
    assert_eq!(read_all(&log.handle(), 180).len(), 20);
}

#[test]
fn reader_keeps_its_open_segment_but_cannot_move_into_deleted_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = log_with_aged_segments(
        dir.path(),
        RetentionPolicy {
            max_age: None,
            max_bytes: Some(1),
        },
    );
    let handle = log.handle();
    let mut reader = handle.reader(5).expect("reader");
    let mut out = Vec::new();
    assert_eq!(reader.read_batch(10, &mut out).expect("read"), 10);
    log.enforce_retention(0).expect("retention");
    assert_eq!(handle.first_offset(), 180);
    // The rest of segment 0 is still readable from the open file ...
    assert_eq!(reader.read_batch(100, &mut out).expect("read"), 5);
    assert_eq!(out.last().map(|r| r.offset), Some(19));
    // ... but segment 1 is gone. The records read before the error were returned first.
    assert!(matches!(
        reader.read_batch(100, &mut out),
        Err(LogError::OffsetTruncated {
            requested: 20,
            first: 180
        })
    ));
}

fn scanned_keys(handle: &LogHandle, since: i64) -> Vec<(u128, i64)> {
    let mut keys = Vec::new();
    handle
        .scan_keys(since, &mut |key, append| keys.push((key, append)))
        .expect("scan_keys");
    keys
}

#[test]
fn the_record_bound_of_a_key_scan_holds_and_tightens_once_segments_are_known() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = log_with_aged_segments(dir.path(), RetentionPolicy::default());
    let handle = log.handle();
    // Segment s holds append times s * 1000 + 0..20; the last one is still active.
    for since in [i64::MIN, 0, 4_010, 8_000, 9_019, 9_020, 20_000] {
        let bound = handle.records_since_at_most(since);
        let scanned = scanned_keys(&handle, since).len() as u64;
        assert!(
            bound >= scanned,
            "since {since}: bound {bound} < {scanned} scanned"
        );
    }
    // The scans above read every key file: whole older segments no longer count, the one
    // straddling `since` does, whole.
    assert_eq!(handle.records_since_at_most(4_010), 6 * 20);
    assert_eq!(handle.records_since_at_most(i64::MIN), 200);
}

#[test]
fn key_scan_matches_appended_keys_and_survives_missing_or_corrupt_key_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), small_segments()).expect("open");
    append_range(&mut log, 0..500);
    log.sync().expect("sync");
    // Not synced: must not be scanned, except what a segment roll made durable.
    append_range(&mut log, 500..510);
    let handle = log.handle();
    let durable = handle.durable_end();
    assert!(durable < 510);
    let all: Vec<(u128, i64)> = (0..durable).map(|n| (key(n), 2_000 + n as i64)).collect();
    assert_eq!(scanned_keys(&handle, i64::MIN), all);
    let since = 2_000 + 321;
    let recent = scanned_keys(&handle, since);
    assert_eq!(recent, all[321..]);
    log.sync().expect("sync");
    let all: Vec<(u128, i64)> = (0..510).map(|n| (key(n), 2_000 + n as i64)).collect();
    assert_eq!(scanned_keys(&handle, i64::MIN), all);

    let mut key_files: Vec<PathBuf> = fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "keys"))
        .collect();
    key_files.sort();
    assert_eq!(key_files.len(), log.stats().segment_count - 1);
    drop(log);

    // Missing key file, and one with a flipped byte in its entries.
    fs::remove_file(&key_files[1]).expect("remove");
    let mut bytes = fs::read(&key_files[3]).expect("read");
    bytes[40] ^= 0x01;
    fs::write(&key_files[3], &bytes).expect("write");

    let (log, _) = SegmentLog::open(dir.path(), small_segments()).expect("reopen");
    let handle = log.handle();
    assert_eq!(scanned_keys(&handle, i64::MIN), all);
    assert!(key_files[1].exists(), "missing key file is rebuilt");
    assert_ne!(
        fs::read(&key_files[3]).expect("read"),
        bytes,
        "corrupt key file is rewritten"
    );
    assert_eq!(scanned_keys(&handle, i64::MIN), all);
    assert_eq!(scanned_keys(&handle, since), all[321..]);
    assert_eq!(scanned_keys(&handle, i64::MAX), Vec::new());
}

#[test]
fn positions_commit_and_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    append_range(&mut log, 0..10);
    log.sync().expect("sync");
    let handle = log.handle();
    assert_eq!(handle.committed_position("engine").expect("load"), None);
    handle.commit_position("engine", 7).expect("commit");
    handle.commit_position("engine", 10).expect("commit");
    handle.commit_position("audit-2", 3).expect("commit");
    assert!(matches!(
        handle.commit_position("engine", 11),
        Err(LogError::OffsetBeyondEnd { .. })
    ));
    assert!(matches!(
        handle.commit_position("../etc", 1),
        Err(LogError::InvalidConsumerName { .. })
    ));
    drop(log);
    drop(handle);
    let (log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("reopen");
    let handle = log.handle();
    assert_eq!(handle.committed_position("engine").expect("load"), Some(10));
    assert_eq!(handle.committed_position("audit-2").expect("load"), Some(3));
}

#[test]
fn lock_prevents_a_second_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    let error = SegmentLog::open(dir.path(), LogOptions::default()).expect_err("locked");
    assert!(matches!(error, LogError::Locked { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("another sightline process seems to use")
    );
    drop(log);
    SegmentLog::open(dir.path(), LogOptions::default()).expect("open after release");
}

#[test]
fn torn_tail_is_truncated_copied_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    append_range(&mut log, 0..5);
    log.sync().expect("sync");
    append_range(&mut log, 5..8);
    log.flush().expect("flush");
    drop(log);
    let path = segment_file_path(dir.path(), 0);
    let full_len = fs::metadata(&path).expect("metadata").len();
    let acked_len: u64 = 16
        + (0..5)
            .map(|n| (FRAME_OVERHEAD + payload(n).len()) as u64)
            .sum::<u64>();
    let frame5 = (FRAME_OVERHEAD + payload(5).len()) as u64;
    // Cut record 6 in half: record 5 survives, 6 and 7 are dropped.
    let cut = acked_len + frame5 + 10;
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(cut)
        .expect("truncate");
    assert!(cut < full_len);

    let (log, report) = SegmentLog::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(report.next_offset, 6);
    let truncated = report.truncated.expect("truncation reported");
    assert_eq!(truncated.position, acked_len + frame5);
    assert_eq!(truncated.bytes_dropped, 10);
    let copy = truncated.corrupt_copy.expect("copy");
    assert_eq!(
        copy.file_name().and_then(|n| n.to_str()),
        Some(format!("00000000000000000000.log.corrupt-{}", acked_len + frame5).as_str())
    );
    assert_eq!(fs::metadata(&copy).expect("copy metadata").len(), 10);
    assert_eq!(
        fs::metadata(&path).expect("metadata").len(),
        acked_len + frame5
    );
    assert_eq!(
        read_all(&log.handle(), 0),
        (0..6).map(expected).collect::<Vec<_>>()
    );
}

#[test]
fn last_segment_without_header_is_rewritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), small_segments()).expect("open");
    append_range(&mut log, 0..100);
    log.sync().expect("sync");
    let next = log.next_offset();
    drop(log);
    // A crash right after creating the next segment file, before its header was written.
    fs::write(segment_file_path(dir.path(), next), b"SLL").expect("write");
    let (mut log, report) = SegmentLog::open(dir.path(), small_segments()).expect("reopen");
    assert_eq!(report.active_segment_base, next);
    assert_eq!(report.records_recovered, 0);
    assert_eq!(report.truncated.map(|t| t.bytes_dropped), Some(3));
    append_range(&mut log, next..next + 50);
    log.sync().expect("sync");
    assert_eq!(
        read_all(&log.handle(), 0),
        (0..next + 50).map(expected).collect::<Vec<_>>()
    );
}

#[test]
fn corruption_in_durable_data_is_an_error_for_readers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), small_segments()).expect("open");
    append_range(&mut log, 0..200);
    log.sync().expect("sync");
    drop(log);
    // Flip a payload byte of the first record of the (sealed) first segment.
    let path = segment_file_path(dir.path(), 0);
    let mut bytes = fs::read(&path).expect("read");
    bytes[16 + FRAME_OVERHEAD] ^= 0x20;
    fs::write(&path, &bytes).expect("write");

    let (log, _) = SegmentLog::open(dir.path(), small_segments()).expect("reopen");
    let mut reader = log.handle().reader(0).expect("reader");
    let mut out = Vec::new();
    let error = reader.read_batch(10, &mut out).expect_err("crc mismatch");
    assert!(
        matches!(error, LogError::Corrupt { position: 16, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("00000000000000000000.log"),
        "{error}"
    );
    assert!(out.is_empty());
}

#[test]
fn oversized_records_are_rejected_and_never_silently_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = LogOptions {
        max_record_bytes: 1000,
        ..LogOptions::default()
    };
    let (mut log, _) = SegmentLog::open(dir.path(), options.clone()).expect("open");
    let big = vec![0u8; 1001];
    let record = Record {
        key: 0,
        event_time_us: 0,
        append_time_us: 0,
        payload: &big,
    };
    assert!(matches!(
        log.append(&record),
        Err(LogError::RecordTooLarge {
            payload_len: 1001,
            max_record_bytes: 1000
        })
    ));
    log.append(&Record {
        payload: &big[..1000],
        ..record
    })
    .expect("append");
    log.sync().expect("sync");
    drop(log);

    // Reopening with a lower limit must not treat the acknowledged record as a torn tail.
    let lower = LogOptions {
        max_record_bytes: 500,
        ..options.clone()
    };
    let error = SegmentLog::open(dir.path(), lower).expect_err("refuses to drop data");
    assert!(matches!(error, LogError::OversizedRecord { .. }), "{error}");
    let (log, report) = SegmentLog::open(dir.path(), options).expect("reopen");
    assert_eq!(report.next_offset, 1);
    assert_eq!(read_all(&log.handle(), 0)[0].payload.len(), 1000);
}

#[test]
fn backend_traits_expose_partition_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = SegmentLog::open(dir.path(), small_segments()).expect("open");
    let source: Arc<dyn LogSource> = Arc::new(log.handle());
    let mut writer: Box<dyn LogWriter> = Box::new(log);
    for n in 0..50 {
        let p = payload(n);
        let offset = writer
            .append(&Record {
                key: key(n),
                event_time_us: 1_000 + n as i64,
                append_time_us: 2_000 + n as i64,
                payload: &p,
            })
            .expect("append");
        assert_eq!(offset, n);
    }
    assert_eq!(writer.sync().expect("sync"), 50);
    assert_eq!(source.partitions(), 1);
    assert_eq!(source.durable_end(0).expect("durable_end"), 50);
    assert!(matches!(
        source.durable_end(1),
        Err(LogError::UnknownPartition {
            partition: 1,
            partitions: 1
        })
    ));
    let mut reader = source.reader(0, 10).expect("reader");
    let mut out = Vec::new();
    assert_eq!(reader.read_batch(100, &mut out).expect("read"), 40);
    assert_eq!(reader.position(), 50);
    assert_eq!(out, (10..50).map(expected).collect::<Vec<_>>());
    source.commit_position("engine", 0, 50).expect("commit");
    assert_eq!(
        source.committed_position("engine", 0).expect("load"),
        Some(50)
    );
    assert_eq!(
        source
            .wait_for_durable_beyond(0, 10, Duration::from_millis(1))
            .expect("wait"),
        50
    );

    // A reader thread using only the trait object.
    let stop = Arc::new(AtomicBool::new(false));
    let thread_source = Arc::clone(&source);
    let thread_stop = Arc::clone(&stop);
    let tail = thread::spawn(move || {
        let mut reader = thread_source.reader(0, 50).expect("reader");
        let mut out = Vec::new();
        while !thread_stop.load(Ordering::Relaxed) || reader.position() < 60 {
            if reader.read_batch(10, &mut out).expect("read") == 0 {
                thread_source
                    .wait_for_durable_beyond(0, reader.position(), Duration::from_millis(20))
                    .expect("wait");
            }
        }
        out.len()
    });
    for n in 50..60 {
        let p = payload(n);
        writer
            .append(&Record {
                key: key(n),
                event_time_us: 0,
                append_time_us: 0,
                payload: &p,
            })
            .expect("append");
    }
    writer.sync().expect("sync");
    stop.store(true, Ordering::Relaxed);
    assert_eq!(tail.join().expect("thread"), 10);
}

#[test]
fn batches_into_one_buffer_read_the_same_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), small_segments()).expect("open");
    append_range(&mut log, 0..500);
    log.sync().expect("sync");
    let handle = log.handle();
    let mut reader = handle.reader(0).expect("reader");
    let mut batch = sightline_log::RecordBatch::default();
    let mut seen = Vec::new();
    loop {
        let count = reader.read_into_batch(37, &mut batch).expect("read");
        if count == 0 {
            break;
        }
        assert_eq!(count, batch.len());
        for record in batch.records() {
            seen.push(StoredRecord {
                offset: record.offset,
                key: record.key,
                event_time_us: record.event_time_us,
                append_time_us: record.append_time_us,
                payload: batch.payload(record).to_vec(),
            });
        }
    }
    assert_eq!(seen, read_all(&handle, 0), "across many small segments");
}

/// `append_frames` (runs written straight from the frame buffer, gaps skipped, segments
/// rolled mid-batch) leaves the log record for record as `append` of each would: read
/// from any offset, after reopening, and in the key index.
#[test]
fn frames_appended_in_runs_read_back_as_single_appends() {
    use sightline_log::FrameBuffer;
    let dir = tempfile::tempdir().expect("tempdir");
    let options = LogOptions {
        // Several rolls per batch of the large runs below.
        segment_max_bytes: 300 * 1024,
        ..LogOptions::default()
    };
    let (mut log, _) = SegmentLog::open(dir.path(), options.clone()).expect("open");
    let mut expected_records = Vec::new();
    let mut n = 0u64;
    // (frames in the batch, every how many a frame is skipped as a duplicate; 0: none)
    for (count, skip_every) in [
        (5_000, 0),
        (3, 0),
        (7_000, 3),
        (1, 0),
        (0, 0),
        (9_000, 1000),
    ] {
        let mut frames = FrameBuffer::with_capacity(count, 0);
        let mut numbers = Vec::new();
        for _ in 0..count {
            let p = payload(n);
            frames.push(&Record {
                key: key(n),
                event_time_us: 1_000 + n as i64,
                append_time_us: 2_000 + n as i64,
                payload: &p,
            });
            numbers.push(n);
            n += 1;
        }
        let appended: Vec<usize> = (0..count)
            .filter(|index| skip_every == 0 || index % skip_every != 1)
            .collect();
        let first = log.append_frames(&frames, &appended).expect("append");
        assert_eq!(first.is_some(), !appended.is_empty());
        for &index in &appended {
            let offset = expected_records.len() as u64;
            let mut record = expected(numbers[index]);
            record.offset = offset;
            expected_records.push(record);
        }
        // A single append between batches lands after them.
        let p = payload(n);
        log.append(&Record {
            key: key(n),
            event_time_us: 1_000 + n as i64,
            append_time_us: 2_000 + n as i64,
            payload: &p,
        })
        .expect("append");
        let mut record = expected(n);
        record.offset = expected_records.len() as u64;
        expected_records.push(record);
        n += 1;
        log.sync().expect("sync");
    }
    assert!(log.stats().segment_count > 5, "{:?}", log.stats());
    let total = expected_records.len() as u64;
    let check = |handle: &LogHandle| {
        for from in [0, 1, 4_999, 5_000, 5_004, 9_000, total - 1, total] {
            assert_eq!(
                read_all(handle, from),
                expected_records[from as usize..],
                "from {from}"
            );
        }
        let keys: Vec<u128> = scanned_keys(handle, i64::MIN)
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        let wanted: Vec<u128> = expected_records.iter().map(|record| record.key).collect();
        assert_eq!(keys, wanted);
    };
    check(&log.handle());
    drop(log);
    let (log, report) = SegmentLog::open(dir.path(), options).expect("reopen");
    assert_eq!(report.next_offset, total);
    assert!(report.truncated.is_none());
    check(&log.handle());
}
