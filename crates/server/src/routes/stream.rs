//! `GET /v1/stream`: KPI updates as Server-Sent Events (see `crate::push`).
//!
//! Every event is `event: kpi`, `id: N`, `data:` one window as `GET /v1/kpis/{name}`
//! answers it plus `"name"`; big windows come as changes after their first frame
//! (`"partial": true`, see `crate::push`). A client starts with a snapshot (`event: snapshot`, then the
//! KPIs' windows of the last day), then gets every change. Reconnecting with
//! `Last-Event-ID` resumes without a gap when the server still holds what was missed,
//! else starts with a fresh snapshot (its `reason` says why).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sightline_model::time::now_micros;
use tokio::sync::broadcast;

use super::kpis::{known_kpis, unknown_kpi};
use crate::error::ApiError;
use crate::push::{Frame, PushHub, frame_data};
use crate::state::AppState;

const DAY_US: i64 = 86_400_000_000;
/// A client given this many snapshots for falling behind within `LAG_PERIOD` cannot
/// keep up and is disconnected.
const LAGS_ALLOWED: usize = 3;
const LAG_PERIOD: Duration = Duration::from_secs(60);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// KPI names, comma-separated; default every KPI.
    pub(crate) kpis: Option<String>,
    /// Where to resume (the id of the last event received), for clients that cannot
    /// send the `Last-Event-ID` header.
    pub(crate) last_event_id: Option<String>,
}

/// Live KPI updates as Server-Sent Events.
#[utoipa::path(
    get,
    path = "/v1/stream",
    operation_id = "stream",
    tag = "kpis",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received: resume after it"),
    ),
    responses(
        (status = 200, description = "`event: snapshot` (data `{\"reason\": …, \"id\": N}`), then `event: kpi` events (`id: N`, data: one window plus `name`; a window of 64 or more groups, after its first frame, comes as `\"partial\": true` with only the groups that changed and `\"removed\"`: groups gone) and `: heartbeat` comments; `event: close` (data `{\"reason\": …}`) before the server ends a stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "A bad query parameter", body = super::openapi::ErrorBody),
        (status = 404, description = "A KPI in `kpis` does not exist; the error lists the KPIs", body = super::openapi::ErrorBody),
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let resume_from = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id);
    let client = Client::open(&state, query.kpis.as_deref(), resume_from.as_deref())?;
    let heartbeat = client.heartbeat();
    let events = futures_util::stream::unfold(client, |mut client| async move {
        let outgoing = client.next_event().await?;
        Some((
            Ok::<Event, std::convert::Infallible>(outgoing.sse()),
            client,
        ))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"))
        .into_response())
}

/// One message to a client, whatever carries it: SSE's `event`, `id` and `data`, or a
/// WebSocket text message `{"event": …, "id": …, "data": …}`.
pub(crate) struct Outgoing {
    pub(crate) event: &'static str,
    pub(crate) id: Option<u64>,
    pub(crate) data: String,
}

impl Outgoing {
    fn sse(self) -> Event {
        let event = Event::default().event(self.event).data(self.data);
        match self.id {
            Some(id) => event.id(id.to_string()),
            None => event,
        }
    }

    /// The WebSocket message: `data` is embedded as JSON, not as a string.
    pub(crate) fn ws_text(&self) -> String {
        let id = self.id.map_or("null".to_owned(), |id| id.to_string());
        format!(
            "{{\"event\":\"{}\",\"id\":{id},\"data\":{}}}",
            self.event, self.data
        )
    }
}

/// One stream client (SSE or WebSocket): what it is sent next.
pub(crate) struct Client {
    state: AppState,
    hub: Arc<PushHub>,
    receiver: broadcast::Receiver<Arc<Frame>>,
    closing: tokio::sync::watch::Receiver<bool>,
    subscribed: Vec<String>,
    pending: VecDeque<Outgoing>,
    /// Frames up to this id are in `pending` or sent.
    sent_up_to: u64,
    /// When the client was last given a snapshot for falling behind.
    lags: VecDeque<Instant>,
    closed: bool,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.hub.client_gone();
    }
}

