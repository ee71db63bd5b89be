//! Remembers event identities for the dedup horizon, within a memory bound.
//!
//! The table is open addressing with linear probing over the keys alone (16 bytes a slot,
//! four to a cache line), with the minute each key was first seen in a parallel array that
//! is read only on a match. Keys are already uniform 128-bit hashes, so the home slot is
//! their high bits.
//!
//! Forgetting is lazy: expiry and the memory bound only move `oldest_live_bucket`
//! forward, which turns every key first seen before it into a stale slot at once (no
//! scan); stale slots are dropped when the table is rebuilt, which happens when live and
//! stale slots together fill it. When full, the oldest minute goes first: the horizon
//! shrinks rather than memory growing without limit, and a counter says so.
//!
//! The table is far larger than the CPU caches, so each probe is a cache miss; callers
//! with many keys at once [`DedupIndex::warm`] their slots first, so the misses overlap.

use std::collections::BTreeMap;

/// Identities are bucketed by the minute they were first seen: expiry and the memory
/// bound drop whole buckets, so a bucket must be small next to `max_keys`.
const MICROS_PER_BUCKET: i64 = 60_000_000;
/// Room for a busy day without a rebuild (a rebuild of a large table stalls the writer):
/// 2^21 slots, 40 MiB, hold 1.47 M keys.
const INITIAL_SLOTS: usize = 1 << 21;
/// The table is rebuilt when this share of its slots is used (live or stale): linear
/// probing stays short below it (about two cache lines for a new key), and 10 M keys
/// fit in 2^24 slots (320 MiB).
const MAX_LOAD_PERCENT: usize = 70;
/// A free slot's key. A real key of 0 is stored as 1 (see `stored_form`).
const FREE: u128 = 0;

#[derive(Debug)]
pub struct DedupIndex {
    keys: Vec<u128>,
    /// The minute each slot's key was first seen; meaningful only where the key is not FREE.
    first_seen_bucket: Vec<u32>,
    /// Slots holding a key, live or stale.
    used_slots: usize,
    /// Keys first seen in a bucket before this one are forgotten.
    oldest_live_bucket: u32,
    /// Live keys per bucket, for expiry and the memory bound.
    keys_per_bucket: BTreeMap<u32, u64>,
    live_keys: u64,
    horizon_buckets: u32,
    max_keys: u64,
    evicted: u64,
    /// The table never shrinks below this many slots.
    min_slots: usize,
}

impl DedupIndex {
    pub fn new(horizon: std::time::Duration, max_keys: u64) -> DedupIndex {
        DedupIndex::with_min_slots(horizon, max_keys, INITIAL_SLOTS)
    }

    fn with_min_slots(horizon: std::time::Duration, max_keys: u64, min_slots: usize) -> DedupIndex {
        let horizon_buckets = horizon.as_secs().div_ceil(60).clamp(1, u32::MAX as u64) as u32;
        let min_slots = min_slots.next_power_of_two();
        DedupIndex {
            keys: vec![FREE; min_slots],
            first_seen_bucket: vec![0; min_slots],
            used_slots: 0,
            oldest_live_bucket: 0,
            keys_per_bucket: BTreeMap::new(),
            live_keys: 0,
            horizon_buckets,
            max_keys,
            evicted: 0,
            min_slots,
        }
    }

    /// Makes room for `keys` more keys at once, so that loading them costs no rebuilds
    /// on the way (each copies the table, and the old and new tables are held at once).
    pub fn reserve(&mut self, keys: u64) {
        // More keys than the bound are never kept.
        let keys = keys.min(self.max_keys);
        let wanted = (self.live_keys.saturating_add(keys) as usize)
            .saturating_mul(100)
            .div_ceil(MAX_LOAD_PERCENT)
            .next_power_of_two();
        if wanted > self.keys.len() {
            self.resize(wanted);
        }
    }

    /// Touches the home slots of `keys`, so that the probes of a following
    /// [`DedupIndex::check_and_insert`] for them find their cache lines loaded. The loads
    /// are independent, so the CPU overlaps their misses instead of taking them one by one.
    pub fn warm(&self, keys: impl IntoIterator<Item = u128>) {
        let mut folded = 0u128;
        for key in keys {
            folded ^= self.keys[self.home_slot(stored_form(key))];
        }
        std::hint::black_box(folded);
    }

