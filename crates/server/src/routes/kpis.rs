//! `GET /v1/kpis` and `GET /v1/kpis/{name}?from=T&to=T` (api.md).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sightline_engine::aggregate::AggregateValue;
use sightline_model::time::{format_rfc3339, now_micros, parse_rfc3339};

use crate::error::ApiError;
use crate::kpis::AnsweredWindow;
use crate::state::AppState;

const DAY_US: i64 = 86_400_000_000;

/// Every KPI with its definition and its current values.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KpiList {
    kpis: Vec<KpiSummary>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct KpiSummary {
    name: String,
    description: String,
    /// Event types read (CloudEvents `type`).
    events: Vec<String>,
    /// The aggregate, e.g. `count`, `sum`, `mean`, `distinct`, `quantiles`, `ratio`.
    aggregate: String,
    /// Field path of the value (`data.total`); null for a count.
    #[schema(required = true)]
    value: Option<String>,
    /// Field paths whose values split the KPI into groups.
    group_by: Vec<String>,
    /// The window definitions: `5m` (tumbling), `1h/5m` (sliding, size/slide), `day`, `current`.
    windows: Vec<String>,
    /// The newest window of each window definition.
    current: Vec<WindowAnswer>,
    /// For a KPI with `compare`: how many local days back each window is compared with
    /// (7: the same weekday last week, up to the same time of day).
    #[serde(skip_serializing_if = "Option::is_none")]
    compare_days_back: Option<u32>,
}

/// The windows of one KPI that overlap `[from, to)`, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KpiWindows {
    name: String,
    windows: Vec<WindowAnswer>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WindowAnswer {
    /// The window definition this window belongs to, as in `KpiSummary.windows`.
    pub(crate) window: String,
    #[schema(format = DateTime)]
    pub(crate) start: String,
    #[schema(format = DateTime)]
    pub(crate) end: String,
    /// True once the watermark has passed `end`: the values will not change.
    #[serde(rename = "final")]
    pub(crate) is_final: bool,
    pub(crate) values: Vec<GroupValue>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct GroupValue {
    /// The group-by fields and their values; empty for an ungrouped KPI.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub(crate) group: serde_json::Map<String, serde_json::Value>,
    #[schema(schema_with = kpi_value_schema)]
    value: Box<RawValue>,
    /// For a KPI with `compare`: the same span `compare_days_back` local days earlier,
    /// up to the same time of day while the window is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    compare: Option<CompareAnswer>,
}

/// A window's value over an earlier span, and the change to it.
#[derive(Serialize, utoipa::ToSchema)]
struct CompareAnswer {
    #[schema(format = DateTime)]
    from: String,
    #[schema(format = DateTime)]
    to: String,
    /// The value over `[from, to)` (0 when nothing happened then).
    #[schema(value_type = f64)]
    value: Box<RawValue>,
    /// (value − earlier) ÷ earlier, as a fraction (0.12 = +12 %); null when the earlier
    /// value is 0.
    #[schema(value_type = Option<f64>, required = true)]
    change: Option<f64>,
}

/// A KPI value, as `AggregateValue::to_json` writes it.
fn kpi_value_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    let of = |kind: Type, description: &str| {
        ObjectBuilder::new()
            .schema_type(kind)
            .description(Some(description))
    };
    let one_of = OneOfBuilder::new()
        .description(Some(
            "The window's value for the group, exact (never through a float)",
        ))
        .item(of(Type::Number, "most aggregates (count, sum, mean, …)"))
        .item(of(Type::String, "`latest` of a text field"))
        .item(of(
            Type::Object,
            "multi-valued KPIs: quantiles `{\"p50\": …, \"p95\": …, \"p99\": …}`, counts per state or funnel step, `{\"count\": …, \"revenue\": …}`, overdue `{\"count\": …, \"oldest\": […]}`",
        ))
        .item(of(Type::Null, "no value yet (a mean, min, max or ratio over nothing)"))
        .build();
    Schema::OneOf(one_of)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// Start of the range (RFC 3339), inclusive; default `to` minus one day.
    #[param(format = DateTime)]
    from: Option<String>,
    /// End of the range (RFC 3339), exclusive; default now plus one day.
    #[param(format = DateTime)]
    to: Option<String>,
}

/// Every KPI with its definition and its current values.
#[utoipa::path(
    get,
    path = "/v1/kpis",
    operation_id = "list_kpis",
    tag = "kpis",
    params(("If-None-Match" = Option<String>, Header, description = "The ETag of an earlier answer: 304 when nothing changed")),
    responses(
        (status = 200, description = "Every KPI (with an `ETag`)", body = KpiList),
        (status = 304, description = "Nothing changed since the answer whose ETag was sent"),
    )
)]
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let now = now_micros();
    let definitions: Vec<_> = state.kpis.engine().kpis().cloned().collect();
    let kpis = definitions
        .iter()
        .map(|kpi| {
            let recent = state
                .kpis
                .recent_windows(&kpi.name, now - DAY_US, i64::MAX / 2)
                .unwrap_or_default();
            let current = kpi
                .windows
                .iter()
                .filter_map(|spec| {
                    let label = spec.label();
                    // The window of now; else (a quiet stream) the newest one.
                    crate::kpis::window_at(&recent, &label, now)
                        .or_else(|| {
                            recent
                                .iter()
                                .filter(|window| window.result.window == label)
                                .max_by_key(|window| window.result.start_us)
                        })
                        .map(answer)
                })
                .collect();
            KpiSummary {
                name: kpi.name.clone(),
                description: kpi.description.clone(),
                events: kpi.events.clone(),
                aggregate: kpi.aggregate.as_str().to_owned(),
                value: kpi.value.as_ref().map(ToString::to_string),
                group_by: kpi.group_by.iter().map(ToString::to_string).collect(),
                windows: kpi.windows.iter().map(|spec| spec.label()).collect(),
                current,
                compare_days_back: kpi.compare.as_ref().map(|compare| compare.days_back),
            }
        })
        .collect();
    json_with_etag(&headers, &KpiList { kpis })
}

