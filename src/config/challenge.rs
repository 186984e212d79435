//! `[challenge]` (the challenge server's listeners, the DNS answers, the Registry's bounds) and
//! the challenge choice of `[chains.issue]`, with their validation. The listener keys need a
//! restart to change; the choice is read by every chain.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use super::{check_domain, positive, Invalid, Settings};
use crate::acme::wire::ChallengeType;
use crate::challenge::{dns, registry, ServerSettings};
use crate::units::deserialize_duration;

/// The challenge server the CA validates against.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Challenge {
    /// Addresses answering http-01 (`/.well-known/acme-challenge/{token}`).
    pub http01_listen: Vec<String>,
    /// Addresses answering tls-alpn-01 (TLS with ALPN `acme-tls/1`).
    pub tlsalpn01_listen: Vec<String>,
    /// Addresses of the embedded DNS server, UDP and TCP on each.
    pub dns_listen: Vec<String>,
    /// Domains the DNS answers for (each and every name under it); empty means
    /// `chains.issue.base_domain`.
    pub base_domains: Vec<String>,
    /// What A queries answer: the addresses the CA reaches the http-01/tls-alpn-01 listeners on.
    pub addresses_v4: Vec<String>,
    /// What AAAA queries answer. Empty by default: a CA that gets an AAAA answer may validate
    /// over IPv6 only (Pebble does), where nothing may listen.
    pub addresses_v6: Vec<String>,
    /// Entries the CA never fetched are dropped after this long.
    #[serde(deserialize_with = "deserialize_duration")]
    pub ttl: Duration,
    /// Upper bound on live challenge responses of all types; publishing beyond it fails the
    /// chain with a clear error instead of growing without limit.
    pub max_entries: usize,
}

