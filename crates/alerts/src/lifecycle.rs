//! One alert's lifecycle: Normal → Pending (`for`) → Firing → Resolved (after
//! `keep_firing_for` of the condition not being met), NoData, and the people's part:
//! acknowledged, assigned, resolved by hand.
//!
//! ```text
//!            met                 met for `for`              not met for `keep_firing_for`
//! Normal ───────────► Pending ─────────────────► Firing ────────────────────────────► Resolved
//!   ▲  ▲                 │ not met                 │ ▲ ack          ack timeout        │  met
//!   │  └─────────────────┘                         ▼ │                                  ▼
//!   │                                          Acknowledged ─── not met / by hand ──► Resolved → Pending …
//!   └── value again ── NoData ◄── no value (unless firing) ──
//! ```
//!
//! Every change is a [`Transition`] (time, from, to, cause, value) kept in history and
//! written to the journal. The durable fields of [`Lifecycle`] change only through
//! [`Lifecycle::apply`], both live and when the journal is replayed, so a replayed alert is
//! the alert that was journalled. What is not journalled (the last verdict, since when the
//! condition has been clear) is re-learned from the next update.

use serde::{Deserialize, Serialize};

use crate::evaluate::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Normal,
    Pending,
    Firing,
    Acknowledged,
    Resolved,
    #[serde(rename = "nodata")]
    NoData,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Normal => "normal",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
            AlertState::NoData => "nodata",
        }
    }

    pub fn parse(text: &str) -> Option<AlertState> {
        [
            AlertState::Normal,
            AlertState::Pending,
            AlertState::Firing,
            AlertState::Acknowledged,
            AlertState::Resolved,
            AlertState::NoData,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }

    /// Firing, acknowledged or not: what routing, inhibition and notifications see.
    pub fn is_firing(self) -> bool {
        matches!(self, AlertState::Firing | AlertState::Acknowledged)
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// The rule's condition (or the clock: `for`, `keep_firing_for`, absence).
    Evaluation,
    Acknowledged {
        by: String,
    },
    /// An acknowledgement that lapsed while the alert was still firing.
    AckExpired,
    /// Not a change of state: the alert was assigned to someone.
    Assigned {
        to: String,
        by: String,
    },
    ResolvedByHand {
        by: String,
    },
    /// The rule is no longer configured.
    RuleRemoved,
}

/// One change of one alert, as kept in history and the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Dense over the whole alerter, never reused: orders history and makes dedup keys.
    pub seq: u64,
    pub at_us: i64,
    pub alert_id: String,
    pub rule: String,
    /// The KPI group's labels: with the rule, the alert's identity.
    pub group: Vec<(String, String)>,
    /// Which firing of this alert this belongs to (1 for the first), after the change.
    pub incident: u64,
    pub from: AlertState,
    pub to: AlertState,
    pub cause: Cause,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub baseline: Option<f64>,
}

/// A change decided by [`Lifecycle::evaluate`] or [`Lifecycle::on_clock`], before it is
/// numbered and applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub from: AlertState,
    pub to: AlertState,
    pub cause: Cause,
    pub incident: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub state: AlertState,
    /// Incidents so far (times it went firing).
    pub incident: u64,
    /// When the current episode began (pending, or firing straight away).
    pub started_at: Option<i64>,
    pub firing_since: Option<i64>,
    pub resolved_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub assignee: Option<String>,
    /// Acknowledgements that lapsed in this incident; each starts escalation over.
    pub ack_epoch: u32,
    /// Escalation counts its response times from here (firing, or the last lapse).
    pub escalation_since: Option<i64>,
    pub last_seq: u64,
    pub last_transition_at: Option<i64>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub baseline: Option<f64>,
    /// Not journalled: re-learned from the next update.
    #[serde(skip)]
    pub last_verdict: Option<Verdict>,
    /// Not journalled: since when a firing alert's condition has not been met.
    #[serde(skip)]
    pub clear_since: Option<i64>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            state: AlertState::Normal,
            incident: 0,
            started_at: None,
            firing_since: None,
            resolved_at: None,
            acknowledged_by: None,
            acknowledged_at: None,
            assignee: None,
            ack_epoch: 0,
            escalation_since: None,
            last_seq: 0,
            last_transition_at: None,
            value: None,
            threshold: None,
            baseline: None,
            last_verdict: None,
            clear_since: None,
        }
    }
}

