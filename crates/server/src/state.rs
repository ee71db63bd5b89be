use std::sync::Arc;
use std::time::Duration;

use sightline_config::Config;
use sightline_ingest::IngestService;

use crate::kpis::KpiService;
use crate::metrics::HttpMetrics;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub ingest: Arc<IngestService>,
    pub kpis: Arc<KpiService>,
    pub http_metrics: Arc<HttpMetrics>,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
}

impl AppState {
    pub fn new(ingest: Arc<IngestService>, kpis: Arc<KpiService>, config: &Config) -> AppState {
        AppState {
            ingest,
            kpis,
            http_metrics: Arc::new(HttpMetrics::default()),
            max_body_bytes: config.server.max_body.0 as usize,
            body_timeout: config.server.body_timeout.0,
        }
    }
}
