//! Any interleaving of updates, ticks, acknowledgements, manual resolutions, silences,
//! deliveries and crashes (the journal cut to what was synced, plus a torn frame) against
//! an oracle that only watches what the alerter hands out:
//!
//! - no transition is announced twice to a group's receiver (an alert's incident is
//!   reported `is_new` firing at most once, resolved at most once), across restarts;
//! - no two notifications handed out share a dedup key;
//! - every notification handed out and not yet marked sent is in the outbox after a
//!   restart, unchanged; none marked sent is;
//! - all of it with the journal compacted now and then (explicitly, and on its own past a
//!   small size), so restarts also replay compacted journals.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use sightline_alerts::clock::{MINUTE_US, SECOND_US};
use sightline_alerts::{
    AlertState, Alerter, AlerterOptions, AlertsConfig, Notification, NotificationKind, SeriesValue,
    SilenceRequest, Store,
};

const RULES: &str = r#"
[[alert]]
name = "errors_high"
kpi = "error_rate"
window = "5m/10s"
condition = { above = 0.2 }
for = "1m"
severity = "high"

[[alert]]
name = "errors_critical"
kpi = "error_rate"
window = "5m/10s"
condition = { above = 0.5 }
keep_firing_for = "1m"
severity = "critical"
"#;

const ENDPOINTS: [&str; 3] = ["/checkout", "/cart", "/search"];
const START: i64 = 1_795_600_000 * SECOND_US;

#[derive(Debug, Clone)]
enum Op {
    Observe { endpoint: usize, level: usize },
    Tick { step: usize },
    Ack { alert: usize },
    Resolve { alert: usize },
    Silence { endpoint: usize },
    ExpireSilences,
    Deliver,
    Compact,
    Crash { torn: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 0..4usize).prop_map(|(endpoint, level)| Op::Observe { endpoint, level }),
        6 => (0..4usize).prop_map(|step| Op::Tick { step }),
        2 => (0..6usize).prop_map(|alert| Op::Ack { alert }),
        1 => (0..6usize).prop_map(|alert| Op::Resolve { alert }),
        1 => (0..3usize).prop_map(|endpoint| Op::Silence { endpoint }),
        1 => Just(Op::ExpireSilences),
        2 => Just(Op::Deliver),
        1 => Just(Op::Compact),
        2 => any::<bool>().prop_map(|torn| Op::Crash { torn }),
    ]
}

/// Small enough that the journal is also compacted on its own every few ticks.
fn options() -> AlerterOptions {
    AlerterOptions {
        compact_after_bytes: 8 << 10,
        ..AlerterOptions::default()
    }
}

fn config() -> AlertsConfig {
    AlertsConfig::from_toml(RULES, "test", "UTC").expect("valid rules")
}

#[derive(Default)]
struct Oracle {
    dedup_keys: BTreeSet<String>,
    /// (group key, alert id, incident, reported firing) → notification id announcing it.
    announced: BTreeMap<(String, String, u64, bool), u64>,
    /// Handed out and not marked sent.
    undelivered: BTreeMap<u64, Notification>,
    delivered: BTreeSet<u64>,
}

