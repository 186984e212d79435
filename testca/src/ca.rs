//! The shared state every request handler works on, and the URLs the CA hands out (Boulder's
//! paths: /acme/acct/{id}, /acme/order/{regID}/{id}, /acme/authz/{regID}/{id},
//! /acme/chall/{regID}/{authzID}/{challID}, /acme/finalize/{regID}/{id}, /acme/cert/{serial}).

use crate::cache::AccountCache;
use crate::config::Config;
use crate::issue::Issuer;
use crate::limits::Limiter;
use crate::mirror::{Mirror, Write};
use crate::nonce::Nonces;
use crate::policy::Policy;
use crate::stats::Stats;
use crate::store::Store;

pub struct Ca {
    pub cfg: Config,
    /// Scheme, host and port, without a trailing slash.
    pub base: String,
    pub terms: String,
    pub nonces: Nonces,
    pub store: Store,
    pub cache: AccountCache,
    pub limits: Limiter,
    pub issuer: Issuer,
    pub policy: Policy,
    pub stats: Stats,
    pub mirror: Option<Mirror>,
}

impl Ca {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn account_url(&self, id: u64) -> String {
        self.url(&format!("/acme/acct/{id}"))
    }

    pub fn order_url(&self, reg: u64, id: u64) -> String {
        self.url(&format!("/acme/order/{reg}/{id}"))
    }

    pub fn authz_url(&self, reg: u64, id: u64) -> String {
        self.url(&format!("/acme/authz/{reg}/{id}"))
    }

    pub fn challenge_url(&self, reg: u64, authz: u64, chall: &str) -> String {
        self.url(&format!("/acme/chall/{reg}/{authz}/{chall}"))
    }

    pub fn finalize_url(&self, reg: u64, id: u64) -> String {
        self.url(&format!("/acme/finalize/{reg}/{id}"))
    }

    pub fn cert_url(&self, serial: &str) -> String {
        self.url(&format!("/acme/cert/{serial}"))
    }

    /// Hands a write to the DB mirror, if there is one (never blocks a request).
    pub fn mirror(&self, write: Write) {
        if let Some(mirror) = &self.mirror {
            if !mirror.send(write) {
                crate::stats::bump(&self.stats.db_writes_dropped);
            }
        }
    }
}
