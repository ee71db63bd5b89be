use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Failures of the server itself (not of one request).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "cannot listen on {address}: {source}; choose another address with --listen or stop the process using it"
    )]
    Bind {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("accepting connections failed: {0}")]
    Accept(std::io::Error),
    /// The alerting file or journal; the message names which and what to do.
    #[error("alerting: {0}")]
    Alerting(String),
}

/// A request that cannot be served, answered as `{"error": "…"}` with its status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub extra: Option<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            extra: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if let Some((key, value)) = self.extra {
            body[key] = value;
        }
        (self.status, axum::Json(body)).into_response()
    }
}
