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
//!
//! Counts and sums over a tumbling window in progress hold only part of a window, so
//! rules that compare with whole past windows (dynamic, seasonal, rate of change) are
//! given the window's full length back from now ([`full_length_estimate`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use sightline_alerts::clock::HOUR_US;
use sightline_alerts::{
    Alerter, AlerterOptions, AlertsConfig, BaselineSource, DeliveryOutcome, DeliveryRecord,
    SeriesKey, SeriesValue,
};
use sightline_config::Config;
use sightline_engine::aggregate::AggregateValue;
use sightline_engine::definition::AggregateKind;
use sightline_engine::window::WindowSpec;
use sightline_model::time::now_micros;
use sightline_notify::{
    AttemptFailure, DeliveryEvents, NotifyMetrics, ReceiverDispatchers, Receivers, RetryPolicy,
    SystemClock,
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

/// The receivers routes or escalation levels name that no `[[receiver]]` configures: what
/// is sent to them is given up (with the reason in the alert's history). Alertmanager
/// refuses such a configuration; Sightline starts anyway, because the built-in severity
/// table names receivers a team that only watches the dashboard never configures, and
/// says which ones instead.
pub fn unconfigured_receivers(
    alerts: &AlertsConfig,
    configured: &[sightline_notify::ReceiverConfig],
) -> Vec<String> {
    alerts
        .receivers_named()
        .into_iter()
        .filter(|name| !configured.iter().any(|receiver| &receiver.name == name))
        .collect()
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

/// Where the alert journal of the data directory `data_dir` lives.
pub fn journal_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("alerts").join("journal")
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
    delivery: OnceLock<ReceiverDispatchers>,
    /// (KPI, window label) of the tumbling windows over counts and sums, learnt from the
    /// engine's definitions at the first round.
    additive_tumbling: OnceLock<HashSet<(String, String)>>,
    /// The final window before each additive tumbling window in progress, by (KPI, label).
    previous_windows: Mutex<HashMap<(String, String), Arc<PreviousWindow>>>,
    /// Whether any `[[receiver]]` is configured (set when delivery starts).
    has_receivers: AtomicBool,
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
        let journal = journal_path(data_dir);
        let directory = journal.parent().unwrap_or(data_dir);
        std::fs::create_dir_all(directory).map_err(|error| {
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
        let alerter = Alerter::open(alerts, options, &journal, now_micros())
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
            additive_tumbling: OnceLock::new(),
            has_receivers: AtomicBool::new(false),
            previous_windows: Mutex::new(HashMap::new()),
            notify_metrics: OnceLock::new(),
        })
    }

    /// Starts delivering notifications to `receivers`: first what the journal still holds
    /// as queued (a restart resumes delivery), then what each round queues. A
    /// notification is marked sent only once every target has it or delivery gave up
    /// (logged with the reason); until then a restart delivers it again, with the same
    /// dedup key.
    pub fn start_delivery(self: &Arc<Self>, receivers: Receivers) {
        self.has_receivers
            .store(receivers.names().next().is_some(), Ordering::Relaxed);
        let metrics = Arc::new(NotifyMetrics::new(receivers.names()));
        let service = Arc::downgrade(self);
        let handle = ReceiverDispatchers::spawn(
            Arc::new(receivers),
            RetryPolicy::default(),
            Arc::clone(&metrics),
            &|| {
                Box::new(MarkSent {
                    service: Weak::clone(&service),
                })
            },
            &|| Box::new(SystemClock),
        );
        let queued = self.alerter().outbox();
        for notification in queued {
            handle.send(notification);
        }
        let _ = self.notify_metrics.set(metrics);
        let _ = self.delivery.set(handle);
    }

    /// Whether `label` of `kpi` is a tumbling window over a count or sum, whose value in
    /// progress is only part of a whole window (see [`full_length_estimate`]).
    fn is_additive_tumbling(&self, kpis: &KpiService, kpi: &str, label: &str) -> bool {
        let additive = self.additive_tumbling.get_or_init(|| {
            let engine = kpis.engine();
            engine
                .kpis()
                .filter(|definition| {
                    matches!(
                        definition.aggregate,
                        AggregateKind::Count | AggregateKind::Sum | AggregateKind::Sums
                    )
                })
                .flat_map(|definition| {
                    definition
                        .windows
                        .iter()
                        .filter(|spec| matches!(spec, WindowSpec::Tumbling { .. }))
                        .map(|spec| (definition.name.clone(), spec.label()))
                        .collect::<Vec<_>>()
                })
                .collect()
        });
        additive.contains(&(kpi.to_owned(), label.to_owned()))
    }

    /// The window before the tumbling window of `label` starting at `start_us`, from the
    /// cache while it holds that window final, else read (and cached when final).
    fn previous_window(
        &self,
        kpis: &KpiService,
        kpi: &str,
        label: &str,
        start_us: i64,
    ) -> Option<Arc<PreviousWindow>> {
        let key = (kpi.to_owned(), label.to_owned());
        let mut cache = self
            .previous_windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cached) = cache.get(&key)
            && cached.start_us == start_us
        {
            return Some(Arc::clone(cached));
        }
        let previous = Arc::new(previous_values(kpis, kpi, label, start_us)?);
        if previous.is_final {
            cache.insert(key, Arc::clone(&previous));
        }
        Some(previous)
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
                let previous = if self.is_additive_tumbling(kpis, kpi, label) {
                    self.previous_window(kpis, kpi, label, window.result.start_us)
                } else {
                    None
                };
                let span = (window.result.end_us - window.result.start_us).max(1);
                let remaining = (window.result.end_us - now_us).clamp(0, span) as f64 / span as f64;
                for (group, value) in &window.result.values {
                    let current = series_value(value);
                    let full_length = previous.as_ref().map(|previous| {
                        full_length_estimate(&current, previous.values.get(group), remaining)
                    });
                    updates.push((
                        kpi.clone(),
                        label.to_owned(),
                        sorted_group(group),
                        current,
                        full_length,
                    ));
                }
            }
        }
        let mut alerter = self.alerter();
        for (kpi, window, group, value, full_length) in &updates {
            alerter.observe_window(kpi, window, group, value, full_length.as_ref(), now_us);
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

/// A count or sum over a tumbling window in progress, over the window's full length back
/// from now: what the window holds so far plus the share of the previous window that the
/// span still covers (`remaining`, the part of the window yet to come) — as a sliding
/// window would count, assuming the previous window's events were spread evenly. A group
/// missing from the previous window had none there.
fn full_length_estimate(
    current: &SeriesValue,
    previous: Option<&SeriesValue>,
    remaining: f64,
) -> SeriesValue {
    let Some(previous) = previous else {
        return current.clone();
    };
    match (current, previous) {
        (SeriesValue::Number(now), SeriesValue::Number(before)) => {
            SeriesValue::Number(now + remaining * before)
        }
        (SeriesValue::Members(now), SeriesValue::Members(before)) => SeriesValue::Members(
            now.iter()
                .map(|(name, value)| {
                    let earlier = before
                        .iter()
                        .find(|(before_name, _)| before_name == name)
                        .map_or(0.0, |(_, value)| *value);
                    (name.clone(), value + remaining * earlier)
                })
                .collect(),
        ),
        _ => current.clone(),
    }
}

/// The values of the window of `label` that ended at `start_us` (the one before the
/// current tumbling window), by group as the engine reports them.
fn previous_values(
    kpis: &KpiService,
    kpi: &str,
    label: &str,
    start_us: i64,
) -> Option<PreviousWindow> {
    let windows = kpis.windows_of_label(kpi, label, start_us - 1, start_us)?;
    let previous = windows.iter().find(|window| window.end_us == start_us)?;
    Some(PreviousWindow {
        start_us,
        is_final: previous.is_final,
        values: previous
            .values
            .iter()
            .map(|(group, value)| (group.clone(), series_value(value)))
            .collect(),
    })
}

/// The window before a tumbling window in progress, by the start of the one in progress.
struct PreviousWindow {
    start_us: i64,
    /// A final window no longer changes: kept until the next window starts, rather than
    /// read (from history, once the engine let it go) every round.
    is_final: bool,
    values: HashMap<Vec<(String, String)>, SeriesValue>,
}

/// Whether the engine's `group` (in `group_by` order) is the alerter's `sorted` group,
/// without sorting a copy: label names are unique within a group.
fn same_group(group: &[(String, String)], sorted: &[(String, String)]) -> bool {
    group.len() == sorted.len() && group.iter().all(|pair| sorted.contains(pair))
}

/// A group's labels as the alerter keys series: sorted by name.
fn sorted_group(group: &[(String, String)]) -> Vec<(String, String)> {
    let mut sorted = group.to_vec();
    sorted.sort();
    sorted
}

/// An engine value as the alerter reads it: the numbers the API shows for it (decimals
/// as they are, quantiles to 3 places, minutes down to 1 place, numeric text as a
/// number), so a rule judges exactly the number a person sees. Built directly rather than
/// by printing and parsing the JSON: the evaluator converts every series every round.
fn series_value(value: &AggregateValue) -> SeriesValue {
    match value {
        AggregateValue::Empty => SeriesValue::Empty,
        AggregateValue::Count(count) => SeriesValue::Number(*count as f64),
        AggregateValue::Decimal(decimal) => decimal_number(*decimal),
        AggregateValue::Text(text) => text
            .parse::<f64>()
            .map_or(SeriesValue::Empty, SeriesValue::Number),
        AggregateValue::Quantiles(quantiles) => SeriesValue::Members(
            quantiles
                .iter()
                .filter_map(|(label, quantile)| {
                    let rounded = Decimal::from_f64((*quantile)?)?.round_dp(3);
                    Some((label.clone(), decimal_to_f64(rounded)))
                })
                .collect(),
        ),
        AggregateValue::Stock { level, .. } => {
            member_list([("level", Some(decimal_to_f64(*level)))])
        }
        AggregateValue::Status {
            state,
            down_minutes,
        } => member_list([
            (
                "minutes_down",
                Some(decimal_to_f64(down_minutes.round_dp(1))),
            ),
            // The state is text ("up"); it counts only if it reads as a number.
            ("status", state.parse::<f64>().ok()),
        ]),
        AggregateValue::Counts(counts) => SeriesValue::Members(
            counts
                .iter()
                .map(|(state, count)| (state.clone(), *count as f64))
                .collect(),
        ),
        AggregateValue::Named { count, sums, .. } => {
            let mut members = vec![("count".to_owned(), *count as f64)];
            members.extend(
                sums.iter()
                    .map(|(name, sum)| (name.clone(), decimal_to_f64(*sum))),
            );
            SeriesValue::Members(members)
        }
        AggregateValue::Overdue { count, .. } => member_list([("count", Some(*count as f64))]),
    }
}

fn decimal_number(decimal: Decimal) -> SeriesValue {
    SeriesValue::Number(decimal_to_f64(decimal))
}

/// The f64 nearest the decimal, as parsing its text would give. `Decimal::to_f64` can be
/// off by one unit in the last place, which would move a value sitting exactly on a
/// threshold to the other side of it.
fn decimal_to_f64(decimal: Decimal) -> f64 {
    // Powers of ten are exact in f64 up to 10^22.
    const POWERS_OF_TEN: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let mantissa = decimal.mantissa();
    let scale = decimal.scale() as usize;
    // Both operands exact, so the division rounds once, correctly: the same f64 as the
    // text parsed.
    if mantissa.unsigned_abs() < (1_u128 << 53) && scale < POWERS_OF_TEN.len() {
        return mantissa as f64 / POWERS_OF_TEN[scale];
    }
    decimal
        .to_string()
        .parse::<f64>()
        .unwrap_or_else(|_| decimal.to_f64().unwrap_or(f64::NAN))
}

fn member_list<const N: usize>(members: [(&str, Option<f64>); N]) -> SeriesValue {
    SeriesValue::Members(
        members
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), value?)))
            .collect(),
    )
}

