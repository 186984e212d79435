//! Finalize CSRs (RFC 8555 §7.4, RFC 2986) checked as Boulder's csr.VerifyCSR does: an
//! acceptable, unblocked key (badCSR "invalid public key in CSR: ..."), a valid signature by one
//! of Boulder's algorithms (SHA-256/384/512 with RSA or ECDSA), no email or URI SANs, no IP
//! address as common name, at least one name, and names the policy accepts. Names are the
//! dNSName SANs plus the common name, normalized. The DER is read here rather than by
//! `X509Req`, whose parse decodes the key through OpenSSL 3's provider decoders (see `asn1`).

use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Public};
use openssl::sign::Verifier;

use crate::asn1::{self, tag};
use crate::jwk::good_key;
use crate::policy::Policy;
use crate::problem::{Kind, Problem};
use crate::spki::{PublicKey, SpkiError};
use crate::store::Store;

const EXTENSION_REQUEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e];
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// Signature algorithms Boulder accepts on CSRs, by OID contents: (is ECDSA, digest bits).
const SIGNATURE_ALGS: [(&[u8], bool, u16); 6] = [
    (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02], true, 256),
    (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03], true, 384),
    (&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04], true, 512),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b],
        false,
        256,
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
        false,
        384,
    ),
    (
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
        false,
        512,
    ),
];

/// What issuance needs from a checked CSR.
pub struct Csr {
    pub key: PublicKey,
    pub digest: [u8; 32],
    /// Normalized: lower-case, sorted, without duplicates (SANs plus CN).
    pub names: Vec<String>,
    /// Boulder's CNFromCSR: the CN if short enough, else the first short SAN.
    pub common_name: Option<String>,
}

/// A CSR's parts, borrowed from its DER.
pub struct Request<'a> {
    /// The whole CertificationRequestInfo TLV: what the signature covers.
    info: &'a [u8],
    subject: &'a [u8],
    spki: &'a [u8],
    /// The `[0]` attributes' contents.
    attributes: &'a [u8],
    signature_alg: &'a [u8],
    signature: &'a [u8],
}

fn bad_csr(detail: impl Into<String>) -> Problem {
    Problem::new(Kind::BadCsr, detail)
}

fn read(der: &[u8]) -> Option<Request<'_>> {
    let (outer, _, []) = asn1::expect(der, tag::SEQUENCE)? else {
        return None;
    };
    let (info_contents, info, rest) = asn1::expect(outer, tag::SEQUENCE)?;
    let (alg, _, rest) = asn1::expect(rest, tag::SEQUENCE)?;
    let (signature_alg, _, _) = asn1::expect(alg, tag::OID)?;
    let (bits, _, []) = asn1::expect(rest, tag::BIT_STRING)? else {
        return None;
    };
    let (_, _, rest) = asn1::expect(info_contents, tag::INTEGER)?;
    let (subject, _, rest) = asn1::expect(rest, tag::SEQUENCE)?;
    let (_, spki, rest) = asn1::expect(rest, tag::SEQUENCE)?;
    // Required by RFC 2986, but OpenSSL (which this replaces) accepts CSRs without it.
    let attributes = match rest {
        [] => &[][..],
        _ => asn1::expect(rest, 0xa0)?.0,
    };
    Some(Request {
        info,
        subject,
        spki,
        attributes,
        signature_alg,
        signature: bits.strip_prefix(&[0])?,
    })
}

/// Parses DER; failures are malformed as in Boulder's WFE.
pub fn parse(der: &[u8]) -> Result<Request<'_>, Problem> {
    read(der).ok_or_else(|| {
        Problem::malformed("Error parsing certificate request: asn1: structure error")
    })
}

