//! Live push end to end: `GET /v1/stream` (Server-Sent Events) as a client reads it off
//! the socket — a snapshot on connect, every change pushed, resume with `Last-Event-ID`
//! without a gap, a fresh snapshot when the gap is too old, and a clean end when the
//! server stops.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Server;
use sightline_model::time::{format_rfc3339, now_micros};

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct SseEvent {
    event: String,
    id: Option<String>,
    data: String,
}

/// A stream client reading events as they arrive.
struct SseClient {
    reader: BufReader<TcpStream>,
    /// Reading past this panics (heartbeats alone keep a stream that sends nothing
    /// else going forever).
    deadline: Instant,
}

/// How long a test waits for what it expects from a stream.
const PATIENCE: Duration = Duration::from_secs(20);

impl SseClient {
    /// Opens `path` (HTTP/1.0, so the body is the raw event stream until close); panics
    /// unless the answer is 200 `text/event-stream`.
    fn open(server: &Server, path: &str, last_event_id: Option<&str>) -> SseClient {
        let stream = TcpStream::connect(server.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut request = format!("GET {path} HTTP/1.0\r\nhost: {}\r\n", server.address);
        if let Some(id) = last_event_id {
            request.push_str(&format!("last-event-id: {id}\r\n"));
        }
        request.push_str("\r\n");
        (&stream).write_all(request.as_bytes()).expect("send");
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).expect("status line");
        assert!(status.contains(" 200 "), "{status}");
        let mut content_type = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header");
            if line.trim().is_empty() {
                break;
            }
            if line.to_ascii_lowercase().starts_with("content-type:") {
                content_type = line;
            }
        }
        assert!(content_type.contains("text/event-stream"), "{content_type}");
        SseClient {
            reader,
            deadline: Instant::now() + PATIENCE,
        }
    }

    /// The next event (comments such as heartbeats skipped); `None` at the end.
    fn next(&mut self) -> Option<SseEvent> {
        let mut event = SseEvent {
            event: "message".into(),
            id: None,
            data: String::new(),
        };
        let mut any = false;
        loop {
            assert!(
                Instant::now() < self.deadline,
                "nothing expected arrived within {PATIENCE:?}"
            );
            let mut line = String::new();
            if self.reader.read_line(&mut line).expect("read an event") == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if any {
                    return Some(event);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            any = true;
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event.event = value.to_owned(),
                "id" => event.id = Some(value.to_owned()),
                "data" => event.data.push_str(value),
                _ => {}
            }
        }
    }

    /// Reads until an event satisfies `wanted` (within `PATIENCE`), returning every
    /// event read.
    fn until(&mut self, wanted: impl Fn(&SseEvent) -> bool) -> Vec<SseEvent> {
        self.deadline = Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        while Instant::now() < self.deadline {
            let event = self.next().expect("the stream goes on");
            let done = wanted(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
        panic!("not seen within 20 s; got {seen:?}");
    }
}

/// Every order of the test falls in one clock hour (the last full one), whenever the
/// test runs.
fn order(id: &str) -> String {
    const HOUR_US: i64 = 3_600_000_000;
    let last_hour = (now_micros() / HOUR_US - 1) * HOUR_US;
    let time = format_rfc3339(last_hour + HOUR_US / 2);
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"test/stream","type":"order.created","time":"{time}","data":{{"order_id":"{id}","total":"10.00","currency":"EUR"}}}}"#
    )
}

/// Whether `event` is an `orders` update of the current hour holding `count` orders.
fn orders_hour_is(event: &SseEvent, count: u64) -> bool {
    if event.event != "kpi" {
        return false;
    }
    let data: serde_json::Value = serde_json::from_str(&event.data).expect("JSON data");
    data["name"] == "orders" && data["window"] == "1h" && data["values"][0]["value"] == count
}

/// A ready server pushing every 50 ms, under `dir`.
fn start_server(dir: &std::path::Path) -> Server {
    // The orders are in the last hour: keep the idle clock from finalising it.
    let config = common::write_config(
        dir,
        "[push]\ncoalesce = \"50ms\"\n[time]\nidle_timeout = \"1h\"\n",
    );
    let server = Server::start(&dir.join("data"), Some(&config));
    server.wait_until_ready();
    server
}

