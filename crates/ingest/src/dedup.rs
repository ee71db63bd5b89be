//! Remembers event identities for the dedup horizon, within a memory bound.
//!
//! Keys are already uniform 128-bit hashes, so the map hashes them with the identity
//! function instead of SipHash. Each key carries the hour (of append time) it was first
//! seen; expiry drops whole hours, so memory is bounded both by the horizon and by
//! `max_keys` (when full, the oldest hour goes first: the horizon shrinks rather than
//! memory growing without limit, and a counter says so).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};

const MICROS_PER_HOUR: i64 = 3_600_000_000;
/// Room for a busy day without rehashing (a rehash of a large table stalls the writer);
/// about 32 MiB.
const INITIAL_CAPACITY: usize = 1 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key(u64, u64);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// Passes an already-random `u64` through as the hash.
#[derive(Default)]
struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ byte as u64;
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[derive(Debug)]
pub struct DedupIndex {
    first_seen_hour: HashMap<Key, u32, BuildHasherDefault<PassThroughHasher>>,
    keys_per_hour: BTreeMap<u32, u64>,
    horizon_hours: u32,
    max_keys: u64,
    evicted: u64,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{:016x}{:016x}", self.0, self.1)
    }
}

impl DedupIndex {
    pub fn new(horizon: std::time::Duration, max_keys: u64) -> DedupIndex {
        let horizon_hours = horizon.as_secs().div_ceil(3600).clamp(1, u32::MAX as u64) as u32;
        DedupIndex {
            first_seen_hour: HashMap::with_capacity_and_hasher(
                INITIAL_CAPACITY,
                Default::default(),
            ),
            keys_per_hour: BTreeMap::new(),
            horizon_hours,
            max_keys,
            evicted: 0,
        }
    }

    /// Records `key` as seen at `time_us`; returns `true` if it was already known (a
    /// duplicate), in which case nothing changes.
    pub fn check_and_insert(&mut self, key: u128, time_us: i64) -> bool {
        let key = Key((key >> 64) as u64, key as u64);
        let hour = hour_of(time_us);
        // One probe for both the check and the insert: the table is far larger than the
        // CPU caches, so each probe is a cache miss.
        match self.first_seen_hour.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => return true,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(hour);
            }
        }
        match self.keys_per_hour.last_entry() {
            Some(mut newest) if *newest.key() == hour => *newest.get_mut() += 1,
            _ => *self.keys_per_hour.entry(hour).or_default() += 1,
        }
        if self.first_seen_hour.len() as u64 > self.max_keys {
            self.evict_oldest_hour();
        }
        false
    }

    /// Forgets `key` again (used when the append it was inserted for failed).
    pub fn remove(&mut self, key: u128) {
        let key = Key((key >> 64) as u64, key as u64);
        if let Some(hour) = self.first_seen_hour.remove(&key)
            && let Some(count) = self.keys_per_hour.get_mut(&hour)
        {
            *count -= 1;
            if *count == 0 {
                self.keys_per_hour.remove(&hour);
            }
        }
    }

    /// Drops identities first seen before the horizon. Cheap when nothing expired: the
    /// map is only scanned when a whole hour falls out of the horizon.
    pub fn expire(&mut self, now_us: i64) {
        let oldest_kept = hour_of(now_us).saturating_sub(self.horizon_hours);
        let expired: Vec<u32> = self
            .keys_per_hour
            .range(..oldest_kept)
            .map(|(hour, _)| *hour)
            .collect();
        if expired.is_empty() {
            return;
        }
        for hour in &expired {
            self.keys_per_hour.remove(hour);
        }
        self.first_seen_hour.retain(|_, hour| *hour >= oldest_kept);
        self.first_seen_hour.shrink_to_fit();
    }

    fn evict_oldest_hour(&mut self) {
        let Some((&oldest, &count)) = self.keys_per_hour.iter().next() else {
            return;
        };
        tracing::warn!(
            hour_start = sightline_model::time::format_rfc3339(oldest as i64 * MICROS_PER_HOUR),
            keys = count,
            "dedup.max_keys reached: forgetting the oldest hour of identities early; raise dedup.max_keys to keep the full horizon"
        );
        self.keys_per_hour.remove(&oldest);
        self.first_seen_hour.retain(|_, hour| *hour != oldest);
        self.evicted += count;
    }

    /// The earliest append time whose identities must be reloaded at start-up.
    pub fn horizon_start(&self, now_us: i64) -> i64 {
        (hour_of(now_us).saturating_sub(self.horizon_hours)) as i64 * MICROS_PER_HOUR
    }

    pub fn len(&self) -> usize {
        self.first_seen_hour.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first_seen_hour.is_empty()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

fn hour_of(time_us: i64) -> u32 {
    time_us
        .div_euclid(MICROS_PER_HOUR)
        .clamp(0, u32::MAX as i64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const HOUR: i64 = MICROS_PER_HOUR;
    const NOW: i64 = 1_000_000 * HOUR;

    #[test]
    fn second_sighting_is_a_duplicate() {
        let mut index = DedupIndex::new(Duration::from_secs(7 * 86_400), 100);
        assert!(!index.check_and_insert(42, NOW));
        assert!(index.check_and_insert(42, NOW + HOUR));
        assert!(!index.check_and_insert(43, NOW));
        assert_eq!(index.len(), 2);
        index.remove(42);
        assert!(!index.check_and_insert(42, NOW));
    }

    #[test]
    fn identities_expire_after_the_horizon() {
        let mut index = DedupIndex::new(Duration::from_secs(4 * 3600), 100);
        index.check_and_insert(1, NOW);
        index.check_and_insert(2, NOW + 3 * HOUR);
        index.expire(NOW + 4 * HOUR);
        assert!(
            index.check_and_insert(1, NOW + 4 * HOUR),
            "still within 4 h"
        );
        index.expire(NOW + 5 * HOUR);
        assert!(
            !index.check_and_insert(1, NOW + 5 * HOUR),
            "forgotten after the horizon"
        );
        assert!(index.check_and_insert(2, NOW + 5 * HOUR));
    }

    #[test]
    fn memory_bound_forgets_the_oldest_hour_first() {
        let mut index = DedupIndex::new(Duration::from_secs(7 * 86_400), 3);
        index.check_and_insert(1, NOW);
        index.check_and_insert(2, NOW + HOUR);
        index.check_and_insert(3, NOW + HOUR);
        index.check_and_insert(4, NOW + 2 * HOUR);
        assert_eq!(index.len(), 3);
        assert_eq!(index.evicted(), 1);
        assert!(
            !index.check_and_insert(1, NOW + 2 * HOUR),
            "oldest hour was evicted"
        );
    }
}
