//! A throwaway PKI for a test's TLS listeners (the tool's DNS over HTTPS, the Boulder
//! stand-in's resolver): a CA and one server certificate for some names and IP addresses,
//! written as PEM files, the way Boulder's minica makes them for its dev environment.

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

/// The files of one server certificate and the CA that verifies it.
pub struct Pki {
    /// The CA's certificate: what a client verifies the server against.
    pub ca: PathBuf,
    /// The server's certificate.
    pub certificate: PathBuf,
    /// The server's private key.
    pub key: PathBuf,
}

fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn builder(cn: &str, key: &PKey<Private>) -> X509Builder {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b
}

impl Pki {
    /// A CA and a server certificate for `names` (DNS names, or IP addresses for IP SANs),
    /// written under `dir` with file names starting `prefix`.
    pub fn new(dir: &Path, prefix: &str, names: &[&str]) -> Pki {
        let ca_key = p256();
        let mut ca = builder(&format!("{prefix} test CA"), &ca_key);
        let ca_name = {
            let mut n = X509NameBuilder::new().unwrap();
            n.append_entry_by_text("CN", &format!("{prefix} test CA"))
                .unwrap();
            n.build()
        };
        ca.set_issuer_name(&ca_name).unwrap();
        ca.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        ca.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let ca = ca.build();

        let key = p256();
        let mut leaf = builder(names[0], &key);
        leaf.set_issuer_name(ca.subject_name()).unwrap();
        let mut san = SubjectAlternativeName::new();
        for name in names {
            if name.parse::<std::net::IpAddr>().is_ok() {
                san.ip(name);
            } else {
                san.dns(name);
            }
        }
        let san = san.build(&leaf.x509v3_context(Some(&ca), None)).unwrap();
        leaf.append_extension(san).unwrap();
        leaf.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let leaf = leaf.build();

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
