//! The alerter: rules evaluated on KPI updates, lifecycles, groups, silences, inhibition,
//! escalation and the outbox, journalled in one [`Store`].
//!
//! The server calls [`Alerter::observe`] for every changed KPI window (per group), and
//! [`Alerter::tick`] about once a second; `tick` returns the notifications that became
//! due, already durable in the outbox. The receivers deliver them and call
//! [`Alerter::mark_sent`]. After a restart, [`Alerter::outbox`] lists what was queued and
//! not yet sent.
//!
//! ## What is durable when
//!
//! - Transitions decided by `observe` are buffered and made durable by the next `tick`
//!   (one fdatasync per tick, not per update: 10,000 series may change at once). A crash
//!   in between loses them, and the next update decides them again (a pending alert's
//!   `for` restarts then): nothing was notified from them yet.
//! - `tick` syncs the journal before it returns notifications; `ack`, `assign`, `resolve`,
//!   silences and `mark_sent` sync before they return.
//! - What a receiver was told is the journalled notification itself (see [`crate::notify`]);
//!   escalation steps taken are the journalled escalation notices. Replay rebuilds both,
//!   so after a crash nothing is told twice and nothing owed is forgotten.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

use jiff::tz::TimeZone;
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::clock::format_rfc3339;
use crate::config::AlertsConfig;
use crate::delivery::DeliveryRecord;
use crate::error::AlertsError;
use crate::evaluate::{
    BaselineSource, Evaluation, NoHistory, Past, SeriesKey, SeriesMemory, SeriesValue, Verdict,
};
use crate::inhibit::{InhibitCandidate, is_inhibited};
use crate::intervals::time_zone;
use crate::lifecycle::{AlertState, Cause, Change, Lifecycle, Transition};
use crate::matcher::Labels;
use crate::notify::{
    AggregationGroup, EscalationMark, MemberView, Notification, NotificationKind, NotifiedAlert,
    escalation_dedup_key, group_dedup_key, title,
};
use crate::report::{TuningReport, tuning_report};
use crate::rule::{Condition, Rule};
use crate::silence::{
    ActiveSilence, EXPIRED_SILENCE_RETENTION_US, Silence, SilenceRequest, canonical_matchers,
    validate,
};
use crate::store::{AlertSnapshot, GroupSnapshot, JournalRecord, Store};
use crate::template::TemplateContext;

#[derive(Debug, Clone)]
pub struct AlerterOptions {
    /// Where the dashboard is, for `{{link}}`: `https://sightline.example.com`. Empty:
    /// links are relative (`/#panel=payments`).
    pub dashboard_url: String,
    /// Transitions kept in memory for `history` and the tuning report.
    pub history_limit: usize,
    /// The journal is compacted (rewritten as the current state plus the history kept)
    /// once it is this big and twice its size after the last compaction.
    pub compact_after_bytes: u64,
    /// Dynamic and seasonal bounds are recomputed once per series and local hour; at most
    /// this many between two `tick`s (one evaluation round), so the top of the hour costs
    /// 10,000 series a minute of spread-out refreshes instead of one stalled round. A
    /// seasonal refresh costs about a millisecond (a fit), a dynamic one a few history
    /// reads.
    pub baseline_refreshes_per_round: u32,
}

impl Default for AlerterOptions {
    fn default() -> Self {
        AlerterOptions {
            dashboard_url: String::new(),
            history_limit: 100_000,
            compact_after_bytes: 64 << 20,
            baseline_refreshes_per_round: 200,
        }
    }
}

/// One alert: a rule over one group of its KPI.
#[derive(Debug)]
struct Series {
    fingerprint: u64,
    /// The high half of the 128-bit identity (see [`identity`]).
    identity_check: u64,
    id: String,
    rule: usize,
    /// The KPI group's labels, sorted by name.
    group: Vec<(String, String)>,
    group_labels: Labels,
    labels: Labels,
    /// The window of the last update (for a rule that names none).
    window: String,
    /// The rule's group matchers exclude this group: updates are ignored.
    excluded: bool,
    memory: SeriesMemory,
    lifecycle: Lifecycle,
    /// Escalation steps taken in the current (incident, lapse count).
    escalation: (u64, u32, u32),
    /// The last (incident, lapse count) whose lapse notice was queued.
    lapse_notified: (u64, u32),
}

impl Series {
    /// The series as an inhibition rule sees it, as a source or a target.
    fn inhibit_candidate(&self) -> InhibitCandidate<'_> {
        InhibitCandidate {
            id: self.fingerprint,
            labels: &self.labels,
            group: &self.group_labels,
        }
    }
}

/// What an alert looks like in the API (`GET /v1/alerts`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertView {
    pub id: String,
    pub rule: String,
    pub state: AlertState,
    pub severity: crate::rule::Severity,
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub baseline: Option<f64>,
    pub started_at: Option<i64>,
    pub firing_since: Option<i64>,
    pub resolved_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub assignee: Option<String>,
    pub incident: u64,
    /// Ids of the active silences that match it.
    pub silenced_by: Vec<String>,
    pub inhibited: bool,
}

impl AlertView {
    /// The api.md shape, with Sightline's extra members after the contract's.
    pub fn to_json(&self) -> serde_json::Value {
        let time = |micros: Option<i64>| micros.map(format_rfc3339);
        serde_json::json!({
            "id": self.id,
            "rule": self.rule,
            "state": self.state.as_str(),
            "severity": self.severity.as_str(),
            "labels": self.labels,
            "value": self.value,
            "started_at": time(self.started_at),
            "assignee": self.assignee,
            "annotations": self.annotations,
            "threshold": self.threshold,
            "baseline": self.baseline,
            "firing_since": time(self.firing_since),
            "resolved_at": time(self.resolved_at),
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_at": time(self.acknowledged_at),
            "incident": self.incident,
            "silenced_by": self.silenced_by,
            "inhibited": self.inhibited,
        })
    }
}

