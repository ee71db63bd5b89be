//! The whole commerce pack over realistic events of the catalogue (the repo's generator).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sightline_engine::{COMMERCE_PACK, Calendar, Engine, EngineOptions, KpiPack};
use sightline_generator::{EventGenerator, GeneratorConfig};

fn commerce_pack(criterion: &mut Criterion) {
    let mut generator = EventGenerator::new(GeneratorConfig::default());
    let events: Vec<(i64, String)> = (0..200_000)
        .map(|_| {
            let mut line = String::new();
            generator.next_event(&mut line);
            let time = generator.last_event_time_us();
            (time, line)
        })
        .collect();
    let kpis = KpiPack::from_toml(COMMERCE_PACK, "commerce")
        .and_then(|pack| pack.compile(&Calendar::utc()))
        .expect("valid pack");
    let mut group = criterion.benchmark_group("engine");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("commerce_pack_200k", |bencher| {
        bencher.iter(|| {
            let mut engine = Engine::new(kpis.clone(), EngineOptions::default());
            for (time, payload) in &events {
                engine.process(*time, payload, 0);
            }
            engine
        })
    });
    group.finish();
}

criterion_group!(benches, commerce_pack);
criterion_main!(benches);
