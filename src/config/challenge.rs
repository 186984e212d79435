//! `[challenge]` (the challenge server's listeners, the DNS answers, the Registry's bounds) and
//! the challenge choice of `[chains.issue]`, with their validation. The listener keys need a
//! restart to change; the choice is read by every chain.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{check_domain, deserialize_parsed_list, positive, Flavor, Invalid, Settings};
use crate::acme::wire::ChallengeType;
use crate::challenge::domain_addresses::DomainAddresses;
use crate::challenge::{dns, doh::DohTls, registry, Limits, RegistryBackend, ServerSettings};
use crate::safety::reserved_range;
use crate::units::deserialize_duration;

/// The challenge server the CA validates against.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Challenge {
    /// Addresses answering http-01 (`/.well-known/acme-challenge/{token}`).
    #[serde(deserialize_with = "deserialize_parsed_list")]
    pub http01_listen: Vec<SocketAddr>,
    /// Addresses answering tls-alpn-01 (TLS with ALPN `acme-tls/1`).
    #[serde(deserialize_with = "deserialize_parsed_list")]
    pub tlsalpn01_listen: Vec<SocketAddr>,
    /// Addresses of the embedded DNS server, UDP and TCP on each.
    #[serde(deserialize_with = "deserialize_parsed_list")]
    pub dns_listen: Vec<SocketAddr>,
    /// Addresses serving the same DNS over HTTPS (RFC 8484), as Boulder's VA resolves.
    #[serde(deserialize_with = "deserialize_parsed_list")]
    pub doh_listen: Vec<SocketAddr>,
    /// PEM certificate chain the DNS over HTTPS listener presents.
    pub doh_certificate: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub doh_key: Option<PathBuf>,
    /// Domains the DNS answers for (each and every name under it); empty means
    /// `chains.issue.base_domain`.
    pub base_domains: Vec<String>,
    /// What A queries answer: the addresses the CA reaches the http-01/tls-alpn-01 listeners on.
    #[serde(deserialize_with = "deserialize_parsed_list")]
    pub addresses_v4: Vec<Ipv4Addr>,
    /// What AAAA queries answer. Empty by default: a CA that gets an AAAA answer may validate
    /// over IPv6 only (Pebble does), where nothing may listen.
    #[serde(deserialize_with = "deserialize_parsed_list")]
    pub addresses_v6: Vec<Ipv6Addr>,
    /// Other addresses for the names under some domains, e.g. each shard's label domain to
    /// that shard's listeners when this DNS answers for every shard.
    pub domain_addresses: Vec<DomainAddresses>,
    /// Where the Registry keeps challenge responses: `"memory"` (this process), or a
    /// `redis://host:port[/db]` URL that every shard shares, so any shard answers any shard's
    /// challenges.
    pub registry: RegistryBackend,
    /// Bound on every call to a shared registry: validation never waits longer for Redis.
    #[serde(deserialize_with = "deserialize_duration")]
    pub registry_timeout: Duration,
    /// How long the challenge server keeps answering after this process's last chain ended,
    /// for the validations of other shards' chains that reach it (a shared registry behind
    /// one address, or a DNS sending names here).
    #[serde(deserialize_with = "deserialize_duration")]
    pub linger: Duration,
    /// Entries the CA never fetched are dropped after this long.
    #[serde(deserialize_with = "deserialize_duration")]
    pub ttl: Duration,
    /// Upper bound on live challenge responses of all types; publishing beyond it fails the
    /// chain with a clear error instead of growing without limit.
    pub max_entries: usize,
    /// Connections each listener (http-01, tls-alpn-01, DNS over TCP, DNS over HTTPS) serves
    /// at once; more wait in the kernel's queue, so clients holding connections open cannot
    /// take every file descriptor or unbounded memory.
    pub max_connections: usize,
    /// How long a client may take to send its request or finish its TLS handshake (and keep
    /// an idle connection) before it is dropped.
    #[serde(deserialize_with = "deserialize_duration")]
    pub client_timeout: Duration,
}

/// The most connections a listener may be given: beyond it the caps protect nothing.
const MAX_CONNECTIONS_LIMIT: usize = 65_536;

