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

/// Ready when the log accepts writes and the engine has caught up with the log.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let not_ready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "not ready", "reason": reason })),
        )
    };
    if !state.ingest.is_healthy() {
        return not_ready(
            "the event log refused writes after a storage failure; restart the server".into(),
        );
    }
    if !state.kpis.is_caught_up() {
        return not_ready(format!(
            "the KPI engine is replaying the log ({} events to go)",
            state.kpis.lag()
        ));
    }
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "status": "ready" })),
    )
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::with_capacity(8192);
    state.ingest.metrics().render(&mut out);
    state.http_metrics.render(&mut out);
    render_engine(&state, &mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

fn render_engine(state: &AppState, out: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "# HELP sightline_engine_lag_events Durable events the KPI engine has not processed yet.\n# TYPE sightline_engine_lag_events gauge\nsightline_engine_lag_events {}",
        state.kpis.lag()
    );
    let engine = state.kpis.engine();
    let watermark = engine.watermark().max(0) as f64 / 1e6;
    let _ = writeln!(
        out,
        "# HELP sightline_engine_watermark_seconds The event-time watermark (Unix seconds).\n# TYPE sightline_engine_watermark_seconds gauge\nsightline_engine_watermark_seconds {watermark}"
    );
    let _ = writeln!(
        out,
        "# HELP sightline_kpi_events_skipped_total Events a KPI skipped because a field it needs was missing or unusable.\n# TYPE sightline_kpi_events_skipped_total counter"
    );
    for (kpi, reason, count) in engine.skipped() {
        let reason = reason.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            out,
            "sightline_kpi_events_skipped_total{{kpi=\"{kpi}\",reason=\"{reason}\"}} {count}"
        );
    }
}
