//! `sightline demo`, the real binary: it prints its URL first, backfills history so
//! comparisons and month-to-date answer at once, brings every dashboard KPI alive within
//! a minute, and restarts on its data directory without generating history twice.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use sightline_model::time::{civil_from_days, days_from_civil, format_rfc3339, now_micros};

const DAY_US: i64 = 86_400_000_000;

/// The KPIs the dashboard's panels read.
const DASHBOARD_KPIS: [&str; 20] = [
    "revenue_today",
    "orders",
    "active_users",
    "average_order_value",
    "fulfillment_pipeline",
    "shipping_delays",
    "funnel",
    "conversion_rate",
    "api_latency",
    "error_rate",
    "payment_failure_rate",
    "revenue_by_segment_today",
    "revenue_by_channel_today",
    "top_products_today",
    "orders_by_region_today",
    "inventory_on_hand",
    "production_line_status",
    "production_output_rate",
    "refunds_today",
    "queue_depth",
];

struct Demo {
    address: SocketAddr,
    child: Child,
    /// stdout after the listening line.
    lines: Receiver<String>,
}

impl Demo {
    fn start(data_dir: &Path) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sightline"))
            .arg("demo")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the sightline binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("the demo prints a line")
            .expect("stdout is readable");
        let address = first
            .strip_prefix("sightline listening on http://")
            .unwrap_or_else(|| panic!("the first line names the address, got {first:?}"))
            .parse()
            .expect("a socket address");
        let (sender, receiver) = std::sync::mpsc::channel();
        // Keep draining stdout so the demo never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Demo {
            address,
            child,
            lines: receiver,
        }
    }

    fn get(&self, path: &str) -> common::Response {
        common::request(self.address, "GET", path, &[], b"")
    }

    fn wait_until_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.get("/readyz").status != 200 {
            assert!(Instant::now() < deadline, "the demo never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a stdout line containing `text`.
    fn wait_for_line(&self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => continue,
                Err(_) => panic!("no stdout line with {text:?}"),
            }
        }
    }

    /// The daily `revenue_today` windows from `from_us` on: start → revenue.
    fn daily_revenue(&self, from_us: i64) -> BTreeMap<String, f64> {
        let path = format!(
            "/v1/kpis/revenue_today?from={}&to={}",
            format_rfc3339(from_us),
            format_rfc3339(now_micros())
        );
        let answer = self.get(&path).json();
        let windows = answer["windows"]
            .as_array()
            .unwrap_or_else(|| panic!("windows in {answer}"));
        windows
            .iter()
            .map(|window| {
                let start = window["start"].as_str().expect("start").to_string();
                let value = window["values"][0]["value"].as_f64().unwrap_or(0.0);
                (start, value)
            })
            .collect()
    }

    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        let status = self.child.wait().expect("the demo exits");
        assert!(status.success(), "a graceful stop exits 0, got {status}");
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Midnight UTC of the first day of the previous month.
fn start_of_previous_month(now_us: i64) -> i64 {
    let (year, month, _) = civil_from_days(now_us.div_euclid(DAY_US));
    let (year, month) = if month == 1 {
        (year - 1, 12)
    } else {
        (year, month - 1)
    };
    days_from_civil(year, month, 1) * DAY_US
}

/// KPIs of `GET /v1/kpis` whose current windows hold no value yet.
fn empty_kpis(demo: &Demo) -> Vec<String> {
    let answer = demo.get("/v1/kpis").json();
    let kpis = answer["kpis"].as_array().expect("kpis").clone();
    DASHBOARD_KPIS
        .iter()
        .filter(|name| {
            let Some(kpi) = kpis.iter().find(|kpi| kpi["name"] == **name) else {
                return true;
            };
            let current = kpi["current"].as_array().cloned().unwrap_or_default();
            !current.iter().any(|window| {
                window["values"]
                    .as_array()
                    .is_some_and(|values| !values.is_empty())
            })
        })
        .map(|name| name.to_string())
        .collect()
}

#[test]
fn demo_brings_every_widget_alive_and_restarts_without_doubling_history() {
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let demo = Demo::start(data_dir.path());
    let started = Instant::now();
    demo.wait_for_line("generating history since", Duration::from_secs(10));
    // The backfill runs before the server answers requests (connections wait), and a
    // debug build is slow at it: wait for its line rather than a request's timeout.
    let backfilled = demo.wait_for_line("events of history in", Duration::from_secs(600));
    demo.wait_until_ready(Duration::from_secs(30));
    let ready_after = started.elapsed();
    eprintln!("{backfilled} (ready after {ready_after:?})");
    demo.wait_for_line("open http://", Duration::from_secs(10));

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let empty = empty_kpis(&demo);
        if empty.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still empty 60 s after ready ({ready_after:?}): {empty:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Some stock is low or out in steady state.
    let inventory = demo.get("/v1/kpis").json()["kpis"]
        .as_array()
        .expect("kpis")
        .iter()
        .find(|kpi| kpi["name"] == "inventory_on_hand")
        .cloned()
        .expect("inventory_on_hand");
    let low_rows = inventory["current"][0]["values"]
        .as_array()
        .expect("inventory rows")
        .iter()
        .filter(|row| matches!(row["value"]["status"].as_str(), Some("low" | "out")))
        .count();
    assert!(low_rows > 0, "no low-stock rows in {inventory}");

    // Today beside the same weekday last week: history has it.
    let answer = demo.get("/v1/kpis/revenue_today").json();
    let compared = answer["windows"][0]["values"][0]["compare"]["value"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(compared > 0.0, "no revenue a week ago in {answer}");

    // Month-to-date and the previous month: a window for every past day.
    let now_us = now_micros();
    let month_start = start_of_previous_month(now_us);
    let before = demo.daily_revenue(month_start);
    let today_start = now_us.div_euclid(DAY_US) * DAY_US;
    let mut day = month_start;
    while day < today_start {
        let start = format_rfc3339(day);
        let revenue = before.get(&start).copied();
        assert!(
            revenue.is_some_and(|revenue| revenue > 0.0),
            "no revenue on {start}: {revenue:?}"
        );
        day += DAY_US;
    }
    demo.stop();

    // A restart fills the gap and does not generate history twice.
    let demo = Demo::start(data_dir.path());
    demo.wait_for_line(
        "filling the gap since the last event",
        Duration::from_secs(10),
    );
    demo.wait_for_line("events of history in", Duration::from_secs(120));
    demo.wait_until_ready(Duration::from_secs(30));
    let after = demo.daily_revenue(month_start);
    for (start, revenue) in &before {
        if start.as_str() >= format_rfc3339(today_start).as_str() {
            continue;
        }
        assert_eq!(after.get(start), Some(revenue), "revenue of {start}");
    }
    // Live again: this minute's orders come in.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let orders = demo.get("/v1/kpis/orders").json();
        let minute = orders["windows"]
            .as_array()
            .and_then(|windows| windows.iter().find(|window| window["window"] == "1m"))
            .and_then(|window| window["values"][0]["value"].as_u64())
            .unwrap_or(0);
        if minute > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no live orders after the restart"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    demo.stop();
}
