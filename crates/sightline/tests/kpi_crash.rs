//! SIGKILL under load, restart from the engine checkpoint: KPIs count every stored event
//! exactly once (nothing missed, nothing twice).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::{Server, try_request};

const CLIENTS: usize = 3;
const EVENTS_PER_REQUEST: usize = 100;

fn order(id: &str, cents: u64, second: u64) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"test/kpi-crash","type":"order.created","time":"2026-11-27T10:{:02}:{:02}Z","data":{{"order_id":"{id}","total":"{}.{:02}","currency":"EUR"}}}}"#,
        second / 60 % 60,
        second % 60,
        cents / 100,
        cents % 100
    )
}

/// Sends orders, waits for an engine checkpoint written during this round and for more
/// acknowledgements after it, then SIGKILLs the server: the restart must restore the
/// checkpoint and replay the tail after it.
fn ingest_until_killed(
    server: Server,
    round: usize,
    acks_before_kill: usize,
    checkpoint: &std::path::Path,
) {
    let round_started = std::time::SystemTime::now();
    let address = server.address;
    let stop = Arc::new(AtomicBool::new(false));
    let sequence = Arc::new(AtomicUsize::new(0));
    let (acks, ack_signal) = mpsc::channel::<()>();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (stop, sequence, acks) = (Arc::clone(&stop), Arc::clone(&sequence), acks.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let body: String = (0..EVENTS_PER_REQUEST)
                        .map(|_| {
                            let number = sequence.fetch_add(1, Ordering::Relaxed) as u64;
                            order(
                                &format!("{round}-{client}-{number}"),
                                100 + number % 9_900,
                                number % 3_000,
                            ) + "\n"
                        })
                        .collect();
                    match try_request(
                        address,
                        "POST",
                        "/v1/events",
                        &[("content-type", "application/x-ndjson")],
                        body.as_bytes(),
                    ) {
                        Ok(response) if response.status == 200 => {
                            let _ = acks.send(());
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    drop(acks);
    for _ in 0..acks_before_kill {
        ack_signal.recv().expect("acknowledgements keep coming");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let written = std::fs::metadata(checkpoint).and_then(|meta| meta.modified());
        if written.is_ok_and(|time| time > round_started) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint was written in round {round}"
        );
        ack_signal.recv_timeout(Duration::from_millis(50)).ok();
    }
    for _ in 0..10 {
        ack_signal.recv().expect("acknowledgements keep coming");
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }
}

#[test]
fn kpis_count_every_stored_event_once_across_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Checkpoint often so the kills land between checkpoints with a tail to replay.
    let config = common::write_config(
        dir.path(),
        "[engine]\ncheckpoint_interval = \"200ms\"\n[time]\nidle_timeout = \"1h\"\n",
    );
    let data_dir = dir.path().join("data");
    for round in 0..3 {
        let server = Server::start(&data_dir, Some(&config));
        // Let a checkpoint land mid-run: wait for acknowledgements spread over time.
        ingest_until_killed(
            server,
            round,
            20 + round * 10,
            &data_dir.join("engine/checkpoint"),
        );
    }

    let server = Server::start(&data_dir, Some(&config));
    server.wait_until_ready();
    let hour = server.kpi_window(
        "/v1/kpis/orders?from=2026-11-27T10:00:00Z&to=2026-11-27T11:00:00Z",
        "1h",
    );
    let revenue = server
        .get("/v1/kpis/revenue_today?from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z")
        .json();
    let revenue_text = revenue["windows"][0]["values"][0]["value"].to_string();
    server.stop();

    let stored = common::stored_events(&data_dir);
    let expected_cents: u64 = stored
        .iter()
        .map(|event| {
            let total = event["data"]["total"].as_str().expect("total");
            let (units, cents) = total.split_once('.').expect("two decimals");
            units.parse::<u64>().expect("units") * 100 + cents.parse::<u64>().expect("cents")
        })
        .sum();
    assert_eq!(
        hour["values"][0]["value"],
        stored.len(),
        "orders counted once each"
    );
    let expected_revenue = rust_decimal_text(expected_cents);
    assert_eq!(
        revenue_text, expected_revenue,
        "revenue summed once each, exactly"
    );
    eprintln!(
        "KPI crash test: {} stored orders, revenue {expected_revenue}",
        stored.len()
    );
}

/// Cents as the engine prints an exact decimal (no trailing zeros).
fn rust_decimal_text(cents: u64) -> String {
    let text = format!("{}.{:02}", cents / 100, cents % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}