/// The longest `client_timeout`: a validation request that takes longer is not one.
const CLIENT_TIMEOUT_LIMIT: Duration = Duration::from_secs(300);

/// The longest `registry_timeout`: a CA's validation request waits this long for each call.
const REGISTRY_TIMEOUT_LIMIT: Duration = Duration::from_secs(5);

/// The longest `linger`: other shards' chains end within their grace period.
const LINGER_LIMIT: Duration = Duration::from_secs(3600);

impl Default for Challenge {
    fn default() -> Self {
        Challenge {
            http01_listen: vec![SocketAddr::from(([127, 0, 0, 1], 5002))],
            tlsalpn01_listen: vec![SocketAddr::from(([127, 0, 0, 1], 5001))],
            dns_listen: vec![SocketAddr::from(([127, 0, 0, 1], 8053))],
            doh_listen: Vec::new(),
            doh_certificate: None,
            doh_key: None,
            base_domains: Vec::new(),
            addresses_v4: vec![Ipv4Addr::LOCALHOST],
            addresses_v6: Vec::new(),
            domain_addresses: Vec::new(),
            registry: RegistryBackend::Memory,
            registry_timeout: Duration::from_millis(250),
            linger: Duration::ZERO,
            ttl: Duration::from_secs(300),
            max_entries: 10_000,
            max_connections: 128,
            client_timeout: Duration::from_secs(10),
        }
    }
}

/// How each authorization's challenge is chosen (`chains.issue.challenge`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum ChallengeChoice {
    /// Always this type.
    One(ChallengeType),
    /// Among the types the authorization offers, at random by `challenge_weights`.
    Random,
}

/// A `chains.issue.challenge` that names no choice.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a challenge choice: http-01, tls-alpn-01, dns-01 or random")]
pub struct NotAChoice(String);

impl TryFrom<String> for ChallengeChoice {
    type Error = NotAChoice;

    fn try_from(value: String) -> Result<Self, NotAChoice> {
        if value == "random" {
            return Ok(ChallengeChoice::Random);
        }
        ChallengeType::ALL
            .into_iter()
            .find(|kind| kind.name() == value)
            .map(ChallengeChoice::One)
            .ok_or(NotAChoice(value))
    }
}

/// Weights of the types under `challenge = "random"`; a type not listed is not used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeWeights {
    #[serde(rename = "http-01", default)]
    pub http01: u32,
    #[serde(rename = "tls-alpn-01", default)]
    pub tlsalpn01: u32,
    #[serde(rename = "dns-01", default)]
    pub dns01: u32,
}

impl ChallengeChoice {
    /// The types a chain may answer with and their weights (only those above zero).
    pub fn weights(self, table: Option<&ChallengeWeights>) -> Vec<(ChallengeType, u32)> {
        let all = match (self, table) {
            (ChallengeChoice::One(kind), _) => return vec![(kind, 1)],
            (ChallengeChoice::Random, None) => [1, 1, 1],
            (ChallengeChoice::Random, Some(w)) => [w.http01, w.tlsalpn01, w.dns01],
        };
        ChallengeType::ALL
            .into_iter()
            .zip(all)
            .filter(|(_, w)| *w > 0)
            .collect()
    }
}

impl Settings {
    /// The types the `issue` chain answers with, and their weights.
    pub fn challenge_weights(&self) -> Vec<(ChallengeType, u32)> {
        let issue = &self.chains.issue;
        issue.challenge.weights(issue.challenge_weights.as_ref())
    }

    /// Domains the DNS answers for.
    pub fn dns_base_domains(&self) -> Vec<String> {
        match self.challenge.base_domains.as_slice() {
            [] => vec![registry::normalise(&self.chains.issue.base_domain)],
            domains => domains.iter().map(|d| registry::normalise(d)).collect(),
        }
    }

    /// The DNS's answers: its domains, and the addresses it sends the CA to.
    fn dns_zone(&self) -> dns::Zone {
        let c = &self.challenge;
        dns::Zone {
            base_domains: self.dns_base_domains(),
            ipv4: c.addresses_v4.clone(),
            ipv6: c.addresses_v6.clone(),
            domain_addresses: c.domain_addresses.iter().map(|d| d.normalised()).collect(),
        }
    }

