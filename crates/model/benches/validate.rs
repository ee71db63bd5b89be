//! Validation throughput over realistic events of the whole catalogue.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sightline_generator::{EventGenerator, GeneratorConfig};
use sightline_model::{CurrencyCode, CurrencyPolicy, validate_event};

fn validation(criterion: &mut Criterion) {
    let mut generator = EventGenerator::new(GeneratorConfig::default());
    let events: Vec<String> = (0..100_000)
        .map(|_| {
            let mut line = String::new();
            generator.next_event(&mut line);
            line
        })
        .collect();
    let policy = CurrencyPolicy::reporting_only(CurrencyCode::parse("EUR").expect("valid code"));
    let mut group = criterion.benchmark_group("validate");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("catalogue_mix_100k", |bencher| {
        bencher.iter(|| {
            let mut valid = 0usize;
            for event in &events {
                valid += validate_event(event, &policy, 0).is_ok() as usize;
            }
            assert_eq!(valid, events.len());
        })
    });
    group.finish();
}

criterion_group!(benches, validation);
criterion_main!(benches);
