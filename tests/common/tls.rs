//! A throwaway PKI for a test's TLS listeners (the tool's DNS over HTTPS, the Boulder
//! stand-in's resolver): a CA and one server certificate for some names and IP addresses,
//! written as PEM files, the way Boulder's minica makes them for its dev environment.

use std::path::{Path, PathBuf};

use wile_e_coyote::test_support::{Spec, Until};

/// The files of one server certificate and the CA that verifies it.
pub struct Pki {
    /// The CA's certificate: what a client verifies the server against.
    pub ca: PathBuf,
    /// The server's certificate.
    pub certificate: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

impl Pki {
    /// A CA and a server certificate for `names` (DNS names, or IP addresses for IP SANs),
    /// written under `dir` with file names starting `prefix`.
    pub fn new(dir: &Path, prefix: &str, names: &[&str]) -> Pki {
        let (ca, ca_key) = Spec {
            cn: &format!("{prefix} test CA"),
            ca: true,
            until: Until::Days(2),
            ..Spec::default()
        }
        .make();
        let (leaf, key) = Spec {
            cn: names[0],
            names,
            until: Until::Days(2),
            issuer: Some((&ca, &ca_key)),
            ..Spec::default()
        }
        .make();

        let pki = Pki {
            ca: dir.join(format!("{prefix}-ca.pem")),
            certificate: dir.join(format!("{prefix}.pem")),
            key: dir.join(format!("{prefix}-key.pem")),
        };
        std::fs::write(&pki.ca, ca.to_pem().unwrap()).unwrap();
        std::fs::write(&pki.certificate, leaf.to_pem().unwrap()).unwrap();
        std::fs::write(&pki.key, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        pki
    }
}
