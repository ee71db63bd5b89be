//! The engine: routes each event to the KPIs that read its type, keeps their panes, and
//! answers window queries.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use rustc_hash::FxHashMap;
use xxhash_rust::xxh3::xxh3_64;

use crate::aggregate::{Accumulator, AggregateValue, Input, LatestValue, SideHit};
use crate::definition::{AggregateKind, CompiledKpi, CompiledSide, FieldPath};
use crate::extract::{FieldSet, as_decimal, as_label, extract, label_text};
use crate::scan::{for_each_element, for_each_member};
use crate::watermark::{Lateness, TimePolicy, Watermark};
use crate::window::WindowSpec;

/// Members of an array element (an order line) kept inline; a longer element's further
/// members go to a vector.
const LINE_MEMBERS: usize = 12;

/// Configuration the engine needs beyond the KPI definitions.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub time: TimePolicy,
    pub reporting_currency: String,
    /// One unit of the key currency in the reporting currency.
    pub rates: HashMap<String, Decimal>,
    /// How long final window results are kept in memory for queries.
    pub keep_final_for_us: i64,
    /// Reorder points by the value of a level KPI's `low_at_by` field (a SKU); others
    /// use the KPI's `low_at`. Read when values are reported, so changing them needs no
    /// replay.
    pub reorder_points: HashMap<String, Decimal>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            time: TimePolicy::default(),
            reporting_currency: "EUR".to_owned(),
            rates: HashMap::new(),
            keep_final_for_us: 8 * 86_400_000_000,
            reorder_points: HashMap::new(),
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

/// A window that no event can change any more, as it leaves the engine for the history
/// store: its values are labelled and, for a `top` KPI, already cut to the top groups.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClosedWindow {
    pub kpi: String,
    /// The window definition's label (`1m`, `1h/1m`, `day`), or `series/1m` for the
    /// hidden series a comparison is summed from.
    pub window: String,
    pub resolution: crate::window::Resolution,
    /// The longest a window of this definition can be, so a reader knows how far before
    /// `from` a window overlapping it may start.
    pub max_length_us: i64,
    pub start_us: i64,
    pub end_us: i64,
    pub values: Vec<(Vec<(String, String)>, AggregateValue)>,
}

/// The label of a comparison's hidden series window.
pub fn series_label(spec: &WindowSpec) -> String {
    format!("series/{}", spec.label())
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

/// At most this many group-by fields (checked when definitions load): kept small because
/// a group's labels are carried inline, per event and KPI.
pub const MAX_GROUP_BY: usize = 4;

/// A group's labels borrowed from the event: groups are looked up with it without
/// allocating, and a `GroupKey` is made only for a group new to a pane. It hashes exactly
/// as the `GroupKey` with the same labels (a unit test holds it to that).
#[derive(Debug, Clone)]
struct GroupRef<'a> {
    labels: [Cow<'a, str>; MAX_GROUP_BY],
    len: usize,
}

impl<'a> GroupRef<'a> {
    fn empty() -> GroupRef<'a> {
        GroupRef {
            labels: Default::default(),
            len: 0,
        }
    }

    fn push(&mut self, label: Cow<'a, str>) {
        if let Some(slot) = self.labels.get_mut(self.len) {
            *slot = label;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[Cow<'a, str>] {
        &self.labels[..self.len]
    }

    fn to_key(&self) -> GroupKey {
        self.as_slice()
            .iter()
            .map(|label| label.as_ref().to_owned())
            .collect()
    }
}

impl std::hash::Hash for GroupRef<'_> {
    /// As `[String]` hashes: the length, then each label as a `str`.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.len);
        for label in self.as_slice() {
            label.as_ref().hash(state);
        }
    }
}

impl hashbrown::Equivalent<GroupKey> for GroupRef<'_> {
    fn equivalent(&self, key: &GroupKey) -> bool {
        key.len() == self.len
            && self
                .as_slice()
                .iter()
                .zip(key)
                .all(|(label, owned)| label.as_ref() == owned.as_str())
    }
}
/// Group keys are short strings from events: FxHash is several times faster than
/// SipHash here, and group keys do not come from an adversary who could flood one bucket
/// more cheaply than by sending events.
type Groups = hashbrown::HashMap<GroupKey, Accumulator, rustc_hash::FxBuildHasher>;

/// A closed window's values per group.
type FinalValues = Vec<(GroupKey, AggregateValue)>;

#[derive(Debug)]
struct WindowState {
    spec: WindowSpec,
    /// A comparison's hidden series: summed over, not reported as a window of the KPI.
    series: bool,
    panes: BTreeMap<i64, Groups>,
    /// Results of windows no event may change any more, by start.
    /// The values (not the mergeable state: a closed window never merges again) of the
    /// windows no event may change any more, by start. A distinct count is a number here,
    /// not a 16 KiB sketch.
    finals: BTreeMap<i64, FinalValues>,
    /// The last pane looked up, `[start, end)`: consecutive events almost always share
    /// it, and a calendar day costs a time-zone lookup to compute.
    last_pane: (i64, i64),
    /// No window closes before this: the end of the first window of the oldest pane.
    next_close_at: i64,
}

#[derive(Debug)]
struct KpiRuntime {
    kpi: CompiledKpi,
    /// Where this KPI's fields sit among the extracted slots, per event type it reads
    /// (in the order of `kpi.events`; `Engine::kpis_by_type` says which entry applies).
    slots_by_type: Vec<KpiSlots>,
    windows: Vec<WindowState>,
    skipped: BTreeMap<String, u64>,
    /// For a sessions KPI: by key, the sessions still open and those closed recently
    /// enough for a late event to bridge them; and when open ones may close.
    sessions: FxHashMap<String, Vec<Session>>,
    session_closings: std::collections::BTreeSet<(i64, String)>,
}

/// One session of a key: events no more than the gap apart.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Session {
    start_us: i64,
    last_us: i64,
    total: Decimal,
    /// Closed (its total is in the windows of its close time, `last + gap`), but kept
    /// while a late event may still fall within the gap and merge it with another.
    closed: bool,
}

#[derive(Debug, Default)]
struct KpiSlots {
    value: Option<usize>,
    /// `data.currency` when the value is money.
    currency: Option<usize>,
    group: Vec<usize>,
    filter: Vec<usize>,
    numerator: SideSlots,
    denominator: SideSlots,
    delta: Option<usize>,
    key: Option<usize>,
    deadline: Option<usize>,
    /// The array read element by element (`each`), and each sum's factors.
    each: Option<usize>,
    sums: Vec<Vec<usize>>,
}

#[derive(Debug, Default)]
struct SideSlots {
    /// Whether events of this type count on this side at all.
    counts: bool,
    filter: Vec<usize>,
    distinct: Option<usize>,
}

/// The slots of a filter's clauses, in clause order.
fn filter_slots(filter: Option<&crate::filter::Filter>, fields: &mut FieldSet) -> Vec<usize> {
    filter
        .iter()
        .flat_map(|filter| &filter.clauses)
        .map(|clause| fields.slot(&clause.path))
        .collect()
}

impl KpiSlots {
    fn assign(kpi: &CompiledKpi, event_type: &str, fields: &mut FieldSet) -> KpiSlots {
        let side = |side: Option<&CompiledSide>, fields: &mut FieldSet| match side {
            None => SideSlots::default(),
            Some(side) => SideSlots {
                counts: side
                    .events
                    .as_ref()
                    .is_none_or(|events| events.iter().any(|name| name == event_type)),
                filter: filter_slots(side.filter.as_ref(), fields),
                distinct: side.distinct.as_ref().map(|path| fields.slot(path)),
            },
        };
        KpiSlots {
            value: kpi.value.as_ref().map(|path| fields.slot(path)),
            currency: (kpi.value_is_money || kpi.sums_are_money.iter().any(|money| *money))
                .then(|| fields.slot(&FieldPath::Data("currency".into()))),
            group: kpi.group_by.iter().map(|path| fields.slot(path)).collect(),
            filter: filter_slots(kpi.filter.as_ref(), fields),
            numerator: side(kpi.ratio.as_ref().map(|ratio| &ratio.numerator), fields),
            denominator: side(kpi.ratio.as_ref().map(|ratio| &ratio.denominator), fields),
            delta: kpi.delta.as_ref().map(|path| fields.slot(path)),
            key: kpi.key.as_ref().map(|path| fields.slot(path)),
            deadline: kpi.deadline.as_ref().map(|path| fields.slot(path)),
            each: kpi.each.as_ref().map(|path| fields.slot(path)),
            sums: kpi
                .sums
                .iter()
                .map(|(_, factors)| factors.iter().map(|path| fields.slot(path)).collect())
                .collect(),
        }
    }
}

