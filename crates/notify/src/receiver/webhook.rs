//! A generic webhook speaking Alertmanager's webhook payload (version 4) exactly, so
//! that anything written for Alertmanager receivers consumes Sightline's notifications
//! unchanged. The dedup key travels as `Idempotency-Key` and `X-Sightline-Dedup-Key`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sightline_alerts::{Notification, NotifiedAlert};

use crate::config::{ReceiverConfig, ReceiverKind};
use crate::deliver::DeliveryError;
use crate::error::NotifyError;
use crate::format;
use crate::http::{Body, Http};
use crate::receiver::{Channel, check_url};
use crate::secret::{Secret, SecretField};

pub(crate) struct Webhook {
    url: Secret,
    bearer_token: Option<Secret>,
    max_alerts: usize,
    external_url: String,
    http: Http,
}

impl Webhook {
    pub fn new(config: &ReceiverConfig, http: Http) -> Result<Webhook, NotifyError> {
        let name = &config.name;
        // Unlike Slack's, a generic URL is usually no secret: it may be written inline,
        // and is still never printed (it may carry a token in its query).
        let url = match &config.url {
            Some(url) => {
                if config.url_env.is_some() || config.url_file.is_some() {
                    return Err(NotifyError::config(
                        name,
                        "url",
                        "is given twice: keep one of url, url_env, url_file",
                    ));
                }
                url.clone()
            }
            None => config.secret_source(SecretField::Url).require()?,
        };
        check_url(name, "url", url.expose())?;
        let bearer_token = config.secret_source(SecretField::BearerToken).load()?;
        Ok(Webhook {
            url,
            bearer_token,
            max_alerts: config.max_alerts.unwrap_or(0),
            external_url: config.external_url.clone().unwrap_or_default(),
            http,
        })
    }
}

impl Channel for Webhook {
    fn kind(&self) -> ReceiverKind {
        ReceiverKind::Webhook
    }

    fn targets(&self, _notification: &Notification) -> Vec<String> {
        vec!["webhook".to_owned()]
    }

    fn send(&self, notification: &Notification, _target: &str) -> Result<(), DeliveryError> {
        let mut headers = vec![
            ("Idempotency-Key", notification.dedup_key.clone()),
            ("X-Sightline-Dedup-Key", notification.dedup_key.clone()),
        ];
        if let Some(token) = &self.bearer_token {
            headers.push(("Authorization", format!("Bearer {}", token.expose())));
        }
        let payload = payload(notification, self.max_alerts, &self.external_url);
        self.http
            .post(self.url.expose(), &headers, Body::Json(payload))
    }

    fn secrets(&self) -> Vec<&Secret> {
        let mut secrets = vec![&self.url];
        secrets.extend(&self.bearer_token);
        secrets
    }
}

/// Alertmanager's labels always carry `alertname`; Sightline's rule name is that.
fn labels(alert: &NotifiedAlert) -> BTreeMap<String, String> {
    let mut labels = alert.labels.clone();
    labels
        .entry("alertname".to_owned())
        .or_insert_with(|| alert.rule.clone());
    labels
}

/// The pairs every map shares.
fn common(maps: &[BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let Some((first, rest)) = maps.split_first() else {
        return BTreeMap::new();
    };
    first
        .iter()
        .filter(|(name, value)| rest.iter().all(|map| map.get(*name) == Some(*value)))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// `max_alerts` 0 means all, as in Alertmanager.
pub(crate) fn payload(notification: &Notification, max_alerts: usize, external_url: &str) -> Value {
    let all_labels: Vec<BTreeMap<String, String>> =
        notification.alerts.iter().map(labels).collect();
    let all_annotations: Vec<BTreeMap<String, String>> = notification
        .alerts
        .iter()
        .map(|alert| alert.annotations.clone())
        .collect();
    let sent = if max_alerts == 0 {
        notification.alerts.len()
    } else {
        max_alerts.min(notification.alerts.len())
    };
    let base = (!external_url.is_empty()).then_some(external_url);
    let alerts: Vec<Value> = notification
        .alerts
        .iter()
        .zip(&all_labels)
        .take(sent)
        .map(|(alert, labels)| {
            json!({
                "status": format::status(alert),
                "labels": labels,
                "annotations": alert.annotations,
                "startsAt": format::rfc3339(alert.started_at),
                "endsAt": format::rfc3339(if alert.state.is_firing() { None } else { alert.resolved_at }),
                "generatorURL": format::link(alert, base).unwrap_or_default(),
                "fingerprint": alert.id,
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": notification.alerts.len() - sent,
        "status": format::group_status(notification),
        "receiver": notification.receiver,
        "groupLabels": notification.group_labels,
        "commonLabels": common(&all_labels),
        "commonAnnotations": common(&all_annotations),
        "externalURL": external_url,
        "alerts": alerts,
    })
}
