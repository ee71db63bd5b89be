//! The scenarios of issue 5, point 8, on a controllable clock: nothing here waits.

use std::collections::BTreeSet;

use sightline_alerts::clock::{DAY_US, HOUR_US, MINUTE_US, SECOND_US};
use sightline_alerts::evaluate::SeriesKey;
use sightline_alerts::{
    AlertState, Alerter, AlerterOptions, AlertsConfig, BaselineSource, DeliveryOutcome,
    DeliveryRecord, Notification, NotificationKind, SeriesValue, SilenceRequest, Store,
};

/// Wednesday 2026-11-25 00:00 UTC.
const WEDNESDAY: i64 = 1_795_564_800 * SECOND_US;

fn alerter(rules: &str, now: i64) -> Alerter {
    let config = AlertsConfig::from_toml(rules, "test rules", "UTC").expect("valid rules");
    Alerter::in_memory(config, AlerterOptions::default(), now).expect("in-memory alerter")
}

fn group(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

fn receivers(notifications: &[Notification]) -> BTreeSet<String> {
    notifications
        .iter()
        .map(|notification| notification.receiver.clone())
        .collect()
}

fn of_kind(notifications: &[Notification], kind: NotificationKind) -> Vec<&Notification> {
    notifications
        .iter()
        .filter(|notification| notification.kind == kind)
        .collect()
}

const ENDPOINTS: [&str; 3] = ["/checkout", "/cart", "/search"];

const OUTAGE_RULE: &str = r#"
[[alert]]
name = "api_errors"
kpi = "error_rate"
window = "5m/10s"
condition = { above = 0.05 }
for = "2m"
keep_firing_for = "1m"
severity = "critical"
annotations = { summary = "{{endpoint}} fails {{value}} of requests (threshold {{threshold}})", panel = "errors" }
"#;

/// Outage: pending → firing → exactly one notification per group and receiver →
/// escalation after the response time → acknowledgement stops it → one resolved
/// notification per receiver.
#[test]
fn an_outage_from_pending_to_resolved() {
    let start = WEDNESDAY + 14 * HOUR_US;
    let mut alerter = alerter(OUTAGE_RULE, start);
    let mut sent = Vec::new();
    let mut now = start;
    let update = |alerter: &mut Alerter, now: i64, rate: f64| {
        for endpoint in ENDPOINTS {
            alerter.observe(
                "error_rate",
                "5m/10s",
                &group(&[("endpoint", endpoint)]),
                &SeriesValue::Number(rate),
                now,
            );
        }
    };
    // Every 10 s for 2 minutes the three endpoints fail: pending, then firing.
    while now < start + 2 * MINUTE_US {
        update(&mut alerter, now, 0.2);
        let notifications = alerter.tick(now).expect("tick");
        assert!(notifications.is_empty(), "pending alerts notify nobody");
        assert!(alerter.alerts(Some(AlertState::Pending), now).len() == 3);
        now += 10 * SECOND_US;
    }
    update(&mut alerter, now, 0.2);
    let firing = alerter.tick(now).expect("tick");
    assert_eq!(alerter.alerts(Some(AlertState::Firing), now).len(), 3);
    // The default critical route: SMS and call to on-call, SMS to the manager, at once;
    // one notification per receiver carrying the whole group.
    assert_eq!(
        receivers(&firing),
        BTreeSet::from([
            "oncall-sms".into(),
            "oncall-call".into(),
            "manager-sms".into()
        ])
    );
    assert_eq!(firing.len(), 3);
    for notification in &firing {
        assert_eq!(notification.kind, NotificationKind::Firing);
        assert_eq!(notification.alerts.len(), 3);
        assert!(notification.alerts.iter().all(|alert| alert.is_new));
        assert_eq!(
            notification.title,
            "3 endpoints firing: /cart, /checkout, /search (api_errors)"
        );
        let summary = &notification.alerts[0].annotations["summary"];
        assert_eq!(summary, "/cart fails 0.2 of requests (threshold 0.05)");
        assert_eq!(notification.alerts[0].annotations["link"], "/#panel=errors");
    }
    sent.extend(firing);
    let dedup_keys: BTreeSet<&str> = sent
        .iter()
        .map(|notification| notification.dedup_key.as_str())
        .collect();
    assert_eq!(dedup_keys.len(), 3);

    // Still failing for the next 5 minutes: no second notification of the same transition.
    let firing_at = now;
    while now < firing_at + 5 * MINUTE_US - 10 * SECOND_US {
        now += 10 * SECOND_US;
        update(&mut alerter, now, 0.2);
        assert_eq!(
            alerter.tick(now).expect("tick"),
            [],
            "at {}s",
            (now - firing_at) / SECOND_US
        );
    }
    // Nobody acknowledged within the critical response time (5 min): the next level.
    now = firing_at + 5 * MINUTE_US;
    update(&mut alerter, now, 0.2);
    let escalated = alerter.tick(now).expect("tick");
    assert!(!escalated.is_empty());
    assert!(
        escalated
            .iter()
            .all(|notification| notification.kind == NotificationKind::Escalation)
    );
    assert_eq!(
        receivers(&escalated),
        BTreeSet::from(["oncall-call".into(), "manager-call".into()])
    );
    assert_eq!(escalated.len(), 6, "three alerts, two receivers each");
    assert!(
        escalated[0]
            .title
            .starts_with("Not acknowledged: [critical] firing: "),
        "{}",
        escalated[0].title
    );

    // Acknowledged: escalation stops.
    now += MINUTE_US;
    for alert in alerter.alerts(Some(AlertState::Firing), now) {
        let acknowledged = alerter.ack(&alert.id, "ana", now).expect("ack");
        assert_eq!(acknowledged.state, AlertState::Acknowledged);
        assert_eq!(acknowledged.acknowledged_by.as_deref(), Some("ana"));
    }
    let json = alerter.alerts(None, now)[0].to_json();
    assert_eq!(json["state"], "acknowledged");
    assert_eq!(json["severity"], "critical");
    while now < firing_at + 30 * MINUTE_US {
        now += 30 * SECOND_US;
        update(&mut alerter, now, 0.2);
        assert_eq!(
            alerter.tick(now).expect("tick"),
            [],
            "no escalation after the ack"
        );
    }

    // Recovery: below the threshold for keep_firing_for (1 min), then one resolved
    // notification per receiver at the group's next flush.
    let mut resolved = Vec::new();
    let recovery = now;
    while now < recovery + 5 * MINUTE_US {
        now += 10 * SECOND_US;
        update(&mut alerter, now, 0.01);
        resolved.extend(alerter.tick(now).expect("tick"));
    }
    assert_eq!(alerter.alerts(Some(AlertState::Resolved), now).len(), 3);
    assert_eq!(resolved.len(), 3, "{resolved:#?}");
    assert!(
        resolved
            .iter()
            .all(|notification| notification.kind == NotificationKind::Resolved)
    );
    assert_eq!(
        receivers(&resolved),
        BTreeSet::from([
            "oncall-sms".into(),
            "oncall-call".into(),
            "manager-sms".into()
        ])
    );
    assert_eq!(
        resolved[0].title,
        "3 endpoints resolved: /cart, /checkout, /search (api_errors)"
    );

    // Everything queued is in the outbox until marked sent.
    assert_eq!(alerter.outbox().len(), 3 + 6 + 3);
    for notification in alerter.outbox() {
        alerter.mark_sent(notification.id, now).expect("mark sent");
    }
    assert!(alerter.outbox().is_empty());
    // And the history tells the story, which the tuning report reads.
    let history = alerter.history(Some(&alerter.alerts(None, now)[0].id));
    let states: Vec<AlertState> = history.iter().map(|transition| transition.to).collect();
    assert_eq!(
        states,
        [
            AlertState::Pending,
            AlertState::Firing,
            AlertState::Acknowledged,
            AlertState::Resolved
        ]
    );
    let report = alerter.report(start, now);
    assert_eq!(report.rules[0].fired, 3);
    assert_eq!(report.rules[0].acknowledged, 3);
    assert_eq!(report.rules[0].median_time_to_ack_us, Some(6 * MINUTE_US));
}

/// Synthetic orders per hour with a daily cycle: 20 at 3 AM, 200 at 3 PM, a little
/// different each week.
struct DailyCycle {
    weeks_of_history: i64,
    now: i64,
}

fn orders_per_hour(at: i64) -> f64 {
    let hour = (at.rem_euclid(DAY_US) / HOUR_US) as f64;
    110.0 - 90.0 * ((hour - 3.0) * std::f64::consts::PI / 12.0).cos()
}

impl BaselineSource for DailyCycle {
    fn hour_value(&self, _series: &SeriesKey<'_>, start_us: i64, _end_us: i64) -> Option<f64> {
        if start_us < self.now - self.weeks_of_history * 7 * DAY_US {
            return None;
        }
        let week = (self.now - start_us) / (7 * DAY_US);
        let wobble = [1.0, 1.04, 0.97, 1.02, 0.99][(week % 5) as usize];
        Some(orders_per_hour(start_us) * wobble)
    }
}

const DYNAMIC_RULES: &str = r#"
[[alert]]
name = "orders_unusually_low"
kpi = "orders"
window = "1h"
condition = { dynamic = { k = 3.0, weeks = 4, min_weeks = 2, direction = "below" } }
severity = "high"
annotations = { summary = "{{value}} orders, usually {{baseline}}, alert under {{threshold}}" }

[[alert]]
name = "orders_below_50"
kpi = "orders"
window = "1h"
condition = { below = 50 }
severity = "low"
"#;

/// A dynamic threshold over four weeks of synthetic history stays quiet through the 3 AM
/// low (where a static threshold fires) and fires on a real drop at 3 PM.
#[test]
fn a_dynamic_threshold_is_quiet_at_night_and_fires_on_an_afternoon_drop() {
    let three_am = WEDNESDAY + 3 * HOUR_US + 30 * MINUTE_US;
    let three_pm = WEDNESDAY + 15 * HOUR_US + 30 * MINUTE_US;
    let mut alerter = alerter(DYNAMIC_RULES, three_am);
    alerter.set_baseline_source(Box::new(DailyCycle {
        weeks_of_history: 4,
        now: three_am,
    }));
    alerter.observe(
        "orders",
        "1h",
        &[],
        &SeriesValue::Number(orders_per_hour(three_am)),
        three_am,
    );
    alerter.tick(three_am).expect("tick");
    let firing: Vec<String> = alerter
        .alerts(Some(AlertState::Firing), three_am)
        .into_iter()
        .map(|alert| alert.rule)
        .collect();
    assert_eq!(
        firing,
        ["orders_below_50"],
        "the static threshold cannot tell night from an outage"
    );

    // The afternoon: normal at first, then half the usual orders.
    alerter.observe(
        "orders",
        "1h",
        &[],
        &SeriesValue::Number(orders_per_hour(three_pm) * 1.01),
        three_pm,
    );
    assert!(
        alerter
            .alerts(Some(AlertState::Firing), three_pm)
            .iter()
            .all(|alert| alert.rule != "orders_unusually_low")
    );
    let drop = three_pm + MINUTE_US;
    alerter.observe(
        "orders",
        "1h",
        &[],
        &SeriesValue::Number(orders_per_hour(three_pm) / 2.0),
        drop,
    );
    let fired = alerter.alerts(Some(AlertState::Firing), drop);
    let dynamic = fired
        .iter()
        .find(|alert| alert.rule == "orders_unusually_low")
        .expect("the drop fires");
    let baseline = dynamic.baseline.expect("a baseline");
    assert!((baseline - 200.0).abs() < 5.0, "{baseline}");
    assert!(dynamic.threshold.expect("a threshold") < baseline);
    assert!(
        dynamic.annotations["summary"].starts_with("100 orders, usually 20"),
        "{}",
        dynamic.annotations["summary"]
    );
}

/// With less than `min_weeks` of history the same hour of the last days stands in; with
/// less than `min_days` the rule is still learning and never fires.
#[test]
fn a_dynamic_threshold_falls_back_to_the_same_hour_of_day_then_learns() {
    let three_pm = WEDNESDAY + 15 * HOUR_US + 30 * MINUTE_US;
    for (days_of_history, fires) in [(5, true), (2, false)] {
        let mut alerter = alerter(DYNAMIC_RULES, three_pm);
        struct Days(i64, i64);
        impl BaselineSource for Days {
            fn hour_value(
                &self,
                _series: &SeriesKey<'_>,
                start_us: i64,
                _end_us: i64,
            ) -> Option<f64> {
                (start_us >= self.1 - self.0 * DAY_US).then(|| orders_per_hour(start_us))
            }
        }
        alerter.set_baseline_source(Box::new(Days(days_of_history, three_pm)));
        alerter.observe("orders", "1h", &[], &SeriesValue::Number(10.0), three_pm);
        let dynamic_fired = alerter
            .alerts(Some(AlertState::Firing), three_pm)
            .iter()
            .any(|alert| alert.rule == "orders_unusually_low");
        assert_eq!(dynamic_fired, fires, "{days_of_history} days of history");
    }
}

const HIGH_RULE: &str = r#"
[[alert]]
name = "latency_high"
kpi = "api_latency"
window = "5m/10s"
field = "p95"
condition = { above = 800 }
severity = "high"
"#;

fn latency(p95: f64) -> SeriesValue {
    SeriesValue::Members(vec![
        ("p50".into(), 100.0),
        ("p95".into(), p95),
        ("p99".into(), p95 * 2.0),
    ])
}

/// A silence suppresses notifications (and escalation); when it expires the alert is
/// notified at the group's next flush.
#[test]
fn a_silence_suppresses_until_it_expires() {
    let start = WEDNESDAY + 10 * HOUR_US;
    let mut alerter = alerter(HIGH_RULE, start);
    let silence = alerter
        .create_silence(
            &SilenceRequest {
                matchers: vec![
                    "alertname=latency_high".into(),
                    "endpoint=~/checkout.*".into(),
                ],
                starts_at: None,
                ends_at: start + HOUR_US,
                comment: "deploying the new checkout".into(),
                created_by: "ana".into(),
            },
            start,
        )
        .expect("valid silence");
    let checkout = group(&[("endpoint", "/checkout")]);
    let mut now = start;
    let mut notifications = Vec::new();
    while now < start + HOUR_US - MINUTE_US {
        alerter.observe("api_latency", "5m/10s", &checkout, &latency(1500.0), now);
        notifications.extend(alerter.tick(now).expect("tick"));
        now += MINUTE_US;
    }
    assert_eq!(
        notifications,
        [],
        "silenced: no notification, no escalation"
    );
    let listed = alerter.alerts(Some(AlertState::Firing), now);
    assert_eq!(
        listed[0].silenced_by,
        std::slice::from_ref(&silence.id),
        "still listed, marked silenced"
    );
    // Ended early by hand; the group's next flush tells Slack and email.
    alerter.expire_silence(&silence.id, now).expect("expire");
    assert_eq!(alerter.silences()[0].ends_at, now);
    let mut after = Vec::new();
    for _ in 0..16 {
        now += MINUTE_US;
        alerter.observe("api_latency", "5m/10s", &checkout, &latency(1500.0), now);
        after.extend(alerter.tick(now).expect("tick"));
    }
    let firing = of_kind(&after, NotificationKind::Firing);
    assert_eq!(firing.len(), 2, "{after:#?}");
    assert_eq!(
        firing
            .iter()
            .map(|notification| notification.receiver.as_str())
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["slack", "email"])
    );
}

