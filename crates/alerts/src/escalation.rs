//! Escalation policies, one per severity.
//!
//! ```toml
//! [[escalation]]
//! severity = "critical"
//! response_time = "5m"          # not acknowledged this long after firing → next level
//! levels = [{ receivers = ["oncall-call", "manager-call"] }, { receivers = ["cto-call"] }]
//! repeat = 2                    # run through the levels this many more times
//! ack_timeout = "1h"            # an acknowledgement lapses after this if still firing
//! ```
//!
//! The route's receivers are level 0: they hear of the alert first. Step `n` (n ≥ 1) is
//! due `n × response_time` after the alert fired and goes to `levels[(n - 1) % len]`, up to
//! `len × (1 + repeat)` steps. An acknowledgement stops escalation. When it lapses
//! (`ack_timeout`) the alert is unacknowledged again: the route's receivers are told, and
//! escalation starts over from that moment. Silenced and inhibited alerts do not escalate.
//! A policy given for a severity replaces that severity's default; `levels = []` turns
//! escalation off for it.

use serde::Deserialize;

use crate::clock::{HOUR_US, MINUTE_US, parse_duration_us};
use crate::error::AlertsError;
use crate::rule::Severity;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationFile {
    pub severity: String,
    pub response_time: String,
    #[serde(default)]
    pub levels: Vec<LevelFile>,
    #[serde(default)]
    pub repeat: u32,
    #[serde(default)]
    pub ack_timeout: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelFile {
    pub receivers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EscalationPolicy {
    pub severity: Severity,
    pub response_time_us: i64,
    pub levels: Vec<Vec<String>>,
    pub repeat: u32,
    pub ack_timeout_us: Option<i64>,
}

impl EscalationPolicy {
    pub fn total_steps(&self) -> u32 {
        let levels = u32::try_from(self.levels.len()).unwrap_or(u32::MAX);
        levels.saturating_mul(self.repeat.saturating_add(1))
    }

    /// The step due at `now_us` for an alert unacknowledged since `since_us` (0 = none yet).
    pub fn due_step(&self, since_us: i64, now_us: i64) -> u32 {
        if self.levels.is_empty() || self.response_time_us <= 0 || now_us <= since_us {
            return 0;
        }
        let elapsed_steps = (now_us - since_us) / self.response_time_us;
        u32::try_from(elapsed_steps)
            .unwrap_or(u32::MAX)
            .min(self.total_steps())
    }

    /// When step `step` becomes due.
    pub fn step_due_at(&self, since_us: i64, step: u32) -> i64 {
        since_us.saturating_add(self.response_time_us.saturating_mul(i64::from(step)))
    }

    /// The receivers of step `step` (1-based).
    pub fn receivers(&self, step: u32) -> &[String] {
        if step == 0 || self.levels.is_empty() {
            return &[];
        }
        let index = usize::try_from(step - 1).unwrap_or(0) % self.levels.len();
        &self.levels[index]
    }
}

/// The policy of each severity.
#[derive(Debug, Clone)]
pub struct EscalationPolicies {
    policies: Vec<EscalationPolicy>,
}

impl EscalationPolicies {
    /// The product's defaults, replaced per severity by `files`.
    pub fn compile(files: &[EscalationFile]) -> Result<EscalationPolicies, AlertsError> {
        let mut policies = default_policies();
        let mut seen = Vec::new();
        for file in files {
            let policy = file.compile()?;
            if seen.contains(&policy.severity) {
                return Err(AlertsError::InvalidEscalation {
                    severity: file.severity.clone(),
                    field: "severity".to_owned(),
                    message: "two policies for one severity; keep one".to_owned(),
                });
            }
            seen.push(policy.severity);
            policies.retain(|existing| existing.severity != policy.severity);
            policies.push(policy);
        }
        Ok(EscalationPolicies { policies })
    }

    pub fn for_severity(&self, severity: Severity) -> Option<&EscalationPolicy> {
        self.policies
            .iter()
            .find(|policy| policy.severity == severity)
    }

    pub fn all(&self) -> &[EscalationPolicy] {
        &self.policies
    }
}

/// Critical: call the on-call person and the manager again every 5 minutes until someone
/// acknowledges (4 times). High: after 15 minutes page the on-call person by SMS, then the
/// manager. Medium: remind Slack and email after an hour, twice. Low: never (a digest).
fn default_policies() -> Vec<EscalationPolicy> {
    let receivers = |names: &[&str]| {
        names
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>()
    };
    vec![
        EscalationPolicy {
            severity: Severity::Critical,
            response_time_us: 5 * MINUTE_US,
            levels: vec![receivers(&["oncall-call", "manager-call"])],
            repeat: 3,
            ack_timeout_us: Some(HOUR_US),
        },
        EscalationPolicy {
            severity: Severity::High,
            response_time_us: 15 * MINUTE_US,
            levels: vec![receivers(&["oncall-sms"]), receivers(&["manager-sms"])],
            repeat: 0,
            ack_timeout_us: Some(4 * HOUR_US),
        },
        EscalationPolicy {
            severity: Severity::Medium,
            response_time_us: HOUR_US,
            levels: vec![receivers(&["slack", "email"])],
            repeat: 1,
            ack_timeout_us: Some(12 * HOUR_US),
        },
    ]
}

impl EscalationFile {
    fn compile(&self) -> Result<EscalationPolicy, AlertsError> {
        let invalid = |field: &str, message: String| AlertsError::InvalidEscalation {
            severity: self.severity.clone(),
            field: field.to_owned(),
            message,
        };
        let severity = Severity::parse(&self.severity).ok_or_else(|| {
            invalid(
                "severity",
                format!(
                    "{:?} is not a severity; use critical, high, medium or low",
                    self.severity
                ),
            )
        })?;
        let response_time_us = parse_duration_us(&self.response_time)
            .map_err(|message| invalid("response_time", message))?;
        if response_time_us <= 0 {
            return Err(invalid(
                "response_time",
                "must be longer than zero".to_owned(),
            ));
        }
        let mut levels = Vec::new();
        for (index, level) in self.levels.iter().enumerate() {
            if level.receivers.is_empty()
                || level.receivers.iter().any(|name| name.trim().is_empty())
            {
                return Err(invalid(
                    &format!("levels[{index}].receivers"),
                    "name at least one receiver, none empty".to_owned(),
                ));
            }
            levels.push(level.receivers.clone());
        }
        let ack_timeout_us = match &self.ack_timeout {
            None => None,
            Some(text) => {
                let timeout =
                    parse_duration_us(text).map_err(|message| invalid("ack_timeout", message))?;
                if timeout <= 0 {
                    return Err(invalid(
                        "ack_timeout",
                        "must be longer than zero".to_owned(),
                    ));
                }
                Some(timeout)
            }
        };
        Ok(EscalationPolicy {
            severity,
            response_time_us,
            levels,
            repeat: self.repeat,
            ack_timeout_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_the_response_time_and_stop_after_the_repeats() {
        let policies = EscalationPolicies::compile(&[]).expect("defaults");
        let high = policies
            .for_severity(Severity::High)
            .expect("default high policy");
        assert_eq!(high.total_steps(), 2);
        assert_eq!(high.due_step(0, 15 * MINUTE_US - 1), 0);
        assert_eq!(high.due_step(0, 15 * MINUTE_US), 1);
        assert_eq!(high.receivers(1), ["oncall-sms"]);
        assert_eq!(high.due_step(0, 30 * MINUTE_US), 2);
        assert_eq!(high.receivers(2), ["manager-sms"]);
        assert_eq!(high.due_step(0, 10 * HOUR_US), 2, "capped");
        assert!(policies.for_severity(Severity::Low).is_none());
    }

    #[test]
    fn a_configured_policy_replaces_the_default_and_errors_name_the_field() {
        let file = |response: &str, levels: Vec<Vec<&str>>| EscalationFile {
            severity: "low".to_owned(),
            response_time: response.to_owned(),
            levels: levels
                .into_iter()
                .map(|names| LevelFile {
                    receivers: names.into_iter().map(str::to_owned).collect(),
                })
                .collect(),
            repeat: 0,
            ack_timeout: None,
        };
        let policies =
            EscalationPolicies::compile(&[file("1d", vec![vec!["email"]])]).expect("valid");
        assert_eq!(
            policies
                .for_severity(Severity::Low)
                .expect("configured")
                .receivers(1),
            ["email"]
        );
        let error =
            EscalationPolicies::compile(&[file("1d", vec![vec![]])]).expect_err("empty level");
        assert!(
            error
                .to_string()
                .starts_with("escalation policy for low: levels[0].receivers: "),
            "{error}"
        );
        let error = EscalationPolicies::compile(&[file("0s", vec![])]).expect_err("zero");
        assert!(error.to_string().contains("response_time"), "{error}");
    }
}
