//! `POST /v1/events` end to end against the real binary: the four modes, gzip, per-event
//! rejections, dedup across a restart, the error statuses, and slow clients.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{Server, gzip, queue_depth_event, request, stored_events, write_config};

fn error_text(response: &common::Response) -> String {
    response.json()["error"]
        .as_str()
        .expect("a JSON error")
        .to_owned()
}

fn post_encoded(
    server: &Server,
    content_type: &str,
    encoding: &str,
    body: &[u8],
) -> common::Response {
    request(
        server.address,
        "POST",
        "/v1/events",
        &[
            ("content-type", content_type),
            ("content-encoding", encoding),
        ],
        body,
    )
}

fn accepted(response: &common::Response) -> (u64, u64, usize) {
    let json = response.json();
    (
        json["accepted"].as_u64().expect("accepted"),
        json["duplicates"].as_u64().expect("duplicates"),
        json["rejected"].as_array().expect("rejected").len(),
    )
}

#[test]
fn structured_mode_accepts_the_spec_example_and_dedups_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);
    let example = r#"{"specversion":"1.0","id":"5921","source":"shopify/acme.myshopify.com",
 "type":"order.created","time":"2026-11-27T14:03:11.120Z",
 "data":{"order_id":"5921","total":"84.50","currency":"EUR","customer_id":"c-77",
         "session_id":"s-9d2","region":"DE-BY","channel":"web","segment":"returning",
         "lines":[{"sku":"MUG-01","name":"Mug","quantity":2,"price":"12.25"},
                  {"sku":"TEE-04","name":"Tee","quantity":1,"price":"60.00"}]}}"#;
    let first = server.post("application/cloudevents+json", example.as_bytes());
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(accepted(&first), (1, 0, 0));
    let again = server.post(
        "application/cloudevents+json; charset=utf-8",
        example.as_bytes(),
    );
    assert_eq!(accepted(&again), (0, 1, 0));
    server.stop();
    let stored = stored_events(dir.path());
    assert_eq!(stored.len(), 1, "a duplicate is never appended");
    assert_eq!(stored[0]["data"]["total"], "84.50");
}

#[test]
fn batch_mode_rejects_one_bad_event_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);
    let body = format!(
        "[{},{},{}]",
        queue_depth_event("b-1", 1),
        r#"{"specversion":"1.0","id":"b-2","source":"test/harness","type":"queue.depth","data":{"queue":"emails","depth":-3}}"#,
        queue_depth_event("b-3", 3)
    );
    let response = server.post("application/cloudevents-batch+json", body.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    let json = response.json();
    assert_eq!(json["accepted"], 2);
    assert_eq!(json["duplicates"], 0);
    assert_eq!(json["rejected"][0]["index"], 1);
    assert_eq!(json["rejected"][0]["id"], "b-2");
    assert_eq!(
        json["rejected"][0]["reason"],
        "data.depth: expected an integer of at least 0, got -3"
    );

    let letters = server.get("/v1/dead-letters").json();
    assert_eq!(letters["total"], 1);
    assert_eq!(
        letters["items"][0]["reason"],
        "data.depth: expected an integer of at least 0, got -3"
    );
    assert!(
        letters["items"][0]["raw"]
            .as_str()
            .expect("raw")
            .contains("\"b-2\"")
    );
    assert!(
        letters["items"][0]["time"]
            .as_str()
            .expect("time")
            .ends_with('Z')
    );
}

#[test]
fn ndjson_indexes_are_line_numbers_and_gzip_works() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);
    let body = format!(
        "{}\n\n{}\nnot json\n{}\n",
        queue_depth_event("n-0", 0),
        queue_depth_event("n-2", 2),
        queue_depth_event("n-4", 4)
    );
    let response = server.post("application/x-ndjson", body.as_bytes());
    let json = response.json();
    assert_eq!(json["accepted"], 3, "{json}");
    assert_eq!(
        json["rejected"][0]["index"], 3,
        "the bad line is line 3 counting from 0"
    );
    assert!(
        json["rejected"][0]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("invalid JSON at line 1 column"),
        "{json}"
    );

    let compressed = gzip(
        format!(
            "{}\n{}\n",
            queue_depth_event("g-1", 1),
            queue_depth_event("n-0", 0)
        )
        .as_bytes(),
    );
    let response = post_encoded(&server, "application/x-ndjson", "gzip", &compressed);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(accepted(&response), (1, 1, 0));
}

