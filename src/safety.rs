//! What keeps the tool from hurting anyone by accident: the refusal to load-test a public CA
//! (every URL the tool will contact is checked, not only the directory), and the types that
//! keep secrets out of logs, errors and reports (URLs with credentials, tokens).

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use url::Url;

/// Directory hosts of public ACME CAs, production and staging, as the CAs and the common
/// clients (acme.sh, lego, Ansible's acme modules) document them. A name matches itself and
/// every name under it.
const DIRECTORY_HOSTS: &[(&str, &str)] = &[
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
    ("acme.zerossl.com", "ZeroSSL production"),
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
    ("acme.ssl.com", "SSL.com production"),
    ("acme.sectigo.com", "Sectigo production"),
    ("acme-qa.secure.trust-provider.com", "Sectigo QA"),
    ("one.digicert.com", "DigiCert production"),
    ("one.us.digicert.com", "DigiCert production (US)"),
    ("one.nl.digicert.com", "DigiCert production (EU)"),
    ("one.ch.digicert.com", "DigiCert production (EU)"),
    ("one.digicert.co.jp", "DigiCert production (Japan)"),
    ("acme.digicert.com", "DigiCert"),
    (
        "emea.acme.atlas.globalsign.com",
        "GlobalSign Atlas production",
    ),
    ("acme.harica.gr", "HARICA production"),
    ("acme-api.actalis.com", "Actalis production"),
    ("acme.actalis.com", "Actalis"),
    ("acme.entrust.net", "Entrust"),
    ("acme.litessl.com", "LiteSSL production"),
    ("acmepro.freessl.cn", "FreeSSL production"),
];

/// The same CAs' own domains, so a host of theirs not listed above (a new API version, another
/// region) is recognised too.
const CA_DOMAINS: &[(&str, &str)] = &[
    ("letsencrypt.org", "Let's Encrypt"),
    ("pki.goog", "Google Trust Services"),
    ("zerossl.com", "ZeroSSL"),
    ("buypass.com", "Buypass"),
    ("buypass.no", "Buypass"),
    ("ssl.com", "SSL.com"),
    ("sectigo.com", "Sectigo"),
    ("trust-provider.com", "Sectigo"),
    ("digicert.com", "DigiCert"),
    ("digicert.co.jp", "DigiCert"),
    ("globalsign.com", "GlobalSign"),
    ("harica.gr", "HARICA"),
    ("actalis.com", "Actalis"),
    ("entrust.net", "Entrust"),
    ("litessl.com", "LiteSSL"),
    ("freessl.cn", "FreeSSL"),
];

/// How long the addresses of the public CAs' hosts may take to resolve when a target is an IP
/// literal: without DNS the check passes rather than holding the start.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// The special-purpose range `ip` is in (RFC 6890 and its successors), if any: what Boulder's
/// VA refuses to validate against.
pub fn reserved_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, c, _] = ip.octets();
            match (a, b, c) {
                _ if ip.is_loopback() => Some("loopback"),
                _ if ip.is_private() => Some("private, RFC 1918"),
                _ if ip.is_link_local() => Some("link-local"),
                _ if ip.is_unspecified() || a == 0 => Some("this network"),
                _ if ip.is_multicast() || a >= 240 => Some("multicast or reserved"),
                (100, 64..=127, _) => Some("shared address space, RFC 6598"),
                (192, 0, 0) => Some("IETF protocol assignments"),
                (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Some("documentation"),
                (198, 18..=19, _) => Some("benchmarking, RFC 2544"),
                _ => None,
            }
        }
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            match first {
                _ if ip.is_loopback() || ip.is_unspecified() => Some("loopback or unspecified"),
                _ if ip.to_ipv4_mapped().is_some() => Some("IPv4-mapped"),
                0xfc00..=0xfdff => Some("unique local"),
                0xfe80..=0xfebf => Some("link-local"),
                0xff00..=0xffff => Some("multicast"),
                0x2001 if ip.segments()[1] == 0xdb8 => Some("documentation"),
                _ => None,
            }
        }
    }
}

/// A URL the tool would contact that belongs to a public CA.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "refusing to load-test {ca} ({what} {url}): this is a public CA; pass --allow-public-ca \
     (or set target.allow_public_ca) only if you have its operator's permission"
)]
pub struct PublicCaError {
    pub ca: &'static str,
    what: String,
    /// Shown with its credentials masked.
    url: String,
}

/// Names the public CA whose host `host` is (a name: itself or a name under a listed one).
fn public_ca_named(host: &str) -> Option<&'static str> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    DIRECTORY_HOSTS
        .iter()
        .chain(CA_DOMAINS)
        .find(|(ca_host, _)| host == *ca_host || host.ends_with(&format!(".{ca_host}")))
        .map(|(_, name)| *name)
}

