//! The engine: routes each event to the KPIs that read its type, keeps their panes, and
//! answers window queries.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use crate::aggregate::{Accumulator, AggregateValue};
use crate::definition::{CompiledKpi, FieldPath};
use crate::extract::{FieldSet, as_decimal, as_label, extract};
use crate::watermark::{Lateness, TimePolicy, Watermark};
use crate::window::WindowSpec;

/// Configuration the engine needs beyond the KPI definitions.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub time: TimePolicy,
    pub reporting_currency: String,
    /// One unit of the key currency in the reporting currency.
    pub rates: HashMap<String, Decimal>,
    /// How long final window results are kept in memory for queries.
    pub keep_final_for_us: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            time: TimePolicy::default(),
            reporting_currency: "EUR".to_owned(),
            rates: HashMap::new(),
            keep_final_for_us: 8 * 86_400_000_000,
        }
    }
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// Counted by every KPI that reads its type (some may have skipped it, see metrics).
    Counted,
    /// Counted, behind the watermark: its windows were corrected.
    CountedLate,
    /// Behind the watermark by more than the allowed lateness: not counted.
    TooLate,
    /// No KPI reads its type.
    Unused,
}

/// One window of one KPI, as the query API reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult {
    /// The window definition, e.g. `1m` or `1h/1m`.
    pub window: String,
    pub start_us: i64,
    pub end_us: i64,
    pub is_final: bool,
    /// (group-by path, value) pairs and the aggregate, one entry per group.
    pub values: Vec<(Vec<(String, String)>, AggregateValue)>,
}

type GroupKey = Vec<String>;
type Groups = HashMap<GroupKey, Accumulator>;

#[derive(Debug)]
struct WindowState {
    spec: WindowSpec,
    panes: BTreeMap<i64, Groups>,
    /// Results of windows no event may change any more, by start.
    finals: BTreeMap<i64, Groups>,
}

#[derive(Debug)]
struct KpiRuntime {
    kpi: CompiledKpi,
    /// Slot of the value field (and of `data.currency` when the value is money).
    value_slot: Option<usize>,
    currency_slot: Option<usize>,
    group_slots: Vec<usize>,
    windows: Vec<WindowState>,
    skipped: BTreeMap<String, u64>,
}

#[derive(Debug)]
pub struct Engine {
    kpis: Vec<KpiRuntime>,
    fields_by_type: HashMap<String, FieldSet>,
    kpis_by_type: HashMap<String, Vec<usize>>,
    watermark: Watermark,
    options: EngineOptions,
    /// The watermark at the last eviction, to evict once per pane step, not per event.
    evicted_at: i64,
    too_late: u64,
}

impl Engine {
    pub fn new(kpis: Vec<CompiledKpi>, options: EngineOptions) -> Engine {
        let mut fields_by_type: HashMap<String, FieldSet> = HashMap::new();
        let mut kpis_by_type: HashMap<String, Vec<usize>> = HashMap::new();
        let mut runtimes = Vec::with_capacity(kpis.len());
        for (index, kpi) in kpis.into_iter().enumerate() {
            // A KPI over several types reads the same paths from each: the slot numbers
            // agree because every type's field set gets the paths in the same order.
            let mut value_slot = None;
            let mut currency_slot = None;
            let mut group_slots = Vec::new();
            for event_type in &kpi.events {
                let fields = fields_by_type.entry(event_type.clone()).or_default();
                kpis_by_type
                    .entry(event_type.clone())
                    .or_default()
                    .push(index);
                value_slot = kpi.value.as_ref().map(|path| fields.slot(path));
                currency_slot = kpi
                    .value_is_money
                    .then(|| fields.slot(&FieldPath::Data("currency".into())));
                group_slots = kpi.group_by.iter().map(|path| fields.slot(path)).collect();
            }
            let windows = kpi
                .windows
                .iter()
                .map(|spec| WindowState {
                    spec: spec.clone(),
                    panes: BTreeMap::new(),
                    finals: BTreeMap::new(),
                })
                .collect();
            runtimes.push(KpiRuntime {
                kpi,
                value_slot,
                currency_slot,
                group_slots,
                windows,
                skipped: BTreeMap::new(),
            });
        }
        Engine {
            kpis: runtimes,
            fields_by_type,
            kpis_by_type,
            watermark: Watermark::new(options.time),
            options,
            evicted_at: i64::MIN,
            too_late: 0,
        }
    }

