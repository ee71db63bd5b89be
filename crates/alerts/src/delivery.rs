//! What became of each notification at its receiver: delivered, an attempt failed and
//! will be retried, or given up. Kept (and journalled) beside the transitions, so an
//! alert's history answers the question asked after every incident: did the page go
//! out, and if not, why?
//!
//! Each record names its notification's receiver, kind and alerts itself, so it stays
//! readable after the notification has left the outbox and the journal was compacted.

use serde::{Deserialize, Serialize};

use crate::notify::{Notification, NotificationKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// Every target has it.
    Delivered,
    /// This attempt failed; another is scheduled.
    Failed,
    /// No more attempts: a permanent refusal, or out of attempts or time.
    GaveUp,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Failed => "failed",
            DeliveryOutcome::GaveUp => "gave_up",
        }
    }

    /// Delivered or given up: the notification leaves the outbox.
    pub fn is_final(self) -> bool {
        !matches!(self, DeliveryOutcome::Failed)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub notification_id: u64,
    pub at_us: i64,
    pub receiver: String,
    pub kind: NotificationKind,
    /// The alerts the notification listed (their ids).
    pub alert_ids: Vec<String>,
    /// 1 for the first attempt; for `delivered`, the attempts it took.
    pub attempt: u32,
    pub outcome: DeliveryOutcome,
    /// What failed, per target ("slack: hooks.slack.com answered HTTP 503"); never a
    /// secret (receivers keep URLs and tokens out of their errors).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub retry_at_us: Option<i64>,
}

impl DeliveryRecord {
    pub fn of(
        notification: &Notification,
        at_us: i64,
        attempt: u32,
        outcome: DeliveryOutcome,
    ) -> DeliveryRecord {
        DeliveryRecord {
            notification_id: notification.id,
            at_us,
            receiver: notification.receiver.clone(),
            kind: notification.kind,
            alert_ids: notification
                .alerts
                .iter()
                .map(|alert| alert.id.clone())
                .collect(),
            attempt,
            outcome,
            error: None,
            retry_at_us: None,
        }
    }

    pub fn with_error(mut self, error: String, retry_at_us: Option<i64>) -> DeliveryRecord {
        self.error = Some(error);
        self.retry_at_us = retry_at_us;
        self
    }

    pub fn concerns(&self, alert_id: &str) -> bool {
        self.alert_ids.iter().any(|id| id == alert_id)
    }
}