impl Lifecycle {
    /// The changes a verdict at `now_us` makes (none, one, or pending and firing at once
    /// when `for` is zero).
    pub fn evaluate(
        &mut self,
        verdict: Verdict,
        now_us: i64,
        for_us: i64,
        keep_firing_for_us: i64,
    ) -> Vec<Change> {
        self.last_verdict = Some(verdict);
        let mut changes = Vec::new();
        match verdict {
            Verdict::Met => {
                self.clear_since = None;
                match self.state {
                    AlertState::Normal | AlertState::Resolved | AlertState::NoData => {
                        changes.push(self.change(AlertState::Pending, Cause::Evaluation));
                        if for_us <= 0 {
                            changes.push(Change {
                                from: AlertState::Pending,
                                to: AlertState::Firing,
                                cause: Cause::Evaluation,
                                incident: self.incident + 1,
                            });
                        }
                    }
                    AlertState::Pending => {
                        if self.pending_for(now_us) >= for_us {
                            changes.push(self.change(AlertState::Firing, Cause::Evaluation));
                        }
                    }
                    AlertState::Firing | AlertState::Acknowledged => {}
                }
            }
            Verdict::NotMet => match self.state {
                AlertState::Pending | AlertState::NoData => {
                    changes.push(self.change(AlertState::Normal, Cause::Evaluation));
                }
                AlertState::Firing | AlertState::Acknowledged => {
                    let clear_since = *self.clear_since.get_or_insert(now_us);
                    if now_us - clear_since >= keep_firing_for_us {
                        changes.push(self.change(AlertState::Resolved, Cause::Evaluation));
                    }
                }
                AlertState::Normal | AlertState::Resolved => {}
            },
            Verdict::NoData => match self.state {
                AlertState::Normal | AlertState::Resolved | AlertState::Pending => {
                    changes.push(self.change(AlertState::NoData, Cause::Evaluation));
                }
                // A firing alert keeps firing while its KPI is silent: losing sight of a
                // problem is not fixing it.
                AlertState::Firing | AlertState::Acknowledged | AlertState::NoData => {}
            },
        }
        changes
    }

    /// The changes the clock alone makes: `for` elapsed while the condition still holds,
    /// `keep_firing_for` elapsed while it does not, an acknowledgement lapsing.
    pub fn on_clock(
        &self,
        now_us: i64,
        for_us: i64,
        keep_firing_for_us: i64,
        ack_timeout_us: Option<i64>,
    ) -> Option<Change> {
        match self.state {
            AlertState::Pending
                if self.last_verdict == Some(Verdict::Met)
                    && self.pending_for(now_us) >= for_us =>
            {
                Some(self.change(AlertState::Firing, Cause::Evaluation))
            }
            AlertState::Firing | AlertState::Acknowledged
                if self
                    .clear_since
                    .is_some_and(|clear_since| now_us - clear_since >= keep_firing_for_us) =>
            {
                Some(self.change(AlertState::Resolved, Cause::Evaluation))
            }
            AlertState::Acknowledged
                if ack_timeout_us
                    .zip(self.acknowledged_at)
                    .is_some_and(|(timeout, acked_at)| now_us - acked_at >= timeout) =>
            {
                Some(self.change(AlertState::Firing, Cause::AckExpired))
            }
            _ => None,
        }
    }

    pub fn change(&self, to: AlertState, cause: Cause) -> Change {
        let entering_fire = to == AlertState::Firing && !self.state.is_firing();
        Change {
            from: self.state,
            to,
            cause,
            incident: if entering_fire {
                self.incident + 1
            } else {
                self.incident
            },
        }
    }

    fn pending_for(&self, now_us: i64) -> i64 {
        now_us - self.started_at.unwrap_or(now_us)
    }