pub struct Alerter {
    config: AlertsConfig,
    options: AlerterOptions,
    zone: TimeZone,
    store: Store,
    baseline: Box<dyn BaselineSource + Send>,
    rules_by_kpi: FxHashMap<String, Vec<usize>>,
    series: Vec<Series>,
    /// Fingerprints are xxh3 hashes already: a pass-through hasher would do, Fx is close.
    by_fingerprint: FxHashMap<u64, usize>,
    groups: BTreeMap<String, AggregationGroup>,
    silences: BTreeMap<String, ActiveSilence>,
    outbox: BTreeMap<u64, Notification>,
    history: VecDeque<Transition>,
    /// Dynamic and seasonal bounds still allowed to be recomputed before the next `tick`.
    refreshes_left: u32,
    /// Delivery outcomes, oldest first, as many as transitions are kept.
    deliveries: VecDeque<DeliveryRecord>,
    next_seq: u64,
    next_notification_id: u64,
    /// Absence rules count a series never seen as quiet since here.
    watch_start_us: i64,
    /// The journal's size after the last compaction (or at open).
    compacted_len: u64,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Alerter")
            .field("rules", &self.config.rules.len())
            .field("series", &self.series.len())
            .field("groups", &self.groups.len())
            .field("outbox", &self.outbox.len())
            .finish()
    }
}

/// The alert's identity: a 128-bit xxh3 of the rule name and its group labels sorted by
/// name, each part length-prefixed (so no two different label sets hash the same bytes).
/// The low 64 bits are the fingerprint, shown as the alert's id (16 hex digits); the
/// high 64 bits tell two series apart should two fingerprints ever collide, without
/// comparing label text on every update.
pub fn identity(rule: &str, sorted_group: &[(String, String)]) -> u128 {
    let mut hasher = Xxh3::new();
    let mut part = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    part(rule.as_bytes());
    for (name, value) in sorted_group {
        part(name.as_bytes());
        part(value.as_bytes());
    }
    hasher.digest128()
}

/// The alert's id as a number: the low 64 bits of [`identity`].
pub fn fingerprint(rule: &str, sorted_group: &[(String, String)]) -> u64 {
    identity(rule, sorted_group) as u64
}

fn alert_labels(rule: &Rule, group: &[(String, String)], window: Option<&str>) -> Labels {
    let mut labels: Labels = group.iter().cloned().collect();
    // As in Prometheus, the rule's own labels win over the series'.
    for (name, value) in &rule.labels {
        labels.insert(name.clone(), value.clone());
    }
    labels.insert("alertname".to_owned(), rule.name.clone());
    labels.insert("severity".to_owned(), rule.severity.as_str().to_owned());
    labels.insert("kpi".to_owned(), rule.kpi.clone());
    if let Some(window) = window {
        labels.insert("window".to_owned(), window.to_owned());
    }
    labels
}

impl Alerter {
    /// Opens the journal at `path` (creating it) and restores the alerts it records.
    pub fn open(
        config: AlertsConfig,
        options: AlerterOptions,
        path: &Path,
        now_us: i64,
    ) -> Result<Alerter, AlertsError> {
        let (store, records) = Store::open(path)?;
        Alerter::restore(config, options, store, records, now_us)
    }

    /// An alerter with an in-memory journal (tests, benchmarks).
    pub fn in_memory(
        config: AlertsConfig,
        options: AlerterOptions,
        now_us: i64,
    ) -> Result<Alerter, AlertsError> {
        Alerter::restore(config, options, Store::in_memory(), Vec::new(), now_us)
    }

    /// Rebuilds the alerter from a store and its replayed records.
    pub fn restore(
        config: AlertsConfig,
        options: AlerterOptions,
        store: Store,
        records: Vec<JournalRecord>,
        now_us: i64,
    ) -> Result<Alerter, AlertsError> {
        let zone = time_zone(&config.zone).map_err(|message| AlertsError::Parse {
            origin: "[time] zone".to_owned(),
            message,
        })?;
        let mut rules_by_kpi: FxHashMap<String, Vec<usize>> = FxHashMap::default();
        for (index, rule) in config.rules.iter().enumerate() {
            rules_by_kpi
                .entry(rule.kpi.clone())
                .or_default()
                .push(index);
        }
        let refreshes_left = options.baseline_refreshes_per_round;
        let mut alerter = Alerter {
            config,
            options,
            zone,
            store,
            baseline: Box::new(NoHistory),
            rules_by_kpi,
            series: Vec::new(),
            by_fingerprint: FxHashMap::default(),
            groups: BTreeMap::new(),
            silences: BTreeMap::new(),
            outbox: BTreeMap::new(),
            history: VecDeque::new(),
            deliveries: VecDeque::new(),
            refreshes_left,
            next_seq: 0,
            next_notification_id: 0,
            watch_start_us: now_us,
            compacted_len: 0,
        };
        alerter.replay(records, now_us);
        for rule_index in 0..alerter.config.rules.len() {
            if matches!(
                alerter.config.rules[rule_index].condition,
                Condition::Absent { .. }
            ) {
                let window = alerter.config.rules[rule_index]
                    .window
                    .clone()
                    .unwrap_or_default();
                alerter.series_index(rule_index, &window, &[]);
            }
        }
        alerter.store.sync()?;
        alerter.compacted_len = alerter.store.durable_len();
        Ok(alerter)
    }

    /// Where dynamic thresholds and change rules read history.
    pub fn set_baseline_source(&mut self, source: Box<dyn BaselineSource + Send>) {
        self.baseline = source;
    }

    pub fn config(&self) -> &AlertsConfig {
        &self.config
    }

    /// An update of one group of one KPI window. Cheap when no rule reads the KPI.
    pub fn observe(
        &mut self,
        kpi: &str,
        window: &str,
        group: &[(String, String)],
        value: &SeriesValue,
        now_us: i64,
    ) {
        self.observe_window(kpi, window, group, value, None, now_us);
    }

