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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    reason: Option<String>,
    limit: Option<String>,
}

#[derive(Serialize)]
pub struct Listing {
    total: u64,
    items: Vec<Item>,
}

#[derive(Serialize)]
struct Item {
    reason: String,
    code: String,
    time: String,
    origin: String,
    raw: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    raw_truncated: bool,
}

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
