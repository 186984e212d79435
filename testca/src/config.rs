//! The CA's settings. Field defaults are Boulder's where Boulder has one (test/config/*.json of
//! its dev environment); [`Config::boulder`] adds what that environment also runs (three remote
//! VAs, the rate limits of test/config/ratelimit-defaults.yml) and [`Config::fast`] turns the
//! caches, limits and extra perspectives off for throughput runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use crate::duration;

/// One certificate profile (RFC 8555 extension "profiles", draft-ietf-acme-profiles): listed in
/// the directory's `meta.profiles`, chosen by newOrder's `profile`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub description: String,
    /// Certificate lifetime (Boulder's `maxValidityPeriod`); notAfter = notBefore + validity - 1s.
    #[serde(deserialize_with = "duration::de")]
    pub validity: Duration,
}

/// A rate limit: `count` per `period`, with a burst of `count` (as every limit in Boulder's
/// ratelimit-defaults.yml), enforced as a GCRA like Boulder's ratelimits package.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub count: u64,
    #[serde(deserialize_with = "duration::de")]
    pub period: Duration,
}

impl Limit {
    pub fn new(count: u64, period: Duration) -> Limit {
        Limit { count, period }
    }
}

/// Boulder's limits by name; an absent limit is off.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Keyed by `X-Real-IP` when it parses, else the peer address (Boulder web/extract.go).
    pub new_registrations_per_ip_address: Option<Limit>,
    pub new_orders_per_account: Option<Limit>,
    /// Keyed by the normalized set of names; exempt for ARI renewals inside the window.
    pub certificates_per_fqdn_set: Option<Limit>,
    /// Keyed by registered domain (the last two labels).
    pub certificates_per_domain: Option<Limit>,
    /// Spent by each failed validation (and each deactivated pending authorization).
    pub failed_authorizations_per_domain_per_account: Option<Limit>,
}

/// The CA's own certificates, loaded instead of being made at start (all three or none).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IssuerFiles {
    pub root_cert: PathBuf,
    pub intermediate_cert: PathBuf,
    pub intermediate_key: PathBuf,
}

fn nets<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.iter()
        .map(|s| s.parse::<IpNet>().map_err(serde::de::Error::custom))
        .collect()
}

/// Everything the CA can be told. Deserializes from TOML/JSON with unknown fields refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the ACME API listens; port 0 picks a free port. Default 127.0.0.1:4001 (Boulder's
    /// dev WFE port, on loopback).
    pub listen: SocketAddr,
    /// Base of every URL the CA hands out and expects in JWS `url`; default from the bound
    /// address (`http://127.0.0.1:4001`, or https with `tls_cert`).
    pub base_url: Option<String>,
    /// PEM certificate chain and key for HTTPS (Boulder's :4431); plain HTTP without them.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// actix worker threads.
    pub workers: usize,
    /// `meta.termsOfService`; default `{base_url}/terms/v7`.
    pub terms_of_service: Option<String>,
    /// RFC 8484 resolver, e.g. `https://127.0.0.1:8443/dns-query` (Boulder's VA resolves only
    /// through DoH); `doh_ca` is the PEM file its certificate must chain to.
    pub doh_url: Option<String>,
    pub doh_ca: Option<PathBuf>,
    /// Plain UDP resolver, for benchmark runs; used only when `doh_url` is unset.
    pub dns_udp: Option<SocketAddr>,
    /// Per DNS query (Boulder va.json `dnsTimeout` 1s), retried on timeout `dns_tries` times.
    #[serde(deserialize_with = "duration::de")]
    pub dns_timeout: Duration,
    pub dns_tries: u32,
    /// Fixed validation ports, as Boulder's VA (80 and 443).
    pub http01_port: u16,
    pub tlsalpn01_port: u16,
    /// Bound on one http-01 fetch or tls-alpn-01 handshake (Boulder's singleDialTimeout 10s).
    #[serde(deserialize_with = "duration::de")]
    pub validation_timeout: Duration,
    /// Addresses accepted although reserved (loopback, RFC 1918, ...), standing in for the
    /// public network of Boulder's dev environment. Default: none.
    #[serde(deserialize_with = "nets")]
    pub treat_as_public: Vec<IpNet>,
    /// How many times each challenge is validated: the primary, then `perspectives - 1` remote
    /// VAs at once; all must pass.
    pub perspectives: u32,
    /// WFE account cache lifetime (wfe2.json `accountCache.ttl` 5s); 0 turns it off.
    #[serde(deserialize_with = "duration::de")]
    pub account_cache_ttl: Duration,
    pub account_cache_size: usize,
    /// Ordered; the directory lists them, newOrder picks by name.
    pub profiles: Vec<Profile>,
    /// Used when newOrder names none (ra.json `defaultProfileName`).
    pub default_profile: String,
    /// ra.json legacy profile: pending 168h, valid 720h, order 168h.
    #[serde(deserialize_with = "duration::de")]
    pub authz_pending_lifetime: Duration,
    #[serde(deserialize_with = "duration::de")]
    pub authz_valid_lifetime: Duration,
    #[serde(deserialize_with = "duration::de")]
    pub order_lifetime: Duration,
    /// Identifiers per order (ra.json legacy `maxNames`).
    pub max_names: usize,
    pub rate_limits: RateLimits,
    /// How many of the most recently issued nonces stay redeemable.
    pub nonce_capacity: usize,
    /// Names refused with all their subdomains (Boulder test/ident-policy.yaml).
    pub blocked_names: Vec<String>,
    /// `mysql://user:pass@127.0.0.1:3306/db`: mirror what Boulder's SA would write there.
    pub db_url: Option<String>,
    pub issuer: Option<IssuerFiles>,
}