#[derive(Debug)]
pub struct Engine {
    kpis: Vec<KpiRuntime>,
    fields_by_type: FxHashMap<String, FieldSet>,
    /// Per event type, the KPIs that read it: (index in `kpis`, index in that KPI's
    /// `slots_by_type`), so an event costs one lookup by type, not one per KPI.
    kpis_by_type: FxHashMap<String, Vec<(usize, usize)>>,
    watermark: Watermark,
    options: EngineOptions,
    /// The watermark at the last eviction, to evict once per pane step, not per event.
    evicted_at: i64,
    /// The `closed_before` of the last compaction of current-state KPIs.
    compacted_at: i64,
    too_late: u64,
    /// Windows closed since the last `take_closed`, for the history store.
    closed: Vec<ClosedWindow>,
    /// No session is due before this (`i64::MIN`: look).
    next_session_close: i64,
    /// Per-event buffers, kept to be reused (see `recycle`).
    slot_buffer: Vec<Option<&'static str>>,
    contribution_buffer: Vec<(GroupRef<'static>, Input)>,
    /// Per KPI (by index), the event times counted since the last `take_touched`: the
    /// windows that may have changed are those holding a time in `[first, last]`.
    touched: Vec<Option<(i64, i64)>>,
}

/// Reads the fields the KPIs need from stored events; a copy of an engine's field sets, so
/// it can run on another thread than the engine.
#[derive(Debug, Clone)]
pub struct FieldReader {
    pub(crate) fields_by_type: FxHashMap<String, FieldSet>,
    /// Reused between events (see `recycle`).
    slot_buffer: Vec<Option<&'static str>>,
}

/// An event's type and wanted fields, as byte ranges of its payload (so they can cross
/// threads without borrowing it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadFields {
    /// `None` when the event has no readable type.
    pub(crate) event_type: Option<TypeText>,
    pub(crate) spans: Vec<Option<(u32, u32)>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TypeText {
    Span(u32, u32),
    /// A type written with escapes, decoded.
    Owned(String),
}

impl ReadFields {
    /// The fields, borrowed, as [`Engine::process_read_all`] takes them.
    pub fn as_ref(&self) -> FieldsRef<'_> {
        FieldsRef {
            event_type: match &self.event_type {
                None => None,
                Some(TypeText::Span(start, end)) => Some(TypeRef::Span(*start, *end)),
                Some(TypeText::Owned(text)) => Some(TypeRef::Text(text)),
            },
            spans: &self.spans,
        }
    }
}

/// One event's [`ReadFields`], borrowed from wherever they are kept (a `ReadFields`, or a
/// [`FieldsColumn`] of a whole batch).
#[derive(Debug, Clone, Copy)]
pub struct FieldsRef<'f> {
    event_type: Option<TypeRef<'f>>,
    spans: &'f [Option<(u32, u32)>],
}

#[derive(Debug, Clone, Copy)]
enum TypeRef<'f> {
    Span(u32, u32),
    Text(&'f str),
}

impl<'f> FieldsRef<'f> {
    fn event_type<'a>(&self, payload: &'a str) -> Option<Cow<'a, str>>
    where
        'f: 'a,
    {
        match self.event_type? {
            TypeRef::Span(start, end) => {
                payload.get(start as usize..end as usize).map(Cow::Borrowed)
            }
            TypeRef::Text(text) => Some(Cow::Borrowed(text)),
        }
    }
}

/// The fields of a batch of events, side by side in one buffer: the engine reads them
/// in order, from memory it can prefetch, and a reused column allocates nothing per
/// event (a `ReadFields` per event is a heap allocation each, read back with a cache
/// miss each).
#[derive(Debug, Default)]
pub struct FieldsColumn {
    spans: Vec<Option<(u32, u32)>>,
    events: Vec<ColumnEntry>,
    /// Types written with escapes, decoded (rare).
    owned_types: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
struct ColumnEntry {
    event_type: ColumnType,
    spans_from: u32,
    spans_len: u32,
}

#[derive(Debug, Clone, Copy)]
enum ColumnType {
    None,
    Span(u32, u32),
    Owned(u32),
}

impl FieldsColumn {
    pub fn clear(&mut self) {
        self.spans.clear();
        self.events.clear();
        self.owned_types.clear();
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Makes room for `events` more events.
    pub fn reserve(&mut self, events: usize) {
        self.events.reserve(events);
    }

    /// Adds an event's fields at the end.
    pub fn push(&mut self, fields: &ReadFields) {
        let event_type = match &fields.event_type {
            None => ColumnType::None,
            Some(TypeText::Span(start, end)) => ColumnType::Span(*start, *end),
            Some(TypeText::Owned(text)) => {
                self.owned_types.push(text.clone());
                ColumnType::Owned(self.owned_types.len() as u32 - 1)
            }
        };
        self.events.push(ColumnEntry {
            event_type,
            spans_from: self.spans.len() as u32,
            spans_len: fields.spans.len() as u32,
        });
        self.spans.extend_from_slice(&fields.spans);
    }

    /// The fields of event `index`, `None` past the end.
    pub fn get(&self, index: usize) -> Option<FieldsRef<'_>> {
        let entry = self.events.get(index)?;
        let from = entry.spans_from as usize;
        Some(FieldsRef {
            event_type: match entry.event_type {
                ColumnType::None => None,
                ColumnType::Span(start, end) => Some(TypeRef::Span(start, end)),
                ColumnType::Owned(at) => {
                    Some(TypeRef::Text(self.owned_types.get(at as usize)?.as_str()))
                }
            },
            spans: self.spans.get(from..from + entry.spans_len as usize)?,
        })
    }

    /// Every event's fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = FieldsRef<'_>> {
        (0..self.events.len()).filter_map(|index| self.get(index))
    }

    /// Keeps only the events `keep` says yes to (by index), in order.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        let mut kept = FieldsColumn::default();
        for index in 0..self.events.len() {
            if !keep(index) {
                continue;
            }
            let entry = self.events[index];
            let from = entry.spans_from as usize;
            let event_type = match entry.event_type {
                ColumnType::Owned(at) => {
                    kept.owned_types
                        .push(std::mem::take(&mut self.owned_types[at as usize]));
                    ColumnType::Owned(kept.owned_types.len() as u32 - 1)
                }
                other => other,
            };
            kept.events.push(ColumnEntry {
                event_type,
                spans_from: kept.spans.len() as u32,
                spans_len: entry.spans_len,
            });
            kept.spans
                .extend_from_slice(&self.spans[from..from + entry.spans_len as usize]);
        }
        *self = kept;
    }
}

impl FieldReader {
    /// Reads `payload` into `out` (reused; everything in it is replaced).
    pub fn read(&mut self, payload: &str, out: &mut ReadFields) {
        out.event_type = None;
        out.spans.clear();
        let mut slots = recycle(std::mem::take(&mut self.slot_buffer));
        let Some(event_type) = extract(payload, &self.fields_by_type, &mut slots) else {
            self.slot_buffer = recycle(slots);
            return;
        };
        let span_of = |text: &str| -> Option<(u32, u32)> {
            let start = (text.as_ptr() as usize).checked_sub(payload.as_ptr() as usize)?;
            let end = start.checked_add(text.len())?;
            (end <= payload.len()).then_some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
        };
        out.event_type = Some(match &event_type {
            Cow::Borrowed(text) => match span_of(text) {
                Some((start, end)) => TypeText::Span(start, end),
                None => TypeText::Owned((*text).to_owned()),
            },
            Cow::Owned(text) => TypeText::Owned(text.clone()),
        });
        out.spans
            .extend(slots.iter().map(|slot| slot.and_then(span_of)));
        self.slot_buffer = recycle(slots);
    }
}

/// The end of the first window the pane starting at `pane` is part of.
fn first_window_end(spec: &WindowSpec, pane: i64) -> i64 {
    let first_start = spec.windows_of_pane(pane).first().copied().unwrap_or(pane);
    spec.window_end(first_start)
}

/// An empty vector of slots for another event's lifetime, in the same allocation (the
/// standard library collects a mapped `into_iter` in place when the layouts match).
fn recycle<'to>(mut slots: Vec<Option<&str>>) -> Vec<Option<&'to str>> {
    slots.clear();
    slots.into_iter().map(|_| None).collect()
}

