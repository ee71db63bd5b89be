//! Sessions against an oracle written independently here: per key, the sessions are
//! recomputed from every accepted event at once (sorted times, a new session after more
//! than the gap), whatever order the events arrived in, and each session's total is
//! placed in the window of its close (last event + gap).

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use rust_decimal::Decimal;
use sightline_engine::aggregate::AggregateValue;
use sightline_engine::{Engine, EngineOptions, KpiPack, Observation, ReadFields, TimePolicy};

const SECOND: i64 = 1_000_000;
const BOUND: i64 = 5 * SECOND;
const LATENESS: i64 = 40 * SECOND;
const GAP: i64 = 30 * SECOND;
const WINDOW: i64 = 10 * SECOND;

const PACK: &str = r#"
[[kpi]]
name = "revenue_per_session"
events = ["page.viewed", "order.created"]
aggregate = "sessions"
key = "data.session_id"
gap = "30s"
value = "data.total"
windows = [{ tumbling = "10s" }, { sliding = "30s", every = "10s" }]
"#;

#[derive(Debug, Clone)]
struct Visit {
    time: i64,
    key: &'static str,
    /// Cents of an order, or `None` for a page view.
    cents: Option<i64>,
}

fn payload(visit: &Visit) -> String {
    match visit.cents {
        Some(cents) => format!(
            r#"{{"specversion":"1.0","id":"x","source":"t","type":"order.created","data":{{"order_id":"1","total":"{}","currency":"EUR","session_id":"{}"}}}}"#,
            Decimal::new(cents, 2),
            visit.key
        ),
        None => format!(
            r#"{{"specversion":"1.0","id":"x","source":"t","type":"page.viewed","data":{{"session_id":"{}","visitor_id":"v"}}}}"#,
            visit.key
        ),
    }
}

fn visits() -> impl Strategy<Value = Vec<Visit>> {
    // A clock moving forward in steps of up to 25 s (so that gaps of more and less than
    // 30 s between one key's events are both common), with events jumping back by up to
    // 50 s (late, sometimes too late: the lateness is 40 s).
    prop::collection::vec(
        (
            (0i64..25).prop_map(|seconds| seconds * SECOND),
            prop::bool::weighted(0.3),
            (0i64..50).prop_map(|seconds| seconds * SECOND),
            0usize..3,
            prop::option::weighted(0.4, 1i64..10_000),
        ),
        1..200,
    )
    .prop_map(|steps| {
        let mut clock = 1_000 * SECOND;
        steps
            .into_iter()
            .map(|(advance, jump_back, back, key, cents)| {
                clock += advance;
                Visit {
                    time: if jump_back { clock - back } else { clock },
                    key: ["s1", "s2", "s3"][key],
                    cents,
                }
            })
            .collect()
    })
}

/// The accepted events, by the rule of kpis.md (behind the newest time less the disorder
/// bound by more than the allowed lateness: not counted).
fn accepted_by_oracle(visits: &[Visit]) -> Vec<Visit> {
    let mut newest = i64::MIN;
    let mut accepted = Vec::new();
    for visit in visits {
        let watermark = newest.saturating_sub(BOUND);
        if visit.time < watermark.saturating_sub(LATENESS) {
            continue;
        }
        newest = newest.max(visit.time);
        accepted.push(visit.clone());
    }
    accepted
}

