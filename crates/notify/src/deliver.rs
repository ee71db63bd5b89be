//! [`Receivers`]: every configured receiver by name, and one delivery attempt of a
//! notification to its receiver.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use sightline_alerts::Notification;

use crate::config::{ReceiverConfig, ReceiverKind};
use crate::error::NotifyError;
use crate::http::Http;
use crate::receiver::{self, Channel};
use crate::secret::scrub;

/// How long one HTTP request may take, connection included.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Why one target was not reached. The message never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// Worth trying again later (connection failures, timeouts, 408, 429, 5xx, SMTP 4xx);
    /// otherwise the receiver refused the request as such (4xx) and a retry would too.
    pub retryable: bool,
    pub message: String,
}

impl DeliveryError {
    pub fn retryable(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            retryable: true,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            retryable: false,
            message: message.into(),
        }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

/// One request of a delivery: its target (`slack`, `smtp`, `webhook`, a phone number,
/// an alert id for PagerDuty) and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetOutcome {
    pub target: String,
    pub result: Result<(), DeliveryError>,
}

/// One delivery attempt of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    pub receiver: String,
    pub targets: Vec<TargetOutcome>,
}

impl DeliveryOutcome {
    pub fn is_success(&self) -> bool {
        self.targets.iter().all(|target| target.result.is_ok())
    }

    pub fn failures(&self) -> impl Iterator<Item = (&str, &DeliveryError)> {
        self.targets
            .iter()
            .filter_map(|target| match &target.result {
                Ok(()) => None,
                Err(error) => Some((target.target.as_str(), error)),
            })
    }

    /// Every failure in one line, for logs and the alert's history.
    pub fn describe_failures(&self) -> String {
        describe_errors(self.failures())
    }
}

/// "target: error; target: error".
pub(crate) fn describe_errors<'a>(
    errors: impl Iterator<Item = (&'a str, &'a DeliveryError)>,
) -> String {
    let parts: Vec<String> = errors
        .map(|(target, error)| format!("{target}: {error}"))
        .collect();
    parts.join("; ")
}

/// Every configured receiver, ready to deliver. Built once at start-up: secrets are read
/// then, so a missing one stops the start rather than the first page at 3 a.m.
pub struct Receivers {
    by_name: BTreeMap<String, Box<dyn Channel>>,
}

impl fmt::Debug for Receivers {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_map()
            .entries(
                self.by_name
                    .iter()
                    .map(|(name, channel)| (name, channel.kind().as_str())),
            )
            .finish()
    }
}

impl Receivers {
    pub fn from_config(configs: &[ReceiverConfig]) -> Result<Receivers, NotifyError> {
        let http = Http::new(HTTP_TIMEOUT);
        let mut by_name = BTreeMap::new();
        for config in configs {
            let channel = receiver::build(config, &http)?;
            if by_name.insert(config.name.clone(), channel).is_some() {
                return Err(NotifyError::DuplicateReceiver(config.name.clone()));
            }
        }
        Ok(Receivers { by_name })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn kind(&self, receiver: &str) -> Option<ReceiverKind> {
        self.by_name.get(receiver).map(|channel| channel.kind())
    }

    /// Delivers `notification` to every target of its receiver.
    pub fn deliver(&self, notification: &Notification) -> DeliveryOutcome {
        self.deliver_except(notification, &BTreeSet::new())
    }

    /// Delivers to the targets not in `done`: a retry after a partial success.
    pub fn deliver_except(
        &self,
        notification: &Notification,
        done: &BTreeSet<String>,
    ) -> DeliveryOutcome {
        let receiver = notification.receiver.clone();
        let Some(channel) = self.by_name.get(&receiver) else {
            return DeliveryOutcome {
                targets: vec![TargetOutcome {
                    target: receiver.clone(),
                    result: Err(DeliveryError::permanent(format!(
                        "no receiver named `{receiver}` is configured: add a [[receiver]] with \
                         that name or route elsewhere"
                    ))),
                }],
                receiver,
            };
        };
        let secrets = channel.secrets();
        let targets = channel
            .targets(notification)
            .into_iter()
            .filter(|target| !done.contains(target))
            .map(|target| {
                let result = channel
                    .send(notification, &target)
                    .map_err(|error| DeliveryError {
                        retryable: error.retryable,
                        message: scrub(&error.message, &secrets),
                    });
                TargetOutcome { target, result }
            })
            .collect();
        DeliveryOutcome { receiver, targets }
    }
}
