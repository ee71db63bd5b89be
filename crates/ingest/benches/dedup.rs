//! The writer's per-event dedup probe, on a table the size of a busy day.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sightline_ingest::DedupIndex;
use sightline_model::identity_key;

fn dedup(criterion: &mut Criterion) {
    let keys: Vec<u128> = (0..1_000_000)
        .map(|index| identity_key("bench/source", &index.to_string()))
        .collect();
    let mut group = criterion.benchmark_group("dedup");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.sample_size(10);
    group.bench_function("insert_1m_new_keys", |bencher| {
        bencher.iter(|| {
            let mut index = DedupIndex::new(std::time::Duration::from_secs(7 * 86_400), 20_000_000);
            for key in &keys {
                index.check_and_insert(*key, 1_800_000_000_000_000);
            }
            assert_eq!(index.len(), keys.len());
        })
    });
    // As the writer does it: the slots of the next 256 keys are loaded together first.
    group.bench_function("insert_1m_new_keys_warmed", |bencher| {
        bencher.iter(|| {
            let mut index = DedupIndex::new(std::time::Duration::from_secs(7 * 86_400), 20_000_000);
            for keys in keys.chunks(256) {
                index.warm(keys.iter().copied());
                for key in keys {
                    index.check_and_insert(*key, 1_800_000_000_000_000);
                }
            }
            assert_eq!(index.len(), keys.len());
        })
    });
    group.finish();
}

criterion_group!(benches, dedup);
criterion_main!(benches);
