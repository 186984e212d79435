//! The pool: what the tool created at the CA — accounts with their keys, each with the
//! certificates it obtained (with their keys, orders and authorizations) — bounded and shared by
//! every attacker on every thread. A chain takes an account out for its exclusive use (a
//! [`Lease`]): a key rollover or a deactivation can then never pull an account from under
//! another chain. The account comes back when the lease ends, unless the chain discarded it or
//! the CA forgot it (`accountDoesNotExist`), as the chain's [`Standing`] says. Full, the pool
//! evicts idle accounts.
//!
//! Chains that only need a reference to an object (its URL, a certificate's DER) draw it
//! through [`Source`], which another store of objects (Boulder's database) implements too.

pub mod settings;
pub mod source;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use futures_util::future::LocalBoxFuture;
use openssl::pkey::{PKey, Private};
use rand::Rng;
use tokio::sync::Notify;

use crate::acme::{Account, AccountKey};
pub use settings::{Eviction, PoolSettings, WhenEmpty};
pub use source::{ObjectKind, ObjectRef, Source, SourceError};

/// A certificate the tool obtained, with what it took to get it.
#[derive(Debug, Clone)]
pub struct HeldCertificate {
    pub url: String,
    pub order_url: String,
    pub authz_urls: Vec<String>,
    pub names: Vec<String>,
    /// The leaf, DER.
    pub der: Arc<[u8]>,
    /// The certificate's private key.
    pub key: PKey<Private>,
    /// The profile it was ordered with (a renewal asks for the same).
    pub profile: Option<Arc<str>>,
}

/// An account and the certificates it holds, oldest first.
#[derive(Debug)]
pub struct Holding {
    pub account: Account,
    pub certificates: Vec<HeldCertificate>,
    /// Not handed out before this: a rate limit's `Retry-After`.
    set_aside_until: Option<Instant>,
}

impl Holding {
    pub fn new(account: Account) -> Self {
        Holding {
            account,
            certificates: Vec::new(),
            set_aside_until: None,
        }
    }

    fn set_aside_at(&self, now: Instant) -> bool {
        self.set_aside_until.is_some_and(|until| until > now)
    }
}

/// What the CA said of accounts during a chain, read by the pool when an account comes back
/// (its lease ends, or it is deposited): the chain keeps it, the pool acts on it.
pub trait Standing {
    /// The CA answered that it does not know the account at `url`: it leaves the pool.
    fn forgotten(&self, url: &str) -> bool;
    /// A rate limit keeps the account at `url` out of use until then (its `Retry-After`).
    fn set_aside_until(&self, url: &str) -> Option<Instant>;
}

/// A [`Standing`] with nothing to say: accounts handled outside a chain run.
pub struct NoNews;

impl Standing for NoNews {
    fn forgotten(&self, _: &str) -> bool {
        false
    }

    fn set_aside_until(&self, _: &str) -> Option<Instant> {
        None
    }
}

/// `holding` as `standing` leaves it: gone if forgotten, else set aside as long as it says.
fn judged(mut holding: Holding, standing: &dyn Standing) -> Option<Holding> {
    let url = &holding.account.url;
    if standing.forgotten(url) {
        return None;
    }
    if let Some(until) = standing.set_aside_until(url) {
        holding.set_aside_until = Some(holding.set_aside_until.map_or(until, |u| u.max(until)));
    }
    Some(holding)
}

/// What a chain needs from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any account.
    Account,
    /// An account holding at least one certificate.
    Certificate,
}

impl Need {
    pub fn name(self) -> &'static str {
        match self {
            Need::Account => "an account",
            Need::Certificate => "an account with a certificate",
        }
    }

    fn met_by(self, holding: &Holding) -> bool {
        match self {
            Need::Account => true,
            Need::Certificate => !holding.certificates.is_empty(),
        }
    }
}

/// Counts for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    pub idle: usize,
    pub leased: usize,
    /// Certificates held by idle accounts.
    pub certificates: usize,
    pub evicted: u64,
}

