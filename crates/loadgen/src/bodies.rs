//! Pre-generated request bodies: NDJSON batches, optionally gzip-compressed.

use std::io::Write as _;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use sightline_generator::EventGenerator;

/// One request body and the number of events in it.
#[derive(Clone, Debug)]
pub struct Body {
    pub bytes: Bytes,
    pub events: u64,
}

/// Generates `events` events as NDJSON bodies of `batch` events each (the last one may
/// be smaller); with `gzip_level`, compresses them on all cores as it goes (so only a
/// few uncompressed bodies exist at a time).
pub fn prepare(
    generator: &mut EventGenerator,
    events: u64,
    batch: usize,
    gzip_level: Option<u32>,
) -> Vec<Body> {
    let batch = batch.max(1) as u64;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let group = if gzip_level.is_some() {
        threads * 8
    } else {
        usize::MAX
    };
    let mut out = Vec::with_capacity(events.div_ceil(batch) as usize);
    let mut left = events;
    let mut plain: Vec<(String, u64)> = Vec::new();
    while left > 0 || !plain.is_empty() {
        if left > 0 && plain.len() < group {
            let n = left.min(batch);
            let mut s = String::with_capacity(n as usize * 240);
            generator.write_ndjson(&mut s, n as usize);
            plain.push((s, n));
            left -= n;
            continue;
        }
        match gzip_level {
            None => out.extend(plain.drain(..).map(|(s, events)| Body {
                bytes: Bytes::from(s.into_bytes()),
                events,
            })),
            Some(level) => {
                let chunk = plain.len().div_ceil(threads).max(1);
                std::thread::scope(|scope| {
                    let handles: Vec<_> = plain
                        .chunks(chunk)
                        .map(|part| {
                            scope.spawn(move || {
                                part.iter()
                                    .map(|(s, events)| Body {
                                        bytes: Bytes::from(gzip(s.as_bytes(), level)),
                                        events: *events,
                                    })
                                    .collect::<Vec<_>>()
                            })
                        })
                        .collect();
                    for h in handles {
                        out.extend(h.join().expect("gzip worker panicked"));
                    }
                });
                plain.clear();
            }
        }
    }
    out
}

/// gzip-compresses `data` in memory.
pub fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 5 + 64),
        Compression::new(level),
    );
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use sightline_generator::GeneratorConfig;

    use super::*;

    #[test]
    fn batches_split_events_and_gzip_round_trips() {
        let mut g = EventGenerator::new(GeneratorConfig::default());
        let bodies = prepare(&mut g, 2500, 1000, None);
        assert_eq!(
            bodies.iter().map(|b| b.events).collect::<Vec<_>>(),
            [1000, 1000, 500]
        );
        for b in &bodies {
            let text = std::str::from_utf8(&b.bytes).expect("utf-8");
            assert!(text.ends_with('\n'));
            assert_eq!(text.lines().count() as u64, b.events);
        }
        let mut g = EventGenerator::new(GeneratorConfig::default());
        let zipped = prepare(&mut g, 2500, 1000, Some(1));
        assert_eq!(zipped.len(), 3);
        for (z, p) in zipped.iter().zip(&bodies) {
            let mut d = flate2::read::GzDecoder::new(&z.bytes[..]);
            let mut s = Vec::new();
            d.read_to_end(&mut s).expect("valid gzip");
            assert_eq!(s, p.bytes);
            assert!(z.bytes.len() * 3 < p.bytes.len());
        }
        assert!(prepare(&mut g, 0, 10, None).is_empty());
    }
}