    /// Processes one stored event.
    pub fn process(&mut self, event_time_us: i64, payload: &str, now_wall_us: i64) -> Observation {
        let mut slots = Vec::new();
        let Some(event_type) = extract(payload, &self.fields_by_type, &mut slots) else {
            return Observation::Unused;
        };
        let Some(kpi_indices) = self.kpis_by_type.get(event_type.as_ref()) else {
            return Observation::Unused;
        };
        let lateness = self.watermark.observe(event_time_us, now_wall_us);
        if lateness == Lateness::TooLate {
            self.too_late += 1;
            return Observation::TooLate;
        }
        for &index in kpi_indices {
            let runtime = &mut self.kpis[index];
            let Some((group, value)) = runtime.read(&slots, &self.options) else {
                continue;
            };
            for window in &mut runtime.windows {
                let pane = window.spec.pane_of(event_time_us);
                window
                    .panes
                    .entry(pane)
                    .or_default()
                    .entry(group.clone())
                    .or_insert_with(|| Accumulator::new(runtime.kpi.aggregate))
                    .add(value);
            }
        }
        self.evict_if_due();
        match lateness {
            Lateness::Late => Observation::CountedLate,
            _ => Observation::Counted,
        }
    }

    /// Lets the watermark follow the wall clock when the stream is idle.
    pub fn tick(&mut self, now_wall_us: i64) -> bool {
        let moved = self.watermark.tick(now_wall_us);
        if moved {
            self.evict_if_due();
        }
        moved
    }

    pub fn watermark(&self) -> i64 {
        self.watermark.current()
    }

    pub fn too_late_events(&self) -> u64 {
        self.too_late
    }

    /// Events skipped per KPI and reason (a missing or mistyped field).
    pub fn skipped(&self) -> Vec<(String, String, u64)> {
        self.kpis
            .iter()
            .flat_map(|runtime| {
                runtime
                    .skipped
                    .iter()
                    .map(|(reason, count)| (runtime.kpi.name.clone(), reason.clone(), *count))
            })
            .collect()
    }

    pub fn kpis(&self) -> impl Iterator<Item = &CompiledKpi> {
        self.kpis.iter().map(|runtime| &runtime.kpi)
    }

    /// The windows of `kpi` that overlap `[from, to)` and hold data, oldest first (by
    /// start, then by window definition). `None` for an unknown KPI.
    pub fn windows(&self, kpi: &str, from_us: i64, to_us: i64) -> Option<Vec<WindowResult>> {
        let runtime = self.kpis.iter().find(|runtime| runtime.kpi.name == kpi)?;
        let watermark = self.watermark.current();
        let mut results = Vec::new();
        for window in &runtime.windows {
            let label = window.spec.label();
            for start in window.starts_with_data(from_us, to_us) {
                let groups = match window.finals.get(&start) {
                    Some(groups) => groups.clone(),
                    None => window.merge_panes(start),
                };
                if groups.is_empty() {
                    continue;
                }
                let mut values: Vec<_> = groups
                    .iter()
                    .map(|(key, accumulator)| (runtime.labelled(key), accumulator.value()))
                    .collect();
                values.sort_by(|left, right| left.0.cmp(&right.0));
                let end = window.spec.window_end(start);
                results.push(WindowResult {
                    window: label.clone(),
                    start_us: start,
                    end_us: end,
                    is_final: end <= watermark,
                    values,
                });
            }
        }
        results.sort_by_key(|result| (result.start_us, result.end_us));
        Some(results)
    }

    /// Moves windows that no event can change any more from panes to final results, and
    /// forgets final results older than the keep period.
    fn evict_if_due(&mut self) {
        let watermark = self.watermark.event_watermark();
        let closed_before = watermark.saturating_sub(self.options.time.allowed_lateness_us);
        if closed_before <= self.evicted_at {
            return;
        }
        self.evicted_at = closed_before;
        let keep_from = closed_before.saturating_sub(self.options.keep_final_for_us);
        for runtime in &mut self.kpis {
            for window in &mut runtime.windows {
                window.close_windows_ending_by(closed_before);
                window.finals = window.finals.split_off(&keep_from);
            }
        }
    }
}

