//! `fanout`: many clients of `GET /v1/stream` at once. Probes (the `push_probe` KPI of
//! `bench/push-probe.toml`) are posted at a steady rate; every client notes when each
//! probe's number reaches it. Reports the delivery lag over all clients and probes, and,
//! given the server's pid, its CPU and RSS while they were connected.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::FanoutArgs;
use crate::http::{CLOUDEVENT, Conn, Target};
use crate::push::{latest_probe, probe_event};
use crate::stats::LatencySummary;

/// One client: connects, waits for its snapshot, then records `(probe, arrival)` for
/// every new probe number until told to stop.
async fn client(
    address: String,
    connected: tokio::sync::mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<(u64, Instant)>> {
    let mut stream = TcpStream::connect(&address).await?;
    let request = format!("GET /v1/stream?kpis=push_probe HTTP/1.0\r\nhost: {address}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut lines = BufReader::new(stream).lines();
    let status = lines.next_line().await?.unwrap_or_default();
    if !status.contains(" 200 ") {
        bail!("GET /v1/stream?kpis=push_probe answered {status:?}");
    }
    while let Some(line) = lines.next_line().await? {
        if line.starts_with("event:") {
            break;
        }
    }
    let _ = connected.send(()).await;
    let mut arrivals = Vec::new();
    let mut seen = 0;
    loop {
        let line = tokio::select! {
            biased;
            _ = stop.changed() => break,
            line = lines.next_line() => line?,
        };
        let Some(line) = line else { break };
        let Some(n) = line
            .strip_prefix("data:")
            .and_then(|data| latest_probe(data.trim()))
        else {
            continue;
        };
        if n > seen {
            seen = n;
            arrivals.push((n, Instant::now()));
        }
    }
    Ok(arrivals)
}

/// CPU seconds (user + system) and RSS in KiB of a local process, from /proc.
fn process_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // Linux reports CPU time in clock ticks of 1/100 s on every common configuration.
    Some((ticks / 100.0, rss))
}

pub async fn run(args: &FanoutArgs) -> Result<(String, serde_json::Value)> {
    let target = std::sync::Arc::new(Target::parse(&args.url)?);
    let clients = args.clients as usize;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (connected_tx, mut connected_rx) = tokio::sync::mpsc::channel(clients.max(1));
    let mut tasks = JoinSet::new();
    let connecting = Instant::now();
    for _ in 0..clients {
        tasks.spawn(client(
            target.addr.clone(),
            connected_tx.clone(),
            stop_rx.clone(),
        ));
    }
    drop(connected_tx);
    for count in 0..clients {
        let waited = tokio::time::timeout(Duration::from_secs(60), connected_rx.recv()).await;
        if !matches!(waited, Ok(Some(()))) {
            bail!(
                "only {count} of {clients} clients connected within a minute (file descriptors? ulimit -n)"
            );
        }
    }
    let connect_secs = connecting.elapsed().as_secs_f64();
    let usage_before = args.server_pid.and_then(process_usage);

    let mut probe_conn = Conn::connect(target.clone())
        .await
        .context("cannot connect for the probes")?;
    let mut acked_at = Vec::with_capacity(args.probes as usize);
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / args.probe_rate.max(0.1)));
    let probing = Instant::now();
    let mut event = String::new();
    for n in 1..=args.probes {
        ticks.tick().await;
        event.clear();
        probe_event(&mut event, n);
        // A probe that is not accepted fails the run (`post` checks the status).
        probe_conn
            .post(Bytes::copy_from_slice(event.as_bytes()), &CLOUDEVENT, false)
            .await
            .with_context(|| format!("probe {n}"))?;
        acked_at.push(Instant::now());
    }
    // Time for the last frames to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let probe_secs = probing.elapsed().as_secs_f64();
    let usage_after = args.server_pid.and_then(process_usage);
    let _ = stop_tx.send(true);

    let mut lags_us = Vec::with_capacity(clients * acked_at.len());
    let mut missing = 0usize;
    let mut failed = 0usize;
    while let Some(finished) = tasks.join_next().await {
        let Ok(Ok(arrivals)) = finished else {
            failed += 1;
            continue;
        };
        let mut covered = 0u64;
        for (n, arrived) in arrivals {
            for probe in covered + 1..=n.min(acked_at.len() as u64) {
                let delay = arrived.saturating_duration_since(acked_at[(probe - 1) as usize]);
                lags_us.push(u32::try_from(delay.as_micros()).unwrap_or(u32::MAX));
            }
            covered = covered.max(n.min(acked_at.len() as u64));
        }
        missing += acked_at.len() - covered as usize;
    }
    let lag = LatencySummary::from_us(&mut lags_us);
    let server = match (usage_before, usage_after) {
        (Some((cpu_before, _)), Some((cpu_after, rss_kib))) => Some((
            (cpu_after - cpu_before) / probe_secs.max(1e-9) * 100.0,
            rss_kib / 1024,
        )),
        _ => None,
    };
    let mut human = format!(
        "fanout: {clients} stream clients connected in {connect_secs:.1} s; {} probes at {}/s\n  \
         delivery lag (probe acknowledged → frame at each client) ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n  \
         {missing} deliveries missing, {failed} clients failed",
        acked_at.len(),
        args.probe_rate,
        lag.p50_ms,
        lag.p90_ms,
        lag.p99_ms,
        lag.p999_ms,
        lag.max_ms,
    );
    if let Some((cpu_percent, rss_mib)) = server {
        human.push_str(&format!(
            "\n  server while probing: CPU {cpu_percent:.0} % of one core, RSS {rss_mib} MiB"
        ));
    }
    let machine = serde_json::json!({
        "mode": "fanout",
        "clients": clients,
        "connect_secs": (connect_secs * 1000.0).round() / 1000.0,
        "probes": acked_at.len(),
        "probe_rate": args.probe_rate,
        "delivery_lag": lag.to_json(),
        "missing": missing,
        "failed_clients": failed,
        "server_cpu_percent": server.map(|(cpu, _)| cpu.round()),
        "server_rss_mib": server.map(|(_, rss)| rss),
    });
    Ok((human, machine))
}
