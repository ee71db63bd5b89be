//! The tuning report (`sightline alerts report`): per rule, how often it fired, how
//! quickly people acknowledged it, and how much of it anyone acted on. Rules that fire
//! and are never acted on teach people to ignore alerts: they come first, with advice to
//! downgrade or remove them; then the noisiest.

use std::collections::BTreeMap;

use crate::clock::{format_duration_us, format_rfc3339};
use crate::lifecycle::{AlertState, Cause, Transition};
use crate::rule::Rule;

#[derive(Debug, Clone, PartialEq)]
pub struct RuleReport {
    pub rule: String,
    /// `None` for a rule no longer configured.
    pub severity: Option<crate::rule::Severity>,
    pub fired: u64,
    pub acknowledged: u64,
    pub resolved_by_hand: u64,
    /// Resolved by the rule itself with nobody acknowledging or resolving it.
    pub auto_resolved: u64,
    pub median_time_to_ack_us: Option<i64>,
    /// Share of firings acknowledged, resolved by hand or assigned.
    pub share_acted_on: f64,
    pub share_auto_resolved: f64,
    pub never_acted_on: bool,
    pub advice: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TuningReport {
    pub since_us: i64,
    pub until_us: i64,
    pub rules: Vec<RuleReport>,
}

#[derive(Debug, Default)]
struct Incident {
    rule: String,
    fired_at: i64,
    acked_at: Option<i64>,
    acted_on: bool,
    resolved_by_hand: bool,
    auto_resolved: bool,
}

/// The report over `transitions` (history, oldest first) in `[since_us, until_us]`; every
/// configured rule appears, fired or not.
pub fn tuning_report(
    rules: &[Rule],
    transitions: &[Transition],
    since_us: i64,
    until_us: i64,
) -> TuningReport {
    let mut incidents: BTreeMap<(String, u64), Incident> = BTreeMap::new();
    for transition in transitions {
        if transition.at_us < since_us || transition.at_us > until_us {
            continue;
        }
        let key = (transition.alert_id.clone(), transition.incident);
        if transition.to == AlertState::Firing && !transition.from.is_firing() {
            incidents.insert(
                key,
                Incident {
                    rule: transition.rule.clone(),
                    fired_at: transition.at_us,
                    ..Incident::default()
                },
            );
            continue;
        }
        let Some(incident) = incidents.get_mut(&key) else {
            continue;
        };
        match &transition.cause {
            Cause::Acknowledged { .. } => {
                incident.acked_at.get_or_insert(transition.at_us);
                incident.acted_on = true;
            }
            Cause::Assigned { .. } => incident.acted_on = true,
            Cause::ResolvedByHand { .. } if transition.from.is_firing() => {
                incident.resolved_by_hand = true;
                incident.acted_on = true;
            }
            Cause::Evaluation
                if transition.to == AlertState::Resolved && transition.from.is_firing() =>
            {
                incident.auto_resolved = !incident.acted_on;
            }
            _ => {}
        }
    }
    let mut by_rule: BTreeMap<String, Vec<&Incident>> = rules
        .iter()
        .map(|rule| (rule.name.clone(), Vec::new()))
        .collect();
    for incident in incidents.values() {
        by_rule
            .entry(incident.rule.clone())
            .or_default()
            .push(incident);
    }
    let mut reports: Vec<RuleReport> = by_rule
        .into_iter()
        .map(|(name, incidents)| {
            let severity = rules
                .iter()
                .find(|rule| rule.name == name)
                .map(|rule| rule.severity);
            rule_report(name, severity, &incidents)
        })
        .collect();
    reports.sort_by(|left, right| {
        right
            .never_acted_on
            .cmp(&left.never_acted_on)
            .then_with(|| right.fired.cmp(&left.fired))
            .then_with(|| left.rule.cmp(&right.rule))
    });
    TuningReport {
        since_us,
        until_us,
        rules: reports,
    }
}

fn rule_report(
    rule: String,
    severity: Option<crate::rule::Severity>,
    incidents: &[&Incident],
) -> RuleReport {
    let fired = incidents.len() as u64;
    let acknowledged = incidents
        .iter()
        .filter(|incident| incident.acked_at.is_some())
        .count() as u64;
    let acted_on = incidents
        .iter()
        .filter(|incident| incident.acted_on)
        .count() as u64;
    let resolved_by_hand = incidents
        .iter()
        .filter(|incident| incident.resolved_by_hand)
        .count() as u64;
    let auto_resolved = incidents
        .iter()
        .filter(|incident| incident.auto_resolved)
        .count() as u64;
    let mut times_to_ack: Vec<i64> = incidents
        .iter()
        .filter_map(|incident| {
            incident
                .acked_at
                .map(|acked_at| acked_at - incident.fired_at)
        })
        .collect();
    times_to_ack.sort_unstable();
    let median_time_to_ack_us = match times_to_ack.len() {
        0 => None,
        count if count % 2 == 1 => Some(times_to_ack[count / 2]),
        count => Some((times_to_ack[count / 2 - 1] + times_to_ack[count / 2]) / 2),
    };
    let share = |part: u64| {
        if fired == 0 {
            0.0
        } else {
            part as f64 / fired as f64
        }
    };
    let never_acted_on = fired > 0 && acted_on == 0;
    let advice = match (never_acted_on, severity) {
        (false, _) => None,
        (true, Some(crate::rule::Severity::Critical | crate::rule::Severity::High)) => {
            Some(format!(
                "fired {fired} time(s) and nobody acted: downgrade it (or raise its threshold, lengthen its `for`)"
            ))
        }
        (true, Some(_)) => Some(format!(
            "fired {fired} time(s) and nobody acted: remove it, or keep it as a dashboard panel"
        )),
        (true, None) => Some("no longer configured".to_owned()),
    };
    RuleReport {
        rule,
        severity,
        fired,
        acknowledged,
        resolved_by_hand,
        auto_resolved,
        median_time_to_ack_us,
        share_acted_on: share(acted_on),
        share_auto_resolved: share(auto_resolved),
        never_acted_on,
        advice,
    }
}

impl TuningReport {
    /// A plain-text table for the terminal.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "Alert tuning report, {} to {}\n\n{:<32} {:<9} {:>6} {:>10} {:>8} {:>8}  advice\n",
            format_rfc3339(self.since_us),
            format_rfc3339(self.until_us),
            "rule",
            "severity",
            "fired",
            "median ack",
            "acted",
            "auto",
        );
        for report in &self.rules {
            out.push_str(&format!(
                "{:<32} {:<9} {:>6} {:>10} {:>7.0}% {:>7.0}%  {}\n",
                report.rule,
                report.severity.map_or("-", |severity| severity.as_str()),
                report.fired,
                report
                    .median_time_to_ack_us
                    .map_or("-".to_owned(), format_duration_us),
                report.share_acted_on * 100.0,
                report.share_auto_resolved * 100.0,
                report.advice.as_deref().unwrap_or(""),
            ));
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        let rules: Vec<serde_json::Value> = self
            .rules
            .iter()
            .map(|report| {
                serde_json::json!({
                    "rule": report.rule,
                    "severity": report.severity.map(|severity| severity.as_str()),
                    "fired": report.fired,
                    "acknowledged": report.acknowledged,
                    "resolved_by_hand": report.resolved_by_hand,
                    "auto_resolved": report.auto_resolved,
                    "median_time_to_ack_seconds": report.median_time_to_ack_us.map(|micros| micros / 1_000_000),
                    "share_acted_on": report.share_acted_on,
                    "share_auto_resolved": report.share_auto_resolved,
                    "never_acted_on": report.never_acted_on,
                    "advice": report.advice,
                })
            })
            .collect();
        serde_json::json!({
            "since": format_rfc3339(self.since_us),
            "until": format_rfc3339(self.until_us),
            "rules": rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlertsConfig;

    fn transition(
        alert: &str,
        rule: &str,
        incident: u64,
        at: i64,
        from: AlertState,
        to: AlertState,
        cause: Cause,
    ) -> Transition {
        Transition {
            seq: 0,
            at_us: at,
            alert_id: alert.to_owned(),
            rule: rule.to_owned(),
            group: Vec::new(),
            incident,
            from,
            to,
            cause,
            value: None,
            threshold: None,
            baseline: None,
        }
    }

    #[test]
    fn never_acted_on_first_then_the_noisiest_with_median_ack_times() {
        let config = AlertsConfig::from_toml(
            r#"
            [[alert]]
            name = "noisy"
            kpi = "k"
            severity = "high"
            condition = { above = 1 }
            [[alert]]
            name = "useful"
            kpi = "k"
            severity = "critical"
            condition = { above = 1 }
            [[alert]]
            name = "quiet"
            kpi = "k"
            severity = "low"
            condition = { above = 1 }
            "#,
            "test",
            "UTC",
        )
        .expect("valid");
        use AlertState::*;
        let mut history = Vec::new();
        for incident in 1..=3 {
            let at = incident as i64 * 1000;
            history.push(transition(
                "n",
                "noisy",
                incident,
                at,
                Pending,
                Firing,
                Cause::Evaluation,
            ));
            history.push(transition(
                "n",
                "noisy",
                incident,
                at + 50,
                Firing,
                Resolved,
                Cause::Evaluation,
            ));
        }
        for (incident, ack_after) in [(1, 60), (2, 120), (3, 600), (4, 30)] {
            let at = incident as i64 * 10_000;
            history.push(transition(
                "u",
                "useful",
                incident,
                at,
                Pending,
                Firing,
                Cause::Evaluation,
            ));
            history.push(transition(
                "u",
                "useful",
                incident,
                at + ack_after,
                Firing,
                Acknowledged,
                Cause::Acknowledged {
                    by: "ana".to_owned(),
                },
            ));
            history.push(transition(
                "u",
                "useful",
                incident,
                at + 900,
                Acknowledged,
                Resolved,
                Cause::Evaluation,
            ));
        }
        let report = tuning_report(&config.rules, &history, 0, 1_000_000);
        let order: Vec<&str> = report.rules.iter().map(|rule| rule.rule.as_str()).collect();
        assert_eq!(order, ["noisy", "useful", "quiet"]);
        let noisy = &report.rules[0];
        assert_eq!(
            (noisy.fired, noisy.auto_resolved, noisy.share_auto_resolved),
            (3, 3, 1.0)
        );
        assert!(noisy.never_acted_on);
        assert!(noisy.advice.as_deref().unwrap_or("").contains("downgrade"));
        let useful = &report.rules[1];
        assert_eq!((useful.fired, useful.acknowledged), (4, 4));
        assert_eq!(
            useful.median_time_to_ack_us,
            Some(90),
            "median of 30, 60, 120, 600"
        );
        assert_eq!(useful.share_auto_resolved, 0.0);
        assert!(!useful.never_acted_on);
        assert_eq!(report.rules[2].fired, 0);
        assert!(report.to_text().contains("noisy"));
        assert_eq!(report.to_json()["rules"][0]["rule"], "noisy");
    }
}
