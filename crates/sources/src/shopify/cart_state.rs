//! Carts: which quantities grew since the cart's previous state.
//!
//! Shopify's `carts/update` carries the whole cart, not what changed, so the source keeps
//! each cart's last quantities per SKU and emits `cart.item_added` for the growth only.
//!
//! ## Durability and ordering
//!
//! The new state is written to the journal (fdatasync) *before* its events are committed
//! to the log, together with the growth it produced and the delivery's event id; a line
//! saying "committed" follows the commit (not synced). So:
//!
//! - a crash between the two leaves a state whose growth may not be in the log: at start
//!   its events are committed again ([`CartStore::uncommitted`]), under the same ids, so
//!   the log's dedup keeps exactly one copy whether or not the first commit landed;
//! - Shopify retrying that delivery finds it is the delivery that made the current state
//!   and re-emits the same events (again deduplicated), instead of seeing no growth;
//! - a delivery older than the state (`updated_at` before the state's) changes nothing:
//!   Shopify does not deliver in order, and a stale cart must not read as a removal
//!   followed by a new addition.
//!
//! A restart therefore never re-emits growth already counted, and a crash never loses it.
//! Carts not updated for 30 days are dropped when the journal is compacted.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::journal::Journal;
use crate::error::SourceError;

/// Carts older than this are forgotten at compaction (Shopify's carts expire sooner).
const CART_RETENTION_US: i64 = 30 * 86_400 * 1_000_000;
/// Journal lines appended before a compaction is considered.
const COMPACT_AFTER_LINES: usize = 20_000;

/// A cart as one delivery shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartSnapshot {
    pub token: String,
    /// RFC 3339, as Shopify sent it (the events' time).
    pub updated_at: String,
    pub updated_at_us: i64,
    /// Quantity per SKU (lines of the same SKU added up); zero quantities left out.
    pub quantities: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrownItem {
    pub sku: String,
    pub quantity: u64,
}

/// A cart's state and the growth its last delivery produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartRecord {
    pub updated_at: String,
    pub updated_at_us: i64,
    pub quantities: BTreeMap<String, u64>,
    /// The `X-Shopify-Event-Id` of the delivery that produced this state.
    pub delivery: String,
    pub topic: String,
    pub grown: Vec<GrownItem>,
    /// Whether `grown` is known to be in the log.
    pub committed: bool,
}

impl CartRecord {
    /// The snapshot this record holds (to rebuild its events).
    pub fn snapshot(&self, token: &str) -> CartSnapshot {
        CartSnapshot {
            token: token.to_owned(),
            updated_at: self.updated_at.clone(),
            updated_at_us: self.updated_at_us,
            quantities: self.quantities.clone(),
        }
    }
}

/// What to do with one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartStep {
    /// A newer state: record it durably, then commit its growth (and the growth of the
    /// previous state if that was never confirmed committed).
    Advance {
        record: CartRecord,
        unconfirmed_before: Option<CartRecord>,
    },
    /// The delivery that produced the current state, again: commit its growth again.
    Repeat(CartRecord),
    /// Older than the current state: nothing grew.
    Stale,
}

type CartKey = (String, String);

/// Every cart's state, in memory (pure: no I/O).
#[derive(Debug, Default)]
pub struct CartBook {
    carts: HashMap<CartKey, CartRecord>,
}

impl CartBook {
    pub fn step(
        &self,
        shop: &str,
        snapshot: &CartSnapshot,
        delivery: &str,
        topic: &str,
    ) -> CartStep {
        let previous = self.carts.get(&(shop.to_owned(), snapshot.token.clone()));
        if let Some(previous) = previous {
            if previous.delivery == delivery {
                return CartStep::Repeat(previous.clone());
            }
            if snapshot.updated_at_us < previous.updated_at_us {
                return CartStep::Stale;
            }
        }
        let grown: Vec<GrownItem> = snapshot
            .quantities
            .iter()
            .filter_map(|(sku, &quantity)| {
                let before = previous
                    .and_then(|previous| previous.quantities.get(sku).copied())
                    .unwrap_or(0);
                (quantity > before).then(|| GrownItem {
                    sku: sku.clone(),
                    quantity: quantity - before,
                })
            })
            .collect();
        CartStep::Advance {
            record: CartRecord {
                updated_at: snapshot.updated_at.clone(),
                updated_at_us: snapshot.updated_at_us,
                quantities: snapshot.quantities.clone(),
                delivery: delivery.to_owned(),
                topic: topic.to_owned(),
                committed: grown.is_empty(),
                grown,
            },
            unconfirmed_before: previous.filter(|previous| !previous.committed).cloned(),
        }
    }

    pub fn apply(&mut self, shop: &str, token: &str, record: CartRecord) {
        self.carts
            .insert((shop.to_owned(), token.to_owned()), record);
    }

    /// Marks the growth of `delivery` committed, if it is still the cart's current state.
    pub fn mark_committed(&mut self, shop: &str, token: &str, delivery: &str) -> bool {
        match self.carts.get_mut(&(shop.to_owned(), token.to_owned())) {
            Some(record) if record.delivery == delivery && !record.committed => {
                record.committed = true;
                true
            }
            _ => false,
        }
    }

