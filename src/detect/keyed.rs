//! Per-key detector state with a hard cap: when full, the least recently seen tenth is evicted
//! (and counted), oldest first, ties broken by key so eviction never depends on hash order.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::event::{Event, Millis, Origin, Pos, Str};

/// Hash map for hot per-event lookups: foldhash, seeded per process (iteration order is never
/// relied on; anything that leaves the engine is sorted first).
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The set counterpart of [`FastMap`].
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// State that knows when its key was last seen (event time).
pub trait LastSeen {
    fn last_seen(&self) -> Millis;
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Keyed<V> {
    map: hashbrown::HashMap<Str, V, foldhash::fast::RandomState>,
    max_keys: usize,
    evicted: u64,
}

impl<V: LastSeen> Keyed<V> {
    pub fn new(max_keys: usize) -> Keyed<V> {
        Keyed {
            map: hashbrown::HashMap::default(),
            max_keys: max_keys.max(1),
            evicted: 0,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    /// The state for `key`, created by `make` (evicting first when at the cap). The key is
    /// copied only when it is new.
    pub fn get_or_insert(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        if self.map.len() >= self.max_keys && !self.map.contains_key(key) {
            self.evict_oldest();
        }
        match self.map.raw_entry_mut().from_key(key) {
            hashbrown::hash_map::RawEntryMut::Occupied(e) => e.into_mut(),
            hashbrown::hash_map::RawEntryMut::Vacant(v) => v.insert(Str::from(key), make()).1,
        }
    }

    /// Drop every key for which `keep` is false (expired by event time; not counted as evictions).
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.map.retain(|_, v| keep(v));
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn evict_oldest(&mut self) {
        let n = (self.max_keys / 10).max(1).min(self.map.len());
        let mut ages: Vec<(Millis, Str)> = self
            .map
            .iter()
            .map(|(k, v)| (v.last_seen(), k.clone()))
            .collect();
        ages.sort_unstable();
        for (_, k) in ages.into_iter().take(n) {
            self.map.remove(k.as_str());
        }
        self.evicted += n as u64;
    }
}

/// A queue entry's place: deadline, then the event's total order (time, input position, origin;
/// see [`Event::order`]), then arrival.
type Due = (Millis, Millis, Pos, Origin, u64);

/// Events waiting for a decision until the watermark passes their deadline, earliest deadline
/// (then the events' total order, then arrival) first, with a hard cap: when full, the earliest
/// is dropped and counted.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DeadlineQueue {
    #[serde(with = "pairs")]
    map: BTreeMap<Due, (Str, Arc<Event>)>,
    cap: usize,
    seq: u64,
    evicted: u64,
}

impl DeadlineQueue {
    pub fn new(cap: usize) -> DeadlineQueue {
        DeadlineQueue {
            map: BTreeMap::new(),
            cap: cap.max(1),
            seq: 0,
            evicted: 0,
        }
    }

    pub fn push(&mut self, deadline: Millis, key: Str, ev: Arc<Event>) {
        if self.map.len() >= self.cap {
            self.map.pop_first();
            self.evicted += 1;
        }
        self.seq += 1;
        let due = (deadline, ev.time, ev.pos, ev.origin.clone(), self.seq);
        self.map.insert(due, (key, ev));
    }

    /// The next entry whose deadline the watermark `wm` has reached.
    pub fn pop_due(&mut self, wm: Millis) -> Option<(Str, Arc<Event>)> {
        let entry = self.map.first_entry()?;
        (entry.key().0 <= wm).then(|| entry.remove())
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct S(Millis);
    impl LastSeen for S {
        fn last_seen(&self) -> Millis {
            self.0
        }
    }

    #[test]
    fn cap_evicts_least_recently_seen_and_counts() {
        let mut k: Keyed<S> = Keyed::new(3);
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            k.get_or_insert(name, || S(i as Millis));
        }
        k.get_mut("a").unwrap().0 = 10;
        k.get_or_insert("d", || S(11));
        assert_eq!(k.len(), 3);
        assert_eq!(k.evicted(), 1);
        assert!(k.get("b").is_none(), "b was the least recently seen");
        assert!(k.get("a").is_some());
        k.retain(|s| s.0 > 10);
        assert_eq!(k.len(), 1);
        assert_eq!(k.evicted(), 1, "expiry is not eviction");
    }
}

/// Serde for maps whose keys are not strings (tuples), which JSON objects cannot hold: written as
/// a list of `[key, value]` pairs.
pub mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<'a, M, K, V, S>(map: &'a M, s: S) -> Result<S::Ok, S::Error>
    where
        &'a M: IntoIterator<Item = (&'a K, &'a V)>,
        K: Serialize + 'a,
        V: Serialize + 'a,
        S: Serializer,
    {
        s.collect_seq(map)
    }

    pub fn deserialize<'de, M, K, V, D>(d: D) -> Result<M, D::Error>
    where
        M: FromIterator<(K, V)>,
        K: Deserialize<'de>,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