#[test]
fn updates_are_pushed_resumed_and_end_with_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path());

    let mut client = SseClient::open(&server, "/v1/stream?kpis=orders,revenue_today", None);
    let snapshot = client.next().expect("a first event");
    assert_eq!(snapshot.event, "snapshot");
    let data: serde_json::Value = serde_json::from_str(&snapshot.data).expect("JSON");
    assert_eq!(data["reason"], "connect");

    let accepted = |body: &str| {
        server.post("application/x-ndjson", body.as_bytes()).json()["accepted"].as_u64()
    };
    assert_eq!(accepted(&order("s-1")), Some(1));
    let seen = client.until(|event| orders_hour_is(event, 1));
    let pushed = seen.last().expect("the update");
    assert!(pushed.id.is_some(), "{pushed:?}");
    let data: serde_json::Value = serde_json::from_str(&pushed.data).expect("JSON");
    assert_eq!(data["final"], false);
    assert!(
        data["start"].is_string() && data["end"].is_string(),
        "{data}"
    );
    // Only the KPIs subscribed to.
    assert!(
        seen.iter().all(|event| event.event != "kpi"
            || event.data.contains(r#""name":"orders""#)
            || event.data.contains(r#""name":"revenue_today""#)),
        "{seen:?}"
    );
    let revenue = client
        .until(|event| event.event == "kpi" && event.data.contains(r#""name":"revenue_today""#));
    assert!(
        revenue
            .last()
            .is_some_and(|event| event.data.contains("10"))
    );

    assert_eq!(accepted(&[order("s-2"), order("s-3")].join("\n")), Some(2));
    let seen = client.until(|event| orders_hour_is(event, 3));
    let last_id = seen
        .iter()
        .rev()
        .find_map(|event| event.id.clone())
        .expect("an id");
    let metrics = server.get("/metrics").text();
    assert!(metrics.contains("sightline_push_clients 1"), "{metrics}");
    drop(client);

    // Away for an update: resuming replays it, with no snapshot first.
    assert_eq!(accepted(&order("s-4")), Some(1));
    let mut watcher = SseClient::open(&server, "/v1/stream?kpis=orders", None);
    watcher.until(|event| orders_hour_is(event, 4));
    let mut resumed = SseClient::open(&server, "/v1/stream?kpis=orders", Some(&last_id));
    let first = resumed.next().expect("an event");
    assert_eq!(
        first.event, "kpi",
        "a resume replays, it does not snapshot: {first:?}"
    );
    let seen = std::iter::once(first.clone())
        .chain(if orders_hour_is(&first, 4) {
            Vec::new()
        } else {
            resumed.until(|event| orders_hour_is(event, 4))
        })
        .collect::<Vec<_>>();
    let ids: Vec<u64> = seen
        .iter()
        .filter_map(|event| event.id.as_deref()?.parse().ok())
        .collect();
    let after: u64 = last_id.parse().expect("a number");
    assert!(
        ids.iter().all(|id| *id > after),
        "only what was missed: {ids:?} after {after}"
    );

    // An id the server never sent (or no longer holds): a fresh snapshot, saying why.
    let mut stale = SseClient::open(&server, "/v1/stream?kpis=orders", Some("999999999"));
    let snapshot = stale.next().expect("an event");
    assert_eq!(snapshot.event, "snapshot");
    assert!(snapshot.data.contains("resume_gap"), "{snapshot:?}");
    let current =
        stale.until(|event| event.event == "kpi" && event.data.contains(r#""window":"1h""#));
    assert!(
        orders_hour_is(current.last().expect("the hour"), 4),
        "{current:?}"
    );

    // A KPI that does not exist is named, with the ones that do.
    let missing = server.get("/v1/stream?kpis=orders,nope");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("nope") && missing.text().contains("revenue_today"));

    // A graceful stop does not wait for the streams: they are told, and end.
    server.stop();
    let ending = resumed.until(|event| event.event == "close");
    assert!(ending.last().expect("close").data.contains("stopping"));
    assert!(resumed.next().is_none(), "the stream ended");
}

/// The same updates over WebSocket, and a subscription changed on the fly.
#[test]
fn websocket_clients_get_the_updates_and_change_their_subscription() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path());

    let stream = TcpStream::connect(server.address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let url = format!("ws://{}/v1/ws?kpis=orders", server.address);
    let (socket, _) = tungstenite::client(url.as_str(), stream).expect("a WebSocket");
    let mut client = WsClient {
        socket,
        deadline: Instant::now() + PATIENCE,
    };
    let first = client.next();
    assert_eq!(first["event"], "snapshot");
    assert_eq!(first["data"]["reason"], "connect");

    assert_eq!(
        server
            .post("application/x-ndjson", order("w-1").as_bytes())
            .json()["accepted"],
        1
    );
    let update = client.until(|message| {
        message["event"] == "kpi"
            && message["data"]["name"] == "orders"
            && message["data"]["window"] == "1h"
            && message["data"]["values"][0]["value"] == 1
    });
    assert!(update["id"].is_u64(), "{update}");

    client.send(r#"{"subscribe":["nope"]}"#);
    let refused = client.until(|message| message["event"] != "kpi");
    assert_eq!(refused["event"], "error", "{refused}");
    assert!(
        refused["data"]["error"]
            .as_str()
            .is_some_and(|error| error.contains("nope"))
    );
    client.send(r#"{"subscribe":["revenue_today"]}"#);
    let snapshot = client.until(|message| message["event"] != "kpi");
    assert_eq!(snapshot["event"], "snapshot", "{snapshot}");
    assert_eq!(snapshot["data"]["reason"], "subscribe");
    let revenue = client.next();
    assert_eq!(revenue["data"]["name"], "revenue_today", "{revenue}");

    // Plain HTTP is told where to go.
    let plain = server.get("/v1/ws");
    assert_eq!(plain.status, 400);
    assert!(plain.text().contains("/v1/stream"), "{}", plain.text());
    server.stop();
}

struct WsClient {
    socket: tungstenite::WebSocket<TcpStream>,
    /// Reading past this panics (pings alone keep a quiet socket going forever).
    deadline: Instant,
}

impl WsClient {
    /// The next text message, as JSON.
    fn next(&mut self) -> serde_json::Value {
        loop {
            assert!(
                Instant::now() < self.deadline,
                "nothing expected within {PATIENCE:?}"
            );
            if let tungstenite::Message::Text(text) = self.socket.read().expect("a message") {
                return serde_json::from_str(text.as_str()).expect("JSON");
            }
        }
    }

    /// Reads until a message satisfies `wanted` (within `PATIENCE`) and returns it.
    fn until(&mut self, wanted: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(
                Instant::now() < deadline,
                "nothing expected within {PATIENCE:?}"
            );
            let message = self.next();
            if wanted(&message) {
                return message;
            }
        }
    }

    fn send(&mut self, text: &str) {
        self.socket
            .send(tungstenite::Message::Text(text.into()))
            .expect("send");
    }
}
