//! The [`Dispatcher`]: takes notifications from the alerter's outbox and delivers them,
//! retrying with exponential backoff and jitter, and tells the caller what happened
//! through [`DeliveryEvents`].
//!
//! ## Contract with the alerter
//!
//! The outbox is the durable record of what is still to be told; the dispatcher keeps
//! nothing on disk. A notification leaves the outbox only when the server calls
//! `Alerter::mark_sent` from [`DeliveryEvents::delivered`] or [`DeliveryEvents::gave_up`].
//! A crash in between loses nothing: at the next start `Alerter::outbox` hands the
//! notification back, and it is delivered again with the same dedup key, which PagerDuty,
//! webhook consumers (`Idempotency-Key`) and mail clients (`Message-ID`) use to drop the
//! duplicate. At-least-once, then, never at-most-once.
//!
//! Time is passed in (`now_us`) to [`Dispatcher::enqueue`] and [`Dispatcher::run_due`],
//! so a test drives retries without waiting; [`Dispatcher::spawn`] runs the same calls on
//! a thread against a [`Clock`].

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use sightline_alerts::Notification;
use std::sync::atomic::Ordering;

use crate::deliver::{DeliveryError, Receivers, describe_errors};
use crate::metrics::NotifyMetrics;

/// When to try again and when to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait before the first retry; each later one doubles it.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// No retry is scheduled later than this after the notification was created: a page
    /// that arrives hours late does more harm than good. The first attempt is always made.
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    /// 1 s, 2 s, 4 s … 256 s, then every 5 min: 16 attempts span about 45 minutes.
    fn default() -> RetryPolicy {
        RetryPolicy {
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            max_attempts: 16,
            max_age: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based): exponential, capped, and
    /// jittered into its upper half so that receivers that failed together (an outage)
    /// are not retried in lockstep. The jitter is a hash of the dedup key and the
    /// attempt, so it is reproducible.
    pub fn backoff(&self, attempt: u32, dedup_key: &str) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        let full = self
            .first_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let mut hasher = DefaultHasher::new();
        dedup_key.hash(&mut hasher);
        attempt.hash(&mut hasher);
        let fraction = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
        full / 2 + full.mul_f64(fraction / 2.0)
    }
}

/// A failed attempt, as the alert's history and the logs should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFailure {
    pub receiver: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub at_us: i64,
    /// (target, error) of every target that failed in this attempt.
    pub errors: Vec<(String, DeliveryError)>,
    /// When the next attempt is due; `None` when this was the last.
    pub retry_at_us: Option<i64>,
}

impl AttemptFailure {
    /// One line: "attempt 2 to `ops-slack` failed: slack: hooks.slack.com answered HTTP
    /// 503; retrying in 2 s".
    pub fn describe(&self) -> String {
        let errors = describe_errors(
            self.errors
                .iter()
                .map(|(target, error)| (target.as_str(), error)),
        );
        let next = match self.retry_at_us {
            Some(retry_at) => format!(
                "; retrying in {} s",
                ((retry_at - self.at_us).max(0) + 999_999) / 1_000_000
            ),
            None => "; giving up".to_owned(),
        };
        format!(
            "attempt {} to `{}` failed: {errors}{next}",
            self.attempt, self.receiver
        )
    }
}

/// What the server does with the dispatcher's results. Called on the dispatcher's thread,
/// one at a time.
pub trait DeliveryEvents: Send {
    /// Every target has the notification: `Alerter::mark_sent`.
    fn delivered(&mut self, notification: &Notification, attempts: u32, now_us: i64);
    /// An attempt failed and another is scheduled: a line in the alert's history.
    fn attempt_failed(&mut self, notification: &Notification, failure: &AttemptFailure);
    /// No more attempts (a permanent failure, or out of attempts or time): a line in the
    /// history, and `Alerter::mark_sent` so that a restart does not start over.
    fn gave_up(&mut self, notification: &Notification, failure: &AttemptFailure);
}