/// What the dispatcher reports, written into the alert journal: each outcome joins the
/// history of the alerts the notification listed, and a final one takes it out of the
/// outbox.
struct MarkSent {
    service: Weak<AlertService>,
}

impl MarkSent {
    fn record(&self, record: DeliveryRecord) {
        let Some(service) = self.service.upgrade() else {
            return;
        };
        let id = record.notification_id;
        if let Err(error) = service.alerter().record_delivery(record) {
            // Still queued in the journal: the next start delivers it again, with the
            // same dedup key.
            tracing::error!(%error, id, "a notification's delivery could not be recorded");
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
        self.record(DeliveryRecord::of(
            notification,
            now_us,
            attempts,
            DeliveryOutcome::Delivered,
        ));
    }

    fn attempt_failed(
        &mut self,
        notification: &sightline_alerts::Notification,
        failure: &AttemptFailure,
    ) {
        tracing::warn!(receiver = %notification.receiver, failure = %failure.describe(), "alert notification failed; retrying");
        self.record(
            DeliveryRecord::of(
                notification,
                failure.at_us,
                failure.attempt,
                DeliveryOutcome::Failed,
            )
            .with_error(failure_text(failure), failure.retry_at_us),
        );
    }

    fn gave_up(&mut self, notification: &sightline_alerts::Notification, failure: &AttemptFailure) {
        let no_receivers_at_all = self
            .service
            .upgrade()
            .is_some_and(|service| !service.has_receivers.load(Ordering::Relaxed));
        if no_receivers_at_all {
            // A dashboard-only setup (the demo among them): said once at start, and each
            // alert's history keeps to whom it would have gone.
            tracing::debug!(receiver = %notification.receiver, title = %notification.title, "alert notification given up: no receivers are configured");
        } else {
            tracing::error!(receiver = %notification.receiver, failure = %failure.describe(), title = %notification.title, "alert notification given up");
        }
        self.record(
            DeliveryRecord::of(
                notification,
                failure.at_us,
                failure.attempt,
                DeliveryOutcome::GaveUp,
            )
            .with_error(failure_text(failure), None),
        );
    }
}

/// "target: error; target: error", what failed in one attempt.
fn failure_text(failure: &AttemptFailure) -> String {
    failure
        .errors
        .iter()
        .map(|(target, error)| format!("{target}: {error}"))
        .collect::<Vec<_>>()
        .join("; ")
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
        let Some(windows) = self
            .kpis
            .windows_of_label(series.kpi, series.window, from_us, to_us)
        else {
            return Vec::new();
        };
        let mut values = Vec::new();
        for result in windows {
            if result.end_us <= from_us || result.end_us > to_us {
                continue;
            }
            for (group, value) in &result.values {
                if !same_group(group, series.group) {
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

    /// One history read for the whole span (a seasonal fit asks for weeks of hours), the
    /// windows bucketed by the hour they end in, as `hour_value` would read each.
    fn hour_values(&self, series: &SeriesKey<'_>, start_us: i64, end_us: i64) -> Vec<Option<f64>> {
        let hours = usize::try_from((end_us - start_us).div_euclid(HOUR_US)).unwrap_or(0);
        let mut sums = vec![(0.0_f64, 0_u32); hours];
        for (window_end_us, value) in self.values_ending_in(series, start_us, end_us) {
            // A window ending exactly on the hour belongs to the hour it closes.
            let hour = usize::try_from((window_end_us - start_us - 1).div_euclid(HOUR_US));
            if let Some((sum, count)) = hour.ok().and_then(|hour| sums.get_mut(hour)) {
                *sum += value;
                *count += 1;
            }
        }
        sums.into_iter()
            .map(|(sum, count)| (count > 0).then(|| sum / f64::from(count)))
            .collect()
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use sightline_engine::aggregate::StockStatus;

    use super::*;

    /// The reading the API's JSON gives, members in name order, the oracle the direct
    /// conversion must match number for number.
    fn through_json(value: &AggregateValue) -> SeriesValue {
        let json: serde_json::Value =
            serde_json::from_str(&value.to_json()).expect("the engine prints valid JSON");
        sorted(SeriesValue::from_json(&json))
    }

    fn sorted(value: SeriesValue) -> SeriesValue {
        match value {
            SeriesValue::Members(mut members) => {
                members.sort_by(|left, right| left.0.cmp(&right.0));
                SeriesValue::Members(members)
            }
            other => other,
        }
    }

    fn decimal() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (any::<i64>(), 0_u32..=12).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale)),
            (any::<i32>(), 0_u32..=4)
                .prop_map(|(mantissa, scale)| Decimal::new(i64::from(mantissa), scale)),
            (
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<bool>(),
                0_u32..=28
            )
                .prop_map(|(lo, mid, hi, negative, scale)| Decimal::from_parts(
                    lo, mid, hi, negative, scale
                )),
        ]
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-z_]{1,8}"
    }