impl Default for Challenge {
    fn default() -> Self {
        Challenge {
            http01_listen: vec!["127.0.0.1:5002".into()],
            tlsalpn01_listen: vec!["127.0.0.1:5001".into()],
            dns_listen: vec!["127.0.0.1:8053".into()],
            base_domains: Vec::new(),
            addresses_v4: vec!["127.0.0.1".into()],
            addresses_v6: Vec::new(),
            ttl: Duration::from_secs(300),
            max_entries: 10_000,
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

impl TryFrom<String> for ChallengeChoice {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        if value == "random" {
            return Ok(ChallengeChoice::Random);
        }
        ChallengeType::ALL
            .into_iter()
            .find(|kind| kind.name() == value)
            .map(ChallengeChoice::One)
            .ok_or_else(|| {
                format!(
                    "{value:?} is not a challenge choice: http-01, tls-alpn-01, dns-01 or random"
                )
            })
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

fn parse_all<T: std::str::FromStr>(key: &'static str, list: &[String]) -> Result<Vec<T>, Invalid>
where
    T::Err: std::fmt::Display,
{
    list.iter()
        .map(|item| {
            item.parse()
                .map_err(|e| (key, format!("{item:?} is not a valid address here: {e}")))
        })
        .collect()
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

    /// The challenge server's settings (validation guarantees every address parses).
    pub fn challenge_server(&self) -> ServerSettings {
        fn parsed<T: std::str::FromStr>(key: &'static str, list: &[String]) -> Vec<T>
        where
            T::Err: std::fmt::Display,
        {
            parse_all(key, list).expect("validated with the config")
        }
        let c = &self.challenge;
        ServerSettings {
            http01: parsed("challenge.http01_listen", &c.http01_listen),
            tlsalpn01: parsed("challenge.tlsalpn01_listen", &c.tlsalpn01_listen),
            dns: parsed("challenge.dns_listen", &c.dns_listen),
            zone: dns::Zone {
                base_domains: self.dns_base_domains(),
                ipv4: parsed("challenge.addresses_v4", &c.addresses_v4),
                ipv6: parsed("challenge.addresses_v6", &c.addresses_v6),
            },
            ttl: c.ttl,
            max_entries: c.max_entries,
        }
    }

    /// Checks `[challenge]` and the challenge keys of `[chains.issue]`, alone and together.
    pub(super) fn validate_challenge(&self) -> Result<(), Invalid> {
        let c = &self.challenge;
        let listeners = [
            ("challenge.http01_listen", &c.http01_listen),
            ("challenge.tlsalpn01_listen", &c.tlsalpn01_listen),
            ("challenge.dns_listen", &c.dns_listen),
        ];
        for (key, list) in listeners {
            parse_all::<SocketAddr>(key, list)?;
        }
        let v4 = parse_all::<Ipv4Addr>("challenge.addresses_v4", &c.addresses_v4)?;
        let v6 = parse_all::<Ipv6Addr>("challenge.addresses_v6", &c.addresses_v6)?;
        for domain in &c.base_domains {
            check_domain(domain).map_err(|e| ("challenge.base_domains", e))?;
        }
        positive("challenge.ttl", c.ttl)?;
        if c.max_entries == 0 {
            return Err(("challenge.max_entries", "must be at least 1".into()));
        }

        let issue = &self.chains.issue;
        if issue.challenge_weights.is_some() && issue.challenge != ChallengeChoice::Random {
            return Err((
                "chains.issue.challenge_weights",
                "only used with chains.issue.challenge = \"random\"".into(),
            ));
        }
        let used: Vec<ChallengeType> = self
            .challenge_weights()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        if used.is_empty() {
            return Err((
                "chains.issue.challenge_weights",
                "every weight is 0: no challenge type left to answer with".into(),
            ));
        }
        for kind in &used {
            let (key, list) = match kind {
                ChallengeType::Http01 => listeners[0],
                ChallengeType::TlsAlpn01 => listeners[1],
                ChallengeType::Dns01 => listeners[2],
            };
            if list.is_empty() {
                return Err((
                    key,
                    format!("chains.issue.challenge uses {kind}, which needs at least one address"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&issue.wildcards) {
            return Err((
                "chains.issue.wildcards",
                format!("{} is not a share between 0 and 1", issue.wildcards),
            ));
        }
        if issue.wildcards > 0.0 && !used.contains(&ChallengeType::Dns01) {
            return Err((
                "chains.issue.wildcards",
                "wildcard names can only be validated over dns-01, which chains.issue.challenge \
                 does not use"
                    .into(),
            ));
        }
        if !c.dns_listen.is_empty() {
            let zone = dns::Zone {
                base_domains: self.dns_base_domains(),
                ipv4: v4,
                ipv6: v6,
            };
            if !zone.covers(&registry::normalise(&issue.base_domain)) {
                return Err((
                    "challenge.base_domains",
                    format!(
                        "the DNS would answer NXDOMAIN for chains.issue.base_domain {:?}",
                        issue.base_domain
                    ),
                ));
            }
            let reached = used.iter().any(|t| *t != ChallengeType::Dns01);
            if reached && zone.ipv4.is_empty() && zone.ipv6.is_empty() {
                return Err((
                    "challenge.addresses_v4",
                    "the DNS needs an address (v4 or v6) to send the CA to the http-01 and \
                     tls-alpn-01 listeners"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(contents: &str, env: &[(&str, &str)]) -> Result<Settings, String> {
        crate::config::tests::load(contents, env).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_start_every_listener_and_answer_the_issue_domain() {
        let s = load("", &[]).unwrap();
        let server = s.challenge_server();
        assert_eq!(server.tlsalpn01, ["127.0.0.1:5001".parse().unwrap()]);
        assert_eq!(server.dns, ["127.0.0.1:8053".parse().unwrap()]);
        assert_eq!(server.zone.ipv4, [Ipv4Addr::LOCALHOST]);
        assert_eq!(server.max_entries, 10_000);
        assert_eq!(s.challenge_weights(), [(ChallengeType::Http01, 1)]);
    }

    #[test]
    fn random_with_weights_from_a_toml_table() {
        let s = load(
            "[chains.issue]\nchallenge = \"random\"\n\
             challenge_weights = { \"http-01\" = 2, \"dns-01\" = 1 }\nwildcards = 0.25\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            s.challenge_weights(),
            [(ChallengeType::Http01, 2), (ChallengeType::Dns01, 1)]
        );
        assert_eq!(s.chains.issue.wildcards, 0.25);
        let all = load("[chains.issue]\nchallenge = \"random\"\n", &[]).unwrap();
        assert_eq!(all.challenge_weights().len(), 3, "all types weigh 1");
    }

    #[test]
    fn environment_sets_the_choice_and_the_lists() {
        let s = load(
            "",
            &[
                ("WEC_CHAINS__ISSUE__CHALLENGE", "tls-alpn-01"),
                ("WEC_CHALLENGE__DNS_LISTEN", "127.0.0.1:9053,[::1]:9053"),
                ("WEC_CHALLENGE__ADDRESSES_V6", "::1"),
                ("WEC_CHALLENGE__BASE_DOMAINS", "wile.test,Other.Test"),
                ("WEC_CHALLENGE__MAX_ENTRIES", "50"),
            ],
        )
        .unwrap();
        assert_eq!(s.challenge_weights(), [(ChallengeType::TlsAlpn01, 1)]);
        let server = s.challenge_server();
        assert_eq!(server.dns.len(), 2);
        assert_eq!(server.zone.ipv6, [Ipv6Addr::LOCALHOST]);
        assert_eq!(server.zone.base_domains, ["wile.test", "other.test"]);
        assert_eq!(server.max_entries, 50);
    }

    #[test]
    fn bad_challenge_settings_name_the_key_and_the_reason() {
        let cases = [
            (
                "[challenge]\ntlsalpn01_listen = [\"127.0.0.1\"]\n",
                "`challenge.tlsalpn01_listen`: \"127.0.0.1\"",
            ),
            (
                "[challenge]\naddresses_v4 = [\"::1\"]\n",
                "`challenge.addresses_v4`",
            ),
            (
                "[challenge]\nbase_domains = [\"bad domain\"]\n",
                "`challenge.base_domains`",
            ),
            (
                "[challenge]\nmax_entries = 0\n",
                "`challenge.max_entries`: must be at least 1",
            ),
            (
                "[chains.issue]\nchallenge = \"dns\"\n",
                "\"dns\" is not a challenge choice: http-01, tls-alpn-01, dns-01 or random",
            ),
            (
                "[chains.issue]\nchallenge = \"random\"\nchallenge_weights = { http01 = 1 }\n",
                "unknown field `http01`",
            ),
            (
                "[chains.issue]\nchallenge_weights = { \"dns-01\" = 1 }\n",
                "`chains.issue.challenge_weights`: only used with",
            ),
            (
                "[chains.issue]\nchallenge = \"random\"\nchallenge_weights = { \"dns-01\" = 0 }\n",
                "`chains.issue.challenge_weights`: every weight is 0",
            ),
            (
                "[challenge]\ntlsalpn01_listen = []\n[chains.issue]\nchallenge = \"tls-alpn-01\"\n",
                "`challenge.tlsalpn01_listen`: chains.issue.challenge uses tls-alpn-01",
            ),
            (
                "[challenge]\ndns_listen = []\n[chains.issue]\nchallenge = \"random\"\n",
                "`challenge.dns_listen`: chains.issue.challenge uses dns-01",
            ),
            (
                "[chains.issue]\nwildcards = 0.5\n",
                "`chains.issue.wildcards`: wildcard names can only be validated over dns-01",
            ),
            (
                "[chains.issue]\nchallenge = \"dns-01\"\nwildcards = 1.5\n",
                "`chains.issue.wildcards`: 1.5 is not a share",
            ),
            (
                "[challenge]\nbase_domains = [\"other.test\"]\n",
                "`challenge.base_domains`: the DNS would answer NXDOMAIN",
            ),
            (
                "[challenge]\naddresses_v4 = []\n",
                "`challenge.addresses_v4`: the DNS needs an address",
            ),
        ];
        for (toml, expected) in cases {
            let err = load(toml, &[]).unwrap_err();
            assert!(err.contains(expected), "{toml}\n=> {err}");
        }
    }

    #[test]
    fn listeners_may_be_off_when_their_type_is_unused() {
        let s = load(
            "[challenge]\ntlsalpn01_listen = []\ndns_listen = []\naddresses_v4 = []\n",
            &[],
        )
        .unwrap();
        let server = s.challenge_server();
        assert!(server.tlsalpn01.is_empty() && server.dns.is_empty());
        let dns_only = load(
            "[challenge]\nhttp01_listen = []\ntlsalpn01_listen = []\naddresses_v4 = []\n\
             [chains.issue]\nchallenge = \"dns-01\"\n",
            &[],
        );
        assert!(dns_only.is_ok(), "{dns_only:?}");
    }
}