impl Client {
    /// A client of the KPIs named in `kpis` (comma-separated; every KPI when absent),
    /// starting after `resume_from` when the hub still holds what followed it, else
    /// with a snapshot.
    pub(crate) fn open(
        state: &AppState,
        kpis: Option<&str>,
        resume_from: Option<&str>,
    ) -> Result<Client, ApiError> {
        let subscribed = subscribed_names(state, kpis)?;
        let Some(hub) = state.push.clone() else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "live updates are off (see the server log); poll GET /v1/kpis instead",
            ));
        };
        let closing = hub.closing();
        if *closing.borrow() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is stopping; reconnect in a moment",
            ));
        }
        // Subscribed before the snapshot or the replay is read, so nothing falls between.
        let receiver = hub.subscribe();
        hub.client_connected();
        let mut client = Client {
            state: state.clone(),
            hub: Arc::clone(&hub),
            receiver,
            closing,
            subscribed,
            pending: VecDeque::new(),
            sent_up_to: 0,
            lags: VecDeque::new(),
            closed: false,
        };
        let replay = resume_from
            .and_then(|id| id.trim().parse::<u64>().ok())
            .and_then(|id| hub.since(id).map(|frames| (id, frames)));
        match (resume_from.is_some(), replay) {
            (_, Some((id, frames))) => {
                client.sent_up_to = id;
                for frame in frames {
                    client.queue_frame(&frame);
                }
            }
            (true, None) => client.queue_snapshot("resume_gap"),
            (false, None) => client.queue_snapshot("connect"),
        }
        Ok(client)
    }

    /// From now on, updates of `kpis` only, starting with a snapshot of them.
    pub(crate) fn resubscribe(&mut self, kpis: &str) -> Result<(), ApiError> {
        self.subscribed = subscribed_names(&self.state, Some(kpis))?;
        self.pending.clear();
        self.queue_snapshot("subscribe");
        Ok(())
    }

    /// How long a quiet connection waits before it shows it is alive.
    pub(crate) fn heartbeat(&self) -> std::time::Duration {
        self.hub.heartbeat
    }

    pub(crate) async fn next_event(&mut self) -> Option<Outgoing> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.closed {
                return None;
            }
            let received = tokio::select! {
                received = self.receiver.recv() => Some(received),
                _ = self.closing.wait_for(|closing| *closing) => None,
            };
            match received {
                Some(Ok(frame)) => self.queue_frame(&frame),
                Some(Err(broadcast::error::RecvError::Lagged(missed))) => self.fell_behind(missed),
                Some(Err(broadcast::error::RecvError::Closed)) => return None,
                None => self.close("the server is stopping; reconnect in a moment"),
            }
        }
    }

    fn queue_frame(&mut self, frame: &Frame) {
        if frame.id <= self.sent_up_to {
            return;
        }
        self.sent_up_to = frame.id;
        if !self.subscribed.contains(&frame.kpi) {
            return;
        }
        self.pending.push_back(Outgoing {
            event: "kpi",
            id: Some(frame.id),
            data: frame.data.clone(),
        });
    }

    /// The client missed `missed` frames: what it missed is replaced by the latest
    /// values (a snapshot), unless it keeps falling behind.
    fn fell_behind(&mut self, missed: u64) {
        let now = Instant::now();
        while self
            .lags
            .front()
            .is_some_and(|at| now.duration_since(*at) > LAG_PERIOD)
        {
            self.lags.pop_front();
        }
        self.lags.push_back(now);
        if self.lags.len() > LAGS_ALLOWED {
            let reason = format!(
                "the client reads too slowly: it fell {missed} updates behind {} times within {} s; reconnect, or subscribe to fewer KPIs",
                self.lags.len(),
                LAG_PERIOD.as_secs()
            );
            tracing::info!(%reason, "a stream client was disconnected");
            self.close(&reason);
            return;
        }
        self.pending.clear();
        self.queue_snapshot("lagged");
    }

    /// Ends the stream after an `event: close` saying why.
    fn close(&mut self, reason: &str) {
        self.pending.clear();
        self.pending.push_back(Outgoing {
            event: "close",
            id: None,
            data: serde_json::json!({ "reason": reason }).to_string(),
        });
        self.closed = true;
    }

    /// The subscribed KPIs' windows of the last day, as the frames that would have
    /// brought them; the client resumes after the hub's current frame.
    fn queue_snapshot(&mut self, reason: &str) {
        let id = self.hub.last_id();
        self.sent_up_to = self.sent_up_to.max(id);
        self.pending.push_back(Outgoing {
            event: "snapshot",
            id: Some(id),
            data: serde_json::json!({ "reason": reason, "id": id }).to_string(),
        });
        let now = now_micros();
        for name in &self.subscribed {
            let windows = self
                .state
                .kpis
                .recent_windows(name, now - DAY_US, i64::MAX / 2)
                .unwrap_or_default();
            for window in &windows {
                self.pending.push_back(Outgoing {
                    event: "kpi",
                    id: Some(id),
                    data: frame_data(name, window),
                });
            }
        }
    }
}

/// The KPIs a comma-separated list names (every KPI when absent or empty); 404 naming
/// the KPIs for one that does not exist.
fn subscribed_names(state: &AppState, kpis: Option<&str>) -> Result<Vec<String>, ApiError> {
    let known = known_kpis(state);
    let Some(list) = kpis.filter(|list| !list.trim().is_empty()) else {
        return Ok(known);
    };
    let mut names = Vec::new();
    for name in list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        if !known.iter().any(|known| known == name) {
            return Err(unknown_kpi("kpis", name, &known));
        }
        names.push(name.to_owned());
    }
    Ok(names)
}