/// A critical alert keeps the lower ones of its group quiet; the same lower rule on
/// another group still notifies.
#[test]
fn an_inhibited_alert_stays_quiet() {
    let rules = format!(
        "{HIGH_RULE}\n{}",
        r#"
[[alert]]
name = "checkout_down"
kpi = "error_rate"
window = "5m/10s"
condition = { above = 0.5 }
severity = "critical"
"#
    );
    let start = WEDNESDAY + 10 * HOUR_US;
    let mut alerter = alerter(&rules, start);
    let checkout = group(&[("endpoint", "/checkout")]);
    let cart = group(&[("endpoint", "/cart")]);
    let mut notifications = Vec::new();
    let mut now = start;
    while now < start + 30 * MINUTE_US {
        alerter.observe(
            "error_rate",
            "5m/10s",
            &checkout,
            &SeriesValue::Number(0.9),
            now,
        );
        alerter.observe("api_latency", "5m/10s", &checkout, &latency(2000.0), now);
        alerter.observe("api_latency", "5m/10s", &cart, &latency(2000.0), now);
        notifications.extend(alerter.tick(now).expect("tick"));
        now += MINUTE_US;
    }
    let latency_alerts: Vec<(String, String)> = notifications
        .iter()
        .flat_map(|notification| notification.alerts.iter())
        .filter(|alert| alert.rule == "latency_high")
        .map(|alert| {
            (
                alert.labels["endpoint"].clone(),
                alert.state.as_str().to_owned(),
            )
        })
        .collect();
    assert!(
        latency_alerts
            .iter()
            .all(|(endpoint, _)| endpoint == "/cart"),
        "{latency_alerts:?}"
    );
    assert!(
        !latency_alerts.is_empty(),
        "the cart's latency is not inhibited"
    );
    let inhibited = alerter
        .alerts(Some(AlertState::Firing), now)
        .into_iter()
        .find(|alert| alert.rule == "latency_high" && alert.labels["endpoint"] == "/checkout")
        .expect("listed");
    assert!(inhibited.inhibited);
    assert!(
        of_kind(&notifications, NotificationKind::Escalation)
            .iter()
            .all(
                |notification| notification.alerts[0].labels["endpoint"] != "/checkout"
                    || notification.alerts[0].rule == "checkout_down"
            )
    );
}

