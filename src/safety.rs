//! Refusal to load-test someone else's CA by accident: the well-known public ACME directories
//! (production and staging) need an explicit `--allow-public-ca`.

use url::Url;

/// Hosts of public ACME CAs, with the name shown in the refusal.
const PUBLIC_CAS: &[(&str, &str)] = &[
    ("acme-v02.api.letsencrypt.org", "Let's Encrypt production"),
    (
        "acme-staging-v02.api.letsencrypt.org",
        "Let's Encrypt staging",
    ),
    ("acme-v01.api.letsencrypt.org", "Let's Encrypt (ACME v1)"),
    (
        "acme-staging.api.letsencrypt.org",
        "Let's Encrypt staging (ACME v1)",
    ),
    ("acme.zerossl.com", "ZeroSSL"),
    (
        "dv.acme-v02.api.pki.goog",
        "Google Trust Services production",
    ),
    (
        "dv.acme-v02.test-api.pki.goog",
        "Google Trust Services staging",
    ),
    ("api.buypass.com", "Buypass production"),
    ("api.test4.buypass.no", "Buypass staging"),
    ("acme.ssl.com", "SSL.com"),
    ("acme.sectigo.com", "Sectigo"),
    ("acme.digicert.com", "DigiCert"),
    ("acme.entrust.net", "Entrust"),
    ("acme.actalis.com", "Actalis"),
];

/// Names the public CA behind `url`, if it is one (also matching sub-domains of those hosts).
pub fn public_ca(url: &Url) -> Option<&'static str> {
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    PUBLIC_CAS
        .iter()
        .find(|(ca_host, _)| host == *ca_host || host.ends_with(&format!(".{ca_host}")))
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Option<&'static str> {
        public_ca(&Url::parse(url).unwrap())
    }

    #[test]
    fn lets_encrypt_is_recognised_in_any_spelling() {
        assert_eq!(
            check("https://acme-v02.api.letsencrypt.org/directory"),
            Some("Let's Encrypt production")
        );
        assert_eq!(
            check("https://ACME-STAGING-V02.api.letsencrypt.org./directory"),
            Some("Let's Encrypt staging")
        );
    }

    #[test]
    fn private_targets_pass() {
        assert_eq!(check("https://127.0.0.1:14000/dir"), None);
        assert_eq!(check("http://boulder:4001/directory"), None);
        assert_eq!(check("https://letsencrypt.org.example.test/dir"), None);
    }
}