/// The same for contributions, whose group labels borrow from the event.
fn recycle_contributions<'to>(
    mut contributions: Vec<(GroupRef<'_>, Input)>,
) -> Vec<(GroupRef<'to>, Input)> {
    contributions.clear();
    contributions
        .into_iter()
        .map(|(_, input)| (GroupRef::empty(), input))
        .collect()
}

impl Engine {
    pub fn new(kpis: Vec<CompiledKpi>, options: EngineOptions) -> Engine {
        let mut fields_by_type: FxHashMap<String, FieldSet> = FxHashMap::default();
        let mut kpis_by_type: FxHashMap<String, Vec<(usize, usize)>> = FxHashMap::default();
        let kpi_count = kpis.len();
        let mut runtimes = Vec::with_capacity(kpis.len());
        for (index, kpi) in kpis.into_iter().enumerate() {
            let mut slots_by_type = Vec::with_capacity(kpi.events.len());
            for event_type in &kpi.events {
                let fields = fields_by_type.entry(event_type.clone()).or_default();
                let readers = kpis_by_type.entry(event_type.clone()).or_default();
                // A type listed twice is read once (as when these were maps by type).
                if readers.iter().any(|(reader, _)| *reader == index) {
                    continue;
                }
                readers.push((index, slots_by_type.len()));
                slots_by_type.push(KpiSlots::assign(&kpi, event_type, fields));
            }
            let series = kpi.compare.iter().map(|compare| (&compare.series, true));
            let windows = kpi
                .windows
                .iter()
                .map(|spec| (spec, false))
                .chain(series)
                .map(|(spec, series)| WindowState {
                    spec: spec.clone(),
                    series,
                    panes: BTreeMap::new(),
                    finals: BTreeMap::new(),
                    last_pane: (0, 0),
                    next_close_at: i64::MAX,
                })
                .collect();
            runtimes.push(KpiRuntime {
                kpi,
                slots_by_type,
                windows,
                skipped: BTreeMap::new(),
                sessions: FxHashMap::default(),
                session_closings: std::collections::BTreeSet::new(),
            });
        }
        Engine {
            kpis: runtimes,
            fields_by_type,
            kpis_by_type,
            watermark: Watermark::new(options.time),
            options,
            evicted_at: i64::MIN,
            compacted_at: i64::MIN,
            too_late: 0,
            closed: Vec::new(),
            next_session_close: i64::MIN,
            slot_buffer: Vec::new(),
            contribution_buffer: Vec::new(),
            touched: vec![None; kpi_count],
        }
    }

    /// Processes one stored event.
    pub fn process(&mut self, event_time_us: i64, payload: &str, now_wall_us: i64) -> Observation {
        // The per-event buffers are kept between events: no allocation per event.
        let mut slots = recycle(std::mem::take(&mut self.slot_buffer));
        let mut contributions =
            recycle_contributions(std::mem::take(&mut self.contribution_buffer));
        let observation = self.process_with(
            event_time_us,
            payload,
            now_wall_us,
            &mut slots,
            &mut contributions,
        );
        self.slot_buffer = recycle(slots);
        self.contribution_buffer = recycle_contributions(contributions);
        observation
    }

    /// What reads events for this engine, to run on another thread: a runner can read the
    /// next events while the engine counts the previous ones (see `process_read`).
    pub fn field_reader(&self) -> FieldReader {
        FieldReader {
            fields_by_type: self.fields_by_type.clone(),
            slot_buffer: Vec::new(),
        }
    }

    /// Processes one stored event whose fields a [`FieldReader`] of this engine read.
    pub fn process_read(
        &mut self,
        event_time_us: i64,
        payload: &str,
        fields: &ReadFields,
        now_wall_us: i64,
    ) -> Observation {
        let mut observation = Observation::Unused;
        let event = (event_time_us, payload, fields.as_ref());
        self.process_read_all([event], now_wall_us, |_, observed, _| {
            observation = observed;
        });
        observation
    }

