//! Boulder's WFE account cache (wfe2/cache.go): every kid-signed request reads the account
//! (key and status) through a read-through cache with a fixed TTL (dev config: 5 s, 9000
//! entries). Nothing invalidates an entry, so for up to one TTL after a key change the old key
//! still authenticates and the new one fails ("JWS verification error"), and after a
//! deactivation the account still places orders. Load testers meet exactly that window.

use std::time::{Duration, Instant};

use crate::model::Account;
use crate::shard::Sharded;
use crate::store::Store;

pub struct AccountCache {
    ttl: Duration,
    per_shard: usize,
    entries: Sharded<u64, (Account, Instant)>,
}

impl AccountCache {
    pub fn new(ttl: Duration, size: usize) -> AccountCache {
        let entries = Sharded::default();
        let per_shard = size.div_ceil(entries.shard_count()).max(1);
        AccountCache {
            ttl,
            per_shard,
            entries,
        }
    }

    /// The account as the WFE sees it: a snapshot at most `ttl` old.
    pub fn get(&self, id: u64, store: &Store) -> Option<Account> {
        if self.ttl.is_zero() {
            return store.account(id);
        }
        let now = Instant::now();
        if let Some((account, expires)) = self.entries.get(&id) {
            if expires > now {
                return Some(account);
            }
        }
        let account = store.account(id)?;
        let mut shard = self.entries.lock(&id);
        if shard.len() >= self.per_shard {
            shard.retain(|_, (_, expires)| *expires > now);
            if shard.len() >= self.per_shard {
                if let Some(victim) = shard.keys().next().copied() {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(id, (account.clone(), now + self.ttl));
        Some(account)
    }
}
