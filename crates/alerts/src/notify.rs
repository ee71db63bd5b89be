//! Notifications: aggregation groups (Alertmanager's grouping and timing) and the outbox
//! entries they produce.
//!
//! A firing alert joins one group per route that takes it (route + receiver + the values
//! of the route's `group_by` labels). A new group is sent `group_wait` after its first
//! alert, then looked at every `group_interval`: it is sent again only when something is
//! new to its receiver (an alert firing that it has not been told of, a resolution of one
//! it has), or, unchanged, after `repeat_interval` while some alert in it is firing and
//! unacknowledged. So each transition is notified once per receiver; the notification
//! carries the whole group ("3 endpoints firing: …") with each alert marked new or not.
//!
//! What a group has told its receiver is recorded from the notifications themselves
//! ([`AggregationGroup::record`]), live and on replay of the journal: the outbox entry is
//! the single fact "this receiver knows this", so a crash can never make it forget (and
//! re-send) or believe it was told what it was not.
//!
//! Dedup keys are stable: a hash of the group key, the kind and the transitions the
//! notification is the first to report (escalations: alert, incident, lapse count, step, receiver). A
//! retry after a crash is the same journalled entry with the same key, and a notification
//! rebuilt from the same transitions gets the same key again.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::lifecycle::AlertState;
use crate::matcher::Labels;
use crate::rule::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Alerts the receiver has not been told of are firing.
    Firing,
    /// Only resolutions are new.
    Resolved,
    /// Nothing new; still firing and unacknowledged after `repeat_interval`.
    Repeat,
    /// Not acknowledged within the severity's response time: the next level.
    Escalation,
    /// An acknowledgement lapsed while the alert still fires.
    AckExpired,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Firing => "firing",
            NotificationKind::Resolved => "resolved",
            NotificationKind::Repeat => "repeat",
            NotificationKind::Escalation => "escalation",
            NotificationKind::AckExpired => "ack_expired",
        }
    }
}

/// One alert as a notification reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifiedAlert {
    /// The fingerprint, as the API shows it (16 hex digits).
    pub id: String,
    pub rule: String,
    pub incident: u64,
    /// `firing`, `acknowledged` or `resolved`.
    pub state: AlertState,
    /// This notification is the first to tell its receiver of this state.
    pub is_new: bool,
    pub severity: Severity,
    pub labels: Labels,
    /// Rendered annotations (`summary`, …) and `link` when the rule names a panel.
    pub annotations: BTreeMap<String, String>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub baseline: Option<f64>,
    pub started_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// The alert's newest transition when the notification was made.
    pub transition_seq: u64,
}

/// What an escalation or lapse notification is about, so that replay knows the step was
/// taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationMark {
    pub alert_id: String,
    pub incident: u64,
    /// Acknowledgement lapses before this step (escalation restarts at each).
    pub epoch: u32,
    /// 0 for the lapse notice itself, 1.. for escalation levels.
    pub step: u32,
}

/// An outbox entry: journalled (and synced) before anyone is told it exists; delivered by
/// the server's receivers, then marked sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Outbox sequence number.
    pub id: u64,
    /// Stable across retries and restarts: give it to receivers that deduplicate
    /// (PagerDuty `dedup_key`, webhook header).
    pub dedup_key: String,
    pub receiver: String,
    pub kind: NotificationKind,
    pub group_key: String,
    pub group_labels: Labels,
    /// One line for SMS, subjects and Slack: "3 endpoints firing: /a, /b, /c (error_rate_high)".
    pub title: String,
    pub alerts: Vec<NotifiedAlert>,
    pub created_at: i64,
    #[serde(default)]
    pub escalation: Option<EscalationMark>,
}

/// An alert as a group flush needs to see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemberView {
    pub fingerprint: u64,
    pub incident: u64,
    pub state: AlertState,
    /// Silenced or inhibited now: left out of firing notifications.
    pub muted: bool,
}

/// What a flush will send.
#[derive(Debug, Clone, PartialEq)]
pub struct FlushPlan {
    pub kind: NotificationKind,
    /// (fingerprint, is_new), firing alerts first, in fingerprint order.
    pub listed: Vec<(u64, bool)>,
}

/// A route's group of alerts for one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregationGroup {
    pub key: String,
    pub route: usize,
    pub receiver: String,
    pub labels: Labels,
    pub members: BTreeSet<u64>,
    /// What the receiver was last told of each alert: (incident, still firing).
    pub notified: BTreeMap<u64, (u64, bool)>,
    pub next_flush_at: i64,
    pub last_notified_at: Option<i64>,
}