    /// [`Engine::process_read`] for a run of events, in order: the same results, with
    /// the per-event buffers set up once for the run. `observed(index, observation,
    /// event_watermark)` is told each event's observation and the event watermark right
    /// after it (what a late dead letter records).
    pub fn process_read_all<'p>(
        &mut self,
        events: impl IntoIterator<Item = (i64, &'p str, FieldsRef<'p>)>,
        now_wall_us: i64,
        mut observed: impl FnMut(usize, Observation, i64),
    ) {
        let mut slots = recycle(std::mem::take(&mut self.slot_buffer));
        let mut contributions =
            recycle_contributions(std::mem::take(&mut self.contribution_buffer));
        for (index, (event_time_us, payload, fields)) in events.into_iter().enumerate() {
            let observation = match fields.event_type(payload) {
                None => Observation::Unused,
                Some(event_type) => {
                    slots.clear();
                    slots.extend(fields.spans.iter().map(|span| {
                        span.and_then(|(start, end)| payload.get(start as usize..end as usize))
                    }));
                    contributions.clear();
                    self.apply(
                        event_time_us,
                        event_type,
                        now_wall_us,
                        &slots,
                        &mut contributions,
                    )
                }
            };
            observed(index, observation, self.watermark.event_watermark());
        }
        self.slot_buffer = recycle(slots);
        self.contribution_buffer = recycle_contributions(contributions);
    }

    fn process_with<'a>(
        &mut self,
        event_time_us: i64,
        payload: &'a str,
        now_wall_us: i64,
        slots: &mut Vec<Option<&'a str>>,
        contributions: &mut Vec<(GroupRef<'a>, Input)>,
    ) -> Observation {
        let Some(event_type) = extract(payload, &self.fields_by_type, slots) else {
            return Observation::Unused;
        };
        self.apply(event_time_us, event_type, now_wall_us, slots, contributions)
    }

    /// Counts an event, its fields read, in every KPI of its type.
    fn apply<'a>(
        &mut self,
        event_time_us: i64,
        event_type: Cow<'a, str>,
        now_wall_us: i64,
        slots: &[Option<&'a str>],
        contributions: &mut Vec<(GroupRef<'a>, Input)>,
    ) -> Observation {
        let Some(kpi_indices) = self.kpis_by_type.get(event_type.as_ref()) else {
            return Observation::Unused;
        };
        let lateness = self.watermark.observe(event_time_us, now_wall_us);
        if lateness == Lateness::TooLate {
            self.too_late += 1;
            return Observation::TooLate;
        }
        for &(index, slots_at) in kpi_indices {
            if let Some(touched) = self.touched.get_mut(index) {
                *touched = Some(match *touched {
                    None => (event_time_us, event_time_us),
                    Some((first, last)) => (first.min(event_time_us), last.max(event_time_us)),
                });
            }
            let runtime = &mut self.kpis[index];
            contributions.clear();
            if runtime.kpi.aggregate == AggregateKind::Sessions {
                runtime.track_session(slots_at, event_time_us, slots, &self.options);
                if let Some((at, _)) = runtime.session_closings.first() {
                    self.next_session_close = self.next_session_close.min(*at);
                }
                continue;
            }
            if runtime.kpi.each.is_some() {
                runtime.read_each(slots_at, slots, &self.options, contributions);
                for (group, input) in contributions.drain(..) {
                    runtime.add_to_windows(event_time_us, &group, &input);
                }
            } else if let Some((group, input)) =
                runtime.read(&event_type, slots_at, event_time_us, slots, &self.options)
            {
                runtime.add_to_windows(event_time_us, &group, &input);
            }
        }
        self.close_sessions();
        self.evict_if_due();
        match lateness {
            Lateness::Late => Observation::CountedLate,
            _ => Observation::Counted,
        }
    }

    /// An engine with the same definitions and options and no state.
    pub fn fresh(&self) -> Engine {
        Engine::new(
            self.kpis
                .iter()
                .map(|runtime| runtime.kpi.clone())
                .collect(),
            self.options.clone(),
        )
    }

    /// Lets the watermark follow the wall clock when the stream is idle.
    pub fn tick(&mut self, now_wall_us: i64) -> bool {
        let moved = self.watermark.tick(now_wall_us);
        if moved {
            self.close_sessions();
            self.evict_if_due();
        }
        moved
    }

    pub fn watermark(&self) -> i64 {
        self.watermark.current()
    }

    /// The watermark from event times alone, which judges lateness.
    pub fn event_watermark(&self) -> i64 {
        self.watermark.event_watermark()
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
        self.windows_where(kpi, from_us, to_us, false, &|_, _, _| true)
    }

    /// The windows of `kpi` a push must send again after the engine counted events with
    /// times in `touched` (`Engine::take_touched`) and its watermark moved from
    /// `previous_watermark`: the windows holding a counted time, the windows that became
    /// final, and those whose value runs with the clock. Of a sliding window definition
    /// only the current window (the one holding the watermark that ends first) and final
    /// ones are sent: an event falls in `size ÷ slide` open windows, and a dashboard shows
    /// the latest. `None` for an unknown KPI.
    pub fn changed_windows(
        &self,
        kpi: &str,
        touched: Option<(i64, i64)>,
        previous_watermark: i64,
    ) -> Option<Vec<WindowResult>> {
        let runtime = self.kpis.iter().find(|runtime| runtime.kpi.name == kpi)?;
        let watermark = self.watermark.current();
        let runs_with_clock = matches!(
            runtime.kpi.aggregate,
            AggregateKind::Deadlines | AggregateKind::StatusTime
        );
        let is_current = |spec: &WindowSpec, start: i64, end: i64| match spec {
            WindowSpec::Sliding { slide_us, .. } => {
                start <= watermark && watermark < end && end <= watermark.saturating_add(*slide_us)
            }
            _ => start <= watermark && watermark < end,
        };
        let mut results = Vec::new();
        if let Some((first, last)) = touched {
            let counted = |spec: &WindowSpec, start: i64, end: i64| {
                !matches!(spec, WindowSpec::Sliding { .. })
                    || end <= watermark
                    || is_current(spec, start, end)
            };
            results = self.windows_where(kpi, first, last.saturating_add(1), false, &counted)?;
        }
        if watermark != previous_watermark {
            let moved = |spec: &WindowSpec, start: i64, end: i64| {
                (previous_watermark < end && end <= watermark)
                    || (is_current(spec, start, end)
                        && (runs_with_clock || matches!(spec, WindowSpec::Sliding { .. })))
            };
            let from = previous_watermark.min(watermark);
            let by_clock =
                self.windows_where(kpi, from, watermark.saturating_add(1), false, &moved)?;
            for result in by_clock {
                let known = results.iter().any(|known: &WindowResult| {
                    known.window == result.window && known.start_us == result.start_us
                });
                if !known {
                    results.push(result);
                }
            }
        }
        results.sort_by_key(|result| (result.start_us, result.end_us));
        Some(results)
    }

    /// The windows of a comparison's hidden series (labelled `series/1m`) that overlap
    /// `[from, to)`; empty for a KPI without `compare`, `None` for an unknown KPI.
    pub fn series_windows(&self, kpi: &str, from_us: i64, to_us: i64) -> Option<Vec<WindowResult>> {
        self.windows_where(kpi, from_us, to_us, true, &|_, _, _| true)
    }

    /// The KPIs that counted events since the last call, each with the first and last
    /// event time it counted: the windows holding a time in that span may have changed.
    pub fn take_touched(&mut self) -> Vec<(String, i64, i64)> {
        let mut touched = Vec::new();
        for (runtime, span) in self.kpis.iter().zip(self.touched.iter_mut()) {
            if let Some((first, last)) = span.take() {
                touched.push((runtime.kpi.name.clone(), first, last));
            }
        }
        touched
    }

    /// The windows closed since the last call, oldest first per window definition; the
    /// caller persists them (they are not kept in memory beyond `keep_final_for_us`).
    pub fn take_closed(&mut self) -> Vec<ClosedWindow> {
        std::mem::take(&mut self.closed)
    }

    /// A copy of the closed windows waiting to be persisted: the engine keeps answering
    /// them until `forget_closed` says they are stored.
    pub fn closed_to_persist(&self) -> Vec<ClosedWindow> {
        self.closed.clone()
    }

    /// Forgets the first `count` closed windows (those a `closed_to_persist` copy held,
    /// now stored elsewhere).
    pub fn forget_closed(&mut self, count: usize) {
        self.closed.drain(..count.min(self.closed.len()));
    }

    /// How many closed windows wait for `take_closed`.
    pub fn closed_pending(&self) -> usize {
        self.closed.len()
    }

    /// The windows of `kpi` overlapping `[from, to)` (of its hidden series, or not) that
    /// `keep(spec, start, end)` accepts; rejected windows cost nothing to compute.
    fn windows_where(
        &self,
        kpi: &str,
        from_us: i64,
        to_us: i64,
        series: bool,
        keep: &dyn Fn(&WindowSpec, i64, i64) -> bool,
    ) -> Option<Vec<WindowResult>> {
        let runtime = self.kpis.iter().find(|runtime| runtime.kpi.name == kpi)?;
        let watermark = self.watermark.current();
        let mut results = Vec::new();
        for window in runtime
            .windows
            .iter()
            .filter(|window| window.series == series)
        {
            let label = window.label();
            for start in window.starts_with_data(from_us, to_us) {
                if !keep(&window.spec, start, window.spec.window_end(start)) {
                    continue;
                }
                let values: Vec<_> = match window.finals.get(&start) {
                    Some(finals) => finals
                        .iter()
                        .map(|(key, value)| {
                            (
                                runtime.labelled(key),
                                runtime.against_reorder_point(key, value.clone(), &self.options),
                            )
                        })
                        .collect(),
                    None => window
                        .merge_panes(start)
                        .iter()
                        .map(|(key, accumulator)| {
                            let value = accumulator
                                .value(&runtime.kpi, watermark.min(window.spec.window_end(start)));
                            (
                                runtime.labelled(key),
                                runtime.against_reorder_point(key, value, &self.options),
                            )
                        })
                        .collect(),
                };
                if values.is_empty() {
                    continue;
                }
                let end = window.spec.window_end(start);
                results.push(WindowResult {
                    window: label.clone(),
                    start_us: start,
                    end_us: end,
                    is_final: end <= watermark,
                    values: runtime.presented(values, window.series),
                });
            }
        }
        // Closed windows already forgotten by their window state but not yet taken by
        // the history store are still answered here, so none is ever missing.
        let answered: std::collections::HashSet<(i64, String)> = if self.closed.is_empty() {
            std::collections::HashSet::new()
        } else {
            results
                .iter()
                .map(|result| (result.start_us, result.window.clone()))
                .collect()
        };
        for closed in &self.closed {
            if closed.kpi != kpi
                || closed.window.starts_with("series/") != series
                || closed.start_us >= to_us
                || closed.end_us <= from_us
                || answered.contains(&(closed.start_us, closed.window.clone()))
            {
                continue;
            }
            let spec = runtime
                .windows
                .iter()
                .find(|window| window.label() == closed.window)
                .map(|window| &window.spec);
            if let Some(spec) = spec
                && !keep(spec, closed.start_us, closed.end_us)
            {
                continue;
            }
            results.push(WindowResult {
                window: closed.window.clone(),
                start_us: closed.start_us,
                end_us: closed.end_us,
                is_final: true,
                values: closed.values.clone(),
            });
        }
        results.sort_by_key(|result| (result.start_us, result.end_us));
        Some(results)
    }

    /// Moves windows that no event can change any more from panes to final results, and
    /// forgets final results older than the keep period.
    /// Ends the sessions whose gap has passed by the watermark: each adds its total to
    /// the windows of its close time.
    fn close_sessions(&mut self) {
        // The event watermark, not the wall-clock one: a replay must close sessions where
        // live arrival did.
        let watermark = self.watermark.event_watermark();
        // Called per event: only the (few) sessions KPIs with a session due are visited.
        if watermark < self.next_session_close {
            return;
        }
        let mut next_close = i64::MAX;
        for runtime in &mut self.kpis {
            if runtime.session_closings.is_empty() {
                continue;
            }
            let gap = runtime.kpi.gap_us;
            let lateness = self.options.time.allowed_lateness_us;
            let mut closing: Vec<(i64, Decimal)> = Vec::new();
            let mut requeue: Vec<i64> = Vec::new();
            // Closed sessions are kept while an accepted (not too late) event could still
            // fall within their gap.
            let bridgeable_from = watermark
                .saturating_sub(self.options.time.allowed_lateness_us)
                .saturating_sub(gap);
            while let Some((close_at, key)) = runtime.session_closings.first().cloned() {
                if close_at > watermark {
                    break;
                }
                runtime.session_closings.pop_first();
                // One lookup per entry: the key is owned here, so `entry` takes it.
                let std::collections::hash_map::Entry::Occupied(mut entry) =
                    runtime.sessions.entry(key)
                else {
                    continue;
                };
                let key = entry.key().clone();
                let sessions = entry.get_mut();
                // Entries are queued when a session starts or merges, and not moved as it
                // grows: an open session that has since been extended is re-queued.
                closing.clear();
                requeue.clear();
                for session in sessions.iter_mut().filter(|session| !session.closed) {
                    let actual_close = session.last_us.saturating_add(gap);
                    if actual_close <= watermark {
                        session.closed = true;
                        closing.push((actual_close, session.total));
                    } else if actual_close > close_at {
                        requeue.push(actual_close);
                    }
                }
                sessions.retain(|session| !session.closed || session.last_us >= bridgeable_from);
                // A closed session is looked at again once it can no longer be bridged,
                // to be forgotten.
                requeue.extend(
                    sessions
                        .iter()
                        .filter(|session| session.closed)
                        .map(|session| {
                            session
                                .last_us
                                .saturating_add(gap)
                                .saturating_add(lateness)
                                .saturating_add(1)
                        }),
                );
                if sessions.is_empty() {
                    entry.remove();
                }
                for &at in &requeue {
                    runtime.session_closings.insert((at, key.clone()));
                }
                for &(closed_at, total) in &closing {
                    runtime.add_to_windows(closed_at, &GroupRef::empty(), &Input::Number(total));
                }
            }
            if let Some((at, _)) = runtime.session_closings.first() {
                next_close = next_close.min(*at);
            }
        }
        self.next_session_close = next_close;
    }

    fn evict_if_due(&mut self) {
        let watermark = self.watermark.event_watermark();
        let closed_before = watermark.saturating_sub(self.options.time.allowed_lateness_us);
        if closed_before <= self.evicted_at {
            return;
        }
        self.evicted_at = closed_before;
        let keep_from = closed_before.saturating_sub(self.options.keep_final_for_us);
        // Compacting current-state KPIs walks every tracked key: once a minute of event
        // time is plenty, and it must not happen on every event.
        let compact = closed_before.saturating_sub(self.compacted_at) >= COMPACT_EVERY_US;
        if compact {
            self.compacted_at = closed_before;
        }
        for runtime in &mut self.kpis {
            for index in 0..runtime.windows.len() {
                let window = &mut runtime.windows[index];
                let newly_closed =
                    window.close_windows_ending_by(closed_before, &runtime.kpi, watermark);
                for start in newly_closed {
                    let window = &runtime.windows[index];
                    let Some(finals) = window.finals.get(&start) else {
                        continue;
                    };
                    let values = finals
                        .iter()
                        .map(|(key, value)| {
                            (
                                runtime.labelled(key),
                                runtime.against_reorder_point(key, value.clone(), &self.options),
                            )
                        })
                        .collect();
                    // A comparison's series is summed for the windows compared with it
                    // (a day, a week later): it is kept in history as long as they are,
                    // not as long as its own minutes, or their comparisons come out short.
                    let resolution = if window.series {
                        runtime
                            .kpi
                            .windows
                            .iter()
                            .map(WindowSpec::resolution)
                            .max()
                            .unwrap_or(window.spec.resolution())
                    } else {
                        window.spec.resolution()
                    };
                    self.closed.push(ClosedWindow {
                        kpi: runtime.kpi.name.clone(),
                        window: window.label(),
                        resolution,
                        max_length_us: window.spec.max_length_us(),
                        start_us: start,
                        end_us: window.spec.window_end(start),
                        values: runtime.presented(values, window.series),
                    });
                }
                let window = &mut runtime.windows[index];
                if window
                    .finals
                    .first_key_value()
                    .is_some_and(|(start, _)| *start < keep_from)
                {
                    // A closed sliding window stays listed by the panes it shares with
                    // open windows until the last of them closes, up to two lengths after
                    // its start: its final result must stay as long, or it would be
                    // closed (and handed to history) a second time.
                    let keep_from = keep_from
                        .min(closed_before.saturating_sub(2 * window.spec.max_length_us()));
                    window.finals = window.finals.split_off(&keep_from);
                }
                if compact && window.spec == WindowSpec::Current {
                    for accumulator in window
                        .panes
                        .values_mut()
                        .flat_map(|groups| groups.values_mut())
                    {
                        accumulator.compact(&runtime.kpi, closed_before);
                    }
                }
            }
        }
    }
}

