//! Accumulators: what a pane keeps per group, and how panes merge into a window.
//!
//! Every accumulator is mergeable (panes combine into windows, partial results from
//! several nodes combine into one). Counts, sums and money are exact decimals; distinct
//! counts and quantiles are sketches with the error bounds of kpis.md.

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::definition::{AggregateKind, CompiledKpi};
use crate::sketch::{DistinctSketch, QuantileSketch};

/// What one event contributes to one KPI.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Counted, no value.
    Event,
    Number(Decimal),
    /// Takes back a number added before (a closed session merged into another by a late
    /// event): one fewer, and its value out of the sum.
    Retract(Decimal),
    /// The hash of a value counted by distinct value.
    Distinct(u64),
    Sample(f64),
    Latest {
        time_us: i64,
        value: LatestValue,
    },
    Ratio {
        numerator: Option<SideHit>,
        denominator: Option<SideHit>,
    },
    /// For a level: an absolute value (`set`) or a change.
    Level {
        time_us: i64,
        set: bool,
        value: Decimal,
    },
    /// For state counts and deadlines: a tracked key's state, and its deadline if the
    /// event carries one.
    State {
        time_us: i64,
        key: String,
        state: String,
        deadline_us: Option<i64>,
    },
    /// For named sums: one value per sum.
    Sums(Vec<Decimal>),
    /// For status time: a state from this time on.
    Status {
        time_us: i64,
        state: String,
    },
}

/// How an event counts on one side of a ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideHit {
    Event,
    Distinct(u64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LatestValue {
    Number(Decimal),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Side {
    Count(u64),
    Distinct(Box<DistinctSketch>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Accumulator {
    Count(u64),
    Sum(Decimal),
    Mean {
        sum: Decimal,
        count: u64,
    },
    Min(Option<Decimal>),
    Max(Option<Decimal>),
    Distinct(Box<DistinctSketch>),
    Quantiles(Box<QuantileSketch>),
    Ratio {
        numerator: Side,
        denominator: Side,
    },
    Latest(Option<(i64, LatestValue)>),
    Level(Box<Level>),
    /// Latest state (and deadline) per tracked key.
    States(Box<FxHashMap<String, KeyState>>),
    Sums {
        count: u64,
        sums: Vec<Decimal>,
    },
    /// Status changes in event-time order.
    Transitions(Vec<(i64, String)>),
}

/// Level changes: (event time, change).
type Changes = Vec<(i64, Decimal)>;

/// The last absolute value and the changes after it, in event time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Level {
    base: Option<(i64, Decimal)>,
    /// Changes later than `base` (an earlier change is already in the absolute value).
    changes: Vec<(i64, Decimal)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyState {
    time_us: i64,
    state: String,
    deadline_us: Option<i64>,
}

impl Level {
    fn apply(&mut self, time_us: i64, set: bool, value: Decimal) {
        if set {
            if self.base.is_some_and(|(base_time, _)| base_time > time_us) {
                return;
            }
            self.base = Some((time_us, value));
            self.changes
                .retain(|(change_time, _)| *change_time > time_us);
            return;
        }
        if self.base.is_some_and(|(base_time, _)| base_time >= time_us) {
            return;
        }
        self.changes.push((time_us, value));
    }

    /// Folds changes older than `closed_before` into the absolute value: no event that
    /// old can arrive any more, and a later absolute value replaces them anyway.
    fn fold_before(&mut self, closed_before: i64) {
        let (old, recent): (Changes, Changes) = self
            .changes
            .drain(..)
            .partition(|(time_us, _)| *time_us < closed_before);
        self.changes = recent;
        for (time_us, change) in old {
            let (base_time, base_value) = self.base.unwrap_or((time_us, Decimal::ZERO));
            self.base = Some((base_time.max(time_us), base_value.saturating_add(change)));
        }
    }

    fn value(&self) -> Decimal {
        let base = self.base.map_or(Decimal::ZERO, |(_, value)| value);
        base + self
            .changes
            .iter()
            .map(|(_, change)| *change)
            .sum::<Decimal>()
    }
}

/// A window's value for one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AggregateValue {
    Count(u64),
    Decimal(Decimal),
    Text(String),
    /// (label such as `p95`, value) pairs.
    Quantiles(Vec<(String, Option<f64>)>),
    /// A level against its reorder point: `ok`, `low` or `out`.
    Stock {
        level: Decimal,
        status: StockStatus,
    },
    /// The latest state and the minutes out of the up state.
    Status {
        state: String,
        down_minutes: Decimal,
    },
    /// Count per state.
    Counts(Vec<(String, u64)>),
    /// A count and named sums; `sort_sum` orders groups for `top`.
    Named {
        count: u64,
        sums: Vec<(String, Decimal)>,
        sort_sum: usize,
    },
    /// Keys past their deadline: how many, and the oldest (key, deadline, state).
    Overdue {
        count: u64,
        oldest: Vec<(String, i64, String)>,
    },
    /// No value (a mean, min, max or ratio over nothing).
    Empty,
}

/// A stock level against its reorder point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockStatus {
    Ok,
    Low,
    Out,
}

impl StockStatus {
    /// Out at or under 0, low at or under the reorder point, else ok.
    pub fn of(level: Decimal, reorder_point: Decimal) -> StockStatus {
        if level <= Decimal::ZERO {
            StockStatus::Out
        } else if level <= reorder_point {
            StockStatus::Low
        } else {
            StockStatus::Ok
        }
    }
}

impl StockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StockStatus::Ok => "ok",
            StockStatus::Low => "low",
            StockStatus::Out => "out",
        }
    }
}

