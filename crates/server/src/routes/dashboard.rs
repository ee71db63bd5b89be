//! `GET /v1/dashboard`: the layout the page at `/` draws (`[dashboard]` in the config).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use crate::state::AppState;

/// The dashboard: its title, the business time zone and reporting currency the page
/// shows times and money in, and its rows of panels.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DashboardLayout {
    pub title: String,
    /// IANA name, e.g. `Europe/Berlin`: day windows start at its midnight.
    pub time_zone: String,
    /// ISO 4217 code of every money value.
    pub currency: String,
    /// Whether alert rules are evaluated (`GET /v1/alerts` answers); the alert panel
    /// polls only then.
    pub alerting: bool,
    /// Top to bottom; each `{"name", "panels": [...]}`.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<sightline_config::Row>,
}

impl DashboardLayout {
    /// The layout over the KPIs that `known` names (a default panel over a KPI that is
    /// not defined is left out); `alerting`: whether the alert API answers.
    pub fn new(
        config: &sightline_config::Config,
        known: &[String],
        alerting: bool,
    ) -> DashboardLayout {
        let is_defined = |name: &str| known.iter().any(|kpi| kpi == name);
        DashboardLayout {
            title: config.dashboard.title.clone(),
            time_zone: config.time.zone.clone(),
            currency: config.currency.reporting.get_ref().clone(),
            alerting,
            rows: config.dashboard.layout(&is_defined),
        }
    }
}

/// The dashboard's layout: which panels show which KPIs, and how.
#[utoipa::path(
    get,
    path = "/v1/dashboard",
    operation_id = "dashboard_layout",
    tag = "dashboard",
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of an earlier answer: 304 when nothing changed")),
    responses(
        (status = 200, description = "The layout (with an `ETag`). Panel kinds: number, bars, month_to_date, groups, table, funnel, pipeline, latency, map, low_stock, lines, alerts; each panel names its KPIs, window, field, format, steps, limit, span and thresholds", body = DashboardLayout),
        (status = 304, description = "Nothing changed since the answer whose ETag was sent"),
    )
)]
pub async fn layout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    super::kpis::json_with_etag(&headers, state.dashboard.as_ref())
}