    /// As [`Alerter::observe`], for a count or sum over a tumbling window still in
    /// progress: `full_length` estimates the value over the window's full length back from
    /// now (see the server's evaluator). Rules that compare with the past — dynamic,
    /// seasonal, rate of change — judge that estimate, since their baselines are whole
    /// windows and a window a few minutes old always looks like a collapse; static
    /// thresholds judge the value as the dashboard shows it.
    pub fn observe_window(
        &mut self,
        kpi: &str,
        window: &str,
        group: &[(String, String)],
        value: &SeriesValue,
        full_length: Option<&SeriesValue>,
        now_us: i64,
    ) {
        // Taken out and put back (no allocation per update) so that `self` is free for
        // the updates in between.
        let Some(rule_indexes) = self.rules_by_kpi.get_mut(kpi).map(std::mem::take) else {
            return;
        };
        for &rule_index in &rule_indexes {
            let rule = &self.config.rules[rule_index];
            if rule
                .window
                .as_deref()
                .is_some_and(|wanted| wanted != window)
            {
                continue;
            }
            let absent_rule = matches!(rule.condition, Condition::Absent { .. });
            let compares_with_the_past = matches!(
                rule.condition,
                Condition::Dynamic(_) | Condition::Seasonal(_) | Condition::Change { .. }
            );
            let Some(series_index) = self.series_index(rule_index, window, group) else {
                continue;
            };
            let judged = match full_length {
                Some(estimate) if compares_with_the_past => estimate,
                _ => value,
            };
            self.update_series(series_index, window, judged, now_us);
            // "No orders for 10 minutes" watches the KPI as a whole too: any group's
            // value counts as the KPI being present.
            if absent_rule
                && !group.is_empty()
                && let Some(whole) = self.series_index(rule_index, window, &[])
            {
                self.update_series(whole, window, value, now_us);
            }
        }
        if let Some(slot) = self.rules_by_kpi.get_mut(kpi) {
            *slot = rule_indexes;
        }
    }

    fn update_series(
        &mut self,
        series_index: usize,
        window: &str,
        value: &SeriesValue,
        now_us: i64,
    ) {
        let series = &mut self.series[series_index];
        if series.excluded {
            return;
        }
        let rule = &self.config.rules[series.rule];
        // A rule that names its window only ever sees that one: no string to compare
        // (and no cold cache line to touch) per update.
        if rule.window.is_none() && series.window != window {
            series.window = window.to_owned();
        }
        let key = SeriesKey {
            kpi: &rule.kpi,
            window: &series.window,
            field: rule.field.as_deref(),
            group: &series.group,
        };
        let mut past = Past {
            zone: &self.zone,
            source: self.baseline.as_ref(),
            refreshes_left: self.refreshes_left,
        };
        let evaluation = series.memory.evaluate(rule, &key, value, now_us, &mut past);
        self.refreshes_left = past.refreshes_left;
        if matches!(rule.condition, Condition::Absent { .. }) {
            // Judged by the clock in `tick`.
            return;
        }
        self.apply_evaluation(series_index, evaluation, now_us);
    }

    fn apply_evaluation(&mut self, series_index: usize, evaluation: Evaluation, now_us: i64) {
        let series = &mut self.series[series_index];
        let rule = &self.config.rules[series.rule];
        series.lifecycle.value = evaluation.value;
        series.lifecycle.threshold = evaluation.threshold;
        series.lifecycle.baseline = evaluation.baseline;
        let changes = series.lifecycle.evaluate(
            evaluation.verdict,
            now_us,
            rule.for_us,
            rule.keep_firing_for_us,
        );
        for change in changes {
            self.record(series_index, change, now_us);
        }
    }

    /// Numbers, applies, journals and remembers a change; a firing alert joins its groups.
    fn record(&mut self, series_index: usize, change: Change, now_us: i64) -> Transition {
        self.next_seq += 1;
        let series = &mut self.series[series_index];
        let transition = Transition {
            seq: self.next_seq,
            at_us: now_us,
            alert_id: series.id.clone(),
            rule: self.config.rules[series.rule].name.clone(),
            group: series.group.clone(),
            incident: change.incident,
            from: change.from,
            to: change.to,
            cause: change.cause,
            value: series.lifecycle.value,
            threshold: series.lifecycle.threshold,
            baseline: series.lifecycle.baseline,
        };
        series.lifecycle.apply(&transition);
        self.store
            .append(&JournalRecord::Transition(transition.clone()));
        self.remember(transition.clone());
        if transition.to.is_firing() && !transition.from.is_firing() {
            self.join_groups(series_index, now_us);
        }
        transition
    }

    fn remember_delivery(&mut self, record: DeliveryRecord) {
        self.deliveries.push_back(record);
        while self.deliveries.len() > self.options.history_limit {
            self.deliveries.pop_front();
        }
    }

    fn remember(&mut self, transition: Transition) {
        self.history.push_back(transition);
        while self.history.len() > self.options.history_limit {
            self.history.pop_front();
        }
    }

    /// The series of (rule, group), created on first sight; `None` on a (theoretical)
    /// 64-bit fingerprint collision with another series, whose updates are then ignored.
    fn series_index(
        &mut self,
        rule_index: usize,
        window: &str,
        group: &[(String, String)],
    ) -> Option<usize> {
        let rule = &self.config.rules[rule_index];
        let sorted_owned;
        let sorted: &[(String, String)] = if group.is_sorted_by(|left, right| left.0 <= right.0) {
            group
        } else {
            let mut copy = group.to_vec();
            copy.sort();
            sorted_owned = copy;
            &sorted_owned
        };
        let identity = identity(&rule.name, sorted);
        let fingerprint = identity as u64;
        let check = (identity >> 64) as u64;
        if let Some(index) = self.by_fingerprint.get(&fingerprint) {
            let existing = &self.series[*index];
            if existing.rule == rule_index && existing.identity_check == check {
                return Some(*index);
            }
            return None;
        }
        let group_labels: Labels = sorted.iter().cloned().collect();
        let excluded = !rule
            .matchers
            .iter()
            .all(|matcher| matcher.matches(&group_labels));
        let series = Series {
            fingerprint,
            identity_check: check,
            id: format!("{fingerprint:016x}"),
            rule: rule_index,
            group: sorted.to_vec(),
            labels: alert_labels(rule, sorted, rule.window.as_deref()),
            group_labels,
            window: window.to_owned(),
            excluded,
            memory: SeriesMemory::default(),
            lifecycle: Lifecycle::default(),
            escalation: (0, 0, 0),
            lapse_notified: (0, 0),
        };
        let index = self.series.len();
        self.series.push(series);
        self.by_fingerprint.insert(fingerprint, index);
        Some(index)
    }

    fn join_groups(&mut self, series_index: usize, now_us: i64) {
        let series = &self.series[series_index];
        for route_index in self.config.routes.match_routes(&series.labels) {
            let route = self.config.routes.route(route_index);
            let group_labels = self.config.routes.group_labels(route_index, &series.labels);
            let key = self.config.routes.group_key(route_index, &group_labels);
            let first_flush = self.schedule(route_index, now_us + route.group_wait_us);
            let group = self.groups.entry(key.clone()).or_insert_with(|| {
                AggregationGroup::new(
                    key,
                    route_index,
                    route.receiver.clone(),
                    group_labels,
                    first_flush,
                )
            });
            group.route = route_index;
            group.members.insert(series.fingerprint);
        }
    }

