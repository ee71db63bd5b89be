//! `GET /v1/ws`: the updates of `GET /v1/stream` over WebSocket. Each text message is
//! `{"event": "snapshot" | "kpi" | "close" | "error", "id": N, "data": …}`, `data` being
//! what the SSE event carries. The client may send `{"subscribe": ["kpi", …]}` at any
//! time to change what it gets (a snapshot of the new set follows).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::stream::{Client, StreamQuery};
use crate::error::ApiError;
use crate::state::AppState;

/// Live KPI updates over WebSocket.
#[utoipa::path(
    get,
    path = "/v1/ws",
    operation_id = "websocket",
    tag = "kpis",
    params(StreamQuery),
    responses(
        (status = 101, description = "Switched to WebSocket: text messages `{\"event\": \"snapshot\"|\"kpi\"|\"close\"|\"error\", \"id\": N, \"data\": …}`; send `{\"subscribe\": [\"kpi\", …]}` to change the KPIs"),
        (status = 400, description = "Not a WebSocket upgrade, or a bad query parameter", body = super::openapi::ErrorBody),
        (status = 404, description = "A KPI in `kpis` does not exist; the error lists the KPIs", body = super::openapi::ErrorBody),
    )
)]
pub async fn ws(
    State(state): State<AppState>,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "GET /v1/ws takes a WebSocket upgrade ({}); for plain HTTP use GET /v1/stream (Server-Sent Events)",
                rejection.body_text()
            ),
        )
    })?;
    let client = Client::open(
        &state,
        query.kpis.as_deref(),
        query.last_event_id.as_deref(),
    )?;
    Ok(upgrade.on_upgrade(move |socket| serve(socket, client)))
}

/// What a client may send.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    subscribe: Vec<String>,
}

enum Step {
    Send(Option<super::stream::Outgoing>),
    Received(Option<Result<Message, axum::Error>>),
    Quiet,
}

async fn serve(mut socket: WebSocket, mut client: Client) {
    let heartbeat = client.heartbeat();
    loop {
        let step = tokio::select! {
            outgoing = client.next_event() => Step::Send(outgoing),
            incoming = socket.recv() => Step::Received(incoming),
            () = tokio::time::sleep(heartbeat) => Step::Quiet,
        };
        match step {
            Step::Send(Some(outgoing)) => {
                if socket
                    .send(Message::Text(outgoing.ws_text().into()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            // The stream ended (after its `close` message).
            Step::Send(None) => break,
            Step::Received(Some(Ok(Message::Text(text)))) => {
                let answer = serde_json::from_str::<Command>(text.as_str())
                    .map_err(|error| format!("expected {{\"subscribe\": [\"kpi\", …]}}: {error}"))
                    .and_then(|command| {
                        client
                            .resubscribe(&command.subscribe.join(","))
                            .map_err(|error| error.message)
                    });
                if let Err(problem) = answer {
                    let message = serde_json::json!({
                        "event": "error",
                        "id": null,
                        "data": { "error": problem },
                    });
                    if socket
                        .send(Message::Text(message.to_string().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            Step::Received(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return,
            // Pings are answered by the WebSocket layer; pongs and binary are ignored.
            Step::Received(Some(Ok(_))) => {}
            Step::Quiet => {
                if socket
                    .send(Message::Ping(Default::default()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