/// The dNSName SANs of the extension request, and whether there are email or URI SANs.
fn san_entries(attributes: &[u8]) -> Option<(Vec<String>, bool, bool)> {
    let (mut dns, mut email, mut uri) = (Vec::new(), false, false);
    for attribute in asn1::items(attributes) {
        let (_, attribute) = attribute?;
        let (oid, _, values) = asn1::expect(attribute, tag::OID)?;
        if oid != EXTENSION_REQUEST {
            continue;
        }
        let (values, _, _) = asn1::expect(values, tag::SET)?;
        for extensions in asn1::items(values) {
            for extension in asn1::items(extensions?.1) {
                let (_, extension) = extension?;
                let (oid, _, mut rest) = asn1::expect(extension, tag::OID)?;
                if oid != SUBJECT_ALT_NAME {
                    continue;
                }
                if let Some((_, _, after)) = asn1::expect(rest, tag::BOOLEAN) {
                    rest = after;
                }
                let (value, _, _) = asn1::expect(rest, tag::OCTET_STRING)?;
                let (names, _, _) = asn1::expect(value, tag::SEQUENCE)?;
                for name in asn1::items(names) {
                    match name? {
                        (0x82, d) => dns.push(String::from_utf8_lossy(d).to_ascii_lowercase()),
                        (0x81, _) => email = true,
                        (0x86, _) => uri = true,
                        _ => {}
                    }
                }
            }
        }
    }
    Some((dns, email, uri))
}

/// The subject's first common name.
fn common_name(subject: &[u8]) -> Option<String> {
    for rdn in asn1::items(subject) {
        for attribute in asn1::items(rdn?.1) {
            let (oid, _, value) = asn1::expect(attribute?.1, tag::OID)?;
            if oid == COMMON_NAME {
                let (kind, text, _) = asn1::tlv(value)?;
                return asn1::text(kind, text);
            }
        }
    }
    None
}

fn signature_ok(req: &Request, key: &PublicKey) -> bool {
    let Some((_, ecdsa, bits)) = SIGNATURE_ALGS
        .iter()
        .find(|(oid, _, _)| *oid == req.signature_alg)
    else {
        return false;
    };
    match (&key.ec, ecdsa) {
        (Some(ec), true) => {
            let Ok(sig) = EcdsaSig::from_der(req.signature) else {
                return false;
            };
            let verified = match bits {
                256 => sig.verify(&crate::jwk::sha256(req.info), ec),
                384 => sig.verify(&openssl::sha::sha384(req.info), ec),
                _ => sig.verify(&openssl::sha::sha512(req.info), ec),
            };
            verified.unwrap_or(false)
        }
        (None, false) if key.key.id() == Id::RSA => {
            let md = match bits {
                256 => MessageDigest::sha256(),
                384 => MessageDigest::sha384(),
                _ => MessageDigest::sha512(),
            };
            verify_rsa(&key.key, md, req)
        }
        _ => false,
    }
}

fn verify_rsa(key: &PKey<Public>, md: MessageDigest, req: &Request) -> bool {
    Verifier::new(md, key)
        .and_then(|mut v| v.verify_oneshot(req.signature, req.info))
        .unwrap_or(false)
}

pub fn check(req: &Request, store: &Store, policy: &Policy) -> Result<Csr, Problem> {
    let key = PublicKey::from_der(req.spki).map_err(|e| match e {
        SpkiError::Malformed => bad_csr("invalid public key in CSR"),
        SpkiError::Unsupported => bad_csr(format!("invalid public key in CSR: {e}")),
    })?;
    let digest = key.digest();
    let refused = if store.is_blocked(&digest) {
        Err(crate::jwk::BadKey::Blocked)
    } else {
        good_key(&key.key)
    };
    if let Err(why) = refused {
        return Err(bad_csr(format!("invalid public key in CSR: {why}")));
    }
    if !signature_ok(req, &key) {
        return Err(bad_csr("invalid signature on CSR"));
    }
    let (mut names, email, uri) =
        san_entries(req.attributes).ok_or_else(|| bad_csr("unable to read CSR extensions"))?;
    if email {
        return Err(bad_csr("CSR contains one or more email address fields"));
    }
    if uri {
        return Err(bad_csr("CSR contains one or more URI fields"));
    }
    let cn = common_name(req.subject);
    if let Some(cn) = &cn {
        if cn.parse::<std::net::IpAddr>().is_ok() {
            return Err(bad_csr("CSR contains IP address in Common Name"));
        }
    }
    let common_name = match &cn {
        Some(cn) if cn.len() <= 64 => Some(cn.to_ascii_lowercase()),
        Some(_) => None,
        None => names.iter().find(|n| n.len() <= 64).cloned(),
    };
    if let Some(cn) = &cn {
        names.push(cn.to_ascii_lowercase());
    }
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(bad_csr("at least one identifier is required"));
    }
    policy.check(&names)?;
    Ok(Csr {
        key,
        digest,
        names,
        common_name,
    })
}