    /// A flush time moved to the next start of the route's digest interval, if any.
    fn schedule(&self, route_index: usize, candidate_us: i64) -> i64 {
        let route = self.config.routes.route(route_index);
        let Some(interval) = route
            .digest
            .as_deref()
            .and_then(|name| self.config.intervals.get(name))
        else {
            return candidate_us;
        };
        interval.next_start(candidate_us).unwrap_or(candidate_us)
    }

    fn route_muted_now(&self, route_index: usize, now_us: i64) -> bool {
        let route = self.config.routes.route(route_index);
        let contains = |name: &String| {
            self.config
                .intervals
                .get(name)
                .is_some_and(|interval| interval.contains(now_us))
        };
        let outside_active = !route.active_time_intervals.is_empty()
            && !route.active_time_intervals.iter().any(contains);
        outside_active || route.mute_time_intervals.iter().any(contains)
    }

    /// Advances the clock: `for`, `keep_firing_for`, absences, lapsed acknowledgements,
    /// due group flushes and escalations. Returns the notifications queued, durable.
    pub fn tick(&mut self, now_us: i64) -> Result<Vec<Notification>, AlertsError> {
        self.refreshes_left = self.options.baseline_refreshes_per_round;
        self.clock_transitions(now_us);
        let mut queued = Vec::new();
        self.flush_groups(now_us, &mut queued);
        self.escalate(now_us, &mut queued);
        self.forget_old_silences(now_us);
        self.store.sync()?;
        for notification in &queued {
            self.outbox.insert(notification.id, notification.clone());
        }
        let journal_len = self.store.durable_len();
        if journal_len >= self.options.compact_after_bytes
            && journal_len >= self.compacted_len.saturating_mul(2)
        {
            self.compact()?;
        }
        Ok(queued)
    }

    /// Rewrites the journal as what is needed to restore the alerter as it is now: the
    /// history kept in memory, silences, the unsent outbox, each alert's state and what
    /// each group's receiver was told. Atomic: a crash leaves the old or the new journal.
    ///
    /// The order matters on replay: history first (it replays old states), then the
    /// outbox, then the snapshots, which replace what the records before them said.
    pub fn compact(&mut self) -> Result<(), AlertsError> {
        self.store.sync()?;
        let mut records = vec![JournalRecord::Counters {
            next_seq: self.next_seq,
            next_notification_id: self.next_notification_id,
        }];
        records.extend(self.history.iter().cloned().map(JournalRecord::Transition));
        records.extend(self.deliveries.iter().cloned().map(JournalRecord::Delivery));
        records.extend(
            self.silences
                .values()
                .map(|active| JournalRecord::Silence(active.silence.clone())),
        );
        records.extend(self.outbox.values().cloned().map(JournalRecord::Queued));
        for series in &self.series {
            if series.lifecycle.state == AlertState::Normal && series.lifecycle.incident == 0 {
                continue;
            }
            records.push(JournalRecord::AlertSnapshot(AlertSnapshot {
                alert_id: series.id.clone(),
                rule: self.config.rules[series.rule].name.clone(),
                group: series.group.clone(),
                lifecycle: series.lifecycle.clone(),
                escalation: series.escalation,
                lapse_notified: series.lapse_notified,
            }));
        }
        for group in self.groups.values() {
            let told_firing = group
                .notified
                .iter()
                .filter(|(_, (_, firing))| *firing)
                .filter_map(|(fingerprint, (incident, _))| {
                    let index = self.by_fingerprint.get(fingerprint)?;
                    Some((self.series[*index].id.clone(), *incident))
                })
                .collect();
            records.push(JournalRecord::GroupSnapshot(GroupSnapshot {
                key: group.key.clone(),
                receiver: group.receiver.clone(),
                labels: group.labels.clone(),
                told_firing,
                last_notified_at: group.last_notified_at,
            }));
        }
        self.store.rewrite(&records)?;
        self.compacted_len = self.store.durable_len();
        Ok(())
    }

    fn clock_transitions(&mut self, now_us: i64) {
        for series_index in 0..self.series.len() {
            let series = &self.series[series_index];
            if series.excluded {
                continue;
            }
            let rule = &self.config.rules[series.rule];
            if let Condition::Absent { for_us, during } = &rule.condition {
                let interval = during.as_deref().map(|name| {
                    self.config
                        .intervals
                        .get(name)
                        .and_then(|interval| interval.active_since(now_us))
                });
                let evaluation =
                    series
                        .memory
                        .evaluate_absence(*for_us, interval, self.watch_start_us, now_us);
                self.apply_evaluation(series_index, evaluation, now_us);
            } else if let Some(stale_after) = rule.no_data_after_us
                && series
                    .memory
                    .last_update_us
                    .is_some_and(|last| now_us - last >= stale_after)
            {
                let evaluation = Evaluation {
                    verdict: Verdict::NoData,
                    value: None,
                    threshold: series.lifecycle.threshold,
                    baseline: series.lifecycle.baseline,
                    learning: false,
                }
                .with_no_data_policy(rule.no_data);
                self.apply_evaluation(series_index, evaluation, now_us);
            }
            let series = &self.series[series_index];
            let rule = &self.config.rules[series.rule];
            let ack_timeout = self
                .config
                .escalation
                .for_severity(rule.severity)
                .and_then(|policy| policy.ack_timeout_us);
            if let Some(change) =
                series
                    .lifecycle
                    .on_clock(now_us, rule.for_us, rule.keep_firing_for_us, ack_timeout)
            {
                self.record(series_index, change, now_us);
            }
        }
    }

