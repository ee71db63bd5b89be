//! `sightline odoo`: one poll pass into a data directory (for tests, catching up, or a
//! cron-driven setup), and the outbox SQL script.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use sightline_config::Config;
use sightline_ingest::{IngestOptions, IngestService};
use sightline_model::time::{now_micros, parse_rfc3339};
use sightline_server::odoo::IngestSink;
use sightline_sources::odoo::OdooReceiver;
use sightline_sources::odoo::poller::Poller;

/// One pass of the poller, committed into the data directory (which the server must
/// not be using: one process owns a data directory). The server computes the KPIs of
/// what was stored when it starts.
pub fn poll_once(
    mut config: Config,
    data_dir: Option<PathBuf>,
    since: Option<&str>,
) -> anyhow::Result<()> {
    if let Some(data_dir) = data_dir {
        config.storage.data_dir = data_dir;
    }
    let Some(poller_config) = &config.sources.odoo.poller else {
        bail!(
            "no Odoo poller is configured; add [sources.odoo.poller] (see sightline.example.toml)"
        );
    };
    let since = match since {
        Some(text) => Some(parse_rfc3339(text).map_err(|problem| {
            anyhow::anyhow!(
                "--since {text:?}: {problem}; give an RFC 3339 time such as 2026-11-27T00:00:00Z"
            )
        })?),
        None => None,
    };
    let data_dir = config.storage.data_dir.clone();
    let ingest = IngestService::start(&data_dir, IngestOptions::from_config(&config))
        .with_context(|| {
            format!(
                "cannot open the data directory {} (is `sightline serve` using it? stop it first)",
                data_dir.display()
            )
        })?;
    let ingest = Arc::new(ingest);
    let state_dir = sightline_server::odoo::state_dir(&config);
    let receiver = OdooReceiver::open(&config.sources.odoo, &state_dir)?;
    let sink = IngestSink::new(Arc::clone(&ingest));
    let pending = receiver.pending_outputs();
    receiver
        .commit(&sink, &pending)
        .context("committing production output recorded before a crash")?;
    let mut poller = Poller::new(poller_config, &state_dir);
    let pass = poller.poll_once(&receiver, &sink, since, now_micros());
    ingest.shutdown();
    let summary = pass?;
    let models: Vec<String> = summary
        .per_model
        .iter()
        .map(|(model, records)| format!("{model} {records}"))
        .collect();
    println!(
        "odoo poll: {} records in {} pages ({}); {} events: {} stored, {} already stored, {} rejected; {} records not translatable (dead letters)",
        summary.records,
        summary.pages,
        models.join(", "),
        summary.events,
        summary.accepted,
        summary.duplicates,
        summary.rejected,
        summary.dead
    );
    Ok(())
}

/// The SQL script that installs the outbox into Odoo's database.
pub fn outbox_sql() -> anyhow::Result<()> {
    print!("{}", OUTBOX_SQL);
    Ok(())
}

const OUTBOX_SQL: &str = include_str!("../../sources/sql/odoo_outbox.sql");
