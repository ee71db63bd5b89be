use std::sync::Arc;
use std::time::Duration;

use sightline_config::Config;
use sightline_ingest::IngestService;
use sightline_sources::odoo::OdooReceiver;
use sightline_sources::shopify::{ShopifyReceiver, Shops};

use crate::alerting::AlertService;
use crate::kpis::KpiService;
use crate::metrics::HttpMetrics;
use crate::push::PushHub;
use crate::routes::dashboard::DashboardLayout;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub ingest: Arc<IngestService>,
    pub kpis: Arc<KpiService>,
    pub http_metrics: Arc<HttpMetrics>,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    /// The Shopify webhook receiver; `None` when it could not start (its route answers 503).
    pub shopify: Option<Arc<ShopifyReceiver>>,
    /// The Odoo source (webhook route, poller, outbox); `None` when it is not configured
    /// or could not start (its route answers 503, 404 when not configured).
    pub odoo: Option<Arc<OdooReceiver>>,
    /// Whether `[sources.odoo]` is configured at all.
    pub odoo_configured: bool,
    /// Live updates (`GET /v1/stream`); `None` answers 503 there.
    pub push: Option<Arc<PushHub>>,
    /// What `GET /v1/dashboard` answers: fixed for the life of the process.
    pub dashboard: Arc<DashboardLayout>,
    /// Alert rules and their alerts; `None` when the journal could not be opened (the
    /// alert routes answer 503).
    pub alerts: Option<Arc<AlertService>>,
}

impl AppState {
    pub fn new(ingest: Arc<IngestService>, kpis: Arc<KpiService>, config: &Config) -> AppState {
        let known: Vec<String> = kpis.engine().kpis().map(|kpi| kpi.name.clone()).collect();
        let alerts = open_alerts(config);
        let dashboard = Arc::new(DashboardLayout::new(config, &known, alerts.is_some()));
        let state = AppState {
            dashboard,
            alerts,
            ingest,
            kpis,
            http_metrics: Arc::new(HttpMetrics::default()),
            max_body_bytes: config.server.max_body.0 as usize,
            body_timeout: config.server.body_timeout.0,
            shopify: open_shopify(config).map(Arc::new),
            odoo: open_odoo(config).map(Arc::new),
            odoo_configured: config.sources.odoo.is_enabled(),
            push: Some(PushHub::new(config.push.heartbeat.0)),
        };
        crate::routes::sources::recover_pending_carts(&state);
        state
    }
}

/// The alert service with its journal under `data_dir/alerts`. `sightline serve` checks
/// the alerting file before it gets here, so a failure is a storage problem.
fn open_alerts(config: &Config) -> Option<Arc<AlertService>> {
    let opened = crate::alerting::load_config(config)
        .and_then(|alerts| AlertService::open(alerts, config, &config.storage.data_dir));
    let service = match opened {
        Ok(service) => Arc::new(service),
        Err(error) => {
            tracing::error!(%error, "alerting is off: GET /v1/alerts answers 503");
            return None;
        }
    };
    let receivers = crate::alerting::load_receivers(config).and_then(|receivers| {
        if service.rules > 0 && receivers.is_empty() {
            tracing::info!(
                "no [[receiver]] is configured: alerts show on the dashboard and in the API only; their notifications are given up (each alert's history says to whom they would have gone)"
            );
        } else if service.rules > 0 {
            let missing =
                crate::alerting::unconfigured_receivers(service.alerter().config(), &receivers);
            if !missing.is_empty() {
                tracing::warn!(
                    receivers = %missing.join(", "),
                    "routes or escalation levels name receivers no [[receiver]] configures: notifications to them are given up (see each alert's history); add a [[receiver]] for each, or route elsewhere"
                );
            }
        }
        sightline_notify::Receivers::from_config(&receivers)
            .map_err(|error| crate::error::ServerError::Alerting(error.to_string()))
    });
    match receivers {
        Ok(receivers) => service.start_delivery(receivers),
        Err(error) => tracing::error!(
            %error,
            "alert notifications are not delivered (they stay queued in the alert journal until a start with working receivers)"
        ),
    }
    Some(service)
}

/// The Shopify receiver with its state under `data_dir/sources/shopify`. `sightline serve`
/// checks the shops' secrets before it gets here, so a failure is a storage problem.
fn open_shopify(config: &Config) -> Option<ShopifyReceiver> {
    let opened = Shops::from_config(&config.sources.shopify).and_then(|shops| {
        ShopifyReceiver::open(
            shops,
            &config.storage.data_dir.join("sources").join("shopify"),
        )
    });
    match opened {
        Ok(receiver) => Some(receiver),
        Err(error) => {
            tracing::error!(%error, "the Shopify source is off: POST /v1/sources/shopify answers 503");
            None
        }
    }
}

/// The Odoo source with its state under `data_dir/sources/odoo`. `sightline serve`
/// checks its secrets before it gets here, so a failure is a storage problem.
fn open_odoo(config: &Config) -> Option<OdooReceiver> {
    match crate::odoo::open(config) {
        Ok(receiver) => receiver,
        Err(error) => {
            tracing::error!(%error, "the Odoo source is off: POST /v1/sources/odoo answers 503, no poll, no outbox");
            None
        }
    }
}
