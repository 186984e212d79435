//! The CA's state: what Boulder's SA keeps in its database, kept here in sharded maps (the
//! source of truth for serving; the optional DB mirror only copies it). Every object has its own
//! entry, so requests about different objects never contend.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::jwk::Jwk;
use crate::model::{
    name_set, Account, AccountStatus, Attempt, Authz, AuthzStatus, CertRecord, Order, OrderStatus,
    Revocation,
};
use crate::shard::Sharded;

/// A replacement order recorded for a certificate (Boulder's replacementOrders row).
#[derive(Debug, Clone, Copy)]
pub struct Replacement {
    pub order_id: u64,
    pub expires: i64,
    pub replaced: bool,
}

#[derive(Default)]
pub struct Store {
    next_account: AtomicU64,
    next_authz: AtomicU64,
    next_order: AtomicU64,
    accounts: Sharded<u64, Account>,
    /// SPKI digest → account id.
    keys: Sharded<[u8; 32], u64>,
    authzs: Sharded<u64, Authz>,
    orders: Sharded<u64, Order>,
    certs: Sharded<String, CertRecord>,
    /// (account, identifier) → authorizations that became valid.
    valid_authzs: Sharded<(u64, String), Vec<u64>>,
    /// Name set → (expires, order id, account) of orders for it (Boulder's orderFqdnSets).
    order_sets: Sharded<String, Vec<(i64, u64, u64)>>,
    /// Name set → when a certificate was last issued for it (Boulder's fqdnSets).
    issued_sets: Sharded<String, i64>,
    replacements: Sharded<String, Replacement>,
    /// SPKI digests of keys revoked for compromise (Boulder's blockedKeys).
    blocked: Sharded<[u8; 32], ()>,
}

impl Store {
    /// Ids continue after `floor` (the largest ids already in a mirrored database).
    pub fn with_id_floors(accounts: u64, authzs: u64, orders: u64) -> Store {
        let store = Store::default();
        store.next_account.store(accounts, Ordering::Relaxed);
        store.next_authz.store(authzs, Ordering::Relaxed);
        store.next_order.store(orders, Ordering::Relaxed);
        store
    }

    pub fn account(&self, id: u64) -> Option<Account> {
        self.accounts.get(&id)
    }

    pub fn account_by_key(&self, digest: &[u8; 32]) -> Option<Account> {
        self.keys.get(digest).and_then(|id| self.account(id))
    }

    /// Creates an account for `key`, or returns the one that already has it as `Err`.
    pub fn create_account(&self, key: Arc<Jwk>, now: i64) -> Result<Account, Account> {
        let digest = key.digest;
        let id = self.next_account.fetch_add(1, Ordering::Relaxed) + 1;
        let account = Account {
            id,
            key,
            status: AccountStatus::Valid,
            created: now,
        };
        self.accounts.insert(id, account.clone());
        let mut keys = self.keys.lock(&digest);
        if let Some(existing) = keys.get(&digest).copied() {
            drop(keys);
            self.accounts.remove(&id);
            return self.account(existing).ok_or(account);
        }
        keys.insert(digest, id);
        Ok(account)
    }

    /// Deactivates a valid account; `None` when there is no valid account with that id.
    pub fn deactivate_account(&self, id: u64) -> Option<Account> {
        self.accounts
            .update(&id, |a| {
                (a.status == AccountStatus::Valid).then(|| {
                    a.status = AccountStatus::Deactivated;
                    a.clone()
                })
            })
            .flatten()
    }

    /// Moves an account to a new key; `Err(other)` when another account has that key.
    pub fn change_key(&self, id: u64, key: Arc<Jwk>) -> Result<Option<Account>, u64> {
        let digest = key.digest;
        {
            let mut keys = self.keys.lock(&digest);
            match keys.get(&digest) {
                Some(&other) if other != id => return Err(other),
                _ => keys.insert(digest, id),
            };
        }
        let old = self.accounts.update(&id, |a| {
            let old = a.key.digest;
            a.key = key;
            (old, a.clone())
        });
        match &old {
            Some((old_digest, _)) if *old_digest != digest => {
                self.keys.remove(old_digest);
            }
            Some(_) => {}
            None => {
                self.keys.remove(&digest);
            }
        }
        Ok(old.map(|(_, account)| account))
    }

