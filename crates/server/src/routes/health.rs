//! Liveness, readiness and the Prometheus exposition.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use sightline_alerts::AlertState;

use crate::state::AppState;

/// The answer of `/healthz` and `/readyz`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` (`/healthz`), `ready` or `not ready` (`/readyz`).
    status: &'static str,
    /// Why the server is not ready; only with `not ready`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Liveness: the process answers HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "operations",
    responses((status = 200, description = "The server is alive", body = Health))
)]
pub async fn healthz() -> impl IntoResponse {
    (
        StatusCode::OK,
        axum::Json(Health {
            status: "ok",
            reason: None,
        }),
    )
}

/// Ready when the log accepts writes and the engine has caught up with the log.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The log accepts writes and the KPI engine has caught up", body = Health),
        (status = 503, description = "Not ready; `reason` says why", body = Health),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let not_ready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(Health {
                status: "not ready",
                reason: Some(reason),
            }),
        )
    };
    if !state.ingest.is_healthy() {
        return not_ready(
            "the event log refused writes after a storage failure; restart the server".into(),
        );
    }
    if !state.ingest.is_ready() {
        return not_ready("reloading the dedup identities from the log".into());
    }
    if !state.kpis.is_caught_up() {
        return not_ready(format!(
            "the KPI engine is replaying the log ({} events to go)",
            state.kpis.lag()
        ));
    }
    (
        StatusCode::OK,
        axum::Json(Health {
            status: "ready",
            reason: None,
        }),
    )
}

/// The Prometheus text exposition of the ingest, HTTP and engine metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::with_capacity(8192);
    state.ingest.metrics().render(&mut out);
    state.http_metrics.render(&mut out);
    render_engine(&state, &mut out);
    let mut sources = sightline_sources::metrics::MetricFamilies::default();
    if let Some(shopify) = &state.shopify {
        shopify.metrics.collect(&mut sources);
    }
    if let Some(odoo) = &state.odoo {
        odoo.collect_metrics(&mut sources);
    }
    sources.render(&mut out);
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
    if let Some(push) = &state.push {
        let _ = writeln!(
            out,
            "# HELP sightline_push_clients Clients connected to GET /v1/stream.\n# TYPE sightline_push_clients gauge\nsightline_push_clients {}\n# HELP sightline_push_frames_total KPI updates sent out (each to every client subscribed).\n# TYPE sightline_push_frames_total counter\nsightline_push_frames_total {}",
            push.clients(),
            push.frames_published()
        );
    }
    if let Some(alerts) = &state.alerts {
        let _ = writeln!(
            out,
            "# HELP sightline_alert_rules Alert rules evaluated.\n# TYPE sightline_alert_rules gauge\nsightline_alert_rules {}",
            alerts.rules
        );
        let _ = writeln!(
            out,
            "# HELP sightline_alerts Alerts by state.\n# TYPE sightline_alerts gauge"
        );
        let counts: Vec<(AlertState, usize)> = {
            let alerter = alerts.alerter();
            [
                AlertState::Pending,
                AlertState::Firing,
                AlertState::Acknowledged,
                AlertState::Resolved,
                AlertState::NoData,
            ]
            .into_iter()
            .map(|state| (state, alerter.count_in_state(state)))
            .collect()
        };
        for (state, count) in counts {
            let _ = writeln!(
                out,
                "sightline_alerts{{state=\"{}\"}} {count}",
                state.as_str()
            );
        }
        let _ = writeln!(
            out,
            "# HELP sightline_alert_notifications_queued_total Notifications queued for delivery (durable in the alert journal).\n# TYPE sightline_alert_notifications_queued_total counter\nsightline_alert_notifications_queued_total {}\n# HELP sightline_alert_journal_errors_total Evaluation rounds whose journal write failed (retried).\n# TYPE sightline_alert_journal_errors_total counter\nsightline_alert_journal_errors_total {}",
            alerts
                .notifications_queued
                .load(std::sync::atomic::Ordering::Relaxed),
            alerts
                .journal_errors
                .load(std::sync::atomic::Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP sightline_alert_evaluation_seconds How long the last evaluation round took (reading the KPIs, judging every series, journalling).\n# TYPE sightline_alert_evaluation_seconds gauge\nsightline_alert_evaluation_seconds {}\n# HELP sightline_alert_series_evaluated Series values judged in the last round.\n# TYPE sightline_alert_series_evaluated gauge\nsightline_alert_series_evaluated {}",
            alerts
                .last_round_us
                .load(std::sync::atomic::Ordering::Relaxed) as f64
                / 1e6,
            alerts
                .last_round_series
                .load(std::sync::atomic::Ordering::Relaxed)
        );
        if let Some(metrics) = alerts.notify_metrics.get() {
            metrics.render_prometheus(out);
        }
    }
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
