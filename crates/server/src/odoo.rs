//! The Odoo source inside the server: the ingest path as the poller's and the outbox's
//! [`EventSink`], and the tasks that run them (`sightline serve` starts them when
//! `[sources.odoo.poller]` or `[sources.odoo.postgres]` is configured). The webhook
//! route is in `routes/sources.rs`.

use std::sync::Arc;

use sightline_config::Config;
use sightline_ingest::{IngestService, Origin, RawEvent};
use sightline_model::Rejection;
use sightline_model::time::now_micros;
use sightline_sources::error::SourceError;
use sightline_sources::odoo::poller::Poller;
use sightline_sources::odoo::{DeadRecord, EventSink, OdooReceiver, SinkOutcome};
use sightline_sources::shopify::event::OutEvent;

use crate::state::AppState;

/// Commits through this process's ingest path (validation, dedup, one fdatasync).
/// Blocking: call it from a blocking thread, never from an async task.
#[derive(Debug, Clone)]
pub struct IngestSink {
    ingest: Arc<IngestService>,
}

impl IngestSink {
    pub fn new(ingest: Arc<IngestService>) -> IngestSink {
        IngestSink { ingest }
    }
}

impl EventSink for IngestSink {
    fn commit(&self, events: &[OutEvent], dead: &[DeadRecord]) -> Result<SinkOutcome, SourceError> {
        let rejections: Vec<Rejection> = dead
            .iter()
            .map(|record| Rejection::new(record.error.code(), record.reason()))
            .collect();
        let mut raw_events: Vec<RawEvent<'_>> = events
            .iter()
            .enumerate()
            .map(|(index, event)| RawEvent {
                index,
                bytes: &event.json,
                decode_error: None,
            })
            .collect();
        raw_events.extend(dead.iter().zip(&rejections).enumerate().map(
            |(offset, (record, rejection))| RawEvent {
                index: events.len() + offset,
                bytes: &record.raw,
                decode_error: Some(rejection),
            },
        ));
        let batch = self.ingest.prepare(&raw_events, now_micros());
        let failed = |error: sightline_ingest::IngestError| SourceError::Commit {
            message: error.to_string(),
        };
        let outcome = self
            .ingest
            .submit_blocking(batch, Origin::Http)
            .map_err(failed)?
            .wait_blocking()
            .map_err(failed)?;
        Ok(SinkOutcome {
            accepted: outcome.accepted,
            duplicates: outcome.duplicates,
            rejected: outcome
                .rejected
                .iter()
                .filter(|rejected| rejected.index < events.len())
                .map(|rejected| (rejected.index, rejected.reason.clone()))
                .collect(),
        })
    }
}

/// Starts the Odoo poller and outbox tasks the configuration asks for, after committing
/// the production growth a crash may have left uncommitted. Call within the runtime.
pub fn start(state: &AppState, config: &Config) {
    let Some(receiver) = state.odoo.clone() else {
        return;
    };
    let sink: Arc<dyn EventSink> = Arc::new(IngestSink::new(Arc::clone(&state.ingest)));
    let odoo = &config.sources.odoo;
    {
        let receiver = Arc::clone(&receiver);
        let sink = Arc::clone(&sink);
        tokio::task::spawn_blocking(move || {
            let pending = receiver.pending_outputs();
            if pending.is_empty() {
                return;
            }
            match receiver.commit(sink.as_ref(), &pending) {
                Ok(_) => tracing::info!(
                    events = pending.events.len(),
                    "Odoo production output recorded before a restart is committed"
                ),
                Err(error) => {
                    tracing::warn!(%error, "Odoo production output not recovered; it is tried again at the next start")
                }
            }
        });
    }
    if let Some(poller) = &odoo.poller {
        let poller = Poller::new(poller, &state_dir(config));
        tokio::spawn(run_poller(Arc::clone(&receiver), Arc::clone(&sink), poller));
    }
    if let Some(postgres) = &odoo.postgres {
        start_outbox(receiver, sink, postgres);
    }
}

/// Where the Odoo source keeps its journals and poll cursors.
pub fn state_dir(config: &Config) -> std::path::PathBuf {
    config.storage.data_dir.join("sources").join("odoo")
}

/// Opens the Odoo source of a configuration (`None` when none is configured).
pub fn open(config: &Config) -> Result<Option<OdooReceiver>, SourceError> {
    if !config.sources.odoo.is_enabled() {
        return Ok(None);
    }
    OdooReceiver::open(&config.sources.odoo, &state_dir(config)).map(Some)
}

async fn run_poller(receiver: Arc<OdooReceiver>, sink: Arc<dyn EventSink>, poller: Poller) {
    let mut ticks = tokio::time::interval(poller.interval());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let poller = Arc::new(std::sync::Mutex::new(poller));
    loop {
        ticks.tick().await;
        let receiver = Arc::clone(&receiver);
        let sink = Arc::clone(&sink);
        let poller = Arc::clone(&poller);
        // HTTP (ureq), journals and the log's fsync block: a blocking thread per pass.
        let pass = tokio::task::spawn_blocking(move || {
            let mut poller = poller
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            poller.poll_once(&receiver, sink.as_ref(), None, now_micros())
        })
        .await;
        match pass {
            Ok(Ok(summary)) if summary.records > 0 => tracing::debug!(
                records = summary.records,
                accepted = summary.accepted,
                duplicates = summary.duplicates,
                "Odoo poll"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "Odoo poll failed; the cursors did not move, the next poll reads the same rows")
            }
            Err(error) => tracing::error!(%error, "the Odoo poll task failed"),
        }
    }
}

#[cfg(feature = "postgres")]
fn start_outbox(
    receiver: Arc<OdooReceiver>,
    sink: Arc<dyn EventSink>,
    postgres: &sightline_config::OdooPostgres,
) {
    use sightline_sources::odoo::outbox;
    match outbox::OutboxSettings::from_config(postgres) {
        Ok(settings) => {
            tokio::spawn(outbox::run(receiver, sink, settings));
        }
        Err(error) => {
            tracing::error!(%error, "the Odoo outbox connector is off");
        }
    }
}

#[cfg(not(feature = "postgres"))]
fn start_outbox(
    _receiver: Arc<OdooReceiver>,
    _sink: Arc<dyn EventSink>,
    _postgres: &sightline_config::OdooPostgres,
) {
    tracing::error!(
        "[sources.odoo.postgres] is configured but this sightline was built without the `postgres` feature; the outbox connector is off"
    );
}
