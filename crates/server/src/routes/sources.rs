//! `POST /v1/sources/shopify` and `POST /v1/sources/odoo/{token}`: deliveries verified,
//! translated into catalogue events and answered once those events are durable (the same
//! ingest path, dedup and durability contract as `POST /v1/events`). The logic lives in
//! `sightline-sources`; this file reads the request and commits what it returns.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use sightline_ingest::{CommitOutcome, Origin, RawEvent};
use sightline_model::Rejection;
use sightline_model::time::now_micros;
use sightline_sources::odoo::{Batch, OdooReceiver, Refusal as OdooRefusal};
use sightline_sources::shopify::{Accepted, DeliveryHeaders, OutEvent, Refusal, ShopifyReceiver};

use crate::error::ApiError;
use crate::state::AppState;

/// Bodies above this are verified and translated on the blocking pool.
const INLINE_LIMIT: usize = 1 << 20;

/// The answer to a delivery that was verified and is durable.
#[derive(Serialize, utoipa::ToSchema)]
struct ShopifyAnswer {
    /// Events of this delivery now durable in the log.
    accepted: usize,
    /// Events already stored before (a retried or repeated delivery): not stored again.
    duplicates: usize,
    /// The events the delivery became, in order.
    events: Vec<EventRef>,
    /// Events the catalogue's validation refused (e.g. a currency without a rate), with
    /// the reason; kept in the dead letters.
    rejected: Vec<RejectedRef>,
    /// Present (with status 400) when every event of the delivery was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct EventRef {
    #[serde(rename = "type")]
    event_type: String,
    id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RejectedRef {
    id: String,
    reason: String,
}

/// Receives a Shopify webhook. The `X-Shopify-Hmac-Sha256` signature is checked with the
/// secrets of the shop in `X-Shopify-Shop-Domain` before the body is read as JSON; the
/// topic becomes catalogue events (`source` = `shopify/<shop>`), and the answer comes
/// once they are durable. A retried delivery is answered 200 with its events counted as
/// duplicates.
#[utoipa::path(
    post,
    path = "/v1/sources/shopify",
    operation_id = "post_shopify_webhook",
    tag = "ingest",
    params(
        ("X-Shopify-Shop-Domain" = String, Header, description = "The shop; must be configured under [[sources.shopify.shops]]"),
        ("X-Shopify-Hmac-Sha256" = String, Header, description = "base64 HMAC-SHA256 of the raw body with the shop's webhook secret"),
        ("X-Shopify-Topic" = String, Header, description = "e.g. orders/create; topics without a catalogue mapping are kept as shopify.<topic> events"),
        ("X-Shopify-Event-Id" = Option<String>, Header, description = "The delivery's event id (X-Shopify-Webhook-Id stands in when it is absent)"),
        ("X-Shopify-Webhook-Id" = Option<String>, Header, description = "Used when X-Shopify-Event-Id is absent"),
        ("X-Shopify-Triggered-At" = Option<String>, Header, description = "When Shopify sent it; the delivery lag in /metrics"),
    ),
    request_body(description = "The Shopify webhook payload (JSON), exactly as Shopify signed it", content((Object = "application/json"))),
    responses(
        (status = 200, description = "The delivery's events are durable (or were already stored)", body = ShopifyAnswer),
        (status = 400, description = "A required header is missing, the payload cannot be translated (the reason names the field), or every event was refused", body = super::openapi::ErrorBody),
        (status = 401, description = "Unknown shop, or the signature does not match the shop's secret; nothing is stored", body = super::openapi::ErrorBody),
        (status = 408, description = "The body did not arrive within server.body_timeout", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is over server.max_body", body = super::openapi::ErrorBody),
        (status = 503, description = "Storage failed or the Shopify source could not start; nothing was acknowledged, Shopify will retry", body = super::openapi::ErrorBody),
    )
)]
pub async fn post_shopify(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let Some(receiver) = state.shopify.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the Shopify source could not start (see the server log); nothing was stored, Shopify will retry",
        ));
    };
    let (parts, body) = request.into_parts();
    let body = read_body(body, &state).await?;
    let now = now_micros();
    let headers = parts.headers;
    let on_blocking_pool =
        body.len() > INLINE_LIMIT || ShopifyReceiver::blocks(header(&headers, "x-shopify-topic"));
    let receive = {
        let receiver = Arc::clone(&receiver);
        let body = body.clone();
        move || receiver.receive(&delivery_headers(&headers), &body, now)
    };
    let received = if on_blocking_pool {
        tokio::task::spawn_blocking(receive).await.map_err(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the webhook task failed")
        })?
    } else {
        receive()
    };
    match received {
        Ok(accepted) => commit(&state, &receiver, accepted, now).await,
        Err(refusal) => Err(refused(&state, refusal, &body, now).await),
    }
}