impl KpiRuntime {
    /// The event's group and input for this KPI, or `None` when the filter excludes it
    /// or (counted as a reason) a field it needs is missing or unusable.
    fn read<'a>(
        &mut self,
        event_type: &str,
        slots_at: usize,
        event_time_us: i64,
        slots: &[Option<&'a str>],
        options: &EngineOptions,
    ) -> Option<(GroupRef<'a>, Input)> {
        let kpi_slots = self.slots_by_type.get(slots_at)?;
        let field = |slot: usize| slots.get(slot).copied().flatten();
        if let Some(filter) = &self.kpi.filter
            && !filter.matches(|clause| field(kpi_slots.filter[clause]))
        {
            return None;
        }
        let mut group = GroupRef::empty();
        for (path, slot) in self.kpi.group_by.iter().zip(&kpi_slots.group) {
            match field(*slot) {
                Some(value) => group.push(label_text(value)),
                None => {
                    let reason = format!("missing {path}");
                    self.skip(reason);
                    return None;
                }
            }
        }
        let input = match self.kpi.aggregate {
            AggregateKind::Count => Input::Event,
            AggregateKind::Ratio => {
                let ratio = self.kpi.ratio.as_ref()?;
                let numerator = side_hit(&ratio.numerator, &kpi_slots.numerator, &field);
                let denominator = side_hit(&ratio.denominator, &kpi_slots.denominator, &field);
                if numerator.is_none() && denominator.is_none() {
                    return None;
                }
                Input::Ratio {
                    numerator,
                    denominator,
                }
            }
            AggregateKind::Level => {
                let set = self.kpi.set_events.iter().any(|name| name == event_type);
                let (slot, path) = if set {
                    (kpi_slots.value, self.kpi.value.as_ref())
                } else {
                    (kpi_slots.delta, self.kpi.delta.as_ref())
                };
                let Some(value) = slot.and_then(field).and_then(as_decimal) else {
                    let path = path.map(ToString::to_string).unwrap_or_default();
                    self.skip(format!("missing or non-numeric {path}"));
                    return None;
                };
                Input::Level {
                    time_us: event_time_us,
                    set,
                    value,
                }
            }
            AggregateKind::Sums => {
                let rate = match kpi_slots.currency {
                    Some(slot) => match rate_of(field(slot), options) {
                        Some(rate) => rate,
                        None => {
                            self.skip("no rate for data.currency".to_owned());
                            return None;
                        }
                    },
                    None => Decimal::ONE,
                };
                let mut values = Vec::with_capacity(kpi_slots.sums.len());
                for (index, factor_slots) in kpi_slots.sums.iter().enumerate() {
                    let mut product = Decimal::ONE;
                    for slot in factor_slots {
                        let Some(factor) = field(*slot).and_then(as_decimal) else {
                            self.skip(format!(
                                "missing or non-numeric field in values.{}",
                                self.kpi.sums[index].0
                            ));
                            return None;
                        };
                        // rust_decimal panics on overflow: a value past 28 digits is
                        // skipped, never allowed to stop the engine.
                        let Some(next) = product.checked_mul(factor) else {
                            self.skip(OUT_OF_RANGE.to_owned());
                            return None;
                        };
                        product = next;
                    }
                    let converted = if self.kpi.sums_are_money[index] {
                        product.checked_mul(rate)
                    } else {
                        Some(product)
                    };
                    let Some(converted) = converted else {
                        self.skip(OUT_OF_RANGE.to_owned());
                        return None;
                    };
                    values.push(converted);
                }
                Input::Sums(values)
            }
            AggregateKind::StatusTime => {
                let Some(state) = kpi_slots.value.and_then(field).map(as_label) else {
                    self.skip(format!(
                        "missing {}",
                        self.kpi
                            .value
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ));
                    return None;
                };
                Input::Status {
                    time_us: event_time_us,
                    state,
                }
            }
            AggregateKind::StateCounts | AggregateKind::Deadlines => {
                let key = kpi_slots.key.and_then(field).map(as_label);
                let state = kpi_slots.value.and_then(field).map(as_label);
                let (Some(key), Some(state)) = (key, state) else {
                    self.skip("missing key or state field".to_owned());
                    return None;
                };
                let deadline_us = kpi_slots
                    .deadline
                    .and_then(field)
                    .and_then(|raw| sightline_model::time::parse_rfc3339(&label_text(raw)).ok());
                Input::State {
                    time_us: event_time_us,
                    key,
                    state,
                    deadline_us,
                }
            }
            aggregate => {
                // Named only when an event is skipped: formatting it per event would cost
                // more than the aggregate itself.
                let path = || {
                    self.kpi
                        .value
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                };
                let Some(raw) = kpi_slots.value.and_then(field) else {
                    self.skip(format!("missing {}", path()));
                    return None;
                };
                match aggregate {
                    AggregateKind::Distinct => Input::Distinct(xxh3_64(label_text(raw).as_bytes())),
                    AggregateKind::Latest => Input::Latest {
                        time_us: event_time_us,
                        value: match as_decimal(raw) {
                            Some(number) => LatestValue::Number(number),
                            None => LatestValue::Text(as_label(raw)),
                        },
                    },
                    _ => {
                        let Some(mut value) = as_decimal(raw) else {
                            self.skip(format!("{} is not a number", path()));
                            return None;
                        };
                        if let Some(currency_slot) = kpi_slots.currency {
                            let Some(rate) = rate_of(field(currency_slot), options) else {
                                self.skip("no rate for data.currency".to_owned());
                                return None;
                            };
                            let Some(converted) = value.checked_mul(rate) else {
                                self.skip(OUT_OF_RANGE.to_owned());
                                return None;
                            };
                            value = converted;
                        }
                        if aggregate == AggregateKind::Quantiles {
                            Input::Sample(value.to_f64().unwrap_or(f64::NAN))
                        } else {
                            Input::Number(value)
                        }
                    }
                }
            }
        };
        Some((group, input))
    }

