//! Runs the whole commerce pack over generated events, for profilers:
//! `cargo run --release -p sightline-engine --example profile_pack -- 1000000`.

use sightline_engine::{COMMERCE_PACK, Calendar, Engine, EngineOptions, KpiPack};
use sightline_generator::{EventGenerator, GeneratorConfig};

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(1_000_000);
    let mut generator = EventGenerator::new(GeneratorConfig::default());
    let events: Vec<(i64, String)> = (0..count)
        .map(|_| {
            let mut line = String::new();
            generator.next_event(&mut line);
            (generator.last_event_time_us(), line)
        })
        .collect();
    let kpis = KpiPack::from_toml(COMMERCE_PACK, "commerce")
        .and_then(|pack| pack.compile(&Calendar::utc()))
        .expect("valid pack");
    let mut engine = Engine::new(kpis, EngineOptions::default());
    let started = std::time::Instant::now();
    for (time, payload) in &events {
        engine.process(*time, payload, 0);
    }
    let elapsed = started.elapsed();
    println!(
        "{count} events in {:.2} s: {:.0} events/s",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
    for (kpi, reason, skipped) in engine.skipped() {
        println!("  skipped by {kpi}: {skipped} ({reason})");
    }
}