    /// Applies a numbered transition: the one way the durable fields change.
    pub fn apply(&mut self, transition: &Transition) {
        let at = transition.at_us;
        if let Cause::Assigned { to, .. } = &transition.cause {
            self.assignee = if to.is_empty() {
                None
            } else {
                Some(to.clone())
            };
        }
        match (transition.from, transition.to) {
            (_, AlertState::Pending) => {
                self.started_at = Some(at);
                self.firing_since = None;
                self.resolved_at = None;
                self.acknowledged_by = None;
                self.acknowledged_at = None;
                self.assignee = None;
                self.clear_since = None;
            }
            (AlertState::Acknowledged, AlertState::Firing) => {
                // The acknowledgement lapsed: escalation starts over from now.
                self.acknowledged_by = None;
                self.acknowledged_at = None;
                self.ack_epoch += 1;
                self.escalation_since = Some(at);
            }
            (from, AlertState::Firing) if !from.is_firing() => {
                self.started_at.get_or_insert(at);
                self.firing_since = Some(at);
                self.escalation_since = Some(at);
                self.ack_epoch = 0;
                self.clear_since = None;
            }
            (_, AlertState::Acknowledged) => {
                if let Cause::Acknowledged { by } = &transition.cause {
                    self.acknowledged_by = Some(by.clone());
                }
                self.acknowledged_at = Some(at);
            }
            (from, AlertState::Resolved) if from != AlertState::Resolved => {
                self.resolved_at = Some(at);
                self.clear_since = None;
            }
            (_, AlertState::Normal | AlertState::NoData) => {
                self.started_at = None;
                self.firing_since = None;
            }
            _ => {}
        }
        self.state = transition.to;
        self.incident = transition.incident;
        self.last_seq = transition.seq;
        self.last_transition_at = Some(at);
        if transition.value.is_some() {
            self.value = transition.value;
            self.threshold = transition.threshold;
            self.baseline = transition.baseline;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a lifecycle the way the alerter does: numbered transitions, applied.
    fn step(
        lifecycle: &mut Lifecycle,
        changes: Vec<Change>,
        at: i64,
        seq: &mut u64,
    ) -> Vec<(AlertState, AlertState)> {
        changes
            .into_iter()
            .map(|change| {
                *seq += 1;
                let transition = Transition {
                    seq: *seq,
                    at_us: at,
                    alert_id: "a".to_owned(),
                    rule: "r".to_owned(),
                    group: Vec::new(),
                    incident: change.incident,
                    from: change.from,
                    to: change.to,
                    cause: change.cause,
                    value: Some(1.0),
                    threshold: None,
                    baseline: None,
                };
                lifecycle.apply(&transition);
                (transition.from, transition.to)
            })
            .collect()
    }

    #[test]
    fn pending_for_then_firing_then_resolved_after_keep_firing_for() {
        let mut lifecycle = Lifecycle::default();
        let mut seq = 0;
        let changes = lifecycle.evaluate(Verdict::Met, 0, 300, 120);
        assert_eq!(
            step(&mut lifecycle, changes, 0, &mut seq),
            [(AlertState::Normal, AlertState::Pending)]
        );
        assert!(lifecycle.evaluate(Verdict::Met, 299, 300, 120).is_empty());
        assert!(lifecycle.on_clock(299, 300, 120, None).is_none());
        let change = lifecycle
            .on_clock(300, 300, 120, None)
            .expect("for elapsed");
        assert_eq!(
            step(&mut lifecycle, vec![change], 300, &mut seq),
            [(AlertState::Pending, AlertState::Firing)]
        );
        assert_eq!(
            (
                lifecycle.incident,
                lifecycle.firing_since,
                lifecycle.started_at
            ),
            (1, Some(300), Some(0))
        );
        assert!(
            lifecycle
                .evaluate(Verdict::NotMet, 400, 300, 120)
                .is_empty(),
            "keep firing"
        );
        assert!(
            lifecycle.evaluate(Verdict::Met, 450, 300, 120).is_empty(),
            "met again resets"
        );
        assert!(
            lifecycle
                .evaluate(Verdict::NotMet, 500, 300, 120)
                .is_empty()
        );
        let change = lifecycle
            .on_clock(620, 300, 120, None)
            .expect("keep_firing_for elapsed");
        assert_eq!(
            step(&mut lifecycle, vec![change], 620, &mut seq),
            [(AlertState::Firing, AlertState::Resolved)]
        );
        assert_eq!(lifecycle.resolved_at, Some(620));
    }

    #[test]
    fn pending_that_clears_returns_to_normal_and_no_data_keeps_a_firing_alert() {
        let mut lifecycle = Lifecycle::default();
        let mut seq = 0;
        let changes = lifecycle.evaluate(Verdict::Met, 0, 300, 0);
        step(&mut lifecycle, changes, 0, &mut seq);
        let changes = lifecycle.evaluate(Verdict::NotMet, 10, 300, 0);
        assert_eq!(
            step(&mut lifecycle, changes, 10, &mut seq),
            [(AlertState::Pending, AlertState::Normal)]
        );
        let changes = lifecycle.evaluate(Verdict::Met, 20, 0, 0);
        assert_eq!(
            step(&mut lifecycle, changes, 20, &mut seq),
            [
                (AlertState::Normal, AlertState::Pending),
                (AlertState::Pending, AlertState::Firing)
            ],
            "for = 0 fires at once"
        );
        assert!(lifecycle.evaluate(Verdict::NoData, 30, 0, 0).is_empty());
        assert_eq!(lifecycle.state, AlertState::Firing);
    }

    #[test]
    fn an_acknowledgement_lapses_and_restarts_escalation() {
        let mut lifecycle = Lifecycle::default();
        let mut seq = 0;
        let changes = lifecycle.evaluate(Verdict::Met, 0, 0, 0);
        step(&mut lifecycle, changes, 0, &mut seq);
        let ack = lifecycle.change(
            AlertState::Acknowledged,
            Cause::Acknowledged {
                by: "ana".to_owned(),
            },
        );
        step(&mut lifecycle, vec![ack], 100, &mut seq);
        assert_eq!(lifecycle.acknowledged_by.as_deref(), Some("ana"));
        assert!(lifecycle.on_clock(1099, 0, 0, Some(1000)).is_none());
        let lapse = lifecycle.on_clock(1100, 0, 0, Some(1000)).expect("lapsed");
        assert_eq!(lapse.cause, Cause::AckExpired);
        step(&mut lifecycle, vec![lapse], 1100, &mut seq);
        assert_eq!(
            (lifecycle.state, lifecycle.ack_epoch),
            (AlertState::Firing, 1)
        );
        assert_eq!(
            (lifecycle.escalation_since, lifecycle.incident),
            (Some(1100), 1)
        );
    }
}