/// Commits the delivery's events and answers once they are durable.
pub(crate) async fn commit(
    state: &AppState,
    receiver: &ShopifyReceiver,
    accepted: Accepted,
    now: i64,
) -> Result<Response, ApiError> {
    let committed = commit_events(state, &accepted.events, now, |error| {
        tracing::error!(%error, shop = %accepted.shop.domain, "commit of a Shopify delivery failed");
        format!("{error}; nothing in this delivery was acknowledged, Shopify will retry")
    })
    .await?;
    receiver.committed(&accepted, committed.outcome.duplicates, now);
    let everything_rejected = committed.everything_rejected();
    let mut answer = ShopifyAnswer {
        accepted: committed.outcome.accepted,
        duplicates: committed.outcome.duplicates,
        events: committed.events,
        rejected: committed.rejected,
        error: None,
    };
    if everything_rejected {
        receiver.events_rejected(&accepted.shop.domain);
        answer.error = Some(
            "every event of this delivery was refused by validation; see `rejected` for each reason"
                .into(),
        );
        return Ok((StatusCode::BAD_REQUEST, axum::Json(answer)).into_response());
    }
    Ok((StatusCode::OK, axum::Json(answer)).into_response())
}

/// The answer to a refused delivery. A verified payload that cannot be translated is
/// kept in the dead letters (so it can be looked at); a forged one never is.
async fn refused(state: &AppState, refusal: Refusal, body: &Bytes, now: i64) -> ApiError {
    if let Some(error) = &refusal.translate_error {
        keep_untranslatable(state, error, &refusal.message, body, now, "Shopify").await;
    }
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
    ApiError::new(status, refusal.message)
}

/// Commits the cart growth a crash may have left uncommitted (see `cart_state.rs` in
/// `sightline-sources`), once, at start.
pub(crate) fn recover_pending_carts(state: &AppState) {
    let Some(receiver) = state.shopify.clone() else {
        return;
    };
    let pending = receiver.pending_cart_deliveries();
    if pending.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let state = state.clone();
    runtime.spawn(async move {
        let deliveries = pending.len();
        for accepted in pending {
            if let Err(error) = commit(&state, &receiver, accepted, now_micros()).await {
                tracing::warn!(error = %error.message, "cart growth not recovered; it is tried again at the next start");
                return;
            }
        }
        tracing::info!(deliveries, "cart growth recorded before a restart is committed");
    });
}

