//! A map split into independently locked shards, so concurrent requests for different objects
//! never wait on one global lock (the CA must keep up with clients doing >1000 issuances/s).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 64;

pub struct Sharded<K, V> {
    shards: Box<[Mutex<HashMap<K, V>>]>,
    hasher: RandomState,
}

impl<K: Hash + Eq, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    /// The shard holding `key`, locked. A poisoned lock is taken over: every update below is a
    /// single map operation, so a panic elsewhere cannot leave a shard half-written.
    pub fn lock(&self, key: &K) -> MutexGuard<'_, HashMap<K, V>> {
        let index = (self.hasher.hash_one(key) as usize) % self.shards.len();
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn insert(&self, key: K, value: V) -> Option<V> {
        self.lock(&key).insert(key, value)
    }

    pub fn remove(&self, key: &K) -> Option<V> {
        self.lock(key).remove(key)
    }

    pub fn contains(&self, key: &K) -> bool {
        self.lock(key).contains_key(key)
    }

    /// Runs `f` on the value under its shard's lock.
    pub fn update<R>(&self, key: &K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        self.lock(key).get_mut(key).map(f)
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }
}

impl<K: Hash + Eq, V: Clone> Sharded<K, V> {
    pub fn get(&self, key: &K) -> Option<V> {
        self.lock(key).get(key).cloned()
    }
}
