//! The PostgreSQL outbox of a self-hosted Odoo (`crates/sources/sql/odoo_outbox.sql`):
//! triggers on `sale_order`, `stock_picking`, `stock_quant` and `mrp_production` insert
//! each relevant change as a row of `sightline_outbox` and `NOTIFY sightline_outbox`
//! with the row's id, in the same transaction as Odoo's write.
//!
//! ## Delivery contract: at least once, nothing lost
//!
//! Sightline `LISTEN`s *before* it reads, then reads undone rows (`done_at IS NULL`) in
//! id order, commits their events durably (fdatasync of the log), and only then sets
//! `done_at`. A crash of either side between the commit and the update leaves the rows
//! undone: they are read again and their events are duplicates (same identities), so
//! nothing is lost and nothing is counted twice.
//!
//! Notifications are only a wake-up. Rows are read at start, after every reconnect,
//! after every notification and every `rescan` interval. The reader never keeps a "last
//! id": ids are taken when rows are inserted, but transactions commit in another order,
//! so a row with a smaller id can become visible after a larger one was read — it is
//! still undone, and the next read finds it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sightline_config::OdooPostgres;
use sightline_model::time::now_micros;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};

use super::record::OdooRecord;
use super::{DeadRecord, EventSink, OdooReceiver, Via, read_secret};
use crate::error::{SourceError, TranslateError};

/// The notification channel the script's triggers `NOTIFY`.
pub const CHANNEL: &str = "sightline_outbox";
/// The script that installs the outbox, for `sightline odoo outbox-sql` and tests.
pub const INSTALL_SQL: &str = include_str!("../../sql/odoo_outbox.sql");

const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Rows done more than a day ago are deleted this often.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// How the connector reaches the outbox.
#[derive(Clone)]
pub struct OutboxSettings {
    connection: String,
    pub batch: usize,
    pub rescan: Duration,
}

impl std::fmt::Debug for OutboxSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string holds the password.
        formatter
            .debug_struct("OutboxSettings")
            .field("batch", &self.batch)
            .field("rescan", &self.rescan)
            .finish()
    }
}

impl OutboxSettings {
    pub fn from_config(config: &OdooPostgres) -> Result<OutboxSettings, SourceError> {
        let source = config
            .connection_source()
            .ok_or(SourceError::OdooSecretEmpty {
                what: "PostgreSQL connection string",
            })?;
        Ok(OutboxSettings {
            connection: read_secret(&source, "PostgreSQL connection string")?,
            batch: config.batch,
            rescan: config.rescan.0,
        })
    }

    pub fn new(connection: &str, batch: usize, rescan: Duration) -> OutboxSettings {
        OutboxSettings {
            connection: connection.to_owned(),
            batch,
            rescan,
        }
    }
}

fn outbox_error(context: &str, error: impl std::fmt::Display) -> SourceError {
    SourceError::OdooOutbox {
        message: format!("{context}: {error}"),
    }
}

/// tokio-postgres shows a server's refusal as "db error"; the server's own message says
/// what is wrong (`relation "sightline_outbox" does not exist`).
fn pg_error(context: &str, error: tokio_postgres::Error) -> SourceError {
    match error.as_db_error() {
        Some(db) => outbox_error(context, format!("{} ({})", db.message(), db.code().code())),
        None => outbox_error(context, error),
    }
}

