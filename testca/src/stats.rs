//! Counters for tests and benchmarks (`/testca/stats`, [`crate::TestCa::stats`]): what the CA
//! did, so a test can tell a client's claims from the CA's own count.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::limits::LimitName;

#[derive(Default)]
pub struct Stats {
    pub accounts: AtomicU64,
    pub orders: AtomicU64,
    pub validations_ok: AtomicU64,
    pub validations_failed: AtomicU64,
    pub certificates: AtomicU64,
    pub revocations: AtomicU64,
    pub bad_nonces: AtomicU64,
    pub db_writes_dropped: AtomicU64,
    /// Connections the ACME listener accepted: over HTTPS each is one TLS handshake, so a
    /// benchmark can tell whether its client reuses connections.
    pub connections: AtomicU64,
    rate_limited: [AtomicU64; LimitName::ALL.len()],
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub accounts: u64,
    pub orders: u64,
    pub validations_ok: u64,
    pub validations_failed: u64,
    pub certificates: u64,
    pub revocations: u64,
    pub bad_nonces: u64,
    pub db_writes_dropped: u64,
    pub connections: u64,
    /// By Boulder's limit name, e.g. "CertificatesPerFQDNSet".
    pub rate_limited: BTreeMap<String, u64>,
}

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    pub fn rate_limited(&self, name: LimitName) {
        bump(&self.rate_limited[name as usize]);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            accounts: get(&self.accounts),
            orders: get(&self.orders),
            validations_ok: get(&self.validations_ok),
            validations_failed: get(&self.validations_failed),
            certificates: get(&self.certificates),
            revocations: get(&self.revocations),
            bad_nonces: get(&self.bad_nonces),
            db_writes_dropped: get(&self.db_writes_dropped),
            connections: get(&self.connections),
            rate_limited: LimitName::ALL
                .iter()
                .map(|n| (n.as_str().to_string(), get(&self.rate_limited[*n as usize])))
                .collect(),
        }
    }
}
