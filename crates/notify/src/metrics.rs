//! Delivery counters per receiver, shared between the dispatcher (which counts) and the
//! server's `/metrics` (which reads).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct ReceiverCounters {
    /// Notifications delivered to every target.
    pub sent: AtomicU64,
    /// Attempts that failed for at least one target (each retry counts).
    pub failed: AtomicU64,
    /// Notifications abandoned: a permanent failure, or out of attempts or time.
    pub given_up: AtomicU64,
}

/// The counters of every receiver, fixed at start-up (the receivers are).
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    receivers: BTreeMap<String, ReceiverCounters>,
    /// Notifications for a receiver that is not configured.
    unknown_receiver: ReceiverCounters,
}

/// A snapshot of one receiver's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterValues {
    pub sent: u64,
    pub failed: u64,
    pub given_up: u64,
}

impl NotifyMetrics {
    pub fn new<'a>(receivers: impl IntoIterator<Item = &'a str>) -> NotifyMetrics {
        NotifyMetrics {
            receivers: receivers
                .into_iter()
                .map(|name| (name.to_owned(), ReceiverCounters::default()))
                .collect(),
            unknown_receiver: ReceiverCounters::default(),
        }
    }

    pub(crate) fn counters(&self, receiver: &str) -> &ReceiverCounters {
        self.receivers
            .get(receiver)
            .unwrap_or(&self.unknown_receiver)
    }

    pub fn values(&self, receiver: &str) -> CounterValues {
        let counters = self.counters(receiver);
        CounterValues {
            sent: counters.sent.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            given_up: counters.given_up.load(Ordering::Relaxed),
        }
    }

    /// The counters in Prometheus' text format, for the server's `/metrics`.
    pub fn render_prometheus(&self, out: &mut String) {
        // Name, help and which counter.
        type Family = (&'static str, &'static str, fn(CounterValues) -> u64);
        let families: [Family; 3] = [
            (
                "sightline_notifications_sent_total",
                "Notifications delivered, by receiver.",
                |values| values.sent,
            ),
            (
                "sightline_notifications_failed_total",
                "Failed delivery attempts (each retry counts), by receiver.",
                |values| values.failed,
            ),
            (
                "sightline_notifications_given_up_total",
                "Notifications abandoned after a permanent failure or the last retry, by receiver.",
                |values| values.given_up,
            ),
        ];
        for (name, help, value_of) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for receiver in self.receivers.keys() {
                let value = value_of(self.values(receiver));
                let _ = writeln!(
                    out,
                    "{name}{{receiver=\"{}\"}} {value}",
                    escape_label(receiver)
                );
            }
        }
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