/// Overdue keys listed by a deadlines KPI (the count covers all).
const OLDEST_LISTED: usize = 10;

impl Accumulator {
    pub fn new(kpi: &CompiledKpi) -> Accumulator {
        match kpi.aggregate {
            AggregateKind::Count => Accumulator::Count(0),
            AggregateKind::Sum => Accumulator::Sum(Decimal::ZERO),
            // A closed session adds its total: the window keeps their sum and count.
            AggregateKind::Sessions => Accumulator::Mean {
                sum: Decimal::ZERO,
                count: 0,
            },
            AggregateKind::Mean => Accumulator::Mean {
                sum: Decimal::ZERO,
                count: 0,
            },
            AggregateKind::Min => Accumulator::Min(None),
            AggregateKind::Max => Accumulator::Max(None),
            AggregateKind::Distinct => Accumulator::Distinct(Box::default()),
            AggregateKind::Quantiles => Accumulator::Quantiles(Box::default()),
            AggregateKind::Latest => Accumulator::Latest(None),
            AggregateKind::Level => Accumulator::Level(Box::default()),
            AggregateKind::StatusTime => Accumulator::Transitions(Vec::new()),
            AggregateKind::Sums => Accumulator::Sums {
                count: 0,
                sums: vec![Decimal::ZERO; kpi.sums.len()],
            },
            AggregateKind::StateCounts | AggregateKind::Deadlines => {
                Accumulator::States(Box::default())
            }
            AggregateKind::Ratio => {
                let side = |distinct: bool| {
                    if distinct {
                        Side::Distinct(Box::default())
                    } else {
                        Side::Count(0)
                    }
                };
                let (numerator, denominator) = match &kpi.ratio {
                    Some(ratio) => (
                        side(ratio.numerator.distinct.is_some()),
                        side(ratio.denominator.distinct.is_some()),
                    ),
                    None => (Side::Count(0), Side::Count(0)),
                };
                Accumulator::Ratio {
                    numerator,
                    denominator,
                }
            }
        }
    }

