//! The dashboard as a client sees it over HTTP: the page and its files come from the
//! binary (compressed, with validators), and its layout comes from the configuration.
//! What the page draws is tested in a real browser (`browser.rs`).

mod common;

use std::io::Read as _;
use std::process::Command;

use common::{Server, request, write_config};

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("a gzip body");
    text
}

#[test]
fn the_page_and_its_files_are_served_from_the_binary_with_validators() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);

    let plain = server.get("/");
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(plain.header("cache-control"), Some("no-cache"));
    assert_eq!(plain.header("content-encoding"), None, "not asked for gzip");
    let html = plain.text();
    assert!(html.contains("<html"), "{html}");

    let compressed = request(
        server.address,
        "GET",
        "/",
        &[("accept-encoding", "br, gzip;q=0.8")],
        b"",
    );
    assert_eq!(compressed.header("content-encoding"), Some("gzip"));
    assert_eq!(compressed.header("vary"), Some("accept-encoding"));
    assert!(compressed.body.len() < plain.body.len());
    assert_eq!(gunzip(&compressed.body), html);
    let refused = request(
        server.address,
        "GET",
        "/",
        &[("accept-encoding", "gzip;q=0")],
        b"",
    );
    assert_eq!(refused.header("content-encoding"), None);

    let etag = plain.header("etag").expect("an ETag").to_owned();
    let revalidated = request(server.address, "GET", "/", &[("if-none-match", &etag)], b"");
    assert_eq!(revalidated.status, 304);
    assert!(revalidated.body.is_empty());

    // Every script and stylesheet the page names is served, for good, from the binary.
    let assets: Vec<&str> = html
        .split(['"', '\''])
        .filter(|part| part.starts_with("/assets/"))
        .collect();
    assert!(
        !assets.is_empty(),
        "the page loads its code from /assets/: {html}"
    );
    for path in assets {
        let file = request(
            server.address,
            "GET",
            path,
            &[("accept-encoding", "gzip")],
            b"",
        );
        assert_eq!(file.status, 200, "{path}");
        assert_eq!(
            file.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
        assert!(file.header("etag").is_some(), "{path}");
    }

    let missing = server.get("/assets/no-such-file.js");
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].as_str().is_some());
    let posted = request(server.address, "POST", "/", &[], b"");
    assert_eq!(posted.status, 405);
}

#[test]
fn the_default_layout_shows_the_built_in_pack() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        dir.path(),
        "[time]\nzone = \"Europe/Berlin\"\n[currency]\nreporting = \"USD\"\n",
    );
    let server = Server::start(&dir.path().join("data"), Some(&config));
    let answer = server.get("/v1/dashboard");
    assert_eq!(answer.status, 200);
    let layout = answer.json();
    assert_eq!(layout["title"], "Sightline");
    assert_eq!(layout["time_zone"], "Europe/Berlin");
    assert_eq!(layout["currency"], "USD");
    assert_eq!(layout["alerting"], true, "the alert panel polls /v1/alerts");
    let rows = layout["rows"].as_array().expect("rows");
    let names: Vec<&str> = rows.iter().filter_map(|row| row["name"].as_str()).collect();
    assert_eq!(names, ["top", "middle", "bottom"]);
    let panels: Vec<&serde_json::Value> = rows
        .iter()
        .flat_map(|row| row["panels"].as_array().expect("panels"))
        .collect();
    assert_eq!(panels.len(), 16);
    // Every KPI a default panel reads is one the server serves.
    let kpis = server.get("/v1/kpis").json();
    let served: Vec<&str> = kpis["kpis"]
        .as_array()
        .expect("kpis")
        .iter()
        .filter_map(|kpi| kpi["name"].as_str())
        .collect();
    for panel in &panels {
        for kpi in panel["kpis"].as_array().expect("kpis") {
            let kpi = kpi.as_str().expect("a name");
            assert!(served.contains(&kpi), "panel {} reads {kpi}", panel["id"]);
        }
    }
    let bars = panels
        .iter()
        .find(|panel| panel["id"] == "orders_per_hour")
        .expect("orders per hour");
    assert_eq!(bars["kind"], "bars");
    assert_eq!(bars["window"], "1h");
    assert_eq!(bars["span_seconds"], 86_400);

    let etag = answer.header("etag").expect("an ETag").to_owned();
    let again = request(
        server.address,
        "GET",
        "/v1/dashboard",
        &[("if-none-match", &etag)],
        b"",
    );
    assert_eq!(again.status, 304);
}

const RETURNS_KPI: &str = r#"
[[kpi]]
name = "big_refunds_today"
description = "Refunds over 100 since midnight"
events = ["refund.created"]
aggregate = "count"
filter = "data.amount > 100"
windows = [{ calendar = "day" }]
"#;

#[test]
fn a_user_kpi_goes_on_a_configured_panel_and_a_typo_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kpi_file = dir.path().join("returns.toml");
    std::fs::write(&kpi_file, RETURNS_KPI).expect("KPI file written");
    let panels = r#"
[[dashboard.panels]]
id = "big_refunds"
row = "returns"
title = "Big refunds today"
kind = "number"
kpis = ["big_refunds_today"]
format = "count"
thresholds = [{ above = 5, level = "warning" }]
"#;
    let config = write_config(
        dir.path(),
        &format!(
            "[kpis]\nfiles = [{:?}]\n\n[dashboard]\ntitle = \"Returns desk\"\n{panels}",
            kpi_file.display().to_string()
        ),
    );
    let server = Server::start(&dir.path().join("data"), Some(&config));
    let layout = server.get("/v1/dashboard").json();
    assert_eq!(layout["title"], "Returns desk");
    let rows = layout["rows"].as_array().expect("rows");
    let returns = rows.last().expect("the configured row comes last");
    assert_eq!(returns["name"], "returns");
    assert_eq!(returns["panels"][0]["kpis"][0], "big_refunds_today");
    assert_eq!(returns["panels"][0]["thresholds"][0]["above"], 5.0);
    server.stop();

    let check = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("check runs");
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{stdout}");
    assert!(
        stdout.contains("dashboard         \"Returns desk\": 17 panel(s) in 4 row(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("big_refunds"), "{stdout}");

    let typo = write_config(
        dir.path(),
        &format!(
            "[kpis]\nfiles = [{:?}]\n\n{}",
            kpi_file.display().to_string(),
            panels.replace(
                "kpis = [\"big_refunds_today\"]",
                "kpis = [\"big_refund_today\"]"
            )
        ),
    );
    for command in ["check", "serve"] {
        let output = Command::new(env!("CARGO_BIN_EXE_sightline"))
            .args([command, "--config"])
            .arg(&typo)
            .args(if command == "serve" {
                vec!["--listen", "127.0.0.1:0", "--data-dir"]
            } else {
                vec![]
            })
            .args(if command == "serve" {
                vec![dir.path().join("typo-data")]
            } else {
                vec![]
            })
            .output()
            .expect("runs");
        assert!(!output.status.success(), "{command} refuses the typo");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("dashboard panel \"big_refunds\" reads the KPI \"big_refund_today\""),
            "{command}: {stderr}"
        );
    }
}
