//! `ingest`: bulk NDJSON throughput over many keep-alive connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Result;
use sightline_generator::EventGenerator;
use tokio::task::JoinSet;

use crate::bodies::{self, Body};
use crate::http::{Conn, NDJSON, Target};
use crate::stats::{LatencySummary, Totals, round3};
use crate::{IngestArgs, clock_seed};

/// Bodies to send, handed out in order to whichever connection is free.
struct Queue {
    bodies: Vec<Body>,
    next: AtomicUsize,
}

impl Queue {
    fn pop(&self) -> Option<&Body> {
        self.bodies.get(self.next.fetch_add(1, Ordering::Relaxed))
    }
}

/// Result of sending all bodies.
#[derive(Debug)]
pub struct Outcome {
    pub totals: Totals,
    pub wall_secs: f64,
}

/// Sends every body once over `connections` connections; fails on the first error.
pub async fn send_all(
    target: Arc<Target>,
    bodies: Vec<Body>,
    connections: usize,
    gzip: bool,
) -> Result<Outcome> {
    let queue = Arc::new(Queue {
        bodies,
        next: AtomicUsize::new(0),
    });
    let per_conn = queue.bodies.len() / connections.max(1) + 1;
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::connect(target.clone()).await?);
    }
    let started = Instant::now();
    let mut set = JoinSet::new();
    for mut conn in conns {
        let queue = queue.clone();
        set.spawn(async move {
            let mut t = Totals::default();
            t.latencies_us.reserve(per_conn);
            while let Some(body) = queue.pop() {
                let (resp, latency_us) = conn.post(body.bytes.clone(), &NDJSON, gzip).await?;
                t.record(body.events, body.bytes.len() as u64, latency_us, &resp);
            }
            anyhow::Ok(t)
        });
    }
    let mut totals = Totals::default();
    while let Some(res) = set.join_next().await {
        match res {
            Ok(Ok(t)) => totals.merge(t),
            Ok(Err(e)) => {
                set.abort_all();
                return Err(e);
            }
            Err(e) => {
                set.abort_all();
                return Err(e.into());
            }
        }
    }
    Ok(Outcome {
        totals,
        wall_secs: started.elapsed().as_secs_f64(),
    })
}

