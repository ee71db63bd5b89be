//! `latency --push`: how long after its POST is acknowledged a probe's effect reaches a
//! client of `GET /v1/stream` (the `push_probe` KPI of `bench/push-probe.toml`: the
//! latest probe number).

use std::time::Instant;

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::http::Target;
use crate::stats::LatencySummary;

/// Probe number `n` as a structured CloudEvent.
pub fn probe_event(out: &mut String, n: u64) {
    let time = sightline_generator::time::format_rfc3339_millis(crate::now_us());
    out.push_str(&format!(
        r#"{{"specversion":"1.0","id":"push-probe-{run}-{n}","source":"loadgen/push-probe","type":"loadgen.probe","time":"{time}","data":{{"n":{n}}}}}"#,
        run = std::process::id(),
    ));
}

/// A stream client noting when each new probe number arrives.
pub struct PushWatch {
    arrivals: mpsc::UnboundedReceiver<(u64, Instant)>,
    reader: JoinHandle<()>,
}

impl PushWatch {
    /// Connects and waits for the stream's first event, so probes sent after this are
    /// all seen.
    pub async fn start(target: &Target) -> Result<PushWatch> {
        let mut stream = TcpStream::connect(&target.addr)
            .await
            .with_context(|| format!("cannot connect to {} for the stream", target.addr))?;
        let request = format!(
            "GET /v1/stream?kpis=push_probe HTTP/1.0\r\nhost: {}\r\n\r\n",
            target.addr
        );
        stream.write_all(request.as_bytes()).await?;
        let mut lines = BufReader::new(stream).lines();
        let status = lines.next_line().await?.unwrap_or_default();
        if !status.contains(" 200 ") {
            anyhow::bail!(
                "GET /v1/stream?kpis=push_probe answered {status:?}: load bench/push-probe.toml in the server's [kpis] files"
            );
        }
        // Headers, then the snapshot's first line.
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("event:") {
                break;
            }
        }
        let (sender, arrivals) = mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut seen = 0;
            while let Ok(Some(line)) = lines.next_line().await {
                let Some(data) = line.strip_prefix("data:") else {
                    continue;
                };
                let Some(n) = latest_probe(data.trim()) else {
                    continue;
                };
                if n > seen {
                    seen = n;
                    if sender.send((n, Instant::now())).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(PushWatch { arrivals, reader })
    }

    /// Per probe (acknowledged at `acked_at[n - 1]`), the delay until a frame showed it
    /// or a later one; and how many never showed within two seconds of the last.
    pub async fn finish(mut self, acked_at: &[Instant]) -> (LatencySummary, usize) {
        let total = acked_at.len() as u64;
        let mut latencies_us = Vec::with_capacity(acked_at.len());
        let mut covered = 0u64;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while covered < total {
            let next = tokio::time::timeout_at(deadline, self.arrivals.recv()).await;
            let Ok(Some((n, arrived))) = next else {
                break;
            };
            for probe in covered + 1..=n.min(total) {
                let acked = acked_at[(probe - 1) as usize];
                let delay = arrived.saturating_duration_since(acked);
                latencies_us.push(u32::try_from(delay.as_micros()).unwrap_or(u32::MAX));
            }
            covered = covered.max(n.min(total));
        }
        self.reader.abort();
        let missing = acked_at.len() - latencies_us.len();
        (LatencySummary::from_us(&mut latencies_us), missing)
    }
}

/// The probe number a `push_probe` frame holds.
pub fn latest_probe(data: &str) -> Option<u64> {
    let frame: serde_json::Value = serde_json::from_str(data).ok()?;
    if frame["name"] != "push_probe" {
        return None;
    }
    frame["values"][0]["value"]
        .as_u64()
        .or_else(|| frame["values"][0]["value"].as_str()?.parse().ok())
        .or_else(|| frame["values"][0]["value"].as_f64().map(|n| n as u64))
}
