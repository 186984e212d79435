//! Rate limits as Boulder's ratelimits package applies them: one GCRA bucket per (limit, key)
//! holding a theoretical arrival time (gcra.go), batches that succeed or fail together
//! (limiter.go BatchSpend: the strictest decision wins, nothing is spent unless all pass), and
//! Boulder's wording for the refusal (limiter.go `Decision.Result`).

use std::time::Duration;

use crate::clock;
use crate::config::{Limit, RateLimits};
use crate::duration::go_format;
use crate::problem::{Kind, Problem};
use crate::shard::Sharded;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitName {
    NewRegistrationsPerIPAddress,
    NewOrdersPerAccount,
    CertificatesPerFQDNSet,
    CertificatesPerDomain,
    FailedAuthorizationsPerDomainPerAccount,
}

impl LimitName {
    pub const ALL: [LimitName; 5] = [
        LimitName::NewRegistrationsPerIPAddress,
        LimitName::NewOrdersPerAccount,
        LimitName::CertificatesPerFQDNSet,
        LimitName::CertificatesPerDomain,
        LimitName::FailedAuthorizationsPerDomainPerAccount,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LimitName::NewRegistrationsPerIPAddress => "NewRegistrationsPerIPAddress",
            LimitName::NewOrdersPerAccount => "NewOrdersPerAccount",
            LimitName::CertificatesPerFQDNSet => "CertificatesPerFQDNSet",
            LimitName::CertificatesPerDomain => "CertificatesPerDomain",
            LimitName::FailedAuthorizationsPerDomainPerAccount => {
                "FailedAuthorizationsPerDomainPerAccount"
            }
        }
    }
}

/// How a transaction uses its bucket (Boulder's check / spend / spend-only transactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuses when the bucket is empty; spends nothing.
    Check,
    /// Refuses when empty; spends when the whole batch passes.
    Spend,
    /// Best effort: spends when it can, never refuses.
    SpendOnly,
}

#[derive(Debug, Clone)]
pub struct Txn {
    pub name: LimitName,
    /// The bucket's id: an IP address, account id, domain, or name set.
    pub key: String,
    pub mode: Mode,
}

impl Txn {
    pub fn new(name: LimitName, key: impl Into<String>, mode: Mode) -> Txn {
        Txn {
            name,
            key: key.into(),
            mode,
        }
    }
}

/// A refusal: which limit, for which key, and how long until a request fits.
#[derive(Debug, Clone)]
pub struct Denied {
    pub name: LimitName,
    pub key: String,
    pub limit: Limit,
    pub retry_in: Duration,
}

pub struct Limiter {
    limits: RateLimits,
    tats: Sharded<(LimitName, String), i64>,
}

/// Per-shard size above which buckets that are full again (TAT in the past) are dropped.
const PRUNE_AT: usize = 4096;

fn gcra(limit: Limit, tat: Option<i64>, now: i64) -> Result<i64, i64> {
    let period = i64::try_from(limit.period.as_nanos()).unwrap_or(i64::MAX);
    let emission = period / i64::try_from(limit.count.max(1)).unwrap_or(i64::MAX);
    let start = tat.map_or(now, |t| t.max(now));
    let new_tat = start.saturating_add(emission);
    let difference = now - (new_tat - emission.saturating_mul(limit.count as i64));
    if difference < 0 {
        Err(-difference)
    } else {
        Ok(new_tat)
    }
}

impl Limiter {
    pub fn new(limits: RateLimits) -> Limiter {
        Limiter {
            limits,
            tats: Sharded::default(),
        }
    }

    fn limit(&self, name: LimitName) -> Option<Limit> {
        let l = &self.limits;
        match name {
            LimitName::NewRegistrationsPerIPAddress => l.new_registrations_per_ip_address,
            LimitName::NewOrdersPerAccount => l.new_orders_per_account,
            LimitName::CertificatesPerFQDNSet => l.certificates_per_fqdn_set,
            LimitName::CertificatesPerDomain => l.certificates_per_domain,
            LimitName::FailedAuthorizationsPerDomainPerAccount => {
                l.failed_authorizations_per_domain_per_account
            }
        }
    }

    /// Decides a batch; spends its `Spend` buckets only when no `Check`/`Spend` bucket refuses.
    pub fn batch(&self, txns: &[Txn]) -> Result<(), Denied> {
        let now = clock::now_nanos();
        let mut worst: Option<Denied> = None;
        let mut spends = Vec::new();
        for txn in txns {
            let Some(limit) = self.limit(txn.name) else {
                continue;
            };
            let bucket = (txn.name, txn.key.clone());
            let tat = self.tats.lock(&bucket).get(&bucket).copied();
            match gcra(limit, tat, now) {
                Ok(new_tat) if txn.mode != Mode::Check => spends.push((bucket, new_tat)),
                Ok(_) => {}
                Err(_) if txn.mode == Mode::SpendOnly => {}
                Err(wait) => {
                    let retry_in = Duration::from_nanos(u64::try_from(wait).unwrap_or(0));
                    if worst.as_ref().is_none_or(|w| retry_in > w.retry_in) {
                        worst = Some(Denied {
                            name: txn.name,
                            key: txn.key.clone(),
                            limit,
                            retry_in,
                        });
                    }
                }
            }
        }
        if let Some(denied) = worst {
            return Err(denied);
        }
        for (bucket, new_tat) in spends {
            let mut shard = self.tats.lock(&bucket);
            if shard.len() > PRUNE_AT {
                shard.retain(|_, tat| *tat > now);
            }
            shard.insert(bucket, new_tat);
        }
        Ok(())
    }

