//! Every route of the HTTP API. `ROUTES` is the list the router is built from, and the
//! OpenAPI document (`openapi.rs`) is checked against it in a unit test below, so what
//! is served, what is listed and what is documented cannot drift apart.

pub(crate) mod alerts;
mod assets;
pub(crate) mod dashboard;
mod dead_letters;
mod events;
mod health;
pub(crate) mod kpis;
mod openapi;
pub(crate) mod sources;
mod stream;
mod ws;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post};

use crate::state::AppState;

/// Every `(method, path)` the server answers, in the router's path syntax (which is also
/// OpenAPI's). The router is built from this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("POST", "/v1/events"),
    ("POST", "/v1/sources/shopify"),
    ("POST", "/v1/sources/odoo/{token}"),
    ("GET", "/v1/dead-letters"),
    ("GET", "/v1/dashboard"),
    ("GET", "/v1/kpis"),
    ("GET", "/v1/kpis/{name}"),
    ("GET", "/v1/alerts"),
    ("GET", "/v1/alerts/report"),
    ("GET", "/v1/alerts/{id}"),
    ("POST", "/v1/alerts/{id}/ack"),
    ("POST", "/v1/alerts/{id}/assign"),
    ("POST", "/v1/alerts/{id}/resolve"),
    ("GET", "/v1/silences"),
    ("POST", "/v1/silences"),
    ("DELETE", "/v1/silences/{id}"),
    ("GET", "/v1/stream"),
    ("GET", "/v1/ws"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

/// The handler of one entry of `ROUTES`; `None` for a pair that has none (a unit test
/// checks that every entry has one).
fn endpoint(method: &str, path: &str) -> Option<MethodRouter<AppState>> {
    Some(match (method, path) {
        ("GET", "/") => get(assets::index),
        ("POST", "/v1/events") => post(events::post_events),
        ("POST", "/v1/sources/shopify") => post(sources::post_shopify),
        ("POST", "/v1/sources/odoo/{token}") => post(sources::post_odoo),
        ("GET", "/v1/dead-letters") => get(dead_letters::list),
        ("GET", "/v1/dashboard") => get(dashboard::layout),
        ("GET", "/v1/kpis") => get(kpis::list),
        ("GET", "/v1/kpis/{name}") => get(kpis::windows),
        ("GET", "/v1/alerts") => get(alerts::list),
        ("GET", "/v1/alerts/report") => get(alerts::report),
        ("GET", "/v1/alerts/{id}") => get(alerts::get_one),
        ("POST", "/v1/alerts/{id}/ack") => post(alerts::ack),
        ("POST", "/v1/alerts/{id}/assign") => post(alerts::assign),
        ("POST", "/v1/alerts/{id}/resolve") => post(alerts::resolve),
        ("GET", "/v1/silences") => get(alerts::list_silences),
        ("POST", "/v1/silences") => post(alerts::create_silence),
        ("DELETE", "/v1/silences/{id}") => delete(alerts::expire_silence),
        ("GET", "/v1/stream") => get(stream::stream),
        ("GET", "/v1/ws") => get(ws::ws),
        ("GET", "/v1/openapi.json") => get(openapi::document),
        ("GET", "/healthz") => get(health::healthz),
        ("GET", "/readyz") => get(health::readyz),
        ("GET", "/metrics") => get(health::metrics),
        _ => return None,
    })
}

pub fn router(state: AppState) -> Router {
    ROUTES
        .iter()
        .filter_map(|&(method, path)| Some((path, endpoint(method, path)?)))
        .fold(Router::new(), |router, (path, endpoint)| {
            router.route(path, endpoint)
        })
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::record,
        ))
        .with_state(state)
}

/// The dashboard's files, else a JSON 404 that points at the API's list.
async fn not_found(
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if let Some(file) = assets::file(&method, &uri, &headers) {
        return file;
    }
    axum::response::IntoResponse::into_response(crate::error::ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        format!(
            "no such endpoint: {method} {}; every endpoint is listed in GET /v1/openapi.json",
            uri.path()
        ),
    ))
}

async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> crate::error::ApiError {
    crate::error::ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::OpenApi as _;

    use super::*;

    #[test]
    fn every_listed_route_has_a_handler() {
        for &(method, path) in ROUTES {
            assert!(
                endpoint(method, path).is_some(),
                "{method} {path} is in ROUTES but has no handler, so it is not served"
            );
        }
        let unique: BTreeSet<_> = ROUTES.iter().collect();
        assert_eq!(unique.len(), ROUTES.len(), "ROUTES lists a route twice");
    }

    #[test]
    fn the_openapi_document_describes_exactly_the_served_routes() {
        let document = serde_json::to_value(openapi::ApiDoc::openapi())
            .expect("the OpenAPI document serializes");
        let paths = document["paths"]
            .as_object()
            .expect("the document has paths");
        const METHODS: &[&str] = &[
            "get", "put", "post", "delete", "options", "head", "patch", "trace", "query",
        ];
        let documented: BTreeSet<(String, String)> = paths
            .iter()
            .flat_map(|(path, item)| {
                METHODS
                    .iter()
                    .filter(|method| item.get(**method).is_some())
                    .map(move |method| (method.to_uppercase(), path.clone()))
            })
            .collect();
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|&(method, path)| (method.to_owned(), path.to_owned()))
            .collect();
        assert_eq!(
            documented, served,
            "the OpenAPI document and ROUTES disagree: document the new handler with \
             #[utoipa::path] and list it in ApiDoc, or drop the stale entry"
        );
    }
}
