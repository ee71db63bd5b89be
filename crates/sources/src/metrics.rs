//! The `sightline_source_*` metric families every source adds samples to, rendered once
//! each (Prometheus text allows one `# HELP`/`# TYPE` per family), with per-source labels.

use std::fmt::Write as _;

/// A family of samples: its name, help text and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Received,
    Rejected,
    Duplicates,
    Events,
    Skipped,
    Failures,
    Lag,
}

impl Family {
    const ALL: [Family; 7] = [
        Family::Received,
        Family::Rejected,
        Family::Duplicates,
        Family::Events,
        Family::Skipped,
        Family::Failures,
        Family::Lag,
    ];

    fn name(self) -> &'static str {
        match self {
            Family::Received => "sightline_source_received_total",
            Family::Rejected => "sightline_source_rejected_total",
            Family::Duplicates => "sightline_source_duplicates_total",
            Family::Events => "sightline_source_events_total",
            Family::Skipped => "sightline_source_skipped_total",
            Family::Failures => "sightline_source_failures_total",
            Family::Lag => "sightline_source_lag_seconds",
        }
    }

    fn help(self) -> &'static str {
        match self {
            Family::Received => {
                "Source deliveries (Shopify: per shop and topic) and records (Odoo: per way in and model) received and authenticated."
            }
            Family::Rejected => "Source deliveries or records refused, per reason.",
            Family::Duplicates => {
                "Source events already stored (retries, repeated deliveries, reconciled or re-read records)."
            }
            Family::Events => {
                "Source events stored, per kind (catalogue; extension: <source>.<topic or model>; test: test orders)."
            }
            Family::Skipped => {
                "Source records that stand for no event (a quotation, a receipt, an unchanged version)."
            }
            Family::Failures => {
                "Source polls or connections that failed (retried; nothing is acknowledged or marked done)."
            }
            Family::Lag => {
                "Receive time minus the source's own time (trigger, write_date or outbox row) of the latest delivery or record."
            }
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Family::Lag => "gauge",
            _ => "counter",
        }
    }
}

/// Samples gathered from every source, rendered family by family.
#[derive(Debug, Default)]
pub struct MetricFamilies {
    samples: Vec<(Family, String, String)>,
}

impl MetricFamilies {
    /// Adds one sample; `labels` is the inside of `{…}`, already escaped.
    pub fn add(&mut self, family: Family, labels: String, value: impl std::fmt::Display) {
        self.samples.push((family, labels, value.to_string()));
    }

    pub fn render(&self, out: &mut String) {
        for family in Family::ALL {
            // Families with no samples still announce themselves, as they always did.
            let _ = writeln!(
                out,
                "# HELP {name} {}\n# TYPE {name} {}",
                family.help(),
                family.kind(),
                name = family.name()
            );
            for (_, labels, value) in self.samples.iter().filter(|(of, ..)| *of == family) {
                let _ = writeln!(out, "{}{{{labels}}} {value}", family.name());
            }
        }
    }
}

/// Escapes a label value.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
