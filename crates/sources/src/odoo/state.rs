//! The state the Odoo mappings need, in journals under `data/sources/odoo/` (the same
//! JSON-lines journal as Shopify's, `shopify/journal.rs`):
//!
//! - `products.journal`: product id → Internal Reference (SKU), learned from the records
//!   that carry it (outbox rows, poller reads) so webhook payloads, which carry only the
//!   product id, get the same SKU.
//! - `productions.journal`: each manufacturing order's last `qty_produced`, to turn its
//!   growth into `production.output` units.
//! - `quants.journal`: every quant's latest quantity, because a product's stock in a
//!   warehouse is the sum of its quants (one per lot, package, owner and sub-location
//!   mapped to the warehouse): a reading of one quant reports that sum, never the
//!   quant's own quantity. The journal is synced before the batch's events are
//!   committed, so a level sent out always survives a crash.
//!
//! ## Production output: write-ahead
//!
//! An increase is journalled (fdatasync) *before* its event is committed, and a
//! "committed" note follows. A reading advances the in-memory state at once, under the
//! lock, so two ways in delivering two versions of one order concurrently split the
//! growth between them instead of counting it twice. At start, growth never noted as
//! committed is committed again under the same id (a duplicate if it had landed). A
//! reading older than the state (`write_date`) changes nothing; the same version again
//! (a retry, the poller's overlap, the outbox's at-least-once) re-emits the growth it
//! produced, under the same id.

use std::collections::HashMap;
use std::path::Path;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::record::Timestamp;
use super::translate::{ProductionReading, QuantReading};
use crate::error::SourceError;
use crate::shopify::journal::Journal;

#[derive(Serialize, Deserialize)]
struct ProductEntry {
    product: i64,
    sku: String,
}

/// Product id → SKU, learned.
#[derive(Debug)]
pub struct ProductStore {
    skus: HashMap<i64, String>,
    journal: Journal,
}

impl ProductStore {
    pub fn open(path: &Path) -> Result<ProductStore, SourceError> {
        let mut skus = HashMap::new();
        let journal = Journal::open(path, |entry: ProductEntry| {
            skus.insert(entry.product, entry.sku);
        })?;
        Ok(ProductStore { skus, journal })
    }

    pub fn get(&self, product: i64) -> Option<String> {
        self.skus.get(&product).cloned()
    }

    /// Records the pairs that are new or changed; durable when it returns.
    pub fn learn(&mut self, pairs: &[(i64, String)]) -> Result<usize, SourceError> {
        let mut learned = 0;
        for (product, sku) in pairs {
            if sku.is_empty() || self.skus.get(product) == Some(sku) {
                continue;
            }
            let entry = ProductEntry {
                product: *product,
                sku: sku.clone(),
            };
            self.journal.append(&entry, false)?;
            self.skus.insert(*product, sku.clone());
            learned += 1;
        }
        if learned > 0 {
            self.journal.sync()?;
        }
        Ok(learned)
    }
}

/// One manufacturing order's latest reading, as journalled.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProductionEntry {
    production: i64,
    line_id: String,
    write_date: String,
    write_date_us: i64,
    qty: Decimal,
    /// The growth this reading produced (an output event), if any.
    units: Option<Decimal>,
    /// Whether that output event is known to be durable in the log.
    committed: bool,
}

impl ProductionEntry {
    fn reading(&self) -> ProductionReading {
        ProductionReading {
            production: self.production,
            line_id: self.line_id.clone(),
            write_date: Timestamp {
                text: self.write_date.clone(),
                micros: self.write_date_us,
            },
            qty_produced: self.qty,
        }
    }
}

/// What a reading does to a manufacturing order's state.
#[derive(Debug, Clone, PartialEq)]
pub enum ProductionStep {
    /// Older than the state: nothing.
    Stale,
    /// New or the same version again: the output it stands for (`None`: no growth).
    Output(Option<Decimal>),
}

#[derive(Debug)]
pub struct ProductionStore {
    latest: HashMap<i64, ProductionEntry>,
    journal: Journal,
}