#[test]
fn binary_mode_reads_percent_encoded_ce_headers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);
    let headers = [
        ("content-type", "application/json"),
        ("ce-specversion", "1.0"),
        ("ce-id", "bin-1"),
        ("ce-source", "web%2Fcheckout%20eu"),
        ("ce-type", "page.viewed"),
        ("ce-time", "2026-11-27T10:00:00Z"),
        ("ce-traceparent", "00-abc-def-01"),
    ];
    let response = request(
        server.address,
        "POST",
        "/v1/events",
        &headers,
        br#"{"session_id":"s-1","visitor_id":"v-1","path":"/"}"#,
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(accepted(&response), (1, 0, 0));

    // The same identity in structured mode is a duplicate: the source was decoded.
    let structured = r#"{"specversion":"1.0","id":"bin-1","source":"web/checkout eu","type":"page.viewed","data":{"session_id":"s-1","visitor_id":"v-1"}}"#;
    assert_eq!(
        accepted(&server.post("application/cloudevents+json", structured.as_bytes())),
        (0, 1, 0)
    );

    let missing_id = [
        ("content-type", "application/json"),
        ("ce-specversion", "1.0"),
        ("ce-source", "x"),
        ("ce-type", "page.viewed"),
    ];
    let response = request(
        server.address,
        "POST",
        "/v1/events",
        &missing_id,
        br#"{"session_id":"s","visitor_id":"v"}"#,
    );
    assert_eq!(response.status, 400);
    assert_eq!(
        response.json()["rejected"][0]["reason"],
        "id: required field is missing"
    );
    server.stop();

    let stored = stored_events(dir.path());
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["source"], "web/checkout eu");
    assert_eq!(stored[0]["traceparent"], "00-abc-def-01");
    assert_eq!(stored[0]["data"]["visitor_id"], "v-1");
}

#[test]
fn an_event_without_time_is_stamped_and_marked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);
    let before = sightline_model::time::now_micros();
    let event = r#"{"specversion":"1.0","id":"t-1","source":"test/harness","type":"queue.depth","data":{"queue":"q","depth":1}}"#;
    assert_eq!(
        accepted(&server.post("application/cloudevents+json", event.as_bytes())),
        (1, 0, 0)
    );
    server.stop();
    let stored = stored_events(dir.path());
    assert_eq!(stored[0]["sightlinetimesource"], "ingest");
    let time = sightline_model::time::parse_rfc3339(stored[0]["time"].as_str().expect("time"))
        .expect("RFC 3339");
    assert!(
        time >= before - 1_000_000 && time <= sightline_model::time::now_micros(),
        "receive time is used"
    );
}

#[test]
fn a_request_where_every_event_is_rejected_is_a_400_with_reasons() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);
    let event = r#"{"specversion":"1.0","id":"x","source":"s","type":"order.paid","data":{"order_id":"1","amount":"5","currency":"JPY"}}"#;
    let response = server.post("application/cloudevents+json", event.as_bytes());
    assert_eq!(response.status, 400);
    let json = response.json();
    assert_eq!(json["accepted"], 0);
    assert_eq!(
        json["rejected"][0]["reason"],
        "data.currency: JPY has no conversion rate to the reporting currency EUR; add JPY under [currency.rates] in the configuration"
    );
}

#[test]
fn wrong_content_type_encoding_and_unreadable_bodies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "[server]\nmax_body = \"4 KiB\"\n");
    let server = Server::start(&dir.path().join("data"), Some(&config));

    let response = server.post("text/csv", b"a,b");
    assert_eq!(response.status, 415);
    let json = response.json();
    assert!(
        json["error"]
            .as_str()
            .expect("error")
            .contains("application/cloudevents+json"),
        "{json}"
    );
    assert!(
        json["accepted_content_types"]
            .as_array()
            .expect("list")
            .len()
            >= 3
    );

    let response = post_encoded(&server, "application/x-ndjson", "br", b"x");
    assert_eq!(response.status, 415);
    assert!(error_text(&response).contains("gzip"));

    let response = post_encoded(&server, "application/x-ndjson", "gzip", b"not gzip at all");
    assert_eq!(response.status, 400);
    assert!(error_text(&response).contains("gzip"));

    let response = server.post(
        "application/cloudevents-batch+json",
        b"{\"not\":\"an array\"}",
    );
    assert_eq!(response.status, 400);
    assert!(error_text(&response).contains("JSON array"));

    let big = "x".repeat(5000);
    let response = server.post("application/x-ndjson", big.as_bytes());
    assert_eq!(response.status, 413);
    assert!(error_text(&response).contains("4096"));

    // A small gzip body that inflates past the limit is caught after decompression.
    let bomb = gzip(&vec![b' '; 100_000]);
    assert!(bomb.len() < 4096);
    let response = post_encoded(&server, "application/x-ndjson", "gzip", &bomb);
    assert_eq!(response.status, 413, "{}", response.text());

    // Bad dead-letter parameters name the parameter.
    let response = server.get("/v1/dead-letters?limit=lots");
    assert_eq!(response.status, 400);
    assert!(error_text(&response).starts_with("limit:"));
}

