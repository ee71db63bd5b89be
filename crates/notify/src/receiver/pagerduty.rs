//! PagerDuty Events API v2: one event per alert, `dedup_key` = the alert's fingerprint,
//! so PagerDuty keeps one incident per alert however the alerts are grouped here, and the
//! resolution (or acknowledgement) closes exactly that incident.

use serde_json::{Value, json};
use sightline_alerts::{AlertState, Notification, NotifiedAlert, Severity};

use crate::config::{ReceiverConfig, ReceiverKind};
use crate::deliver::DeliveryError;
use crate::error::NotifyError;
use crate::format;
use crate::http::{Body, Http};
use crate::receiver::{Channel, api_url};
use crate::secret::{Secret, SecretField};

const DEFAULT_API_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// PagerDuty truncates `payload.summary` past 1024 characters.
const MAX_SUMMARY_CHARS: usize = 1024;

pub(crate) struct PagerDuty {
    routing_key: Secret,
    api_url: String,
    source: String,
    external_url: Option<String>,
    http: Http,
}

impl PagerDuty {
    pub fn new(config: &ReceiverConfig, http: Http) -> Result<PagerDuty, NotifyError> {
        let routing_key = config.secret_source(SecretField::RoutingKey).require()?;
        let api_url = api_url(config, DEFAULT_API_URL)?;
        Ok(PagerDuty {
            routing_key,
            api_url,
            source: config
                .source
                .clone()
                .unwrap_or_else(|| "sightline".to_owned()),
            external_url: config.external_url.clone(),
            http,
        })
    }
}

impl Channel for PagerDuty {
    fn kind(&self) -> ReceiverKind {
        ReceiverKind::Pagerduty
    }

    /// One event per alert, named by its fingerprint.
    fn targets(&self, notification: &Notification) -> Vec<String> {
        notification
            .alerts
            .iter()
            .map(|alert| alert.id.clone())
            .collect()
    }

    fn send(&self, notification: &Notification, target: &str) -> Result<(), DeliveryError> {
        let Some(alert) = notification.alerts.iter().find(|alert| alert.id == target) else {
            return Err(DeliveryError::permanent(format!(
                "alert {target} is not in notification {}",
                notification.id
            )));
        };
        let event = event(
            self.routing_key.expose(),
            notification,
            alert,
            &self.source,
            self.external_url.as_deref(),
        );
        self.http.post(&self.api_url, &[], Body::Json(event))
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.routing_key]
    }
}

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "info",
    }
}

pub(crate) fn event_action(alert: &NotifiedAlert) -> &'static str {
    match alert.state {
        AlertState::Acknowledged => "acknowledge",
        state if state.is_firing() => "trigger",
        _ => "resolve",
    }
}

pub(crate) fn event(
    routing_key: &str,
    notification: &Notification,
    alert: &NotifiedAlert,
    source: &str,
    external_url: Option<&str>,
) -> Value {
    let action = event_action(alert);
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": alert.id,
        "client": "Sightline",
    });
    if let Some(base) = external_url {
        event["client_url"] = json!(base);
    }
    // PagerDuty reads the payload of triggers only; acknowledge and resolve need the key.
    if action != "trigger" {
        return event;
    }
    let summary: String = format::summary(alert)
        .chars()
        .take(MAX_SUMMARY_CHARS)
        .collect();
    let mut details = json!({
        "rule": alert.rule,
        "state": alert.state.as_str(),
        "incident": alert.incident,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "notification": notification.kind.as_str(),
        "notification_dedup_key": notification.dedup_key,
    });
    for (name, value) in [
        ("value", alert.value),
        ("threshold", alert.threshold),
        ("baseline", alert.baseline),
    ] {
        if let Some(value) = value {
            details[name] = json!(value);
        }
    }
    event["payload"] = json!({
        "summary": summary,
        "severity": severity(alert.severity),
        "source": source,
        "timestamp": format::rfc3339(alert.started_at.or(Some(notification.created_at))),
        "group": notification.group_key,
        "class": alert.rule,
        "custom_details": details,
    });
    if let Some(link) = format::link(alert, external_url) {
        event["links"] = json!([{"href": link, "text": "Open in Sightline"}]);
    }
    event
}
