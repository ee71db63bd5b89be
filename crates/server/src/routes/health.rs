//! Liveness, readiness and the Prometheus exposition.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use crate::state::AppState;

pub async fn healthz() -> impl IntoResponse {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "status": "ok" })),
    )
}

/// Ready when the log is open and accepting writes.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.ingest.is_healthy() {
        return (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ready" })),
        );
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({
            "status": "not ready",
            "reason": "the event log refused writes after a storage failure; restart the server"
        })),
    )
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::with_capacity(8192);
    state.ingest.metrics().render(&mut out);
    state.http_metrics.render(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
