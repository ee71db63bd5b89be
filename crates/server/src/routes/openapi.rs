//! `GET /v1/openapi.json`: the OpenAPI 3 document of the whole HTTP API, generated from
//! the `#[utoipa::path]` attributes on the handlers and the schemas of their answers.

use std::sync::LazyLock;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa::OpenApi;

use crate::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sightline",
        version = env!("CARGO_PKG_VERSION"),
        description = "Real-time analytics server: ingests CloudEvents and serves live KPIs."
    ),
    paths(
        super::assets::index,
        super::dashboard::layout,
        super::events::post_events,
        super::sources::post_shopify,
        super::sources::post_odoo,
        super::dead_letters::list,
        super::kpis::list,
        super::kpis::windows,
        super::alerts::list,
        super::alerts::report,
        super::alerts::get_one,
        super::alerts::ack,
        super::alerts::assign,
        super::alerts::resolve,
        super::alerts::list_silences,
        super::alerts::create_silence,
        super::alerts::expire_silence,
        super::stream::stream,
        super::ws::ws,
        document,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
    ),
    components(schemas(ErrorBody, UnsupportedBody)),
    tags(
        (name = "ingest", description = "Sending events, and the ones that were not stored"),
        (name = "alerts", description = "Alerts, acknowledging and assigning them, silences"),
        (name = "dashboard", description = "The live dashboard page and its layout"),
        (name = "kpis", description = "KPI definitions and their windowed values"),
        (name = "operations", description = "Status, health, metrics and this document"),
    )
)]
pub struct ApiDoc;

// The two schemas below describe what `ApiError` renders (`error.rs`); they are never built.

/// Every error answer: one or two sentences saying what was wrong and what to do.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    pub error: String,
}

/// 415: the content type or content encoding is not one the server reads.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UnsupportedBody {
    pub error: String,
    /// Present when the Content-Type was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_content_types: Option<Vec<String>>,
    /// Present when the Content-Encoding was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_encodings: Option<Vec<String>>,
}

/// Generated once, on first request.
static DOCUMENT: LazyLock<Result<String, String>> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_json()
        .map_err(|error| error.to_string())
});

/// The OpenAPI 3 document of this API, generated from the handlers.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI 3 document of this API", body = Object, content_type = "application/json"),
        (status = 500, description = "The document could not be generated", body = ErrorBody),
    )
)]
pub async fn document() -> Result<impl IntoResponse, ApiError> {
    match &*DOCUMENT {
        Ok(json) => Ok(([(header::CONTENT_TYPE, "application/json")], json.as_str())),
        Err(error) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the OpenAPI document could not be generated: {error}"),
        )),
    }
}