impl ProductionStore {
    pub fn open(path: &Path) -> Result<ProductionStore, SourceError> {
        let mut latest: HashMap<i64, ProductionEntry> = HashMap::new();
        let mut lines = 0usize;
        let mut journal = Journal::open(path, |entry: ProductionEntry| {
            lines += 1;
            latest.insert(entry.production, entry);
        })?;
        journal.compact_if_stale(lines, latest.len(), || {
            let mut live: Vec<&ProductionEntry> = latest.values().collect();
            live.sort_by_key(|entry| entry.production);
            live
        })?;
        Ok(ProductionStore { latest, journal })
    }

    /// Applies a reading; growth is journalled durably before this returns.
    pub fn step(&mut self, reading: &ProductionReading) -> Result<ProductionStep, SourceError> {
        let previous = self.latest.get(&reading.production);
        let units = match previous {
            Some(entry) if reading.write_date.micros < entry.write_date_us => {
                return Ok(ProductionStep::Stale);
            }
            Some(entry)
                if reading.write_date.micros == entry.write_date_us
                    && reading.qty_produced == entry.qty =>
            {
                return Ok(ProductionStep::Output(entry.units));
            }
            Some(entry) => reading.qty_produced - entry.qty,
            // First seen: what it produced so far was never counted.
            None => reading.qty_produced,
        };
        let units = (units > Decimal::ZERO).then_some(units);
        let entry = ProductionEntry {
            production: reading.production,
            line_id: reading.line_id.clone(),
            write_date: reading.write_date.text.clone(),
            write_date_us: reading.write_date.micros,
            qty: reading.qty_produced,
            units,
            committed: units.is_none(),
        };
        // Growth must survive a crash before its event can be committed; a reading
        // without growth is only a better starting point for the next one.
        self.journal.append(&entry, units.is_some())?;
        self.latest.insert(reading.production, entry);
        Ok(ProductionStep::Output(units))
    }

    /// Notes that the output of `reading` is durable in the log.
    pub fn committed(&mut self, reading: &ProductionReading) {
        let Some(entry) = self.latest.get_mut(&reading.production) else {
            return;
        };
        if entry.committed
            || entry.write_date_us != reading.write_date.micros
            || entry.qty != reading.qty_produced
        {
            return;
        }
        entry.committed = true;
        let note = entry.clone();
        // Unsynced: losing the note only commits the same event again at start.
        if let Err(error) = self.journal.append(&note, false) {
            tracing::warn!(%error, "cannot note a production output as committed; it is committed again (as a duplicate) at the next start");
        }
    }

    /// Growth journalled but never noted as committed (a crash in between).
    pub fn uncommitted(&self) -> Vec<(ProductionReading, Decimal)> {
        let mut pending: Vec<(ProductionReading, Decimal)> = self
            .latest
            .values()
            .filter(|entry| !entry.committed)
            .filter_map(|entry| Some((entry.reading(), entry.units?)))
            .collect();
        pending.sort_by_key(|(reading, _)| reading.production);
        pending
    }
}

/// One quant's latest reading, as journalled.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct QuantEntry {
    quant: i64,
    product: i64,
    location: i64,
    sku: String,
    warehouse: String,
    write_date_us: i64,
    quantity: Decimal,
}

/// What a quant reading does.
#[derive(Debug, Clone, PartialEq)]
pub enum QuantStep {
    /// Older than the quant's state: nothing.
    Stale,
    /// The product's level in the warehouse, the sum of its quants there.
    Level(Decimal),
}

#[derive(Debug)]
pub struct QuantStore {
    quants: HashMap<i64, QuantEntry>,
    /// (product, warehouse) → the sum of its quants, kept as readings arrive.
    levels: HashMap<(i64, String), Decimal>,
    journal: Journal,
}

impl QuantStore {
    pub fn open(path: &Path) -> Result<QuantStore, SourceError> {
        let mut entries = Vec::new();
        let journal = Journal::open(path, |entry: QuantEntry| entries.push(entry))?;
        let lines = entries.len();
        let mut store = QuantStore {
            quants: HashMap::new(),
            levels: HashMap::new(),
            journal,
        };
        for entry in entries {
            store.apply(entry);
        }
        let quants = &store.quants;
        store.journal.compact_if_stale(lines, quants.len(), || {
            let mut live: Vec<&QuantEntry> = quants.values().collect();
            live.sort_by_key(|entry| entry.quant);
            live
        })?;
        Ok(store)
    }

