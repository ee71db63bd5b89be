//! Alert rules as written in TOML (`[[alert]]`), validated into [`Rule`]s.
//!
//! ```toml
//! [[alert]]
//! name = "checkout_latency_high"
//! kpi = "api_latency"
//! window = "5m/10s"                # the KPI's window label; any window when omitted
//! field = "p95"                    # member of an object value (quantiles, funnel, …)
//! matchers = ["endpoint=~/checkout.*"]   # which groups of the KPI (all when omitted)
//! condition = { above = 800.0 }
//! for = "5m"
//! keep_firing_for = "2m"
//! severity = "high"
//! labels = { team = "web" }
//! annotations = { summary = "p95 of {{endpoint}} is {{value}} ms", panel = "latency" }
//! ```
//!
//! `condition` is exactly one of `{ above = X }`, `{ below = X }`,
//! `{ dynamic = { k = 3.0, weeks = 4, min_weeks = 2, direction = "below" } }`,
//! `{ seasonal = { days = 28, min_days = 14, level = 0.999, direction = "below" } }`
//! (a build with the `seasonal` feature only),
//! `{ absent = "10m", during = "business_hours" }` or
//! `{ change = { over = "1h", below = -0.3 } }`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::parse_duration_us;
use crate::error::AlertsError;
use crate::matcher::{Labels, Matcher, is_label_name, parse_all};
use crate::template::Template;

/// Labels every alert carries, set from the rule, never from `labels`.
pub const RESERVED_LABELS: [&str; 4] = ["alertname", "severity", "kpi", "window"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    // Declared from least to most severe so that `Ord` ranks critical highest.
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str() == text)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Which side of a dynamic or seasonal baseline is abnormal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Above,
    Below,
    Both,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DynamicThreshold {
    /// Bounds are mean ± k·σ.
    pub k: f64,
    /// Weeks of history looked at (the same hour of the week, 1 to `weeks` weeks back).
    pub weeks: u32,
    /// Samples of the same hour of the week needed; with fewer, the same hour of each of
    /// the last seven days is used instead.
    pub min_weeks: u32,
    /// Samples of the same hour of day needed by that fallback; with fewer, the rule does
    /// not fire (it is still learning).
    pub min_days: u32,
    pub direction: Direction,
    /// The bounds are at least this far from the mean, so a flat history (σ = 0) does not
    /// make every wiggle an incident.
    pub min_delta: f64,
}

/// Bounds from a seasonal forecast of the series' hourly history (see `seasonal.rs`,
/// built with the `seasonal` feature).
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonalBounds {
    /// Days of hourly history fitted, ending at the current local hour.
    pub days: u32,
    /// Days' worth of hours with a value needed; with fewer, the rule does not fire (it is
    /// still learning).
    pub min_days: u32,
    /// The prediction interval's level. 0.999 by default: the interval is fitted to the
    /// very hours it forecasts from, so it is optimistic — on synthetic hourly orders with
    /// 2 % noise 4.2 % of normal hours fell outside the 0.99 interval and 1.2 % outside
    /// the 0.999 one (`normal_hours_rarely_fall_outside_the_bounds`).
    pub level: f64,
    pub direction: Direction,
    /// The bounds are at least this far from the forecast, so a quiet history does not
    /// make every wiggle an incident.
    pub min_delta: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Above(f64),
    Below(f64),
    Dynamic(DynamicThreshold),
    /// Exists in every build so that a rule asking for it gets a clear error from a build
    /// without the `seasonal` feature; only the fitting is feature-gated.
    Seasonal(SeasonalBounds),
    /// No non-zero value for this long (only counted while `during` is active).
    Absent {
        for_us: i64,
        during: Option<String>,
    },
    /// Relative change against the value `over` earlier: fires at or below `below`
    /// (-0.3 = down 30 %) or at or above `above`.
    Change {
        over_us: i64,
        below: Option<f64>,
        above: Option<f64>,
    },
}