/// The time, in microseconds since the Unix epoch.
pub trait Clock: Send {
    fn now_us(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> i64 {
        jiff::Timestamp::now().as_microsecond()
    }
}

struct Pending {
    notification: Notification,
    attempts: u32,
    next_attempt_us: i64,
    /// Targets that have it: never sent to again.
    done: BTreeSet<String>,
    /// Targets that refused it for good, kept for the final report.
    refused: Vec<(String, DeliveryError)>,
}

/// `duration` in microseconds, as the clock counts; saturating (a policy may say "forever").
fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// How many finished notification ids are remembered, so that an outbox snapshot taken
/// just before `mark_sent` does not queue them again.
const FINISHED_REMEMBERED: usize = 4096;

pub struct Dispatcher {
    receivers: Arc<Receivers>,
    policy: RetryPolicy,
    metrics: Arc<NotifyMetrics>,
    pending: BTreeMap<u64, Pending>,
    finished: BTreeSet<u64>,
}

impl Dispatcher {
    pub fn new(
        receivers: Arc<Receivers>,
        policy: RetryPolicy,
        metrics: Arc<NotifyMetrics>,
    ) -> Dispatcher {
        Dispatcher {
            receivers,
            policy,
            metrics,
            pending: BTreeMap::new(),
            finished: BTreeSet::new(),
        }
    }

    /// Queues a notification for delivery now. One already queued or recently finished
    /// (by outbox id) is ignored, so the outbox can be offered again safely; returns
    /// whether it was queued.
    pub fn enqueue(&mut self, notification: Notification, now_us: i64) -> bool {
        if self.pending.contains_key(&notification.id) || self.finished.contains(&notification.id) {
            return false;
        }
        self.pending.insert(
            notification.id,
            Pending {
                notification,
                attempts: 0,
                next_attempt_us: now_us,
                done: BTreeSet::new(),
                refused: Vec::new(),
            },
        );
        true
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// When the next attempt is due, if anything is queued.
    pub fn next_due_us(&self) -> Option<i64> {
        self.pending
            .values()
            .map(|pending| pending.next_attempt_us)
            .min()
    }

    /// Makes every attempt due at `now_us`, oldest notification first, and reports each
    /// result to `events`. Returns the number of attempts made.
    pub fn run_due(&mut self, now_us: i64, events: &mut dyn DeliveryEvents) -> usize {
        let due: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.next_attempt_us <= now_us)
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            self.attempt(*id, now_us, events);
        }
        due.len()
    }