    /// The challenge server's settings.
    pub fn challenge_server(&self) -> ServerSettings {
        let c = &self.challenge;
        ServerSettings {
            http01: c.http01_listen.clone(),
            tlsalpn01: c.tlsalpn01_listen.clone(),
            dns: c.dns_listen.clone(),
            doh: c.doh_listen.clone(),
            doh_tls: self.doh_tls(),
            zone: self.dns_zone(),
            ttl: c.ttl,
            max_entries: c.max_entries,
            limits: Limits {
                max_connections: c.max_connections,
                client_timeout: c.client_timeout,
            },
        }
    }

    /// The DNS over HTTPS certificate and key, when both are set.
    fn doh_tls(&self) -> Option<DohTls> {
        let c = &self.challenge;
        Some(DohTls {
            certificate: c.doh_certificate.clone()?,
            key: c.doh_key.clone()?,
        })
    }

    /// What is valid but will likely fail against this CA: the DNS sending the CA to a private
    /// or reserved address (Boulder's VA, like most production validators, discards those
    /// answers), and against Boulder, listeners off the ports it validates on or a dns-01 run
    /// without DNS over HTTPS. Only a CA on loopback that is not Boulder is expected to accept
    /// loopback answers.
    pub fn warnings(&self) -> Vec<String> {
        let c = &self.challenge;
        let boulder = self.target.flavor == Flavor::Boulder;
        let used: Vec<ChallengeType> = self
            .challenge_weights()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        let reached = used.iter().any(|t| *t != ChallengeType::Dns01);
        let loopback_target = match self.directory_url().host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        let mut warnings = Vec::new();
        if reached && (boulder || !loopback_target) {
            let v4 = c.addresses_v4.iter().map(|ip| IpAddr::V4(*ip));
            for ip in v4.chain(c.addresses_v6.iter().map(|ip| IpAddr::V6(*ip))) {
                if let Some(range) = reserved_range(ip) {
                    warnings.push(format!(
                        "challenge.addresses_v4/v6: the DNS answers {ip} ({range}); a CA that \
                         is not on this host's loopback, and Boulder always, discards private \
                         and reserved addresses, so http-01 and tls-alpn-01 validation would \
                         fail: answer with a public-range address of this host"
                    ));
                }
            }
        }
        if boulder {
            let on_port = |list: &[SocketAddr], port: u16| list.iter().any(|a| a.port() == port);
            let fixed = [
                (ChallengeType::Http01, "http01_listen", &c.http01_listen, 80),
                (
                    ChallengeType::TlsAlpn01,
                    "tlsalpn01_listen",
                    &c.tlsalpn01_listen,
                    443,
                ),
            ];
            for (kind, key, list, port) in fixed {
                if used.contains(&kind) && !on_port(list, port) {
                    warnings.push(format!(
                        "challenge.{key}: Boulder validates {kind} on port {port} only, and \
                         no listener is on it"
                    ));
                }
            }
            if used.contains(&ChallengeType::Dns01) && c.doh_listen.is_empty() {
                warnings.push(
                    "challenge.doh_listen: Boulder resolves only over DNS over HTTPS, so its VA \
                     cannot read dns-01 records from the plain DNS: serve DoH and point the \
                     VA's dnsStaticResolvers at it"
                        .into(),
                );
            }
        }
        warnings
    }