    /// For a KPI with `each`: one contribution per element of the array (order lines),
    /// grouped and summed with the element's members (`line.x`) and the event's fields.
    fn read_each<'a>(
        &mut self,
        slots_at: usize,
        slots: &[Option<&'a str>],
        options: &EngineOptions,
        out: &mut Vec<(GroupRef<'a>, Input)>,
    ) {
        let Some(kpi_slots) = self.slots_by_type.get(slots_at) else {
            return;
        };
        let field = |slot: usize| slots.get(slot).copied().flatten();
        if let Some(filter) = &self.kpi.filter
            && !filter.matches(|clause| field(kpi_slots.filter[clause]))
        {
            return;
        }
        let Some(array) = kpi_slots.each.and_then(field) else {
            return;
        };
        let rate = match kpi_slots.currency {
            Some(slot) => rate_of(field(slot), options),
            None => Some(Decimal::ONE),
        };
        let mut skipped: Option<String> = None;
        let kpi = &self.kpi;
        let _ = for_each_element(array, |element| {
            // An order line has a handful of members: kept inline, looked up by name. One
            // with more (validation accepts any) keeps the rest in a vector, so a wanted
            // member after them is still found.
            let mut members: [Option<(Cow<'_, str>, &str)>; LINE_MEMBERS] = Default::default();
            let mut more_members: Vec<(Cow<'_, str>, &str)> = Vec::new();
            let mut count = 0;
            let _ = for_each_member(element, |name, value| {
                match members.get_mut(count) {
                    Some(member) => {
                        *member = Some((name, value));
                        count += 1;
                    }
                    None => more_members.push((name, value)),
                }
                true
            });
            let value_of = |path: &FieldPath, slot: usize| -> Option<&str> {
                match path {
                    FieldPath::Element(name) => members
                        .iter()
                        .flatten()
                        .chain(&more_members)
                        .find(|(member, _)| member == name)
                        .map(|(_, value)| *value)
                        .filter(|value| *value != "null"),
                    _ => field(slot),
                }
            };
            let mut group = GroupRef::empty();
            for (path, slot) in kpi.group_by.iter().zip(&kpi_slots.group) {
                match value_of(path, *slot) {
                    Some(value) => group.push(label_text(value)),
                    None => {
                        skipped = Some(format!("missing {path}"));
                        return;
                    }
                }
            }
            let mut values = Vec::with_capacity(kpi.sums.len());
            for (index, ((name, factors), factor_slots)) in
                kpi.sums.iter().zip(&kpi_slots.sums).enumerate()
            {
                let mut product = Decimal::ONE;
                for (path, slot) in factors.iter().zip(factor_slots) {
                    let Some(factor) = value_of(path, *slot).and_then(as_decimal) else {
                        skipped = Some(format!("missing or non-numeric field in values.{name}"));
                        return;
                    };
                    let Some(next) = product.checked_mul(factor) else {
                        skipped = Some(OUT_OF_RANGE.to_owned());
                        return;
                    };
                    product = next;
                }
                if kpi.sums_are_money[index] {
                    let Some(rate) = rate else {
                        skipped = Some("no rate for data.currency".to_owned());
                        return;
                    };
                    let Some(converted) = product.checked_mul(rate) else {
                        skipped = Some(OUT_OF_RANGE.to_owned());
                        return;
                    };
                    product = converted;
                }
                values.push(product);
            }
            out.push((group, Input::Sums(values)));
        });
        if let Some(reason) = skipped {
            self.skip(reason);
        }
    }

    /// Adds one contribution to the pane of `time_us` in every window of the KPI.
    fn add_to_windows(&mut self, time_us: i64, group: &GroupRef<'_>, input: &Input) {
        for window in &mut self.windows {
            let pane = window.pane_of(time_us);
            let groups = match window.panes.entry(pane) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    // A new pane may be older than every other (a late event).
                    let first_end = first_window_end(&window.spec, pane);
                    window.next_close_at = window.next_close_at.min(first_end);
                    entry.insert(Groups::default())
                }
            };
            // The key is cloned only for a group new to the pane, not per event.
            match groups.get_mut(group) {
                Some(accumulator) => accumulator.add(input),
                None => {
                    let mut accumulator = Accumulator::new(&self.kpi);
                    accumulator.add(input);
                    groups.insert(group.to_key(), accumulator);
                }
            }
        }
    }

    /// Extends, starts or (past the gap) replaces the session of the event's key.
    fn track_session(
        &mut self,
        slots_at: usize,
        event_time_us: i64,
        slots: &[Option<&str>],
        options: &EngineOptions,
    ) {
        let Some(kpi_slots) = self.slots_by_type.get(slots_at) else {
            return;
        };
        let field = |slot: usize| slots.get(slot).copied().flatten();
        let Some(raw_key) = kpi_slots.key.and_then(field) else {
            self.skip("missing session key".to_owned());
            return;
        };
        // Borrowed for the lookup; allocated only when a session starts.
        let key = label_text(raw_key);
        let mut value = kpi_slots
            .value
            .and_then(field)
            .and_then(as_decimal)
            .unwrap_or(Decimal::ZERO);
        if !value.is_zero()
            && let Some(currency_slot) = kpi_slots.currency
        {
            match rate_of(field(currency_slot), options) {
                Some(rate) => match value.checked_mul(rate) {
                    Some(converted) => value = converted,
                    None => {
                        self.skip(OUT_OF_RANGE.to_owned());
                        return;
                    }
                },
                None => {
                    self.skip("no rate for data.currency".to_owned());
                    return;
                }
            }
        }
        let gap = self.kpi.gap_us;
        let within_gap = |session: &Session| {
            event_time_us >= session.start_us.saturating_sub(gap)
                && event_time_us <= session.last_us.saturating_add(gap)
        };
        // The common case: the event extends the key's one open session.
        if let Some(sessions) = self.sessions.get_mut(key.as_ref())
            && let [session] = sessions.as_mut_slice()
            && !session.closed
            && within_gap(session)
        {
            // The closing queue entry goes stale; `close_sessions` re-queues it then.
            session.start_us = session.start_us.min(event_time_us);
            session.last_us = session.last_us.max(event_time_us);
            session.total = session.total.saturating_add(value);
            return;
        }
        let key = key.into_owned();
        let Some(sessions) = self.sessions.remove(&key) else {
            // The key's first session (the usual case for a new visitor).
            self.session_closings
                .insert((event_time_us.saturating_add(gap), key.clone()));
            self.sessions.insert(
                key,
                vec![Session {
                    start_us: event_time_us,
                    last_us: event_time_us,
                    total: value,
                    closed: false,
                }],
            );
            return;
        };
        // Every session the event falls within the gap of merges with it (a late event
        // can bridge two). A closed one takes its total back out of the windows it was
        // counted in, so the merged session counts once, when it closes.
        let (bridged, mut kept): (Vec<Session>, Vec<Session>) =
            sessions.into_iter().partition(within_gap);
        let mut merged = Session {
            start_us: event_time_us,
            last_us: event_time_us,
            total: value,
            closed: false,
        };
        for session in bridged {
            if session.closed {
                let closed_at = session.last_us.saturating_add(gap);
                self.add_to_windows(
                    closed_at,
                    &GroupRef::empty(),
                    &Input::Retract(session.total),
                );
            }
            merged.start_us = merged.start_us.min(session.start_us);
            merged.last_us = merged.last_us.max(session.last_us);
            merged.total = merged.total.saturating_add(session.total);
        }
        self.session_closings
            .insert((merged.last_us.saturating_add(gap), key.clone()));
        kept.push(merged);
        kept.sort_by_key(|session| session.start_us);
        self.sessions.insert(key, kept);
    }

    fn skip(&mut self, reason: String) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// A stock value judged against its group's configured reorder point.
    fn against_reorder_point(
        &self,
        key: &GroupKey,
        value: AggregateValue,
        options: &EngineOptions,
    ) -> AggregateValue {
        let (Some(position), Some(default), AggregateValue::Stock { level, .. }) =
            (self.kpi.low_at_by, self.kpi.low_at, &value)
        else {
            return value;
        };
        let point = key
            .get(position)
            .and_then(|group| options.reorder_points.get(group))
            .copied()
            .unwrap_or(default);
        AggregateValue::Stock {
            level: *level,
            status: crate::aggregate::StockStatus::of(*level, point),
        }
    }

    /// Groups as reported: the `top` N by their value, else in group order. A comparison's
    /// series keeps every group: it is summed per group over a span, where a group
    /// missing from one minute's top N would be missing from the sum.
    fn presented(
        &self,
        mut values: Vec<(Vec<(String, String)>, AggregateValue)>,
        series: bool,
    ) -> Vec<(Vec<(String, String)>, AggregateValue)> {
        match self.kpi.top.filter(|_| !series) {
            Some(top) => {
                values.sort_by(|left, right| {
                    right
                        .1
                        .sort_key()
                        .total_cmp(&left.1.sort_key())
                        .then_with(|| left.0.cmp(&right.0))
                });
                values.truncate(top);
            }
            None => values.sort_by(|left, right| left.0.cmp(&right.0)),
        }
        values
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

/// How much event time passes between compactions of current-state KPIs: stale keys
/// linger at most this long, and a backfill of a day compacts 24 times, not 1,440.
const COMPACT_EVERY_US: i64 = 3_600_000_000;

/// Why an event is skipped when its numbers do not fit an exact decimal (28 digits).
const OUT_OF_RANGE: &str = "value out of the exact decimal range";

/// The rate that converts the event's `data.currency` into the reporting currency.
fn rate_of(currency: Option<&str>, options: &EngineOptions) -> Option<Decimal> {
    let code = label_text(currency?);
    if code == options.reporting_currency {
        return Some(Decimal::ONE);
    }
    options.rates.get(code.as_ref()).copied()
}

/// Whether, and how, an event counts on one side of a ratio.
fn side_hit<'a>(
    side: &CompiledSide,
    slots: &SideSlots,
    field: &impl Fn(usize) -> Option<&'a str>,
) -> Option<SideHit> {
    if !slots.counts {
        return None;
    }
    if let Some(filter) = &side.filter
        && !filter.matches(|clause| field(slots.filter[clause]))
    {
        return None;
    }
    match slots.distinct {
        None => Some(SideHit::Event),
        Some(slot) => {
            field(slot).map(|value| SideHit::Distinct(xxh3_64(label_text(value).as_bytes())))
        }
    }
}

/// The name a group field has in results: `gateway` for `data.gateway`.
fn group_label(path: &FieldPath) -> String {
    match path {
        FieldPath::Attribute(name) | FieldPath::Data(name) | FieldPath::Element(name) => {
            name.clone()
        }
    }
}

impl WindowState {
    /// The end of the first window that contains `pane`.
    fn first_window_end(&self, pane: i64) -> i64 {
        first_window_end(&self.spec, pane)
    }

    fn pane_of(&mut self, time_us: i64) -> i64 {
        let (start, end) = self.last_pane;
        if start <= time_us && time_us < end {
            return start;
        }
        let start = self.spec.pane_of(time_us);
        self.last_pane = (start, self.spec.pane_end(start));
        start
    }

    fn merge_panes(&self, start: i64) -> Groups {
        let end = self.spec.window_end(start);
        let mut merged: Groups = Groups::default();
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
    /// Returns the starts of the windows it finalised (those with data).
    fn close_windows_ending_by(
        &mut self,
        closed_before: i64,
        kpi: &CompiledKpi,
        watermark: i64,
    ) -> Vec<i64> {
        // Cheap common case, checked on every watermark step: the oldest pane's first
        // window is still open, so nothing can close yet.
        if closed_before < self.next_close_at {
            return Vec::new();
        }
        let mut newly_closed = Vec::new();
        // The starts of the windows that hold data and end by the cut, in order and each
        // once, walking the panes that start before the cut: a pane belongs to the windows
        // starting from `first` to itself, and a window's end grows with its start, so the
        // walk stops at the first window that is still open.
        let mut closable = Vec::new();
        let mut next_start = i64::MIN;
        'panes: for &pane in self.panes.range(..closed_before).map(|(pane, _)| pane) {
            let (first, step) = match self.spec {
                WindowSpec::Sliding { size_us, slide_us } => (
                    pane.saturating_sub(size_us).saturating_add(slide_us),
                    slide_us,
                ),
                _ => (pane, 1),
            };
            let mut start = first.max(next_start);
            while start <= pane {
                if self.spec.window_end(start) > closed_before {
                    break 'panes;
                }
                closable.push(start);
                start = start.saturating_add(step);
            }
            next_start = next_start.max(pane.saturating_add(step));
        }
        for start in closable {
            if self.finals.contains_key(&start) {
                continue;
            }
            let merged = self.merge_panes(start);
            if !merged.is_empty() {
                let values = merged
                    .iter()
                    .map(|(key, accumulator)| {
                        (
                            key.clone(),
                            accumulator.value(kpi, watermark.min(self.spec.window_end(start))),
                        )
                    })
                    .collect();
                self.finals.insert(start, values);
                newly_closed.push(start);
            }
        }
        // A pane is needed while any window containing it is open: the last such window
        // starts at the pane itself.
        let spec = &self.spec;
        self.panes
            .retain(|pane, _| spec.window_end(*pane) > closed_before);
        self.next_close_at = match self.panes.keys().next() {
            Some(&oldest_pane) => self.first_window_end(oldest_pane),
            None => i64::MAX,
        };
        newly_closed
    }

    fn label(&self) -> String {
        if self.series {
            series_label(&self.spec)
        } else {
            self.spec.label()
        }
    }
}

/// Checkpoints: the engine's whole state with the log offset it reflects, in one buffer
/// the caller writes atomically. Restoring it and replaying the log from that offset gives
/// the state an uninterrupted run would have: every event counted exactly once.
mod checkpoint {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::{Engine, Groups};
    use crate::error::EngineError;

    /// Bumped whenever the layout below changes; an older checkpoint is ignored (the log
    /// is replayed instead).
    const FORMAT: u32 = 4;

    /// Window states by start: the open panes, or the final results.
    type Panes = BTreeMap<i64, Groups>;
    type Finals = BTreeMap<i64, super::FinalValues>;

    #[derive(Serialize)]
    struct StateRef<'a> {
        format: u32,
        fingerprint: u64,
        offset: u64,
        event_watermark: i64,
        current_watermark: i64,
        too_late: u64,
        kpis: Vec<KpiStateRef<'a>>,
    }

    #[derive(Serialize)]
    struct KpiStateRef<'a> {
        skipped: &'a BTreeMap<String, u64>,
        sessions: &'a rustc_hash::FxHashMap<String, Vec<super::Session>>,
        windows: Vec<(&'a Panes, &'a Finals)>,
    }

    #[derive(Deserialize)]
    struct State {
        format: u32,
        fingerprint: u64,
        offset: u64,
        event_watermark: i64,
        current_watermark: i64,
        too_late: u64,
        kpis: Vec<KpiState>,
    }

    #[derive(Deserialize)]
    struct KpiState {
        skipped: BTreeMap<String, u64>,
        sessions: rustc_hash::FxHashMap<String, Vec<super::Session>>,
        windows: Vec<(Panes, Finals)>,
    }

    impl Engine {
        /// A fingerprint of the KPI definitions: a checkpoint taken under other
        /// definitions must not be restored into these.
        pub fn fingerprint(&self) -> u64 {
            let mut described: Vec<String> = self
                .kpis
                .iter()
                .map(|runtime| format!("{:?}", runtime.kpi))
                .collect();
            // Options change results too (rates, currency, lateness): a checkpoint taken
            // under others is not restored.
            let mut rates: Vec<_> = self.options.rates.iter().collect();
            rates.sort();
            described.push(format!(
                "{:?} {} {:?} {}",
                self.options.time,
                self.options.reporting_currency,
                rates,
                self.options.keep_final_for_us
            ));
            xxhash_rust::xxh3::xxh3_64(described.join("\n").as_bytes())
        }

        /// The state after processing every event below `offset`, serialized.
        pub fn checkpoint(&self, offset: u64) -> Vec<u8> {
            let state = StateRef {
                format: FORMAT,
                fingerprint: self.fingerprint(),
                offset,
                event_watermark: self.watermark.event_watermark(),
                current_watermark: self.watermark.current(),
                too_late: self.too_late,
                kpis: self
                    .kpis
                    .iter()
                    .map(|runtime| KpiStateRef {
                        skipped: &runtime.skipped,
                        sessions: &runtime.sessions,
                        windows: runtime
                            .windows
                            .iter()
                            .map(|window| (&window.panes, &window.finals))
                            .collect(),
                    })
                    .collect(),
            };
            postcard::to_stdvec(&state).unwrap_or_default()
        }

        /// Restores a checkpoint taken with the same definitions; returns the offset to
        /// continue reading the log from.
        pub fn restore(&mut self, bytes: &[u8]) -> Result<u64, EngineError> {
            let state: State = postcard::from_bytes(bytes)
                .map_err(|error| EngineError::Checkpoint(format!("unreadable ({error})")))?;
            if state.format != FORMAT {
                return Err(EngineError::Checkpoint(format!(
                    "format {} is not {FORMAT}",
                    state.format
                )));
            }
            if state.fingerprint != self.fingerprint() || state.kpis.len() != self.kpis.len() {
                return Err(EngineError::Checkpoint(
                    "taken with other KPI definitions".into(),
                ));
            }
            // Restored sessions may be due: look at the next event.
            self.next_session_close = i64::MIN;
            for (runtime, saved) in self.kpis.iter_mut().zip(state.kpis) {
                if saved.windows.len() != runtime.windows.len() {
                    return Err(EngineError::Checkpoint(
                        "taken with other KPI windows".into(),
                    ));
                }
                runtime.skipped = saved.skipped;
                let lateness = self.options.time.allowed_lateness_us;
                let gap = runtime.kpi.gap_us;
                runtime.session_closings = saved
                    .sessions
                    .iter()
                    .flat_map(|(key, sessions)| {
                        sessions.iter().map(move |session| {
                            let close_at = session.last_us.saturating_add(gap);
                            let at = if session.closed {
                                close_at.saturating_add(lateness).saturating_add(1)
                            } else {
                                close_at
                            };
                            (at, key.clone())
                        })
                    })
                    .collect();
                runtime.sessions = saved.sessions;
                for (window, (panes, finals)) in runtime.windows.iter_mut().zip(saved.windows) {
                    window.panes = panes;
                    window.finals = finals;
                    window.last_pane = (0, 0);
                    window.next_close_at = match window.panes.keys().next() {
                        Some(&oldest) => window.first_window_end(oldest),
                        None => i64::MAX,
                    };
                }
            }
            self.watermark
                .restore(state.event_watermark, state.current_watermark);
            self.too_late = state.too_late;
            self.evicted_at = i64::MIN;
            Ok(state.offset)
        }
    }
}

#[cfg(test)]
mod column_tests {
    use super::*;

