//! Certificate keys made ahead of time, so a chain measures the CA and not RSA key generation
//! (tens of milliseconds per 2048-bit key). By default they are reused in turn, which ACME
//! allows; a key that signed a revocation (Boulder then treats it as compromised, blocks it and
//! revokes every certificate carrying it) or was revoked for `keyCompromise` leaves the rotation
//! and is replaced in the background. With `chains.keys.reuse = false` every certificate gets a
//! key of its own instead, each taken key replaced in the background.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};

use crate::acme::KeyType;
use crate::config::Keys;

type Sets = HashMap<KeyType, Vec<PKey<Private>>>;

/// Keys per certificate key type, shared by every attacker thread.
#[derive(Default)]
pub struct KeyStock {
    sets: Arc<Mutex<Sets>>,
    turn: AtomicUsize,
}

impl KeyStock {
    pub fn new() -> Self {
        KeyStock::default()
    }

    fn lock(&self) -> MutexGuard<'_, Sets> {
        lock(&self.sets)
    }

    /// Makes `size` keys of each of `types` not stocked yet, on every core.
    pub fn prepare(&self, types: &[KeyType], size: usize) -> Result<(), ErrorStack> {
        for &kind in types {
            if self.lock().contains_key(&kind) {
                continue;
            }
            let started = Instant::now();
            let keys = generate(kind, size)?;
            log::info!(
                "{} {} certificate keys made in {:.1?}",
                keys.len(),
                kind.name(),
                started.elapsed()
            );
            self.lock().entry(kind).or_insert(keys);
        }
        Ok(())
    }

    /// A key of `kind`: the stocked ones in turn, or with `reuse = false` one taken out of the
    /// stock (and replaced in the background). A type not prepared (a reload brought it) is
    /// prepared now, once; an empty set (retirements, or takings faster than replacements) gets
    /// one key made here.
    pub fn key(&self, kind: KeyType, cfg: &Keys) -> Result<PKey<Private>, ErrorStack> {
        if !self.lock().contains_key(&kind) {
            log::warn!(
                "no {} certificate keys were made at start: making {} now",
                kind.name(),
                cfg.pool_size
            );
            self.prepare(&[kind], cfg.pool_size)?;
        }
        let stocked = {
            let mut sets = self.lock();
            let keys = sets.entry(kind).or_default();
            match (keys.is_empty(), cfg.reuse) {
                (true, _) => None,
                (false, true) => {
                    let turn = self.turn.fetch_add(1, Ordering::Relaxed);
                    Some(keys[turn % keys.len()].clone())
                }
                (false, false) => keys.pop(),
            }
        };
        match stocked {
            Some(key) => {
                if !cfg.reuse {
                    self.replace(kind);
                }
                Ok(key)
            }
            None => kind.generate(),
        }
    }

    /// Makes one key of `kind` on a background thread and adds it to the stock.
    fn replace(&self, kind: KeyType) {
        let sets = self.sets.clone();
        std::thread::spawn(move || match kind.generate() {
            Ok(fresh) => lock(&sets).entry(kind).or_default().push(fresh),
            Err(e) => log::warn!("making a {} certificate key: {e}", kind.name()),
        });
    }

    /// Takes `key` out of the rotation and makes a replacement on a background thread.
    pub fn retire(&self, key: &PKey<Private>) {
        let found = self.lock().iter_mut().find_map(|(kind, keys)| {
            let at = keys.iter().position(|k| k.public_eq(key))?;
            keys.swap_remove(at);
            Some(*kind)
        });
        if let Some(kind) = found {
            self.replace(kind);
        }
    }

    /// Whether `key` is in the rotation.
    pub fn holds(&self, key: &PKey<Private>) -> bool {
        self.lock()
            .values()
            .any(|keys| keys.iter().any(|k| k.public_eq(key)))
    }

    /// Keys stocked of `kind`.
    pub fn len(&self, kind: KeyType) -> usize {
        self.lock().get(&kind).map_or(0, Vec::len)
    }
}

fn lock(sets: &Mutex<Sets>) -> MutexGuard<'_, Sets> {
    // Nothing panics while holding the lock; a poisoned one still holds consistent data.
    sets.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `size` keys of `kind`, generated on as many threads as there are cores.
fn generate(kind: KeyType, size: usize) -> Result<Vec<PKey<Private>>, ErrorStack> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, size.max(1));
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let share = size / threads + usize::from(i < size % threads);
                scope.spawn(move || {
                    (0..share)
                        .map(|_| kind.generate())
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut keys = Vec::with_capacity(size);
        for worker in workers {
            keys.extend(worker.join().expect("key generation does not panic")?);
        }
        Ok(keys)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn reuse(pool_size: usize) -> Keys {
        Keys {
            pool_size,
            reuse: true,
        }
    }

    fn wait_for(stock: &KeyStock, kind: KeyType, len: usize) {
        let started = Instant::now();
        while stock.len(kind) < len {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no replacement"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn keys_come_in_turn_from_the_stock() {
        let stock = KeyStock::new();
        stock.prepare(&[KeyType::P256, KeyType::P384], 3).unwrap();
        assert_eq!(stock.len(KeyType::P256), 3);
        let keys: Vec<PKey<Private>> = (0..6)
            .map(|_| stock.key(KeyType::P256, &reuse(3)).unwrap())
            .collect();
        let distinct = |ks: &[PKey<Private>]| {
            ks.iter()
                .enumerate()
                .all(|(i, a)| ks[..i].iter().all(|b| !a.public_eq(b)))
        };
        assert!(distinct(&keys[..3]), "three stocked keys in turn");
        for i in 0..3 {
            assert!(keys[i].public_eq(&keys[i + 3]), "then the same again");
        }
        assert_eq!(stock.key(KeyType::P384, &reuse(3)).unwrap().bits(), 384);
    }

    #[test]
    fn a_type_not_prepared_is_made_on_first_use() {
        let stock = KeyStock::new();
        assert_eq!(stock.len(KeyType::P384), 0);
        stock.key(KeyType::P384, &reuse(2)).unwrap();
        assert_eq!(stock.len(KeyType::P384), 2);
    }

    #[test]
    fn a_retired_key_is_replaced_by_a_new_one() {
        let stock = KeyStock::new();
        stock.prepare(&[KeyType::P256], 2).unwrap();
        let retired = stock.key(KeyType::P256, &reuse(2)).unwrap();
        stock.retire(&retired);
        wait_for(&stock, KeyType::P256, 2);
        assert!(!stock.holds(&retired));
        for _ in 0..4 {
            assert!(!stock
                .key(KeyType::P256, &reuse(2))
                .unwrap()
                .public_eq(&retired));
        }
    }

    #[test]
    fn without_reuse_every_key_is_new_and_the_stock_refills() {
        let stock = KeyStock::new();
        let fresh = Keys {
            pool_size: 2,
            reuse: false,
        };
        stock.prepare(&[KeyType::P256], 2).unwrap();
        let mut taken: Vec<PKey<Private>> = Vec::new();
        for _ in 0..6 {
            let key = stock.key(KeyType::P256, &fresh).unwrap();
            assert!(taken.iter().all(|k| !k.public_eq(&key)), "a key came twice");
            assert!(!stock.holds(&key), "a taken key left the stock");
            taken.push(key);
        }
        wait_for(&stock, KeyType::P256, 2);
    }
}
