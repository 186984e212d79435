//! `[chains.pool]`: the bounds and behaviour of the pool of objects the chains share. The pool
//! owns its settings; `config` composes them.

use std::time::Duration;

use serde::Deserialize;

use crate::units::deserialize_duration;

/// Which idle account leaves the pool when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Eviction {
    /// The one idle the longest.
    Oldest,
    Random,
}

/// What a chain does when the pool has nothing it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenEmpty {
    /// Creates it (an account, or an account with a certificate), within its own latency.
    Create,
    /// Waits for another chain to bring one back, up to `wait_timeout`.
    Wait,
}

/// The pool of accounts (with their orders, authorizations and certificates) shared by all
/// attackers.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSettings {
    /// Accounts held at most (idle and in use); beyond it, idle ones are evicted.
    pub max_accounts: usize,
    /// Certificates kept per account; the oldest is dropped beyond it.
    pub max_certificates_per_account: usize,
    pub eviction: Eviction,
    pub when_empty: WhenEmpty,
    /// With `when_empty = "wait"`, a chain still waiting after this fails (`pool:empty`).
    #[serde(deserialize_with = "deserialize_duration")]
    pub wait_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_accounts: 1000,
            max_certificates_per_account: 4,
            eviction: Eviction::Oldest,
            when_empty: WhenEmpty::Create,
            wait_timeout: Duration::from_secs(10),
        }
    }
}
