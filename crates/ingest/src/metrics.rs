//! Counters of the ingest path, rendered in the Prometheus text format by the server.
//!
//! Plain atomics instead of a metrics crate: the hot path increments a handful of
//! counters per request, and the label sets (rejection reasons) are small and closed.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sightline_model::RejectionCode;

/// A fixed-bucket latency histogram (seconds), lock-free to record.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// From 50 µs to 10 s: fsyncs sit at the low end, slow requests at the high end.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn record(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(index) = self.bounds.iter().position(|bound| seconds <= *bound) {
            self.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed))
    }

    /// Appends the histogram in Prometheus text format; `labels` is `""` or `key="v",`.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let trimmed = labels.trim_end_matches(',');
        let braces = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{{{trimmed}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Everything the ingest path counts.
#[derive(Debug)]
pub struct IngestMetrics {
    pub events_accepted: AtomicU64,
    pub events_duplicate: AtomicU64,
    rejected_by_code: [AtomicU64; RejectionCode::ALL.len()],
    pub commit_groups: AtomicU64,
    pub fsync_seconds: Histogram,
    pub log_bytes: AtomicU64,
    pub log_segments: AtomicU64,
    pub log_next_offset: AtomicU64,
    pub dedup_keys: AtomicU64,
    pub dedup_evicted_keys: AtomicU64,
    pub dead_letters_total: AtomicU64,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        IngestMetrics {
            events_accepted: AtomicU64::new(0),
            events_duplicate: AtomicU64::new(0),
            rejected_by_code: std::array::from_fn(|_| AtomicU64::new(0)),
            commit_groups: AtomicU64::new(0),
            fsync_seconds: Histogram::new(LATENCY_BOUNDS),
            log_bytes: AtomicU64::new(0),
            log_segments: AtomicU64::new(0),
            log_next_offset: AtomicU64::new(0),
            dedup_keys: AtomicU64::new(0),
            dedup_evicted_keys: AtomicU64::new(0),
            dead_letters_total: AtomicU64::new(0),
        }
    }
}

impl IngestMetrics {
    pub fn count_rejection(&self, code: RejectionCode) {
        self.rejected_by_code[code.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rejected(&self, code: RejectionCode) -> u64 {
        self.rejected_by_code[code.index()].load(Ordering::Relaxed)
    }

    /// Appends all ingest metrics in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        let load = |value: &AtomicU64| value.load(Ordering::Relaxed);
        counter(
            out,
            "sightline_events_accepted_total",
            "Events appended to the log and acknowledged.",
            load(&self.events_accepted),
        );
        counter(
            out,
            "sightline_events_duplicate_total",
            "Events acknowledged as duplicates of an earlier (source, id) and not appended.",
            load(&self.events_duplicate),
        );
        let _ = writeln!(
            out,
            "# HELP sightline_events_rejected_total Events rejected, by reason.\n# TYPE sightline_events_rejected_total counter"
        );
        for code in RejectionCode::ALL {
            let _ = writeln!(
                out,
                "sightline_events_rejected_total{{reason=\"{}\"}} {}",
                code.as_str(),
                self.rejected(code)
            );
        }
        counter(
            out,
            "sightline_late_events_total",
            "Events behind the watermark by more than the allowed lateness.",
            self.rejected(RejectionCode::Late),
        );
        counter(
            out,
            "sightline_log_commit_groups_total",
            "Group commits (one fdatasync each).",
            load(&self.commit_groups),
        );
        let _ = writeln!(
            out,
            "# HELP sightline_log_fsync_seconds Time to write and fdatasync one commit group.\n# TYPE sightline_log_fsync_seconds histogram"
        );
        self.fsync_seconds
            .render(out, "sightline_log_fsync_seconds", "");
        gauge(
            out,
            "sightline_log_bytes",
            "Bytes in the event log's segment files.",
            load(&self.log_bytes),
        );
        gauge(
            out,
            "sightline_log_segments",
            "Segment files of the event log.",
            load(&self.log_segments),
        );
        gauge(
            out,
            "sightline_log_next_offset",
            "Offset the next appended event will get.",
            load(&self.log_next_offset),
        );
        gauge(
            out,
            "sightline_dedup_keys",
            "Event identities remembered for deduplication.",
            load(&self.dedup_keys),
        );
        counter(
            out,
            "sightline_dedup_evicted_keys_total",
            "Identities forgotten early because dedup.max_keys was reached.",
            load(&self.dedup_evicted_keys),
        );
        counter(
            out,
            "sightline_dead_letters_total",
            "Events written to the dead-letter store.",
            load(&self.dead_letters_total),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_overflow() {
        let histogram = Histogram::new(&[0.001, 0.01]);
        histogram.record(Duration::from_micros(500));
        histogram.record(Duration::from_millis(5));
        histogram.record(Duration::from_secs(1));
        let mut out = String::new();
        histogram.render(&mut out, "x", "");
        assert!(out.contains("x_bucket{le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.01\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
    }
}
