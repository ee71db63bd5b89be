//! `latency`: ack latency of single structured events while a paced background load runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;
use sightline_generator::EventGenerator;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Interval, MissedTickBehavior};

use crate::http::{CLOUDEVENT, Conn, NDJSON, Target};
use crate::stats::{LatencySummary, Totals, round3};
use crate::{LatencyArgs, clock_seed, now_us, positive};

/// Sends one generated batch per tick until told to stop.
async fn background(
    mut conn: Conn,
    mut generator: EventGenerator,
    batch: usize,
    mut ticks: Interval,
    mut stop: watch::Receiver<bool>,
) -> Result<Totals> {
    let mut totals = Totals::default();
    let mut buf = String::with_capacity(batch * 256);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            _ = ticks.tick() => {}
        }
        buf.clear();
        generator.write_ndjson(&mut buf, batch);
        let body = Bytes::copy_from_slice(buf.as_bytes());
        let len = body.len() as u64;
        let (resp, latency_us) = conn.post(body, &NDJSON, false).await?;
        totals.record(batch as u64, len, latency_us, &resp);
    }
    Ok(totals)
}

fn paced(start: tokio::time::Instant, period: Duration) -> Interval {
    let mut i = tokio::time::interval_at(start, period);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

fn join_error(res: Result<Result<Totals>, tokio::task::JoinError>) -> anyhow::Error {
    match res {
        Ok(Ok(_)) => anyhow::anyhow!("a background connection stopped early"),
        Ok(Err(e)) => e.context("background load failed"),
        Err(e) => e.into(),
    }
}

pub async fn run(args: &LatencyArgs) -> Result<(String, serde_json::Value)> {
    let target = Arc::new(Target::parse(&args.url)?);
    let probe_rate = positive("--probe-rate", args.probe_rate)?;
    if !(args.background_rate.is_finite() && args.background_rate >= 0.0) {
        bail!("--background-rate must be >= 0");
    }
    let seed = args.traffic.seed.unwrap_or_else(clock_seed);
    let batch = args.background_batch as usize;
    let bg_conns = if args.background_rate > 0.0 {
        args.background_connections as usize
    } else {
        0
    };

    // Background: connection i sends at t0 + (i + k·n)·gap, gap = batch / rate.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut bg = JoinSet::new();
    let gap = Duration::from_secs_f64(if bg_conns > 0 {
        batch as f64 / args.background_rate
    } else {
        1.0
    });
    let t0 = tokio::time::Instant::now();
    let now = now_us();
    for i in 0..bg_conns {
        let conn = Conn::connect(target.clone()).await?;
        let config = args.traffic.config(
            seed.wrapping_add(1 + i as u64),
            now,
            args.background_rate / bg_conns as f64,
        );
        let ticks = paced(t0 + gap * i as u32, gap * bg_conns as u32);
        bg.spawn(background(
            conn,
            EventGenerator::new(config),
            batch,
            ticks,
            stop_rx.clone(),
        ));
    }
    let bg_started = Instant::now();

    // Warm-up, failing early if the background load does.
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs_f64(args.warmup_secs.max(0.0))) => {}
        Some(res) = bg.join_next() => return Err(join_error(res)),
    }

    // Probes: one structured event per request on their own connection.
    let mut probe_conn = Conn::connect(target.clone()).await?;
    let mut probe_traffic = args.traffic.clone();
    probe_traffic.source = args.probe_source.clone();
    let mut probe_gen = EventGenerator::new(probe_traffic.config(seed, now_us(), probe_rate));
    let mut ticks = paced(
        tokio::time::Instant::now(),
        Duration::from_secs_f64(1.0 / probe_rate),
    );
    let deadline = args
        .duration_secs
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut probes = Totals::default();
    probes.latencies_us.reserve(args.probes as usize);
    let mut event = String::with_capacity(1024);
    let pushed = match args.push {
        true => Some(crate::push::PushWatch::start(&target).await?),
        false => None,
    };
    let mut acked_at: Vec<Instant> = Vec::with_capacity(args.probes as usize);
    let probing = Instant::now();
    while probes.requests < args.probes {
        tokio::select! {
            biased;
            Some(res) = bg.join_next() => return Err(join_error(res)),
            _ = ticks.tick() => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        event.clear();
        match pushed {
            Some(_) => crate::push::probe_event(&mut event, acked_at.len() as u64 + 1),
            None => probe_gen.next_event(&mut event),
        }
        let body = Bytes::copy_from_slice(event.as_bytes());
        let len = body.len() as u64;
        let (resp, latency_us) = probe_conn.post(body, &CLOUDEVENT, false).await?;
        acked_at.push(Instant::now());
        probes.record(1, len, latency_us, &resp);
    }
    let push_summary = match pushed {
        Some(watch) => Some(watch.finish(&acked_at).await),
        None => None,
    };
    let probe_secs = probing.elapsed().as_secs_f64();

    let _ = stop_tx.send(true);
    let bg_secs = bg_started.elapsed().as_secs_f64();
    let mut background_totals = Totals::default();
    while let Some(res) = bg.join_next().await {
        match res {
            Ok(Ok(t)) => background_totals.merge(t),
            other => return Err(join_error(other)),
        }
    }

    let lat = LatencySummary::from_us(&mut probes.latencies_us);
    let bg_lat = LatencySummary::from_us(&mut background_totals.latencies_us);
    let achieved = background_totals.events_done() as f64 / bg_secs.max(1e-9);
    let human = format!(
        "latency: {} probes to {} at {probe_rate}/s over {probe_secs:.1} s; seed {seed}\n  \
         probe ack latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n  \
         background: {achieved:.0} events/s achieved (target {}) in batches of {batch} over {bg_conns} connections; \
         {} requests, latency ms p50 {:.2} p99 {:.2} max {:.2}",
        lat.count,
        target.display,
        lat.p50_ms,
        lat.p90_ms,
        lat.p99_ms,
        lat.p999_ms,
        lat.max_ms,
        args.background_rate,
        background_totals.requests,
        bg_lat.p50_ms,
        bg_lat.p99_ms,
        bg_lat.max_ms,
    );
    let mut human = human;
    if let Some((push_latency, missing)) = &push_summary {
        human.push_str(&format!(
            "\n  push (POST acknowledged → SSE frame) ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}; {missing} probes never seen",
            push_latency.p50_ms,
            push_latency.p90_ms,
            push_latency.p99_ms,
            push_latency.p999_ms,
            push_latency.max_ms,
        ));
    }
    let machine = serde_json::json!({
        "mode": "latency",
        "url": target.display,
        "seed": seed,
        "probes": lat.count,
        "probe_rate": probe_rate,
        "probe_secs": round3(probe_secs),
        "probe_latency": lat.to_json(),
        "probe_accepted": probes.ack.accepted,
        "background_target_rate": args.background_rate,
        "background_achieved_rate": achieved.round(),
        "background_batch": batch,
        "background_connections": bg_conns,
        "background_requests": background_totals.requests,
        "background_events": background_totals.events_sent,
        "background_latency": bg_lat.to_json(),
        "push_latency": push_summary.as_ref().map(|(latency, _)| latency.to_json()),
        "push_missing": push_summary.as_ref().map(|(_, missing)| *missing),
    });
    Ok((human, machine))
}
