//! Which resolved addresses a validation may connect to. Boulder's VA drops A/AAAA answers in
//! the IANA special-purpose registries (iana/ip.go, from iana-ipv4/ipv6-special-registry; plus
//! multicast, which no challenge server can sit on); this CA additionally accepts addresses in
//! `treat_as_public`, the stand-in for the public network Boulder's dev environment has.

use std::net::IpAddr;
use std::sync::OnceLock;

use ipnet::IpNet;

const RESERVED: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "64:ff9b:1::/48",
    "100::/64",
    "100:0:0:1::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "2620:4f:8000::/48",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

fn reserved() -> &'static [IpNet] {
    static NETS: OnceLock<Vec<IpNet>> = OnceLock::new();
    NETS.get_or_init(|| RESERVED.iter().filter_map(|n| n.parse().ok()).collect())
}

pub fn is_reserved(ip: IpAddr) -> bool {
    reserved().iter().any(|n| n.contains(&ip))
}

/// An address a validation may use.
pub fn usable(ip: IpAddr, treat_as_public: &[IpNet]) -> bool {
    !is_reserved(ip) || treat_as_public.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_unless_allowed() {
        let lo: IpAddr = "127.64.0.5".parse().unwrap();
        assert!(!usable(lo, &[]));
        assert!(usable(lo, &["127.64.0.0/16".parse().unwrap()]));
        for r in [
            "10.1.2.3",
            "192.168.1.1",
            "::1",
            "fe80::1",
            "100.64.0.1",
            "224.0.0.1",
        ] {
            assert!(is_reserved(r.parse().unwrap()), "{r}");
        }
        assert!(!is_reserved("64.112.117.122".parse().unwrap()));
        assert!(!is_reserved("2606:4700::1".parse().unwrap()));
    }
}
