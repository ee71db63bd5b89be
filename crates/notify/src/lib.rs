//! Notification receivers: delivering the alerter's outbox to the outside world — Slack
//! incoming webhooks, email over SMTP, Twilio SMS and voice calls, PagerDuty Events v2,
//! and a generic webhook in Alertmanager's v4 payload so existing Alertmanager consumers
//! work unchanged.
//!
//! [`Receivers`] is the configured set (`[[receiver]]` tables, see [`config`]) and makes
//! one delivery attempt of a [`Notification`], per target, classifying each failure as
//! retryable (connection, timeout, 408, 429, 5xx) or permanent (other 4xx). The
//! [`Dispatcher`] owns the retries (exponential backoff with jitter, bounded by attempts
//! and age) and reports through [`DeliveryEvents`], which the server wires to
//! `Alerter::mark_sent` and the alert's history; [`NotifyMetrics`] counts per receiver for
//! `/metrics`.
//!
//! Delivery is at least once: the outbox (in `sightline-alerts`) is the durable record,
//! and a notification delivered again after a crash carries the same dedup key
//! (PagerDuty `dedup_key` per alert fingerprint, webhook `Idempotency-Key`, mail
//! `Message-ID`). Secrets come from the environment or files only, are wrapped in
//! [`Secret`] (whose `Debug` is `"<secret>"`), and are scrubbed from every error text.
//!
//! Everything is synchronous (ureq, lettre's blocking SMTP transport) on the dispatcher's
//! own thread: a notification is rare and small, and a slow receiver delays the others by
//! at most its timeout.

mod ca_file;
pub mod config;
mod deliver;
mod dispatch;
pub mod error;
mod format;
mod http;
mod metrics;
mod receiver;
mod secret;

pub use config::{ReceiverConfig, ReceiverKind, SmtpTls, parse_receivers};
pub use deliver::{DeliveryError, DeliveryOutcome, Receivers, TargetOutcome};
pub use dispatch::{
    AttemptFailure, Clock, DeliveryEvents, Dispatcher, DispatcherHandle, ReceiverDispatchers,
    RetryPolicy, SystemClock,
};
pub use error::NotifyError;
pub use metrics::{CounterValues, NotifyMetrics};
pub use secret::Secret;