    /// Records `key` as seen at `time_us`; returns `true` if it was already known (a
    /// duplicate), in which case nothing changes.
    pub fn check_and_insert(&mut self, key: u128, time_us: i64) -> bool {
        let key = stored_form(key);
        // A key first seen "before" the oldest live minute (a reload of old records, a
        // clock step back) is kept as seen in that minute rather than stale at once.
        let bucket = bucket_of(time_us).max(self.oldest_live_bucket);
        let mask = self.keys.len() - 1;
        let mut slot = self.home_slot(key);
        loop {
            let found = self.keys[slot];
            if found == FREE {
                break;
            }
            if found == key {
                if self.first_seen_bucket[slot] >= self.oldest_live_bucket {
                    return true;
                }
                // Forgotten (stale): it counts as new, first seen now, in the same slot.
                self.first_seen_bucket[slot] = bucket;
                self.count_new_key(bucket);
                return false;
            }
            slot = (slot + 1) & mask;
        }
        self.keys[slot] = key;
        self.first_seen_bucket[slot] = bucket;
        self.used_slots += 1;
        self.count_new_key(bucket);
        if self.used_slots * 100 > self.keys.len() * MAX_LOAD_PERCENT {
            self.rebuild();
        }
        false
    }

    fn count_new_key(&mut self, bucket: u32) {
        match self.keys_per_bucket.last_entry() {
            Some(mut newest) if *newest.key() == bucket => *newest.get_mut() += 1,
            _ => *self.keys_per_bucket.entry(bucket).or_default() += 1,
        }
        self.live_keys += 1;
        if self.live_keys > self.max_keys {
            self.evict_oldest_bucket();
        }
    }

    fn home_slot(&self, stored_key: u128) -> usize {
        ((stored_key >> 64) as usize) & (self.keys.len() - 1)
    }

    /// Copies the live keys into a table sized so that they fill at most half of it.
    fn rebuild(&mut self) {
        let slots = (self.live_keys as usize)
            .saturating_mul(2)
            .next_power_of_two()
            .max(self.min_slots);
        self.resize(slots);
    }

    /// Copies the live keys (stale ones are dropped) into a table of `slots` slots.
    fn resize(&mut self, slots: usize) {
        let old_keys = std::mem::replace(&mut self.keys, vec![FREE; slots]);
        let old_buckets = std::mem::replace(&mut self.first_seen_bucket, vec![0; slots]);
        self.used_slots = 0;
        let mask = slots - 1;
        for (key, bucket) in old_keys.into_iter().zip(old_buckets) {
            if key == FREE || bucket < self.oldest_live_bucket {
                continue;
            }
            let mut slot = self.home_slot(key);
            while self.keys[slot] != FREE {
                slot = (slot + 1) & mask;
            }
            self.keys[slot] = key;
            self.first_seen_bucket[slot] = bucket;
            self.used_slots += 1;
        }
    }

    /// Forgets identities first seen before the horizon. Cheap: whole minutes become
    /// stale at once; their slots are reclaimed by the next rebuild.
    pub fn expire(&mut self, now_us: i64) {
        let oldest_kept = bucket_of(now_us).saturating_sub(self.horizon_buckets);
        while let Some(entry) = self.keys_per_bucket.first_entry() {
            if *entry.key() >= oldest_kept {
                break;
            }
            self.live_keys -= entry.remove();
        }
        self.oldest_live_bucket = self.oldest_live_bucket.max(oldest_kept);
        // Mostly stale: reclaim the memory (a table sized for a past peak would stay).
        if self.keys.len() > self.min_slots && self.live_keys as usize * 8 < self.keys.len() {
            self.rebuild();
        }
    }

    fn evict_oldest_bucket(&mut self) {
        // Never the bucket being filled: that would forget the identities of this very
        // minute, and a retry of them would be stored twice. The bound may then be passed
        // by one minute's identities.
        if self.keys_per_bucket.len() < 2 {
            return;
        }
        let Some((oldest, count)) = self.keys_per_bucket.pop_first() else {
            return;
        };
        tracing::warn!(
            minute_start = sightline_model::time::format_rfc3339(oldest as i64 * MICROS_PER_BUCKET),
            keys = count,
            "dedup.max_keys reached: forgetting the oldest minute of identities early; raise dedup.max_keys to keep the full horizon"
        );
        self.live_keys -= count;
        self.evicted += count;
        self.oldest_live_bucket = self.oldest_live_bucket.max(oldest + 1);
    }

    /// The earliest append time whose identities must be reloaded at start-up.
    pub fn horizon_start(&self, now_us: i64) -> i64 {
        (bucket_of(now_us).saturating_sub(self.horizon_buckets)) as i64 * MICROS_PER_BUCKET
    }

    pub fn len(&self) -> usize {
        self.live_keys as usize
    }

