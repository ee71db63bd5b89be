//! One module per kind of receiver. Each builds its requests from a [`Notification`] as
//! a pure function (so the payloads are unit-tested) and sends them through the shared
//! [`Http`] client (its own, with a `ca_file`) or SMTP.

pub(crate) mod email;
pub(crate) mod pagerduty;
pub(crate) mod slack;
pub(crate) mod twilio;
pub(crate) mod webhook;

use sightline_alerts::Notification;

use crate::config::{ReceiverConfig, ReceiverKind, fields_of};
use crate::deliver::DeliveryError;
use crate::error::NotifyError;
use crate::http::Http;
use crate::secret::Secret;

/// A configured receiver. A notification may take several independent requests
/// (one SMS per number, one PagerDuty event per alert): those are its targets, each
/// delivered and retried on its own so that a retry never repeats what succeeded.
pub(crate) trait Channel: Send + Sync {
    fn kind(&self) -> ReceiverKind;
    /// Names of the separately delivered parts of `notification`, never secrets.
    fn targets(&self, notification: &Notification) -> Vec<String>;
    fn send(&self, notification: &Notification, target: &str) -> Result<(), DeliveryError>;
    /// Everything that must be scrubbed from error text.
    fn secrets(&self) -> Vec<&Secret>;
}

pub(crate) fn build(config: &ReceiverConfig, http: &Http) -> Result<Box<dyn Channel>, NotifyError> {
    let name = config.name.as_str();
    if name.trim().is_empty() {
        return Err(NotifyError::config(
            "",
            "name",
            "is empty: give every [[receiver]] a name that routes can refer to",
        ));
    }
    let Some(kind) = config.kind else {
        return Err(NotifyError::config(
            name,
            "kind",
            "is missing: one of slack, email, twilio_sms, twilio_call, pagerduty, webhook",
        ));
    };
    let allowed = fields_of(kind);
    if let Some(stray) = config
        .set_fields()
        .into_iter()
        .find(|field| !allowed.contains(field))
    {
        return Err(NotifyError::config(
            name,
            stray,
            format!(
                "does not apply to a {} receiver (its fields: {})",
                kind.as_str(),
                allowed.join(", ")
            ),
        ));
    }
    // Email hands `ca_file` to lettre itself; an HTTP receiver with one gets a client of
    // its own.
    let http = match &config.ca_file {
        Some(path) if kind != ReceiverKind::Email => http.trusting_ca_file(name, path)?,
        _ => http.clone(),
    };
    Ok(match kind {
        ReceiverKind::Slack => Box::new(slack::Slack::new(config, http)?),
        ReceiverKind::Email => Box::new(email::Email::new(config)?),
        ReceiverKind::TwilioSms | ReceiverKind::TwilioCall => {
            Box::new(twilio::Twilio::new(config, kind, http)?)
        }
        ReceiverKind::Pagerduty => Box::new(pagerduty::PagerDuty::new(config, http)?),
        ReceiverKind::Webhook => Box::new(webhook::Webhook::new(config, http)?),
    })
}

pub(crate) fn required<'a, T>(
    receiver: &str,
    field: &'static str,
    value: &'a Option<T>,
    what: &str,
) -> Result<&'a T, NotifyError> {
    value
        .as_ref()
        .ok_or_else(|| NotifyError::config(receiver, field, format!("is missing: {what}")))
}

/// An `http://` or `https://` URL, checked at start-up rather than at the first alert.
pub(crate) fn check_url(receiver: &str, field: &'static str, url: &str) -> Result<(), NotifyError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(());
    }
    Err(NotifyError::config(
        receiver,
        field,
        "must be an http:// or https:// URL",
    ))
}

/// `api_url`, or the service's own when none is given (tests point it at a recorder).
pub(crate) fn api_url(config: &ReceiverConfig, default: &str) -> Result<String, NotifyError> {
    let api_url = config.api_url.as_deref().unwrap_or(default);
    check_url(&config.name, "api_url", api_url)?;
    Ok(api_url.to_owned())
}