/// "No orders for 10 minutes within business hours": quiet at night, fires 10 minutes
/// into the morning without orders.
#[test]
fn absence_counts_only_within_the_interval() {
    let rules = r#"
[[alert]]
name = "no_orders"
kpi = "orders"
window = "1m"
condition = { absent = "10m", during = "business_hours" }
severity = "critical"
"#;
    // Tuesday 2026-11-24, 02:00 UTC; business hours are 09:00–18:00 UTC here.
    let night = WEDNESDAY - DAY_US + 2 * HOUR_US;
    let mut alerter = alerter(rules, night);
    let mut now = night;
    while now < night + 7 * HOUR_US + 9 * MINUTE_US {
        alerter.tick(now).expect("tick");
        assert!(
            alerter.alerts(None, now).is_empty(),
            "quiet at {}",
            (now - night) / MINUTE_US
        );
        now += MINUTE_US;
    }
    now = night + 7 * HOUR_US + 10 * MINUTE_US;
    let notifications = alerter.tick(now).expect("tick");
    assert_eq!(alerter.alerts(Some(AlertState::Firing), now).len(), 1);
    assert_eq!(notifications.len(), 3, "critical: two SMS and a call");
    // An order resolves it.
    alerter.observe(
        "orders",
        "1m",
        &[],
        &SeriesValue::Number(1.0),
        now + MINUTE_US,
    );
    alerter.tick(now + MINUTE_US).expect("tick");
    assert_eq!(
        alerter
            .alerts(Some(AlertState::Resolved), now + MINUTE_US)
            .len(),
        1
    );
}