    pub fn is_empty(&self) -> bool {
        self.live_keys == 0
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// The form a key is stored in: FREE marks an empty slot, so a key of 0 (one chance in
/// 2^128) is stored as 1, and the two would count as the same identity.
fn stored_form(key: u128) -> u128 {
    if key == FREE { 1 } else { key }
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
        for key in 1..=1500 {
            index.check_and_insert(key, NOW);
        }
        assert_eq!(index.len(), 1500, "one minute's identities all stay");
        assert_eq!(index.evicted(), 0);
        for key in 1..=1500 {
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

    #[test]
    fn reserving_room_keeps_every_key_and_spares_the_rebuilds() {
        let mut index = DedupIndex::with_min_slots(Duration::from_secs(7 * 86_400), 1_000_000, 8);
        assert!(!index.check_and_insert(7, NOW));
        index.reserve(1000);
        let slots = index.keys.len();
        assert!(slots * MAX_LOAD_PERCENT / 100 >= 1001, "{slots} slots");
        for key in 100..1099 {
            assert!(!index.check_and_insert(key, NOW));
        }
        assert_eq!(
            index.keys.len(),
            slots,
            "no rebuild while loading what was reserved"
        );
        assert!(index.check_and_insert(7, NOW), "kept across the resize");
        assert_eq!(index.len(), 1000);
    }

    /// What the index must answer, kept the plain way: every key with the minute it was
    /// first seen, forgotten by scanning.
    struct Reference {
        first_seen: std::collections::HashMap<u128, u32>,
        oldest_live: u32,
        horizon_buckets: u32,
        max_keys: usize,
    }

    impl Reference {
        fn check_and_insert(&mut self, key: u128, time_us: i64) -> bool {
            let key = stored_form(key);
            let oldest_live = self.oldest_live;
            if self
                .first_seen
                .get(&key)
                .is_some_and(|bucket| *bucket >= oldest_live)
            {
                return true;
            }
            self.first_seen
                .insert(key, bucket_of(time_us).max(oldest_live));
            if self.live_buckets().len() > 1 && self.live_count() > self.max_keys {
                self.oldest_live = self.live_buckets()[0] + 1;
            }
            false
        }

        fn expire(&mut self, now_us: i64) {
            let oldest_kept = bucket_of(now_us).saturating_sub(self.horizon_buckets);
            self.oldest_live = self.oldest_live.max(oldest_kept);
        }

        fn live_buckets(&self) -> Vec<u32> {
            let mut buckets: Vec<u32> = self
                .first_seen
                .values()
                .copied()
                .filter(|bucket| *bucket >= self.oldest_live)
                .collect();
            buckets.sort_unstable();
            buckets.dedup();
            buckets
        }

        fn live_count(&self) -> usize {
            self.first_seen
                .values()
                .filter(|bucket| **bucket >= self.oldest_live)
                .count()
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert { key: u128, minute: i64 },
        Expire { minute: i64 },
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        // Keys share few home slots (small high halves) so that probe chains run long
        // and wrap around the end of a small table; key 0 is among them.
        let key = (0u128..6, 0u128..40).prop_map(|(high, low)| (high << 64) | low);
        prop_oneof![
            8 => (key, 0i64..30).prop_map(|(key, minute)| Step::Insert { key, minute }),
            1 => (0i64..40).prop_map(|minute| Step::Expire { minute }),
        ]
    }

    proptest::proptest! {
        #[test]
        fn answers_as_the_reference(
            steps in proptest::collection::vec(step(), 1..400),
            horizon_minutes in 1u64..20,
            max_keys in 1u64..60,
        ) {
            let horizon = Duration::from_secs(horizon_minutes * 60);
            let mut index = DedupIndex::with_min_slots(horizon, max_keys, 8);
            let mut reference = Reference {
                first_seen: std::collections::HashMap::new(),
                oldest_live: 0,
                horizon_buckets: horizon_minutes as u32,
                max_keys: max_keys as usize,
            };
            let minute = |count: i64| NOW + count * MICROS_PER_BUCKET;
            for step in steps {
                match step {
                    Step::Insert { key, minute: at } => {
                        let expected = reference.check_and_insert(key, minute(at));
                        proptest::prop_assert_eq!(
                            index.check_and_insert(key, minute(at)),
                            expected,
                            "key {:x} at minute {}", key, at
                        );
                    }
                    Step::Expire { minute: at } => {
                        index.expire(minute(at));
                        reference.expire(minute(at));
                    }
                }
                proptest::prop_assert_eq!(index.len(), reference.live_count());
                proptest::prop_assert!(index.used_slots * 100 <= index.keys.len() * MAX_LOAD_PERCENT);
            }
        }
    }
}
