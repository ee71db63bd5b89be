mod dead_letters;
mod events;
mod health;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/events", post(events::post_events))
        .route("/v1/dead-letters", get(dead_letters::list))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::record))
        .with_state(state)
}