#[derive(Default)]
struct Inner {
    /// Idle accounts, the longest idle first.
    idle: VecDeque<Holding>,
    leased: usize,
    evicted: u64,
}

/// The shared pool. Its limits come with each call, from the settings of the chain making it,
/// so a reload applies at once.
#[derive(Default)]
pub struct Pool {
    inner: Mutex<Inner>,
    /// Wakes chains waiting for an account (`when_empty = "wait"`).
    returned: Notify,
}

impl Pool {
    pub fn new() -> Self {
        Pool::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; a poisoned one still holds consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the longest-idle account that meets `need` and is not set aside by a rate limit
    /// (`Retry-After`), if any. What the CA says of it meanwhile comes from `standing`.
    pub fn checkout<'p>(
        &'p self,
        need: Need,
        limits: PoolSettings,
        standing: &'p dyn Standing,
    ) -> Option<Lease<'p>> {
        let mut inner = self.lock();
        let now = Instant::now();
        let at = inner
            .idle
            .iter()
            .position(|h| need.met_by(h) && !h.set_aside_at(now))?;
        let holding = inner.idle.remove(at)?;
        inner.leased += 1;
        Some(Lease::new(self, holding, limits, standing))
    }

    /// As [`Pool::checkout`], waiting up to `limits.wait_timeout` for another chain to bring
    /// one back; `None` when none came.
    pub async fn wait<'p>(
        &'p self,
        need: Need,
        limits: PoolSettings,
        standing: &'p dyn Standing,
    ) -> Option<Lease<'p>> {
        let deadline = Instant::now() + limits.wait_timeout;
        loop {
            let notified = self.returned.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(lease) = self.checkout(need, limits, standing) {
                return Some(lease);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || actix_rt::time::timeout(left, notified).await.is_err() {
                return self.checkout(need, limits, standing);
            }
        }
    }

    /// Puts a new account under lease at once: it joins the pool when the lease ends.
    pub fn lease<'p>(
        &'p self,
        holding: Holding,
        limits: PoolSettings,
        standing: &'p dyn Standing,
    ) -> Lease<'p> {
        self.lock().leased += 1;
        Lease::new(self, holding, limits, standing)
    }

    /// Adds a new account, idle, unless `standing` says the CA forgot it.
    pub fn deposit(&self, holding: Holding, limits: PoolSettings, standing: &dyn Standing) {
        let Some(holding) = judged(holding, standing) else {
            return;
        };
        let mut inner = self.lock();
        inner.idle.push_back(capped(holding, limits));
        evict_excess(&mut inner, limits);
        drop(inner);
        self.returned.notify_waiters();
    }

    pub fn stats(&self) -> PoolStats {
        let inner = self.lock();
        PoolStats {
            idle: inner.idle.len(),
            leased: inner.leased,
            certificates: inner.idle.iter().map(|h| h.certificates.len()).sum(),
            evicted: inner.evicted,
        }
    }

    /// A lease ended: the account comes back (`Some`) or leaves for good (`None`).
    fn end_lease(&self, holding: Option<Holding>, limits: PoolSettings) {
        let mut inner = self.lock();
        inner.leased = inner.leased.saturating_sub(1);
        if let Some(holding) = holding {
            inner.idle.push_back(capped(holding, limits));
            evict_excess(&mut inner, limits);
        }
        drop(inner);
        self.returned.notify_waiters();
    }
}

/// Keeps the newest `max_certificates_per_account` certificates.
fn capped(mut holding: Holding, limits: PoolSettings) -> Holding {
    let excess = holding
        .certificates
        .len()
        .saturating_sub(limits.max_certificates_per_account);
    holding.certificates.drain(..excess);
    holding
}

/// Evicts idle accounts while the pool holds more than `max_accounts`.
fn evict_excess(inner: &mut Inner, limits: PoolSettings) {
    while inner.idle.len() + inner.leased > limits.max_accounts && !inner.idle.is_empty() {
        let at = match limits.eviction {
            Eviction::Oldest => 0,
            Eviction::Random => rand::rng().random_range(0..inner.idle.len()),
        };
        inner.idle.remove(at);
        inner.evicted += 1;
    }
}

