//! Declarative KPI definitions, as users write them in TOML.
//!
//! ```toml
//! [[kpi]]
//! name = "average_order_value"
//! description = "Mean order total"
//! events = ["order.created"]
//! value = "data.total"
//! aggregate = "mean"
//! group_by = ["data.channel"]
//! windows = [{ sliding = "1h", every = "1m" }]
//! ```

use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use sightline_model::{EventType, FieldKind};

use crate::calendar::Calendar;
use crate::error::EngineError;
use crate::filter::Filter;
use crate::window::WindowSpec;

/// A file of KPI definitions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiPack {
    #[serde(rename = "kpi", default)]
    pub kpis: Vec<KpiDefinition>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiDefinition {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Event types read (CloudEvents `type`).
    pub events: Vec<String>,
    /// Field path of the value (`data.total`); absent for a count.
    #[serde(default)]
    pub value: Option<String>,
    pub aggregate: AggregateKind,
    /// Only events for which this holds count, e.g. `data.status >= 500`.
    #[serde(default)]
    pub filter: Option<String>,
    /// Field paths whose values split the KPI into groups.
    #[serde(default)]
    pub group_by: Vec<String>,
    pub windows: Vec<WindowDefinition>,
    /// For `quantiles`: which ones (default p50, p95, p99).
    #[serde(default)]
    pub quantiles: Option<Vec<f64>>,
    /// For `ratio`: the two sides, each a count (or a distinct count) of the events it
    /// selects; `complement` reports 1 - ratio.
    #[serde(default)]
    pub numerator: Option<RatioSideDefinition>,
    #[serde(default)]
    pub denominator: Option<RatioSideDefinition>,
    #[serde(default)]
    pub complement: bool,
    /// Report only the groups with the largest values, this many.
    #[serde(default)]
    pub top: Option<usize>,
    /// For `level`: the event types whose `value` sets the level; the others add `delta`.
    #[serde(default)]
    pub set_events: Vec<String>,
    #[serde(default)]
    pub delta: Option<String>,
    /// For `state_counts` and `deadlines`: the field that identifies a tracked thing (an
    /// order); `value` is its state.
    #[serde(default)]
    pub key: Option<String>,
    /// For `state_counts`: states that have left (not counted).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// For `deadlines`: the field holding the deadline (RFC 3339), and the states that
    /// meet it.
    #[serde(default)]
    pub deadline: Option<String>,
    #[serde(default)]
    pub done: Vec<String>,
    /// Read the KPI once per element of this array field (e.g. `data.lines`); `line.x`
    /// paths name members of the element.
    #[serde(default)]
    pub each: Option<String>,
    /// For `sums`: named sums, each a field path or a product of paths
    /// (`line.quantity * line.price`); the value is `{count, name: sum, …}`.
    #[serde(default)]
    pub values: std::collections::BTreeMap<String, String>,
    /// For `sums` with `top`: the named sum that orders the groups.
    #[serde(default)]
    pub sort_by: Option<String>,
    /// For `level`: the level at or under which a group is `low` (its reorder point);
    /// at 0 or below it is `out`. The value then reads `{level, status}`.
    #[serde(default)]
    pub low_at: Option<Decimal>,
    /// For `level` with `low_at`: the group-by field whose value picks a configured
    /// reorder point (`[kpis.reorder_points]`), `low_at` being the default.
    #[serde(default)]
    pub low_at_by: Option<String>,
    /// For `status_time`: the state whose time is not counted as down (e.g. "running").
    #[serde(default)]
    pub up_state: Option<String>,
    /// For `sessions`: the inactivity that ends a session of a `key`.
    #[serde(default, deserialize_with = "optional_duration")]
    pub gap: Option<Duration>,
    /// Carry a comparison with the same time `days_back` local days earlier (the same
    /// weekday last week for 7), up to the same time of day; for `count` and `sum`.
    #[serde(default)]
    pub compare: Option<CompareDefinition>,
}

