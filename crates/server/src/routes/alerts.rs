//! The alert API: `GET /v1/alerts`, `GET /v1/alerts/{id}` (with its history), `POST /v1/alerts/{id}/ack|assign|resolve`, and
//! silences (`GET`/`POST /v1/silences`, `DELETE /v1/silences/{id}`). Each change is
//! durable in the alert journal before it is answered.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sightline_alerts::{AlertState, AlertView, Alerter, AlertsError, SilenceRequest};
use sightline_model::time::{format_rfc3339, now_micros, parse_rfc3339};

use crate::alerting::AlertService;
use crate::error::ApiError;
use crate::state::AppState;

fn service(state: &AppState) -> Result<&AlertService, ApiError> {
    state.alerts.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "alerting is off: its journal could not be opened (the server log says why)",
        )
    })
}

fn alerts_error(error: AlertsError) -> ApiError {
    let status = match &error {
        AlertsError::UnknownAlert(_) | AlertsError::UnknownSilence(_) => StatusCode::NOT_FOUND,
        AlertsError::NotFiring { .. } => StatusCode::CONFLICT,
        AlertsError::InvalidSilence(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, error.to_string())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// `pending`, `firing`, `acknowledged`, `resolved` or `nodata`; default every alert
    /// but the no-data ones.
    state: Option<String>,
}

/// Alerts, newest first.
#[utoipa::path(
    get,
    path = "/v1/alerts",
    operation_id = "list_alerts",
    tag = "alerts",
    params(AlertsQuery),
    responses(
        (status = 200, description = "`{\"alerts\": [{\"id\", \"rule\", \"state\", \"severity\", \"labels\", \"value\", \"started_at\", \"assignee\", …}]}`", body = Object),
        (status = 400, description = "An unknown state", body = super::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<AlertsQuery>,
) -> Result<Response, ApiError> {
    let service = service(&state)?;
    let wanted = match query.state.as_deref() {
        None | Some("") => None,
        Some(text) => Some(AlertState::parse(text).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "state: expected pending, firing, acknowledged, resolved or nodata, got {text:?}"
                ),
            )
        })?),
    };
    let now = now_micros();
    let alerts: Vec<serde_json::Value> = service
        .alerter()
        .alerts(wanted, now)
        .iter()
        .map(|alert| alert.to_json())
        .collect();
    Ok(Json(serde_json::json!({ "alerts": alerts })).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// How far back, e.g. `30d` (default) or `7d`.
    since: Option<String>,
}

/// The alert tuning report: per rule, times fired, median time to acknowledge, share
/// acted on and auto-resolved; rules never acted on first, with advice.
#[utoipa::path(
    get,
    path = "/v1/alerts/report",
    operation_id = "alert_report",
    tag = "alerts",
    params(ReportQuery),
    responses(
        (status = 200, description = "`{\"since\", \"until\", \"rules\": [{\"rule\", \"fired\", \"median_time_to_ack_seconds\", \"share_acted_on\", \"never_acted_on\", \"advice\", …}]}`", body = Object),
        (status = 400, description = "A `since` that is not a duration", body = super::openapi::ErrorBody),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    let service = service(&state)?;
    let since = query.since.as_deref().unwrap_or("30d");
    let span = humantime::parse_duration(since).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("since: expected a duration such as 30d or 7d, got {since:?}"),
        )
    })?;
    let now = now_micros();
    let since_us = now.saturating_sub(i64::try_from(span.as_micros()).unwrap_or(i64::MAX));
    let report = service.alerter().report(since_us, now);
    Ok(Json(report.to_json()).into_response())
}