impl Source for Pool {
    /// An object of an idle account, at random.
    fn sample(
        &self,
        kind: ObjectKind,
    ) -> LocalBoxFuture<'_, Result<Option<ObjectRef>, SourceError>> {
        let inner = self.lock();
        let held: Vec<&HeldCertificate> = inner
            .idle
            .iter()
            .flat_map(|h| h.certificates.iter())
            .collect();
        let mut rng = rand::rng();
        let found = (!held.is_empty()).then(|| {
            let cert = held[rng.random_range(0..held.len())];
            let url = match kind {
                ObjectKind::Certificate => cert.url.clone(),
                ObjectKind::Order => cert.order_url.clone(),
                ObjectKind::Authorization => {
                    cert.authz_urls[rng.random_range(0..cert.authz_urls.len().max(1))].clone()
                }
            };
            ObjectRef {
                kind,
                url,
                der: (kind == ObjectKind::Certificate).then(|| cert.der.clone()),
            }
        });
        drop(inner);
        Box::pin(std::future::ready(Ok(found)))
    }
}

/// Exclusive use of one account of the pool, ending when this is dropped.
pub struct Lease<'p> {
    pool: &'p Pool,
    holding: Option<Holding>,
    limits: PoolSettings,
    standing: &'p dyn Standing,
    discarded: bool,
}

impl<'p> Lease<'p> {
    fn new(
        pool: &'p Pool,
        holding: Holding,
        limits: PoolSettings,
        standing: &'p dyn Standing,
    ) -> Self {
        Lease {
            pool,
            holding: Some(holding),
            limits,
            standing,
            discarded: false,
        }
    }

    fn holding(&self) -> &Holding {
        self.holding.as_ref().expect("present until dropped")
    }

    fn holding_mut(&mut self) -> &mut Holding {
        self.holding.as_mut().expect("present until dropped")
    }

    pub fn account(&self) -> &Account {
        &self.holding().account
    }

    /// Its certificates, oldest first.
    pub fn certificates(&self) -> &[HeldCertificate] {
        &self.holding().certificates
    }

    /// Removes a certificate (revoked, or replaced by a renewal).
    pub fn take_certificate(&mut self, index: usize) -> HeldCertificate {
        self.holding_mut().certificates.remove(index)
    }

    pub fn add_certificate(&mut self, certificate: HeldCertificate) {
        self.holding_mut().certificates.push(certificate);
    }

    /// The CA now knows the account by `key` (after a keyChange); returns the old key.
    pub fn replace_key(&mut self, key: AccountKey) -> AccountKey {
        std::mem::replace(&mut self.holding_mut().account.key, key)
    }

    /// The account leaves the pool for good when the lease ends (it was deactivated, or its
    /// state is unknown).
    pub fn discard(&mut self) {
        self.discarded = true;
    }