impl Oracle {
    fn handed_out(&mut self, notifications: Vec<Notification>) -> Result<(), TestCaseError> {
        for notification in notifications {
            prop_assert!(
                self.dedup_keys.insert(notification.dedup_key.clone()),
                "dedup key {} handed out twice: {:#?}",
                notification.dedup_key,
                notification
            );
            if matches!(
                notification.kind,
                NotificationKind::Firing | NotificationKind::Resolved
            ) {
                for alert in notification.alerts.iter().filter(|alert| alert.is_new) {
                    let key = (
                        notification.group_key.clone(),
                        alert.id.clone(),
                        alert.incident,
                        alert.state.is_firing(),
                    );
                    if let Some(earlier) = self.announced.insert(key.clone(), notification.id) {
                        prop_assert!(
                            false,
                            "{key:?} announced by {earlier} and again by {}",
                            notification.id
                        );
                    }
                }
            }
            self.undelivered.insert(notification.id, notification);
        }
        Ok(())
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut now = START;
    let mut alerter = Alerter::in_memory(config(), options(), now).expect("alerter");
    let mut oracle = Oracle::default();
    for op in ops {
        match op {
            Op::Observe { endpoint, level } => {
                let value = match level {
                    0 => SeriesValue::Number(0.01),
                    1 => SeriesValue::Number(0.3),
                    2 => SeriesValue::Number(0.7),
                    _ => SeriesValue::Empty,
                };
                let group = vec![("endpoint".to_owned(), ENDPOINTS[endpoint].to_owned())];
                alerter.observe("error_rate", "5m/10s", &group, &value, now);
            }
            Op::Tick { step } => {
                now += [10 * SECOND_US, MINUTE_US, 5 * MINUTE_US, 20 * MINUTE_US][step];
                let notifications = alerter.tick(now).expect("tick");
                oracle.handed_out(notifications)?;
            }
            Op::Ack { alert } => {
                let listed = alerter.alerts(None, now);
                if let Some(view) = listed.get(alert % listed.len().max(1)) {
                    // Acknowledging anything but a firing alert is refused, never a panic.
                    let _ = alerter.ack(&view.id, "ana", now);
                }
            }
            Op::Resolve { alert } => {
                let listed = alerter.alerts(None, now);
                if let Some(view) = listed.get(alert % listed.len().max(1)) {
                    alerter
                        .resolve(&view.id, "ben", now)
                        .expect("resolve a listed alert");
                }
            }
            Op::Silence { endpoint } => {
                let request = SilenceRequest {
                    matchers: vec![format!("endpoint={}", ENDPOINTS[endpoint])],
                    starts_at: None,
                    ends_at: now + 30 * MINUTE_US,
                    comment: String::new(),
                    created_by: "ops".to_owned(),
                };
                alerter
                    .create_silence(&request, now)
                    .expect("valid silence");
            }
            Op::ExpireSilences => {
                for silence in alerter.silences() {
                    alerter
                        .expire_silence(&silence.id, now)
                        .expect("known silence");
                }
            }
            Op::Deliver => {
                if let Some(first) = alerter.outbox().first() {
                    alerter.mark_sent(first.id, now).expect("mark sent");
                    oracle.undelivered.remove(&first.id);
                    oracle.delivered.insert(first.id);
                }
            }
            Op::Compact => alerter.compact().expect("compact"),
            Op::Crash { torn } => {
                let mut bytes = alerter.journal_bytes().expect("memory journal");
                if torn {
                    bytes.extend_from_slice(&[200, 1, 0, 0, 9, 9, 9, 9, b'{']);
                }
                let (store, records) = Store::from_bytes(bytes);
                alerter =
                    Alerter::restore(config(), options(), store, records, now).expect("restore");
                let outbox: BTreeMap<u64, Notification> = alerter
                    .outbox()
                    .into_iter()
                    .map(|notification| (notification.id, notification))
                    .collect();
                for (id, notification) in &oracle.undelivered {
                    prop_assert_eq!(
                        outbox.get(id),
                        Some(notification),
                        "notification {} lost in a crash",
                        id
                    );
                }
                for id in &oracle.delivered {
                    prop_assert!(
                        !outbox.contains_key(id),
                        "delivered notification {} queued again",
                        id
                    );
                }
            }
        }
    }
    // Quiet the system and let every group flush: still nothing announced twice.
    for endpoint in ENDPOINTS {
        let group = vec![("endpoint".to_owned(), endpoint.to_owned())];
        alerter.observe(
            "error_rate",
            "5m/10s",
            &group,
            &SeriesValue::Number(0.0),
            now,
        );
    }
    for _ in 0..12 {
        now += 5 * MINUTE_US;
        let notifications = alerter.tick(now).expect("tick");
        oracle.handed_out(notifications)?;
    }
    prop_assert!(alerter.alerts(Some(AlertState::Firing), now).is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn never_twice_never_lost(ops in prop::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}

/// A sequence that exercises firing, a crash between queueing and delivery, and the
/// resolution, kept as a plain test so it always runs the same way.
#[test]
fn firing_crash_resolve() {
    let ops = vec![
        Op::Observe {
            endpoint: 0,
            level: 2,
        },
        Op::Tick { step: 0 },
        Op::Crash { torn: true },
        Op::Observe {
            endpoint: 0,
            level: 2,
        },
        Op::Tick { step: 1 },
        Op::Deliver,
        Op::Crash { torn: false },
        Op::Observe {
            endpoint: 0,
            level: 0,
        },
        Op::Tick { step: 2 },
        Op::Compact,
        Op::Crash { torn: true },
        Op::Tick { step: 2 },
    ];
    run(ops).expect("oracle holds");
}
