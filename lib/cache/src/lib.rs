//! Bounded caches for Pequod's hosts: every cache holds at most so many entries and so many bytes, drops the
//! least recently used entry first, and counts hits, misses and evictions for the operator's metrics.
//!
//! - [`Lru`] keeps values in memory (wrap it in a `Mutex` to share it), each with the size its owner gives it.
//! - [`DiskLru`] keeps files in one directory, opened with cap-std so nothing outside it can be touched; files
//!   already there when it opens are kept, the least recently modified evicted first.
//!
//! The ordering itself is the `lru` crate's; this crate adds the byte bound, the counters and the files.

mod disk;

use std::hash::Hash;
use std::num::NonZeroUsize;

pub use crate::disk::DiskLru;

/// How much a cache may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The most entries.
    pub max_entries: NonZeroUsize,
    /// The most bytes, counted as each entry's owner sized it.
    pub max_bytes: u64,
}

impl Bounds {
    /// At most `max_entries` entries (at least one) and `max_bytes` bytes.
    pub const fn new(max_entries: usize, max_bytes: u64) -> Self {
        let max_entries = match NonZeroUsize::new(max_entries) {
            Some(entries) => entries,
            None => NonZeroUsize::MIN,
        };
        Self { max_entries, max_bytes }
    }

    /// At most `max_bytes` bytes, in any number of entries.
    pub const fn bytes(max_bytes: u64) -> Self {
        Self::new(usize::MAX, max_bytes)
    }
}

/// The counters of a cache, e.g. for metrics. Hits, misses and evictions count since the cache was made;
/// entries and bytes are what it holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups the cache answered.
    pub hits: u64,
    /// Lookups it could not answer.
    pub misses: u64,
    /// Entries dropped to stay within the bounds.
    pub evictions: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes held now.
    pub bytes: u64,
}

struct Sized<V> {
    value: V,
    bytes: u64,
}

/// A least-recently-used map with an entry and a byte bound.
pub struct Lru<K: Hash + Eq, V> {
    items: lru::LruCache<K, Sized<V>>,
    bounds: Bounds,
    bytes: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
}

impl<K: Hash + Eq, V> std::fmt::Debug for Lru<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lru").field("bounds", &self.bounds).field("stats", &self.stats()).finish()
    }
}

impl<K: Hash + Eq, V> Lru<K, V> {
    /// An empty cache within `bounds`.
    pub fn new(bounds: Bounds) -> Self {
        Self { items: lru::LruCache::unbounded(), bounds, bytes: 0, hits: 0, misses: 0, evictions: 0 }
    }

    /// The bounds.
    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// The value of `key`, now the most recently used; counted as a hit or a miss.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        self.get_if(key, |_| true)
    }

    /// The value of `key` when `usable` accepts it (then it is the most recently used and counts as a hit);
    /// otherwise `None`, counted as a miss.
    pub fn get_if(&mut self, key: &K, usable: impl FnOnce(&V) -> bool) -> Option<&V> {
        let found = self.items.peek(key).is_some_and(|item| usable(&item.value));
        if found {
            self.hits += 1;
            self.items.get(key).map(|item| &item.value)
        } else {
            self.misses += 1;
            None
        }
    }

    /// The value of `key`, without counting or reordering.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.items.peek(key).map(|item| &item.value)
    }

    /// Whether `key` is held (not counted, not reordered).
    pub fn contains(&self, key: &K) -> bool {
        self.items.contains(key)
    }

    /// Keeps `value` (of `bytes` bytes) under `key` as the most recently used, replacing any value there, and
    /// returns what was dropped to stay within the bounds, least recently used first, each counted as an
    /// eviction. A value larger than the whole byte bound is not kept: it comes straight back.
    pub fn insert(&mut self, key: K, value: V, bytes: u64) -> Vec<(K, V)> {
        if let Some(old) = self.items.pop(&key) {
            self.bytes -= old.bytes;
        }
        if bytes > self.bounds.max_bytes {
            self.evictions += 1;
            return vec![(key, value)];
        }
        self.bytes += bytes;
        self.items.push(key, Sized { value, bytes });
        self.evict()
    }

    /// Forgets `key` (not counted as an eviction) and returns its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let item = self.items.pop(key)?;
        self.bytes -= item.bytes;
        Some(item.value)
    }

    /// Forgets every entry `keep` refuses (not counted as evictions).
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut dropped = 0;
        self.items.retain(|key, item| {
            let kept = keep(key, &item.value);
            if !kept {
                dropped += item.bytes;
            }
            kept
        });
        self.bytes -= dropped;
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits,
            misses: self.misses,
            evictions: self.evictions,
            entries: self.items.len() as u64,
            bytes: self.bytes,
        }
    }

    /// Counts a lookup answered outside [`Self::get`] (by a file the index did not know, say).
    fn record(&mut self, hit: bool) {
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
    }

    fn evict(&mut self) -> Vec<(K, V)> {
        let mut evicted = Vec::new();
        while self.items.len() > self.bounds.max_entries.get() || self.bytes > self.bounds.max_bytes {
            let Some((key, item)) = self.items.pop_lru() else { break };
            self.bytes -= item.bytes;
            self.evictions += 1;
            evicted.push((key, item.value));
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_entry_goes_first_and_is_counted() {
        let mut cache = Lru::new(Bounds::new(10, 250));
        assert!(cache.insert("a", 1, 100).is_empty());
        assert!(cache.insert("b", 2, 100).is_empty());
        assert_eq!(cache.get(&"a"), Some(&1)); // a is now more recent than b
        assert_eq!(cache.insert("c", 3, 100), vec![("b", 2)]); // 300 > 250: b goes
        assert_eq!(cache.get(&"b"), None);
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 1, evictions: 1, entries: 2, bytes: 200 });
    }

    #[test]
    fn the_entry_bound_holds_too() {
        let mut cache = Lru::new(Bounds::new(2, u64::MAX));
        cache.insert(1, "one", 0);
        cache.insert(2, "two", 0);
        assert_eq!(cache.peek(&1), Some(&"one")); // peeking does not make 1 recent
        assert_eq!(cache.insert(3, "three", 0), vec![(1, "one")]);
        assert_eq!(cache.stats().evictions, 1);
        assert_eq!(cache.stats().hits + cache.stats().misses, 0);
    }

    #[test]
    fn replacing_an_entry_recounts_its_bytes_and_oversized_values_come_back() {
        let mut cache = Lru::new(Bounds::bytes(100));
        cache.insert("a", 'x', 60);
        cache.insert("a", 'y', 10);
        assert_eq!(cache.stats().bytes, 10);
        assert_eq!(cache.insert("huge", 'z', 101), vec![("huge", 'z')]);
        assert_eq!(cache.peek(&"a"), Some(&'y'));
        assert_eq!(cache.remove(&"a"), Some('y'));
        assert_eq!(cache.stats().bytes, 0);
    }

    #[test]
    fn get_if_counts_a_refused_value_as_a_miss() {
        let mut cache = Lru::new(Bounds::new(4, 100));
        cache.insert("a", "fingerprint-1", 1);
        assert_eq!(cache.get_if(&"a", |value| *value == "fingerprint-2"), None);
        assert_eq!(cache.get_if(&"a", |value| *value == "fingerprint-1"), Some(&"fingerprint-1"));
        assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));
        cache.retain(|_, value| *value != "fingerprint-1");
        assert_eq!(cache.stats().entries, 0);
        assert_eq!(cache.stats().bytes, 0);
        assert_eq!(cache.stats().evictions, 0);
    }
}
