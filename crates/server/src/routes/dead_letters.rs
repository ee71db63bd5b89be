//! `GET /v1/dead-letters?reason=R&limit=N`: rejected and too-late events, newest first.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sightline_ingest::DeadLetterQuery;
use sightline_model::time::format_rfc3339;

use crate::error::ApiError;
use crate::state::AppState;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1_000;
/// Raw input shown per item; the store keeps up to 1 MiB of it.
const MAX_RAW_SHOWN: usize = 64 * 1024;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// Only these: a code exactly (`missing_field`, `late`), the field path a reason
    /// starts with (`data.total`), or the start of the reason text.
    reason: Option<String>,
    /// At most this many items (default 100).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 1000)]
    limit: Option<String>,
}

/// Dead letters, newest first.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DeadLetters)]
pub struct Listing {
    /// Dead letters matching `reason`, of which `items` shows the newest `limit`.
    total: u64,
    items: Vec<Item>,
}

/// One event that was rejected or arrived too late.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DeadLetter)]
struct Item {
    /// What was wrong, naming the field; begins with `late` for too-late events.
    reason: String,
    /// The reason as a stable code (`missing_field`, `late`, …).
    code: String,
    /// When the event was dead-lettered.
    #[schema(format = DateTime)]
    time: String,
    /// Where it came from: `http`, `import` or `engine`.
    origin: String,
    /// The event as received (the first 64 KiB).
    raw: String,
    /// Present and true when `raw` was cut.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    raw_truncated: bool,
}

/// Rejected and too-late events, newest first.
#[utoipa::path(
    get,
    path = "/v1/dead-letters",
    operation_id = "list_dead_letters",
    tag = "ingest",
    params(Params),
    responses(
        (status = 200, description = "The newest dead letters", body = Listing),
        (status = 400, description = "An unknown parameter or a bad `limit`", body = super::openapi::ErrorBody),
        (status = 500, description = "The dead-letter store could not be read", body = super::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Listing>, ApiError> {
    let Query(params) = params.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "{}; the parameters are reason and limit",
                rejection.body_text()
            ),
        )
    })?;
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| *limit <= MAX_LIMIT)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("limit: expected a whole number from 0 to {MAX_LIMIT}, got {text:?}"),
                )
            })?,
    };
    let query = DeadLetterQuery {
        reason: params.reason.filter(|reason| !reason.is_empty()),
        limit,
    };
    let store = state.ingest.dead_letters().clone();
    let (total, letters) = tokio::task::spawn_blocking(move || store.query(&query))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "dead-letter query task failed",
            )
        })?
        .map_err(|error| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reading the dead-letter store failed: {error}"),
            )
        })?;
    let items = letters
        .into_iter()
        .map(|letter| Item {
            reason: letter.reason,
            code: letter.code,
            time: format_rfc3339(letter.time_us),
            origin: letter.origin,
            raw_truncated: letter.raw.len() > MAX_RAW_SHOWN,
            raw: truncate(letter.raw, MAX_RAW_SHOWN),
        })
        .collect();
    Ok(Json(Listing { total, items }))
}

fn truncate(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let mut cut = limit;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text
}
