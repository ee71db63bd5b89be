//! `GET /v1/openapi.json`: the OpenAPI 3 document describes every route the server
//! serves, and every route it describes is served.

mod common;

use std::collections::BTreeSet;

use common::Server;
use serde_json::Value;

/// Every route of the HTTP API (api.md), as `(method, path)` in OpenAPI's spelling.
const EXPECTED: &[(&str, &str)] = &[
    ("get", "/"),
    ("post", "/v1/events"),
    ("post", "/v1/sources/shopify"),
    ("post", "/v1/sources/odoo/{token}"),
    ("get", "/v1/dead-letters"),
    ("get", "/v1/dashboard"),
    ("get", "/v1/kpis"),
    ("get", "/v1/kpis/{name}"),
    ("get", "/v1/alerts"),
    ("get", "/v1/alerts/report"),
    ("get", "/v1/alerts/{id}"),
    ("post", "/v1/alerts/{id}/ack"),
    ("post", "/v1/alerts/{id}/assign"),
    ("post", "/v1/alerts/{id}/resolve"),
    ("get", "/v1/silences"),
    ("post", "/v1/silences"),
    ("delete", "/v1/silences/{id}"),
    ("get", "/v1/stream"),
    ("get", "/v1/ws"),
    ("get", "/v1/openapi.json"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace", "query",
];

fn fetch_document(server: &Server) -> Value {
    let response = server.get("/v1/openapi.json");
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .is_some_and(|value| value.starts_with("application/json")),
        "content type: {:?}",
        response.header("content-type")
    );
    response.json()
}

fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"]
        .as_object()
        .expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| (method.to_string(), path.clone()))
        })
        .collect()
}

#[test]
fn openapi_document_lists_every_route() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = Server::start(dir.path(), None);
    let document = fetch_document(&server);

    let version = document["openapi"].as_str().expect("an `openapi` version");
    assert!(version.starts_with("3."), "openapi version {version}");
    assert_eq!(document["info"]["title"], "Sightline");
    assert!(document["info"]["version"].is_string());

    let expected: BTreeSet<(String, String)> = EXPECTED
        .iter()
        .map(|&(method, path)| (method.to_owned(), path.to_owned()))
        .collect();
    assert_eq!(operations(&document), expected);

    let events = &document["paths"]["/v1/events"]["post"];
    for status in ["200", "400", "408", "413", "415", "503"] {
        assert!(
            events["responses"].get(status).is_some(),
            "POST /v1/events documents no {status} response: {}",
            events["responses"]
        );
    }
    let bodies = events["requestBody"]["content"]
        .as_object()
        .expect("POST /v1/events documents its request body");
    for content_type in [
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/x-ndjson",
        "application/json",
    ] {
        assert!(
            bodies.contains_key(content_type),
            "request body {content_type} is not documented"
        );
    }

    let windows = &document["paths"]["/v1/kpis/{name}"]["get"];
    let parameters: BTreeSet<(&str, &str)> = windows["parameters"]
        .as_array()
        .expect("GET /v1/kpis/{name} has parameters")
        .iter()
        .map(|parameter| {
            (
                parameter["name"].as_str().expect("a parameter name"),
                parameter["in"].as_str().expect("a parameter location"),
            )
        })
        .collect();
    assert_eq!(
        parameters,
        BTreeSet::from([
            ("name", "path"),
            ("from", "query"),
            ("to", "query"),
            ("If-None-Match", "header")
        ])
    );
    for status in ["200", "304", "400", "404"] {
        assert!(windows["responses"].get(status).is_some(), "no {status}");
    }

    let dead_letters = &document["paths"]["/v1/dead-letters"]["get"];
    let names: BTreeSet<&str> = dead_letters["parameters"]
        .as_array()
        .expect("GET /v1/dead-letters has parameters")
        .iter()
        .filter_map(|parameter| parameter["name"].as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["reason", "limit"]));

    // Operation ids are unique, and every referenced schema exists.
    let ids: Vec<&str> = operations(&document)
        .iter()
        .map(|(method, path)| {
            document["paths"][path][method]["operationId"]
                .as_str()
                .expect("every operation has an operationId")
        })
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate operationIds: {ids:?}");
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("the document has schemas");
    let mut references = Vec::new();
    collect_references(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
        assert!(schemas.contains_key(name), "dangling $ref {reference}");
    }

    // Served once, identically.
    assert_eq!(fetch_document(&server), document);
    server.stop();
}

/// Every documented operation is served: none falls through to the 404 or 405 fallback.
#[test]
fn every_documented_route_is_served() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let server = Server::start(dir.path(), None);
    let document = fetch_document(&server);
    for (method, path) in operations(&document) {
        let mut concrete = path.replace("{name}", "no-such-kpi");
        if path == "/v1/stream" {
            // A stream never ends by itself; a KPI that does not exist gets an answer.
            concrete.push_str("?kpis=no-such-kpi");
        }
        let response = common::request(server.address, &method.to_uppercase(), &concrete, &[], b"");
        let body = response.text();
        assert!(
            !body.contains("no such endpoint") && response.status != 405,
            "{method} {path} is documented but not served: {} {body}",
            response.status
        );
    }
    server.stop();
}

fn collect_references<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("$ref", Value::String(reference)) => out.push(reference),
                    _ => collect_references(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, out)),
        _ => {}
    }
}
