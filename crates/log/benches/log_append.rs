//! Append and read throughput of the embedded log.
//!
//! * `append/1000x200B+sync`: 1,000 records of 200-byte payload, then `sync` (fdatasync),
//!   the shape of one ingest batch being made durable.
//! * `append/1000x200B+flush`: the same without the fdatasync, to show its cost.
//! * `read/200k`: reading 200,000 such records back with `read_batch(1024)`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sightline_log::{LogOptions, Record, SegmentLog, StoredRecord};

const PAYLOAD_BYTES: usize = 200;
const GROUP: u64 = 1_000;
const READ_RECORDS: u64 = 200_000;

fn payload() -> Vec<u8> {
    let mut bytes =
        br#"{"source":"bench","type":"click","user":"u-123456","value":42.5,"pad":""#.to_vec();
    bytes.resize(PAYLOAD_BYTES - 2, b'x');
    bytes.extend_from_slice(b"\"}");
    bytes
}

fn append_group(log: &mut SegmentLog, payload: &[u8], first: u64) {
    for i in 0..GROUP {
        let n = first + i;
        log.append(&Record {
            key: u128::from(n) * 0x9e37_79b9_7f4a_7c15,
            event_time_us: n as i64,
            append_time_us: n as i64,
            payload,
        })
        .expect("append");
    }
}

fn bench_append(c: &mut Criterion) {
    let payload = payload();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(GROUP));
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(8));

    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    group.bench_function("1000x200B+sync", |b| {
        b.iter(|| {
            let first = log.next_offset();
            append_group(&mut log, &payload, first);
            black_box(log.sync().expect("sync"))
        })
    });
    drop(log);
    drop(dir);

    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    group.bench_function("1000x200B+flush", |b| {
        b.iter(|| {
            let first = log.next_offset();
            append_group(&mut log, &payload, first);
            log.flush().expect("flush");
        })
    });
    group.finish();
}

fn bench_read(c: &mut Criterion) {
    let payload = payload();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _) = SegmentLog::open(dir.path(), LogOptions::default()).expect("open");
    for group in 0..READ_RECORDS / GROUP {
        append_group(&mut log, &payload, group * GROUP);
    }
    log.sync().expect("sync");
    let handle = log.handle();

    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(READ_RECORDS));
    group.sample_size(20);
    group.bench_function("200k", |b| {
        let mut batch: Vec<StoredRecord> = Vec::with_capacity(1024);
        b.iter(|| {
            let mut reader = handle.reader(0).expect("reader");
            let mut total = 0;
            loop {
                batch.clear();
                let read = reader.read_batch(1024, &mut batch).expect("read");
                if read == 0 {
                    break;
                }
                total += read;
            }
            assert_eq!(total as u64, READ_RECORDS);
            black_box(total)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_append, bench_read);
criterion_main!(benches);