    fn attempt(&mut self, id: u64, now_us: i64, events: &mut dyn DeliveryEvents) {
        let Some(mut pending) = self.pending.remove(&id) else {
            return;
        };
        pending.attempts += 1;
        let outcome = self
            .receivers
            .deliver_except(&pending.notification, &pending.done);
        let counters = self.metrics.counters(&outcome.receiver);
        let attempt_failed = !outcome.is_success();
        let mut retryable = Vec::new();
        for target in outcome.targets {
            match target.result {
                Ok(()) => {
                    pending.done.insert(target.target);
                }
                Err(error) if error.retryable => retryable.push((target.target, error)),
                Err(error) => {
                    // Refused for good: counted as done so a retry of the others skips it.
                    pending.done.insert(target.target.clone());
                    pending.refused.push((target.target, error));
                }
            }
        }
        if attempt_failed {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        if retryable.is_empty() && pending.refused.is_empty() {
            counters.sent.fetch_add(1, Ordering::Relaxed);
            events.delivered(&pending.notification, pending.attempts, now_us);
            self.finish(id);
            return;
        }
        let retry_at_us = (!retryable.is_empty())
            .then(|| {
                let wait = self
                    .policy
                    .backoff(pending.attempts, &pending.notification.dedup_key);
                now_us.saturating_add(micros(wait))
            })
            .filter(|_| pending.attempts < self.policy.max_attempts)
            .filter(|retry_at| {
                retry_at.saturating_sub(pending.notification.created_at)
                    <= micros(self.policy.max_age)
            });
        let mut errors = retryable;
        if retry_at_us.is_none() {
            errors.extend(pending.refused.iter().cloned());
        }
        let failure = AttemptFailure {
            receiver: outcome.receiver,
            attempt: pending.attempts,
            at_us: now_us,
            errors,
            retry_at_us,
        };
        match retry_at_us {
            Some(retry_at) => {
                tracing::warn!(notification = id, "{}", failure.describe());
                events.attempt_failed(&pending.notification, &failure);
                pending.next_attempt_us = retry_at;
                self.pending.insert(id, pending);
            }
            None => {
                tracing::error!(notification = id, "{}", failure.describe());
                counters.given_up.fetch_add(1, Ordering::Relaxed);
                events.gave_up(&pending.notification, &failure);
                self.finish(id);
            }
        }
    }

    fn finish(&mut self, id: u64) {
        self.finished.insert(id);
        while self.finished.len() > FINISHED_REMEMBERED {
            self.finished.pop_first();
        }
    }

    /// Runs the dispatcher on its own thread: notifications sent to the handle are
    /// delivered at once, retries when due. Dropping the handle (or
    /// [`DispatcherHandle::shutdown`]) stops it; retries still pending stay in the outbox
    /// for the next start.
    pub fn spawn(
        mut self,
        mut events: Box<dyn DeliveryEvents>,
        clock: Box<dyn Clock>,
    ) -> DispatcherHandle {
        let (sender, incoming) = mpsc::channel::<Notification>();
        let thread = std::thread::Builder::new()
            .name("notify-dispatch".to_owned())
            .spawn(move || {
                loop {
                    self.run_due(clock.now_us(), events.as_mut());
                    let wait = match self.next_due_us() {
                        Some(due) => Duration::from_micros(
                            u64::try_from(due.saturating_sub(clock.now_us())).unwrap_or(0),
                        ),
                        None => Duration::from_secs(3600),
                    };
                    match incoming.recv_timeout(wait) {
                        Ok(notification) => {
                            self.enqueue(notification, clock.now_us());
                            while let Ok(more) = incoming.try_recv() {
                                self.enqueue(more, clock.now_us());
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .expect("spawning a thread fails only when the process is out of resources");
        DispatcherHandle {
            sender: Some(sender),
            thread: Some(thread),
        }
    }
}

/// Feeds a spawned dispatcher.
pub struct DispatcherHandle {
    sender: Option<mpsc::Sender<Notification>>,
    thread: Option<JoinHandle<()>>,
}

impl DispatcherHandle {
    /// Queues a notification; false once the dispatcher has stopped.
    pub fn send(&self, notification: Notification) -> bool {
        self.sender
            .as_ref()
            .is_some_and(|sender| sender.send(notification).is_ok())
    }

    /// Stops the dispatcher after the attempt in progress, and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for DispatcherHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One dispatcher thread per receiver, so a receiver that hangs or keeps failing (a Slack
/// outage costs up to the HTTP timeout per attempt) cannot hold back another's messages —
/// above all the page to the on-call phone. Each thread retries on its own schedule; the
/// outbox contract is unchanged, since every thread reports to its own
/// [`DeliveryEvents`].
pub struct ReceiverDispatchers {
    by_receiver: BTreeMap<String, DispatcherHandle>,
    /// A notification for a receiver no `[[receiver]]` names (the routing file and the
    /// receivers disagree): delivered here, where it fails with a message naming it.
    unconfigured: DispatcherHandle,
}

impl ReceiverDispatchers {
    /// Starts a dispatcher per receiver, each with the events and clock `make_events`
    /// and `make_clock` give it.
    pub fn spawn(
        receivers: Arc<Receivers>,
        policy: RetryPolicy,
        metrics: Arc<NotifyMetrics>,
        make_events: &dyn Fn() -> Box<dyn DeliveryEvents>,
        make_clock: &dyn Fn() -> Box<dyn Clock>,
    ) -> ReceiverDispatchers {
        let start = || {
            Dispatcher::new(Arc::clone(&receivers), policy.clone(), Arc::clone(&metrics))
                .spawn(make_events(), make_clock())
        };
        let by_receiver = receivers
            .names()
            .map(|name| (name.to_owned(), start()))
            .collect();
        ReceiverDispatchers {
            by_receiver,
            unconfigured: start(),
        }
    }

    /// Queues a notification with its receiver's dispatcher; false once it has stopped.
    pub fn send(&self, notification: Notification) -> bool {
        self.by_receiver
            .get(&notification.receiver)
            .unwrap_or(&self.unconfigured)
            .send(notification)
    }

    /// Stops every dispatcher after the attempt in progress; retries still pending stay in
    /// the outbox for the next start.
    pub fn shutdown(self) {
        for (_, handle) in self.by_receiver {
            handle.shutdown();
        }
        self.unconfigured.shutdown();
    }
}
