//! An alerting configuration file: rules, routes, inhibit rules, time intervals and
//! escalation policies, every part optional (unknown keys are errors). What is left out
//! is the product's default: the severity table as routes (`defaults.toml`), the default
//! inhibit rule, `business_hours`, and an escalation policy per severity.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::error::AlertsError;
use crate::escalation::{EscalationFile, EscalationPolicies};
use crate::inhibit::{InhibitRule, InhibitRuleFile};
use crate::intervals::{TimeIntervalFile, TimeIntervals};
use crate::routing::{RouteFile, RouteTree};
use crate::rule::{Rule, RuleFile};

/// The default routes and inhibit rule, as TOML.
pub const DEFAULTS: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsFile {
    #[serde(default)]
    pub alert: Vec<RuleFile>,
    #[serde(default)]
    pub route: Option<RouteFile>,
    /// `None`: the default rule; `inhibit_rule = []`: none.
    #[serde(default)]
    pub inhibit_rule: Option<Vec<InhibitRuleFile>>,
    #[serde(default)]
    pub time_interval: Vec<TimeIntervalFile>,
    #[serde(default)]
    pub escalation: Vec<EscalationFile>,
    /// `[[receiver]]` tables: where notifications go. Read by the notification crate
    /// (`sightline-notify`), which knows each kind's fields; kept here so that one file
    /// holds the whole alerting setup.
    #[serde(default)]
    pub receiver: Vec<toml::Table>,
}

impl AlertsFile {
    pub fn from_toml(text: &str, origin: &str) -> Result<AlertsFile, AlertsError> {
        toml::from_str(text).map_err(|error| AlertsError::Parse {
            origin: origin.to_owned(),
            message: error.to_string().trim_end().to_owned(),
        })
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub rules: Vec<Rule>,
    pub routes: RouteTree,
    pub inhibit_rules: Vec<InhibitRule>,
    pub intervals: TimeIntervals,
    pub escalation: EscalationPolicies,
    /// The business time zone: dynamic thresholds' hours, intervals without a zone.
    pub zone: String,
}

impl AlertsConfig {
    /// Parses and validates one file; `zone` is the business time zone (`[time] zone`).
    pub fn from_toml(text: &str, origin: &str, zone: &str) -> Result<AlertsConfig, AlertsError> {
        AlertsConfig::compile(&AlertsFile::from_toml(text, origin)?, zone)
    }

    /// No rules, the default routes and policies.
    pub fn defaults(zone: &str) -> Result<AlertsConfig, AlertsError> {
        AlertsConfig::compile(&AlertsFile::default(), zone)
    }

    pub fn compile(file: &AlertsFile, zone: &str) -> Result<AlertsConfig, AlertsError> {
        let defaults = AlertsFile::from_toml(DEFAULTS, "the built-in alert routes")?;
        crate::intervals::time_zone(zone).map_err(|message| AlertsError::Parse {
            origin: "[time] zone".to_owned(),
            message,
        })?;
        let intervals = TimeIntervals::compile(&file.time_interval, zone)?;
        let interval_names = intervals.names();
        let mut rules = Vec::new();
        let mut names = BTreeSet::new();
        for rule_file in &file.alert {
            let rule = rule_file.compile(&interval_names)?;
            if !names.insert(rule.name.clone()) {
                return Err(AlertsError::InvalidRule {
                    rule: rule.name.clone(),
                    field: "name".to_owned(),
                    message: "two rules have this name; names must be unique (they make the alert's identity)"
                        .to_owned(),
                });
            }
            rules.push(rule);
        }
        let route_file = file
            .route
            .as_ref()
            .or(defaults.route.as_ref())
            .cloned()
            .unwrap_or_default();
        let routes = RouteTree::compile(&route_file, &intervals)?;
        let inhibit_files = file
            .inhibit_rule
            .as_ref()
            .or(defaults.inhibit_rule.as_ref())
            .cloned()
            .unwrap_or_default();
        let inhibit_rules = inhibit_files
            .iter()
            .enumerate()
            .map(|(index, rule)| rule.compile(index))
            .collect::<Result<Vec<_>, _>>()?;
        let escalation = EscalationPolicies::compile(&file.escalation)?;
        Ok(AlertsConfig {
            rules,
            routes,
            inhibit_rules,
            intervals,
            escalation,
            zone: zone.to_owned(),
        })
    }

    /// Every receiver a route or an escalation level names, sorted, each once.
    pub fn receivers_named(&self) -> Vec<String> {
        let mut names = self.routes.receivers();
        for policy in self.escalation.all() {
            names.extend(policy.levels.iter().flatten().cloned());
        }
        names.sort();
        names.dedup();
        names
    }

    /// One line per rule, route and policy, for `sightline check`.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for rule in &self.rules {
            lines.push(format!(
                "alert {} ({}): {}{} {:?}, for {}",
                rule.name,
                rule.severity,
                rule.kpi,
                rule.window
                    .as_ref()
                    .map(|window| format!(" [{window}]"))
                    .unwrap_or_default(),
                rule.condition,
                crate::clock::format_duration_us(rule.for_us),
            ));
        }
        for index in 0..self.routes.len() {
            let route = self.routes.route(index);
            let matchers: Vec<String> = route.matchers.iter().map(ToString::to_string).collect();
            lines.push(format!(
                "route {} → {} when {{{}}}{}",
                route.id,
                route.receiver,
                matchers.join(", "),
                if route.continue_matching {
                    ", continue"
                } else {
                    ""
                }
            ));
        }
        for policy in self.escalation.all() {
            lines.push(format!(
                "escalation {}: after {} → {:?}, {} more round(s)",
                policy.severity,
                crate::clock::format_duration_us(policy.response_time_us),
                policy.levels,
                policy.repeat
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::Labels;

    fn receivers(config: &AlertsConfig, severity: &str) -> Vec<String> {
        let labels: Labels = [("severity".to_owned(), severity.to_owned())].into();
        config
            .routes
            .match_routes(&labels)
            .into_iter()
            .map(|route| config.routes.route(route).receiver.clone())
            .collect()
    }

    #[test]
    fn the_default_routing_is_the_severity_table() {
        let config = AlertsConfig::defaults("Europe/Berlin").expect("defaults compile");
        assert_eq!(
            receivers(&config, "critical"),
            ["oncall-sms", "oncall-call", "manager-sms"]
        );
        assert_eq!(receivers(&config, "high"), ["slack", "email"]);
        assert_eq!(receivers(&config, "medium"), ["slack"]);
        assert_eq!(receivers(&config, "low"), ["email-digest"]);
        assert_eq!(config.inhibit_rules.len(), 1);
        assert!(!config.describe().is_empty());
    }

    #[test]
    fn errors_name_the_file_or_the_part() {
        let error =
            AlertsConfig::from_toml("[[alert]]\nname = 1", "alerts.toml", "UTC").expect_err("type");
        assert!(error.to_string().starts_with("alerts.toml: "), "{error}");
        let twice = "[[alert]]\nname = \"a\"\nkpi = \"orders\"\nseverity = \"low\"\ncondition = { above = 1 }\n"
            .repeat(2);
        let error = AlertsConfig::from_toml(&twice, "alerts.toml", "UTC").expect_err("duplicate");
        assert!(
            error.to_string().starts_with("alert rule \"a\": name: "),
            "{error}"
        );
        let error = AlertsConfig::from_toml("", "alerts.toml", "Mars/Olympus").expect_err("zone");
        assert!(error.to_string().contains("Mars/Olympus"), "{error}");
    }
}
