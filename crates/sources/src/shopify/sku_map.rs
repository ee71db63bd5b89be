//! Inventory item → SKU, learned from `products/create|update` (inventory levels name
//! only the item). Each new or changed pair is journalled (fdatasync) before the product
//! delivery is acknowledged, so a restart keeps what was learned; configured pairs
//! (`inventory_skus`) take precedence and are not stored here.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::journal::Journal;
use crate::error::SourceError;

#[derive(Serialize, Deserialize)]
struct Entry {
    shop: String,
    item: String,
    sku: String,
}

#[derive(Debug)]
pub struct SkuMap {
    skus: HashMap<(String, String), String>,
    journal: Journal,
}

impl SkuMap {
    pub fn open(path: &Path) -> Result<SkuMap, SourceError> {
        let mut skus = HashMap::new();
        let journal = Journal::open(path, |entry: Entry| {
            skus.insert((entry.shop, entry.item), entry.sku);
        })?;
        Ok(SkuMap { skus, journal })
    }

    pub fn get(&self, shop: &str, item: &str) -> Option<String> {
        self.skus.get(&(shop.to_owned(), item.to_owned())).cloned()
    }

    /// Records the pairs that are new or changed; durable when it returns.
    pub fn learn(&mut self, shop: &str, pairs: &[(String, String)]) -> Result<usize, SourceError> {
        let mut learned = 0;
        for (item, sku) in pairs {
            let key = (shop.to_owned(), item.clone());
            if self.skus.get(&key) == Some(sku) {
                continue;
            }
            let entry = Entry {
                shop: shop.to_owned(),
                item: item.clone(),
                sku: sku.clone(),
            };
            self.journal.append(&entry, false)?;
            self.skus.insert(key, sku.clone());
            learned += 1;
        }
        if learned > 0 {
            self.journal.sync()?;
        }
        Ok(learned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learned_pairs_survive_a_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("skus.journal");
        let mut map = SkuMap::open(&path).expect("opens");
        let pairs = vec![("11".to_owned(), "MUG-01".to_owned())];
        assert_eq!(map.learn("a.myshopify.com", &pairs).expect("learn"), 1);
        assert_eq!(
            map.learn("a.myshopify.com", &pairs).expect("learn"),
            0,
            "known"
        );
        drop(map);
        let map = SkuMap::open(&path).expect("reopens");
        assert_eq!(map.get("a.myshopify.com", "11").as_deref(), Some("MUG-01"));
        assert_eq!(map.get("b.myshopify.com", "11"), None, "per shop");
    }
}
