//! Test harness: the real `sightline` binary on a free port, and a tiny blocking HTTP/1.1
//! client (one connection per request) so that tests see exactly what a client sees.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    pub address: SocketAddr,
    pub data_dir: PathBuf,
    child: Child,
}

impl Server {
    /// Starts `sightline serve` on an ephemeral port and waits for its "listening" line.
    pub fn start(data_dir: &Path, config: Option<&Path>) -> Server {
        Server::start_with_env(data_dir, config, &[])
    }

    /// `start`, with these environment variables set for the server (secrets, say).
    pub fn start_with_env(data_dir: &Path, config: Option<&Path>, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sightline"));
        command.envs(env.iter().copied());
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let mut child = command.spawn().expect("the sightline binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("the server prints its address before anything else")
                .expect("stdout is readable");
            if let Some(address) = line.strip_prefix("sightline listening on http://") {
                break address.parse().expect("a socket address");
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            address,
            data_dir: data_dir.to_owned(),
            child,
        }
    }

    /// Waits (up to 30 s) until `/readyz` says the log is open and the engine caught up.
    pub fn wait_until_ready(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.get("/readyz").status != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "the server never became ready"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The window labelled `label` (e.g. `1h`) in a `GET /v1/kpis/{name}` answer.
    pub fn kpi_window(&self, path: &str, label: &str) -> serde_json::Value {
        let answer = self.get(path).json();
        answer["windows"]
            .as_array()
            .and_then(|windows| {
                windows
                    .iter()
                    .find(|window| window["window"] == label)
                    .cloned()
            })
            .unwrap_or_else(|| panic!("no {label} window in {answer}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// SIGTERM and wait: the graceful path.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        let status = self.child.wait().expect("the server exits");
        assert!(
            status.success(),
            "graceful stop should exit 0, got {status}"
        );
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        let _ = self.child.wait();
    }

    pub fn post(&self, content_type: &str, body: &[u8]) -> Response {
        request(
            self.address,
            "POST",
            "/v1/events",
            &[("content-type", content_type)],
            body,
        )
    }

    pub fn get(&self, path: &str) -> Response {
        request(self.address, "GET", path, &[], b"")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "response is not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

pub fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request(address, method, path, headers, body).expect("the request completes")
}

pub fn try_request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    read_response(&mut stream)
}

pub fn read_response(stream: &mut TcpStream) -> std::io::Result<Response> {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw).ok_or_else(|| {
        std::io::Error::other(format!(
            "malformed response: {:?}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut input: &[u8]) -> Option<Vec<u8>> {
    let mut output = Vec::new();
    loop {
        let line_end = input.windows(2).position(|window| window == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&input[..line_end]).ok()?.trim(), 16).ok()?;
        input = &input[line_end + 2..];
        if size == 0 {
            return Some(output);
        }
        output.extend_from_slice(input.get(..size)?);
        input = input.get(size + 2..)?;
    }
}

/// A valid structured event of the catalogue with the given id.
pub fn queue_depth_event(id: &str, depth: u64) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"test/harness","type":"queue.depth","time":"2026-11-27T10:00:00Z","data":{{"queue":"emails","depth":{depth}}}}}"#
    )
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("in-memory write");
    encoder.finish().expect("in-memory gzip")
}

pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("sightline.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// Every event stored in the log of a data directory (the server must be stopped).
pub fn stored_events(data_dir: &Path) -> Vec<serde_json::Value> {
    let (log, _report) = sightline_log::SegmentLog::open(
        &data_dir.join("log"),
        sightline_log::LogOptions::default(),
    )
    .expect("the log opens after the server stopped");
    let mut reader = log.handle().reader(0).expect("reader from 0");
    let mut records = Vec::new();
    loop {
        let before = records.len();
        if reader
            .read_batch(4096, &mut records)
            .expect("log reads cleanly")
            == 0
        {
            break;
        }
        assert!(records.len() > before);
    }
    records
        .iter()
        .map(|record| serde_json::from_slice(&record.payload).expect("stored events are JSON"))
        .collect()
}

/// Polls until `check` accepts the JSON at `path` (the engine and the sources work
/// asynchronously); fails after 20 s with the last answer.
pub fn wait_for(
    server: &Server,
    path: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let response = server.get(path);
        if response.status == 200 {
            let json = response.json();
            if check(&json) {
                return json;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting on {path}: last answer {}",
            response.text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The window labelled `label` starting at `start` in a `GET /v1/kpis/{name}` answer.
pub fn window<'a>(
    json: &'a serde_json::Value,
    label: &str,
    start: &str,
) -> Option<&'a serde_json::Value> {
    json["windows"]
        .as_array()?
        .iter()
        .find(|window| window["window"] == label && window["start"] == start)
}

/// Runs `sightline serve` with `config` and `unset_env` removed from its environment,
/// checks that it refuses to start, and returns what it said on stderr.
pub fn serve_refusal(dir: &Path, config: &Path, unset_env: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(config)
        .env_remove(unset_env)
        .output()
        .expect("the sightline binary runs");
    assert!(
        !output.status.success(),
        "serve started without {unset_env}"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}
