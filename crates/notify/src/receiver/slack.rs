//! Slack incoming webhooks: `text` (what notifications and old clients show), then one
//! attachment per alert, coloured by severity (green once resolved), with its summary,
//! measurements and dashboard link as a Block Kit section.

use serde_json::{Value, json};
use sightline_alerts::Notification;

use crate::config::{ReceiverConfig, ReceiverKind};
use crate::deliver::DeliveryError;
use crate::error::NotifyError;
use crate::format;
use crate::http::{Body, Http};
use crate::receiver::{Channel, check_url};
use crate::secret::{Secret, SecretField};

/// Slack renders at most 100 attachments; a long list is cut well before, with a count.
const MAX_ATTACHMENTS: usize = 20;

pub(crate) struct Slack {
    url: Secret,
    external_url: Option<String>,
    http: Http,
}

impl Slack {
    pub fn new(config: &ReceiverConfig, http: Http) -> Result<Slack, NotifyError> {
        let url = config.secret_source(SecretField::Url).require()?;
        check_url(&config.name, "url_env", url.expose())?;
        Ok(Slack {
            url,
            external_url: config.external_url.clone(),
            http,
        })
    }
}

impl Channel for Slack {
    fn kind(&self) -> ReceiverKind {
        ReceiverKind::Slack
    }

    fn targets(&self, _notification: &Notification) -> Vec<String> {
        vec!["slack".to_owned()]
    }

    fn send(&self, notification: &Notification, _target: &str) -> Result<(), DeliveryError> {
        let payload = payload(notification, self.external_url.as_deref());
        self.http.post(self.url.expose(), &[], Body::Json(payload))
    }

    fn secrets(&self) -> Vec<&Secret> {
        vec![&self.url]
    }
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn payload(notification: &Notification, external_url: Option<&str>) -> Value {
    let mut attachments: Vec<Value> = notification
        .alerts
        .iter()
        .take(MAX_ATTACHMENTS)
        .map(|alert| {
            let mut text = format!(
                "*[{}] {}* {}",
                alert.severity.as_str(),
                format::state_word(alert),
                escape(&format::summary(alert))
            );
            let measurements = format::measurements(alert);
            if !measurements.is_empty() {
                text.push('\n');
                text.push_str(&measurements);
            }
            if let Some(link) = format::link(alert, external_url) {
                text.push_str(&format!("\n<{}|Open in Sightline>", escape(&link)));
            }
            json!({
                "color": format::severity_colour(alert),
                "fallback": format::summary(alert),
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            })
        })
        .collect();
    let left_out = notification.alerts.len().saturating_sub(MAX_ATTACHMENTS);
    if left_out > 0 {
        attachments.push(json!({
            "color": "#cccccc",
            "fallback": format!("and {left_out} more"),
            "blocks": [{"type": "context", "elements": [
                {"type": "mrkdwn", "text": format!("and {left_out} more alerts")}
            ]}],
        }));
    }
    json!({
        "text": notification.title,
        "blocks": [{
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("*{}*", escape(&notification.title))},
        }],
        "attachments": attachments,
    })
}