    fn fields(event_type: Option<TypeText>, spans: &[Option<(u32, u32)>]) -> ReadFields {
        ReadFields {
            event_type,
            spans: spans.to_vec(),
        }
    }

    fn same(column: FieldsRef<'_>, read: &ReadFields) -> bool {
        let payload = "0123456789abcdefghij";
        column.spans == read.spans.as_slice()
            && column.event_type(payload) == read.as_ref().event_type(payload)
    }

    /// What goes into a column comes out the same, also after dropping some events.
    #[test]
    fn a_column_gives_back_each_events_fields() {
        let all = [
            fields(Some(TypeText::Span(1, 4)), &[Some((5, 7)), None]),
            fields(None, &[]),
            fields(
                Some(TypeText::Owned("order.created".into())),
                &[None, Some((2, 3))],
            ),
            fields(Some(TypeText::Span(0, 2)), &[]),
            fields(Some(TypeText::Owned("other".into())), &[Some((9, 19))]),
        ];
        let mut column = FieldsColumn::default();
        for read in &all {
            column.push(read);
        }
        assert_eq!(column.len(), all.len());
        assert!(column.iter().zip(&all).all(|(got, read)| same(got, read)));
        assert!(column.get(all.len()).is_none());
        column.retain(|index| index != 0 && index != 3);
        let kept = [&all[1], &all[2], &all[4]];
        assert_eq!(column.len(), kept.len());
        assert!(column.iter().zip(kept).all(|(got, read)| same(got, read)));
        column.clear();
        assert!(column.is_empty());
    }
}

#[cfg(test)]
mod group_ref_tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn a_borrowed_group_hashes_and_compares_as_its_owned_key() {
        let hasher = rustc_hash::FxBuildHasher;
        for labels in [
            vec![],
            vec!["stripe"],
            vec!["SKU-1", "W-2"],
            vec!["", "a\u{e9}"],
        ] {
            let mut group = GroupRef::empty();
            for label in &labels {
                group.push(Cow::Borrowed(label));
            }
            let key: GroupKey = labels.iter().map(|label| (*label).to_owned()).collect();
            assert_eq!(hasher.hash_one(&group), hasher.hash_one(&key), "{labels:?}");
            assert!(hashbrown::Equivalent::equivalent(&group, &key));
            assert_eq!(group.to_key(), key);
        }
        let mut other = GroupRef::empty();
        other.push(Cow::Borrowed("SKU-1"));
        assert!(!hashbrown::Equivalent::equivalent(
            &other,
            &vec!["SKU-1".to_owned(), "W-2".to_owned()]
        ));
        let mut groups = Groups::default();
        groups.insert(vec!["SKU-1".to_owned()], Accumulator::Count(3));
        assert!(groups.get(&other).is_some());
    }
}