impl KpiRuntime {
    /// The event's group and value for this KPI, or `None` (and a counted reason) when a
    /// field it needs is missing or unusable.
    fn read(
        &mut self,
        slots: &[Option<&serde_json::value::RawValue>],
        options: &EngineOptions,
    ) -> Option<(GroupKey, Option<Decimal>)> {
        let mut group = Vec::with_capacity(self.group_slots.len());
        for (path, slot) in self.kpi.group_by.iter().zip(&self.group_slots) {
            match slots.get(*slot).copied().flatten() {
                Some(value) => group.push(as_label(value)),
                None => {
                    self.skip(format!("missing {path}"));
                    return None;
                }
            }
        }
        let Some(slot) = self.value_slot else {
            return Some((group, None));
        };
        let path = self
            .kpi
            .value
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let Some(raw) = slots.get(slot).copied().flatten() else {
            self.skip(format!("missing {path}"));
            return None;
        };
        let Some(mut value) = as_decimal(raw) else {
            self.skip(format!("{path} is not a number"));
            return None;
        };
        if let Some(currency_slot) = self.currency_slot {
            let currency = slots.get(currency_slot).copied().flatten().map(as_label);
            let rate = match currency.as_deref() {
                Some(code) if code == options.reporting_currency => Some(Decimal::ONE),
                Some(code) => options.rates.get(code).copied(),
                None => None,
            };
            let Some(rate) = rate else {
                self.skip("no rate for data.currency".to_owned());
                return None;
            };
            value *= rate;
        }
        Some((group, Some(value)))
    }

    fn skip(&mut self, reason: String) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    fn labelled(&self, key: &GroupKey) -> Vec<(String, String)> {
        self.kpi
            .group_by
            .iter()
            .zip(key)
            .map(|(path, value)| (group_label(path), value.clone()))
            .collect()
    }
}

/// The name a group field has in results: `gateway` for `data.gateway`.
fn group_label(path: &FieldPath) -> String {
    match path {
        FieldPath::Attribute(name) | FieldPath::Data(name) => name.clone(),
    }
}

impl WindowState {
    fn merge_panes(&self, start: i64) -> Groups {
        let end = self.spec.window_end(start);
        let mut merged: Groups = HashMap::new();
        for groups in self.panes.range(start..end).map(|(_, groups)| groups) {
            for (key, accumulator) in groups {
                match merged.get_mut(key) {
                    Some(existing) => existing.merge(accumulator),
                    None => {
                        merged.insert(key.clone(), accumulator.clone());
                    }
                }
            }
        }
        merged
    }

    /// Window starts in `[from, to)` overlap that have a pane or a final result.
    fn starts_with_data(&self, from_us: i64, to_us: i64) -> Vec<i64> {
        let mut starts: Vec<i64> = self
            .finals
            .range(..to_us)
            .map(|(start, _)| *start)
            .filter(|start| self.spec.window_end(*start) > from_us)
            .collect();
        for pane in self.panes.keys() {
            for start in self.spec.windows_of_pane(*pane) {
                if start < to_us
                    && self.spec.window_end(start) > from_us
                    && !self.finals.contains_key(&start)
                {
                    starts.push(start);
                }
            }
        }
        starts.sort_unstable();
        starts.dedup();
        starts
    }

    /// Finalises every window ending at or before `closed_before` and drops the panes only
    /// such windows needed.
    fn close_windows_ending_by(&mut self, closed_before: i64) {
        let closable: Vec<i64> = self
            .panes
            .keys()
            .flat_map(|pane| self.spec.windows_of_pane(*pane))
            .filter(|start| self.spec.window_end(*start) <= closed_before)
            .collect();
        for start in closable {
            if self.finals.contains_key(&start) {
                continue;
            }
            let merged = self.merge_panes(start);
            if !merged.is_empty() {
                self.finals.insert(start, merged);
            }
        }
        // A pane is needed while any window containing it is open: the last such window
        // starts at the pane itself.
        let spec = &self.spec;
        self.panes
            .retain(|pane, _| spec.window_end(*pane) > closed_before);
    }
}
