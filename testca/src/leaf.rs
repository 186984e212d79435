//! The DER of a leaf certificate (RFC 5280), written directly and signed with ECDSA P-256 /
//! SHA-256 by the intermediate's key. `X509Builder` costs several times the signature itself
//! (encoding the key through OpenSSL 3's provider encoders and decoding it back, extension
//! config parsing, a provider fetch per signature); the fields here are the ones it wrote:
//! basicConstraints (critical, not a CA), keyUsage (critical: digitalSignature, plus
//! keyEncipherment for RSA keys), extKeyUsage serverAuth, SKI (SHA-1 of the key, RFC 5280
//! §4.2.1.2 method 1), AKI keyid, dNSName SANs, and a CRL distribution point.

use openssl::ec::EcKeyRef;
use openssl::ecdsa::EcdsaSig;
use openssl::pkey::Private;

use crate::asn1::{self, tag};
use crate::spki::PublicKey;

const ECDSA_WITH_SHA256: &[u8] = &[
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
const AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const CRL_DISTRIBUTION_POINTS: &[u8] = &[0x55, 0x1d, 0x1f];
const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// What goes into one leaf.
pub struct Leaf<'a> {
    pub serial: &'a [u8],
    /// The intermediate's subject, DER.
    pub issuer: &'a [u8],
    pub authority_key_id: &'a [u8],
    pub not_before: i64,
    pub not_after: i64,
    pub common_name: Option<&'a str>,
    pub key: &'a PublicKey,
    pub names: &'a [String],
    pub crl_url: &'a str,
}

fn extension(out: &mut Vec<u8>, oid: &[u8], critical: bool, value: &[u8]) {
    let oid = asn1::wrap(tag::OID, &[oid]);
    let value = asn1::wrap(tag::OCTET_STRING, &[value]);
    let flag: &[u8] = if critical {
        &[tag::BOOLEAN, 1, 0xff]
    } else {
        &[]
    };
    asn1::put(out, tag::SEQUENCE, &[&oid, flag, &value]);
}

fn extensions(leaf: &Leaf) -> Vec<u8> {
    let mut list = Vec::with_capacity(512);
    extension(&mut list, BASIC_CONSTRAINTS, true, &[tag::SEQUENCE, 0]);
    let usage: &[u8] = match leaf.key.ec {
        Some(_) => &[tag::BIT_STRING, 2, 7, 0x80],
        None => &[tag::BIT_STRING, 2, 5, 0xa0],
    };
    extension(&mut list, KEY_USAGE, true, usage);
    let eku = asn1::wrap(tag::SEQUENCE, &[&asn1::wrap(tag::OID, &[SERVER_AUTH])]);
    extension(&mut list, EXT_KEY_USAGE, false, &eku);
    let ski = openssl::sha::sha1(leaf.key.key_bits());
    extension(
        &mut list,
        SUBJECT_KEY_ID,
        false,
        &asn1::wrap(tag::OCTET_STRING, &[&ski]),
    );
    let aki = asn1::wrap(
        tag::SEQUENCE,
        &[&asn1::wrap(0x80, &[leaf.authority_key_id])],
    );
    extension(&mut list, AUTHORITY_KEY_ID, false, &aki);
    let mut sans = Vec::with_capacity(leaf.names.len() * 32);
    for name in leaf.names {
        asn1::put(&mut sans, 0x82, &[name.as_bytes()]);
    }
    extension(
        &mut list,
        SUBJECT_ALT_NAME,
        false,
        &asn1::wrap(tag::SEQUENCE, &[&sans]),
    );
    let uri = asn1::wrap(0x86, &[leaf.crl_url.as_bytes()]);
    let point = asn1::wrap(0xa0, &[&asn1::wrap(0xa0, &[&uri])]);
    let points = asn1::wrap(tag::SEQUENCE, &[&asn1::wrap(tag::SEQUENCE, &[&point])]);
    extension(&mut list, CRL_DISTRIBUTION_POINTS, false, &points);
    asn1::wrap(0xa3, &[&asn1::wrap(tag::SEQUENCE, &[&list])])
}

fn subject(common_name: Option<&str>) -> Vec<u8> {
    let Some(cn) = common_name else {
        return asn1::wrap(tag::SEQUENCE, &[]);
    };
    let attribute = asn1::wrap(
        tag::SEQUENCE,
        &[
            &asn1::wrap(tag::OID, &[COMMON_NAME]),
            &asn1::wrap(tag::UTF8_STRING, &[cn.as_bytes()]),
        ],
    );
    asn1::wrap(tag::SEQUENCE, &[&asn1::wrap(tag::SET, &[&attribute])])
}

/// The signed certificate's DER.
pub fn sign(leaf: &Leaf, key: &EcKeyRef<Private>) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let validity = asn1::wrap(
        tag::SEQUENCE,
        &[&asn1::time(leaf.not_before), &asn1::time(leaf.not_after)],
    );
    let tbs = asn1::wrap(
        tag::SEQUENCE,
        &[
            &[0xa0, 3, tag::INTEGER, 1, 2],
            &asn1::unsigned(leaf.serial),
            ECDSA_WITH_SHA256,
            leaf.issuer,
            &validity,
            &subject(leaf.common_name),
            &leaf.key.der,
            &extensions(leaf),
        ],
    );
    let signature = EcdsaSig::sign(&crate::jwk::sha256(&tbs), key)?.to_der()?;
    Ok(asn1::wrap(
        tag::SEQUENCE,
        &[&tbs, ECDSA_WITH_SHA256, &asn1::bits(&signature)],
    ))
}
