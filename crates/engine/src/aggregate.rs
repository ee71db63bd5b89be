//! Accumulators: what a pane keeps per group, and how panes merge into a window.
//!
//! Every accumulator is mergeable (panes combine into windows, partial results from
//! several nodes combine into one), and counts, sums and money are exact decimals.

use rust_decimal::Decimal;

use crate::definition::AggregateKind;

#[derive(Debug, Clone, PartialEq)]
pub enum Accumulator {
    Count(u64),
    Sum(Decimal),
    Mean { sum: Decimal, count: u64 },
    Min(Option<Decimal>),
    Max(Option<Decimal>),
}

/// A window's value for one group.
#[derive(Debug, Clone, PartialEq)]
pub enum AggregateValue {
    Count(u64),
    Decimal(Decimal),
    /// No value (a mean, min or max over nothing).
    Empty,
}

impl Accumulator {
    pub fn new(kind: AggregateKind) -> Accumulator {
        match kind {
            AggregateKind::Count => Accumulator::Count(0),
            AggregateKind::Sum => Accumulator::Sum(Decimal::ZERO),
            AggregateKind::Mean => Accumulator::Mean {
                sum: Decimal::ZERO,
                count: 0,
            },
            AggregateKind::Min => Accumulator::Min(None),
            AggregateKind::Max => Accumulator::Max(None),
        }
    }

    /// Adds one event; `value` is `None` only for a count.
    pub fn add(&mut self, value: Option<Decimal>) {
        match (self, value) {
            (Accumulator::Count(count), _) => *count += 1,
            (Accumulator::Sum(sum), Some(value)) => *sum += value,
            (Accumulator::Mean { sum, count }, Some(value)) => {
                *sum += value;
                *count += 1;
            }
            (Accumulator::Min(min), Some(value)) => {
                *min = Some(min.map_or(value, |current| current.min(value)))
            }
            (Accumulator::Max(max), Some(value)) => {
                *max = Some(max.map_or(value, |current| current.max(value)))
            }
            (_, None) => {}
        }
    }

    pub fn merge(&mut self, other: &Accumulator) {
        match (self, other) {
            (Accumulator::Count(count), Accumulator::Count(more)) => *count += more,
            (Accumulator::Sum(sum), Accumulator::Sum(more)) => *sum += more,
            (
                Accumulator::Mean { sum, count },
                Accumulator::Mean {
                    sum: more_sum,
                    count: more_count,
                },
            ) => {
                *sum += more_sum;
                *count += more_count;
            }
            (Accumulator::Min(min), Accumulator::Min(Some(other))) => {
                *min = Some(min.map_or(*other, |current| current.min(*other)))
            }
            (Accumulator::Max(max), Accumulator::Max(Some(other))) => {
                *max = Some(max.map_or(*other, |current| current.max(*other)))
            }
            _ => {}
        }
    }

    pub fn value(&self) -> AggregateValue {
        match self {
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
        }
    }
}

impl AggregateValue {
    /// The value as JSON text (exact decimal digits, never a float's).
    pub fn to_json(&self) -> String {
        match self {
            AggregateValue::Count(count) => count.to_string(),
            AggregateValue::Decimal(value) => value.to_string(),
            AggregateValue::Empty => "null".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(text: &str) -> Decimal {
        text.parse().expect("decimal")
    }

    #[test]
    fn merging_panes_equals_adding_everything() {
        for kind in [
            AggregateKind::Count,
            AggregateKind::Sum,
            AggregateKind::Mean,
            AggregateKind::Min,
            AggregateKind::Max,
        ] {
            let values = ["12.25", "60.00", "0.10", "7"];
            let mut whole = Accumulator::new(kind);
            let mut left = Accumulator::new(kind);
            let mut right = Accumulator::new(kind);
            for (index, value) in values.iter().enumerate() {
                whole.add(Some(decimal(value)));
                if index % 2 == 0 {
                    left.add(Some(decimal(value)))
                } else {
                    right.add(Some(decimal(value)))
                }
            }
            left.merge(&right);
            assert_eq!(left.value(), whole.value(), "{kind:?}");
        }
    }

    #[test]
    fn values_are_exact() {
        let mut sum = Accumulator::new(AggregateKind::Sum);
        for _ in 0..1_000_000 {
            sum.add(Some(decimal("0.10")));
        }
        assert_eq!(sum.value().to_json(), "100000");
        let mut mean = Accumulator::new(AggregateKind::Mean);
        mean.add(Some(decimal("84.50")));
        mean.add(Some(decimal("15.50")));
        assert_eq!(mean.value().to_json(), "50");
        assert_eq!(
            Accumulator::new(AggregateKind::Max).value(),
            AggregateValue::Empty
        );
    }
}