#[test]
fn dedup_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let body: String = (0..50)
        .map(|index| queue_depth_event(&format!("r-{index}"), index) + "\n")
        .collect();
    let server = Server::start(dir.path(), None);
    assert_eq!(
        accepted(&server.post("application/x-ndjson", body.as_bytes())),
        (50, 0, 0)
    );
    server.stop();

    let server = Server::start(dir.path(), None);
    assert_eq!(
        accepted(&server.post("application/x-ndjson", body.as_bytes())),
        (0, 50, 0)
    );
    server.stop();
    assert_eq!(stored_events(dir.path()).len(), 50);
}

#[test]
fn dead_letters_filter_by_reason_and_list_newest_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);
    let body = [
        r#"{"specversion":"1.0","id":"d-1","source":"s","type":"queue.depth","data":{"queue":"q"}}"#,
        r#"{"specversion":"1.0","id":"d-2","source":"s","type":"queue.depth","data":{"queue":"q","depth":"deep"}}"#,
        r#"{"specversion":"1.0","id":"d-3","source":"s","type":"queue.depth","data":{"depth":1}}"#,
        "{",
    ]
    .join("\n");
    server.post("application/x-ndjson", body.as_bytes());

    let all = server.get("/v1/dead-letters").json();
    assert_eq!(all["total"], 4);
    let raws: Vec<&str> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["raw"].as_str().expect("raw"))
        .collect();
    assert_eq!(raws[0], "{", "newest first");
    assert!(raws[3].contains("d-1"));

    let missing = server.get("/v1/dead-letters?reason=missing_field").json();
    assert_eq!(missing["total"], 2);
    assert_eq!(
        missing["items"][0]["reason"],
        "data.queue: required field is missing"
    );
    assert_eq!(
        missing["items"][1]["reason"],
        "data.depth: required field is missing"
    );

    let by_prefix = server
        .get("/v1/dead-letters?reason=data.depth&limit=1")
        .json();
    assert_eq!(by_prefix["total"], 2);
    assert_eq!(by_prefix["items"].as_array().expect("items").len(), 1);
    assert_eq!(
        by_prefix["items"][0]["reason"],
        "data.depth: expected an integer, got \"deep\""
    );

    let limited = server.get("/v1/dead-letters?limit=0").json();
    assert_eq!(limited["total"], 4);
    assert_eq!(limited["items"].as_array().expect("items").len(), 0);
}

#[test]
fn a_stalled_client_never_holds_up_other_requests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        "[server]\nbody_timeout = \"4s\"\nheader_timeout = \"4s\"\n",
    );
    let server = Server::start(&dir.path().join("data"), Some(&config));

    // Announces 1000 bytes of body, sends 10, then stalls.
    let mut stalled = TcpStream::connect(server.address).expect("connect");
    write!(stalled, "POST /v1/events HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-ndjson\r\ncontent-length: 1000\r\n\r\n{{\"specvers").expect("write");
    // Sends half a request line and stops.
    let mut silent = TcpStream::connect(server.address).expect("connect");
    write!(silent, "POST /v1/ev").expect("write");

    let response = server.post(
        "application/cloudevents+json",
        queue_depth_event("fast", 1).as_bytes(),
    );
    assert_eq!(response.status, 200);
    // Served while the other client is still stalled: it has no answer yet.
    stalled.set_nonblocking(true).expect("nonblocking");
    let mut probe = [0u8; 1];
    let pending = std::io::Read::read(&mut stalled, &mut probe);
    assert!(
        matches!(&pending, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the stalled client was answered before the other request: {pending:?}"
    );
    stalled.set_nonblocking(false).expect("blocking");

    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let answer =
        common::read_response(&mut stalled).expect("the server answers the stalled client");
    assert_eq!(answer.status, 408, "{}", answer.text());
    assert!(
        answer.json()["error"]
            .as_str()
            .expect("error")
            .contains("body_timeout")
    );

    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut rest = Vec::new();
    let closed = std::io::Read::read_to_end(&mut silent, &mut rest);
    assert!(
        closed.is_ok(),
        "the server closes a connection whose headers never complete"
    );
}