    /// Applies a reading (journalled, not yet synced: see [`QuantStore::sync`]).
    pub fn step(&mut self, reading: &QuantReading) -> Result<QuantStep, SourceError> {
        if let Some(known) = self.quants.get(&reading.quant)
            && reading.write_date.micros < known.write_date_us
        {
            return Ok(QuantStep::Stale);
        }
        let entry = QuantEntry {
            quant: reading.quant,
            product: reading.product,
            location: reading.location,
            sku: reading.sku.clone(),
            warehouse: reading.warehouse.clone(),
            write_date_us: reading.write_date.micros,
            quantity: reading.quantity,
        };
        self.journal.append(&entry, false)?;
        self.apply(entry);
        let level = self
            .levels
            .get(&(reading.product, reading.warehouse.clone()))
            .copied()
            .unwrap_or_default();
        Ok(QuantStep::Level(level))
    }

    /// Readings of 0 at `at` for the quants with stock that are not in `existing` (the
    /// ids Odoo still has): a quant Odoo deleted (emptied, or merged into another) holds
    /// nothing any more, and the poller never sees a deleted row.
    pub fn vanished(
        &self,
        existing: &std::collections::BTreeSet<i64>,
        at: &Timestamp,
    ) -> Vec<QuantReading> {
        let mut gone: Vec<QuantReading> = self
            .quants
            .values()
            .filter(|entry| !entry.quantity.is_zero() && !existing.contains(&entry.quant))
            .filter(|entry| entry.write_date_us < at.micros)
            .map(|entry| QuantReading {
                quant: entry.quant,
                product: entry.product,
                location: entry.location,
                sku: entry.sku.clone(),
                warehouse: entry.warehouse.clone(),
                quantity: Decimal::ZERO,
                write_date: at.clone(),
            })
            .collect();
        gone.sort_by_key(|reading| reading.quant);
        gone
    }

    /// Makes the readings stepped so far durable; before their events are committed.
    pub fn sync(&mut self) -> Result<(), SourceError> {
        self.journal.sync()
    }

