//! SIGKILL during concurrent ingest: after a restart, every acknowledged event is in the
//! log exactly once, and the dedup state remembers it.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use common::{Server, queue_depth_event, try_request};

const CLIENTS: usize = 4;
const EVENTS_PER_REQUEST: usize = 200;
const ACKED_REQUESTS_BEFORE_KILL: usize = 40;
/// Each round kills the server mid-ingest, so later rounds recover logs that were torn.
const ROUNDS: usize = 3;

#[test]
fn every_acknowledged_event_survives_sigkill_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..ROUNDS {
        ingest_until_killed(dir.path(), round, &acknowledged);
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(acknowledged.len() >= ROUNDS * ACKED_REQUESTS_BEFORE_KILL * EVENTS_PER_REQUEST);
    verify(dir.path(), &acknowledged);
}

fn ingest_until_killed(
    data_dir: &std::path::Path,
    round: usize,
    acknowledged: &Arc<Mutex<Vec<String>>>,
) {
    let server = Server::start(data_dir, None);
    let address = server.address;
    let stop = Arc::new(AtomicBool::new(false));
    let (acks, ack_signal) = mpsc::channel::<()>();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let acknowledged = Arc::clone(acknowledged);
            let stop = Arc::clone(&stop);
            let acks = acks.clone();
            std::thread::spawn(move || {
                let mut sequence = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<String> = (0..EVENTS_PER_REQUEST)
                        .map(|_| {
                            sequence += 1;
                            format!("crash-{round}-{client}-{sequence}")
                        })
                        .collect();
                    let body: String = ids
                        .iter()
                        .map(|id| queue_depth_event(id, 1) + "\n")
                        .collect();
                    let outcome = try_request(
                        address,
                        "POST",
                        "/v1/events",
                        &[("content-type", "application/x-ndjson")],
                        body.as_bytes(),
                    );
                    let Ok(response) = outcome else {
                        return; // the server is gone
                    };
                    if response.status != 200 {
                        return;
                    }
                    let json = response.json();
                    let counted = json["accepted"].as_u64().unwrap_or(0)
                        + json["duplicates"].as_u64().unwrap_or(0);
                    assert_eq!(
                        counted as usize, EVENTS_PER_REQUEST,
                        "a 200 answer covers every event: {json}"
                    );
                    acknowledged.lock().expect("lock").extend(ids);
                    let _ = acks.send(());
                }
            })
        })
        .collect();
    drop(acks);

    for _ in 0..ACKED_REQUESTS_BEFORE_KILL {
        ack_signal
            .recv()
            .expect("clients keep getting acknowledgements");
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }
}

fn verify(dir: &std::path::Path, acknowledged: &[String]) {
    // Restart: recovery runs, and the dedup state must know every acknowledged event.
    let server = Server::start(dir, None);
    let replay: String = acknowledged
        .iter()
        .take(1000)
        .map(|id| queue_depth_event(id, 1) + "\n")
        .collect();
    let response = server.post("application/x-ndjson", replay.as_bytes());
    let json = response.json();
    assert_eq!(
        json["accepted"], 0,
        "acknowledged events are remembered after SIGKILL: {json}"
    );
    assert_eq!(json["duplicates"], 1000);
    server.stop();

    let mut copies: HashMap<String, usize> = HashMap::new();
    for event in common::stored_events(dir) {
        *copies
            .entry(event["id"].as_str().expect("id").to_owned())
            .or_default() += 1;
    }
    let twice: Vec<_> = copies.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "events stored twice: {twice:?}");
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|id| !copies.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    eprintln!(
        "crash test: {} acknowledged, {} in the log after SIGKILL and restart",
        acknowledged.len(),
        copies.len()
    );
}