/// Low alerts go out as one digest email on the next business morning.
#[test]
fn low_alerts_wait_for_the_next_business_morning_digest() {
    let rules = r#"
[[alert]]
name = "stockout"
kpi = "inventory_on_hand"
field = "level"
condition = { below = 1 }
severity = "low"
"#;
    // Friday 2026-11-27 20:00 UTC.
    let friday_evening = WEDNESDAY + 2 * DAY_US + 20 * HOUR_US;
    let mut alerter = alerter(rules, friday_evening);
    for sku in ["MUG-01", "TEE-04"] {
        let stock = SeriesValue::Members(vec![("level".into(), 0.0)]);
        alerter.observe(
            "inventory_on_hand",
            "current",
            &group(&[("sku", sku), ("warehouse", "berlin")]),
            &stock,
            friday_evening,
        );
    }
    let monday_nine = WEDNESDAY + 5 * DAY_US + 9 * HOUR_US;
    let mut now = friday_evening;
    while now < monday_nine {
        assert_eq!(
            alerter.tick(now).expect("tick"),
            [],
            "nothing before Monday 09:00"
        );
        now += 30 * MINUTE_US;
    }
    let digest = alerter.tick(monday_nine).expect("tick");
    assert_eq!(digest.len(), 1);
    assert_eq!(digest[0].receiver, "email-digest");
    assert_eq!(digest[0].alerts.len(), 2);
    assert_eq!(digest[0].title, "2 skus firing: MUG-01, TEE-04 (stockout)");
}