/// What a rule does when its series has no value (a ratio over nothing, a KPI that
/// stopped reporting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoDataPolicy {
    /// A firing alert keeps firing; any other goes to the NoData state (listed, never
    /// notified).
    #[default]
    Keep,
    /// No data counts as the condition being met.
    Alerting,
    /// No data counts as normal.
    Ok,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub kpi: String,
    pub window: Option<String>,
    pub field: Option<String>,
    pub matchers: Vec<Matcher>,
    pub condition: Condition,
    pub for_us: i64,
    pub keep_firing_for_us: i64,
    pub severity: Severity,
    pub labels: Labels,
    /// Rendered when an alert is listed or notified; `panel` is kept out (it makes `link`).
    pub annotations: BTreeMap<String, Template>,
    pub panel: Option<String>,
    pub no_data: NoDataPolicy,
    /// A series not updated for this long has no data (judged on `tick`).
    pub no_data_after_us: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub name: String,
    pub kpi: String,
    #[serde(default)]
    pub window: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub matchers: Vec<String>,
    pub condition: ConditionFile,
    #[serde(default, rename = "for")]
    pub for_duration: Option<String>,
    #[serde(default)]
    pub keep_firing_for: Option<String>,
    pub severity: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub no_data: NoDataPolicy,
    #[serde(default)]
    pub no_data_after: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionFile {
    #[serde(default)]
    pub above: Option<f64>,
    #[serde(default)]
    pub below: Option<f64>,
    #[serde(default)]
    pub dynamic: Option<DynamicFile>,
    #[serde(default)]
    pub seasonal: Option<SeasonalFile>,
    #[serde(default)]
    pub absent: Option<String>,
    #[serde(default)]
    pub during: Option<String>,
    #[serde(default)]
    pub change: Option<ChangeFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicFile {
    #[serde(default = "default_k")]
    pub k: f64,
    #[serde(default = "default_weeks")]
    pub weeks: u32,
    #[serde(default = "default_min_weeks")]
    pub min_weeks: u32,
    #[serde(default = "default_min_days")]
    pub min_days: u32,
    #[serde(default = "default_direction")]
    pub direction: Direction,
    #[serde(default)]
    pub min_delta: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonalFile {
    #[serde(default = "default_seasonal_days")]
    pub days: u32,
    #[serde(default = "default_seasonal_min_days")]
    pub min_days: u32,
    #[serde(default = "default_level")]
    pub level: f64,
    #[serde(default = "default_direction")]
    pub direction: Direction,
    #[serde(default)]
    pub min_delta: f64,
}

fn default_k() -> f64 {
    3.0
}
fn default_weeks() -> u32 {
    4
}
fn default_min_weeks() -> u32 {
    2
}
fn default_min_days() -> u32 {
    3
}
fn default_direction() -> Direction {
    Direction::Both
}
fn default_seasonal_days() -> u32 {
    28
}
fn default_seasonal_min_days() -> u32 {
    14
}
fn default_level() -> f64 {
    0.999
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeFile {
    pub over: String,
    #[serde(default)]
    pub below: Option<f64>,
    #[serde(default)]
    pub above: Option<f64>,
}

impl RuleFile {
    /// Validates the rule; `interval_names` are the time intervals it may name in
    /// `during`.
    pub fn compile(&self, interval_names: &BTreeSet<String>) -> Result<Rule, AlertsError> {
        let invalid = |field: &str, message: String| AlertsError::InvalidRule {
            rule: self.name.clone(),
            field: field.to_owned(),
            message,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "a rule needs a name".to_owned()));
        }
        if self.kpi.trim().is_empty() {
            return Err(invalid("kpi", "name the KPI the rule watches".to_owned()));
        }
        let severity = Severity::parse(&self.severity).ok_or_else(|| {
            invalid(
                "severity",
                format!(
                    "{:?} is not a severity; use critical, high, medium or low",
                    self.severity
                ),
            )
        })?;
        let matchers = parse_all(&self.matchers).map_err(|message| invalid("matchers", message))?;
        let condition = self.condition.compile(interval_names, &invalid)?;
        let for_us = optional_duration(self.for_duration.as_deref(), "for", &invalid)?;
        let keep_firing_for_us =
            optional_duration(self.keep_firing_for.as_deref(), "keep_firing_for", &invalid)?;
        let no_data_after_us = match self.no_data_after.as_deref() {
            None => None,
            Some(text) => {
                Some(parse_duration_us(text).map_err(|message| invalid("no_data_after", message))?)
            }
        };
        for name in self.labels.keys() {
            if !is_label_name(name) {
                return Err(invalid(
                    &format!("labels.{name}"),
                    "not a label name; use letters, digits and underscores".to_owned(),
                ));
            }
            if RESERVED_LABELS.contains(&name.as_str()) {
                return Err(invalid(
                    &format!("labels.{name}"),
                    format!("{name} is set from the rule itself; remove it from labels"),
                ));
            }
        }
        let mut annotations = BTreeMap::new();
        let mut panel = None;
        for (name, text) in &self.annotations {
            if name == "panel" {
                panel = Some(text.clone());
                continue;
            }
            let template = Template::parse(text)
                .map_err(|message| invalid(&format!("annotations.{name}"), message))?;
            annotations.insert(name.clone(), template);
        }
        Ok(Rule {
            name: self.name.clone(),
            kpi: self.kpi.clone(),
            window: self.window.clone(),
            field: self.field.clone(),
            matchers,
            condition,
            for_us,
            keep_firing_for_us,
            severity,
            labels: self.labels.clone(),
            annotations,
            panel,
            no_data: self.no_data,
            no_data_after_us,
        })
    }
}

fn optional_duration(
    text: Option<&str>,
    field: &str,
    invalid: &dyn Fn(&str, String) -> AlertsError,
) -> Result<i64, AlertsError> {
    match text {
        None => Ok(0),
        Some(text) => parse_duration_us(text).map_err(|message| invalid(field, message)),
    }
}

impl ConditionFile {
    fn compile(
        &self,
        interval_names: &BTreeSet<String>,
        invalid: &dyn Fn(&str, String) -> AlertsError,
    ) -> Result<Condition, AlertsError> {
        let kinds_set = [
            self.above.is_some(),
            self.below.is_some(),
            self.dynamic.is_some(),
            self.seasonal.is_some(),
            self.absent.is_some(),
            self.change.is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count();
        if kinds_set != 1 {
            return Err(invalid(
                "condition",
                "give exactly one of above, below, dynamic, seasonal, absent or change".to_owned(),
            ));
        }
        if self.during.is_some() && self.absent.is_none() {
            return Err(invalid(
                "condition.during",
                "during only applies to absent".to_owned(),
            ));
        }
        if let Some(threshold) = self.above {
            return finite(threshold, "condition.above", invalid).map(Condition::Above);
        }
        if let Some(threshold) = self.below {
            return finite(threshold, "condition.below", invalid).map(Condition::Below);
        }
        if let Some(dynamic) = &self.dynamic {
            return dynamic.compile(invalid).map(Condition::Dynamic);
        }
        if let Some(seasonal) = &self.seasonal {
            return seasonal.compile(invalid).map(Condition::Seasonal);
        }
        if let Some(absent) = &self.absent {
            let for_us = parse_duration_us(absent)
                .map_err(|message| invalid("condition.absent", message))?;
            if for_us <= 0 {
                return Err(invalid(
                    "condition.absent",
                    "the absence must last longer than zero".to_owned(),
                ));
            }
            if let Some(during) = &self.during
                && !interval_names.contains(during)
            {
                return Err(invalid(
                    "condition.during",
                    format!(
                        "no time interval is named {during:?}; define it under [[time_interval]] (known: {})",
                        interval_names
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            return Ok(Condition::Absent {
                for_us,
                during: self.during.clone(),
            });
        }
        let Some(change) = &self.change else {
            return Err(invalid("condition", "no condition given".to_owned()));
        };
        let over_us = parse_duration_us(&change.over)
            .map_err(|message| invalid("condition.change.over", message))?;
        if over_us <= 0 {
            return Err(invalid(
                "condition.change.over",
                "compare with a value some time back, e.g. \"1h\"".to_owned(),
            ));
        }
        if change.below.is_none() && change.above.is_none() {
            return Err(invalid(
                "condition.change",
                "give below (e.g. -0.3 for down 30 %) or above (0.5 for up 50 %)".to_owned(),
            ));
        }
        if let Some(below) = change.below {
            finite(below, "condition.change.below", invalid)?;
        }
        if let Some(above) = change.above {
            finite(above, "condition.change.above", invalid)?;
        }
        Ok(Condition::Change {
            over_us,
            below: change.below,
            above: change.above,
        })
    }
}

impl DynamicFile {
    fn compile(
        &self,
        invalid: &dyn Fn(&str, String) -> AlertsError,
    ) -> Result<DynamicThreshold, AlertsError> {
        if !(self.k.is_finite() && self.k > 0.0) {
            return Err(invalid(
                "condition.dynamic.k",
                "k must be a positive number of standard deviations, e.g. 3.0".to_owned(),
            ));
        }
        if self.weeks == 0 || self.weeks > 52 {
            return Err(invalid(
                "condition.dynamic.weeks",
                "look back between 1 and 52 weeks".to_owned(),
            ));
        }
        if self.min_weeks == 0 || self.min_weeks > self.weeks {
            return Err(invalid(
                "condition.dynamic.min_weeks",
                format!("must be between 1 and weeks ({})", self.weeks),
            ));
        }
        if self.min_days == 0 || self.min_days > 7 {
            return Err(invalid(
                "condition.dynamic.min_days",
                "the fallback reads the last 7 days: ask for 1 to 7".to_owned(),
            ));
        }
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            return Err(invalid(
                "condition.dynamic.min_delta",
                "must be zero or more".to_owned(),
            ));
        }
        Ok(DynamicThreshold {
            k: self.k,
            weeks: self.weeks,
            min_weeks: self.min_weeks,
            min_days: self.min_days,
            direction: self.direction,
            min_delta: self.min_delta,
        })
    }
}

/// Days of history fitted: three days are the least that shows a daily cycle twice with
/// room to spare; 90 days of hours (2,160) is where the fit, once an hour per series, stops
/// being cheap.
const SEASONAL_DAYS: std::ops::RangeInclusive<u32> = 3..=90;

impl SeasonalFile {
    fn compile(
        &self,
        invalid: &dyn Fn(&str, String) -> AlertsError,
    ) -> Result<SeasonalBounds, AlertsError> {
        // First, so that a build without the fitting says so instead of passing judgment
        // on fields it could not use anyway.
        if !cfg!(feature = "seasonal") {
            return Err(invalid(
                "condition.seasonal",
                "this sightline was built without the `seasonal` feature; rebuild it with \
                 `cargo build --release --features seasonal`, or use dynamic instead"
                    .to_owned(),
            ));
        }
        if !SEASONAL_DAYS.contains(&self.days) {
            return Err(invalid(
                "condition.seasonal.days",
                format!(
                    "fit between {} and {} days of history, e.g. 28",
                    SEASONAL_DAYS.start(),
                    SEASONAL_DAYS.end()
                ),
            ));
        }
        // Two days at least: a daily cycle is only told apart from noise by seeing it twice.
        if self.min_days < 2 || self.min_days > self.days {
            return Err(invalid(
                "condition.seasonal.min_days",
                format!("must be between 2 and days ({})", self.days),
            ));
        }
        if !(self.level.is_finite() && self.level > 0.0 && self.level < 1.0) {
            return Err(invalid(
                "condition.seasonal.level",
                "the prediction interval's level is a fraction between 0 and 1, e.g. 0.99"
                    .to_owned(),
            ));
        }
        if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
            return Err(invalid(
                "condition.seasonal.min_delta",
                "must be zero or more".to_owned(),
            ));
        }
        Ok(SeasonalBounds {
            days: self.days,
            min_days: self.min_days,
            level: self.level,
            direction: self.direction,
            min_delta: self.min_delta,
        })
    }
}

fn finite(
    value: f64,
    field: &str,
    invalid: &dyn Fn(&str, String) -> AlertsError,
) -> Result<f64, AlertsError> {
    if value.is_finite() {
        return Ok(value);
    }
    Err(invalid(field, "must be a finite number".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<Rule, AlertsError> {
        let file: RuleFile = toml::from_str(text).map_err(|error| AlertsError::Parse {
            origin: "test".to_owned(),
            message: error.to_string(),
        })?;
        let intervals: BTreeSet<String> = ["business_hours".to_owned()].into();
        file.compile(&intervals)
    }

    #[test]
    fn every_condition_form_compiles() {
        let base = "name = \"r\"\nkpi = \"orders\"\nseverity = \"high\"\n";
        let cases = [
            ("condition = { above = 5.0 }", Condition::Above(5.0)),
            ("condition = { below = 1 }", Condition::Below(1.0)),
            (
                "condition = { absent = \"10m\", during = \"business_hours\" }",
                Condition::Absent {
                    for_us: 600_000_000,
                    during: Some("business_hours".to_owned()),
                },
            ),
            (
                "condition = { change = { over = \"1h\", below = -0.3 } }",
                Condition::Change {
                    over_us: 3_600_000_000,
                    below: Some(-0.3),
                    above: None,
                },
            ),
            (
                "condition = { dynamic = { k = 2.5, weeks = 4, min_weeks = 2, direction = \"below\" } }",
                Condition::Dynamic(DynamicThreshold {
                    k: 2.5,
                    weeks: 4,
                    min_weeks: 2,
                    min_days: 3,
                    direction: Direction::Below,
                    min_delta: 0.0,
                }),
            ),
        ];
        for (condition, expected) in cases {
            let rule = compile(&format!("{base}{condition}")).expect(condition);
            assert_eq!(rule.condition, expected, "{condition}");
        }
    }

    #[test]
    fn errors_name_the_rule_and_the_field() {
        let cases = [
            (
                "name = \"r1\"\nkpi = \"orders\"\nseverity = \"urgent\"\ncondition = { above = 1 }",
                "severity",
            ),
            (
                "name = \"r1\"\nkpi = \"orders\"\nseverity = \"low\"\ncondition = { above = 1, below = 0 }",
                "condition",
            ),
            (
                "name = \"r1\"\nkpi = \"orders\"\nseverity = \"low\"\ncondition = { absent = \"10m\", during = \"nights\" }",
                "condition.during",
            ),
            (
                "name = \"r1\"\nkpi = \"orders\"\nseverity = \"low\"\ncondition = { above = 1 }\nfor = \"soon\"",
                "for",
            ),
            (
                "name = \"r1\"\nkpi = \"orders\"\nseverity = \"low\"\ncondition = { above = 1 }\nlabels = { severity = \"x\" }",
                "labels.severity",
            ),
            (
                "name = \"r1\"\nkpi = \"orders\"\nseverity = \"low\"\ncondition = { above = 1 }\nannotations = { summary = \"{{nope!}}\" }",
                "annotations.summary",
            ),
            (
                "name = \"r1\"\nkpi = \"orders\"\nseverity = \"low\"\ncondition = { dynamic = { k = 3.0, weeks = 2, min_weeks = 3 } }",
                "condition.dynamic.min_weeks",
            ),
        ];
        for (text, field) in cases {
            let error = compile(text).expect_err(text).to_string();
            assert!(
                error.starts_with(&format!("alert rule \"r1\": {field}: ")),
                "{error}"
            );
        }
        let unknown = compile("name = \"r1\"\nkpi = \"o\"\nseverity = \"low\"\ncondition = { above = 1 }\nthreshold = 3")
            .expect_err("unknown key");
        assert!(unknown.to_string().contains("threshold"), "{unknown}");
    }

    const SEASONAL_BASE: &str = "name = \"r1\"\nkpi = \"orders\"\nseverity = \"high\"\n";

    #[test]
    fn two_condition_kinds_are_refused_with_seasonal_among_the_choices() {
        let error = compile(&format!(
            "{SEASONAL_BASE}condition = {{ below = 5, seasonal = {{ days = 28 }} }}"
        ))
        .expect_err("two kinds");
        assert_eq!(
            error.to_string(),
            "alert rule \"r1\": condition: give exactly one of above, below, dynamic, seasonal, \
             absent or change"
        );
    }

    #[cfg(not(feature = "seasonal"))]
    #[test]
    fn without_the_feature_a_seasonal_rule_is_refused_with_how_to_rebuild() {
        // Even a rule with valid fields, and the table form of the condition.
        for condition in [
            "condition = { seasonal = {} }",
            "[condition.seasonal]\ndays = 28\nmin_days = 14\nlevel = 0.99\ndirection = \"below\"",
        ] {
            let error = compile(&format!("{SEASONAL_BASE}{condition}"))
                .expect_err(condition)
                .to_string();
            assert!(
                error.starts_with("alert rule \"r1\": condition.seasonal: "),
                "{error}"
            );
            assert!(error.contains("without the `seasonal` feature"), "{error}");
            assert!(
                error.contains("cargo build --release --features seasonal"),
                "{error}"
            );
        }
    }

    #[cfg(feature = "seasonal")]
    #[test]
    fn a_seasonal_condition_compiles_with_its_defaults() {
        let cases = [
            (
                "condition = { seasonal = {} }",
                SeasonalBounds {
                    days: 28,
                    min_days: 14,
                    level: 0.999,
                    direction: Direction::Both,
                    min_delta: 0.0,
                },
            ),
            (
                "[condition.seasonal]\ndays = 3\nmin_days = 2\nlevel = 0.95\ndirection = \"below\"\nmin_delta = 5",
                SeasonalBounds {
                    days: 3,
                    min_days: 2,
                    level: 0.95,
                    direction: Direction::Below,
                    min_delta: 5.0,
                },
            ),
        ];
        for (condition, expected) in cases {
            let rule = compile(&format!("{SEASONAL_BASE}{condition}")).expect(condition);
            assert_eq!(rule.condition, Condition::Seasonal(expected), "{condition}");
        }
    }

    #[cfg(feature = "seasonal")]
    #[test]
    fn seasonal_errors_name_the_field_and_what_to_give() {
        let cases = [
            ("days = 2", "condition.seasonal.days", "between 3 and 90"),
            ("days = 91", "condition.seasonal.days", "between 3 and 90"),
            (
                "min_days = 1",
                "condition.seasonal.min_days",
                "between 2 and days (28)",
            ),
            (
                "days = 7, min_days = 8",
                "condition.seasonal.min_days",
                "between 2 and days (7)",
            ),
            ("level = 1.0", "condition.seasonal.level", "between 0 and 1"),
            ("level = 0", "condition.seasonal.level", "between 0 and 1"),
            ("level = nan", "condition.seasonal.level", "between 0 and 1"),
            (
                "min_delta = -1",
                "condition.seasonal.min_delta",
                "zero or more",
            ),
        ];
        for (fields, field, advice) in cases {
            let error = compile(&format!(
                "{SEASONAL_BASE}condition = {{ seasonal = {{ {fields} }} }}"
            ))
            .expect_err(fields)
            .to_string();
            assert!(
                error.starts_with(&format!("alert rule \"r1\": {field}: ")),
                "{fields}: {error}"
            );
            assert!(error.contains(advice), "{fields}: {error}");
        }
        let unknown = compile(&format!(
            "{SEASONAL_BASE}condition = {{ seasonal = {{ weeks = 4 }} }}"
        ))
        .expect_err("unknown field");
        assert!(unknown.to_string().contains("weeks"), "{unknown}");
    }
}