    /// Gives back what a batch spent when the request it guarded failed later on.
    pub fn refund(&self, txns: &[Txn]) {
        let now = clock::now_nanos();
        for txn in txns.iter().filter(|t| t.mode == Mode::Spend) {
            let Some(limit) = self.limit(txn.name) else {
                continue;
            };
            let period = i64::try_from(limit.period.as_nanos()).unwrap_or(i64::MAX);
            let emission = period / i64::try_from(limit.count.max(1)).unwrap_or(i64::MAX);
            let bucket = (txn.name, txn.key.clone());
            self.tats.update(&bucket, |tat| {
                if *tat > now {
                    *tat = (*tat - emission).max(now);
                }
            });
        }
    }
}

impl Denied {
    /// 429 rateLimited with Boulder's detail, `Retry-After` rounded up (with Boulder's 0-3%
    /// jitter) so that a client waiting that long finds a free slot.
    pub fn problem(&self) -> Problem {
        let jitter = self.retry_in.mul_f64(0.03 * rand::random::<f64>());
        let wait = self.retry_in + jitter;
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let at = clock::human(clock::now() + i64::try_from(secs).unwrap_or(0));
        let period = go_format(self.limit.period);
        let n = self.limit.count;
        let docs = "see https://letsencrypt.org/docs/rate-limits/";
        let detail = match self.name {
            LimitName::NewRegistrationsPerIPAddress => format!(
                "too many new registrations ({n}) from this IP address in the last {period}, \
                 retry after {at}: {docs}#new-registrations-per-ip-address"
            ),
            LimitName::NewOrdersPerAccount => format!(
                "too many new orders ({n}) from this account in the last {period}, retry after \
                 {at}: {docs}#new-orders-per-account"
            ),
            LimitName::CertificatesPerDomain => format!(
                "too many certificates ({n}) already issued for {:?} in the last {period}, retry \
                 after {at}: {docs}#new-certificates-per-registered-domain",
                self.key
            ),
            LimitName::CertificatesPerFQDNSet => format!(
                "too many certificates ({n}) already issued for this exact set of identifiers in \
                 the last {period}, retry after {at}: {docs}#new-certificates-per-exact-set-of-identifiers"
            ),
            LimitName::FailedAuthorizationsPerDomainPerAccount => format!(
                "too many failed authorizations ({n}) for {:?} in the last {period}, retry after \
                 {at}: {docs}#authorization-failures-per-identifier-per-account",
                self.key.rsplit(':').next().unwrap_or_default()
            ),
        };
        let mut p = Problem::new(Kind::RateLimited, detail);
        p.retry_after = Some(secs.max(1));
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(count: u64) -> Limiter {
        Limiter::new(RateLimits {
            new_orders_per_account: Some(Limit::new(count, Duration::from_secs(3600))),
            ..RateLimits::default()
        })
    }

    #[test]
    fn burst_then_refusal_with_honest_wait() {
        let l = limiter(2);
        let spend = [Txn::new(LimitName::NewOrdersPerAccount, "1", Mode::Spend)];
        assert!(l.batch(&spend).is_ok());
        assert!(l.batch(&spend).is_ok());
        let denied = l.batch(&spend).unwrap_err();
        // One slot frees every period / count = 30 minutes.
        assert!(denied.retry_in > Duration::from_secs(1790));
        assert!(denied.retry_in <= Duration::from_secs(1800));
        let p = denied.problem();
        assert_eq!(p.status, 429);
        assert!(p
            .detail
            .contains("too many new orders (2) from this account in the last 1h0m0s"));
        assert!(p.retry_after.unwrap() >= 1800);
    }

    #[test]
    fn check_does_not_spend_and_refund_gives_back() {
        let l = limiter(1);
        let check = [Txn::new(LimitName::NewOrdersPerAccount, "1", Mode::Check)];
        let spend = [Txn::new(LimitName::NewOrdersPerAccount, "1", Mode::Spend)];
        assert!(l.batch(&check).is_ok());
        assert!(l.batch(&check).is_ok());
        assert!(l.batch(&spend).is_ok());
        assert!(l.batch(&check).is_err());
        l.refund(&spend);
        assert!(l.batch(&spend).is_ok());
        // Off limits never refuse.
        let off = [Txn::new(
            LimitName::CertificatesPerDomain,
            "x.com",
            Mode::Spend,
        )];
        assert!(l.batch(&off).is_ok());
    }
}