    fn aggregate_value() -> impl Strategy<Value = AggregateValue> {
        prop_oneof![
            Just(AggregateValue::Empty),
            any::<u64>().prop_map(AggregateValue::Count),
            decimal().prop_map(AggregateValue::Decimal),
            prop_oneof![
                "[a-z]{0,6}",
                (-1e300_f64..1e300).prop_map(|number| number.to_string())
            ]
            .prop_map(AggregateValue::Text),
            proptest::collection::btree_map(
                "p[0-9]{1,2}",
                proptest::option::of(-1e9_f64..1e9),
                0..4
            )
            .prop_map(|quantiles| AggregateValue::Quantiles(quantiles.into_iter().collect())),
            (decimal(), 0_u8..3).prop_map(|(level, status)| AggregateValue::Stock {
                level,
                status: [StockStatus::Ok, StockStatus::Low, StockStatus::Out][usize::from(status)],
            }),
            (prop_oneof!["up", "down", "[0-9]{1,3}"], decimal()).prop_map(
                |(state, down_minutes)| AggregateValue::Status {
                    state,
                    down_minutes
                }
            ),
            proptest::collection::btree_map(name(), any::<u64>(), 0..4)
                .prop_map(|counts| AggregateValue::Counts(counts.into_iter().collect())),
            (
                any::<u64>(),
                proptest::collection::btree_map("[a-z]{1,6}", decimal(), 0..3)
            )
                .prop_map(|(count, sums)| AggregateValue::Named {
                    count,
                    sums: sums
                        .into_iter()
                        .filter(|(name, _)| name != "count")
                        .collect(),
                    sort_sum: 0,
                }),
            any::<u64>().prop_map(|count| AggregateValue::Overdue {
                count,
                oldest: vec![("order-1".to_owned(), 0, "packed".to_owned())],
            }),
        ]
    }