    pub fn add(&mut self, input: &Input) {
        match (self, input) {
            (Accumulator::Count(count), _) => *count += 1,
            (Accumulator::Sum(sum), Input::Number(value)) => *sum = sum.saturating_add(*value),
            (Accumulator::Mean { sum, count }, Input::Number(value)) => {
                *sum = sum.saturating_add(*value);
                *count += 1;
            }
            (Accumulator::Mean { sum, count }, Input::Retract(value)) => {
                *sum = sum.saturating_sub(*value);
                *count = count.saturating_sub(1);
            }
            (Accumulator::Min(min), Input::Number(value)) => {
                *min = Some(min.map_or(*value, |current| current.min(*value)))
            }
            (Accumulator::Max(max), Input::Number(value)) => {
                *max = Some(max.map_or(*value, |current| current.max(*value)))
            }
            (Accumulator::Distinct(sketch), Input::Distinct(hash)) => sketch.insert_hash(*hash),
            (Accumulator::Quantiles(sketch), Input::Sample(value)) => sketch.insert(*value),
            (Accumulator::Latest(latest), Input::Latest { time_us, value })
                // Ties go to the later arrival, as a live reader would have seen it.
                if latest
                    .as_ref()
                    .is_none_or(|(current, _)| *time_us >= *current)
                => {
                    *latest = Some((*time_us, value.clone()));
                }
            (
                Accumulator::Ratio {
                    numerator,
                    denominator,
                },
                Input::Ratio {
                    numerator: top,
                    denominator: bottom,
                },
            ) => {
                if let Some(hit) = top {
                    numerator.add(*hit);
                }
                if let Some(hit) = bottom {
                    denominator.add(*hit);
                }
            }
            (Accumulator::Level(level), Input::Level { time_us, set, value }) => level.apply(*time_us, *set, *value),
            (Accumulator::Transitions(changes), Input::Status { time_us, state }) => {
                // Kept in event-time order so a late change lands where it happened.
                let at = changes.partition_point(|(time, _)| *time <= *time_us);
                changes.insert(at, (*time_us, state.clone()));
            }
            (Accumulator::Sums { count, sums }, Input::Sums(values)) => {
                *count += 1;
                for (sum, value) in sums.iter_mut().zip(values) {
                    *sum = sum.saturating_add(*value);
                }
            }
            (Accumulator::States(states), Input::State { time_us, key, state, deadline_us }) => {
                let entry = states.entry(key.clone()).or_insert_with(|| KeyState {
                    time_us: *time_us,
                    state: state.clone(),
                    deadline_us: None,
                });
                // The deadline is remembered whichever event carried it.
                if deadline_us.is_some() {
                    entry.deadline_us = *deadline_us;
                }
                if *time_us >= entry.time_us {
                    entry.time_us = *time_us;
                    entry.state.clone_from(state);
                }
            }
            _ => {}
        }
    }