    fn apply(&mut self, entry: QuantEntry) {
        if let Some(previous) = self.quants.get(&entry.quant) {
            if entry.write_date_us < previous.write_date_us {
                return;
            }
            let key = (previous.product, previous.warehouse.clone());
            *self.levels.entry(key).or_default() -= previous.quantity;
        }
        *self
            .levels
            .entry((entry.product, entry.warehouse.clone()))
            .or_default() += entry.quantity;
        self.quants.insert(entry.quant, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odoo::record::parse_datetime;

    fn quant(quant: i64, warehouse: &str, time: &str, quantity: i64) -> QuantReading {
        QuantReading {
            quant,
            product: 5,
            location: quant * 10,
            sku: "MUG-01".into(),
            warehouse: warehouse.into(),
            quantity: Decimal::from(quantity),
            write_date: parse_datetime(time).expect("time"),
        }
    }

    #[test]
    fn a_level_is_the_sum_of_the_warehouses_quants_and_survives_a_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("quants.journal");
        let mut store = QuantStore::open(&path).expect("opens");
        let level = |value: i64| QuantStep::Level(Decimal::from(value));
        // Two lots in Berlin, one quant in Paris.
        assert_eq!(
            store
                .step(&quant(1, "berlin", "2026-11-27 10:00:00", 7))
                .expect("step"),
            level(7)
        );
        assert_eq!(
            store
                .step(&quant(2, "berlin", "2026-11-27 10:05:00", 5))
                .expect("step"),
            level(12)
        );
        assert_eq!(
            store
                .step(&quant(3, "paris", "2026-11-27 10:06:00", 4))
                .expect("step"),
            level(4)
        );
        // Lot 1 sells 3: Berlin has 9, not lot 1's 4.
        assert_eq!(
            store
                .step(&quant(1, "berlin", "2026-11-27 11:00:00", 4))
                .expect("step"),
            level(9)
        );
        // A delayed older version of lot 2 changes nothing.
        assert_eq!(
            store
                .step(&quant(2, "berlin", "2026-11-27 09:00:00", 50))
                .expect("stale"),
            QuantStep::Stale
        );
        // The same version again reports the same level (its event is a duplicate).
        assert_eq!(
            store
                .step(&quant(1, "berlin", "2026-11-27 11:00:00", 4))
                .expect("repeat"),
            level(9)
        );
        store.sync().expect("sync");
        drop(store);
        let mut store = QuantStore::open(&path).expect("reopens");
        // Lot 2 emptied (or its quant deleted, which the outbox reports as 0).
        assert_eq!(
            store
                .step(&quant(2, "berlin", "2026-11-27 12:00:00", 0))
                .expect("step"),
            level(4)
        );
        assert_eq!(
            store
                .step(&quant(3, "paris", "2026-11-27 12:00:00", -1))
                .expect("step"),
            QuantStep::Level(Decimal::from(-1))
        );
        // Odoo no longer has quant 1: it reads as 0 from now on; emptied quant 2 and the
        // quants Odoo still has are left alone.
        let now = parse_datetime("2026-11-27 13:00:00").expect("time");
        let existing = std::collections::BTreeSet::from([3]);
        let gone = store.vanished(&existing, &now);
        assert_eq!(gone.len(), 1, "{gone:?}");
        assert_eq!(
            (gone[0].quant, gone[0].quantity, &gone[0].write_date),
            (1, Decimal::ZERO, &now)
        );
        assert_eq!(store.step(&gone[0]).expect("step"), level(0));
        assert!(store.vanished(&existing, &now).is_empty());
    }

    fn reading(production: i64, time: &str, qty: i64) -> ProductionReading {
        ProductionReading {
            production,
            line_id: "line-a".into(),
            write_date: parse_datetime(time).expect("time"),
            qty_produced: Decimal::from(qty),
        }
    }

    #[test]
    fn growth_is_counted_once_and_survives_a_crash_before_its_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("productions.journal");
        let mut store = ProductionStore::open(&path).expect("opens");
        let first = reading(7, "2026-11-27 10:00:00", 0);
        assert_eq!(
            store.step(&first).expect("step"),
            ProductionStep::Output(None)
        );
        let second = reading(7, "2026-11-27 11:00:00", 5);
        assert_eq!(
            store.step(&second).expect("step"),
            ProductionStep::Output(Some(Decimal::from(5)))
        );
        assert_eq!(
            store.step(&second).expect("repeat"),
            ProductionStep::Output(Some(Decimal::from(5))),
            "the same version re-emits its growth (same id: a duplicate)"
        );
        assert_eq!(store.step(&first).expect("stale"), ProductionStep::Stale);
        // Crash before the commit: the growth is pending after a restart.
        drop(store);
        let mut store = ProductionStore::open(&path).expect("reopens");
        let pending = store.uncommitted();
        assert_eq!(pending, vec![(second.clone(), Decimal::from(5))]);
        store.committed(&second);
        let third = reading(7, "2026-11-27 12:00:00", 8);
        assert_eq!(
            store.step(&third).expect("step"),
            ProductionStep::Output(Some(Decimal::from(3)))
        );
        store.committed(&third);
        drop(store);
        let store = ProductionStore::open(&path).expect("reopens");
        assert!(store.uncommitted().is_empty());
    }

    #[test]
    fn learned_skus_survive_a_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("products.journal");
        let mut store = ProductStore::open(&path).expect("opens");
        assert_eq!(store.learn(&[(42, "MUG-01".into())]).expect("learn"), 1);
        assert_eq!(store.learn(&[(42, "MUG-01".into())]).expect("learn"), 0);
        drop(store);
        let store = ProductStore::open(&path).expect("reopens");
        assert_eq!(store.get(42).as_deref(), Some("MUG-01"));
        assert_eq!(store.get(43), None);
    }
}