#[test]
fn health_readiness_and_metrics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);
    assert_eq!(server.get("/healthz").status, 200);
    // Ready once the dedup identities are reloaded and the engine has caught up: at once
    // for an empty data directory, but on threads of their own.
    server.wait_until_ready();
    assert_eq!(server.get("/readyz").status, 200);
    let body = format!(
        "{}\n{}\n{}\n",
        queue_depth_event("m-1", 1),
        queue_depth_event("m-1", 1),
        "{}"
    );
    server.post("application/x-ndjson", body.as_bytes());
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .expect("content type")
            .starts_with("text/plain")
    );
    let text = metrics.text();
    for expected in [
        "sightline_events_accepted_total 1\n",
        "sightline_events_duplicate_total 1\n",
        "sightline_events_rejected_total{reason=\"missing_field\"} 1\n",
        "sightline_log_segments 1\n",
        "sightline_log_fsync_seconds_count ",
        "sightline_http_request_duration_seconds_count{route=\"/v1/events\"} 1\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let log_bytes: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("sightline_log_bytes "))
        .expect("log bytes gauge")
        .parse()
        .expect("a number");
    assert!(log_bytes > 100);
}

#[test]
fn unknown_routes_and_methods_answer_json_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);
    let response = server.get("/v1/nothing");
    assert_eq!(response.status, 404);
    assert!(error_text(&response).contains("/v1/nothing"));
    let response = server.get("/v1/events");
    assert_eq!(response.status, 405);
    assert!(error_text(&response).contains("GET"));
}

#[test]
fn concurrent_copies_of_the_same_events_are_stored_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);
    let body: String = (0..100)
        .map(|index| queue_depth_event(&format!("same-{index}"), index) + "\n")
        .collect();
    let address = server.address;
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || {
                let response = request(
                    address,
                    "POST",
                    "/v1/events",
                    &[("content-type", "application/x-ndjson")],
                    body.as_bytes(),
                );
                accepted(&response)
            })
        })
        .collect();
    let (mut total_accepted, mut total_duplicates) = (0, 0);
    for sender in senders {
        let (accepted, duplicates, rejected) = sender.join().expect("sender thread");
        assert_eq!(rejected, 0);
        total_accepted += accepted;
        total_duplicates += duplicates;
    }
    assert_eq!(total_accepted, 100, "each event is accepted exactly once");
    assert_eq!(total_duplicates, 700);
    server.stop();
    assert_eq!(stored_events(dir.path()).len(), 100);
}

#[test]
fn hostile_bodies_are_bounded_and_never_fail_good_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);

    // A few hundred kilobytes of gzip that hold more events than a request may carry.
    let many = gzip("{}\n".repeat(300_000).as_bytes());
    let response = post_encoded(&server, "application/x-ndjson", "gzip", &many);
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(error_text(&response).contains("300000 events"));

    // A huge value in a bad event is cut short in its reason, and the good event is stored.
    let huge_time = "a".repeat(200_000);
    let bad = format!(
        r#"{{"specversion":"1.0","id":"h-2","source":"s","type":"t","time":"{huge_time}","data":{{}}}}"#
    );
    let body = format!("{}\n{bad}\n", queue_depth_event("h-1", 1));
    let response = server.post("application/x-ndjson", body.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    let json = response.json();
    assert_eq!(json["accepted"], 1);
    assert!(
        json["rejected"][0]["reason"]
            .as_str()
            .expect("reason")
            .len()
            < 300
    );

    // Thousands of rejections: the first thousand are listed, all are counted.
    let body = "{}\n".repeat(1500);
    let response = server.post("application/x-ndjson", body.as_bytes());
    assert_eq!(response.status, 400);
    let json = response.json();
    assert_eq!(json["rejected"].as_array().expect("list").len(), 1000);
    assert_eq!(json["rejected_total"], 1500);
    assert_eq!(
        server.get("/readyz").status,
        200,
        "nothing here hurt the writer"
    );
}
