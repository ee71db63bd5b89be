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

/// An import feeds its engine the events it commits, with the fields validation read,
/// instead of having it read them back from the log. What the engine then holds must be
/// what a server replaying that same log computes: duplicates, events the hand-written
/// walk leaves to serde (escapes), an event whose time is stamped on receipt, late
/// events, and a log that already held events before this import (read from the log,
/// not fed) included.
#[test]
fn an_imported_engine_counts_what_a_replay_of_its_log_counts() {
    use sightline_generator::{EventGenerator, GeneratorConfig};
    let dir = tempfile::tempdir().expect("temp dir");
    // Event times are in the past: keep the idle clock from finalising windows.
    let config = common::write_config(dir.path(), "[time]\nidle_timeout = \"1h\"\n");
    // Two days ago: minute windows are still within their retention.
    let two_days_ago_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as i64
        - 2 * 86_400_000_000;
    let mut generator = EventGenerator::new(GeneratorConfig {
        start_time_us: two_days_ago_us,
        disorder_us: 20_000_000,
        events_per_second: 20.0,
        ..GeneratorConfig::default()
    });
    let mut before = String::new();
    generator.write_ndjson(&mut before, 5_000);
    let mut imported = String::new();
    generator.write_ndjson(&mut imported, 15_000);
    let repeated: Vec<&str> = imported.lines().step_by(7).collect();
    let mut imported = format!("{imported}{}\n", repeated.join("\n"));
    let last_time = sightline_model::time::format_rfc3339(generator.last_event_time_us());
    imported.push_str(&format!(
        r#"{{"specversion":"1.0","id":"esc-1","source":"test/cli","type":"order.cr\u0065ated","time":"{last_time}","data":{{"order_id":"esc-1","total":"12.00","currency":"EUR","channel":"w\u0065b"}}}}"#
    ));
    imported.push('\n');
    imported.push_str(concat!(
        r#"{"specversion":"1.0","id":"late-1","source":"test/cli","type":"order.created","time":"2025-06-01T00:00:00Z","data":{"order_id":"late-1","total":"3.00","currency":"EUR"}}"#,
        "\n",
        r#"{"specversion":"1.0","id":"now-1","source":"test/cli","type":"order.created","data":{"order_id":"now-1","total":"5.00","currency":"EUR"}}"#,
        "\n",
    ));
    let before_file = dir.path().join("before.ndjson");
    let imported_file = dir.path().join("imported.ndjson");
    std::fs::write(&before_file, &before).expect("write");
    std::fs::write(&imported_file, &imported).expect("write");
    let import = |data_dir: &std::path::Path, file: &std::path::Path, kpis: bool| {
        let mut args = vec![
            "import",
            "--config",
            config.to_str().expect("utf-8"),
            "--data-dir",
            data_dir.to_str().expect("utf-8"),
        ];
        if !kpis {
            args.push("--no-kpis");
        }
        args.push(file.to_str().expect("utf-8"));
        let output = sightline(&args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let fed_dir = dir.path().join("fed");
    import(&fed_dir, &before_file, false);
    let summary = import(&fed_dir, &imported_file, true);
    assert_eq!(
        summary_value(&summary, "duplicates"),
        repeated.len() as u64,
        "{summary}"
    );
    assert!(summary_value(&summary, "late") >= 1, "{summary}");
    assert!(
        summary.contains("sort the file by event time, oldest first"),
        "late events come with what to do: {summary}"
    );
    let replayed_dir = dir.path().join("replayed");
    import(&replayed_dir, &before_file, false);
    import(&replayed_dir, &imported_file, false);

    let answers = |data_dir: &std::path::Path| {
        let server = common::Server::start(data_dir, Some(&config));
        server.wait_until_ready();
        let list = server.get("/v1/kpis").json();
        let names: Vec<String> = list["kpis"]
            .as_array()
            .expect("a list of KPIs")
            .iter()
            .map(|kpi| kpi["name"].as_str().expect("a name").to_owned())
            .collect();
        let mut answers: Vec<(String, serde_json::Value)> = names
            .iter()
            .map(|name| {
                let path =
                    format!("/v1/kpis/{name}?from=2025-01-01T00:00:00Z&to=2027-01-01T00:00:00Z");
                let mut answer = server.get(&path).json();
                // An open day compares with last week up to the time of the query.
                for window in answer["windows"].as_array_mut().into_iter().flatten() {
                    for value in window["values"].as_array_mut().into_iter().flatten() {
                        if let Some(compare) = value["compare"].as_object_mut() {
                            compare.remove("to");
                        }
                    }
                }
                (name.clone(), answer)
            })
            .collect();
        let late = server.get("/v1/dead-letters?reason=late").json();
        answers.push(("late dead letters".into(), late["total"].clone()));
        server.stop();
        answers
    };
    let fed = answers(&fed_dir);
    let replayed = answers(&replayed_dir);
    assert!(fed.len() > 20, "the commerce pack's KPIs: {}", fed.len());
    let orders = &fed
        .iter()
        .find(|(name, _)| name == "orders")
        .expect("orders")
        .1;
    assert!(
        orders["windows"]
            .as_array()
            .is_some_and(|windows| windows.len() > 15),
        "orders were counted in minutes and hours: {orders}"
    );
    for ((name, fed), (_, replayed)) in fed.iter().zip(&replayed) {
        assert_eq!(
            fed, replayed,
            "{name}: the fed import and the replay differ"
        );
    }
}

/// A stop sent the moment the address is printed (as a script that starts the server on
/// port 0 and is then cancelled would send it) is a graceful stop: the handlers are in
/// place before the address is printed. Before they were, some of these runs died of the
/// signal instead of exiting 0.
#[test]
fn a_stop_right_after_the_address_is_printed_is_graceful() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = common::Server::start(dir.path(), None);
        server.stop();
    }
}