/// The answer to an Odoo webhook whose events are durable.
#[derive(Serialize, utoipa::ToSchema)]
struct OdooAnswer {
    /// Events of this record now durable in the log.
    accepted: usize,
    /// Events already stored before (a repeated notification, or the poller or outbox
    /// was first): not stored again.
    duplicates: usize,
    /// The events the record became, in order; empty for a record that stands for none
    /// (a quotation, a receipt).
    events: Vec<EventRef>,
    /// Events the catalogue's validation refused (e.g. a currency without a rate), with
    /// the reason; kept in the dead letters.
    rejected: Vec<RejectedRef>,
    /// Present (with status 400) when every event was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Receives Odoo's "Send Webhook Notification" (Odoo 17+ automation rules). Odoo signs
/// nothing: the secret token in the URL authenticates, compared in constant time before
/// the body is read. The payload (`_model`, `_id` and the chosen fields; many2one fields
/// as ids, datetimes as naive UTC text) becomes catalogue events (`source` =
/// `odoo/<instance>`) with the same identities as the poller's and the outbox's, and the
/// answer comes once they are durable.
#[utoipa::path(
    post,
    path = "/v1/sources/odoo/{token}",
    operation_id = "post_odoo_webhook",
    tag = "ingest",
    params(("token" = String, Path, description = "The webhook token of [sources.odoo.webhook]")),
    request_body(description = "The automation's payload: {\"_model\": \"sale.order\", \"_id\": 42, ...fields}", content((Object = "application/json"))),
    responses(
        (status = 200, description = "The record's events are durable (or were already stored)", body = OdooAnswer),
        (status = 400, description = "The payload cannot be translated (the reason names the field; kept in the dead letters), or every event was refused", body = super::openapi::ErrorBody),
        (status = 401, description = "The token is not a configured one; nothing is read or stored", body = super::openapi::ErrorBody),
        (status = 404, description = "No Odoo webhook is configured", body = super::openapi::ErrorBody),
        (status = 408, description = "The body did not arrive within server.body_timeout", body = super::openapi::ErrorBody),
        (status = 413, description = "The body is over server.max_body", body = super::openapi::ErrorBody),
        (status = 503, description = "Storage failed or the Odoo source could not start; nothing was acknowledged", body = super::openapi::ErrorBody),
    )
)]
pub async fn post_odoo(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let Some(receiver) = state.odoo.clone() else {
        if state.odoo_configured {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the Odoo source could not start (see the server log); nothing was stored",
            ));
        }
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no Odoo webhook is configured; add [sources.odoo.webhook] to the configuration",
        ));
    };
    if !receiver.accepts_webhooks() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no Odoo webhook is configured; add [sources.odoo.webhook] to the configuration",
        ));
    }
    let now = now_micros();
    // The token first: a stranger costs one hash, never a body read.
    if !receiver.authenticate(&token) {
        // Counted and logged (without the token) as any refusal is.
        let message = match receiver.receive_webhook(&token, b"", now) {
            Err(refusal) => refusal.message,
            Ok(_) => "the token is not a configured Odoo webhook token".to_owned(),
        };
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, message));
    }
    let body = read_body(request.into_body(), &state).await?;
    let received = {
        let receiver = Arc::clone(&receiver);
        let body = body.clone();
        // Product SKUs and production growth are journalled (fsync): off the workers.
        tokio::task::spawn_blocking(move || receiver.receive_webhook(&token, &body, now))
            .await
            .map_err(|_| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the webhook task failed")
            })?
    };
    match received {
        Ok(batch) => commit_odoo(&state, &receiver, batch, now).await,
        Err(refusal) => Err(refused_odoo(&state, refusal, &body, now).await),
    }
}

async fn commit_odoo(
    state: &AppState,
    receiver: &OdooReceiver,
    batch: Batch,
    now: i64,
) -> Result<Response, ApiError> {
    let committed = commit_events(state, &batch.events, now, |error| {
        tracing::error!(%error, "commit of an Odoo webhook failed");
        format!("{error}; nothing in this notification was acknowledged")
    })
    .await?;
    receiver.committed(
        &batch,
        &sightline_sources::odoo::SinkOutcome {
            accepted: committed.outcome.accepted,
            duplicates: committed.outcome.duplicates,
            rejected: committed
                .outcome
                .rejected
                .iter()
                .map(|rejected| (rejected.index, rejected.reason.clone()))
                .collect(),
        },
    );
    let everything_rejected = committed.everything_rejected();
    let mut answer = OdooAnswer {
        accepted: committed.outcome.accepted,
        duplicates: committed.outcome.duplicates,
        events: committed.events,
        rejected: committed.rejected,
        error: None,
    };
    if everything_rejected {
        answer.error = Some(
            "every event of this record was refused by validation; see `rejected` for each reason"
                .into(),
        );
        return Ok((StatusCode::BAD_REQUEST, axum::Json(answer)).into_response());
    }
    Ok((StatusCode::OK, axum::Json(answer)).into_response())
}