    pub fn merge(&mut self, other: &Accumulator) {
        match (self, other) {
            (Accumulator::Count(count), Accumulator::Count(more)) => *count += more,
            (Accumulator::Sum(sum), Accumulator::Sum(more)) => *sum = sum.saturating_add(*more),
            (
                Accumulator::Mean { sum, count },
                Accumulator::Mean {
                    sum: more_sum,
                    count: more_count,
                },
            ) => {
                *sum = sum.saturating_add(*more_sum);
                *count += more_count;
            }
            (Accumulator::Min(min), Accumulator::Min(Some(other))) => {
                *min = Some(min.map_or(*other, |current| current.min(*other)))
            }
            (Accumulator::Max(max), Accumulator::Max(Some(other))) => {
                *max = Some(max.map_or(*other, |current| current.max(*other)))
            }
            (Accumulator::Distinct(sketch), Accumulator::Distinct(other)) => sketch.merge(other),
            (Accumulator::Quantiles(sketch), Accumulator::Quantiles(other)) => sketch.merge(other),
            (Accumulator::Latest(latest), Accumulator::Latest(Some((time_us, value))))
                if latest
                    .as_ref()
                    .is_none_or(|(current, _)| *time_us >= *current) =>
            {
                *latest = Some((*time_us, value.clone()));
            }
            (
                Accumulator::Ratio {
                    numerator,
                    denominator,
                },
                Accumulator::Ratio {
                    numerator: top,
                    denominator: bottom,
                },
            ) => {
                numerator.merge(top);
                denominator.merge(bottom);
            }
            (Accumulator::Transitions(changes), Accumulator::Transitions(other)) => {
                changes.extend(other.iter().cloned());
                changes.sort_by_key(|(time, _)| *time);
            }
            (
                Accumulator::Sums { count, sums },
                Accumulator::Sums {
                    count: more,
                    sums: other,
                },
            ) => {
                *count += more;
                for (sum, value) in sums.iter_mut().zip(other) {
                    *sum = sum.saturating_add(*value);
                }
            }
            (Accumulator::Level(level), Accumulator::Level(other)) => {
                if let Some((time_us, value)) = other.base {
                    level.apply(time_us, true, value);
                }
                for (time_us, change) in &other.changes {
                    level.apply(*time_us, false, *change);
                }
            }
            (Accumulator::States(states), Accumulator::States(other)) => {
                for (key, theirs) in other.iter() {
                    match states.get_mut(key) {
                        Some(ours) => {
                            if theirs.deadline_us.is_some() {
                                ours.deadline_us = theirs.deadline_us;
                            }
                            if theirs.time_us >= ours.time_us {
                                ours.time_us = theirs.time_us;
                                ours.state.clone_from(&theirs.state);
                            }
                        }
                        None => {
                            states.insert(key.clone(), theirs.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// Forgets what no future event can change: keys that left (an excluded or done
    /// state) and level changes, once they are older than `closed_before` (the event
    /// watermark less the allowed lateness: an event that old is rejected as late). Keeps
    /// current-state KPIs bounded by what is live, not by all history.
    pub fn compact(&mut self, kpi: &CompiledKpi, closed_before: i64) {
        match self {
            Accumulator::States(states) => {
                let gone = if kpi.aggregate == AggregateKind::Deadlines {
                    &kpi.done
                } else {
                    &kpi.exclude
                };
                states.retain(|_, entry| {
                    entry.time_us >= closed_before || !gone.contains(&entry.state)
                });
            }
            Accumulator::Level(level) => level.fold_before(closed_before),
            _ => {}
        }
    }

    /// The window's value; `watermark_us` decides which deadlines have passed.
    pub fn value(&self, kpi: &CompiledKpi, watermark_us: i64) -> AggregateValue {
        match self {
            Accumulator::Mean { sum, count } if kpi.aggregate == AggregateKind::Sessions => {
                // No session left (a late event merged the only one into a later one).
                if *count == 0 {
                    return AggregateValue::Empty;
                }
                let mean = (*sum / Decimal::from(*count)).round_dp(6);
                AggregateValue::Named {
                    count: *count,
                    sums: vec![("mean".to_owned(), mean.normalize())],
                    sort_sum: 0,
                }
            }
            Accumulator::Transitions(changes) => {
                let Some((_, latest)) = changes.last() else {
                    return AggregateValue::Empty;
                };
                // Down time: every interval whose state is not the up state, the last one
                // running until the window's end or the watermark, whichever is first.
                let mut down_us: i64 = 0;
                for (index, (time, state)) in changes.iter().enumerate() {
                    let until = changes
                        .get(index + 1)
                        .map_or(watermark_us, |(next, _)| *next);
                    if *state != kpi.up_state {
                        down_us += until.saturating_sub(*time).max(0);
                    }
                }
                AggregateValue::Status {
                    state: latest.clone(),
                    down_minutes: Decimal::from(down_us) / Decimal::from(60_000_000),
                }
            }
            Accumulator::Level(level) => {
                let value = level.value().normalize();
                match kpi.low_at {
                    None => AggregateValue::Decimal(value),
                    Some(low_at) => AggregateValue::Stock {
                        level: value,
                        status: StockStatus::of(value, low_at),
                    },
                }
            }
            Accumulator::Sums { count, sums } => AggregateValue::Named {
                count: *count,
                sums: kpi
                    .sums
                    .iter()
                    .zip(sums)
                    .map(|((name, _), sum)| (name.clone(), sum.normalize()))
                    .collect(),
                sort_sum: kpi.sort_sum,
            },
            Accumulator::States(states) if kpi.aggregate == AggregateKind::Deadlines => {
                let mut overdue: Vec<(&String, &KeyState)> = states
                    .iter()
                    .filter(|(_, entry)| {
                        entry
                            .deadline_us
                            .is_some_and(|deadline| deadline <= watermark_us)
                            && !kpi.done.contains(&entry.state)
                    })
                    .collect();
                overdue.sort_by_key(|(key, entry)| (entry.deadline_us, (*key).clone()));
                AggregateValue::Overdue {
                    count: overdue.len() as u64,
                    oldest: overdue
                        .iter()
                        .take(OLDEST_LISTED)
                        .map(|(key, entry)| {
                            (
                                (*key).clone(),
                                entry.deadline_us.unwrap_or_default(),
                                entry.state.clone(),
                            )
                        })
                        .collect(),
                }
            }
            Accumulator::States(states) => {
                let mut counts: std::collections::BTreeMap<String, u64> =
                    std::collections::BTreeMap::new();
                for entry in states.values() {
                    if !kpi.exclude.contains(&entry.state) {
                        *counts.entry(entry.state.clone()).or_default() += 1;
                    }
                }
                AggregateValue::Counts(counts.into_iter().collect())
            }
            Accumulator::Count(count) => AggregateValue::Count(*count),
            Accumulator::Sum(sum) => AggregateValue::Decimal(sum.normalize()),
            Accumulator::Mean { count: 0, .. } => AggregateValue::Empty,
            Accumulator::Mean { sum, count } => {
                AggregateValue::Decimal((*sum / Decimal::from(*count)).round_dp(6).normalize())
            }
            Accumulator::Min(value) | Accumulator::Max(value) => value
                .map_or(AggregateValue::Empty, |value| {
                    AggregateValue::Decimal(value.normalize())
                }),
            Accumulator::Distinct(sketch) => AggregateValue::Count(sketch.estimate()),
            Accumulator::Quantiles(sketch) => AggregateValue::Quantiles(
                kpi.quantiles
                    .iter()
                    .map(|q| (quantile_label(*q), sketch.quantile(*q)))
                    .collect(),
            ),
            Accumulator::Latest(None) => AggregateValue::Empty,
            Accumulator::Latest(Some((_, LatestValue::Number(value)))) => {
                AggregateValue::Decimal(value.normalize())
            }
            Accumulator::Latest(Some((_, LatestValue::Text(text)))) => {
                AggregateValue::Text(text.clone())
            }
            Accumulator::Ratio {
                numerator,
                denominator,
            } => {
                let bottom = denominator.total();
                if bottom == 0 {
                    return AggregateValue::Empty;
                }
                let ratio = Decimal::from(numerator.total()) / Decimal::from(bottom);
                let complement = kpi.ratio.as_ref().is_some_and(|ratio| ratio.complement);
                let ratio = if complement {
                    Decimal::ONE - ratio
                } else {
                    ratio
                };
                AggregateValue::Decimal(ratio.round_dp(6).normalize())
            }
        }
    }
}

impl Side {
    fn add(&mut self, hit: SideHit) {
        match (self, hit) {
            (Side::Count(count), _) => *count += 1,
            (Side::Distinct(sketch), SideHit::Distinct(hash)) => sketch.insert_hash(hash),
            (Side::Distinct(_), SideHit::Event) => {}
        }
    }

    fn merge(&mut self, other: &Side) {
        match (self, other) {
            (Side::Count(count), Side::Count(more)) => *count += more,
            (Side::Distinct(sketch), Side::Distinct(other)) => sketch.merge(other),
            _ => {}
        }
    }

    fn total(&self) -> u64 {
        match self {
            Side::Count(count) => *count,
            Side::Distinct(sketch) => sketch.estimate(),
        }
    }
}

/// `0.95` → `p95`, `0.999` → `p99.9`.
fn quantile_label(q: f64) -> String {
    let percent = (q * 1000.0).round() / 10.0;
    if percent.fract() == 0.0 {
        format!("p{}", percent as u64)
    } else {
        format!("p{percent}")
    }
}

impl AggregateValue {
    /// The value as JSON text (exact decimal digits, never a float's, for exact values).
    pub fn to_json(&self) -> String {
        match self {
            AggregateValue::Count(count) => count.to_string(),
            AggregateValue::Decimal(value) => value.to_string(),
            AggregateValue::Text(text) => {
                serde_json::to_string(text).unwrap_or_else(|_| "null".to_owned())
            }
            AggregateValue::Quantiles(values) => {
                let members: Vec<String> = values
                    .iter()
                    .map(|(label, value)| {
                        let number = value
                            .and_then(Decimal::from_f64)
                            .map_or("null".to_owned(), |value| {
                                value.round_dp(3).normalize().to_string()
                            });
                        format!("\"{label}\":{number}")
                    })
                    .collect();
                format!("{{{}}}", members.join(","))
            }
            AggregateValue::Named { count, sums, .. } => {
                let mut members = vec![format!("\"count\":{count}")];
                members.extend(sums.iter().map(|(name, sum)| {
                    format!("{}:{sum}", serde_json::to_string(name).unwrap_or_default())
                }));
                format!("{{{}}}", members.join(","))
            }
            AggregateValue::Stock { level, status } => {
                format!("{{\"level\":{level},\"status\":\"{}\"}}", status.as_str())
            }
            AggregateValue::Status {
                state,
                down_minutes,
            } => format!(
                "{{\"status\":{},\"minutes_down\":{}}}",
                serde_json::to_string(state).unwrap_or_default(),
                down_minutes.round_dp(1).normalize()
            ),
            AggregateValue::Counts(counts) => {
                let members: Vec<String> = counts
                    .iter()
                    .map(|(state, count)| {
                        format!(
                            "{}:{count}",
                            serde_json::to_string(state).unwrap_or_default()
                        )
                    })
                    .collect();
                format!("{{{}}}", members.join(","))
            }
            AggregateValue::Overdue { count, oldest } => {
                let listed: Vec<serde_json::Value> = oldest
                    .iter()
                    .map(|(key, deadline, state)| {
                        serde_json::json!({ "key": key, "deadline": sightline_model::time::format_rfc3339(*deadline), "state": state })
                    })
                    .collect();
                serde_json::json!({ "count": count, "oldest": listed }).to_string()
            }
            AggregateValue::Empty => "null".to_owned(),
        }
    }

    /// The sum of two additive values (counts, decimal sums), for adding windows up; a
    /// value of another kind, or a sum past the decimal range, leaves `self` as it is.
    pub fn plus(&self, other: &AggregateValue) -> AggregateValue {
        match (self, other) {
            (AggregateValue::Empty, other) => other.clone(),
            (AggregateValue::Count(left), AggregateValue::Count(right)) => {
                AggregateValue::Count(left.saturating_add(*right))
            }
            (AggregateValue::Decimal(left), AggregateValue::Decimal(right)) => {
                AggregateValue::Decimal(left.checked_add(*right).unwrap_or(*left))
            }
            (left, _) => left.clone(),
        }
    }

    /// The number that orders groups for `top`.
    pub fn sort_key(&self) -> f64 {
        match self {
            AggregateValue::Count(count) => *count as f64,
            AggregateValue::Decimal(value) => value.to_f64().unwrap_or(0.0),
            AggregateValue::Quantiles(values) => {
                values.last().and_then(|(_, value)| *value).unwrap_or(0.0)
            }
            AggregateValue::Counts(counts) => counts.iter().map(|(_, count)| *count as f64).sum(),
            AggregateValue::Overdue { count, .. } => *count as f64,
            AggregateValue::Status { down_minutes, .. } => down_minutes.to_f64().unwrap_or(0.0),
            // Lowest stock first when ranked: the most urgent on top.
            AggregateValue::Stock { level, .. } => -level.to_f64().unwrap_or(0.0),
            AggregateValue::Named { sums, sort_sum, .. } => sums
                .get(*sort_sum)
                .and_then(|(_, sum)| sum.to_f64())
                .unwrap_or(0.0),
            AggregateValue::Text(_) | AggregateValue::Empty => f64::MIN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Calendar;
    use crate::definition::KpiPack;

    fn kpi(aggregate: &str) -> CompiledKpi {
        let text = format!(
            "[[kpi]]\nname = \"k\"\nevents = [\"e\"]\nvalue = \"data.v\"\naggregate = \"{aggregate}\"\nwindows = [{{ tumbling = \"1m\" }}]\n"
        );
        KpiPack::from_toml(&text, "test")
            .and_then(|pack| pack.compile(&Calendar::utc()))
            .expect("valid")[0]
            .clone()
    }

    fn decimal(text: &str) -> Decimal {
        text.parse().expect("decimal")
    }

    #[test]
    fn merging_panes_equals_adding_everything() {
        for aggregate in ["count", "sum", "mean", "min", "max"] {
            let kpi = kpi(aggregate);
            let values = ["12.25", "60.00", "0.10", "7"];
            let mut whole = Accumulator::new(&kpi);
            let mut left = Accumulator::new(&kpi);
            let mut right = Accumulator::new(&kpi);
            for (index, value) in values.iter().enumerate() {
                let input = Input::Number(decimal(value));
                whole.add(&input);
                if index % 2 == 0 {
                    left.add(&input)
                } else {
                    right.add(&input)
                }
            }
            left.merge(&right);
            assert_eq!(left.value(&kpi, 0), whole.value(&kpi, 0), "{aggregate}");
        }
    }

    #[test]
    fn values_are_exact() {
        let sum_kpi = kpi("sum");
        let mut sum = Accumulator::new(&sum_kpi);
        for _ in 0..1_000_000 {
            sum.add(&Input::Number(decimal("0.10")));
        }
        assert_eq!(sum.value(&sum_kpi, 0).to_json(), "100000");
        let mean_kpi = kpi("mean");
        let mut mean = Accumulator::new(&mean_kpi);
        mean.add(&Input::Number(decimal("84.50")));
        mean.add(&Input::Number(decimal("15.50")));
        assert_eq!(mean.value(&mean_kpi, 0).to_json(), "50");
        assert_eq!(
            Accumulator::new(&kpi("max")).value(&kpi("max"), 0),
            AggregateValue::Empty
        );
    }

    #[test]
    fn latest_keeps_the_newest_event_time() {
        let kpi = kpi("latest");
        let mut latest = Accumulator::new(&kpi);
        latest.add(&Input::Latest {
            time_us: 20,
            value: LatestValue::Number(decimal("5")),
        });
        latest.add(&Input::Latest {
            time_us: 10,
            value: LatestValue::Number(decimal("9")),
        });
        assert_eq!(
            latest.value(&kpi, 0).to_json(),
            "5",
            "an older event does not replace a newer one"
        );
        latest.add(&Input::Latest {
            time_us: 30,
            value: LatestValue::Text("fault".into()),
        });
        assert_eq!(latest.value(&kpi, 0).to_json(), "\"fault\"");
    }

    #[test]
    fn compaction_keeps_values_and_drops_what_cannot_change() {
        let level_kpi = {
            let text = "[[kpi]]\nname = \"stock\"\nevents = [\"c\", \"a\"]\naggregate = \"level\"\nset_events = [\"c\"]\nvalue = \"data.on_hand\"\ndelta = \"data.delta\"\nwindows = [{ current = true }]\n";
            KpiPack::from_toml(text, "test")
                .and_then(|pack| pack.compile(&Calendar::utc()))
                .expect("valid")[0]
                .clone()
        };
        let mut level = Accumulator::new(&level_kpi);
        level.add(&Input::Level {
            time_us: 10,
            set: true,
            value: decimal("40"),
        });
        level.add(&Input::Level {
            time_us: 20,
            set: false,
            value: decimal("-3"),
        });
        level.add(&Input::Level {
            time_us: 30,
            set: false,
            value: decimal("-2"),
        });
        level.compact(&level_kpi, 25);
        assert_eq!(
            level.value(&level_kpi, 0).to_json(),
            "35",
            "folding keeps the level"
        );
        let Accumulator::Level(inner) = &level else {
            panic!("a level")
        };
        assert_eq!(
            inner.changes.len(),
            1,
            "only the change after the cut is kept apart"
        );
        level.add(&Input::Level {
            time_us: 40,
            set: true,
            value: decimal("100"),
        });
        assert_eq!(level.value(&level_kpi, 0).to_json(), "100");

        let pipeline_kpi = {
            let text = "[[kpi]]\nname = \"pipeline\"\nevents = [\"f\"]\naggregate = \"state_counts\"\nkey = \"data.order_id\"\nvalue = \"data.stage\"\nexclude = [\"delivered\"]\nwindows = [{ current = true }]\n";
            KpiPack::from_toml(text, "test")
                .and_then(|pack| pack.compile(&Calendar::utc()))
                .expect("valid")[0]
                .clone()
        };
        let mut pipeline = Accumulator::new(&pipeline_kpi);
        for (time_us, key, state) in [
            (10, "o1", "delivered"),
            (11, "o2", "picking"),
            (50, "o3", "delivered"),
        ] {
            pipeline.add(&Input::State {
                time_us,
                key: key.into(),
                state: state.into(),
                deadline_us: None,
            });
        }
        let before = pipeline.value(&pipeline_kpi, 0);
        pipeline.compact(&pipeline_kpi, 20);
        assert_eq!(pipeline.value(&pipeline_kpi, 0), before, "counts unchanged");
        let Accumulator::States(states) = &pipeline else {
            panic!("states")
        };
        assert!(
            !states.contains_key("o1"),
            "an old delivered order is forgotten"
        );
        assert!(
            states.contains_key("o2") && states.contains_key("o3"),
            "live or recent ones stay"
        );
    }

    #[test]
    fn quantile_labels() {
        assert_eq!(quantile_label(0.5), "p50");
        assert_eq!(quantile_label(0.99), "p99");
        assert_eq!(quantile_label(0.999), "p99.9");
    }
}