    /// Carts whose last growth is not known to be in the log: (shop, token, record).
    pub fn uncommitted(&self) -> Vec<(String, String, CartRecord)> {
        let mut pending: Vec<_> = self
            .carts
            .iter()
            .filter(|(_, record)| !record.committed)
            .map(|((shop, token), record)| (shop.clone(), token.clone(), record.clone()))
            .collect();
        pending
            .sort_by(|a, b| (a.2.updated_at_us, &a.0, &a.1).cmp(&(b.2.updated_at_us, &b.0, &b.1)));
        pending
    }

    pub fn len(&self) -> usize {
        self.carts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.carts.is_empty()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Entry {
    Set {
        shop: String,
        cart: String,
        record: CartRecord,
    },
    Committed {
        shop: String,
        cart: String,
        delivery: String,
    },
}

/// The cart book with its journal (see the module's durability contract).
#[derive(Debug)]
pub struct CartStore {
    book: CartBook,
    journal: Journal,
    lines_since_compaction: usize,
}

impl CartStore {
    pub fn open(path: &Path) -> Result<CartStore, SourceError> {
        let mut book = CartBook::default();
        let mut lines = 0;
        let journal = Journal::open(path, |entry: Entry| {
            lines += 1;
            match entry {
                Entry::Set { shop, cart, record } => book.apply(&shop, &cart, record),
                Entry::Committed {
                    shop,
                    cart,
                    delivery,
                } => {
                    book.mark_committed(&shop, &cart, &delivery);
                }
            }
        })?;
        Ok(CartStore {
            book,
            journal,
            lines_since_compaction: lines,
        })
    }

    pub fn step(
        &self,
        shop: &str,
        snapshot: &CartSnapshot,
        delivery: &str,
        topic: &str,
    ) -> CartStep {
        self.book.step(shop, snapshot, delivery, topic)
    }

    /// Makes the new state durable, then applies it.
    pub fn record(
        &mut self,
        shop: &str,
        token: &str,
        record: CartRecord,
    ) -> Result<(), SourceError> {
        let entry = Entry::Set {
            shop: shop.to_owned(),
            cart: token.to_owned(),
            record,
        };
        self.journal.append(&entry, true)?;
        let Entry::Set { record, .. } = entry else {
            unreachable!("built as Set above")
        };
        self.book.apply(shop, token, record);
        self.lines_since_compaction += 1;
        Ok(())
    }

    /// Notes that the growth of `delivery` is in the log (a hint: not synced).
    pub fn committed(&mut self, shop: &str, token: &str, delivery: &str, now_us: i64) {
        if !self.book.mark_committed(shop, token, delivery) {
            return;
        }
        let entry = Entry::Committed {
            shop: shop.to_owned(),
            cart: token.to_owned(),
            delivery: delivery.to_owned(),
        };
        if let Err(error) = self.journal.append(&entry, false) {
            // Harmless: the growth is committed again at the next start, as a duplicate.
            tracing::warn!(%error, "cannot note a committed cart update");
        }
        self.lines_since_compaction += 1;
        self.compact_if_due(now_us);
    }

    pub fn uncommitted(&self) -> Vec<(String, String, CartRecord)> {
        self.book.uncommitted()
    }

    pub fn carts(&self) -> usize {
        self.book.len()
    }

    fn compact_if_due(&mut self, now_us: i64) {
        if self.lines_since_compaction < COMPACT_AFTER_LINES.max(2 * self.book.len()) {
            return;
        }
        let horizon = now_us.saturating_sub(CART_RETENTION_US);
        self.book
            .carts
            .retain(|_, record| record.updated_at_us >= horizon || !record.committed);
        let entries: Vec<Entry> = self
            .book
            .carts
            .iter()
            .map(|((shop, cart), record)| Entry::Set {
                shop: shop.clone(),
                cart: cart.clone(),
                record: record.clone(),
            })
            .collect();
        match self.journal.compact(&entries) {
            Ok(()) => self.lines_since_compaction = entries.len(),
            Err(error) => {
                tracing::warn!(%error, "cannot compact the cart journal; it keeps growing until the next try")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn snapshot(updated_at_us: i64, quantities: &[(&str, u64)]) -> CartSnapshot {
        CartSnapshot {
            token: "cart-1".into(),
            updated_at: format!("t{updated_at_us}"),
            updated_at_us,
            quantities: quantities
                .iter()
                .map(|(sku, quantity)| ((*sku).to_owned(), *quantity))
                .collect(),
        }
    }

    fn advance(store: &mut CartStore, snapshot: &CartSnapshot, delivery: &str) -> Vec<GrownItem> {
        match store.step("shop", snapshot, delivery, "carts/update") {
            CartStep::Advance { record, .. } => {
                let grown = record.grown.clone();
                store
                    .record("shop", &snapshot.token, record)
                    .expect("journal write");
                grown
            }
            CartStep::Repeat(record) => record.grown,
            CartStep::Stale => Vec::new(),
        }
    }

    #[test]
    fn growth_only_stale_ignored_and_retries_repeat() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("carts.journal");
        let mut store = CartStore::open(&path).expect("opens");
        let grown = advance(&mut store, &snapshot(1, &[("A", 1)]), "d1");
        assert_eq!(
            grown,
            vec![GrownItem {
                sku: "A".into(),
                quantity: 1
            }]
        );
        let grown = advance(&mut store, &snapshot(3, &[("A", 3), ("B", 1)]), "d3");
        assert_eq!(
            grown,
            vec![
                GrownItem {
                    sku: "A".into(),
                    quantity: 2
                },
                GrownItem {
                    sku: "B".into(),
                    quantity: 1
                }
            ]
        );
        assert!(
            advance(&mut store, &snapshot(2, &[("A", 2)]), "d2").is_empty(),
            "stale"
        );
        assert!(
            advance(&mut store, &snapshot(4, &[("B", 1)]), "d4").is_empty(),
            "a removal adds nothing"
        );
        store.committed("shop", "cart-1", "d4", 10);
        // A restart: the state is back, nothing is pending, growth continues from it.
        drop(store);
        let mut store = CartStore::open(&path).expect("reopens");
        assert!(store.uncommitted().is_empty());
        let grown = advance(&mut store, &snapshot(5, &[("A", 1), ("B", 1)]), "d5");
        assert_eq!(
            grown,
            vec![GrownItem {
                sku: "A".into(),
                quantity: 1
            }]
        );
        // Not marked committed before the "crash": pending at the next start.
        drop(store);
        let store = CartStore::open(&path).expect("reopens");
        let pending = store.uncommitted();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].2.delivery, "d5");
        // A retry of d5 repeats its growth instead of finding none.
        assert_eq!(
            store.step(
                "shop",
                &snapshot(5, &[("A", 1), ("B", 1)]),
                "d5",
                "carts/update"
            ),
            CartStep::Repeat(pending[0].2.clone())
        );
    }

    proptest! {
        /// Deliveries in any order, each possibly retried, with restarts between them:
        /// the distinct (delivery, SKU) events carry exactly the growth of the states
        /// applied in updated_at order, skipping the stale ones (independent oracle).
        #[test]
        fn distinct_events_add_up_to_the_in_order_growth(
            states in proptest::collection::vec(proptest::collection::vec(0u64..4, 3), 1..12),
            order in proptest::collection::vec(any::<proptest::sample::Index>(), 1..30),
            restarts in proptest::collection::vec(any::<bool>(), 30),
        ) {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("carts.journal");
            let skus = ["A", "B", "C"];
            let snapshots: Vec<CartSnapshot> = states.iter().enumerate().map(|(index, quantities)| {
                let pairs: Vec<(&str, u64)> = skus.iter().copied().zip(quantities.iter().copied()).filter(|(_, q)| *q > 0).collect();
                snapshot(index as i64, &pairs)
            }).collect();
            let mut store = CartStore::open(&path).expect("opens");
            let mut emitted: BTreeMap<(usize, String), u64> = BTreeMap::new();
            let mut applied_max: Option<usize> = None;
            let mut applied: Vec<usize> = Vec::new();
            for (step, pick) in order.iter().enumerate() {
                let index = pick.index(snapshots.len());
                let delivery = format!("d{index}");
                match store.step("shop", &snapshots[index], &delivery, "carts/update") {
                    CartStep::Advance { record, unconfirmed_before } => {
                        prop_assert!(applied_max.is_none_or(|max| index >= max));
                        if let Some(before) = unconfirmed_before {
                            let previous: usize = before.delivery[1..].parse().expect("index");
                            for item in before.grown { emitted.insert((previous, item.sku), item.quantity); }
                        }
                        for item in &record.grown {
                            let old = emitted.insert((index, item.sku.clone()), item.quantity);
                            prop_assert!(old.is_none_or(|old| old == item.quantity), "same id, other quantity");
                        }
                        store.record("shop", "cart-1", record).expect("journal");
                        store.committed("shop", "cart-1", &delivery, 0);
                        if applied_max != Some(index) { applied.push(index); }
                        applied_max = Some(index);
                    }
                    CartStep::Repeat(record) => {
                        for item in record.grown {
                            let old = emitted.insert((index, item.sku.clone()), item.quantity);
                            prop_assert!(old.is_none_or(|old| old == item.quantity), "a repeat changed its growth");
                        }
                    }
                    CartStep::Stale => prop_assert!(applied_max.is_some_and(|max| index < max)),
                }
                if restarts[step % restarts.len()] {
                    drop(store);
                    store = CartStore::open(&path).expect("reopens");
                }
            }
            // Oracle: positive differences along the applied states, from an empty cart.
            let mut expected: BTreeMap<(usize, String), u64> = BTreeMap::new();
            let mut before = [0u64; 3];
            for &index in &applied {
                for (position, sku) in skus.iter().enumerate() {
                    let now = states[index][position];
                    if now > before[position] {
                        expected.insert((index, (*sku).to_owned()), now - before[position]);
                    }
                    before[position] = now;
                }
            }
            prop_assert_eq!(emitted, expected);
        }
    }
}
