//! HTTP request metrics, recorded by a middleware around every route.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sightline_ingest::metrics::{Histogram, LATENCY_BOUNDS};

use crate::state::AppState;

/// Per route (the matched path, a closed set) and status class.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    routes: Mutex<Vec<RouteMetrics>>,
    pub open_connections: AtomicU64,
}

#[derive(Debug)]
struct RouteMetrics {
    route: String,
    latency: std::sync::Arc<Histogram>,
    by_class: std::sync::Arc<[AtomicU64; 5]>,
}

impl HttpMetrics {
    fn route(&self, route: &str) -> (std::sync::Arc<Histogram>, std::sync::Arc<[AtomicU64; 5]>) {
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = routes.iter().find(|metrics| metrics.route == route) {
            return (found.latency.clone(), found.by_class.clone());
        }
        let created = RouteMetrics {
            route: route.to_owned(),
            latency: std::sync::Arc::new(Histogram::new(LATENCY_BOUNDS)),
            by_class: std::sync::Arc::new(std::array::from_fn(|_| AtomicU64::new(0))),
        };
        let handles = (created.latency.clone(), created.by_class.clone());
        routes.push(created);
        handles
    }

    pub fn render(&self, out: &mut String) {
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(
            out,
            "# HELP sightline_http_request_duration_seconds Time from request to response head, per route.\n# TYPE sightline_http_request_duration_seconds histogram"
        );
        for metrics in routes.iter() {
            metrics.latency.render(
                out,
                "sightline_http_request_duration_seconds",
                &format!("route=\"{}\",", metrics.route),
            );
        }
        let _ = writeln!(
            out,
            "# HELP sightline_http_responses_total Responses per route and status class.\n# TYPE sightline_http_responses_total counter"
        );
        for metrics in routes.iter() {
            for (class, count) in metrics.by_class.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "sightline_http_responses_total{{route=\"{}\",status=\"{}xx\"}} {}",
                    metrics.route,
                    class + 1,
                    count.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP sightline_http_open_connections Open client connections.\n# TYPE sightline_http_open_connections gauge\nsightline_http_open_connections {}",
            self.open_connections.load(Ordering::Relaxed)
        );
    }
}

pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let (latency, by_class) = state.http_metrics.route(&route);
    latency.record(started.elapsed());
    let class = (response.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    by_class[class].fetch_add(1, Ordering::Relaxed);
    response
}