/// (window label, start) → (sessions closed in it, their mean total).
fn oracle(accepted: &[Visit], closed_by: i64) -> BTreeMap<(String, i64), (u64, Decimal)> {
    let mut by_key: HashMap<&str, Vec<(i64, Decimal)>> = HashMap::new();
    for visit in accepted {
        by_key.entry(visit.key).or_default().push((
            visit.time,
            visit
                .cents
                .map_or(Decimal::ZERO, |cents| Decimal::new(cents, 2)),
        ));
    }
    // (close time, total) of every session.
    let mut sessions: Vec<(i64, Decimal)> = Vec::new();
    for events in by_key.values_mut() {
        events.sort_by_key(|(time, _)| *time);
        let mut current: Option<(i64, Decimal)> = None;
        for &(time, total) in events.iter() {
            current = match current {
                Some((last, sum)) if time - last <= GAP => Some((time, sum + total)),
                Some((last, sum)) => {
                    sessions.push((last + GAP, sum));
                    Some((time, total))
                }
                None => Some((time, total)),
            };
        }
        sessions.extend(current.map(|(last, sum)| (last + GAP, sum)));
    }
    let mut windows: BTreeMap<(String, i64), Vec<Decimal>> = BTreeMap::new();
    for (close, total) in sessions {
        if close > closed_by {
            continue;
        }
        for (label, size) in [("10s", WINDOW), ("30s/10s", 3 * WINDOW)] {
            let mut start = close - close.rem_euclid(WINDOW);
            while start + size > close {
                windows
                    .entry((label.to_owned(), start))
                    .or_default()
                    .push(total);
                start -= WINDOW;
            }
        }
    }
    windows
        .into_iter()
        .map(|(window, totals)| {
            let sum: Decimal = totals.iter().copied().sum();
            let mean = (sum / Decimal::from(totals.len())).round_dp(6).normalize();
            (window, (totals.len() as u64, mean))
        })
        .collect()
}

fn engine_windows(engine: &Engine) -> BTreeMap<(String, i64), (u64, Decimal)> {
    engine
        .windows("revenue_per_session", i64::MIN / 2, i64::MAX / 2)
        .expect("known KPI")
        .into_iter()
        .filter_map(|window| {
            let value = match window.values.as_slice() {
                [] | [(_, AggregateValue::Empty)] => return None,
                [(_, value)] => value.clone(),
                more => panic!("one group expected: {more:?}"),
            };
            let AggregateValue::Named { count, sums, .. } = value else {
                panic!("a count and a mean expected: {value:?}");
            };
            let mean = sums
                .iter()
                .find(|(name, _)| name == "mean")
                .map(|(_, mean)| mean.normalize())
                .expect("a mean");
            Some(((window.window, window.start_us), (count, mean)))
        })
        .collect()
}

fn new_engine() -> Engine {
    let kpis = KpiPack::from_toml(PACK, "sessions oracle pack")
        .and_then(|pack| pack.compile(&sightline_engine::Calendar::utc()))
        .expect("valid pack");
    let options = EngineOptions {
        time: TimePolicy {
            disorder_bound_us: BOUND,
            allowed_lateness_us: LATENESS,
            idle_timeout_us: i64::MAX / 4,
        },
        keep_final_for_us: i64::MAX / 4,
        ..EngineOptions::default()
    };
    Engine::new(kpis, options)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever the disorder, the sessions the engine closed (merging and retracting as
    /// late events bridge them, forgetting closed ones, through a checkpoint and restore
    /// at a random point) are those recomputed from every accepted event.
    #[test]
    fn sessions_match_the_oracle(
        visits in visits(),
        restore_at in any::<prop::sample::Index>(),
        read_apart in any::<bool>(),
    ) {
        let restore_at = restore_at.index(visits.len());
        let mut engine = new_engine();
        let mut reader = engine.field_reader();
        let mut fields = ReadFields::default();
        let mut newest = i64::MIN;
        for (index, visit) in visits.iter().enumerate() {
            if index == restore_at {
                let bytes = engine.checkpoint(index as u64);
                let mut restored = new_engine();
                prop_assert_eq!(restored.restore(&bytes).expect("restorable"), index as u64);
                engine = restored;
            }
            let text = payload(visit);
            let observed = if read_apart {
                reader.read(&text, &mut fields);
                engine.process_read(visit.time, &text, &fields, 0)
            } else {
                engine.process(visit.time, &text, 0)
            };
            let too_late = visit.time < newest.saturating_sub(BOUND).saturating_sub(LATENESS);
            prop_assert_eq!(observed == Observation::TooLate, too_late, "event {} at {}", index, visit.time);
            if !too_late {
                newest = newest.max(visit.time);
            }
        }
        // An event of another key far ahead closes every session and window.
        let flush_at = newest + 1_000 * SECOND;
        engine.process(flush_at, &payload(&Visit { time: flush_at, key: "flush", cents: None }), 0);
        let expected = oracle(&accepted_by_oracle(&visits), flush_at - BOUND);
        prop_assert_eq!(engine_windows(&engine), expected);
    }
}
