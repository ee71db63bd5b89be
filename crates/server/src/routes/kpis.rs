//! `GET /v1/kpis` and `GET /v1/kpis/{name}?from=T&to=T` (api.md).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sightline_engine::WindowResult;
use sightline_engine::aggregate::AggregateValue;
use sightline_model::time::{format_rfc3339, now_micros, parse_rfc3339};

use crate::error::ApiError;
use crate::state::AppState;

const DAY_US: i64 = 86_400_000_000;

#[derive(Serialize)]
pub struct KpiList {
    kpis: Vec<KpiSummary>,
}

#[derive(Serialize)]
struct KpiSummary {
    name: String,
    description: String,
    events: Vec<String>,
    aggregate: String,
    value: Option<String>,
    group_by: Vec<String>,
    windows: Vec<String>,
    /// The newest window of each window definition.
    current: Vec<WindowAnswer>,
}

#[derive(Serialize)]
pub struct KpiWindows {
    name: String,
    windows: Vec<WindowAnswer>,
}

#[derive(Serialize)]
struct WindowAnswer {
    window: String,
    start: String,
    end: String,
    #[serde(rename = "final")]
    is_final: bool,
    values: Vec<GroupValue>,
}

#[derive(Serialize)]
struct GroupValue {
    group: serde_json::Map<String, serde_json::Value>,
    value: Box<RawValue>,
}

#[derive(Deserialize)]
pub struct Range {
    from: Option<String>,
    to: Option<String>,
}

pub async fn list(State(state): State<AppState>) -> Json<KpiList> {
    let engine = state.kpis.engine();
    let now = now_micros();
    let kpis = engine
        .kpis()
        .map(|kpi| {
            let recent = engine
                .windows(&kpi.name, now - DAY_US, i64::MAX / 2)
                .unwrap_or_default();
            let current = kpi
                .windows
                .iter()
                .filter_map(|spec| {
                    let label = spec.label();
                    // Of the windows that contain now, the one ending soonest covers the
                    // last `size` (for sliding windows); else the newest window.
                    let of_spec = || recent.iter().filter(|window| window.window == label);
                    of_spec()
                        .filter(|window| window.start_us <= now && now < window.end_us)
                        .min_by_key(|window| window.start_us)
                        .or_else(|| of_spec().max_by_key(|window| window.start_us))
                        .map(answer)
                })
                .collect();
            KpiSummary {
                name: kpi.name.clone(),
                description: kpi.description.clone(),
                events: kpi.events.clone(),
                aggregate: format!("{:?}", kpi.aggregate).to_lowercase(),
                value: kpi.value.as_ref().map(ToString::to_string),
                group_by: kpi.group_by.iter().map(ToString::to_string).collect(),
                windows: kpi.windows.iter().map(|spec| spec.label()).collect(),
                current,
            }
        })
        .collect();
    Json(KpiList { kpis })
}

pub async fn windows(
    State(state): State<AppState>,
    Path(name): Path<String>,
    range: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<KpiWindows>, ApiError> {
    let Query(range) =
        range.map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let now = now_micros();
    let to = parse_time(range.to.as_deref(), "to", now + DAY_US)?;
    let from = parse_time(range.from.as_deref(), "from", to - DAY_US)?;
    if from >= to {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "from: must be before `to`",
        ));
    }
    let engine = state.kpis.engine();
    let Some(results) = engine.windows(&name, from, to) else {
        let known: Vec<String> = engine.kpis().map(|kpi| kpi.name.clone()).collect();
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no KPI named {name:?}; the KPIs are: {}", known.join(", ")),
        ));
    };
    Ok(Json(KpiWindows {
        name,
        windows: results.iter().map(answer).collect(),
    }))
}

fn parse_time(text: Option<&str>, parameter: &str, default: i64) -> Result<i64, ApiError> {
    let Some(text) = text else {
        return Ok(default);
    };
    parse_rfc3339(text).map_err(|problem| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{parameter}: expected an RFC 3339 time such as 2026-11-27T14:00:00Z ({problem}), got {text:?}"),
        )
    })
}

fn answer(window: &WindowResult) -> WindowAnswer {
    WindowAnswer {
        window: window.window.clone(),
        start: format_rfc3339(window.start_us),
        end: format_rfc3339(window.end_us),
        is_final: window.is_final,
        values: window
            .values
            .iter()
            .map(|(group, value)| GroupValue {
                group: group
                    .iter()
                    .map(|(key, value)| (key.clone(), serde_json::Value::String(value.clone())))
                    .collect(),
                value: raw_number(value),
            })
            .collect(),
    }
}

/// Exact decimal digits as a JSON number (never through a float).
fn raw_number(value: &AggregateValue) -> Box<RawValue> {
    RawValue::from_string(value.to_json())
        .unwrap_or_else(|_| RawValue::from_string("null".to_owned()).expect("null is JSON"))
}