    proptest! {
        #[test]
        fn the_direct_reading_is_the_number_the_api_shows(value in aggregate_value()) {
            let direct = sorted(series_value(&value));
            let oracle = through_json(&value);
            prop_assert!(
                same_numbers(&direct, &oracle),
                "direct {:?} vs the API's {:?}",
                direct,
                oracle
            );
        }
    }

    /// Equal, number for number, up to one unit in the last place: serde_json's default
    /// float parsing (no `float_roundtrip`) can be that far off for mantissas of more than
    /// 17 digits, where the direct reading is the correctly rounded one (as the browser's
    /// `JSON.parse`); `decimals_convert_to_the_nearest_f64` checks that exactly.
    fn same_numbers(left: &SeriesValue, right: &SeriesValue) -> bool {
        let close = |left: f64, right: f64| {
            left == right || (left.is_finite() && (left.to_bits().abs_diff(right.to_bits()) <= 1))
        };
        match (left, right) {
            (SeriesValue::Empty, SeriesValue::Empty) => true,
            (SeriesValue::Number(left), SeriesValue::Number(right)) => close(*left, *right),
            (SeriesValue::Members(left), SeriesValue::Members(right)) => {
                left.len() == right.len()
                    && left
                        .iter()
                        .zip(right)
                        .all(|((left_name, left), (right_name, right))| {
                            left_name == right_name && close(*left, *right)
                        })
            }
            _ => false,
        }
    }

    #[test]
    fn decimals_convert_to_the_nearest_f64() {
        for text in [
            "0.1",
            "0.3",
            "1234.5678",
            "-0.05",
            "99999999999.99",
            "79228162514264337593543950335",
            "35990938500506192776722907.136",
        ] {
            let decimal: Decimal = text.parse().expect("a decimal");
            assert_eq!(
                decimal_to_f64(decimal),
                text.parse::<f64>().expect("a number"),
                "{text}"
            );
        }
    }
}