/// One alert and its history: every transition (with who acted and why) and what became
/// of every notification that listed it, failed attempts included, oldest first.
#[utoipa::path(
    get,
    path = "/v1/alerts/{id}",
    operation_id = "get_alert",
    tag = "alerts",
    params(("id" = String, Path, description = "The alert's id (its fingerprint)")),
    responses(
        (status = 200, description = "The alert as `GET /v1/alerts` lists it, plus `history`: `[{\"at\", \"event\": \"transition\", \"from\", \"to\", \"cause\", \"by\", …} | {\"at\", \"event\": \"notification\", \"receiver\", \"kind\", \"outcome\": \"queued|delivered|failed|gave_up\", \"attempt\", \"error\", \"retry_at\"}]`", body = Object),
        (status = 404, description = "No such alert", body = super::openapi::ErrorBody),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let service = service(&state)?;
    let now = now_micros();
    let alerter = service.alerter();
    let view = alerter.alert(&id, now).map_err(alerts_error)?;
    let mut history: Vec<(i64, u8, serde_json::Value)> = Vec::new();
    for transition in alerter.history(Some(&view.id)) {
        history.push((transition.at_us, 0, transition_json(&transition)));
    }
    for record in alerter.deliveries(Some(&view.id)) {
        history.push((record.at_us, 1, delivery_json(&record)));
    }
    for queued in alerter.outbox() {
        if queued.alerts.iter().any(|alert| alert.id == view.id) {
            history.push((
                queued.created_at,
                2,
                serde_json::json!({
                    "at": format_rfc3339(queued.created_at),
                    "event": "notification",
                    "notification": queued.id,
                    "receiver": queued.receiver,
                    "kind": queued.kind.as_str(),
                    "outcome": "queued",
                }),
            ));
        }
    }
    drop(alerter);
    // Stable: a transition before the notification it caused at the same instant.
    history.sort_by_key(|(at_us, order, _)| (*at_us, *order));
    let mut answer = view.to_json();
    answer["history"] = history
        .into_iter()
        .map(|(_, _, entry)| entry)
        .collect::<Vec<_>>()
        .into();
    Ok(Json(answer).into_response())
}

fn transition_json(transition: &sightline_alerts::Transition) -> serde_json::Value {
    use sightline_alerts::Cause;
    let (cause, by, assignee) = match &transition.cause {
        Cause::Evaluation => ("evaluation", None, None),
        Cause::Acknowledged { by } => ("acknowledged", Some(by.as_str()), None),
        Cause::AckExpired => ("ack_expired", None, None),
        Cause::Assigned { to, by } => ("assigned", Some(by.as_str()), Some(to.as_str())),
        Cause::ResolvedByHand { by } => ("resolved_by_hand", Some(by.as_str()), None),
        Cause::RuleRemoved => ("rule_removed", None, None),
    };
    serde_json::json!({
        "at": format_rfc3339(transition.at_us),
        "event": "transition",
        "from": transition.from.as_str(),
        "to": transition.to.as_str(),
        "cause": cause,
        "by": by,
        "assignee": assignee,
        "incident": transition.incident,
        "value": transition.value,
        "threshold": transition.threshold,
        "baseline": transition.baseline,
    })
}

fn delivery_json(record: &sightline_alerts::DeliveryRecord) -> serde_json::Value {
    serde_json::json!({
        "at": format_rfc3339(record.at_us),
        "event": "notification",
        "notification": record.notification_id,
        "receiver": record.receiver,
        "kind": record.kind.as_str(),
        "outcome": record.outcome.as_str(),
        "attempt": record.attempt,
        "error": record.error,
        "retry_at": record.retry_at_us.map(format_rfc3339),
    })
}

/// Who acts on an alert.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// The person acting (kept in the alert's history).
    #[serde(default)]
    by: String,
    /// For `assign`: the person it is assigned to (empty: unassigned).
    #[serde(default)]
    assignee: Option<String>,
}

fn action_body(body: Option<Json<ActionBody>>) -> ActionBody {
    body.map(|Json(body)| body).unwrap_or_default()
}

/// Runs one action on an alert (durable before it returns) and answers the alert as it
/// now stands.
fn act(
    state: &AppState,
    action: impl FnOnce(&mut Alerter, i64) -> Result<AlertView, AlertsError>,
) -> Result<Response, ApiError> {
    let service = service(state)?;
    let view = action(&mut service.alerter(), now_micros()).map_err(alerts_error)?;
    Ok(Json(view.to_json()).into_response())
}

/// Acknowledges an alert: escalation stops.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/ack",
    operation_id = "ack_alert",
    tag = "alerts",
    params(("id" = String, Path, description = "The alert's id")),
    request_body(content = ActionBody, description = "`{\"by\": \"who\"}` (optional)"),
    responses(
        (status = 200, description = "The alert as it now stands", body = Object),
        (status = 404, description = "No such alert", body = super::openapi::ErrorBody),
        (status = 409, description = "The alert is not firing", body = super::openapi::ErrorBody),
    )
)]
pub async fn ack(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Option<Json<ActionBody>>,
) -> Result<Response, ApiError> {
    let body = action_body(body);
    act(&state, |alerter, now| alerter.ack(&id, &body.by, now))
}

