//! Certificates for tests, made with openssl: one builder for the unit tests, the integration
//! tests and the benchmarks (built with the `testing` feature, which the crate's own
//! dev-dependency on itself turns on); the Ramp's harness ([`ramp`]).

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509Extension, X509NameBuilder, X509Ref, X509};

use crate::acme::KeyType;

pub mod ramp;

/// When a test certificate stops being valid.
#[derive(Debug, Clone, Copy)]
pub enum Until<'a> {
    /// This many days from now.
    Days(u32),
    /// An ASN.1 time, `YYYYMMDDHHMMSSZ`.
    At(&'a str),
}

/// What a test certificate holds and who signs it. The default: CN `test`, no SAN, a random
/// 64-bit serial, valid from now for one day, self-signed, not a CA.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    /// The subject's common name.
    pub cn: &'a str,
    /// Subject alternative names: IP addresses become IP SANs, anything else DNS names.
    pub names: &'a [&'a str],
    /// The serial in hex; random when `None`.
    pub serial_hex: Option<&'a str>,
    /// Valid from this many days from now.
    pub from_days: u32,
    /// Valid until.
    pub until: Until<'a>,
    /// The issuing certificate and key; self-signed when `None`.
    pub issuer: Option<(&'a X509, &'a PKey<Private>)>,
    /// A CA certificate (critical basic constraints).
    pub ca: bool,
    /// A Subject Key Identifier when self-signed, an Authority Key Identifier when issued (as
    /// Boulder's certificates carry, for ARI's certID).
    pub key_ids: bool,
    /// A CRL distribution point URI.
    pub crl: Option<&'a str>,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec {
            cn: "test",
            names: &[],
            serial_hex: None,
            from_days: 0,
            until: Until::Days(1),
            issuer: None,
            ca: false,
            key_ids: false,
            crl: None,
        }
    }
}

impl Spec<'_> {
    /// The certificate, with the fresh P-256 key it certifies.
    pub fn make(&self) -> (X509, PKey<Private>) {
        let key = KeyType::P256.generate().unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", self.cn).unwrap();
        let name = name.build();
        let serial = match self.serial_hex {
            Some(hex) => BigNum::from_hex_str(hex).unwrap(),
            None => {
                let mut serial = BigNum::new().unwrap();
                serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
                serial
            }
        };
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&serial.to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name).unwrap();
        let issuer_name = self.issuer.map_or(&*name, |(cert, _)| cert.subject_name());
        b.set_issuer_name(issuer_name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(self.from_days).unwrap())
            .unwrap();
        let until = match self.until {
            Until::Days(days) => Asn1Time::days_from_now(days).unwrap(),
            Until::At(at) => Asn1Time::from_str(at).unwrap(),
        };
        b.set_not_after(&until).unwrap();
        if self.ca {
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
        }
        let issuer_cert: Option<&X509Ref> = self.issuer.map(|(cert, _)| &**cert);
        if !self.names.is_empty() {
            let mut san = SubjectAlternativeName::new();
            for n in self.names {
                match n.parse::<std::net::IpAddr>() {
                    Ok(_) => san.ip(n),
                    Err(_) => san.dns(n),
                };
            }
            let san = san.build(&b.x509v3_context(issuer_cert, None)).unwrap();
            b.append_extension(san).unwrap();
        }
        if self.key_ids {
            let id = match issuer_cert {
                None => SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None)),
                Some(ca) => AuthorityKeyIdentifier::new()
                    .keyid(true)
                    .build(&b.x509v3_context(Some(ca), None)),
            };
            b.append_extension(id.unwrap()).unwrap();
        }
        if let Some(uri) = self.crl {
            #[allow(deprecated)] // openssl has no typed builder for this extension
            let crl = X509Extension::new(
                None,
                Some(&b.x509v3_context(issuer_cert, None)),
                "crlDistributionPoints",
                &format!("URI:{uri}"),
            )
            .unwrap();
            b.append_extension(crl).unwrap();
        }
        let signer = self.issuer.map_or(&key, |(_, k)| k);
        b.sign(signer, MessageDigest::sha256()).unwrap();
        (b.build(), key)
    }
}

/// A self-signed CA certificate and its key.
pub fn self_signed_ca(cn: &str) -> (X509, PKey<Private>) {
    Spec {
        cn,
        ca: true,
        ..Spec::default()
    }
    .make()
}

/// An intermediate CA certificate signed by `ca`, and its key.
pub fn issue_ca(ca: &X509, ca_key: &PKey<Private>, cn: &str) -> (X509, PKey<Private>) {
    Spec {
        cn,
        ca: true,
        issuer: Some((ca, ca_key)),
        ..Spec::default()
    }
    .make()
}

/// A self-signed CA certificate, as PEM.
pub fn self_signed_pem() -> Vec<u8> {
    self_signed_ca("Test").0.to_pem().unwrap()
}

/// A leaf for `names`, signed by `ca`, valid from now.
pub fn issue_leaf(ca: &X509, ca_key: &PKey<Private>, names: &[&str]) -> X509 {
    issue_leaf_from(ca, ca_key, names, 0)
}

/// A leaf for `names`, signed by `ca`, valid for a day from `days` from now.
pub fn issue_leaf_from(ca: &X509, ca_key: &PKey<Private>, names: &[&str], days: u32) -> X509 {
    Spec {
        cn: names[0],
        names,
        from_days: days,
        until: Until::Days(days + 1),
        issuer: Some((ca, ca_key)),
        ..Spec::default()
    }
    .make()
    .0
}