/// A crash after a notification was queued: it is handed back by the outbox after the
/// restart (same dedup key), and the transition is not notified again.
#[test]
fn a_restart_keeps_the_outbox_and_does_not_notify_twice() {
    let start = WEDNESDAY + 14 * HOUR_US;
    let config = || AlertsConfig::from_toml(OUTAGE_RULE, "test", "UTC").expect("valid");
    let mut alerter =
        Alerter::in_memory(config(), AlerterOptions::default(), start).expect("alerter");
    let checkout = group(&[("endpoint", "/checkout")]);
    let mut now = start;
    let mut queued = Vec::new();
    while queued.is_empty() {
        alerter.observe(
            "error_rate",
            "5m/10s",
            &checkout,
            &SeriesValue::Number(0.3),
            now,
        );
        queued = alerter.tick(now).expect("tick");
        now += 10 * SECOND_US;
    }
    alerter
        .mark_sent(queued[0].id, now)
        .expect("first one delivered");
    // SIGKILL: only the synced bytes survive, plus a torn frame.
    let mut bytes = alerter.journal_bytes().expect("memory journal");
    bytes.extend_from_slice(&[42, 0, 0, 0, 1, 2, 3]);
    let (store, records) = Store::from_bytes(bytes);
    let mut restarted = Alerter::restore(config(), AlerterOptions::default(), store, records, now)
        .expect("restore");
    let outbox = restarted.outbox();
    assert_eq!(
        outbox,
        queued[1..],
        "the two undelivered ones, identical (same dedup keys)"
    );
    let firing = restarted.alerts(Some(AlertState::Firing), now);
    assert_eq!(firing.len(), 1);
    for _ in 0..10 {
        restarted.observe(
            "error_rate",
            "5m/10s",
            &checkout,
            &SeriesValue::Number(0.3),
            now,
        );
        let again = restarted.tick(now).expect("tick");
        assert!(
            of_kind(&again, NotificationKind::Firing).is_empty(),
            "told already: {again:#?}"
        );
        now += 10 * SECOND_US;
    }
    // The acknowledgement survives a restart too, and escalation stays stopped.
    restarted.ack(&firing[0].id, "ben", now).expect("ack");
    let (store, records) = Store::from_bytes(restarted.journal_bytes().expect("memory"));
    let mut again = Alerter::restore(config(), AlerterOptions::default(), store, records, now)
        .expect("restore");
    assert_eq!(again.alerts(None, now)[0].state, AlertState::Acknowledged);
    let later = again.tick(now + 20 * MINUTE_US).expect("tick");
    assert!(of_kind(&later, NotificationKind::Escalation).is_empty());
}