/// Runs the connector until the process ends: connects, drains, waits for a wake-up;
/// reconnects with a growing pause (up to 30 s) when PostgreSQL goes away.
pub async fn run(receiver: Arc<OdooReceiver>, sink: Arc<dyn EventSink>, settings: OutboxSettings) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match session(&receiver, &sink, &settings, &mut backoff).await {
            Ok(()) => return,
            Err(error) => {
                receiver.metrics.failed(Via::Outbox);
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "Odoo outbox: connection lost or unusable; undone rows are read again after reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One connection's life: `LISTEN`, then drain and wait, until the connection fails.
async fn session(
    receiver: &Arc<OdooReceiver>,
    sink: &Arc<dyn EventSink>,
    settings: &OutboxSettings,
    backoff: &mut Duration,
) -> Result<(), SourceError> {
    let (client, mut connection) = tokio_postgres::connect(&settings.connection, NoTls)
        .await
        .map_err(|error| pg_error("cannot connect", error))?;
    let wake = Arc::new(Notify::new());
    let (closed_sender, mut closed) = tokio::sync::oneshot::channel::<String>();
    let driver_wake = Arc::clone(&wake);
    // The connection delivers notifications only while it is polled; this task polls it
    // and turns each notification into a wake-up.
    tokio::spawn(async move {
        let reason = loop {
            match std::future::poll_fn(|context| connection.poll_message(context)).await {
                Some(Ok(AsyncMessage::Notification(_))) => driver_wake.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(error)) => break error.to_string(),
                None => break "the server closed the connection".to_owned(),
            }
        };
        let _ = closed_sender.send(reason);
        driver_wake.notify_one();
    });
    // Listen before the first read: a row committed in between still wakes us.
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|error| pg_error("LISTEN failed (is odoo_outbox.sql installed?)", error))?;
    let select = client
        .prepare(
            "SELECT id, model, record_id, payload::text, \
             (extract(epoch from created_at) * 1000000)::bigint \
             FROM sightline_outbox WHERE done_at IS NULL ORDER BY id LIMIT $1",
        )
        .await
        .map_err(|error| {
            pg_error(
                "cannot read sightline_outbox (install crates/sources/sql/odoo_outbox.sql)",
                error,
            )
        })?;
    let mark_done = client
        .prepare("UPDATE sightline_outbox SET done_at = now() WHERE id = ANY($1)")
        .await
        .map_err(|error| pg_error("cannot prepare the done update", error))?;
    tracing::info!("Odoo outbox: connected and listening");
    *backoff = Duration::from_millis(100);
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
            last_purge = Some(std::time::Instant::now());
            match client
                .execute(
                    "DELETE FROM sightline_outbox WHERE done_at < now() - interval '1 day'",
                    &[],
                )
                .await
            {
                Ok(deleted) if deleted > 0 => {
                    tracing::info!(
                        deleted,
                        "Odoo outbox: rows done more than a day ago deleted"
                    )
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "Odoo outbox: cannot delete old done rows (grant DELETE on sightline_outbox)")
                }
            }
        }
        loop {
            let read = drain_once(receiver, sink, &client, &select, &mark_done, settings).await?;
            if read < settings.batch {
                break;
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(settings.rescan) => {}
        }
        if let Ok(reason) = closed.try_recv() {
            return Err(outbox_error("connection closed", reason));
        }
    }
}

/// Reads one batch of undone rows, commits their events, marks them done. Returns the
/// number of rows read.
async fn drain_once(
    receiver: &Arc<OdooReceiver>,
    sink: &Arc<dyn EventSink>,
    client: &tokio_postgres::Client,
    select: &tokio_postgres::Statement,
    mark_done: &tokio_postgres::Statement,
    settings: &OutboxSettings,
) -> Result<usize, SourceError> {
    let limit = i64::try_from(settings.batch).unwrap_or(i64::MAX);
    let rows = client
        .query(select, &[&limit])
        .await
        .map_err(|error| pg_error("reading undone rows failed", error))?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut records = Vec::with_capacity(rows.len());
    let mut unreadable = Vec::new();
    let mut oldest_created_us = i64::MAX;
    for row in &rows {
        let id: i64 = row.try_get(0).map_err(|error| outbox_error("id", error))?;
        ids.push(id);
        let model: String = row
            .try_get(1)
            .map_err(|error| outbox_error("model", error))?;
        let record_id: i64 = row
            .try_get(2)
            .map_err(|error| outbox_error("record_id", error))?;
        let payload: String = row
            .try_get(3)
            .map_err(|error| outbox_error("payload", error))?;
        let created_us: Option<i64> = row
            .try_get(4)
            .map_err(|error| outbox_error("created_at", error))?;
        if let Some(created_us) = created_us {
            oldest_created_us = oldest_created_us.min(created_us);
        }
        match serde_json::from_str::<Value>(&payload) {
            Ok(Value::Object(fields)) => records.push(OdooRecord {
                model,
                id: record_id,
                fields,
            }),
            _ => unreadable.push(DeadRecord {
                model,
                record_id,
                raw: payload.into_bytes(),
                error: TranslateError::NotJson {
                    message: format!("outbox row {id}: payload is not a JSON object"),
                },
            }),
        }
    }
    let now = now_micros();
    let commit = {
        let receiver = Arc::clone(receiver);
        let sink = Arc::clone(sink);
        // Journals and the log fsync: off the async workers.
        tokio::task::spawn_blocking(move || {
            let mut batch = receiver.translate(Via::Outbox, &records, now)?;
            batch.dead.extend(unreadable);
            receiver.commit(sink.as_ref(), &batch)
        })
    };
    commit
        .await
        .map_err(|error| outbox_error("the commit task failed", error))??;
    // Durable: only now may the rows be marked done.
    client
        .execute(mark_done, &[&ids])
        .await
        .map_err(|error| pg_error("marking rows done failed", error))?;
    if oldest_created_us != i64::MAX {
        receiver
            .metrics
            .lag(Via::Outbox, (now_micros() - oldest_created_us) as f64 / 1e6);
    }
    Ok(rows.len())
}