impl AggregationGroup {
    pub fn new(
        key: String,
        route: usize,
        receiver: String,
        labels: Labels,
        next_flush_at: i64,
    ) -> AggregationGroup {
        AggregationGroup {
            key,
            route,
            receiver,
            labels,
            members: BTreeSet::new(),
            notified: BTreeMap::new(),
            next_flush_at,
            last_notified_at: None,
        }
    }

    /// Decides what a flush at `now_us` sends, if anything.
    pub fn plan_flush(
        &self,
        members: &[MemberView],
        now_us: i64,
        repeat_interval_us: i64,
    ) -> Option<FlushPlan> {
        let mut firing = Vec::new();
        let mut resolved = Vec::new();
        let mut any_new_firing = false;
        let mut any_unacknowledged = false;
        for member in members {
            let told = self.notified.get(&member.fingerprint).copied();
            if member.state.is_firing() {
                if member.muted {
                    continue;
                }
                let is_new = told != Some((member.incident, true));
                any_new_firing |= is_new;
                any_unacknowledged |= member.state == AlertState::Firing;
                firing.push((member.fingerprint, is_new));
            } else if told == Some((member.incident, true)) {
                // Told it fires: the resolution is always sent, silenced or not, so a
                // receiver's incident (a PagerDuty page) is closed.
                resolved.push((member.fingerprint, true));
            }
        }
        let kind = if any_new_firing {
            NotificationKind::Firing
        } else if !resolved.is_empty() {
            NotificationKind::Resolved
        } else if any_unacknowledged
            && self
                .last_notified_at
                .is_some_and(|last| now_us - last >= repeat_interval_us)
        {
            NotificationKind::Repeat
        } else {
            return None;
        };
        let mut listed = firing;
        listed.extend(resolved);
        Some(FlushPlan { kind, listed })
    }

    /// Records that `notification` was queued for this group: what the receiver now
    /// knows. The same call rebuilds a group from the journal.
    pub fn record(
        &mut self,
        notification: &Notification,
        fingerprint_of: impl Fn(&str) -> Option<u64>,
    ) {
        self.last_notified_at = Some(notification.created_at);
        for alert in &notification.alerts {
            let Some(fingerprint) = fingerprint_of(&alert.id) else {
                continue;
            };
            if alert.state.is_firing() {
                self.notified.insert(fingerprint, (alert.incident, true));
            } else {
                self.notified.remove(&fingerprint);
                self.members.remove(&fingerprint);
            }
        }
    }