/// An acknowledgement that lapses re-notifies the route's receivers and restarts
/// escalation.
#[test]
fn a_lapsed_acknowledgement_renotifies() {
    let start = WEDNESDAY + 14 * HOUR_US;
    let mut alerter = alerter(&OUTAGE_RULE.replace("for = \"2m\"", "for = \"0s\""), start);
    let checkout = group(&[("endpoint", "/checkout")]);
    alerter.observe(
        "error_rate",
        "5m/10s",
        &checkout,
        &SeriesValue::Number(0.3),
        start,
    );
    assert_eq!(alerter.tick(start).expect("tick").len(), 3);
    let id = alerter.alerts(None, start)[0].id.clone();
    alerter.ack(&id, "ana", start + MINUTE_US).expect("ack");
    // The default critical ack timeout is one hour.
    let mut now = start + MINUTE_US;
    let mut notifications = Vec::new();
    while now <= start + 61 * MINUTE_US {
        notifications.extend(alerter.tick(now).expect("tick"));
        now += MINUTE_US;
    }
    let lapses = of_kind(&notifications, NotificationKind::AckExpired);
    assert_eq!(lapses.len(), 3, "{notifications:#?}");
    assert_eq!(alerter.alerts(None, now)[0].state, AlertState::Firing);
    // Escalation starts over from the lapse: 5 minutes later, the next level.
    let mut later = Vec::new();
    for _ in 0..6 {
        later.extend(alerter.tick(now).expect("tick"));
        now += MINUTE_US;
    }
    assert_eq!(
        of_kind(&later, NotificationKind::Escalation).len(),
        2,
        "{later:#?}"
    );
}

