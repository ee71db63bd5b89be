//! Remembers event identities for the dedup horizon, within a memory bound.
//!
//! Keys are already uniform 128-bit hashes, so the map hashes them with the identity
//! function instead of SipHash. Each key carries the hour (of append time) it was first
//! seen; expiry drops whole hours, so memory is bounded both by the horizon and by
//! `max_keys` (when full, the oldest hour goes first: the horizon shrinks rather than
//! memory growing without limit, and a counter says so).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// Identities are bucketed by the minute they were first seen: expiry and the memory
/// bound drop whole buckets, so a bucket must be small next to `max_keys`.
const MICROS_PER_BUCKET: i64 = 60_000_000;
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
    first_seen_bucket: HashMap<Key, u32, BuildHasherDefault<PassThroughHasher>>,
    keys_per_bucket: BTreeMap<u32, u64>,
    horizon_buckets: u32,
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
        let horizon_buckets = horizon.as_secs().div_ceil(60).clamp(1, u32::MAX as u64) as u32;
        DedupIndex {
            first_seen_bucket: HashMap::with_capacity_and_hasher(
                INITIAL_CAPACITY,
                Default::default(),
            ),
            keys_per_bucket: BTreeMap::new(),
            horizon_buckets,
            max_keys,
            evicted: 0,
        }
    }

    /// Records `key` as seen at `time_us`; returns `true` if it was already known (a
    /// duplicate), in which case nothing changes.
    pub fn check_and_insert(&mut self, key: u128, time_us: i64) -> bool {
        let key = Key((key >> 64) as u64, key as u64);
        let hour = bucket_of(time_us);
        // One probe for both the check and the insert: the table is far larger than the
        // CPU caches, so each probe is a cache miss.
        match self.first_seen_bucket.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => return true,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(hour);
            }
        }
        match self.keys_per_bucket.last_entry() {
            Some(mut newest) if *newest.key() == hour => *newest.get_mut() += 1,
            _ => *self.keys_per_bucket.entry(hour).or_default() += 1,
        }
        if self.first_seen_bucket.len() as u64 > self.max_keys {
            self.evict_oldest_bucket();
        }
        false
    }

    /// Drops identities first seen before the horizon. Cheap when nothing expired: the
    /// map is only scanned when a whole hour falls out of the horizon.
    pub fn expire(&mut self, now_us: i64) {
        let oldest_kept = bucket_of(now_us).saturating_sub(self.horizon_buckets);
        let expired: Vec<u32> = self
            .keys_per_bucket
            .range(..oldest_kept)
            .map(|(hour, _)| *hour)
            .collect();
        if expired.is_empty() {
            return;
        }
        for hour in &expired {
            self.keys_per_bucket.remove(hour);
        }
        self.first_seen_bucket
            .retain(|_, hour| *hour >= oldest_kept);
        self.first_seen_bucket.shrink_to_fit();
    }

    fn evict_oldest_bucket(&mut self) {
        // Never the bucket being filled: that would forget the identities of this very
        // minute, and a retry of them would be stored twice. The bound may then be passed
        // by one minute's identities.
        if self.keys_per_bucket.len() < 2 {
            return;
        }
        let Some((&oldest, &count)) = self.keys_per_bucket.iter().next() else {
            return;
        };
        tracing::warn!(
            minute_start = sightline_model::time::format_rfc3339(oldest as i64 * MICROS_PER_BUCKET),
            keys = count,
            "dedup.max_keys reached: forgetting the oldest minute of identities early; raise dedup.max_keys to keep the full horizon"
        );
        self.keys_per_bucket.remove(&oldest);
        self.first_seen_bucket.retain(|_, hour| *hour != oldest);
        self.evicted += count;
    }

    /// The earliest append time whose identities must be reloaded at start-up.
    pub fn horizon_start(&self, now_us: i64) -> i64 {
        (bucket_of(now_us).saturating_sub(self.horizon_buckets)) as i64 * MICROS_PER_BUCKET
    }

    pub fn len(&self) -> usize {
        self.first_seen_bucket.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first_seen_bucket.is_empty()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

fn bucket_of(time_us: i64) -> u32 {
    time_us
        .div_euclid(MICROS_PER_BUCKET)
        .clamp(0, u32::MAX as i64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const HOUR: i64 = 3_600_000_000;
    const NOW: i64 = 1_000_000 * HOUR;

    #[test]
    fn second_sighting_is_a_duplicate() {
        let mut index = DedupIndex::new(Duration::from_secs(7 * 86_400), 100);
        assert!(!index.check_and_insert(42, NOW));
        assert!(index.check_and_insert(42, NOW + HOUR));
        assert!(!index.check_and_insert(43, NOW));
        assert_eq!(index.len(), 2);
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
    fn memory_bound_never_forgets_the_minute_being_filled() {
        let mut index = DedupIndex::new(Duration::from_secs(7 * 86_400), 1000);
        for key in 0..1500 {
            index.check_and_insert(key, NOW);
        }
        assert_eq!(index.len(), 1500, "one minute's identities all stay");
        assert_eq!(index.evicted(), 0);
        for key in 0..1500 {
            assert!(
                index.check_and_insert(key, NOW),
                "{key} is still a duplicate"
            );
        }
    }

    #[test]
    fn memory_bound_forgets_the_oldest_bucket_first() {
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
