//! Alerting in the server: the rules of `[alerts] file` evaluated against the KPIs'
//! current windows, on a thread of its own, with the state in `data_dir/alerts`.
//!
//! Every `[alerts] evaluate_every` (1 s) the evaluator reads, for each KPI a rule names,
//! the windows that contain the present (the last hour of a sliding `1h/1m`, today's
//! day, the running state) and hands each group's value to the
//! [`sightline_alerts::Alerter`], then lets it move its clocks (`for`, group waits,
//! escalations). The alerter journals every transition and queued notification before
//! `tick` returns them (its crate documents that contract), so a restart, SIGKILL
//! included, resumes where it stopped. Reading current windows rather than following
//! every change costs a lookup per KPI a second and cannot miss a change: a rule is
//! about the value now.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use sightline_alerts::{
    Alerter, AlerterOptions, AlertsConfig, BaselineSource, SeriesKey, SeriesValue,
};
use sightline_config::Config;
use sightline_model::time::now_micros;
use sightline_notify::{
    AttemptFailure, DeliveryEvents, Dispatcher, DispatcherHandle, NotifyMetrics, Receivers,
    RetryPolicy, SystemClock,
};

use crate::kpis::KpiService;

/// The text of the alerting file and its name for errors; `None` without `[alerts] file`.
fn alerting_file(config: &Config) -> Result<Option<(String, String)>, crate::error::ServerError> {
    let Some(path) = &config.alerts.file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|error| {
        crate::error::ServerError::Alerting(format!(
            "cannot read the alerting file {} named in [alerts] file: {error}",
            path.display()
        ))
    })?;
    Ok(Some((text, path.display().to_string())))
}

/// The alerting configuration the server runs with: the file's, else the program's
/// built-in rules (the demo's), else no rules with the default routes. Errors name the
/// file.
pub fn load_config(config: &Config) -> Result<AlertsConfig, crate::error::ServerError> {
    let zone = &config.time.zone;
    let loaded = match (alerting_file(config)?, config.alerts.builtin_rules) {
        (Some((text, origin)), _) => AlertsConfig::from_toml(&text, &origin, zone),
        (None, Some(text)) => AlertsConfig::from_toml(text, "the built-in demo alert rules", zone),
        (None, None) => AlertsConfig::defaults(zone),
    };
    loaded.map_err(|error| crate::error::ServerError::Alerting(error.to_string()))
}

/// The `[[receiver]]` tables of the alerting file (none for the demo's built-in rules or
/// without a file); errors name the receiver and field.
pub fn load_receivers(
    config: &Config,
) -> Result<Vec<sightline_notify::ReceiverConfig>, crate::error::ServerError> {
    let Some((text, origin)) = alerting_file(config)? else {
        return Ok(Vec::new());
    };
    sightline_notify::parse_receivers(&text)
        .map_err(|error| crate::error::ServerError::Alerting(format!("{origin}: {error}")))
}

/// The KPI (and window label) of every rule that `known` does not define, as messages.
pub fn undefined_references(
    alerts: &AlertsConfig,
    windows_of: &dyn Fn(&str) -> Option<Vec<String>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for rule in &alerts.rules {
        let Some(windows) = windows_of(&rule.kpi) else {
            problems.push(format!(
                "alert rule {:?} reads the KPI {:?}, which no KPI defines",
                rule.name, rule.kpi
            ));
            continue;
        };
        if let Some(window) = &rule.window
            && !windows.contains(window)
        {
            problems.push(format!(
                "alert rule {:?} reads the window {window:?} of {}, which has {}",
                rule.name,
                rule.kpi,
                windows.join(", ")
            ));
        }
    }
    problems
}

/// The alerter and what the server reports of it.
pub struct AlertService {
    alerter: Mutex<Alerter>,
    /// The KPIs some rule reads, each once.
    rule_kpis: Vec<String>,
    pub rules: usize,
    /// Notifications handed to the outbox (queued for delivery).
    pub notifications_queued: AtomicU64,
    /// Evaluation rounds that failed to make the journal durable.
    pub journal_errors: AtomicU64,
    /// The last round: how long it took (µs) and how many series values it judged.
    pub last_round_us: AtomicU64,
    pub last_round_series: AtomicU64,
    /// Delivery to the receivers, once started.
    delivery: OnceLock<DispatcherHandle>,
    pub notify_metrics: OnceLock<Arc<NotifyMetrics>>,
}