/// An authenticated payload that cannot be translated is kept in the dead letters.
async fn refused_odoo(state: &AppState, refusal: OdooRefusal, body: &Bytes, now: i64) -> ApiError {
    if let Some(error) = &refusal.translate_error {
        keep_untranslatable(state, error, &refusal.message, body, now, "Odoo").await;
    }
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
    ApiError::new(status, refusal.message)
}

/// Translated events, committed: the ingest outcome and the answer's lists.
struct Committed {
    outcome: CommitOutcome,
    events: Vec<EventRef>,
    rejected: Vec<RejectedRef>,
}

impl Committed {
    /// Every event refused by validation (the answer is then a 400).
    fn everything_rejected(&self) -> bool {
        !self.events.is_empty() && self.rejected.len() == self.events.len()
    }
}

/// Commits a source's translated events through the ingest path of `POST /v1/events`;
/// a failed commit is a 503 with the message `failure` makes of the error.
async fn commit_events(
    state: &AppState,
    events: &[OutEvent],
    now: i64,
    failure: impl FnOnce(&sightline_ingest::IngestError) -> String,
) -> Result<Committed, ApiError> {
    let raw_events: Vec<RawEvent<'_>> = events
        .iter()
        .enumerate()
        .map(|(index, event)| RawEvent {
            index,
            bytes: &event.json,
            decode_error: None,
        })
        .collect();
    let batch = state.ingest.prepare(&raw_events, now);
    let outcome = state
        .ingest
        .commit(batch, Origin::Http)
        .await
        .map_err(|error| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, failure(&error)))?;
    let rejected = outcome
        .rejected
        .iter()
        .map(|rejected| RejectedRef {
            id: events
                .get(rejected.index)
                .map_or_else(String::new, |event| event.id.clone()),
            reason: rejected.reason.clone(),
        })
        .collect();
    Ok(Committed {
        events: events
            .iter()
            .map(|event| EventRef {
                event_type: event.event_type.clone(),
                id: event.id.clone(),
            })
            .collect(),
        rejected,
        outcome,
    })
}

/// Keeps an authenticated payload that cannot be translated in the dead letters, so it
/// can be looked at (a forged one never gets here).
async fn keep_untranslatable(
    state: &AppState,
    error: &sightline_sources::TranslateError,
    message: &str,
    body: &Bytes,
    now: i64,
    source: &str,
) {
    let rejection = Rejection::new(error.code(), message.to_owned());
    let raw = [RawEvent {
        index: 0,
        bytes: body,
        decode_error: Some(&rejection),
    }];
    let batch = state.ingest.prepare(&raw, now);
    if let Err(error) = state.ingest.commit(batch, Origin::Http).await {
        tracing::error!(%error, source, "cannot keep an untranslatable payload in the dead letters");
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn delivery_headers(headers: &HeaderMap) -> DeliveryHeaders<'_> {
    DeliveryHeaders {
        shop_domain: header(headers, "x-shopify-shop-domain"),
        hmac: headers
            .get("x-shopify-hmac-sha256")
            .map(|value| value.as_bytes()),
        topic: header(headers, "x-shopify-topic"),
        event_id: header(headers, "x-shopify-event-id"),
        webhook_id: header(headers, "x-shopify-webhook-id"),
        triggered_at: header(headers, "x-shopify-triggered-at"),
    }
}

async fn read_body(body: Body, state: &AppState) -> Result<Bytes, ApiError> {
    let limit = state.max_body_bytes;
    let collected =
        tokio::time::timeout(state.body_timeout, Limited::new(body, limit).collect()).await;
    match collected {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {:?} (server.body_timeout)",
                state.body_timeout
            ),
        )),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the webhook body is over the limit of {limit} bytes (server.max_body)"),
        )),
        Ok(Err(error)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body could not be read: {error}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}
