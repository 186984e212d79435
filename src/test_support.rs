//! Certificates for unit tests, made with openssl.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509NameBuilder, X509};

use crate::acme::KeyType;

fn builder(cn: &str, key: &PKey<Private>) -> openssl::x509::X509Builder {
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
    b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b
}

/// A self-signed CA certificate and its key.
pub fn self_signed_ca(cn: &str) -> (X509, PKey<Private>) {
    let key = KeyType::P256.generate().unwrap();
    let mut b = builder(cn, &key);
    b.set_issuer_name(
        X509NameBuilder::new()
            .map(|mut n| {
                n.append_entry_by_text("CN", cn).unwrap();
                n.build()
            })
            .unwrap()
            .as_ref(),
    )
    .unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (b.build(), key)
}

/// An intermediate CA certificate signed by `ca`, and its key.
pub fn issue_ca(ca: &X509, ca_key: &PKey<Private>, cn: &str) -> (X509, PKey<Private>) {
    let key = KeyType::P256.generate().unwrap();
    let mut b = builder(cn, &key);
    b.set_issuer_name(ca.subject_name()).unwrap();
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.sign(ca_key, MessageDigest::sha256()).unwrap();
    (b.build(), key)
}

pub fn self_signed_pem() -> Vec<u8> {
    self_signed_ca("Test").0.to_pem().unwrap()
}

/// A leaf for `names`, signed by `ca`, valid from now.
pub fn issue_leaf(ca: &X509, ca_key: &PKey<Private>, names: &[&str]) -> X509 {
    issue_leaf_from(ca, ca_key, names, 0)
}

/// A leaf for `names`, signed by `ca`, valid from `days` from now.
pub fn issue_leaf_from(ca: &X509, ca_key: &PKey<Private>, names: &[&str], days: u32) -> X509 {
    let key = KeyType::P256.generate().unwrap();
    let mut b = builder(names[0], &key);
    b.set_not_before(&Asn1Time::days_from_now(days).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(days + 1).unwrap())
        .unwrap();
    b.set_issuer_name(ca.subject_name()).unwrap();
    let mut san = SubjectAlternativeName::new();
    for n in names {
        san.dns(n);
    }
    let san = san.build(&b.x509v3_context(Some(ca), None)).unwrap();
    b.append_extension(san).unwrap();
    b.sign(ca_key, MessageDigest::sha256()).unwrap();
    b.build()
}