/// `compare = { days_back = 7 }`: each window also reports the value of the same span
/// that many local days earlier, cut at the same time of day while the window is open.
/// It is summed from a hidden series of windows of `resolution` (default 1 minute).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareDefinition {
    pub days_back: u32,
    #[serde(default, deserialize_with = "optional_duration")]
    pub resolution: Option<Duration>,
}

/// One side of a ratio: events of these types (default: all the KPI reads) that pass the
/// filter, counted, or counted by distinct value of a field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioSideDefinition {
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default)]
    pub distinct: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateKind {
    Count,
    Sum,
    Mean,
    Min,
    Max,
    /// Distinct values of `value` (exact below 1,000, HyperLogLog above).
    Distinct,
    /// Quantiles of `value` (DDSketch, 1 % relative error).
    Quantiles,
    /// `numerator` ÷ `denominator`.
    Ratio,
    /// The value of the event with the latest event time.
    Latest,
    /// A level: the last `value` of a `set_events` event plus every later `delta`, in
    /// event-time order (inventory on hand).
    Level,
    /// How many keys are in each state, by each key's latest state (a pipeline).
    StateCounts,
    /// Keys whose deadline has passed by the watermark while their latest state is not
    /// among `done` (a timer per key: no event is needed to become late).
    Deadlines,
    /// A count and several named sums (`values`).
    Sums,
    /// Per group: the latest `value` (a status) and the minutes spent out of `up_state`
    /// within the window (a line's downtime today).
    StatusTime,
    /// Session windows per `key` (closed after `gap` without events): each closed session
    /// contributes the sum of its `value`s at its close; windows report the mean per
    /// session and the session count.
    Sessions,
}

impl AggregateKind {
    /// The name used in definitions (`state_counts`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateKind::Count => "count",
            AggregateKind::Sum => "sum",
            AggregateKind::Mean => "mean",
            AggregateKind::Min => "min",
            AggregateKind::Max => "max",
            AggregateKind::Distinct => "distinct",
            AggregateKind::Quantiles => "quantiles",
            AggregateKind::Ratio => "ratio",
            AggregateKind::Latest => "latest",
            AggregateKind::Level => "level",
            AggregateKind::StateCounts => "state_counts",
            AggregateKind::Deadlines => "deadlines",
            AggregateKind::Sums => "sums",
            AggregateKind::StatusTime => "status_time",
            AggregateKind::Sessions => "sessions",
        }
    }
}

/// `{ tumbling = "1m" }`, `{ sliding = "1h", every = "1m" }` or `{ calendar = "day" }`
/// (local midnight to midnight in the business time zone).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowDefinition {
    #[serde(default, deserialize_with = "optional_duration")]
    pub tumbling: Option<Duration>,
    #[serde(default, deserialize_with = "optional_duration")]
    pub sliding: Option<Duration>,
    #[serde(default, deserialize_with = "optional_duration")]
    pub every: Option<Duration>,
    #[serde(default)]
    pub calendar: Option<String>,
    /// `{ current = true }`: no time window, the state as of now (for `latest`).
    #[serde(default)]
    pub current: bool,
}

fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map(Some).map_err(|error| {
        serde::de::Error::custom(format!(
            "expected a duration such as \"1m\", got {text:?} ({error})"
        ))
    })
}

/// Where a field is read from: a CloudEvents attribute or a member of `data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldPath {
    Attribute(String),
    Data(String),
    /// A member of the element being read when the KPI reads `each` element of an array.
    Element(String),
}

