//! What every receiver says about an alert, worded once.

use sightline_alerts::clock::format_rfc3339;
use sightline_alerts::{AlertState, Notification, NotifiedAlert, Severity};

/// RFC 3339 of a microsecond timestamp; Alertmanager's zero time when there is none.
pub(crate) fn rfc3339(micros: Option<i64>) -> String {
    micros.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), format_rfc3339)
}

pub(crate) fn summary(alert: &NotifiedAlert) -> String {
    alert
        .annotations
        .get("summary")
        .cloned()
        .unwrap_or_else(|| alert.rule.clone())
}

/// The dashboard link of an alert, absolute when the rule gave a path and the receiver
/// knows Sightline's external URL.
pub(crate) fn link(alert: &NotifiedAlert, external_url: Option<&str>) -> Option<String> {
    let link = alert.annotations.get("link")?;
    if link.is_empty() {
        return None;
    }
    match external_url {
        Some(base) if link.starts_with('/') => {
            Some(format!("{}{link}", base.trim_end_matches('/')))
        }
        _ => Some(link.clone()),
    }
}

/// "firing" for firing and acknowledged alerts (they still fire), else "resolved".
pub(crate) fn status(alert: &NotifiedAlert) -> &'static str {
    if alert.state.is_firing() {
        "firing"
    } else {
        "resolved"
    }
}

pub(crate) fn group_status(notification: &Notification) -> &'static str {
    if notification
        .alerts
        .iter()
        .any(|alert| alert.state.is_firing())
    {
        "firing"
    } else {
        "resolved"
    }
}

fn number(value: f64) -> String {
    // Enough digits to tell 0.051 from 0.05, without 0.30000000000000004.
    let rounded = format!("{value:.4}");
    let trimmed = rounded.trim_end_matches('0').trim_end_matches('.');
    if trimmed.is_empty() || trimmed == "-" {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// "value 7.1 · threshold 5 · baseline 2.3", leaving out what the alert lacks.
pub(crate) fn measurements(alert: &NotifiedAlert) -> String {
    let parts: Vec<String> = [
        ("value", alert.value),
        ("threshold", alert.threshold),
        ("baseline", alert.baseline),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|value| format!("{name} {}", number(value))))
    .collect();
    parts.join(" · ")
}

pub(crate) fn state_word(alert: &NotifiedAlert) -> &'static str {
    match alert.state {
        AlertState::Acknowledged => "acknowledged",
        state if state.is_firing() => "firing",
        _ => "resolved",
    }
}

pub(crate) fn severity_colour(alert: &NotifiedAlert) -> &'static str {
    if !alert.state.is_firing() {
        return "#2eb67d";
    }
    match alert.severity {
        Severity::Critical => "#a30200",
        Severity::High => "#e01e5a",
        Severity::Medium => "#ecb22e",
        Severity::Low => "#439fe0",
    }
}