#[cfg(test)]
mod series_tests {
    use super::*;
    use crate::definition::KpiPack;

    /// A comparison sums its series per group over a span: every group of every series
    /// window counts, not only the `top` groups of each minute.
    #[test]
    fn a_top_kpi_keeps_every_group_in_its_comparison_series() {
        let pack = KpiPack::from_toml(
            r#"
[[kpi]]
name = "revenue_by_sku_today"
events = ["order.created"]
value = "data.total"
aggregate = "sum"
group_by = ["data.sku"]
top = 1
windows = [{ calendar = "day" }]
compare = { days_back = 1 }
"#,
            "test",
        )
        .and_then(|pack| pack.compile(&crate::Calendar::utc()))
        .expect("valid pack");
        let mut engine = Engine::new(pack, EngineOptions::default());
        let minute = 60_000_000;
        let day = 86_400_000_000;
        // A leads the first minute, B the second: over both, B sold the most.
        for (at, sku, total) in [(0, "A", 10), (minute, "A", 1), (minute, "B", 20)] {
            let payload = format!(
                r#"{{"type":"order.created","data":{{"sku":"{sku}","total":{total},"currency":"EUR"}}}}"#
            );
            engine.process(day + at, &payload, 0);
        }
        // A day later every series window is closed.
        engine.process(
            3 * day,
            r#"{"type":"order.created","data":{"sku":"C","total":1,"currency":"EUR"}}"#,
            0,
        );
        let sums = |windows: Vec<(Vec<(String, String)>, AggregateValue)>| {
            let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
            for (group, value) in windows {
                let AggregateValue::Decimal(value) = value else {
                    panic!("a sum: {value:?}");
                };
                *sums.entry(group[0].1.clone()).or_default() += value;
            }
            sums
        };
        let expected = BTreeMap::from([
            ("A".to_owned(), Decimal::from(11)),
            ("B".to_owned(), Decimal::from(20)),
        ]);
        let answered = engine
            .series_windows("revenue_by_sku_today", day, 2 * day)
            .expect("known KPI");
        assert_eq!(
            sums(
                answered
                    .into_iter()
                    .flat_map(|window| window.values)
                    .collect()
            ),
            expected,
            "answered from memory"
        );
        let handed_over = engine
            .take_closed()
            .into_iter()
            .filter(|closed| closed.window.starts_with("series/"))
            .flat_map(|closed| closed.values)
            .collect();
        assert_eq!(sums(handed_over), expected, "handed over to history");
    }
}
