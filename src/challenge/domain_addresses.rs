//! Addresses the DNS answers for the names under one domain instead of the zone's own
//! (`challenge.domain_addresses`): how one DNS sends the CA to the right shard when shards
//! listen on different addresses, each ordering names under its own label (`s2.wile.test` →
//! shard 2's address). The most specific domain wins; names under none get the zone's.

use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::RData;
use serde::Deserialize;

use super::dns::Zone;
use super::registry::normalise;

/// One entry of `challenge.domain_addresses`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainAddresses {
    /// The domain; it and every name under it answer `addresses`.
    pub domain: String,
    /// IPv4 addresses answer A queries, IPv6 ones AAAA queries.
    pub addresses: Vec<IpAddr>,
}

impl DomainAddresses {
    /// As configured, the domain normalised (lower case, no trailing dot).
    pub fn normalised(&self) -> DomainAddresses {
        DomainAddresses {
            domain: normalise(&self.domain),
            addresses: self.addresses.clone(),
        }
    }
}

/// Whether `name` is `domain` or under it (both normalised).
pub fn under(name: &str, domain: &str) -> bool {
    name == domain
        || name
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

impl Zone {
    /// The entry of `domain_addresses` for `name`: the longest domain it is under.
    fn entry_for(&self, name: &str) -> Option<&DomainAddresses> {
        self.domain_addresses
            .iter()
            .filter(|entry| under(name, &entry.domain))
            .max_by_key(|entry| entry.domain.len())
    }

    /// The A records of `name` (normalised).
    pub(super) fn a_records(&self, name: &str) -> Vec<RData> {
        match self.entry_for(name) {
            Some(entry) => entry
                .addresses
                .iter()
                .filter_map(|ip| match ip {
                    IpAddr::V4(ip) => Some(RData::A(A(*ip))),
                    IpAddr::V6(_) => None,
                })
                .collect(),
            None => self.ipv4.iter().map(|ip| RData::A(A(*ip))).collect(),
        }
    }

    /// The AAAA records of `name` (normalised).
    pub(super) fn aaaa_records(&self, name: &str) -> Vec<RData> {
        match self.entry_for(name) {
            Some(entry) => entry
                .addresses
                .iter()
                .filter_map(|ip| match ip {
                    IpAddr::V6(ip) => Some(RData::AAAA(AAAA(*ip))),
                    IpAddr::V4(_) => None,
                })
                .collect(),
            None => self.ipv6.iter().map(|ip| RData::AAAA(AAAA(*ip))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn entry(domain: &str, addresses: &[&str]) -> DomainAddresses {
        DomainAddresses {
            domain: domain.into(),
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn the_most_specific_domain_answers() {
        let zone = Zone {
            base_domains: vec!["wile.test".into()],
            ipv4: vec![Ipv4Addr::LOCALHOST],
            ipv6: vec![],
            domain_addresses: vec![
                entry("s2.wile.test", &["127.0.0.3"]),
                entry("s3.wile.test", &["127.0.0.4", "::1"]),
                entry("x.s3.wile.test", &["127.0.0.9"]),
            ],
        };
        let a = |name: &str| zone.a_records(name);
        assert_eq!(
            a("abc.s2.wile.test"),
            [RData::A(A(Ipv4Addr::new(127, 0, 0, 3)))]
        );
        assert_eq!(
            a("s2.wile.test"),
            [RData::A(A(Ipv4Addr::new(127, 0, 0, 3)))]
        );
        assert_eq!(
            a("abc.s3.wile.test"),
            [RData::A(A(Ipv4Addr::new(127, 0, 0, 4)))]
        );
        assert_eq!(
            a("y.x.s3.wile.test"),
            [RData::A(A(Ipv4Addr::new(127, 0, 0, 9)))]
        );
        assert_eq!(a("abc.s1.wile.test"), [RData::A(A(Ipv4Addr::LOCALHOST))]);
        assert_eq!(a("abcs2.wile.test"), [RData::A(A(Ipv4Addr::LOCALHOST))]);
        assert_eq!(
            zone.aaaa_records("abc.s3.wile.test"),
            [RData::AAAA(AAAA(Ipv6Addr::LOCALHOST))]
        );
        assert!(zone.aaaa_records("abc.s2.wile.test").is_empty());
        assert!(zone.aaaa_records("abc.wile.test").is_empty());
    }

    #[test]
    fn domains_are_normalised() {
        assert_eq!(
            entry("S2.Wile.Test.", &["127.0.0.3"]).normalised().domain,
            "s2.wile.test"
        );
        assert!(under("a.b.test", "b.test") && !under("ab.test", "b.test"));
    }

    #[test]
    fn read_from_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let load = |toml: &str| {
            let path = dir.path().join("wec.toml");
            std::fs::write(&path, toml).unwrap();
            crate::config::Settings::load_with_env(Some(&path), Some(Default::default()))
        };
        let settings = load(
            "[challenge]\nbase_domains = [\"wile.test\"]\n\
             domain_addresses = [{ domain = \"S2.wile.test\", addresses = [\"127.0.0.3\"] }]\n",
        )
        .unwrap();
        assert_eq!(
            settings.challenge_server().zone.domain_addresses,
            [entry("s2.wile.test", &["127.0.0.3"])]
        );
        let outside =
            load("[challenge]\ndomain_addresses = [{ domain = \"other.test\", addresses = [] }]\n")
                .unwrap_err()
                .to_string();
        assert!(
            outside.contains("`challenge.domain_addresses`: \"other.test\" is not under"),
            "{outside}"
        );
        let bad = load(
            "[challenge]\ndomain_addresses = [{ domain = \"wile.test\", addresses = [\"x\"] }]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains("challenge.domain_addresses"), "{bad}");
    }
}