    /// The inhibition sources: every firing alert.
    fn firing_candidates(&self) -> Vec<InhibitCandidate<'_>> {
        self.series
            .iter()
            .filter(|series| series.lifecycle.state.is_firing())
            .map(Series::inhibit_candidate)
            .collect()
    }

    fn silenced_by(&self, labels: &Labels, now_us: i64) -> Vec<String> {
        self.silences
            .values()
            .filter(|silence| silence.silences(labels, now_us))
            .map(|silence| silence.silence.id.clone())
            .collect()
    }

    fn is_muted(&self, series: &Series, sources: &[InhibitCandidate<'_>], now_us: i64) -> bool {
        if !self.silenced_by(&series.labels, now_us).is_empty() {
            return true;
        }
        is_inhibited(
            &self.config.inhibit_rules,
            &series.inhibit_candidate(),
            sources,
        )
    }

    fn flush_groups(&mut self, now_us: i64, queued: &mut Vec<Notification>) {
        let due: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, group)| group.next_flush_at <= now_us)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            let Some(group) = self.groups.get(&key) else {
                continue;
            };
            let route_index = group.route;
            let route = self.config.routes.route(route_index);
            let (group_interval, repeat_interval) =
                (route.group_interval_us, route.repeat_interval_us);
            let plan = if self.route_muted_now(route_index, now_us) {
                None
            } else {
                let sources = self.firing_candidates();
                let members: Vec<MemberView> = group
                    .members
                    .iter()
                    .filter_map(|fingerprint| self.by_fingerprint.get(fingerprint))
                    .map(|index| {
                        let series = &self.series[*index];
                        MemberView {
                            fingerprint: series.fingerprint,
                            incident: series.lifecycle.incident,
                            state: series.lifecycle.state,
                            muted: self.is_muted(series, &sources, now_us),
                        }
                    })
                    .collect();
                group.plan_flush(&members, now_us, repeat_interval)
            };
            let next_flush = self.schedule(route_index, now_us + group_interval);
            let notification = match plan {
                None => None,
                Some(plan) => {
                    let mut alerts: Vec<NotifiedAlert> = plan
                        .listed
                        .iter()
                        .filter_map(|(fingerprint, is_new)| {
                            let index = self.by_fingerprint.get(fingerprint)?;
                            Some(self.notified_alert(&self.series[*index], *is_new))
                        })
                        .collect();
                    // Firing first, then by labels: the order a person reads them in.
                    alerts.sort_by(|left, right| {
                        right
                            .state
                            .is_firing()
                            .cmp(&left.state.is_firing())
                            .then_with(|| left.labels.cmp(&right.labels))
                    });
                    self.next_notification_id += 1;
                    Some(Notification {
                        id: self.next_notification_id,
                        dedup_key: group_dedup_key(&group.key, plan.kind, &alerts, now_us),
                        receiver: group.receiver.clone(),
                        kind: plan.kind,
                        group_key: group.key.clone(),
                        group_labels: group.labels.clone(),
                        title: title(plan.kind, &alerts),
                        alerts,
                        created_at: now_us,
                        escalation: None,
                    })
                }
            };
            let mut firing: Vec<u64> = self
                .series
                .iter()
                .filter(|series| series.lifecycle.state.is_firing())
                .map(|series| series.fingerprint)
                .collect();
            firing.sort_unstable();
            let Some(group) = self.groups.get_mut(&key) else {
                continue;
            };
            if let Some(notification) = notification {
                self.store
                    .append(&JournalRecord::Queued(notification.clone()));
                group.record(&notification, parse_fingerprint);
                queued.push(notification);
            }
            group.prune(|fingerprint| firing.binary_search(&fingerprint).is_ok());
            group.next_flush_at = next_flush;
            if group.is_empty() {
                self.groups.remove(&key);
            }
        }
    }

    fn escalate(&mut self, now_us: i64, queued: &mut Vec<Notification>) {
        let sources = self.firing_candidates();
        let mut notices: Vec<(usize, NotificationKind, EscalationMark, Vec<String>)> = Vec::new();
        for (series_index, series) in self.series.iter().enumerate() {
            if series.lifecycle.state != AlertState::Firing {
                continue;
            }
            let rule = &self.config.rules[series.rule];
            let Some(policy) = self.config.escalation.for_severity(rule.severity) else {
                continue;
            };
            if self.is_muted(series, &sources, now_us) {
                continue;
            }
            let incident = series.lifecycle.incident;
            let epoch = series.lifecycle.ack_epoch;
            if epoch > 0 && series.lapse_notified < (incident, epoch) {
                let receivers = self
                    .config
                    .routes
                    .match_routes(&series.labels)
                    .into_iter()
                    .map(|route| self.config.routes.route(route).receiver.clone())
                    .collect();
                let mark = EscalationMark {
                    alert_id: series.id.clone(),
                    incident,
                    epoch,
                    step: 0,
                };
                notices.push((series_index, NotificationKind::AckExpired, mark, receivers));
            }
            let taken = if (series.escalation.0, series.escalation.1) == (incident, epoch) {
                series.escalation.2
            } else {
                0
            };
            let since = series.lifecycle.escalation_since.unwrap_or(now_us);
            let due = policy.due_step(since, now_us);
            if due > taken {
                // After a long outage of the server only the step due now is sent, not
                // every step missed.
                let mark = EscalationMark {
                    alert_id: series.id.clone(),
                    incident,
                    epoch,
                    step: due,
                };
                notices.push((
                    series_index,
                    NotificationKind::Escalation,
                    mark,
                    policy.receivers(due).to_vec(),
                ));
            }
        }
        for (series_index, kind, mark, receivers) in notices {
            let alert = self.notified_alert(&self.series[series_index], true);
            let mut receivers = receivers;
            receivers.sort();
            receivers.dedup();
            for receiver in receivers {
                self.next_notification_id += 1;
                let notification = Notification {
                    id: self.next_notification_id,
                    dedup_key: escalation_dedup_key(&mark, kind, &receiver),
                    receiver,
                    kind,
                    group_key: format!("escalation/{}", mark.alert_id),
                    group_labels: self.series[series_index].group_labels.clone(),
                    title: title(kind, std::slice::from_ref(&alert)),
                    alerts: vec![alert.clone()],
                    created_at: now_us,
                    escalation: Some(mark.clone()),
                };
                self.store
                    .append(&JournalRecord::Queued(notification.clone()));
                queued.push(notification);
            }
            note_escalation(&mut self.series[series_index], &mark);
        }
    }

    fn forget_old_silences(&mut self, now_us: i64) {
        let old: Vec<String> = self
            .silences
            .values()
            .filter(|silence| now_us - silence.silence.ends_at >= EXPIRED_SILENCE_RETENTION_US)
            .map(|silence| silence.silence.id.clone())
            .collect();
        for id in old {
            self.silences.remove(&id);
            self.store.append(&JournalRecord::SilenceForgotten { id });
        }
    }

    fn notified_alert(&self, series: &Series, is_new: bool) -> NotifiedAlert {
        let rule = &self.config.rules[series.rule];
        NotifiedAlert {
            id: series.id.clone(),
            rule: rule.name.clone(),
            incident: series.lifecycle.incident,
            // Whatever followed a resolution (pending again, no data), to the receiver the
            // incident it was told of is resolved.
            state: if series.lifecycle.state.is_firing() {
                series.lifecycle.state
            } else {
                AlertState::Resolved
            },
            is_new,
            severity: rule.severity,
            labels: series.labels.clone(),
            annotations: self.annotations(series),
            value: series.lifecycle.value,
            threshold: series.lifecycle.threshold,
            baseline: series.lifecycle.baseline,
            started_at: series.lifecycle.started_at,
            resolved_at: series.lifecycle.resolved_at,
            transition_seq: series.lifecycle.last_seq,
        }
    }

    fn annotations(&self, series: &Series) -> BTreeMap<String, String> {
        let rule = &self.config.rules[series.rule];
        let link = rule
            .panel
            .as_ref()
            .map(|panel| {
                format!(
                    "{}/#panel={panel}",
                    self.options.dashboard_url.trim_end_matches('/')
                )
            })
            .unwrap_or_default();
        let context = TemplateContext {
            value: series.lifecycle.value,
            threshold: series.lifecycle.threshold,
            baseline: series.lifecycle.baseline,
            rule: &rule.name,
            kpi: &rule.kpi,
            window: &series.window,
            severity: rule.severity.as_str(),
            link: &link,
            labels: &series.labels,
        };
        let mut rendered: BTreeMap<String, String> = rule
            .annotations
            .iter()
            .map(|(name, template)| (name.clone(), template.render(&context)))
            .collect();
        if !link.is_empty() {
            rendered.insert("link".to_owned(), link);
        }
        rendered
    }

    /// Notifications queued and not yet marked sent, oldest first: what the receivers
    /// must (re)deliver after a restart.
    pub fn outbox(&self) -> Vec<Notification> {
        self.outbox.values().cloned().collect()
    }

    /// Records that a notification was delivered (or given up on); durable on return.
    pub fn mark_sent(&mut self, notification_id: u64, now_us: i64) -> Result<(), AlertsError> {
        if self.outbox.remove(&notification_id).is_none() {
            return Ok(());
        }
        self.store.append(&JournalRecord::Sent {
            notification_id,
            at_us: now_us,
        });
        self.store.sync()
    }

    /// Records what became of a notification at its receiver, in the history of every
    /// alert it listed; a final outcome (delivered, given up) also takes it out of the
    /// outbox, as [`Alerter::mark_sent`]. Durable on return.
    pub fn record_delivery(&mut self, record: DeliveryRecord) -> Result<(), AlertsError> {
        let notification_id = record.notification_id;
        let at_us = record.at_us;
        let is_final = record.outcome.is_final();
        self.store.append(&JournalRecord::Delivery(record.clone()));
        self.remember_delivery(record);
        if is_final && self.outbox.remove(&notification_id).is_some() {
            self.store.append(&JournalRecord::Sent {
                notification_id,
                at_us,
            });
        }
        self.store.sync()
    }

    /// Delivery outcomes kept in memory, oldest first; of notifications listing
    /// `alert_id` when given.
    pub fn deliveries(&self, alert_id: Option<&str>) -> Vec<DeliveryRecord> {
        self.deliveries
            .iter()
            .filter(|record| alert_id.is_none_or(|id| record.concerns(id)))
            .cloned()
            .collect()
    }

    fn series_by_id(&self, id: &str) -> Result<usize, AlertsError> {
        parse_fingerprint(id)
            .and_then(|fingerprint| self.by_fingerprint.get(&fingerprint).copied())
            .filter(|index| self.series[*index].lifecycle.state != AlertState::Normal)
            .ok_or_else(|| AlertsError::UnknownAlert(id.to_owned()))
    }

    /// Acknowledges a firing alert: escalation stops (until the acknowledgement lapses).
    pub fn ack(&mut self, id: &str, by: &str, now_us: i64) -> Result<AlertView, AlertsError> {
        let index = self.series_by_id(id)?;
        let state = self.series[index].lifecycle.state;
        if state == AlertState::Acknowledged {
            return Ok(self.view(index, now_us));
        }
        if state != AlertState::Firing {
            return Err(AlertsError::NotFiring {
                id: id.to_owned(),
                state: state.as_str().to_owned(),
            });
        }
        let change = self.series[index].lifecycle.change(
            AlertState::Acknowledged,
            Cause::Acknowledged { by: by.to_owned() },
        );
        self.record(index, change, now_us);
        self.store.sync()?;
        Ok(self.view(index, now_us))
    }

    /// Assigns an alert to someone (empty: unassigned).
    pub fn assign(
        &mut self,
        id: &str,
        assignee: &str,
        by: &str,
        now_us: i64,
    ) -> Result<AlertView, AlertsError> {
        let index = self.series_by_id(id)?;
        let state = self.series[index].lifecycle.state;
        let change = self.series[index].lifecycle.change(
            state,
            Cause::Assigned {
                to: assignee.to_owned(),
                by: by.to_owned(),
            },
        );
        self.record(index, change, now_us);
        self.store.sync()?;
        Ok(self.view(index, now_us))
    }

    /// Resolves an alert by hand. If its condition still holds it fires again after `for`
    /// (a new incident): resolving says "fixed", not "be quiet" — that is a silence.
    pub fn resolve(&mut self, id: &str, by: &str, now_us: i64) -> Result<AlertView, AlertsError> {
        let index = self.series_by_id(id)?;
        let state = self.series[index].lifecycle.state;
        if matches!(state, AlertState::Resolved | AlertState::Normal) {
            return Ok(self.view(index, now_us));
        }
        let change = self.series[index].lifecycle.change(
            AlertState::Resolved,
            Cause::ResolvedByHand { by: by.to_owned() },
        );
        self.record(index, change, now_us);
        // The next verdict starts a fresh episode rather than continuing this one.
        self.series[index].lifecycle.last_verdict = None;
        self.store.sync()?;
        Ok(self.view(index, now_us))
    }

    pub fn create_silence(
        &mut self,
        request: &SilenceRequest,
        now_us: i64,
    ) -> Result<Silence, AlertsError> {
        let matchers = validate(request, now_us).map_err(AlertsError::InvalidSilence)?;
        let texts = canonical_matchers(&matchers);
        self.next_seq += 1;
        let identity = format!(
            "{now_us}\0{}\0{}\0{}",
            self.next_seq,
            request.created_by,
            texts.join("\0")
        );
        let silence = Silence {
            id: format!("{:016x}", xxh3_64(identity.as_bytes())),
            matchers: texts,
            starts_at: request.starts_at.unwrap_or(now_us),
            ends_at: request.ends_at,
            comment: request.comment.clone(),
            created_by: request.created_by.clone(),
            created_at: now_us,
            updated_at: now_us,
        };
        self.store.append(&JournalRecord::Silence(silence.clone()));
        self.store.sync()?;
        self.silences.insert(
            silence.id.clone(),
            ActiveSilence {
                silence: silence.clone(),
                matchers,
            },
        );
        Ok(silence)
    }

    /// Ends a silence now (`DELETE /v1/silences/{id}`); it stays listed as expired.
    pub fn expire_silence(&mut self, id: &str, now_us: i64) -> Result<Silence, AlertsError> {
        let Some(active) = self.silences.get_mut(id) else {
            return Err(AlertsError::UnknownSilence(id.to_owned()));
        };
        if active.silence.ends_at <= now_us {
            return Ok(active.silence.clone());
        }
        active.silence.ends_at = now_us;
        active.silence.starts_at = active.silence.starts_at.min(now_us);
        active.silence.updated_at = now_us;
        let silence = active.silence.clone();
        self.store.append(&JournalRecord::Silence(silence.clone()));
        self.store.sync()?;
        Ok(silence)
    }

    /// Silences, the ones ending last first.
    pub fn silences(&self) -> Vec<Silence> {
        let mut silences: Vec<Silence> = self
            .silences
            .values()
            .map(|active| active.silence.clone())
            .collect();
        silences.sort_by(|left, right| {
            right
                .ends_at
                .cmp(&left.ends_at)
                .then_with(|| left.id.cmp(&right.id))
        });
        silences
    }

    /// Alerts newest first; without a state, every pending, firing, acknowledged and
    /// resolved one (no-data ones only when asked for).
    pub fn alerts(&self, state: Option<AlertState>, now_us: i64) -> Vec<AlertView> {
        let sources = self.firing_candidates();
        let mut indexes: Vec<usize> = (0..self.series.len())
            .filter(|index| {
                let current = self.series[*index].lifecycle.state;
                match state {
                    Some(wanted) => current == wanted,
                    None => !matches!(current, AlertState::Normal | AlertState::NoData),
                }
            })
            .collect();
        indexes.sort_by(|left, right| {
            let started = |index: &usize| {
                let lifecycle = &self.series[*index].lifecycle;
                lifecycle
                    .started_at
                    .or(lifecycle.last_transition_at)
                    .unwrap_or(0)
            };
            started(right)
                .cmp(&started(left))
                .then_with(|| self.series[*left].id.cmp(&self.series[*right].id))
        });
        indexes
            .into_iter()
            .map(|index| self.view_among(index, now_us, &sources))
            .collect()
    }

    /// How many series are in `state`, without building their views (`/metrics` asks
    /// every scrape, and a view renders templates).
    pub fn count_in_state(&self, state: AlertState) -> usize {
        self.series
            .iter()
            .filter(|series| series.lifecycle.state == state)
            .count()
    }

    pub fn alert(&self, id: &str, now_us: i64) -> Result<AlertView, AlertsError> {
        let index = self.series_by_id(id)?;
        Ok(self.view(index, now_us))
    }

    fn view(&self, index: usize, now_us: i64) -> AlertView {
        self.view_among(index, now_us, &self.firing_candidates())
    }

    /// The view with the inhibition sources gathered once for a whole listing.
    fn view_among(&self, index: usize, now_us: i64, sources: &[InhibitCandidate<'_>]) -> AlertView {
        let series = &self.series[index];
        let rule = &self.config.rules[series.rule];
        let lifecycle = &series.lifecycle;
        AlertView {
            id: series.id.clone(),
            rule: rule.name.clone(),
            state: lifecycle.state,
            severity: rule.severity,
            labels: series.labels.clone(),
            annotations: self.annotations(series),
            value: lifecycle.value,
            threshold: lifecycle.threshold,
            baseline: lifecycle.baseline,
            started_at: lifecycle.started_at,
            firing_since: lifecycle.firing_since,
            resolved_at: lifecycle.resolved_at,
            acknowledged_by: lifecycle.acknowledged_by.clone(),
            acknowledged_at: lifecycle.acknowledged_at,
            assignee: lifecycle.assignee.clone(),
            incident: lifecycle.incident,
            silenced_by: self.silenced_by(&series.labels, now_us),
            inhibited: lifecycle.state.is_firing()
                && is_inhibited(
                    &self.config.inhibit_rules,
                    &series.inhibit_candidate(),
                    sources,
                ),
        }
    }

    /// Transitions kept in memory, oldest first; of one alert when `alert_id` is given.
    pub fn history(&self, alert_id: Option<&str>) -> Vec<Transition> {
        self.history
            .iter()
            .filter(|transition| alert_id.is_none_or(|id| transition.alert_id == id))
            .cloned()
            .collect()
    }

    /// The tuning report over the transitions since `since_us`.
    pub fn report(&self, since_us: i64, now_us: i64) -> TuningReport {
        let transitions: Vec<Transition> = self.history.iter().cloned().collect();
        tuning_report(&self.config.rules, &transitions, since_us, now_us)
    }

    /// The journal's bytes when it lives in memory (crash tests).
    pub fn journal_bytes(&self) -> Option<Vec<u8>> {
        self.store.memory_bytes().map(<[u8]>::to_vec)
    }

    /// Bytes of the journal known to be durable.
    pub fn durable_len(&self) -> u64 {
        self.store.durable_len()
    }

    fn replay(&mut self, records: Vec<JournalRecord>, now_us: i64) {
        let rule_by_name: HashMap<String, usize> = self
            .config
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| (rule.name.clone(), index))
            .collect();
        // Alerts of rules no longer configured: (rule, group, last transition).
        let mut orphans: BTreeMap<String, Transition> = BTreeMap::new();
        let mut told: BTreeMap<String, AggregationGroup> = BTreeMap::new();
        for record in records {
            match record {
                JournalRecord::Transition(transition) => {
                    self.next_seq = self.next_seq.max(transition.seq);
                    let Some(rule_index) = rule_by_name.get(&transition.rule).copied() else {
                        orphans.insert(transition.alert_id.clone(), transition.clone());
                        self.remember(transition);
                        continue;
                    };
                    let window = self.config.rules[rule_index]
                        .window
                        .clone()
                        .unwrap_or_default();
                    if let Some(index) = self.series_index(rule_index, &window, &transition.group) {
                        self.series[index].lifecycle.apply(&transition);
                    }
                    self.remember(transition);
                }
                JournalRecord::Silence(silence) => {
                    self.silences
                        .insert(silence.id.clone(), ActiveSilence::from_silence(silence));
                }
                JournalRecord::SilenceForgotten { id } => {
                    self.silences.remove(&id);
                }
                JournalRecord::Queued(notification) => {
                    self.next_notification_id = self.next_notification_id.max(notification.id);
                    match &notification.escalation {
                        Some(mark) => {
                            if let Some(index) =
                                parse_fingerprint(&mark.alert_id).and_then(|fingerprint| {
                                    self.by_fingerprint.get(&fingerprint).copied()
                                })
                            {
                                note_escalation(&mut self.series[index], mark);
                            }
                        }
                        None => {
                            told.entry(notification.group_key.clone())
                                .or_insert_with(|| {
                                    AggregationGroup::new(
                                        notification.group_key.clone(),
                                        0,
                                        notification.receiver.clone(),
                                        notification.group_labels.clone(),
                                        0,
                                    )
                                })
                                .record(&notification, parse_fingerprint);
                        }
                    }
                    self.outbox.insert(notification.id, notification);
                }
                JournalRecord::Sent {
                    notification_id, ..
                } => {
                    self.outbox.remove(&notification_id);
                }
                JournalRecord::Delivery(record) => self.remember_delivery(record),
                JournalRecord::Counters {
                    next_seq,
                    next_notification_id,
                } => {
                    self.next_seq = self.next_seq.max(next_seq);
                    self.next_notification_id = self.next_notification_id.max(next_notification_id);
                }
                JournalRecord::AlertSnapshot(snapshot) => {
                    let Some(rule_index) = rule_by_name.get(&snapshot.rule).copied() else {
                        continue;
                    };
                    // The snapshot is the alert now: older lifecycle records of it are moot.
                    orphans.remove(&snapshot.alert_id);
                    let window = self.config.rules[rule_index]
                        .window
                        .clone()
                        .unwrap_or_default();
                    if let Some(index) = self.series_index(rule_index, &window, &snapshot.group) {
                        let series = &mut self.series[index];
                        series.lifecycle = snapshot.lifecycle;
                        series.escalation = snapshot.escalation;
                        series.lapse_notified = snapshot.lapse_notified;
                    }
                }
                JournalRecord::GroupSnapshot(snapshot) => {
                    let mut group = AggregationGroup::new(
                        snapshot.key.clone(),
                        0,
                        snapshot.receiver,
                        snapshot.labels,
                        0,
                    );
                    group.last_notified_at = snapshot.last_notified_at;
                    for (alert_id, incident) in snapshot.told_firing {
                        if let Some(fingerprint) = parse_fingerprint(&alert_id) {
                            group.notified.insert(fingerprint, (incident, true));
                        }
                    }
                    told.insert(snapshot.key, group);
                }
            }
        }
        self.rebuild_groups(told, now_us);
        for (_, last) in orphans {
            if matches!(
                last.to,
                AlertState::Normal | AlertState::Resolved | AlertState::NoData
            ) {
                continue;
            }
            self.next_seq += 1;
            let transition = Transition {
                seq: self.next_seq,
                at_us: now_us,
                from: last.to,
                to: AlertState::Resolved,
                cause: Cause::RuleRemoved,
                ..last
            };
            self.store
                .append(&JournalRecord::Transition(transition.clone()));
            self.remember(transition);
        }
    }

    /// Puts firing alerts back in their groups, with what each receiver was told.
    fn rebuild_groups(&mut self, mut told: BTreeMap<String, AggregationGroup>, now_us: i64) {
        for series_index in 0..self.series.len() {
            let series = &self.series[series_index];
            let state = series.lifecycle.state;
            if state == AlertState::Normal && series.lifecycle.incident == 0 {
                continue;
            }
            for route_index in self.config.routes.match_routes(&series.labels) {
                let route = self.config.routes.route(route_index);
                let group_labels = self.config.routes.group_labels(route_index, &series.labels);
                let key = self.config.routes.group_key(route_index, &group_labels);
                let told_group = told.remove(&key);
                let resolved_but_told =
                    told_group
                        .as_ref()
                        .or(self.groups.get(&key))
                        .is_some_and(|group| {
                            group.notified.get(&series.fingerprint)
                                == Some(&(series.lifecycle.incident, true))
                        });
                if !state.is_firing() && !resolved_but_told {
                    if let Some(told_group) = told_group {
                        told.insert(key, told_group);
                    }
                    continue;
                }
                let first_flush = match &told_group {
                    Some(group) => group
                        .last_notified_at
                        .map_or(now_us, |last| last + route.group_interval_us),
                    None => series.lifecycle.firing_since.unwrap_or(now_us) + route.group_wait_us,
                };
                let first_flush = self.schedule(route_index, first_flush);
                let group = self.groups.entry(key.clone()).or_insert_with(|| {
                    let mut group = told_group.unwrap_or_else(|| {
                        AggregationGroup::new(
                            key.clone(),
                            route_index,
                            route.receiver.clone(),
                            group_labels,
                            first_flush,
                        )
                    });
                    group.route = route_index;
                    group.next_flush_at = first_flush;
                    group
                });
                group.members.insert(series.fingerprint);
            }
        }
    }
}

fn note_escalation(series: &mut Series, mark: &EscalationMark) {
    if mark.step == 0 {
        series.lapse_notified = series.lapse_notified.max((mark.incident, mark.epoch));
        return;
    }
    let current = series.escalation;
    if (mark.incident, mark.epoch) > (current.0, current.1)
        || ((mark.incident, mark.epoch) == (current.0, current.1) && mark.step > current.2)
    {
        series.escalation = (mark.incident, mark.epoch, mark.step);
    }
}

pub fn parse_fingerprint(id: &str) -> Option<u64> {
    if id.len() != 16 {
        return None;
    }
    u64::from_str_radix(id, 16).ok()
}