    /// Undoes [`Lease::discard`]: the account's state is known again.
    pub fn keep(&mut self) {
        self.discarded = false;
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let holding = self.holding.take();
        let keep = holding
            .filter(|_| !self.discarded)
            .and_then(|h| judged(h, self.standing));
        self.pool.end_lease(keep, self.limits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::JwsAlg;
    use crate::acme::KeyType;
    use std::time::Duration;

    fn account(n: usize) -> Account {
        Account::new(
            AccountKey::generate(JwsAlg::Es256).unwrap(),
            format!("https://ca/acct/{n}"),
        )
    }

    fn certificate(n: usize) -> HeldCertificate {
        HeldCertificate {
            url: format!("https://ca/cert/{n}"),
            order_url: format!("https://ca/order/{n}"),
            authz_urls: vec![format!("https://ca/authz/{n}")],
            names: vec![format!("{n}.wile.test")],
            der: Arc::from(vec![n as u8]),
            key: KeyType::P256.generate().unwrap(),
            profile: None,
        }
    }

    fn limits(max_accounts: usize) -> PoolSettings {
        PoolSettings {
            max_accounts,
            ..PoolSettings::default()
        }
    }

    #[test]
    fn a_lease_is_exclusive_and_returns_the_account() {
        let pool = Pool::new();
        pool.deposit(Holding::new(account(1)), limits(10), &NoNews);
        let lease = pool.checkout(Need::Account, limits(10), &NoNews).unwrap();
        assert!(pool.checkout(Need::Account, limits(10), &NoNews).is_none());
        assert_eq!(pool.stats().leased, 1);
        drop(lease);
        assert_eq!(
            pool.stats(),
            PoolStats {
                idle: 1,
                ..Default::default()
            }
        );
    }

    /// What a chain heard from the CA, by account URL.
    #[derive(Default)]
    struct Said {
        forgotten: Vec<String>,
        until: Vec<(String, Instant)>,
    }

    impl Standing for Said {
        fn forgotten(&self, url: &str) -> bool {
            self.forgotten.iter().any(|u| u == url)
        }

        fn set_aside_until(&self, url: &str) -> Option<Instant> {
            self.until.iter().find(|(u, _)| u == url).map(|(_, t)| *t)
        }
    }

    /// An account a rate limit set aside (`Retry-After`) is not handed out until then.
    #[test]
    fn accounts_set_aside_by_a_rate_limit_wait_their_turn() {
        let pool = Pool::new();
        let now = Instant::now();
        let said = Said {
            until: vec![
                ("https://ca/acct/1".into(), now + Duration::from_secs(3600)),
                ("https://ca/acct/3".into(), now),
            ],
            ..Said::default()
        };
        pool.deposit(Holding::new(account(1)), limits(10), &said);
        pool.deposit(Holding::new(account(2)), limits(10), &said);
        let lease = pool.checkout(Need::Account, limits(10), &said).unwrap();
        assert_eq!(lease.account().url, "https://ca/acct/2");
        assert!(pool.checkout(Need::Account, limits(10), &NoNews).is_none());
        drop(lease);
        pool.deposit(Holding::new(account(3)), limits(10), &said);
        assert_eq!(pool.stats().idle, 3);
        let next = pool.checkout(Need::Account, limits(10), &NoNews).unwrap();
        assert_eq!(next.account().url, "https://ca/acct/2", "oldest available");
    }

    /// An account the CA forgot leaves the pool when its lease ends, and is never deposited.
    #[test]
    fn accounts_the_ca_forgot_leave() {
        let pool = Pool::new();
        let said = Said {
            forgotten: vec!["https://ca/acct/1".into(), "https://ca/acct/2".into()],
            ..Said::default()
        };
        pool.deposit(Holding::new(account(1)), limits(10), &NoNews);
        let lease = pool.checkout(Need::Account, limits(10), &said).unwrap();
        drop(lease);
        pool.deposit(Holding::new(account(2)), limits(10), &said);
        pool.deposit(Holding::new(account(3)), limits(10), &said);
        assert_eq!(
            pool.stats(),
            PoolStats {
                idle: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn needs_are_matched_oldest_first() {
        let pool = Pool::new();
        pool.deposit(Holding::new(account(1)), limits(10), &NoNews);
        let mut with_cert = Holding::new(account(2));
        with_cert.certificates.push(certificate(2));
        pool.deposit(with_cert, limits(10), &NoNews);
        let lease = pool
            .checkout(Need::Certificate, limits(10), &NoNews)
            .unwrap();
        assert_eq!(lease.account().url, "https://ca/acct/2");
        assert!(pool
            .checkout(Need::Certificate, limits(10), &NoNews)
            .is_none());
        let any = pool.checkout(Need::Account, limits(10), &NoNews).unwrap();
        assert_eq!(any.account().url, "https://ca/acct/1");
    }

    #[test]
    fn full_pool_evicts_the_longest_idle() {
        let pool = Pool::new();
        for n in 0..5 {
            pool.deposit(Holding::new(account(n)), limits(3), &NoNews);
        }
        let stats = pool.stats();
        assert_eq!((stats.idle, stats.evicted), (3, 2));
        let first = pool.checkout(Need::Account, limits(3), &NoNews).unwrap();
        assert_eq!(first.account().url, "https://ca/acct/2");

        // Leased accounts count too: with 3 out, returning one to a pool of 1 evicts.
        let pool = Pool::new();
        let leases: Vec<Lease> = (0..3)
            .map(|n| pool.lease(Holding::new(account(n)), limits(1), &NoNews))
            .collect();
        drop(leases);
        let stats = pool.stats();
        assert_eq!((stats.idle, stats.leased, stats.evicted), (1, 0, 2));
    }

    #[test]
    fn random_eviction_keeps_the_bound() {
        let pool = Pool::new();
        let random = PoolSettings {
            eviction: Eviction::Random,
            ..limits(4)
        };
        for n in 0..50 {
            pool.deposit(Holding::new(account(n)), random, &NoNews);
        }
        assert_eq!(pool.stats().idle, 4);
        assert_eq!(pool.stats().evicted, 46);
    }

    #[test]
    fn certificates_per_account_are_capped_oldest_out() {
        let pool = Pool::new();
        let two = PoolSettings {
            max_certificates_per_account: 2,
            ..limits(10)
        };
        let mut lease = pool.lease(Holding::new(account(1)), two, &NoNews);
        for n in 0..4 {
            lease.add_certificate(certificate(n));
        }
        drop(lease);
        let lease = pool.checkout(Need::Certificate, two, &NoNews).unwrap();
        let urls: Vec<&str> = lease
            .certificates()
            .iter()
            .map(|c| c.url.as_str())
            .collect();
        assert_eq!(urls, ["https://ca/cert/2", "https://ca/cert/3"]);
    }

    #[test]
    fn discarded_accounts_do_not_come_back() {
        let pool = Pool::new();
        let mut lease = pool.lease(Holding::new(account(1)), limits(10), &NoNews);
        lease.discard();
        drop(lease);
        assert_eq!(pool.stats(), PoolStats::default());
    }

    #[test]
    fn the_pool_samples_references_of_idle_certificates() {
        let pool = Pool::new();
        let none = futures_util::FutureExt::now_or_never(pool.sample(ObjectKind::Certificate));
        assert_eq!(none.unwrap().unwrap(), None);
        let mut holding = Holding::new(account(1));
        holding.certificates.push(certificate(7));
        pool.deposit(holding, limits(10), &NoNews);
        for (kind, url) in [
            (ObjectKind::Certificate, "https://ca/cert/7"),
            (ObjectKind::Order, "https://ca/order/7"),
            (ObjectKind::Authorization, "https://ca/authz/7"),
        ] {
            let found = futures_util::FutureExt::now_or_never(pool.sample(kind))
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(found.url, url);
            assert_eq!(found.der.is_some(), kind == ObjectKind::Certificate);
        }
    }

    #[actix_rt::test]
    async fn a_waiting_chain_gets_the_account_another_brings_back() {
        let pool = Arc::new(Pool::new());
        let wait = PoolSettings {
            wait_timeout: Duration::from_secs(5),
            ..limits(10)
        };
        let lease_pool = pool.clone();
        let giver = std::thread::spawn(move || {
            let lease = lease_pool.lease(Holding::new(account(1)), wait, &NoNews);
            std::thread::sleep(Duration::from_millis(50));
            drop(lease);
        });
        let started = Instant::now();
        let got = pool.wait(Need::Account, wait, &NoNews).await;
        giver.join().unwrap();
        assert_eq!(got.unwrap().account().url, "https://ca/acct/1");
        assert!(started.elapsed() < Duration::from_secs(4));

        let short = PoolSettings {
            wait_timeout: Duration::from_millis(30),
            ..limits(10)
        };
        assert!(pool.wait(Need::Certificate, short, &NoNews).await.is_none());
    }
}