fn profile(name: &str, description: &str, validity: Duration) -> Profile {
    Profile {
        name: name.into(),
        description: description.into(),
        validity,
    }
}

const HOUR: Duration = Duration::from_secs(3600);

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 4001)),
            base_url: None,
            tls_cert: None,
            tls_key: None,
            workers: 1,
            terms_of_service: None,
            doh_url: None,
            doh_ca: None,
            dns_udp: None,
            dns_timeout: Duration::from_secs(1),
            dns_tries: 3,
            http01_port: 80,
            tlsalpn01_port: 443,
            validation_timeout: Duration::from_secs(10),
            treat_as_public: Vec::new(),
            perspectives: 1,
            account_cache_ttl: Duration::from_secs(5),
            account_cache_size: 9000,
            profiles: vec![
                profile(
                    "legacy",
                    "The normal profile you know and love",
                    Duration::from_secs(7_776_000),
                ),
                profile("modern", "Profile 2: Electric Boogaloo", 1080 * HOUR),
                profile("shortlived", "Like modern, but smaller", 160 * HOUR),
            ],
            default_profile: "legacy".into(),
            authz_pending_lifetime: 168 * HOUR,
            authz_valid_lifetime: 720 * HOUR,
            order_lifetime: 168 * HOUR,
            max_names: 100,
            rate_limits: RateLimits::default(),
            nonce_capacity: 100_000,
            blocked_names: [
                "ip6.arpa",
                "in-addr.arpa",
                "example",
                "example.net",
                "example.org",
                "invalid",
                "local",
                "localhost",
                "test",
                "sealand",
                "highrisk.le-test.hoffman-andrews.com",
                "exactblacklist.letsencrypt.org",
            ]
            .map(String::from)
            .to_vec(),
            db_url: None,
            issuer: None,
        }
    }
}

impl Config {
    /// Boulder's dev environment: the defaults plus a primary and three remote VAs and the
    /// limits of test/config/ratelimit-defaults.yml (overrides not applied).
    pub fn boulder() -> Config {
        Config {
            perspectives: 4,
            rate_limits: RateLimits {
                new_registrations_per_ip_address: Some(Limit::new(10_000, 168 * HOUR)),
                new_orders_per_account: Some(Limit::new(1500, 3 * HOUR)),
                certificates_per_fqdn_set: Some(Limit::new(2, 3 * HOUR)),
                certificates_per_domain: Some(Limit::new(2, 2160 * HOUR)),
                failed_authorizations_per_domain_per_account: Some(Limit::new(
                    3,
                    Duration::from_secs(300),
                )),
            },
            ..Config::default()
        }
    }

    /// For throughput: no account cache, no rate limits, one perspective, every core.
    pub fn fast() -> Config {
        Config {
            account_cache_ttl: Duration::ZERO,
            perspectives: 1,
            rate_limits: RateLimits::default(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            ..Config::default()
        }
    }

    /// Reads a TOML file.
    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    pub(crate) fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_with_durations_and_unknown_field() {
        let c = Config::from_toml(
            "listen = \"127.0.0.1:0\"\naccount_cache_ttl = \"1s\"\ntreat_as_public = [\"127.64.0.0/16\"]\n\
             [rate_limits.new_orders_per_account]\ncount = 3\nperiod = \"1h\"\n",
        )
        .unwrap();
        assert_eq!(c.account_cache_ttl, Duration::from_secs(1));
        assert_eq!(c.treat_as_public.len(), 1);
        assert_eq!(
            c.rate_limits.new_orders_per_account,
            Some(Limit::new(3, HOUR))
        );
        assert!(Config::from_toml("nope = 1").is_err());
    }
}
