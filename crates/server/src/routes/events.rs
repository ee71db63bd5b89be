//! `POST /v1/events`: every mode of events.md, answered once the accepted events are durable.

use std::io::Read;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use sightline_ingest::{CommitOutcome, IngestError, Origin};
use sightline_model::time::now_micros;

use crate::decode::{decode, mode_of};
use crate::error::ApiError;
use crate::state::AppState;

/// Bodies above this are validated on the blocking pool instead of an async worker.
const INLINE_VALIDATION_LIMIT: usize = 1 << 20;
/// Events in one request, at most; bulk senders batch far fewer (1,000 is typical).
const MAX_EVENTS_PER_REQUEST: usize = 200_000;
/// Rejections listed one by one in an answer; the rest are counted.
const MAX_REJECTIONS_LISTED: usize = 1_000;

/// The per-event answer: how many events are now durable, how many were already stored,
/// and why each rejected one was rejected.
#[derive(Serialize, utoipa::ToSchema)]
struct IngestAnswer {
    /// Events now durable in the log.
    accepted: usize,
    /// Events whose `source` and `id` were already stored; not stored again.
    duplicates: usize,
    /// The rejected events, in request order (at most 1,000 are listed).
    rejected: Vec<RejectedAnswer>,
    /// Present when more events were rejected than are listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected_total: Option<usize>,
    /// Present (with status 400) when every event in the request was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RejectedAnswer {
    /// Counts from 0: the array element or the NDJSON line.
    index: usize,
    /// The event's `id`, when it could be read.
    #[schema(required = true)]
    id: Option<String>,
    /// What was wrong, naming the field.
    reason: String,
}

/// The two shapes of a 400 answer (documentation only; each is built where it arises).
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum IngestBadRequest {
    /// Every event was rejected: the per-event answer, with `error`.
    Rejected(IngestAnswer),
    /// The body could not be read at all (not JSON, bad gzip, bad `ce-*` headers).
    Unreadable(super::openapi::ErrorBody),
}

/// Ingests CloudEvents in structured, batch, binary or NDJSON mode (events.md), and
/// answers once every accepted event is durable. One bad event is rejected alone; the
/// rest of the request is accepted.
#[utoipa::path(
    post,
    path = "/v1/events",
    operation_id = "post_events",
    tag = "ingest",
    params(
        ("Content-Encoding" = Option<String>, Header, description = "`gzip` (or `x-gzip`) or `identity`; the body limit applies after decompression"),
        ("ce-specversion" = Option<String>, Header, description = "Binary mode: its presence selects binary mode, with the other attributes as `ce-*` headers (percent-encoded) and `data` as the application/json body"),
    ),
    request_body(
        description = "CloudEvents in one of four modes, chosen by Content-Type",
        content(
            (Object = "application/cloudevents+json"),
            ([Object] = "application/cloudevents-batch+json"),
            (String = "application/x-ndjson"),
            (Value = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "Some or all events are durable; `rejected` lists the others", body = IngestAnswer),
        (status = 400, description = "Every event was rejected (the per-event answer, with `error`), or the body could not be read", body = IngestBadRequest),
        (status = 408, description = "The body did not arrive within server.body_timeout", body = super::openapi::ErrorBody),
        (status = 413, description = "The body, after decompression, is over server.max_body (default 16 MiB), or holds more than 200,000 events", body = super::openapi::ErrorBody),
        (status = 415, description = "Unknown Content-Type or Content-Encoding; the answer lists the accepted ones", body = super::openapi::UnsupportedBody),
        (status = 503, description = "Storage failed; nothing in the request was acknowledged, retry later", body = super::openapi::ErrorBody),
    )
)]
pub async fn post_events(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let mode = mode_of(&parts.headers)?;
    let body = read_body(body, &parts.headers, &state).await?;
    let receive_time = now_micros();

    let ingest = state.ingest.clone();
    // Big or compressed bodies (a few kilobytes of gzip can inflate to the whole limit)
    // are decoded and validated on the blocking pool, so the async workers keep serving.
    let compressed = parts.headers.contains_key(header::CONTENT_ENCODING);
    let validate_on_blocking_pool = compressed || body.len() > INLINE_VALIDATION_LIMIT;
    let max_body_bytes = state.max_body_bytes;
    let headers = parts.headers;
    let validate = move || -> Result<_, ApiError> {
        let body = decompress(&headers, body, max_body_bytes)?;
        let decoded = decode(mode, &headers, body)?;
        if decoded.len() > MAX_EVENTS_PER_REQUEST {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request holds {} events, more than {MAX_EVENTS_PER_REQUEST}; split it into smaller requests",
                    decoded.len()
                ),
            ));
        }
        let raw_events: Vec<_> = decoded.raw_events().collect();
        Ok((decoded.len(), ingest.prepare(&raw_events, receive_time)))
    };
    let (events_in_request, batch) = if validate_on_blocking_pool {
        tokio::task::spawn_blocking(validate).await.map_err(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "validation task failed")
        })??
    } else {
        validate()?
    };

    let outcome = state
        .ingest
        .commit(batch, Origin::Http)
        .await
        .map_err(storage_error)?;
    Ok(answer(events_in_request, outcome))
}

