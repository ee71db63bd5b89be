//! Inhibition: a firing alert matching `source_matchers` keeps alerts matching
//! `target_matchers` out of notifications when they agree on the `equal` labels, as in
//! Alertmanager.
//!
//! ```toml
//! [[inhibit_rule]]
//! source_matchers = ["severity=critical"]
//! target_matchers = ["severity=~high|medium|low"]
//! same_group = true      # the two alerts have the same group labels (endpoint, gateway, …)
//! equal = []             # and the same values of these labels (absent = empty, as in Alertmanager)
//! ```
//!
//! `same_group` is Sightline's addition: group label names differ from KPI to KPI
//! (`endpoint`, `gateway`, `line_id`), so "the same group" cannot be written as a fixed
//! `equal` list. The default rule is the one above: a critical alert silences the lower
//! ones of the same group. An alert never inhibits itself.

use serde::Deserialize;

use crate::error::AlertsError;
use crate::matcher::{Labels, Matcher, all_match, is_label_name, parse_all};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleFile {
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub equal: Vec<String>,
    #[serde(default)]
    pub same_group: bool,
}

#[derive(Debug, Clone)]
pub struct InhibitRule {
    pub source_matchers: Vec<Matcher>,
    pub target_matchers: Vec<Matcher>,
    pub equal: Vec<String>,
    pub same_group: bool,
}

/// An alert as inhibition sees it.
#[derive(Debug, Clone, Copy)]
pub struct InhibitCandidate<'a> {
    pub id: u64,
    /// All of the alert's labels.
    pub labels: &'a Labels,
    /// The labels of its KPI group (empty for an ungrouped KPI).
    pub group: &'a Labels,
}

impl InhibitRuleFile {
    pub fn compile(&self, index: usize) -> Result<InhibitRule, AlertsError> {
        let invalid = |field: &str, message: String| AlertsError::InvalidInhibit {
            index,
            field: field.to_owned(),
            message,
        };
        let source_matchers = parse_all(&self.source_matchers)
            .map_err(|message| invalid("source_matchers", message))?;
        let target_matchers = parse_all(&self.target_matchers)
            .map_err(|message| invalid("target_matchers", message))?;
        if source_matchers.is_empty() || target_matchers.is_empty() {
            return Err(invalid(
                "source_matchers",
                "give both source_matchers and target_matchers, or every alert would inhibit every other".to_owned(),
            ));
        }
        if let Some(bad) = self.equal.iter().find(|name| !is_label_name(name)) {
            return Err(invalid("equal", format!("{bad:?} is not a label name")));
        }
        Ok(InhibitRule {
            source_matchers,
            target_matchers,
            equal: self.equal.clone(),
            same_group: self.same_group,
        })
    }
}

impl InhibitRule {
    pub fn inhibits(&self, source: &InhibitCandidate<'_>, target: &InhibitCandidate<'_>) -> bool {
        if source.id == target.id {
            return false;
        }
        if !all_match(&self.target_matchers, target.labels)
            || !all_match(&self.source_matchers, source.labels)
        {
            return false;
        }
        if self.same_group && source.group != target.group {
            return false;
        }
        self.equal.iter().all(|name| {
            source.labels.get(name).map_or("", String::as_str)
                == target.labels.get(name).map_or("", String::as_str)
        })
    }
}

/// Is `target` inhibited by one of the firing `sources` under any rule?
pub fn is_inhibited(
    rules: &[InhibitRule],
    target: &InhibitCandidate<'_>,
    sources: &[InhibitCandidate<'_>],
) -> bool {
    rules.iter().any(|rule| {
        all_match(&rule.target_matchers, target.labels)
            && sources.iter().any(|source| rule.inhibits(source, target))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn a_critical_alert_inhibits_lower_ones_of_the_same_group_only() {
        let rule = InhibitRuleFile {
            source_matchers: vec!["severity=critical".to_owned()],
            target_matchers: vec!["severity=~high|medium|low".to_owned()],
            equal: vec![],
            same_group: true,
        }
        .compile(0)
        .expect("valid");
        let checkout = labels(&[("endpoint", "/checkout")]);
        let cart = labels(&[("endpoint", "/cart")]);
        let critical = labels(&[("severity", "critical"), ("endpoint", "/checkout")]);
        let high_checkout = labels(&[("severity", "high"), ("endpoint", "/checkout")]);
        let high_cart = labels(&[("severity", "high"), ("endpoint", "/cart")]);
        let source = InhibitCandidate {
            id: 1,
            labels: &critical,
            group: &checkout,
        };
        let same = InhibitCandidate {
            id: 2,
            labels: &high_checkout,
            group: &checkout,
        };
        let other = InhibitCandidate {
            id: 3,
            labels: &high_cart,
            group: &cart,
        };
        let rules = [rule];
        assert!(is_inhibited(&rules, &same, &[source]));
        assert!(!is_inhibited(&rules, &other, &[source]));
        assert!(!is_inhibited(&rules, &source, &[source]), "never itself");
        assert!(!is_inhibited(&rules, &same, &[]), "no firing source");
    }

    #[test]
    fn an_inhibit_rule_needs_both_sides() {
        let error = InhibitRuleFile::default()
            .compile(2)
            .expect_err("empty")
            .to_string();
        assert!(
            error.starts_with("inhibit rule 2: source_matchers: "),
            "{error}"
        );
    }
}
