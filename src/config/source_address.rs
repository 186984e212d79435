//! `target.source_address_header` and `target.source_addresses`: each attacker presents an
//! address of its own in a header, so a CA that keys per-client limits on it (Boulder's WFE
//! takes the client IP from `X-Real-IP` when present, for `NewRegistrationsPerIPAddress`) sees
//! many subscribers instead of one load generator.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use awc::http::header::HeaderName;

/// An IP range in CIDR notation (`198.18.0.0/15`, `2001:db8::/64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a string is not a [`Cidr`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidrError {
    #[error("{0:?} is not in CIDR notation (address/prefix)")]
    NoPrefix(String),
    #[error("{0:?} is not an IP address: {1}")]
    Address(String, std::net::AddrParseError),
    #[error("{0:?} is not a prefix length between 0 and {1}")]
    Prefix(String, u8),
}

impl std::str::FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| CidrError::NoPrefix(s.to_owned()))?;
        let network: IpAddr = ip
            .parse()
            .map_err(|e| CidrError::Address(ip.to_owned(), e))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= bits)
            .ok_or_else(|| CidrError::Prefix(prefix.to_owned(), bits))?;
        Ok(Cidr { network, prefix })
    }
}

impl TryFrom<String> for Cidr {
    type Error = CidrError;

    fn try_from(s: String) -> Result<Self, CidrError> {
        s.parse()
    }
}

impl Cidr {
    /// The `n`-th address of the range, wrapping around: the same `n` always gets the same one.
    pub fn nth(&self, n: u64) -> IpAddr {
        match self.network {
            IpAddr::V4(ip) => {
                let host_bits = 32 - u32::from(self.prefix);
                let mask = u32::MAX.checked_shl(host_bits).unwrap_or(0);
                let size = 1u64 << host_bits;
                let offset = (n % size) as u32;
                IpAddr::V4(Ipv4Addr::from((u32::from(ip) & mask) | offset))
            }
            IpAddr::V6(ip) => {
                let host_bits = 128 - u32::from(self.prefix);
                let mask = u128::MAX.checked_shl(host_bits).unwrap_or(0);
                let offset = match 1u128.checked_shl(host_bits) {
                    Some(size) if host_bits < 128 => u128::from(n) % size,
                    _ => u128::from(n),
                };
                IpAddr::V6(Ipv6Addr::from((u128::from(ip) & mask) | offset))
            }
        }
    }
}

/// Headers the tool sets itself or that change how the request is read: never overridden.
const RESERVED: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "accept",
    "accept-encoding",
    "user-agent",
    "connection",
    "transfer-encoding",
    "authorization",
    "replay-nonce",
];

/// A header name the tool may set (`target.source_address_header`): an HTTP token (RFC 9110
/// §5.6.2) it does not use itself, parsed at load so every request can carry it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct SourceHeader(HeaderName);

/// Why a string is not a [`SourceHeader`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("{0:?} is not an HTTP header name")]
    NotAName(String),
    #[error("{0:?} is a header the tool sets itself")]
    Reserved(String),
}

impl std::str::FromStr for SourceHeader {
    type Err = HeaderError;

    fn from_str(name: &str) -> Result<Self, HeaderError> {
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || name.len() > 64 || !name.bytes().all(token) {
            return Err(HeaderError::NotAName(name.to_owned()));
        }
        if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(HeaderError::Reserved(name.to_owned()));
        }
        HeaderName::try_from(name)
            .map(SourceHeader)
            .map_err(|_| HeaderError::NotAName(name.to_owned()))
    }
}

impl TryFrom<String> for SourceHeader {
    type Error = HeaderError;

    fn try_from(name: String) -> Result<Self, HeaderError> {
        name.parse()
    }
}

impl SourceHeader {
    pub fn name(&self) -> &HeaderName {
        &self.0
    }
}

/// Spreads attacker ids over a range (a multiplicative hash), so neighbours get distant
/// addresses and a small range is still used evenly.
pub fn attacker_slot(id: usize) -> u64 {
    (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_give_addresses_inside_them() {
        let v4: Cidr = "198.18.7.9/15".parse().unwrap();
        assert_eq!(v4.nth(0), "198.18.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(v4.nth(65_536 + 3), "198.19.0.3".parse::<IpAddr>().unwrap());
        assert_eq!(v4.nth(131_072), v4.nth(0), "wraps around");
        let one: Cidr = "64.112.117.5/32".parse().unwrap();
        assert_eq!(one.nth(12345), "64.112.117.5".parse::<IpAddr>().unwrap());
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert_eq!(all.nth(1), "0.0.0.1".parse::<IpAddr>().unwrap());
        let v6: Cidr = "2001:db8::/64".parse().unwrap();
        assert_eq!(v6.nth(5), "2001:db8::5".parse::<IpAddr>().unwrap());
        let whole: Cidr = "::/0".parse().unwrap();
        assert_eq!(whole.nth(7), "::7".parse::<IpAddr>().unwrap());
        for bad in ["198.18.0.0", "198.18.0.0/33", "x/8", "::/129", "1.2.3.4/-1"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn header_names_are_tokens_the_tool_does_not_set() {
        let header: SourceHeader = "X-Real-IP".parse().unwrap();
        assert_eq!(header.name(), "x-real-ip");
        assert!("X-Forwarded-For".parse::<SourceHeader>().is_ok());
        for bad in ["", "X Real", "Host", "content-type", "X-\u{e9}", "A:b"] {
            assert!(bad.parse::<SourceHeader>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn attackers_spread_over_a_small_range() {
        let range: Cidr = "10.0.0.0/28".parse().unwrap();
        let used: std::collections::HashSet<IpAddr> =
            (0..64).map(|id| range.nth(attacker_slot(id))).collect();
        assert!(used.len() >= 12, "{used:?}");
    }
}
