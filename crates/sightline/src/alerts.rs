//! `sightline alerts report`: the tuning report from the alert journal.

use std::path::PathBuf;

use anyhow::Context;
use sightline_alerts::{Alerter, AlerterOptions, Store};
use sightline_config::Config;
use sightline_model::time::now_micros;

pub fn report(
    mut config: Config,
    data_dir: Option<PathBuf>,
    since: &str,
    json: bool,
) -> anyhow::Result<()> {
    if let Some(data_dir) = data_dir {
        config.storage.data_dir = data_dir;
    }
    let span = humantime::parse_duration(since).with_context(|| {
        format!("--since: expected a duration such as 30d or 7d, got {since:?}")
    })?;
    let journal = sightline_server::alerting::journal_path(&config.storage.data_dir);
    if !journal.exists() {
        anyhow::bail!(
            "{} has no alert journal ({}); run the server with alert rules first, or pass --data-dir",
            config.storage.data_dir.display(),
            journal.display()
        );
    }
    let alerts = sightline_server::alerting::load_config(&config)?;
    // Read-only: the records replay into an alerter kept in memory, so a running server's
    // journal is never written from here.
    let records = Store::read_records(&journal)?;
    let now = now_micros();
    let alerter = Alerter::restore(
        alerts,
        AlerterOptions::default(),
        Store::in_memory(),
        records,
        now,
    )?;
    let since_us = now.saturating_sub(i64::try_from(span.as_micros()).unwrap_or(i64::MAX));
    let report = alerter.report(since_us, now);
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}