pub async fn run(args: &IngestArgs) -> Result<(String, serde_json::Value)> {
    let target = Arc::new(Target::parse(&args.url)?);
    let seed = args.traffic.seed.unwrap_or_else(clock_seed);
    let start_us = args.time.start_us(args.events)?;
    let mut generator = EventGenerator::new(args.traffic.config(seed, start_us, args.time.rate));
    let prep = Instant::now();
    let bodies = bodies::prepare(
        &mut generator,
        args.events,
        args.batch as usize,
        args.gzip.then_some(args.gzip_level),
    );
    let prep_secs = prep.elapsed().as_secs_f64();
    let requests = bodies.len();
    let wire_bytes: u64 = bodies.iter().map(|b| b.bytes.len() as u64).sum();
    eprintln!(
        "ingest: prepared {} events in {requests} requests ({:.1} MB{}) in {prep_secs:.2} s; seed {seed} (run tag {}); sending to {}",
        args.events,
        wire_bytes as f64 / 1e6,
        if args.gzip { " gzipped" } else { "" },
        generator.run_tag(),
        target.display,
    );

    let Outcome {
        mut totals,
        wall_secs,
    } = send_all(target.clone(), bodies, args.connections as usize, args.gzip).await?;
    let lat = LatencySummary::from_us(&mut totals.latencies_us);
    let done = totals.events_done();
    let events_per_sec = done as f64 / wall_secs.max(1e-9);
    let requests_per_sec = totals.requests as f64 / wall_secs.max(1e-9);
    let mb_per_sec = totals.body_bytes as f64 / wall_secs.max(1e-9) / 1e6;
    let a = totals.ack;
    let mut human = format!(
        "ingest: {} events in {} requests over {} connections to {} (batch {}{})\n  \
         wall {wall_secs:.3} s: {events_per_sec:.0} events/s, {requests_per_sec:.1} requests/s, {mb_per_sec:.1} MB/s of request body\n  \
         acked: accepted {}, duplicates {}, rejected {}\n  \
         request latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        totals.events_sent,
        totals.requests,
        args.connections,
        target.display,
        args.batch,
        if args.gzip { ", gzip" } else { "" },
        a.accepted,
        a.duplicates,
        a.rejected,
        lat.p50_ms,
        lat.p90_ms,
        lat.p99_ms,
        lat.max_ms,
    );
    if totals.unparsed_requests > 0 {
        human.push_str(&format!(
            "\n  WARNING: {} 2xx responses ({} events) had no {{\"accepted\": …}} body; counted as done",
            totals.unparsed_requests, totals.unparsed_events
        ));
    }
    let acked = a.accepted + a.duplicates + a.rejected;
    if totals.unparsed_requests == 0 && acked != totals.events_sent {
        human.push_str(&format!(
            "\n  WARNING: the server acknowledged {acked} of {} events sent",
            totals.events_sent
        ));
    }
    let machine = serde_json::json!({
        "mode": "ingest",
        "url": target.display,
        "connections": args.connections,
        "batch": args.batch,
        "gzip": args.gzip,
        "seed": seed,
        "run_tag": generator.run_tag(),
        "events_sent": totals.events_sent,
        "requests": totals.requests,
        "body_bytes": totals.body_bytes,
        "accepted": a.accepted,
        "duplicates": a.duplicates,
        "rejected": a.rejected,
        "unparsed_responses": totals.unparsed_requests,
        "wall_secs": round3(wall_secs),
        "events_per_sec": events_per_sec.round(),
        "requests_per_sec": round3(requests_per_sec),
        "latency": lat.to_json(),
        "prepare_secs": round3(prep_secs),
    });
    Ok((human, machine))
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use sightline_generator::GeneratorConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// Just enough of an HTTP/1.1 server to exercise the client: acks every NDJSON line
    /// (gunzipping when asked), or answers every request with `fail_status`.
    async fn responder(fail_status: Option<u16>) -> Result<String> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, fail_status));
            }
        });
        Ok(format!("http://{addr}"))
    }

    async fn serve(mut stream: TcpStream, fail_status: Option<u16>) -> Result<()> {
        let mut buf = Vec::new();
        loop {
            let head_end = loop {
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break p + 4;
                }
                let mut chunk = [0u8; 65536];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            assert!(head.starts_with("post /v1/events http/1.1\r\n"), "{head}");
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            };
            let len: usize = header("content-length:")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let mut chunk = [0u8; 65536];
                let n = stream.read(&mut chunk).await?;
                anyhow::ensure!(n > 0, "short body");
                buf.extend_from_slice(&chunk[..n]);
            }
            let body: Vec<u8> = buf.drain(..head_end + len).skip(head_end).collect();
            let text = if header("content-encoding:").as_deref() == Some("gzip") {
                let mut s = String::new();
                flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut s)?;
                s
            } else {
                String::from_utf8(body)?
            };
            assert_eq!(
                header("content-type:").as_deref(),
                Some("application/x-ndjson")
            );
            let (status, reply) = match fail_status {
                Some(s) => (s, "bad event at line 3".to_string()),
                None => {
                    let n = text.lines().count();
                    // Pretend the first line of each request was a duplicate.
                    (
                        200,
                        format!(r#"{{"accepted":{},"duplicates":1,"rejected":[]}}"#, n - 1),
                    )
                }
            };
            let resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                reply.len()
            );
            stream.write_all(resp.as_bytes()).await?;
        }
    }

    fn bodies(events: u64, batch: usize, gzip: bool) -> Vec<Body> {
        let mut g = EventGenerator::new(GeneratorConfig::default());
        bodies::prepare(&mut g, events, batch, gzip.then_some(1))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sends_every_body_once_and_sums_acks() -> Result<()> {
        let url = responder(None).await?;
        for gzip in [false, true] {
            let target = Arc::new(Target::parse(&url)?);
            let out = send_all(target, bodies(10_050, 100, gzip), 4, gzip).await?;
            let t = out.totals;
            assert_eq!((t.requests, t.events_sent), (101, 10_050));
            assert_eq!(
                (t.ack.accepted, t.ack.duplicates, t.ack.rejected),
                (10_050 - 101, 101, 0)
            );
            assert_eq!(t.unparsed_requests, 0);
            assert_eq!(t.latencies_us.len(), 101);
        }
        Ok(())
    }

    #[tokio::test]
    async fn fails_loudly_on_non_2xx() -> Result<()> {
        let url = responder(Some(400)).await?;
        let target = Arc::new(Target::parse(&url)?);
        let err = send_all(target, bodies(500, 100, false), 2, false)
            .await
            .expect_err("must fail");
        let msg = format!("{err:#}");
        assert!(
            msg.contains("400") && msg.contains("bad event at line 3"),
            "{msg}"
        );
        Ok(())
    }

    #[tokio::test]
    async fn fails_when_nobody_listens() -> Result<()> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        drop(listener);
        let target = Arc::new(Target::parse(&format!("http://{addr}"))?);
        assert!(
            send_all(target, bodies(10, 10, false), 1, false)
                .await
                .is_err()
        );
        Ok(())
    }
}