/// Assigns an alert to a person.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/assign",
    operation_id = "assign_alert",
    tag = "alerts",
    params(("id" = String, Path, description = "The alert's id")),
    request_body(content = ActionBody, description = "`{\"assignee\": \"who\", \"by\": \"who\"}`"),
    responses(
        (status = 200, description = "The alert as it now stands", body = Object),
        (status = 400, description = "No assignee given", body = super::openapi::ErrorBody),
        (status = 404, description = "No such alert", body = super::openapi::ErrorBody),
    )
)]
pub async fn assign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Option<Json<ActionBody>>,
) -> Result<Response, ApiError> {
    let body = action_body(body);
    let Some(assignee) = body.assignee else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "assignee: name the person, e.g. {\"assignee\": \"maria\", \"by\": \"sam\"} (\"\" unassigns)",
        ));
    };
    act(&state, |alerter, now| {
        alerter.assign(&id, &assignee, &body.by, now)
    })
}

/// Resolves an alert by hand ("fixed"); if its condition still holds it fires again,
/// as a new incident, after its `for`.
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/resolve",
    operation_id = "resolve_alert",
    tag = "alerts",
    params(("id" = String, Path, description = "The alert's id")),
    request_body(content = ActionBody, description = "`{\"by\": \"who\"}` (optional)"),
    responses(
        (status = 200, description = "The alert as it now stands", body = Object),
        (status = 404, description = "No such alert", body = super::openapi::ErrorBody),
    )
)]
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Option<Json<ActionBody>>,
) -> Result<Response, ApiError> {
    let body = action_body(body);
    act(&state, |alerter, now| alerter.resolve(&id, &body.by, now))
}

/// Silences, the newest ending first.
#[utoipa::path(
    get,
    path = "/v1/silences",
    operation_id = "list_silences",
    tag = "alerts",
    responses((status = 200, description = "`{\"silences\": [{\"id\", \"matchers\", \"starts_at\", \"ends_at\", \"comment\", \"created_by\", \"status\"}]}`", body = Object))
)]
pub async fn list_silences(State(state): State<AppState>) -> Result<Response, ApiError> {
    let service = service(&state)?;
    let now = now_micros();
    let silences: Vec<serde_json::Value> = service
        .alerter()
        .silences()
        .iter()
        .map(|silence| silence.to_json(now))
        .collect();
    Ok(Json(serde_json::json!({ "silences": silences })).into_response())
}

/// A new silence.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceBody {
    /// Label matchers, e.g. `["alertname=payment_failures_high", "gateway=~pay.*"]`.
    matchers: Vec<String>,
    /// RFC 3339; default now.
    #[serde(default)]
    starts_at: Option<String>,
    /// RFC 3339.
    ends_at: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    created_by: String,
}

/// Creates a silence: matching alerts notify nobody until it ends.
#[utoipa::path(
    post,
    path = "/v1/silences",
    operation_id = "create_silence",
    tag = "alerts",
    request_body(content = SilenceBody, description = "Matchers, an end (RFC 3339), an optional start, a comment and who"),
    responses(
        (status = 201, description = "The silence", body = Object),
        (status = 400, description = "A matcher or time that cannot be read", body = super::openapi::ErrorBody),
    )
)]
pub async fn create_silence(
    State(state): State<AppState>,
    Json(body): Json<SilenceBody>,
) -> Result<Response, ApiError> {
    let service = service(&state)?;
    let time = |text: &str, field: &str| {
        parse_rfc3339(text).map_err(|problem| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{field}: expected an RFC 3339 time such as 2026-11-28T18:00:00Z ({problem}), got {text:?}"),
            )
        })
    };
    let starts_at = match body.starts_at.as_deref() {
        Some(text) => Some(time(text, "starts_at")?),
        None => None,
    };
    let request = SilenceRequest {
        matchers: body.matchers,
        starts_at,
        ends_at: time(&body.ends_at, "ends_at")?,
        comment: body.comment,
        created_by: body.created_by,
    };
    let now = now_micros();
    let silence = service
        .alerter()
        .create_silence(&request, now)
        .map_err(alerts_error)?;
    Ok((StatusCode::CREATED, Json(silence.to_json(now))).into_response())
}

/// Ends a silence now.
#[utoipa::path(
    delete,
    path = "/v1/silences/{id}",
    operation_id = "expire_silence",
    tag = "alerts",
    params(("id" = String, Path, description = "The silence's id")),
    responses(
        (status = 200, description = "The silence, now expired", body = Object),
        (status = 404, description = "No such silence", body = super::openapi::ErrorBody),
    )
)]
pub async fn expire_silence(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let service = service(&state)?;
    let now = now_micros();
    let silence = service
        .alerter()
        .expire_silence(&id, now)
        .map_err(alerts_error)?;
    Ok(Json(silence.to_json(now)).into_response())
}
