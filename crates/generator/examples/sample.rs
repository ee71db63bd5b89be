//! Prints generated events as NDJSON: `cargo run -p sightline-generator --example sample -- [N] [SEED]`.
use sightline_generator::{EventGenerator, GeneratorConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let mut g = EventGenerator::new(GeneratorConfig {
        seed,
        ..Default::default()
    });
    let mut out = String::new();
    g.write_ndjson(&mut out, n);
    print!("{out}");
}