    /// Forgets members that have nothing more to tell (resolved, never notified firing).
    pub fn prune(&mut self, is_firing: impl Fn(u64) -> bool) {
        let notified = &self.notified;
        self.members.retain(|fingerprint| {
            is_firing(*fingerprint) || notified.get(fingerprint).is_some_and(|(_, firing)| *firing)
        });
        let members = &self.members;
        self.notified
            .retain(|fingerprint, _| members.contains(fingerprint));
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// The dedup key of a group notification: the group, the kind, and the transitions it
/// is the first to report (each new alert's id and newest transition); for a repeat,
/// which reports nothing new, the alerts listed and the time.
pub fn group_dedup_key(
    group_key: &str,
    kind: NotificationKind,
    alerts: &[NotifiedAlert],
    now_us: i64,
) -> String {
    let mut hasher = Xxh3::new();
    hasher.update(group_key.as_bytes());
    hasher.update(&[0]);
    hasher.update(kind.as_str().as_bytes());
    for alert in alerts
        .iter()
        .filter(|alert| alert.is_new || kind == NotificationKind::Repeat)
    {
        hasher.update(&[0]);
        hasher.update(alert.id.as_bytes());
        hasher.update(&alert.incident.to_le_bytes());
        hasher.update(&alert.transition_seq.to_le_bytes());
    }
    if kind == NotificationKind::Repeat {
        hasher.update(&now_us.to_le_bytes());
    }
    format!("{:032x}", hasher.digest128())
}

/// The dedup key of an escalation or lapse notice.
pub fn escalation_dedup_key(
    mark: &EscalationMark,
    kind: NotificationKind,
    receiver: &str,
) -> String {
    let mut hasher = Xxh3::new();
    hasher.update(mark.alert_id.as_bytes());
    hasher.update(&[0]);
    hasher.update(kind.as_str().as_bytes());
    hasher.update(&mark.incident.to_le_bytes());
    hasher.update(&mark.epoch.to_le_bytes());
    hasher.update(&mark.step.to_le_bytes());
    hasher.update(receiver.as_bytes());
    format!("{:032x}", hasher.digest128())
}

/// One line saying what the notification is about. Alerts of one rule that differ in one
/// label read as "3 endpoints firing: /a, /b, /c (error_rate_high)".
pub fn title(kind: NotificationKind, alerts: &[NotifiedAlert]) -> String {
    let firing: Vec<&NotifiedAlert> = alerts
        .iter()
        .filter(|alert| alert.state.is_firing())
        .collect();
    let resolved: Vec<&NotifiedAlert> = alerts
        .iter()
        .filter(|alert| !alert.state.is_firing())
        .collect();
    let prefix = match kind {
        NotificationKind::Escalation => "Not acknowledged: ",
        NotificationKind::AckExpired => "Acknowledgement expired: ",
        NotificationKind::Repeat => "Still firing: ",
        NotificationKind::Firing | NotificationKind::Resolved => "",
    };
    let (subject, verb) = if kind == NotificationKind::Resolved || firing.is_empty() {
        (resolved, "resolved")
    } else {
        (firing, "firing")
    };
    let Some(first) = subject.first() else {
        return format!("{prefix}nothing to report");
    };
    if subject.len() == 1 {
        let summary = first
            .annotations
            .get("summary")
            .cloned()
            .unwrap_or_else(|| first.rule.clone());
        return format!("{prefix}[{}] {verb}: {summary}", first.severity);
    }
    let rules: BTreeSet<&str> = subject.iter().map(|alert| alert.rule.as_str()).collect();
    if rules.len() > 1 {
        let names: Vec<&str> = rules.into_iter().collect();
        return format!(
            "{prefix}{} alerts {verb}: {}",
            subject.len(),
            names.join(", ")
        );
    }
    // The labels whose values tell the alerts apart (the KPI group: endpoint, gateway…).
    let differing: Vec<&String> = first
        .labels
        .keys()
        .filter(|name| {
            subject
                .iter()
                .any(|alert| alert.labels.get(*name) != first.labels.get(*name))
        })
        .collect();
    let (noun, values) = match differing.as_slice() {
        [name] => (
            format!("{name}s"),
            subject
                .iter()
                .map(|alert| alert.labels.get(*name).cloned().unwrap_or_default())
                .collect::<Vec<_>>(),
        ),
        _ => (
            "alerts".to_owned(),
            subject
                .iter()
                .map(|alert| {
                    let group: Vec<String> = differing
                        .iter()
                        .filter_map(|name| {
                            alert
                                .labels
                                .get(*name)
                                .map(|value| format!("{name}={value}"))
                        })
                        .collect();
                    group.join(" ")
                })
                .collect(),
        ),
    };
    let mut values = values;
    values.sort();
    format!(
        "{prefix}{} {noun} {verb}: {} ({})",
        subject.len(),
        values.join(", "),
        first.rule
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(fingerprint: u64, incident: u64, state: AlertState) -> MemberView {
        MemberView {
            fingerprint,
            incident,
            state,
            muted: false,
        }
    }

    fn notified(id: u64, incident: u64, state: AlertState) -> NotifiedAlert {
        NotifiedAlert {
            id: format!("{id:016x}"),
            rule: "error_rate_high".to_owned(),
            incident,
            state,
            is_new: true,
            severity: Severity::High,
            labels: [
                ("alertname".to_owned(), "error_rate_high".to_owned()),
                ("endpoint".to_owned(), format!("/e{id}")),
            ]
            .into(),
            annotations: BTreeMap::new(),
            value: None,
            threshold: None,
            baseline: None,
            started_at: None,
            resolved_at: None,
            transition_seq: id,
        }
    }

    fn notification(kind: NotificationKind, alerts: Vec<NotifiedAlert>, at: i64) -> Notification {
        Notification {
            id: 1,
            dedup_key: String::new(),
            receiver: "slack".to_owned(),
            kind,
            group_key: "g".to_owned(),
            group_labels: Labels::new(),
            title: String::new(),
            alerts,
            created_at: at,
            escalation: None,
        }
    }

    fn parse_id(id: &str) -> Option<u64> {
        u64::from_str_radix(id, 16).ok()
    }

    #[test]
    fn each_transition_is_told_once_and_repeats_wait_for_the_interval() {
        let mut group =
            AggregationGroup::new("g".to_owned(), 0, "slack".to_owned(), Labels::new(), 0);
        group.members.extend([1, 2]);
        let firing = [
            member(1, 1, AlertState::Firing),
            member(2, 1, AlertState::Firing),
        ];
        let plan = group.plan_flush(&firing, 0, 100).expect("new alerts");
        assert_eq!(plan.kind, NotificationKind::Firing);
        assert_eq!(plan.listed, [(1, true), (2, true)]);
        group.record(
            &notification(
                NotificationKind::Firing,
                vec![
                    notified(1, 1, AlertState::Firing),
                    notified(2, 1, AlertState::Firing),
                ],
                0,
            ),
            parse_id,
        );
        assert_eq!(group.plan_flush(&firing, 99, 100), None, "nothing new");
        assert_eq!(
            group.plan_flush(&firing, 100, 100).map(|plan| plan.kind),
            Some(NotificationKind::Repeat)
        );
        let acked = [
            member(1, 1, AlertState::Acknowledged),
            member(2, 1, AlertState::Acknowledged),
        ];
        assert_eq!(
            group.plan_flush(&acked, 100, 100),
            None,
            "no repeats once acknowledged"
        );
        let one_resolved = [
            member(1, 1, AlertState::Firing),
            member(2, 1, AlertState::Resolved),
        ];
        let plan = group
            .plan_flush(&one_resolved, 50, 100)
            .expect("a resolution");
        assert_eq!(plan.kind, NotificationKind::Resolved);
        assert_eq!(plan.listed, [(1, false), (2, true)]);
        group.record(
            &notification(
                NotificationKind::Resolved,
                vec![
                    notified(1, 1, AlertState::Firing),
                    notified(2, 1, AlertState::Resolved),
                ],
                50,
            ),
            parse_id,
        );
        assert_eq!(group.members, BTreeSet::from([1]));
        let refired = [member(1, 2, AlertState::Firing)];
        assert_eq!(
            group.plan_flush(&refired, 60, 100).map(|plan| plan.kind),
            Some(NotificationKind::Firing),
            "a new incident of a known alert is new"
        );
        let muted = [MemberView {
            muted: true,
            ..member(1, 2, AlertState::Firing)
        }];
        assert_eq!(group.plan_flush(&muted, 60, 100), None, "silenced");
    }

    #[test]
    fn titles_say_how_many_of_what() {
        let alerts = vec![
            notified(1, 1, AlertState::Firing),
            notified(2, 1, AlertState::Firing),
            notified(3, 1, AlertState::Firing),
        ];
        assert_eq!(
            title(NotificationKind::Firing, &alerts),
            "3 endpoints firing: /e1, /e2, /e3 (error_rate_high)"
        );
        let mut single = notified(1, 1, AlertState::Resolved);
        single
            .annotations
            .insert("summary".to_owned(), "errors on /e1 at 7%".to_owned());
        assert_eq!(
            title(NotificationKind::Resolved, &[single]),
            "[high] resolved: errors on /e1 at 7%"
        );
    }

    #[test]
    fn dedup_keys_are_stable_and_distinct() {
        let seven = [notified(7, 1, AlertState::Firing)];
        let key = group_dedup_key("g", NotificationKind::Firing, &seven, 1);
        assert_eq!(
            key,
            group_dedup_key("g", NotificationKind::Firing, &seven, 2),
            "time only matters for repeats"
        );
        let both = [
            notified(7, 1, AlertState::Firing),
            notified(8, 1, AlertState::Firing),
        ];
        assert_ne!(
            key,
            group_dedup_key("g", NotificationKind::Firing, &both, 1)
        );
        let mut old_seven = both.clone();
        old_seven[0].is_new = false;
        assert_ne!(
            group_dedup_key("g", NotificationKind::Firing, &both, 1),
            group_dedup_key("g", NotificationKind::Firing, &old_seven, 1),
            "what is new makes the key"
        );
        assert_ne!(
            key,
            group_dedup_key("g", NotificationKind::Resolved, &seven, 1)
        );
        assert_ne!(
            group_dedup_key("g", NotificationKind::Repeat, &seven, 1),
            group_dedup_key("g", NotificationKind::Repeat, &seven, 2)
        );
        assert_eq!(key.len(), 32);
    }
}