impl FieldPath {
    pub fn parse(text: &str) -> Option<FieldPath> {
        let valid_name = |name: &str| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        };
        if let Some(member) = text.strip_prefix("data.") {
            return valid_name(member).then(|| FieldPath::Data(member.to_owned()));
        }
        if let Some(member) = text.strip_prefix("line.") {
            return valid_name(member).then(|| FieldPath::Element(member.to_owned()));
        }
        valid_name(text).then(|| FieldPath::Attribute(text.to_owned()))
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldPath::Attribute(name) => formatter.write_str(name),
            FieldPath::Data(name) => write!(formatter, "data.{name}"),
            FieldPath::Element(name) => write!(formatter, "line.{name}"),
        }
    }
}

/// A definition checked and ready to run.
#[derive(Debug, Clone)]
pub struct CompiledKpi {
    pub name: String,
    pub description: String,
    pub events: Vec<String>,
    pub value: Option<FieldPath>,
    /// The value is money: convert it with the event's `data.currency`.
    pub value_is_money: bool,
    pub aggregate: AggregateKind,
    pub filter: Option<Filter>,
    pub group_by: Vec<FieldPath>,
    pub windows: Vec<WindowSpec>,
    pub quantiles: Vec<f64>,
    pub ratio: Option<CompiledRatio>,
    pub top: Option<usize>,
    pub set_events: Vec<String>,
    pub delta: Option<FieldPath>,
    pub key: Option<FieldPath>,
    pub exclude: Vec<String>,
    pub deadline: Option<FieldPath>,
    pub done: Vec<String>,
    pub each: Option<FieldPath>,
    /// Named sums: each a product of field paths.
    pub sums: Vec<(String, Vec<FieldPath>)>,
    /// Which products convert money (they multiply a money field).
    pub sums_are_money: Vec<bool>,
    /// The sum that orders groups for `top` (index into `sums`).
    pub sort_sum: usize,
    /// For sessions: the inactivity gap.
    pub gap_us: i64,
    /// For levels: the reorder point.
    pub low_at: Option<Decimal>,
    /// For levels: which group-by field's value picks a configured reorder point.
    pub low_at_by: Option<usize>,
    /// For status time: the state that is not down time.
    pub up_state: String,
    pub compare: Option<Compare>,
}

/// A compiled `compare`: the shift in local days and the series it is summed from.
#[derive(Debug, Clone)]
pub struct Compare {
    pub days_back: u32,
    pub calendar: Calendar,
    /// The hidden tumbling series, e.g. 1 minute.
    pub series: WindowSpec,
}

impl Compare {
    /// The span `days_back` local days before `[start, until)`, at the same local times.
    pub fn previous_span(&self, start_us: i64, until_us: i64) -> (i64, i64) {
        (
            self.calendar.days_earlier(start_us, self.days_back),
            self.calendar.days_earlier(until_us, self.days_back),
        )
    }
}

#[derive(Debug, Clone)]
pub struct CompiledRatio {
    pub numerator: CompiledSide,
    pub denominator: CompiledSide,
    pub complement: bool,
}

#[derive(Debug, Clone)]
pub struct CompiledSide {
    /// `None`: every event type the KPI reads.
    pub events: Option<Vec<String>>,
    pub filter: Option<Filter>,
    pub distinct: Option<FieldPath>,
}

impl KpiPack {
    pub fn from_toml(text: &str, origin: &str) -> Result<KpiPack, EngineError> {
        toml::from_str(text).map_err(|error| {
            let line = error
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            EngineError::Parse {
                origin: origin.to_owned(),
                message: match line {
                    Some(line) => format!("line {line}: {}", error.message().trim()),
                    None => error.message().trim().to_owned(),
                },
            }
        })
    }

    /// Checks every definition; calendar windows use `calendar`, the business time zone.
    pub fn compile(&self, calendar: &Calendar) -> Result<Vec<CompiledKpi>, EngineError> {
        let mut compiled: Vec<CompiledKpi> = Vec::with_capacity(self.kpis.len());
        for definition in &self.kpis {
            if compiled.iter().any(|kpi| kpi.name == definition.name) {
                return Err(EngineError::DuplicateKpi(definition.name.clone()));
            }
            compiled.push(definition.compile(calendar)?);
        }
        Ok(compiled)
    }
}