impl std::fmt::Debug for AlertService {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AlertService")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl AlertService {
    /// Opens the alert journal under `data_dir/alerts` and restores the alerts in it.
    pub fn open(
        alerts: AlertsConfig,
        config: &Config,
        data_dir: &Path,
    ) -> Result<AlertService, crate::error::ServerError> {
        let directory = data_dir.join("alerts");
        std::fs::create_dir_all(&directory).map_err(|error| {
            crate::error::ServerError::Alerting(format!(
                "cannot create {}: {error}",
                directory.display()
            ))
        })?;
        let mut rule_kpis: Vec<String> = alerts.rules.iter().map(|rule| rule.kpi.clone()).collect();
        rule_kpis.sort();
        rule_kpis.dedup();
        let rules = alerts.rules.len();
        let options = AlerterOptions {
            dashboard_url: config.alerts.dashboard_url.clone(),
            ..AlerterOptions::default()
        };
        let alerter = Alerter::open(alerts, options, &directory.join("journal"), now_micros())
            .map_err(|error| crate::error::ServerError::Alerting(error.to_string()))?;
        Ok(AlertService {
            alerter: Mutex::new(alerter),
            rule_kpis,
            rules,
            notifications_queued: AtomicU64::new(0),
            journal_errors: AtomicU64::new(0),
            last_round_us: AtomicU64::new(0),
            last_round_series: AtomicU64::new(0),
            delivery: OnceLock::new(),
            notify_metrics: OnceLock::new(),
        })
    }

    /// Starts delivering notifications to `receivers`: first what the journal still holds
    /// as queued (a restart resumes delivery), then what each round queues. A
    /// notification is marked sent only once every target has it or delivery gave up
    /// (logged with the reason); until then a restart delivers it again, with the same
    /// dedup key.
    pub fn start_delivery(self: &Arc<Self>, receivers: Receivers) {
        let metrics = Arc::new(NotifyMetrics::new(receivers.names()));
        let handle = Dispatcher::new(
            Arc::new(receivers),
            RetryPolicy::default(),
            Arc::clone(&metrics),
        )
        .spawn(
            Box::new(MarkSent {
                service: Arc::downgrade(self),
            }),
            Box::new(SystemClock),
        );
        let queued = self.alerter().outbox();
        for notification in queued {
            handle.send(notification);
        }
        let _ = self.notify_metrics.set(metrics);
        let _ = self.delivery.set(handle);
    }

    /// Has dynamic thresholds and rate-of-change rules read the KPIs' history.
    pub fn read_history_from(&self, kpis: Arc<KpiService>) {
        self.alerter()
            .set_baseline_source(Box::new(HistoryBaseline { kpis }));
    }

    /// The alerter, for the API. Held briefly: the evaluator takes it every round.
    pub fn alerter(&self) -> MutexGuard<'_, Alerter> {
        self.alerter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One evaluation round at `now_us`: every rule's KPI's current windows in, the
    /// alerter's clocks moved, what it queued counted.
    pub fn evaluate(&self, kpis: &KpiService, now_us: i64) {
        let started = std::time::Instant::now();
        let mut updates = Vec::new();
        for kpi in &self.rule_kpis {
            // History holds only final windows, never the present: memory is enough.
            let Some(windows) = kpis.recent_windows(kpi, now_us, now_us + 1) else {
                continue;
            };
            let mut labels: Vec<&str> = windows
                .iter()
                .map(|window| window.result.window.as_str())
                .collect();
            labels.sort_unstable();
            labels.dedup();
            for label in labels {
                let Some(window) = crate::kpis::window_at(&windows, label, now_us) else {
                    continue;
                };
                for (group, value) in &window.result.values {
                    updates.push((
                        kpi.clone(),
                        label.to_owned(),
                        sorted_group(group),
                        series_value(value),
                    ));
                }
            }
        }
        let mut alerter = self.alerter();
        for (kpi, window, group, value) in &updates {
            alerter.observe(kpi, window, group, value, now_us);
        }
        let outcome = alerter.tick(now_us);
        drop(alerter);
        self.last_round_series
            .store(updates.len() as u64, Ordering::Relaxed);
        self.last_round_us.store(
            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        match outcome {
            Ok(queued) => {
                for notification in &queued {
                    tracing::info!(
                        receiver = %notification.receiver,
                        kind = notification.kind.as_str(),
                        title = %notification.title,
                        "alert notification queued"
                    );
                }
                self.notifications_queued
                    .fetch_add(queued.len() as u64, Ordering::Relaxed);
                if let Some(delivery) = self.delivery.get() {
                    for notification in queued {
                        delivery.send(notification);
                    }
                }
            }
            Err(error) => {
                self.journal_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(%error, "the alert journal could not be made durable; retrying next round");
            }
        }
    }
}

/// A group's labels as the alerter keys series: sorted by name.
fn sorted_group(group: &[(String, String)]) -> Vec<(String, String)> {
    let mut sorted = group.to_vec();
    sorted.sort();
    sorted
}

/// An engine value as the alerter reads it, through the JSON the API shows, so a rule
/// judges exactly the number a person sees.
fn series_value(value: &sightline_engine::aggregate::AggregateValue) -> SeriesValue {
    let json: serde_json::Value =
        serde_json::from_str(&value.to_json()).unwrap_or(serde_json::Value::Null);
    SeriesValue::from_json(&json)
}

/// What the dispatcher reports, written into the alert journal.
struct MarkSent {
    service: Weak<AlertService>,
}

impl MarkSent {
    fn mark_sent(&self, notification: &sightline_alerts::Notification, now_us: i64) {
        let Some(service) = self.service.upgrade() else {
            return;
        };
        if let Err(error) = service.alerter().mark_sent(notification.id, now_us) {
            // Still queued in the journal: the next start delivers it again, with the
            // same dedup key.
            tracing::error!(%error, id = notification.id, "a delivered notification could not be marked sent");
        }
    }
}

impl DeliveryEvents for MarkSent {
    fn delivered(
        &mut self,
        notification: &sightline_alerts::Notification,
        attempts: u32,
        now_us: i64,
    ) {
        tracing::info!(receiver = %notification.receiver, attempts, title = %notification.title, "alert notification delivered");
        self.mark_sent(notification, now_us);
    }

