//! KPIs end to end: events in over HTTP, the engine follows the log, the query API answers;
//! too-late events become dead letters; a restart rebuilds the same windows.

mod common;

use common::{wait_for, window};

use common::Server;

fn order(id: &str, time: &str, total: &str, channel: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"test/kpis","type":"order.created","time":"{time}","data":{{"order_id":"{id}","total":"{total}","currency":"EUR","channel":"{channel}"}}}}"#
    )
}

const RANGE: &str = "from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z";

#[test]
fn orders_flow_into_windows_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Event times here are fixed in the past: keep the idle clock from finalising them.
    let config = common::write_config(dir.path(), "[time]\nidle_timeout = \"1h\"\n");
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir, Some(&config));
    let body = [
        order("k-1", "2026-11-27T14:03:11.120Z", "84.50", "web"),
        order("k-2", "2026-11-27T14:03:40Z", "15.50", "pos"),
        order("k-3", "2026-11-27T14:05:00Z", "0.10", "web"),
        order("k-4", "2026-11-27T14:40:00Z", "10", "web"),
    ]
    .join("\n");
    assert_eq!(
        server.post("application/x-ndjson", body.as_bytes()).json()["accepted"],
        4
    );

    let orders_path = format!("/v1/kpis/orders?{RANGE}");
    let orders = wait_for(&server, &orders_path, |json| {
        window(json, "1h", "2026-11-27T14:00:00.000Z")
            .is_some_and(|window| window["values"][0]["value"] == 4)
    });
    let minute = window(&orders, "1m", "2026-11-27T14:03:00.000Z").expect("the 14:03 minute");
    assert_eq!(minute["values"][0]["value"], 2);
    assert_eq!(minute["values"][0]["group"], serde_json::json!({}));
    assert_eq!(minute["end"], "2026-11-27T14:04:00.000Z");
    assert_eq!(
        minute["final"], true,
        "the watermark (14:40 - 5 s) has passed 14:04"
    );
    let hour = window(&orders, "1h", "2026-11-27T14:00:00.000Z").expect("the 14:00 hour");
    assert_eq!(hour["final"], false, "14:00-15:00 is still open");

    let revenue = wait_for(
        &server,
        &format!("/v1/kpis/revenue_by_channel_today?{RANGE}"),
        |json| {
            json["windows"]
                .as_array()
                .is_some_and(|windows| !windows.is_empty())
        },
    );
    let day = &revenue["windows"][0];
    assert_eq!(day["start"], "2026-11-27T00:00:00.000Z");
    let by_channel: Vec<(String, String)> = day["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|value| {
            (
                value["group"]["channel"]
                    .as_str()
                    .expect("channel")
                    .to_owned(),
                value["value"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        by_channel,
        vec![
            ("pos".to_owned(), "15.5".to_owned()),
            ("web".to_owned(), "94.6".to_owned())
        ]
    );

    // 2 h behind the newest event: more than the allowed lateness (1 h) behind the watermark.
    let too_late = order("k-late", "2026-11-27T12:00:00Z", "999", "web");
    assert_eq!(
        server
            .post("application/cloudevents+json", too_late.as_bytes())
            .json()["accepted"],
        1
    );
    let letters = wait_for(&server, "/v1/dead-letters?reason=late", |json| {
        json["total"] == 1
    });
    let reason = letters["items"][0]["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("late: event time 2026-11-27T12:00:00.000Z"),
        "{reason}"
    );
    let metrics = server.get("/metrics").text();
    assert!(
        metrics.contains("sightline_late_events_total 1\n"),
        "{metrics}"
    );
    let hour_again = server.get(&orders_path).json();
    assert!(
        window(&hour_again, "1h", "2026-11-27T12:00:00.000Z").is_none(),
        "a too-late event is not counted"
    );

    server.stop();
    let server = Server::start(&data_dir, Some(&config));
    wait_for(&server, "/readyz", |json| json["status"] == "ready");
    let replayed = server.get(&orders_path).json();
    assert_eq!(
        replayed, orders,
        "replaying the log rebuilds the same windows"
    );
    let letters = server.get("/v1/dead-letters?reason=late").json();
    assert_eq!(
        letters["total"], 1,
        "a replay does not write the late dead letter again"
    );
}

#[test]
fn the_kpi_list_and_query_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), None);
    let list = server.get("/v1/kpis").json();
    let names: Vec<&str> = list["kpis"]
        .as_array()
        .expect("kpis")
        .iter()
        .map(|kpi| kpi["name"].as_str().expect("name"))
        .collect();
    assert!(
        names.contains(&"orders") && names.contains(&"average_order_value"),
        "{names:?}"
    );
    let orders = list["kpis"]
        .as_array()
        .expect("kpis")
        .iter()
        .find(|kpi| kpi["name"] == "orders")
        .expect("orders");
    assert_eq!(orders["windows"], serde_json::json!(["1m", "1h"]));
    assert_eq!(orders["aggregate"], "count");

    let missing = server.get("/v1/kpis/ordrs");
    assert_eq!(missing.status, 404);
    let message = missing.json()["error"].as_str().expect("error").to_owned();
    assert!(
        message.contains("\"ordrs\"") && message.contains("orders, "),
        "{message}"
    );

    let bad = server.get("/v1/kpis/orders?from=yesterday");
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .expect("error")
            .starts_with("from: expected an RFC 3339 time")
    );
    let reversed = server.get("/v1/kpis/orders?from=2026-11-28T00:00:00Z&to=2026-11-27T00:00:00Z");
    assert_eq!(reversed.status, 400);
}

