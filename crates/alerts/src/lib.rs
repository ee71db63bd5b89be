//! Alerting: rules over KPI values, each alert's lifecycle, routing to receivers,
//! silences, inhibition, grouping and escalation — as pure state machines on a clock the
//! caller passes in, so every scenario is tested without waiting.
//!
//! The server feeds every changed KPI window to [`Alerter::observe`] (one call per group)
//! and calls [`Alerter::tick`] about once a second; `tick` returns the notifications that
//! became due. Delivering them (Slack, SMTP, Twilio, PagerDuty, webhooks), the HTTP API and
//! the dashboard panel live elsewhere; nothing in here does network I/O, spawns a thread
//! or reads the clock. The only I/O is the journal ([`store`]).
//!
//! ## Durability contract
//!
//! Alert state, silences and the notification outbox are one append-only journal of
//! checksummed records (transitions, acknowledgements, silences, notifications queued,
//! notifications sent), replayed at open:
//!
//! - a notification is returned by `tick` only once it is fdatasync'ed in the outbox, and
//!   stays there until [`Alerter::mark_sent`] (itself synced) records its delivery: a crash
//!   at any point, SIGKILL included, loses no notification, and after a restart
//!   [`Alerter::outbox`] hands back exactly the unsent ones;
//! - what each receiver has been told is derived from the journalled notifications, so a
//!   replay never notifies a transition twice; a delivery retried after a crash carries
//!   the same dedup key (a hash of the group and the transition it reports);
//! - acknowledgements, assignments, manual resolutions and silences are synced before the
//!   call returns;
//! - transitions decided by `observe` become durable at the next `tick` (see
//!   [`alerter`]); the ones lost in a crash were never notified and are decided again by
//!   the next update.
//!
//! ## Layout
//!
//! [`rule`] (TOML rules), [`evaluate`] (conditions, dynamic baselines), `seasonal`
//! (forecast bounds, with the `seasonal` feature), [`lifecycle`]
//! (states and transitions), [`routing`], [`inhibit`], [`silence`], [`intervals`],
//! [`notify`] (groups and the outbox entries), [`escalation`], [`store`] (the journal),
//! [`report`] (tuning), [`alerter`] (all of it together), [`config`] (one file's worth).

pub mod alerter;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod error;
pub mod escalation;
pub mod evaluate;
pub mod inhibit;
pub mod intervals;
pub mod lifecycle;
pub mod matcher;
pub mod notify;
pub mod report;
pub mod routing;
pub mod rule;
#[cfg(feature = "seasonal")]
pub mod seasonal;
pub mod silence;
pub mod store;
pub mod template;

pub use alerter::{AlertView, Alerter, AlerterOptions, fingerprint};
pub use config::{AlertsConfig, AlertsFile};
pub use delivery::{DeliveryOutcome, DeliveryRecord};
pub use error::AlertsError;
pub use evaluate::{BaselineSource, NoHistory, SeriesKey, SeriesValue};
pub use lifecycle::{AlertState, Cause, Transition};
pub use notify::{Notification, NotificationKind, NotifiedAlert};
pub use report::TuningReport;
pub use rule::Severity;
pub use silence::{Silence, SilenceRequest};
pub use store::{JournalRecord, Store};