fn answer(events_in_request: usize, outcome: CommitOutcome) -> Response {
    let rejected_count = outcome.rejected.len();
    let everything_rejected = events_in_request > 0 && rejected_count == events_in_request;
    let rejected = outcome
        .rejected
        .into_iter()
        .take(MAX_REJECTIONS_LISTED)
        .map(|rejected| RejectedAnswer {
            index: rejected.index,
            id: rejected.id,
            reason: rejected.reason,
        })
        .collect();
    let mut body = IngestAnswer {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        rejected,
        rejected_total: (rejected_count > MAX_REJECTIONS_LISTED).then_some(rejected_count),
        error: None,
    };
    // Some events stored: 200 with the per-event answer. None could be stored: 400, with
    // the same per-event answer, so a sender that only looks at the status still learns.
    let status = if everything_rejected {
        body.error =
            Some("every event in the request was rejected; see `rejected` for each reason".into());
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, axum::Json(body)).into_response()
}

fn storage_error(error: IngestError) -> ApiError {
    tracing::error!(%error, "ingest commit failed");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{error}; nothing in this request was acknowledged, retry later"),
    )
}

async fn read_body(body: Body, headers: &HeaderMap, state: &AppState) -> Result<Bytes, ApiError> {
    let limit = state.max_body_bytes;
    let collected =
        tokio::time::timeout(state.body_timeout, Limited::new(body, limit).collect()).await;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is over the limit of {limit} bytes (server.max_body); split it into smaller requests"
            ),
        )
    };
    match collected {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {:?} (server.body_timeout)",
                state.body_timeout
            ),
        )),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(error)) => {
            let declared_too_large = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok()?.parse::<usize>().ok())
                .is_some_and(|length| length > limit);
            if declared_too_large {
                return Err(too_large());
            }
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {error}"),
            ))
        }
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

fn decompress(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "identity" | "" => Ok(body),
        "gzip" | "x-gzip" => {
            let mut decoder = flate2::read::MultiGzDecoder::new(&body[..]).take(limit as u64 + 1);
            let mut output = Vec::with_capacity((body.len() * 6).min(limit + 1));
            decoder.read_to_end(&mut output).map_err(|error| {
                ApiError::new(StatusCode::BAD_REQUEST, format!("the body is not valid gzip ({error}); send it uncompressed or fix the compression"))
            })?;
            if output.len() > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the decompressed request body is over the limit of {limit} bytes (server.max_body); split it into smaller requests"
                    ),
                ));
            }
            Ok(Bytes::from(output))
        }
        other => {
            let mut error = ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Content-Encoding {other:?} is not supported; send gzip or no encoding"),
            );
            error.extra = Some((
                "accepted_encodings",
                serde_json::json!(["gzip", "identity"]),
            ));
            Err(error)
        }
    }
}