    /// Checks `[challenge]` and the challenge keys of `[chains.issue]`, alone and together.
    pub(super) fn validate_challenge(&self) -> Result<(), Invalid> {
        let c = &self.challenge;
        let listeners = [
            "challenge.http01_listen",
            "challenge.tlsalpn01_listen",
            "challenge.dns_listen",
        ];
        if !c.doh_listen.is_empty() {
            let tls = self.doh_tls().ok_or_else(|| {
                Invalid::new(
                    "challenge.doh_listen",
                    "DNS over HTTPS needs challenge.doh_certificate and challenge.doh_key",
                )
            })?;
            tls.acceptor()
                .map_err(|e| Invalid::new("challenge.doh_certificate", e))?;
        }
        for domain in &c.base_domains {
            check_domain("challenge.base_domains", domain)?;
        }
        positive("challenge.ttl", c.ttl)?;
        positive("challenge.registry_timeout", c.registry_timeout)?;
        if c.registry_timeout > REGISTRY_TIMEOUT_LIMIT {
            return Err(Invalid::new(
                "challenge.registry_timeout",
                "must be at most 5s: the CA's validation waits that long for each Redis call",
            ));
        }
        if c.linger > LINGER_LIMIT {
            return Err(Invalid::new(
                "challenge.linger",
                "must be at most 1h: other shards' chains end within their grace period",
            ));
        }
        if c.max_entries == 0 {
            return Err(Invalid::new("challenge.max_entries", "must be at least 1"));
        }
        if !(1..=MAX_CONNECTIONS_LIMIT).contains(&c.max_connections) {
            return Err(Invalid::new(
                "challenge.max_connections",
                format!(
                    "{} is not within 1..={MAX_CONNECTIONS_LIMIT}",
                    c.max_connections
                ),
            ));
        }
        positive("challenge.client_timeout", c.client_timeout)?;
        if c.client_timeout > CLIENT_TIMEOUT_LIMIT {
            return Err(Invalid::new(
                "challenge.client_timeout",
                "must be at most 5m: a CA validating takes seconds",
            ));
        }

        let issue = &self.chains.issue;
        if issue.challenge_weights.is_some() && issue.challenge != ChallengeChoice::Random {
            return Err(Invalid::new(
                "chains.issue.challenge_weights",
                "only used with chains.issue.challenge = \"random\"",
            ));
        }
        let used: Vec<ChallengeType> = self
            .challenge_weights()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        if used.is_empty() {
            return Err(Invalid::new(
                "chains.issue.challenge_weights",
                "every weight is 0: no challenge type left to answer with",
            ));
        }
        let serves_dns = !(c.dns_listen.is_empty() && c.doh_listen.is_empty());
        for kind in &used {
            let (key, served, needs) = match kind {
                ChallengeType::Http01 => (listeners[0], !c.http01_listen.is_empty(), "an address"),
                ChallengeType::TlsAlpn01 => {
                    (listeners[1], !c.tlsalpn01_listen.is_empty(), "an address")
                }
                ChallengeType::Dns01 => (
                    listeners[2],
                    serves_dns,
                    "an address here or in challenge.doh_listen",
                ),
            };
            if !served {
                return Err(Invalid::new(
                    key,
                    format!("chains.issue.challenge uses {kind}, which needs {needs}"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&issue.wildcards) {
            return Err(Invalid::new(
                "chains.issue.wildcards",
                format!("{} is not a share between 0 and 1", issue.wildcards),
            ));
        }
        if issue.wildcards > 0.0 && !used.contains(&ChallengeType::Dns01) {
            return Err(Invalid::new(
                "chains.issue.wildcards",
                "wildcard names can only be validated over dns-01, which chains.issue.challenge \
                 does not use",
            ));
        }
        if serves_dns {
            let zone = self.dns_zone();
            for entry in &zone.domain_addresses {
                check_domain("challenge.domain_addresses", &entry.domain)?;
                if !zone.covers(&entry.domain) {
                    return Err(Invalid::new(
                        "challenge.domain_addresses",
                        format!("{:?} is not under challenge.base_domains", entry.domain),
                    ));
                }
            }
            if !zone.covers(&registry::normalise(&issue.base_domain)) {
                return Err(Invalid::new(
                    "challenge.base_domains",
                    format!(
                        "the DNS would refuse to answer for chains.issue.base_domain {:?}",
                        issue.base_domain
                    ),
                ));
            }
            let reached = used.iter().any(|t| *t != ChallengeType::Dns01);
            if reached && zone.ipv4.is_empty() && zone.ipv6.is_empty() {
                return Err(Invalid::new(
                    "challenge.addresses_v4",
                    "the DNS needs an address (v4 or v6) to send the CA to the http-01 and \
                     tls-alpn-01 listeners",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