/// Names the public CA behind `url`, if it is one: by name, or for an IP literal in a public
/// range, by the addresses `resolve` gives for the CAs' hosts.
pub fn public_ca_with(
    url: &Url,
    resolve: impl FnOnce(&[&'static str]) -> HashMap<&'static str, Vec<IpAddr>>,
) -> Option<&'static str> {
    let ip = match url.host()? {
        url::Host::Domain(name) => return public_ca_named(name),
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
    };
    if reserved_range(ip).is_some() {
        return None;
    }
    // Only the directory hosts: the CAs' bare domains are their web sites.
    let hosts: Vec<&'static str> = DIRECTORY_HOSTS.iter().map(|(host, _)| *host).collect();
    let addresses = resolve(&hosts);
    hosts
        .iter()
        .find(|host| addresses.get(*host).is_some_and(|ips| ips.contains(&ip)))
        .and_then(|host| public_ca_named(host))
}

/// Refuses `url` (`what` says where it comes from) if it belongs to a public CA; IP literals
/// are compared with the CAs' hosts resolved now, within a few seconds.
pub fn check(what: &str, url: &Url) -> Result<(), PublicCaError> {
    match public_ca_with(url, resolve_bounded) {
        Some(ca) => Err(PublicCaError {
            ca,
            what: what.to_owned(),
            url: redacted(url),
        }),
        None => Ok(()),
    }
}

/// The addresses of `hosts`, each looked up on a thread of its own, as many as answered
/// within [`RESOLVE_TIMEOUT`] (a lookup still running then ends on its own, unread).
fn resolve_bounded(hosts: &[&'static str]) -> HashMap<&'static str, Vec<IpAddr>> {
    let (tx, rx) = mpsc::channel();
    for host in hosts {
        let (tx, host) = (tx.clone(), *host);
        let spawned = std::thread::Builder::new()
            .name("resolve".into())
            .spawn(move || {
                let ips = (host, 443)
                    .to_socket_addrs()
                    .map(|addrs| addrs.map(|a| a.ip()).collect())
                    .unwrap_or_default();
                let _ = tx.send((host, ips));
            });
        if spawned.is_err() {
            break;
        }
    }
    drop(tx);
    let deadline = Instant::now() + RESOLVE_TIMEOUT;
    let mut found = HashMap::new();
    while let Ok((host, ips)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        found.insert(host, ips);
    }
    found
}

/// `url` as it may be shown: its user name and password replaced by `***`.
pub fn redacted(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    let _ = shown.set_password(None);
    let _ = shown.set_username("***");
    shown.to_string()
}

/// An http(s) URL with a host, parsed once at load. It shows (`Display`, `Debug`) without its
/// credentials; [`HttpUrl::as_str`] is the URL itself, for the requests.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct HttpUrl(Url);

/// Why a string is not an [`HttpUrl`]. The input is never quoted: it may hold a password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HttpUrlError {
    #[error("not a URL: {0}")]
    Parse(url::ParseError),
    #[error("{0} is not an http(s) URL with a host")]
    NotHttp(String),
}

impl std::str::FromStr for HttpUrl {
    type Err = HttpUrlError;

    fn from_str(s: &str) -> Result<Self, HttpUrlError> {
        let url = Url::parse(s).map_err(HttpUrlError::Parse)?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(HttpUrlError::NotHttp(redacted(&url)));
        }
        Ok(HttpUrl(url))
    }
}

impl TryFrom<String> for HttpUrl {
    type Error = HttpUrlError;

    fn try_from(s: String) -> Result<Self, HttpUrlError> {
        s.parse()
    }
}

impl HttpUrl {
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The whole URL, credentials included: for making requests, never for showing.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// So that `&HttpUrl` goes wherever a request takes `&str`.
impl std::ops::Deref for HttpUrl {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redacted(&self.0))
    }
}

impl std::fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpUrl({self})")
    }
}

