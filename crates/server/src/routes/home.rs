//! `GET /`: until the live dashboard lands, a plain status page so that a first visit shows
//! the server working and where to go next.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::response::Html;
use sightline_model::RejectionCode;

use crate::state::AppState;

/// A status page for people: what the server has ingested, and where to go next.
#[utoipa::path(
    get,
    path = "/",
    operation_id = "home",
    tag = "operations",
    responses((status = 200, description = "An HTML status page", body = String, content_type = "text/html; charset=utf-8"))
)]
pub async fn home(State(state): State<AppState>) -> Html<String> {
    let metrics = state.ingest.metrics();
    let rejected: u64 = RejectionCode::ALL
        .iter()
        .map(|code| metrics.rejected(*code))
        .sum();
    let load = |value: &std::sync::atomic::AtomicU64| value.load(Ordering::Relaxed);
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sightline</title>
<style>body{{font:16px system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#222}}
td{{padding:.2rem 1rem .2rem 0}} code{{background:#f3f3f3;padding:0 .25rem}}</style></head>
<body><h1>Sightline is running</h1>
<p>Events are ingested and stored durably. The live dashboard is not built yet; until then this page shows the ingest counters.</p>
<table>
<tr><td>events accepted</td><td>{accepted}</td></tr>
<tr><td>duplicates</td><td>{duplicates}</td></tr>
<tr><td>rejected (see <a href="/v1/dead-letters">dead letters</a>)</td><td>{rejected}</td></tr>
<tr><td>log size</td><td>{log_bytes} bytes in {segments} segment(s)</td></tr>
</table>
<p>Send events with <code>POST /v1/events</code> (CloudEvents: structured, batch, binary or NDJSON).
Health: <a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>, <a href="/metrics">/metrics</a>.</p>
</body></html>"#,
        accepted = load(&metrics.events_accepted),
        duplicates = load(&metrics.events_duplicate),
        log_bytes = load(&metrics.log_bytes),
        segments = load(&metrics.log_segments),
    ))
}