/// The windows of one KPI that overlap `[from, to)`, oldest first.
#[utoipa::path(
    get,
    path = "/v1/kpis/{name}",
    operation_id = "kpi_windows",
    tag = "kpis",
    params(
        ("name" = String, Path, description = "The KPI's name, as listed by GET /v1/kpis"),
        Range,
        ("If-None-Match" = Option<String>, Header, description = "The ETag of an earlier answer: 304 when nothing changed"),
    ),
    responses(
        (status = 200, description = "The KPI's windows in the range (with an `ETag`)", body = KpiWindows),
        (status = 304, description = "Nothing changed since the answer whose ETag was sent"),
        (status = 400, description = "A bad `from` or `to`, or `from` not before `to`", body = super::openapi::ErrorBody),
        (status = 404, description = "No KPI has this name; the error lists the KPIs", body = super::openapi::ErrorBody),
    )
)]
pub async fn windows(
    State(state): State<AppState>,
    Path(name): Path<String>,
    range: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
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
    let Some(results) = state.kpis.windows(&name, from, to) else {
        return Err(unknown_kpi("", &name, &known_kpis(&state)));
    };
    let answer = KpiWindows {
        name,
        windows: results.iter().map(answer).collect(),
    };
    Ok(json_with_etag(&headers, &answer))
}

/// `value` as JSON with an `ETag` (a hash of the body), or 304 Not Modified when the
/// client's `If-None-Match` names that tag: pollers that ask often pay for a body only
/// when something changed.
pub(crate) fn json_with_etag(headers: &HeaderMap, value: &impl Serialize) -> Response {
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(error) => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the answer could not be written as JSON: {error}"),
            )
            .into_response();
        }
    };
    let tag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&body));
    if etag_matches(headers, &tag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::ETAG, tag),
        ],
        body,
    )
        .into_response()
}

/// Whether the client's `If-None-Match` names `tag` (or `*`); weak tags compare by
/// their value, as a GET's conditional allows.
pub(crate) fn etag_matches(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|candidate| candidate.trim().trim_start_matches("W/"))
        .any(|candidate| candidate == tag || candidate == "*")
}

/// The names of every KPI, in definition order.
pub(crate) fn known_kpis(state: &AppState) -> Vec<String> {
    state
        .kpis
        .engine()
        .kpis()
        .map(|kpi| kpi.name.clone())
        .collect()
}

/// 404 for a KPI `name` that does not exist, naming those that do; `parameter` is the
/// query parameter that named it (`""` for the path).
pub(crate) fn unknown_kpi(parameter: &str, name: &str, known: &[String]) -> ApiError {
    let prefix = if parameter.is_empty() {
        String::new()
    } else {
        format!("{parameter}: ")
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "{prefix}no KPI named {name:?}; the KPIs are: {}",
            known.join(", ")
        ),
    )
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

pub(crate) fn answer(answered: &AnsweredWindow) -> WindowAnswer {
    let window = &answered.result;
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
                compare: answered.comparison.as_ref().map(|comparison| {
                    let earlier = comparison
                        .values
                        .iter()
                        .find(|(earlier_group, _)| earlier_group == group)
                        .map(|(_, earlier)| earlier.clone())
                        .unwrap_or_else(|| zero_like(value));
                    CompareAnswer {
                        from: format_rfc3339(comparison.from_us),
                        to: format_rfc3339(comparison.to_us),
                        change: change(value, &earlier),
                        value: raw_number(&earlier),
                    }
                }),
            })
            .collect(),
    }
}

/// Nothing, in the kind of `value` (a count 0 or a decimal 0).
fn zero_like(value: &AggregateValue) -> AggregateValue {
    match value {
        AggregateValue::Count(_) => AggregateValue::Count(0),
        _ => AggregateValue::Decimal(rust_decimal::Decimal::ZERO),
    }
}

fn change(now: &AggregateValue, earlier: &AggregateValue) -> Option<f64> {
    let (now, earlier) = (now.sort_key(), earlier.sort_key());
    if earlier == 0.0 || !now.is_finite() || !earlier.is_finite() {
        return None;
    }
    let change = (now - earlier) / earlier;
    // Four decimals are plenty for a percentage and keep the JSON short.
    Some((change * 10_000.0).round() / 10_000.0)
}

/// Exact decimal digits as a JSON number (never through a float).
fn raw_number(value: &AggregateValue) -> Box<RawValue> {
    RawValue::from_string(value.to_json())
        .unwrap_or_else(|_| RawValue::from_string("null".to_owned()).expect("null is JSON"))
}