/// A secret from the config (the control API's token): compared, never shown.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A command-line value taken as it is: it is parsed where it is used, by code whose errors
    /// never quote it (clap's would).
    pub fn from_arg(value: &str) -> Result<Secret, std::convert::Infallible> {
        Ok(Secret(value.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_url(url: &str) -> Option<&'static str> {
        public_ca_with(&Url::parse(url).unwrap(), |_| HashMap::new())
    }

    #[test]
    fn lets_encrypt_is_recognised_in_any_spelling() {
        assert_eq!(
            check_url("https://acme-v02.api.letsencrypt.org/directory"),
            Some("Let's Encrypt production")
        );
        assert_eq!(
            check_url("https://ACME-STAGING-V02.api.letsencrypt.org./directory"),
            Some("Let's Encrypt staging")
        );
        assert_eq!(
            check_url("https://acme-v03.api.letsencrypt.org/directory"),
            Some("Let's Encrypt"),
            "a host of the CA's domain not listed is still the CA's"
        );
    }

    #[test]
    fn the_public_acme_cas_people_use_are_recognised() {
        for (url, ca) in [
            ("https://acme.zerossl.com/v2/DV90", "ZeroSSL production"),
            (
                "https://dv.acme-v02.api.pki.goog/directory",
                "Google Trust Services production",
            ),
            (
                "https://dv.acme-v02.test-api.pki.goog/directory",
                "Google Trust Services staging",
            ),
            (
                "https://api.buypass.com/acme/directory",
                "Buypass production",
            ),
            (
                "https://api.test4.buypass.no/acme/directory",
                "Buypass staging",
            ),
            ("https://acme.ssl.com/sslcom-dv-ecc", "SSL.com production"),
            ("https://acme.sectigo.com/v2/DV", "Sectigo production"),
            (
                "https://one.digicert.com/mpki/api/v1/acme/v2/directory",
                "DigiCert production",
            ),
            (
                "https://emea.acme.atlas.globalsign.com/directory",
                "GlobalSign Atlas production",
            ),
            (
                "https://acme.harica.gr/alias/directory",
                "HARICA production",
            ),
            (
                "https://acme-api.actalis.com/acme/directory",
                "Actalis production",
            ),
        ] {
            assert_eq!(check_url(url), Some(ca), "{url}");
        }
    }

    #[test]
    fn private_targets_pass() {
        assert_eq!(check_url("https://127.0.0.1:14000/dir"), None);
        assert_eq!(check_url("http://boulder:4001/directory"), None);
        assert_eq!(check_url("https://letsencrypt.org.example.test/dir"), None);
        assert_eq!(check_url("https://notssl.com/dir"), None);
    }

    /// An IP literal is the CA's when one of its directory hosts resolves to it; private and
    /// loopback addresses are never looked up.
    #[test]
    fn ip_literals_of_public_cas_are_recognised() {
        let le: IpAddr = "8.8.4.4".parse().unwrap();
        let resolve = |hosts: &[&'static str]| {
            assert!(hosts.contains(&"acme-v02.api.letsencrypt.org"), "{hosts:?}");
            assert!(
                !hosts.contains(&"letsencrypt.org"),
                "web sites are not asked for"
            );
            HashMap::from([("acme-v02.api.letsencrypt.org", vec![le])])
        };
        let url = Url::parse("https://8.8.4.4/directory").unwrap();
        assert_eq!(
            public_ca_with(&url, resolve),
            Some("Let's Encrypt production")
        );
        let other = Url::parse("https://8.8.8.8/directory").unwrap();
        assert_eq!(public_ca_with(&other, resolve), None);
        let private = Url::parse("https://10.0.0.1/directory").unwrap();
        assert_eq!(
            public_ca_with(&private, |_| panic!("a private address is not looked up")),
            None
        );
    }

    #[test]
    fn reserved_ranges_are_named_and_public_ones_pass() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "169.254.0.1",
            "100.64.0.1",
            "0.1.2.3",
            "224.0.0.1",
            "203.0.113.9",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:1.2.3.4",
            "2001:db8::1",
        ] {
            assert!(reserved_range(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in ["64.112.117.122", "8.8.8.8", "172.32.0.1", "2600::1"] {
            assert_eq!(reserved_range(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn the_refusal_names_the_url_without_its_credentials() {
        let url = Url::parse("https://user:pw@acme.sectigo.com/v2/DV").unwrap();
        let err = check("db.cert_url", &url).unwrap_err().to_string();
        assert_eq!(
            err,
            "refusing to load-test Sectigo production (db.cert_url \
             https://***@acme.sectigo.com/v2/DV): this is a public CA; pass --allow-public-ca \
             (or set target.allow_public_ca) only if you have its operator's permission"
        );
    }

    #[test]
    fn urls_show_without_credentials() {
        let url: HttpUrl = "https://user:hunter2@ca.test:8443/dir".parse().unwrap();
        assert_eq!(url.to_string(), "https://***@ca.test:8443/dir");
        assert_eq!(format!("{url:?}"), "HttpUrl(https://***@ca.test:8443/dir)");
        assert_eq!(&*url, "https://user:hunter2@ca.test:8443/dir");
        let err = "ftp://user:hunter2@ca.test/"
            .parse::<HttpUrl>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ftp://***@ca.test/ is not an http(s) URL with a host"
        );
        assert!("nope"
            .parse::<HttpUrl>()
            .unwrap_err()
            .to_string()
            .starts_with("not a URL"));
        let token = Secret("0123456789abcdef".into());
        assert_eq!(format!("{token:?}"), "Secret(***)");
    }
}