impl KpiDefinition {
    fn compile(&self, calendar: &Calendar) -> Result<CompiledKpi, EngineError> {
        let invalid = |message: String| EngineError::InvalidKpi {
            kpi: self.name.clone(),
            message,
        };
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
        {
            return Err(invalid(
                "name: use lower-case letters, digits and '_'".into(),
            ));
        }
        if self.events.is_empty() {
            return Err(invalid("events: name at least one event type".into()));
        }
        let value = match &self.value {
            None => None,
            Some(text) => Some(FieldPath::parse(text).ok_or_else(|| {
                invalid(format!(
                    "value: {text:?} is not a field path such as \"data.total\""
                ))
            })?),
        };
        let needs_value = !matches!(
            self.aggregate,
            AggregateKind::Count
                | AggregateKind::Ratio
                | AggregateKind::Sums
                | AggregateKind::Sessions
        );
        if self.aggregate == AggregateKind::StatusTime && self.up_state.is_none() {
            return Err(invalid(
                "aggregate \"status_time\" needs `up_state`, e.g. up_state = \"running\"".into(),
            ));
        }
        if self.aggregate == AggregateKind::Sessions
            && (self.key.is_none() || self.gap.is_none_or(|gap| gap.is_zero()))
        {
            return Err(invalid("aggregate \"sessions\" needs `key` (e.g. data.session_id) and a non-zero `gap` (e.g. \"30m\")".into()));
        }
        if value.is_none() && needs_value {
            return Err(invalid(format!(
                "aggregate {:?} needs a `value` field path",
                self.aggregate
            )));
        }
        let filter = match &self.filter {
            None => None,
            Some(text) => {
                Some(Filter::parse(text).map_err(|message| invalid(format!("filter: {message}")))?)
            }
        };
        let ratio = match (self.aggregate, &self.numerator, &self.denominator) {
            (AggregateKind::Ratio, Some(numerator), Some(denominator)) => Some(CompiledRatio {
                numerator: numerator
                    .compile(&self.events)
                    .map_err(|message| invalid(format!("numerator: {message}")))?,
                denominator: denominator
                    .compile(&self.events)
                    .map_err(|message| invalid(format!("denominator: {message}")))?,
                complement: self.complement,
            }),
            (AggregateKind::Ratio, _, _) => {
                return Err(invalid("aggregate \"ratio\" needs `numerator` and `denominator`, e.g. numerator = { filter = \"data.status >= 500\" }, denominator = {}".into()));
            }
            (_, None, None) => None,
            _ => {
                return Err(invalid(
                    "`numerator` and `denominator` belong to aggregate \"ratio\"".into(),
                ));
            }
        };
        let path = |name: &str, text: &Option<String>| -> Result<Option<FieldPath>, EngineError> {
            match text {
                None => Ok(None),
                Some(text) => FieldPath::parse(text)
                    .map(Some)
                    .ok_or_else(|| invalid(format!("{name}: {text:?} is not a field path"))),
            }
        };
        let delta = path("delta", &self.delta)?;
        let key = path("key", &self.key)?;
        let deadline = path("deadline", &self.deadline)?;
        match self.aggregate {
            AggregateKind::Level if delta.is_none() || self.set_events.is_empty() => {
                return Err(invalid("aggregate \"level\" needs `set_events` and `delta` (and `value` for the level they set)".into()));
            }
            AggregateKind::StateCounts if key.is_none() => {
                return Err(invalid("aggregate \"state_counts\" needs `key` (what is tracked) and `value` (its state)".into()));
            }
            AggregateKind::Deadlines
                if key.is_none() || deadline.is_none() || self.done.is_empty() =>
            {
                return Err(invalid("aggregate \"deadlines\" needs `key`, `value` (the state), `deadline` and `done`".into()));
            }
            _ => {}
        }
        let each = path("each", &self.each)?;
        let mut sums: Vec<(String, Vec<FieldPath>)> = Vec::new();
        for (name, expression) in &self.values {
            let factors = expression
                .split('*')
                .map(|factor| FieldPath::parse(factor.trim()).ok_or_else(|| invalid(format!("values.{name}: {factor:?} is not a field path; write a path or a product such as \"line.quantity * line.price\""))))
                .collect::<Result<Vec<_>, _>>()?;
            sums.push((name.clone(), factors));
        }
        if each.is_some() && self.aggregate != AggregateKind::Sums {
            return Err(invalid("`each` goes with aggregate \"sums\"".into()));
        }
        if self.aggregate == AggregateKind::Sums && sums.is_empty() {
            return Err(invalid(
                "aggregate \"sums\" needs `values`, e.g. values = { revenue = \"data.total\" }"
                    .into(),
            ));
        }
        if let Some(sort_by) = &self.sort_by
            && !self.values.contains_key(sort_by)
        {
            return Err(invalid(format!(
                "sort_by: {sort_by:?} is not one of `values`"
            )));
        }
        if each.is_none()
            && sums
                .iter()
                .flat_map(|(_, factors)| factors)
                .any(|path| matches!(path, FieldPath::Element(_)))
        {
            return Err(invalid(
                "`line.` paths need `each`, e.g. each = \"data.lines\"".into(),
            ));
        }
        let is_money = |path: &FieldPath| match path {
            FieldPath::Data(member) => self.events.iter().any(|name| {
                EventType::parse(name).is_some_and(|event_type| {
                    event_type
                        .fields()
                        .iter()
                        .any(|field| field.name == member && field.kind == FieldKind::Money)
                })
            }),
            FieldPath::Element(member) => sightline_model::catalogue::LINE_FIELDS
                .iter()
                .any(|field| field.name == member && field.kind == FieldKind::Money),
            FieldPath::Attribute(_) => false,
        };
        let sums_are_money = sums
            .iter()
            .map(|(_, factors)| factors.iter().any(is_money))
            .collect();
        let quantiles = self
            .quantiles
            .clone()
            .unwrap_or_else(|| vec![0.5, 0.95, 0.99]);
        if quantiles.iter().any(|q| !(0.0..=1.0).contains(q)) {
            return Err(invalid(
                "quantiles: each is between 0 and 1, e.g. [0.5, 0.95, 0.99]".into(),
            ));
        }
        if self.group_by.len() > crate::engine::MAX_GROUP_BY {
            return Err(invalid(format!(
                "group_by: at most {} fields",
                crate::engine::MAX_GROUP_BY
            )));
        }
        let group_by = self
            .group_by
            .iter()
            .map(|text| {
                FieldPath::parse(text)
                    .ok_or_else(|| invalid(format!("group_by: {text:?} is not a field path")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.windows.is_empty() {
            return Err(invalid("windows: give at least one window".into()));
        }
        let windows = self
            .windows
            .iter()
            .map(|window| window.compile(calendar).map_err(&invalid))
            .collect::<Result<Vec<_>, _>>()?;
        let value_is_money = match &value {
            Some(FieldPath::Data(member)) => self.events.iter().any(|name| {
                EventType::parse(name).is_some_and(|event_type| {
                    event_type
                        .fields()
                        .iter()
                        .any(|field| field.name == member && field.kind == FieldKind::Money)
                })
            }),
            _ => false,
        };
        let low_at_by = match &self.low_at_by {
            None => None,
            Some(text) => {
                if self.aggregate != AggregateKind::Level || self.low_at.is_none() {
                    return Err(invalid(
                        "low_at_by: goes with aggregate \"level\" and a default `low_at`".into(),
                    ));
                }
                let position = group_by
                    .iter()
                    .position(|path| FieldPath::parse(text).as_ref() == Some(path))
                    .ok_or_else(|| {
                        invalid(format!("low_at_by: {text:?} must be one of `group_by`"))
                    })?;
                Some(position)
            }
        };
        let compare = match &self.compare {
            None => None,
            Some(compare) => {
                if !matches!(self.aggregate, AggregateKind::Count | AggregateKind::Sum) {
                    return Err(invalid(
                        "compare: only `count` and `sum` add up over a span; use it with one of them".into(),
                    ));
                }
                if compare.days_back == 0 {
                    return Err(invalid(
                        "compare.days_back: at least 1, e.g. 7 for the same weekday last week"
                            .into(),
                    ));
                }
                let resolution = compare.resolution.unwrap_or(Duration::from_secs(60));
                let step_us = i64::try_from(resolution.as_micros()).unwrap_or(i64::MAX);
                if step_us < 1_000_000 || 86_400_000_000 % step_us != 0 {
                    return Err(invalid("compare.resolution: a whole number of seconds that divides a day, e.g. \"1m\"".into()));
                }
                Some(Compare {
                    days_back: compare.days_back,
                    calendar: calendar.clone(),
                    series: WindowSpec::Tumbling { size_us: step_us },
                })
            }
        };
        Ok(CompiledKpi {
            name: self.name.clone(),
            description: self.description.clone(),
            events: self.events.clone(),
            value,
            value_is_money,
            aggregate: self.aggregate,
            filter,
            group_by,
            windows,
            quantiles,
            ratio,
            top: self.top,
            set_events: self.set_events.clone(),
            delta,
            key,
            exclude: self.exclude.clone(),
            deadline,
            done: self.done.clone(),
            each,
            sort_sum: self
                .sort_by
                .as_ref()
                .and_then(|name| sums.iter().position(|(sum, _)| sum == name))
                .unwrap_or(0),
            sums,
            sums_are_money,
            gap_us: self
                .gap
                .map_or(0, |gap| i64::try_from(gap.as_micros()).unwrap_or(i64::MAX)),
            low_at: self.low_at,
            low_at_by,
            up_state: self.up_state.clone().unwrap_or_default(),
            compare,
        })
    }
}

impl RatioSideDefinition {
    fn compile(&self, kpi_events: &[String]) -> Result<CompiledSide, String> {
        if let Some(events) = &self.events
            && let Some(stranger) = events.iter().find(|event| !kpi_events.contains(event))
        {
            return Err(format!(
                "event type {stranger:?} is not among the KPI's `events`"
            ));
        }
        let filter = self.filter.as_deref().map(Filter::parse).transpose()?;
        let distinct = match &self.distinct {
            None => None,
            Some(text) => Some(
                FieldPath::parse(text)
                    .ok_or_else(|| format!("distinct: {text:?} is not a field path"))?,
            ),
        };
        Ok(CompiledSide {
            events: self.events.clone(),
            filter,
            distinct,
        })
    }
}

impl WindowDefinition {
    fn compile(&self, calendar: &Calendar) -> Result<WindowSpec, String> {
        let micros = |duration: Duration| i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        if self.current {
            if self.calendar.is_some()
                || self.tumbling.is_some()
                || self.sliding.is_some()
                || self.every.is_some()
            {
                return Err("windows: { current = true } stands alone".into());
            }
            return Ok(WindowSpec::Current);
        }
        if let Some(unit) = &self.calendar {
            if unit != "day"
                || self.tumbling.is_some()
                || self.sliding.is_some()
                || self.every.is_some()
            {
                return Err(format!(
                    "windows: a calendar window is {{ calendar = \"day\" }} alone, got calendar = {unit:?}"
                ));
            }
            return Ok(WindowSpec::Day(calendar.clone()));
        }
        match (self.tumbling, self.sliding, self.every) {
            (Some(size), None, None) if !size.is_zero() => Ok(WindowSpec::Tumbling { size_us: micros(size) }),
            (None, Some(size), Some(slide)) if !size.is_zero() && !slide.is_zero() => {
                let (size_us, slide_us) = (micros(size), micros(slide));
                if size_us % slide_us != 0 {
                    return Err(format!("windows: a sliding window's size must be a whole multiple of `every` ({size:?} over {slide:?})"));
                }
                Ok(WindowSpec::Sliding { size_us, slide_us })
            }
            _ => Err("windows: each window is { tumbling = \"1m\" }, { sliding = \"1h\", every = \"1m\" } (non-zero durations) or { calendar = \"day\" }".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pack_compiles_and_knows_money() {
        let pack = KpiPack::from_toml(
            r#"
[[kpi]]
name = "orders"
events = ["order.created"]
aggregate = "count"
windows = [{ tumbling = "1m" }, { tumbling = "1h" }]

[[kpi]]
name = "average_order_value"
events = ["order.created"]
value = "data.total"
aggregate = "mean"
group_by = ["data.channel"]
windows = [{ sliding = "1h", every = "1m" }]
"#,
            "test",
        )
        .expect("valid TOML");
        let kpis = pack.compile(&Calendar::utc()).expect("valid pack");
        assert_eq!(
            kpis[0].windows,
            vec![
                WindowSpec::Tumbling {
                    size_us: 60_000_000
                },
                WindowSpec::Tumbling {
                    size_us: 3_600_000_000
                }
            ]
        );
        assert!(kpis[1].value_is_money);
        assert_eq!(kpis[1].group_by, vec![FieldPath::Data("channel".into())]);
    }

    #[test]
    fn aggregate_names_match_what_definitions_say() {
        use AggregateKind::*;
        for kind in [
            Count,
            Sum,
            Mean,
            Min,
            Max,
            Distinct,
            Quantiles,
            Ratio,
            Latest,
            Level,
            StateCounts,
            Deadlines,
            Sums,
            StatusTime,
            Sessions,
        ] {
            let parsed: AggregateKind = toml::from_str::<
                std::collections::BTreeMap<String, AggregateKind>,
            >(&format!("a = \"{}\"", kind.as_str()))
            .expect("a known name")["a"];
            assert_eq!(parsed, kind);
        }
    }

    #[test]
    fn the_builtin_commerce_pack_compiles() {
        let kpis = KpiPack::from_toml(crate::COMMERCE_PACK, "commerce")
            .and_then(|pack| pack.compile(&Calendar::utc()))
            .expect("valid pack");
        assert!(kpis.iter().any(|kpi| kpi.name == "orders"));
        assert!(
            kpis.iter()
                .find(|kpi| kpi.name == "revenue_today")
                .is_some_and(|kpi| kpi.value_is_money)
        );
    }

    #[test]
    fn errors_name_the_kpi_and_the_problem() {
        let compile = |text: &str| {
            KpiPack::from_toml(text, "test")
                .and_then(|pack| pack.compile(&Calendar::utc()))
                .expect_err("invalid")
                .to_string()
        };
        assert!(compile("[[kpi]]\nname = \"x\"\nevents = [\"a\"]\naggregate = \"sum\"\nwindows = [{ tumbling = \"1m\" }]\n").contains("needs a `value`"));
        assert!(compile("[[kpi]]\nname = \"x\"\nevents = [\"a\"]\naggregate = \"count\"\nwindows = [{ sliding = \"1h\", every = \"7m\" }]\n").contains("whole multiple"));
        assert!(
            compile(
                "[[kpi]]\nname = \"x\"\nevents = [\"a\"]\naggregate = \"median\"\nwindows = []\n"
            )
            .starts_with("test: line 4")
        );
        assert!(compile("[[kpi]]\nname = \"x\"\nevents = [\"a\"]\naggregate = \"count\"\nwindows = [{ tumbling = \"1m\" }]\nextra = 1\n").contains("extra"));
    }
}
