//! `GET /` and the dashboard's files: served from the binary (`sightline-web`).
//!
//! Every answer carries the file's strong `ETag`, and a matching `If-None-Match` gets
//! 304. Hashed files under `/assets/` never change, so browsers keep them for a year;
//! `index.html` is revalidated on every load so a new binary's dashboard shows at once.
//! Files are stored gzip-compressed and sent that way to the clients that accept it
//! (every browser), decompressed for the rest.

use std::io::Read as _;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sightline_web::Asset;

/// The live dashboard.
#[utoipa::path(
    get,
    path = "/",
    operation_id = "dashboard_page",
    tag = "dashboard",
    responses(
        (status = 200, description = "The dashboard's HTML page (it loads its scripts from /assets/ and its layout from GET /v1/dashboard)", body = String, content_type = "text/html; charset=utf-8"),
        (status = 304, description = "The page has not changed since the answer whose ETag was sent"),
    )
)]
pub async fn index(headers: HeaderMap) -> Response {
    match sightline_web::asset("/") {
        Some(asset) => serve(asset, &headers),
        None => (
            StatusCode::NOT_FOUND,
            "the dashboard is not built into this binary",
        )
            .into_response(),
    }
}

/// A dashboard file for `GET`/`HEAD` of its path, `None` for anything else (the caller
/// answers its JSON 404).
pub fn file(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let asset = sightline_web::asset(uri.path())?;
    Some(serve(asset, headers))
}

fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let cache_control = if asset.immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    if super::kpis::etag_matches(headers, asset.etag) {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, asset.etag),
                (header::CACHE_CONTROL, cache_control),
            ],
        )
            .into_response();
    }
    let mut response = if asset.gzipped && accepts_gzip(headers) {
        let mut response = asset.body.into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else if asset.gzipped {
        let mut body = Vec::new();
        if let Err(error) = flate2::read::GzDecoder::new(asset.body).read_to_end(&mut body) {
            tracing::error!(%error, path = asset.path, "an embedded dashboard file does not decompress");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        body.into_response()
    } else {
        asset.body.into_response()
    };
    let response_headers = response.headers_mut();
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    response_headers.insert(header::ETAG, HeaderValue::from_static(asset.etag));
    response_headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    // The same URL answers with or without compression.
    response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|parameter| {
                let parameter = parameter.trim().replace(' ', "");
                parameter == "q=0"
                    || parameter == "q=0.0"
                    || parameter == "q=0.00"
                    || parameter == "q=0.000"
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}