    fn attempt_failed(
        &mut self,
        notification: &sightline_alerts::Notification,
        failure: &AttemptFailure,
    ) {
        tracing::warn!(receiver = %notification.receiver, failure = %failure.describe(), "alert notification failed; retrying");
    }

    fn gave_up(&mut self, notification: &sightline_alerts::Notification, failure: &AttemptFailure) {
        tracing::error!(receiver = %notification.receiver, failure = %failure.describe(), title = %notification.title, "alert notification given up");
        self.mark_sent(notification, failure.at_us);
    }
}

/// Past values of a series from the KPI history (on disk) and the engine's windows.
struct HistoryBaseline {
    kpis: Arc<KpiService>,
}

impl HistoryBaseline {
    /// The series' values of the windows of its label ending in `(from_us, to_us]`.
    fn values_ending_in(
        &self,
        series: &SeriesKey<'_>,
        from_us: i64,
        to_us: i64,
    ) -> Vec<(i64, f64)> {
        let Some(windows) = self.kpis.windows(series.kpi, from_us, to_us) else {
            return Vec::new();
        };
        let mut values = Vec::new();
        for window in windows {
            let result = &window.result;
            if result.window != series.window || result.end_us <= from_us || result.end_us > to_us {
                continue;
            }
            for (group, value) in &result.values {
                if sorted_group(group) != series.group {
                    continue;
                }
                if let Some(number) = series_value(value).select(series.field) {
                    values.push((result.end_us, number));
                }
            }
        }
        values
    }
}

impl BaselineSource for HistoryBaseline {
    fn hour_value(&self, series: &SeriesKey<'_>, start_us: i64, end_us: i64) -> Option<f64> {
        let values = self.values_ending_in(series, start_us, end_us);
        if values.is_empty() {
            return None;
        }
        Some(values.iter().map(|(_, value)| value).sum::<f64>() / values.len() as f64)
    }

    fn value_at(&self, series: &SeriesKey<'_>, at_us: i64) -> Option<f64> {
        // The window ending soonest after `at`: the one that covered that moment.
        const LOOK_AHEAD_US: i64 = 86_400_000_000;
        self.values_ending_in(series, at_us, at_us + LOOK_AHEAD_US)
            .into_iter()
            .min_by_key(|(end_us, _)| *end_us)
            .map(|(_, value)| value)
    }
}

/// Starts the evaluator thread; it ends when `stop` is set.
pub fn start_evaluator(
    service: Arc<AlertService>,
    kpis: Arc<KpiService>,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sightline-alerts".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                // Rules judge the present; while the engine replays the log at start-up
                // its windows are the past.
                if !kpis.is_caught_up() {
                    continue;
                }
                service.evaluate(&kpis, now_micros());
            }
        })
}