/// The example configuration loads, and its rules, routes and policies are what it says.
#[test]
fn the_example_configuration_loads() {
    let text = include_str!("../examples/alerts.toml");
    let config = AlertsConfig::from_toml(text, "examples/alerts.toml", "Europe/Berlin")
        .expect("the example is valid");
    assert_eq!(config.rules.len(), 8);
    assert!(
        config
            .routes
            .receivers()
            .contains(&"payments-slack".to_owned())
    );
    assert_eq!(config.inhibit_rules.len(), 2);
    assert!(!config.describe().is_empty());
    let alerter = Alerter::in_memory(config, AlerterOptions::default(), WEDNESDAY).expect("runs");
    assert!(alerter.alerts(None, WEDNESDAY).is_empty());
}

/// A compacted journal restores the same alerts, silences and outbox, and what each
/// receiver was told: nothing is announced again after the restart.
#[test]
fn a_compacted_journal_restores_the_same_state() {
    let start = WEDNESDAY + 14 * HOUR_US;
    let config = || AlertsConfig::from_toml(OUTAGE_RULE, "test", "UTC").expect("valid");
    // Little history kept, so that compaction has something to drop.
    let options = || AlerterOptions {
        history_limit: 4,
        ..AlerterOptions::default()
    };
    let mut alerter = Alerter::in_memory(config(), options(), start).expect("alerter");
    let mut now = start;
    let mut handed_out = Vec::new();
    while now < start + 10 * MINUTE_US {
        for endpoint in ENDPOINTS {
            alerter.observe(
                "error_rate",
                "5m/10s",
                &group(&[("endpoint", endpoint)]),
                &SeriesValue::Number(0.3),
                now,
            );
        }
        handed_out.extend(alerter.tick(now).expect("tick"));
        now += 10 * SECOND_US;
    }
    let first = alerter.alerts(None, now)[0].id.clone();
    alerter.ack(&first, "ana", now).expect("ack");
    alerter
        .create_silence(
            &SilenceRequest {
                matchers: vec!["endpoint=/search".into()],
                starts_at: None,
                ends_at: now + HOUR_US,
                comment: String::new(),
                created_by: "ana".into(),
            },
            now,
        )
        .expect("silence");
    alerter
        .record_delivery(
            DeliveryRecord::of(&handed_out[1], now, 1, DeliveryOutcome::Failed)
                .with_error("slack: answered HTTP 503".to_owned(), Some(now + SECOND_US)),
        )
        .expect("failure recorded");
    alerter
        .record_delivery(DeliveryRecord::of(
            &handed_out[0],
            now,
            2,
            DeliveryOutcome::Delivered,
        ))
        .expect("delivery recorded");
    let outbox_ids: Vec<u64> = alerter.outbox().iter().map(|queued| queued.id).collect();
    assert!(
        !outbox_ids.contains(&handed_out[0].id),
        "delivered: out of the outbox"
    );
    assert!(
        outbox_ids.contains(&handed_out[1].id),
        "a failed attempt leaves it queued"
    );
    let listed = &handed_out[0].alerts[0].id;
    let outcomes: Vec<DeliveryOutcome> = alerter
        .deliveries(Some(listed))
        .iter()
        .filter(|record| record.notification_id == handed_out[0].id)
        .map(|record| record.outcome)
        .collect();
    assert_eq!(outcomes, [DeliveryOutcome::Delivered]);
    // Deliveries are journalled: a restart (before any compaction) keeps them.
    let (store, records) = Store::from_bytes(alerter.journal_bytes().expect("memory"));
    let reopened = Alerter::restore(config(), options(), store, records, now).expect("restore");
    assert_eq!(reopened.deliveries(None), alerter.deliveries(None));
    assert_eq!(reopened.outbox(), alerter.outbox());
    let before_len = alerter.journal_bytes().expect("memory").len();
    alerter.compact().expect("compact");
    assert!(alerter.journal_bytes().expect("memory").len() < before_len);
    let (store, records) = Store::from_bytes(alerter.journal_bytes().expect("memory"));
    let mut restored = Alerter::restore(config(), options(), store, records, now).expect("restore");
    assert_eq!(restored.alerts(None, now), alerter.alerts(None, now));
    assert_eq!(restored.outbox(), alerter.outbox());
    assert_eq!(restored.silences(), alerter.silences());
    assert_eq!(restored.history(None), alerter.history(None));
    assert_eq!(restored.deliveries(None), alerter.deliveries(None));
    assert_eq!(restored.deliveries(None).len(), 2);
    // Both carry on identically: no firing notification is repeated, escalation goes on
    // where it was.
    for _ in 0..30 {
        now += 10 * SECOND_US;
        for endpoint in ENDPOINTS {
            let value = SeriesValue::Number(0.3);
            alerter.observe(
                "error_rate",
                "5m/10s",
                &group(&[("endpoint", endpoint)]),
                &value,
                now,
            );
            restored.observe(
                "error_rate",
                "5m/10s",
                &group(&[("endpoint", endpoint)]),
                &value,
                now,
            );
        }
        let original = alerter.tick(now).expect("tick");
        let replayed = restored.tick(now).expect("tick");
        assert!(of_kind(&replayed, NotificationKind::Firing).is_empty());
        assert_eq!(replayed, original);
    }
}

