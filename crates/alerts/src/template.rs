//! Annotation templates: `"p95 latency of {{endpoint}} is {{value}} ms (threshold
//! {{threshold}}, usual {{baseline}}): {{link}}"`.
//!
//! Placeholders are checked when the rules load, so a typo is a configuration error with
//! the rule's name, never a literal `{{valeu}}` in a page at 3 AM. Known names: `value`,
//! `threshold`, `baseline`, `rule`, `kpi`, `window`, `severity`, `link` (the dashboard
//! panel), and any other name is a label of the alert (`{{endpoint}}`, or
//! `{{labels.endpoint}}`), empty when the alert has no such label.

use crate::matcher::{Labels, is_label_name};

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Value,
    Threshold,
    Baseline,
    Rule,
    Kpi,
    Window,
    Severity,
    Link,
    Label(String),
}

/// What a template is rendered with.
#[derive(Debug, Clone, Copy)]
pub struct TemplateContext<'a> {
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub baseline: Option<f64>,
    pub rule: &'a str,
    pub kpi: &'a str,
    pub window: &'a str,
    pub severity: &'a str,
    pub link: &'a str,
    pub labels: &'a Labels,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after_open = &rest[open + 2..];
            let Some(close) = after_open.find("}}") else {
                return Err(format!("a {{{{ at {:?} is never closed", &rest[open..]));
            };
            let name = after_open[..close].trim();
            parts.push(placeholder(name)?);
            rest = &after_open[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    pub fn render(&self, context: &TemplateContext<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Value => out.push_str(&format_number(context.value)),
                Part::Threshold => out.push_str(&format_number(context.threshold)),
                Part::Baseline => out.push_str(&format_number(context.baseline)),
                Part::Rule => out.push_str(context.rule),
                Part::Kpi => out.push_str(context.kpi),
                Part::Window => out.push_str(context.window),
                Part::Severity => out.push_str(context.severity),
                Part::Link => out.push_str(context.link),
                Part::Label(name) => {
                    out.push_str(context.labels.get(name).map_or("", String::as_str))
                }
            }
        }
        out
    }
}

fn placeholder(name: &str) -> Result<Part, String> {
    let part = match name {
        "value" => Part::Value,
        "threshold" => Part::Threshold,
        "baseline" => Part::Baseline,
        "rule" => Part::Rule,
        "kpi" => Part::Kpi,
        "window" => Part::Window,
        "severity" => Part::Severity,
        "link" => Part::Link,
        other => {
            let label = other.strip_prefix("labels.").unwrap_or(other);
            if !is_label_name(label) {
                return Err(format!(
                    "unknown placeholder {{{{{other}}}}}; use value, threshold, baseline, rule, kpi, window, severity, link or a label name"
                ));
            }
            Part::Label(label.to_owned())
        }
    };
    Ok(part)
}

/// Numbers as a person reads them: `12`, `0.053`, `1534.5`; `n/a` when there is none.
pub fn format_number(value: Option<f64>) -> String {
    let Some(value) = value else {
        return "n/a".to_owned();
    };
    if !value.is_finite() {
        return value.to_string();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    // Three significant decimals below 1, three decimals above: enough to compare with a
    // threshold, short enough for an SMS.
    let digits = if value.abs() < 1.0 { 4 } else { 3 };
    let text = format!("{value:.digits$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_values_labels_and_links() {
        let template = Template::parse(
            "{{ endpoint }} p95 {{value}} ms > {{threshold}} (usual {{baseline}}) {{labels.endpoint}} {{link}}",
        )
        .expect("valid");
        let labels: Labels = [("endpoint".to_owned(), "/checkout".to_owned())].into();
        let text = template.render(&TemplateContext {
            value: Some(812.25),
            threshold: Some(500.0),
            baseline: None,
            rule: "slow",
            kpi: "api_latency",
            window: "5m/10s",
            severity: "high",
            link: "/#panel=api",
            labels: &labels,
        });
        assert_eq!(
            text,
            "/checkout p95 812.25 ms > 500 (usual n/a) /checkout /#panel=api"
        );
    }

    #[test]
    fn unknown_or_unclosed_placeholders_are_errors() {
        assert!(
            Template::parse("{{valu-e}}")
                .expect_err("bad")
                .contains("valu-e")
        );
        assert!(Template::parse("{{value").is_err());
        assert_eq!(
            format_number(Some(0.05321)),
            "0.0532",
            "small values keep digits"
        );
        assert_eq!(format_number(Some(-0.3)), "-0.3");
    }
}
