//! The command line: `import` (same validation and dedup as HTTP) and `check`.

mod common;

use std::process::Command;

use common::{gzip, queue_depth_event};

fn sightline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

fn summary_value(stdout: &str, label: &str) -> u64 {
    stdout
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix(label)
                .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
        })
        .unwrap_or_else(|| panic!("no {label:?} in summary:\n{stdout}"))
        .parse()
        .expect("a count")
}

#[test]
fn import_validates_dedups_and_summarises() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let mut plain = String::new();
    for index in 0..5000 {
        plain.push_str(&queue_depth_event(&format!("i-{index}"), index));
        plain.push('\n');
    }
    plain.push_str(&queue_depth_event("i-7", 7)); // duplicate within the file
    plain.push('\n');
    plain.push_str("{\"specversion\":\"1.0\",\"id\":\"bad\",\"source\":\"s\",\"type\":\"queue.depth\",\"data\":{\"queue\":\"q\"}}\n");
    let plain_path = dir.path().join("events.ndjson");
    std::fs::write(&plain_path, &plain).expect("write");
    let mut second = String::new();
    for index in 4990..6000 {
        second.push_str(&queue_depth_event(&format!("i-{index}"), index));
        second.push('\n');
    }
    let gzip_path = dir.path().join("more.ndjson.gz");
    std::fs::write(&gzip_path, gzip(second.as_bytes())).expect("write");

    let output = sightline(&[
        "import",
        "--data-dir",
        data_dir.to_str().expect("utf-8"),
        plain_path.to_str().expect("utf-8"),
        gzip_path.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(summary_value(&stdout, "read"), 5002 + 1010);
    assert_eq!(summary_value(&stdout, "accepted"), 6000);
    assert_eq!(summary_value(&stdout, "duplicates"), 1 + 10);
    assert_eq!(summary_value(&stdout, "rejected"), 1);
    assert_eq!(summary_value(&stdout, "missing_field"), 1);
    assert!(
        stdout.contains("events.ndjson:5002: data.depth: required field is missing"),
        "{stdout}"
    );
    assert!(stdout.contains("events/s"));
    assert_eq!(summary_value(&stdout, "late"), 0);

    // A second import of the same file is all duplicates: dedup state is in the log.
    let output = sightline(&[
        "import",
        "--data-dir",
        data_dir.to_str().expect("utf-8"),
        gzip_path.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(summary_value(&stdout, "accepted"), 0, "{stdout}");
    assert_eq!(summary_value(&stdout, "duplicates"), 1010);

    // Events are in the log in file order, exactly once.
    let stored = common::stored_events(&data_dir);
    assert_eq!(stored.len(), 6000);
    assert_eq!(stored[0]["id"], "i-0");
    assert_eq!(stored[5999]["id"], "i-5999");
}

#[test]
fn import_refuses_a_data_dir_in_use_and_missing_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = common::Server::start(dir.path(), None);
    let file = dir.path().join("one.ndjson");
    std::fs::write(&file, queue_depth_event("x", 1)).expect("write");
    let output = sightline(&[
        "import",
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
        file.to_str().expect("utf-8"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("another sightline process"), "{stderr}");
    server.stop();

    let output = sightline(&[
        "import",
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
        "/nonexistent/file.ndjson",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/file.ndjson"));
}

#[test]
fn check_prints_the_example_config_and_names_bad_lines() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sightline.example.toml");
    let output = sightline(&["check", "--config", example]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("configuration OK"));
    assert!(stdout.contains("1 USD = 0.92 EUR"), "{stdout}");
    assert!(
        stdout.contains("history           minute windows 8d, hourly 400d, daily forever"),
        "{stdout}"
    );
    assert!(
        stdout.contains("compared with 7 local days earlier"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let bad = common::write_config(
        dir.path(),
        "[server]\nlisten = \"127.0.0.1:8080\"\n\n[dedup]\nhorizn = \"7d\"\n",
    );
    let output = sightline(&["check", "--config", bad.to_str().expect("utf-8")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 5") && stderr.contains("horizn"),
        "{stderr}"
    );
}

#[test]
fn a_small_dedup_bound_still_remembers_the_current_minute() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::write_config(dir.path(), "[dedup]\nmax_keys = 1000\n");
    let data_dir = dir.path().join("data");
    let file = dir.path().join("events.ndjson");
    let body: String = (0..1500)
        .map(|index| queue_depth_event(&format!("b-{index}"), index) + "\n")
        .collect();
    std::fs::write(&file, body).expect("write");
    let args = [
        "import",
        "--config",
        config.to_str().expect("utf-8"),
        "--data-dir",
        data_dir.to_str().expect("utf-8"),
        file.to_str().expect("utf-8"),
    ];
    let first = String::from_utf8_lossy(&sightline(&args).stdout).into_owned();
    assert_eq!(summary_value(&first, "accepted"), 1500, "{first}");
    let second = String::from_utf8_lossy(&sightline(&args).stdout).into_owned();
    assert_eq!(summary_value(&second, "accepted"), 0, "{second}");
    assert_eq!(summary_value(&second, "duplicates"), 1500);
}

#[test]
fn an_import_without_kpis_leaves_them_to_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let file = dir.path().join("orders.ndjson");
    let body: String = (0..20)
        .map(|index| {
            format!(
                r#"{{"specversion":"1.0","id":"o-{index}","source":"test/cli","type":"order.created","time":"2026-11-27T09:00:{index:02}Z","data":{{"order_id":"o-{index}","total":"1.00","currency":"EUR"}}}}"#
            ) + "\n"
        })
        .collect();
    std::fs::write(&file, body).expect("write");
    let output = sightline(&[
        "import",
        "--no-kpis",
        "--data-dir",
        data_dir.to_str().expect("utf-8"),
        file.to_str().expect("utf-8"),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(summary_value(&stdout, "accepted"), 20, "{stdout}");
    assert!(stdout.contains("late        not judged"), "{stdout}");

    let server = common::Server::start(&data_dir, None);
    server.wait_until_ready();
    let hour = server.kpi_window(
        "/v1/kpis/orders?from=2026-11-27T09:00:00Z&to=2026-11-27T10:00:00Z",
        "1h",
    );
    assert_eq!(
        hour["values"][0]["value"], 20,
        "the server replayed the imported events"
    );
}