    pub fn next_authz_id(&self) -> u64 {
        self.next_authz.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn next_order_id(&self) -> u64 {
        self.next_order.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn insert_authz(&self, authz: Authz) {
        self.authzs.insert(authz.id, authz);
    }

    pub fn authz(&self, id: u64) -> Option<Authz> {
        self.authzs.get(&id)
    }

    pub fn update_authz<R>(&self, id: u64, f: impl FnOnce(&mut Authz) -> R) -> Option<R> {
        self.authzs.update(&id, f)
    }

    /// Records a finished validation on a still-pending authorization.
    pub fn finish_validation(&self, id: u64, attempt: Attempt, valid_until: i64) -> Option<Authz> {
        let done = self
            .authzs
            .update(&id, |a| {
                a.validating = false;
                if a.status != AuthzStatus::Pending {
                    return None;
                }
                if attempt.error.is_none() {
                    a.status = AuthzStatus::Valid;
                    a.expires = valid_until;
                } else {
                    a.status = AuthzStatus::Invalid;
                }
                a.attempt = Some(attempt);
                Some(a.clone())
            })
            .flatten()?;
        if done.status == AuthzStatus::Valid {
            let key = (done.reg_id, done.ident.clone());
            self.valid_authzs
                .lock(&key)
                .entry(key)
                .or_default()
                .push(id);
        }
        Some(done)
    }

    /// The valid authorization of `account` for `ident` that lives longest past `after`, with
    /// the given profile unless `profile` is `None` (Boulder GetValidAuthorizations2).
    pub fn valid_authz(
        &self,
        account: u64,
        ident: &str,
        after: i64,
        profile: Option<&str>,
    ) -> Option<Authz> {
        let key = (account, ident.to_string());
        let ids = self.valid_authzs.get(&key)?;
        let mut live = Vec::with_capacity(ids.len());
        let mut best: Option<Authz> = None;
        for id in ids {
            let Some(a) = self.authz(id) else { continue };
            if a.status != AuthzStatus::Valid || a.expires <= crate::clock::now() {
                continue;
            }
            live.push(id);
            let fits = a.expires > after && profile.is_none_or(|p| p == a.profile);
            if fits && best.as_ref().is_none_or(|b| a.expires > b.expires) {
                best = Some(a);
            }
        }
        self.valid_authzs.update(&key, |v| *v = live);
        best
    }

    pub fn insert_order(&self, order: Order) {
        let set = name_set(&order.idents);
        self.order_sets
            .lock(&set)
            .entry(set.clone())
            .or_default()
            .push((order.expires, order.id, order.reg_id));
        if let Some(serial) = &order.replaces_serial {
            self.replacements.insert(
                serial.clone(),
                Replacement {
                    order_id: order.id,
                    expires: order.expires,
                    replaced: false,
                },
            );
        }
        self.orders.insert(order.id, order);
    }

    pub fn order(&self, id: u64) -> Option<Order> {
        self.orders.get(&id)
    }

    pub fn update_order<R>(&self, id: u64, f: impl FnOnce(&mut Order) -> R) -> Option<R> {
        self.orders.update(&id, f)
    }

    /// Boulder's statusForOrder (sa/model.go): error or expiry → invalid; any authz invalid,
    /// deactivated or expired → invalid; any pending → pending; then valid / processing / ready.
    pub fn order_status(&self, order: &Order, now: i64) -> OrderStatus {
        if order.error.is_some() || order.expires <= now {
            return OrderStatus::Invalid;
        }
        let mut pending = false;
        for id in &order.authz_ids {
            let Some(a) = self.authz(*id) else {
                return OrderStatus::Invalid;
            };
            match a.status {
                _ if a.expires <= now => return OrderStatus::Invalid,
                AuthzStatus::Invalid | AuthzStatus::Deactivated => return OrderStatus::Invalid,
                AuthzStatus::Pending => pending = true,
                AuthzStatus::Valid => {}
            }
        }
        if pending {
            OrderStatus::Pending
        } else if order.serial.is_some() {
            OrderStatus::Valid
        } else if order.began_processing {
            OrderStatus::Processing
        } else {
            OrderStatus::Ready
        }
    }

    /// Boulder GetOrderForNames: the unexpired order for this name set that expires first; reused
    /// only when it belongs to `account`, is pending or ready and has the same profile.
    pub fn reusable_order(&self, account: u64, idents: &[String], profile: &str) -> Option<Order> {
        let set = name_set(idents);
        let now = crate::clock::now();
        let first = {
            let mut shard = self.order_sets.lock(&set);
            let entries = shard.get_mut(&set)?;
            entries.retain(|(expires, _, _)| *expires > now);
            entries
                .iter()
                .min_by_key(|(expires, _, _)| *expires)
                .copied()
        };
        let (_, order_id, owner) = first?;
        if owner != account {
            return None;
        }
        let order = self.order(order_id)?;
        let status = self.order_status(&order, now);
        let reusable =
            matches!(status, OrderStatus::Pending | OrderStatus::Ready) && order.profile == profile;
        reusable.then_some(order)
    }

    pub fn insert_cert(&self, cert: CertRecord) {
        self.issued_sets.insert(name_set(&cert.names), cert.issued);
        self.certs.insert(cert.serial.clone(), cert);
    }

    pub fn cert(&self, serial: &str) -> Option<CertRecord> {
        self.certs.get(&serial.to_string())
    }

    /// Decides a certificate's new revocation from its current one, under its lock.
    pub fn revoke<E>(
        &self,
        serial: &str,
        decide: impl FnOnce(Option<Revocation>) -> Result<Revocation, E>,
    ) -> Option<Result<Revocation, E>> {
        self.certs.update(&serial.to_string(), |c| {
            let next = decide(c.revocation)?;
            c.revocation = Some(next);
            Ok(next)
        })
    }

    /// When a certificate for exactly this name set was last issued.
    pub fn last_issued(&self, idents: &[String]) -> Option<i64> {
        self.issued_sets.get(&name_set(idents))
    }

    pub fn replacement(&self, serial: &str) -> Option<Replacement> {
        self.replacements.get(&serial.to_string())
    }

    pub fn mark_replaced(&self, serial: &str, order_id: u64) {
        self.replacements.update(&serial.to_string(), |r| {
            if r.order_id == order_id {
                r.replaced = true;
            }
        });
    }

    pub fn block_key(&self, digest: [u8; 32]) {
        self.blocked.insert(digest, ());
    }

    pub fn is_blocked(&self, digest: &[u8; 32]) -> bool {
        self.blocked.contains(digest)
    }
}
