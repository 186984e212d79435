//! Which names the CA issues for, as Boulder's policy authority (policy/pa.go) decides: DNS
//! syntax, at most 10 labels, an ICANN top-level domain (so `.test`, `.localhost`, `.invalid`,
//! `.example`, `.local`, `.internal` are refused), a wildcard only as the whole first label,
//! and a suffix blocklist (test/ident-policy.yaml). Refusals are rejectedIdentifier, with one
//! subproblem per name when several fail (RFC 8555 §6.7.1).

use std::collections::HashSet;

use serde_json::json;

use crate::problem::{Kind, Problem, SubProblem};

static TLDS: &str = include_str!("../data/icann_tlds.txt");

pub struct Policy {
    tlds: HashSet<&'static str>,
    blocked: Vec<String>,
}

type Refusal = (Kind, &'static str);

/// Why a contact email's domain is refused.
#[derive(Debug, thiserror::Error)]
pub enum BadEmailDomain {
    #[error("contact email has invalid domain: {0}")]
    Invalid(&'static str),
    #[error("contact email has forbidden domain {0:?}")]
    Forbidden(String),
}

const fn malformed(detail: &'static str) -> Refusal {
    (Kind::Malformed, detail)
}

const NON_PUBLIC: Refusal = malformed("Domain name does not end with a valid public suffix (TLD)");
const INVALID_CHAR: Refusal = malformed("Domain name contains an invalid character");
const FORBIDDEN: Refusal = (
    Kind::RejectedIdentifier,
    "The ACME server refuses to issue a certificate for this domain name, because it is forbidden by policy",
);

impl Policy {
    pub fn new(blocked: &[String]) -> Policy {
        Policy {
            tlds: TLDS
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect(),
            blocked: blocked.iter().map(|b| b.to_ascii_lowercase()).collect(),
        }
    }

    fn has_icann_tld(&self, name: &str) -> bool {
        name.rsplit('.')
            .next()
            .is_some_and(|tld| self.tlds.contains(tld))
    }

    /// Boulder `validNonWildcardDomain`.
    fn plain_domain(&self, name: &str) -> Result<(), Refusal> {
        if name.is_empty() {
            return Err(malformed("Identifier value (name) is empty"));
        }
        if name.starts_with("*.") {
            return Err(malformed("Wildcard domain names are not supported"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return Err(INVALID_CHAR);
        }
        if name.len() > 253 {
            return Err(malformed("Domain name is longer than 253 bytes"));
        }
        if name.parse::<std::net::IpAddr>().is_ok() {
            return Err(malformed(
                "Identifier type is DNS but value is an IP address",
            ));
        }
        if name.ends_with('.') {
            return Err(malformed("Domain name ends in a dot"));
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() > 10 {
            return Err(malformed("Domain name has more than 10 labels (parts)"));
        }
        if labels.len() < 2 {
            return Err(malformed("Domain name needs at least one dot"));
        }
        for label in &labels {
            if label.is_empty() {
                return Err(malformed("Domain name can not have two dots in a row"));
            }
            if label.len() > 63 {
                return Err(malformed(
                    "Domain has a label (component between dots) longer than 63 bytes",
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(INVALID_CHAR);
            }
            if label.len() >= 4 && &label[2..4] == "--" && !label.starts_with("xn") {
                return Err((
                    Kind::RejectedIdentifier,
                    "Domain name contains an invalid label in a reserved format (R-LDH: '??--')",
                ));
            }
        }
        if !self.has_icann_tld(name) {
            return Err(NON_PUBLIC);
        }
        Ok(())
    }

    /// Boulder `ValidDomain` (wildcards) then the blocklist.
    fn domain(&self, name: &str) -> Result<(), Refusal> {
        match name.matches('*').count() {
            0 => self.plain_domain(name)?,
            1 => {
                let Some(base) = name.strip_prefix("*.") else {
                    return Err(malformed(
                        "Domain name contains an invalid wildcard. A wildcard is only permitted \
                         before the first dot in a domain name",
                    ));
                };
                if !self.has_icann_tld(base) {
                    return Err(NON_PUBLIC);
                }
                if !base.contains('.') {
                    return Err(malformed("Domain name is a wildcard for an ICANN TLD"));
                }
                self.plain_domain(base)?;
            }
            _ => return Err(malformed("Domain name has more than one wildcard")),
        }
        let base = name.trim_start_matches("*.");
        let blocked = self.blocked.iter().any(|b| {
            base == b
                || base
                    .strip_suffix(b.as_str())
                    .is_some_and(|p| p.ends_with('.'))
        });
        if blocked {
            return Err(FORBIDDEN);
        }
        Ok(())
    }

    /// Boulder `ValidEmail`'s domain rules: a valid public DNS name other than the
    /// example domains.
    pub fn email_domain(&self, domain: &str) -> Result<(), BadEmailDomain> {
        self.plain_domain(domain)
            .map_err(|(_, detail)| BadEmailDomain::Invalid(detail))?;
        if ["example.com", "example.net", "example.org"].contains(&domain) {
            return Err(BadEmailDomain::Forbidden(domain.to_owned()));
        }
        Ok(())
    }

    /// Boulder `WillingToIssue` over normalized names: `Ok` or one rejectedIdentifier problem.
    pub fn check(&self, names: &[String]) -> Result<(), Problem> {
        let refusals: Vec<(&String, Refusal)> = names
            .iter()
            .filter_map(|n| self.domain(n).err().map(|r| (n, r)))
            .collect();
        let Some(&(first, (_, detail))) = refusals.first() else {
            return Ok(());
        };
        if refusals.len() == 1 {
            return Err(Problem::new(
                Kind::RejectedIdentifier,
                format!("Cannot issue for {first:?}: {detail}"),
            ));
        }
        let mut p = Problem::new(
            Kind::RejectedIdentifier,
            format!(
                "Cannot issue for {first:?}: {detail} (and {} more problems. Refer to sub-problems for more information.)",
                refusals.len() - 1
            ),
        );
        p.sub = refusals
            .iter()
            .map(|(name, (kind, detail))| {
                let base = Problem::new(*kind, *detail);
                SubProblem {
                    kind: *kind,
                    detail: detail.to_string(),
                    status: base.status,
                    identifier: json!({"type": "dns", "value": name}),
                }
            })
            .collect();
        Err(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(names: &[&str]) -> Result<(), Problem> {
        let p = Policy::new(&crate::config::Config::default().blocked_names);
        p.check(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn boulder_dev_policy() {
        assert!(check(&["a.com", "*.b.com", "xn--bcher-kva.com"]).is_ok());
        for bad in [
            "a.test",
            "a.localhost",
            "a.invalid",
            "a.example",
            "a.local",
            "a.internal",
            "x.example.org",
            "x.example.net",
            "com",
            "*.com",
            "a.*.com",
            "a..com",
            "-a.com",
            "127.0.0.1",
            "ab--c.com",
            "a_b.com",
        ] {
            let p = check(&[bad]).unwrap_err();
            assert_eq!(p.kind, Kind::RejectedIdentifier, "{bad}");
        }
        let many = check(&["a.test", "b.test"]).unwrap_err();
        assert_eq!(many.sub.len(), 2);
        assert!(many
            .detail
            .starts_with("Cannot issue for \"a.test\": Domain name does not end"));
    }
}
