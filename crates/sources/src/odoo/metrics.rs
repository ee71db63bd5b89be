//! Counters of the Odoo source, per way in (`via`: webhook, poll, outbox), added to the
//! shared `sightline_source_*` families. Label values are bounded: models are counted
//! only once a record of theirs authenticated, at most [`MAX_MODELS`] (then `other`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::event::Via;
use crate::metrics::{Family, MetricFamilies, escape};
use crate::shopify::event::EventKind;

const MAX_MODELS: usize = 32;

#[derive(Debug)]
pub struct OdooMetrics {
    instance: String,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    received: BTreeMap<(Via, String), u64>,
    skipped: BTreeMap<(Via, String), u64>,
    rejected: BTreeMap<(Via, &'static str), u64>,
    duplicates: BTreeMap<Via, u64>,
    stored: BTreeMap<(Via, &'static str), u64>,
    failures: BTreeMap<Via, u64>,
    lag_seconds: BTreeMap<Via, f64>,
}

impl OdooMetrics {
    pub fn new(instance: &str) -> OdooMetrics {
        OdooMetrics {
            instance: instance.to_owned(),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn model_key(map: &BTreeMap<(Via, String), u64>, via: Via, model: &str) -> (Via, String) {
        let key = (via, model.to_owned());
        let models_of_via = map.keys().filter(|(of, _)| *of == via).count();
        if map.contains_key(&key) || models_of_via < MAX_MODELS {
            key
        } else {
            (via, "other".to_owned())
        }
    }

    /// Authenticated records, and the lag of the newest (receive time minus its time).
    pub fn received(&self, via: Via, model: &str, records: u64, lag_seconds: Option<f64>) {
        let mut inner = self.lock();
        let key = Self::model_key(&inner.received, via, model);
        *inner.received.entry(key).or_default() += records;
        if let Some(lag) = lag_seconds {
            inner.lag_seconds.insert(via, lag);
        }
    }

    /// Replaces the lag of `via` (the outbox measures it from its rows' `created_at`).
    pub fn lag(&self, via: Via, seconds: f64) {
        self.lock().lag_seconds.insert(via, seconds);
    }

    pub fn skipped(&self, via: Via, model: &str) {
        let mut inner = self.lock();
        let key = Self::model_key(&inner.skipped, via, model);
        *inner.skipped.entry(key).or_default() += 1;
    }

    pub fn rejected(&self, via: Via, reason: &'static str, count: u64) {
        if count > 0 {
            *self.lock().rejected.entry((via, reason)).or_default() += count;
        }
    }

    pub fn failed(&self, via: Via) {
        *self.lock().failures.entry(via).or_default() += 1;
    }

    pub fn committed(&self, via: Via, duplicates: usize, stored: &[(EventKind, usize)]) {
        let mut inner = self.lock();
        if duplicates > 0 {
            *inner.duplicates.entry(via).or_default() += duplicates as u64;
        }
        for &(kind, count) in stored {
            if count > 0 {
                *inner.stored.entry((via, kind.as_str())).or_default() += count as u64;
            }
        }
    }

    pub fn received_count(&self, via: Via, model: &str) -> u64 {
        self.lock()
            .received
            .get(&(via, model.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    pub fn collect(&self, families: &mut MetricFamilies) {
        let inner = self.lock();
        let base = |via: Via| {
            format!(
                "source=\"odoo\",instance=\"{}\",via=\"{}\"",
                escape(&self.instance),
                via.as_str()
            )
        };
        for ((via, model), count) in &inner.received {
            families.add(
                Family::Received,
                format!("{},model=\"{}\"", base(*via), escape(model)),
                count,
            );
        }
        for ((via, reason), count) in &inner.rejected {
            families.add(
                Family::Rejected,
                format!("{},reason=\"{reason}\"", base(*via)),
                count,
            );
        }
        for (via, count) in &inner.duplicates {
            families.add(Family::Duplicates, base(*via), count);
        }
        for ((via, kind), count) in &inner.stored {
            families.add(
                Family::Events,
                format!("{},kind=\"{kind}\"", base(*via)),
                count,
            );
        }
        for ((via, model), count) in &inner.skipped {
            families.add(
                Family::Skipped,
                format!("{},model=\"{}\"", base(*via), escape(model)),
                count,
            );
        }
        for (via, count) in &inner.failures {
            families.add(Family::Failures, base(*via), count);
        }
        for (via, lag) in &inner.lag_seconds {
            families.add(Family::Lag, base(*via), lag);
        }
    }
}
