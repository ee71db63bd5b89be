//! `generate`: NDJSON to a file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::Instant;

use anyhow::{Context, Result};
use flate2::Compression;
use flate2::write::GzEncoder;
use sightline_generator::EventGenerator;
use sightline_generator::time::format_rfc3339_millis;

use crate::GenerateArgs;
use crate::stats::round3;

/// Events generated per write.
const CHUNK: u64 = 4096;

pub fn run(args: &GenerateArgs) -> Result<(String, serde_json::Value)> {
    let seed = args.traffic.seed.unwrap_or(1);
    let start_us = args.time.start_us(args.events)?;
    let mut generator = EventGenerator::new(args.traffic.config(seed, start_us, args.time.rate));
    let file = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut sink: Box<dyn Write> = if args.gzip {
        Box::new(GzEncoder::new(
            BufWriter::with_capacity(1 << 20, file),
            Compression::new(args.gzip_level),
        ))
    } else {
        Box::new(BufWriter::with_capacity(1 << 20, file))
    };
    let started = Instant::now();
    let mut buf = String::with_capacity(CHUNK as usize * 256);
    let mut left = args.events;
    let mut raw_bytes = 0u64;
    while left > 0 {
        let n = left.min(CHUNK);
        buf.clear();
        generator.write_ndjson(&mut buf, n as usize);
        raw_bytes += buf.len() as u64;
        sink.write_all(buf.as_bytes())
            .with_context(|| format!("writing {}", args.output.display()))?;
        left -= n;
    }
    sink.flush()?;
    drop(sink); // finishes the gzip stream
    let secs = started.elapsed().as_secs_f64();
    let file_bytes = std::fs::metadata(&args.output)?.len();
    let events = generator.events_generated();
    let per_sec = events as f64 / secs.max(1e-9);
    let avg = raw_bytes as f64 / events.max(1) as f64;
    let first = format_rfc3339_millis(start_us);
    let last = format_rfc3339_millis(generator.last_event_time_us());
    let human = format!(
        "generate: {events} events, {raw_bytes} bytes of NDJSON (avg {avg:.1} B/event){gz} to {out} in {secs:.3} s: \
         {per_sec:.0} events/s, {mbs:.1} MB/s\n  seed {seed} (run tag {tag}), event times {first} .. {last}",
        gz = if args.gzip {
            format!(", {file_bytes} bytes gzipped")
        } else {
            String::new()
        },
        out = args.output.display(),
        mbs = raw_bytes as f64 / secs.max(1e-9) / 1e6,
        tag = generator.run_tag(),
    );
    let machine = serde_json::json!({
        "mode": "generate",
        "events": events,
        "bytes": raw_bytes,
        "file_bytes": file_bytes,
        "gzip": args.gzip,
        "avg_event_bytes": round3(avg),
        "secs": round3(secs),
        "events_per_sec": per_sec.round(),
        "seed": seed,
        "run_tag": generator.run_tag(),
        "first_time": first,
        "last_time": last,
        "output": args.output.display().to_string(),
    });
    Ok((human, machine))
}