/// Counts the hours of history read.
struct CountingCycle {
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl BaselineSource for CountingCycle {
    fn hour_value(&self, _series: &SeriesKey<'_>, start_us: i64, _end_us: i64) -> Option<f64> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(orders_per_hour(start_us))
    }
}

/// At the top of the hour every dynamic series needs new bounds; a round refreshes at
/// most `baseline_refreshes_per_round` of them, the others keep the previous hour's for a
/// round or two, so a firing alert does not flap and no round reads everything.
#[test]
fn bounds_are_refreshed_a_few_series_per_round() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let rules = r#"
[[alert]]
name = "orders_unusually_low"
kpi = "orders"
window = "1h"
condition = { dynamic = { k = 3.0, weeks = 4, min_weeks = 2, direction = "below" } }
severity = "high"
"#;
    let config = AlertsConfig::from_toml(rules, "test rules", "UTC").expect("valid rules");
    let options = AlerterOptions {
        baseline_refreshes_per_round: 2,
        ..AlerterOptions::default()
    };
    let before_hour = WEDNESDAY + 14 * HOUR_US + 59 * MINUTE_US;
    let mut alerter = Alerter::in_memory(config, options, before_hour).expect("alerter");
    let reads = Arc::new(AtomicUsize::new(0));
    alerter.set_baseline_source(Box::new(CountingCycle {
        reads: Arc::clone(&reads),
    }));
    let shops: Vec<Vec<(String, String)>> = (0..5)
        .map(|shop| group(&[("shop", &format!("shop-{shop}"))]))
        .collect();
    // One evaluation round: every shop reports, the last one down to nothing (firing once
    // it has bounds).
    let round = |alerter: &mut Alerter, now: i64| {
        for shop in &shops {
            let value = if shop == &shops[4] {
                1.0
            } else {
                orders_per_hour(now)
            };
            alerter.observe("orders", "1h", shop, &SeriesValue::Number(value), now);
        }
        alerter.tick(now).expect("tick");
    };
    // Round by round until every series has its 14:00 bounds (two per round).
    let mut now = before_hour;
    let mut rounds = 0;
    loop {
        let reads_before = reads.load(Ordering::Relaxed);
        round(&mut alerter, now);
        rounds += 1;
        let refreshed = (reads.load(Ordering::Relaxed) - reads_before) / 4;
        assert!(refreshed <= 2, "{refreshed} series refreshed in one round");
        if refreshed == 0 {
            break;
        }
        now += SECOND_US;
    }
    assert_eq!(
        rounds, 4,
        "5 series at 2 a round: 3 rounds, then none to do"
    );
    assert_eq!(alerter.alerts(Some(AlertState::Firing), now).len(), 1);

    // 15:00: every series is due again; the round's allowance goes to the first two, and
    // the firing one (the last) is judged on its 14:00 bounds rather than as learning,
    // which would have resolved it.
    now = WEDNESDAY + 15 * HOUR_US;
    let reads_before = reads.load(Ordering::Relaxed);
    round(&mut alerter, now);
    assert_eq!((reads.load(Ordering::Relaxed) - reads_before) / 4, 2);
    let firing = alerter.alerts(Some(AlertState::Firing), now);
    assert_eq!(firing.len(), 1, "still firing across the hour");
    assert!(
        alerter
            .alerts(None, now)
            .iter()
            .all(|alert| alert.state != AlertState::Resolved),
        "no alert resolved by a round without fresh bounds"
    );
}