/// Windows closed long ago are answered from the history store, also after a restart,
/// and `revenue_today` carries the same weekday one week earlier up to the same time.
#[test]
fn past_windows_come_from_history_and_revenue_today_compares_with_last_week() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Final windows stay in memory for one minute only: older ones must come from disk.
    let config = common::write_config(
        dir.path(),
        "[time]\nidle_timeout = \"1h\"\n[history]\nkeep_in_memory = \"1m\"\nminute_windows = \"forever\"\n",
    );
    let data_dir = dir.path().join("data");
    let server = Server::start(&data_dir, Some(&config));
    let body = [
        // Friday 2026-11-13: 30.00 before noon, 120.00 after.
        order("w-1", "2026-11-13T09:00:00Z", "10.00", "web"),
        order("w-2", "2026-11-13T11:59:30Z", "20.00", "web"),
        order("w-3", "2026-11-13T12:00:30Z", "40.00", "web"),
        order("w-4", "2026-11-13T18:00:00Z", "80.00", "web"),
        // Friday 2026-11-20, up to 12:00:10 (the watermark: 12:00:05).
        order("t-1", "2026-11-20T08:00:00Z", "5.00", "web"),
        order("t-2", "2026-11-20T12:00:10Z", "7.00", "pos"),
    ]
    .join("\n");
    assert_eq!(
        server.post("application/x-ndjson", body.as_bytes()).json()["accepted"],
        6
    );
    let last_week = "/v1/kpis/orders?from=2026-11-13T00:00:00Z&to=2026-11-14T00:00:00Z";
    let orders = wait_for(&server, last_week, |json| {
        window(json, "1h", "2026-11-13T18:00:00.000Z").is_some()
    });
    let minutes: Vec<(&str, bool)> = orders["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .filter(|window| window["window"] == "1m")
        .map(|window| {
            (
                window["start"].as_str().expect("start"),
                window["final"].as_bool().expect("final"),
            )
        })
        .collect();
    assert_eq!(
        minutes,
        vec![
            ("2026-11-13T09:00:00.000Z", true),
            ("2026-11-13T11:59:00.000Z", true),
            ("2026-11-13T12:00:00.000Z", true),
            ("2026-11-13T18:00:00.000Z", true),
        ]
    );

    let today = "/v1/kpis/revenue_today?from=2026-11-20T00:00:00Z&to=2026-11-21T00:00:00Z";
    let revenue = wait_for(&server, today, |json| {
        window(json, "day", "2026-11-20T00:00:00.000Z")
            .is_some_and(|window| window["values"][0]["value"] == 12.0)
    });
    let day = window(&revenue, "day", "2026-11-20T00:00:00.000Z").expect("today");
    assert_eq!(day["final"], false);
    let compare = &day["values"][0]["compare"];
    assert_eq!(compare["from"], "2026-11-13T00:00:00.000Z");
    assert_eq!(
        compare["to"], "2026-11-13T12:00:05.000Z",
        "up to the same time of day: the watermark, a week earlier"
    );
    assert_eq!(
        compare["value"], 30.0,
        "last Friday up to 12:00: 10 + 20, not the 12:00:30 order"
    );
    assert_eq!(compare["change"], -0.6);
    let list = server.get("/v1/kpis").json();
    let listed = list["kpis"]
        .as_array()
        .expect("kpis")
        .iter()
        .find(|kpi| kpi["name"] == "revenue_today")
        .expect("revenue_today");
    assert_eq!(listed["compare_days_back"], 7);

    server.stop();
    let server = Server::start(&data_dir, Some(&config));
    server.wait_until_ready();
    assert_eq!(
        server.get(last_week).json(),
        orders,
        "history serves the same past windows after a restart"
    );
    let last_friday = server
        .get("/v1/kpis/revenue_today?from=2026-11-13T00:00:00Z&to=2026-11-14T00:00:00Z")
        .json();
    let closed_day = window(&last_friday, "day", "2026-11-13T00:00:00.000Z").expect("last Friday");
    assert_eq!(closed_day["final"], true);
    assert_eq!(closed_day["values"][0]["value"], 150.0);
    assert_eq!(closed_day["values"][0]["compare"]["value"], 0);
    assert_eq!(
        closed_day["values"][0]["compare"]["to"],
        "2026-11-07T00:00:00.000Z"
    );
    assert!(closed_day["values"][0]["compare"]["change"].is_null());
    let today_again = server.get(today).json();
    assert_eq!(
        window(&today_again, "day", "2026-11-20T00:00:00.000Z").expect("today")["values"][0]["compare"]
            ["value"],
        30.0
    );

    // Under the default retention (minute windows 8 days, hourly 400) the minute windows
    // of a fortnight ago are deleted at start, the hourly ones kept.
    server.stop();
    let config = common::write_config(
        dir.path(),
        "[time]\nidle_timeout = \"1h\"\n[history]\nkeep_in_memory = \"1m\"\n",
    );
    let server = Server::start(&data_dir, Some(&config));
    server.wait_until_ready();
    let expired = server.get(last_week).json();
    let labels: Vec<&str> = expired["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .map(|window| window["window"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, vec!["1h", "1h", "1h", "1h"]);
}

/// Pollers get an `ETag` and a bodiless 304 while nothing changed; a change gives a new
/// tag and the body again.
#[test]
fn polling_answers_not_modified_until_something_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = common::write_config(dir.path(), "[time]\nidle_timeout = \"1h\"\n");
    let server = Server::start(&dir.path().join("data"), Some(&config));
    server.wait_until_ready();
    let path = format!("/v1/kpis/orders?{RANGE}");
    let get = |if_none_match: Option<&str>| {
        let headers: Vec<(&str, &str)> = if_none_match
            .map(|tag| vec![("if-none-match", tag)])
            .unwrap_or_default();
        common::request(server.address, "GET", &path, &headers, b"")
    };
    let first = get(None);
    assert_eq!(first.status, 200);
    let tag = first.header("etag").expect("an ETag").to_owned();
    let unchanged = get(Some(&tag));
    assert_eq!(unchanged.status, 304);
    assert!(unchanged.body.is_empty());
    assert_eq!(unchanged.header("etag"), Some(tag.as_str()));
    assert_eq!(get(Some("\"some-other-tag\"")).status, 200);

    let body = order("e-1", "2026-11-27T14:03:11Z", "5.00", "web");
    assert_eq!(
        server.post("application/x-ndjson", body.as_bytes()).json()["accepted"],
        1
    );
    wait_for(&server, &path, |json| {
        window(json, "1h", "2026-11-27T14:00:00.000Z").is_some()
    });
    let changed = get(Some(&tag));
    assert_eq!(changed.status, 200, "the answer changed");
    assert_ne!(changed.header("etag"), Some(tag.as_str()));
    let list = common::request(server.address, "GET", "/v1/kpis", &[], b"");
    let list_tag = list.header("etag").expect("an ETag").to_owned();
    let again = common::request(
        server.address,
        "GET",
        "/v1/kpis",
        &[("if-none-match", &list_tag)],
        b"",
    );
    assert_eq!(again.status, 304, "nothing arrived in between");
}
