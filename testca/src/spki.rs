//! Public keys from SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7) and back, without OpenSSL 3's
//! decoder and encoder lookups (`d2i_PUBKEY` / `i2d_PUBKEY` each walk every provider's decoders,
//! ~1.5 M instructions): EC keys are built from their point on a curve group made once per
//! process, RSA keys from their PKCS #1 body. The canonical encoding (named curve, uncompressed
//! point; rsaEncryption with NULL parameters) is what Boulder's `core.KeyDigest` hashes.

use std::sync::OnceLock;

use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcGroupRef, EcKey, EcKeyRef, EcPoint, PointConversionForm};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Rsa;

use crate::asn1::{self, tag};

const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The curves a key may name: OID contents and NID.
const CURVES: [(&[u8], Nid); 3] = [
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        Nid::X9_62_PRIME256V1,
    ),
    (&[0x2b, 0x81, 0x04, 0x00, 0x22], Nid::SECP384R1),
    (&[0x2b, 0x81, 0x04, 0x00, 0x23], Nid::SECP521R1),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpkiError {
    #[error("malformed public key")]
    Malformed,
    #[error("unsupported key type")]
    Unsupported,
}

/// A curve's group, made once: `EC_GROUP_new_by_curve_name` costs as much as a signature check.
pub fn group(nid: Nid) -> Option<&'static EcGroupRef> {
    static GROUPS: OnceLock<Vec<(Nid, EcGroup)>> = OnceLock::new();
    let groups = GROUPS.get_or_init(|| {
        CURVES
            .iter()
            .filter_map(|(_, nid)| EcGroup::from_curve_name(*nid).ok().map(|g| (*nid, g)))
            .collect()
    });
    groups.iter().find(|(n, _)| *n == nid).map(|(_, g)| &**g)
}

/// A public key and its canonical SubjectPublicKeyInfo.
pub struct PublicKey {
    pub key: PKey<Public>,
    /// Set for EC keys: ECDSA checks go through it directly.
    pub ec: Option<EcKey<Public>>,
    pub der: Vec<u8>,
}

impl PublicKey {
    /// SHA-256 of the canonical SubjectPublicKeyInfo.
    pub fn digest(&self) -> [u8; 32] {
        crate::jwk::sha256(&self.der)
    }

    /// The subjectPublicKey BIT STRING's bytes (what a key identifier hashes).
    pub fn key_bits(&self) -> &[u8] {
        asn1::expect(&self.der, tag::SEQUENCE)
            .and_then(|(spki, _, _)| asn1::expect(spki, tag::SEQUENCE))
            .and_then(|(_, _, rest)| asn1::expect(rest, tag::BIT_STRING))
            .map_or(&[], |(bits, _, _)| bits.get(1..).unwrap_or_default())
    }

    pub fn from_ec(ec: EcKey<Public>) -> Result<PublicKey, SpkiError> {
        let der = ec_der(&ec).ok_or(SpkiError::Malformed)?;
        let key = PKey::from_ec_key(ec.clone()).map_err(|_| SpkiError::Malformed)?;
        Ok(PublicKey {
            key,
            ec: Some(ec),
            der,
        })
    }

    fn from_rsa(rsa: Rsa<Public>) -> Result<PublicKey, SpkiError> {
        let body = rsa
            .public_key_to_der_pkcs1()
            .map_err(|_| SpkiError::Malformed)?;
        let alg = asn1::wrap(
            tag::SEQUENCE,
            &[&asn1::wrap(tag::OID, &[RSA_ENCRYPTION]), &[tag::NULL, 0]],
        );
        let der = asn1::wrap(tag::SEQUENCE, &[&alg, &asn1::bits(&body)]);
        let key = PKey::from_rsa(rsa).map_err(|_| SpkiError::Malformed)?;
        Ok(PublicKey { key, ec: None, der })
    }

    /// Parses a SubjectPublicKeyInfo (the whole TLV). EC points must lie on their curve.
    pub fn from_der(der: &[u8]) -> Result<PublicKey, SpkiError> {
        let malformed = SpkiError::Malformed;
        let (spki, _, _) = asn1::expect(der, tag::SEQUENCE).ok_or(malformed)?;
        let (alg, _, rest) = asn1::expect(spki, tag::SEQUENCE).ok_or(SpkiError::Malformed)?;
        let (bits, _, _) = asn1::expect(rest, tag::BIT_STRING).ok_or(SpkiError::Malformed)?;
        let body = match bits.split_first() {
            Some((0, body)) => body,
            _ => return Err(SpkiError::Malformed),
        };
        let (oid, _, params) = asn1::expect(alg, tag::OID).ok_or(SpkiError::Malformed)?;
        if oid == RSA_ENCRYPTION {
            let rsa = Rsa::public_key_from_der_pkcs1(body).map_err(|_| SpkiError::Malformed)?;
            return PublicKey::from_rsa(rsa);
        }
        if oid != EC_PUBLIC_KEY {
            return Err(SpkiError::Unsupported);
        }
        let (curve, _, _) = asn1::expect(params, tag::OID).ok_or(SpkiError::Unsupported)?;
        let nid = CURVES
            .iter()
            .find(|(c, _)| *c == curve)
            .map(|(_, nid)| *nid)
            .ok_or(SpkiError::Unsupported)?;
        let group = group(nid).ok_or(SpkiError::Unsupported)?;
        let mut ctx = BigNumContext::new().map_err(|_| SpkiError::Malformed)?;
        // EC_POINT_oct2point refuses points off the curve.
        let point = EcPoint::from_bytes(group, body, &mut ctx).map_err(|_| SpkiError::Malformed)?;
        let ec = EcKey::from_public_key(group, &point).map_err(|_| SpkiError::Malformed)?;
        PublicKey::from_ec(ec)
    }
}

/// The canonical SubjectPublicKeyInfo of an EC key on a named curve.
pub fn ec_der(ec: &EcKeyRef<Public>) -> Option<Vec<u8>> {
    let group = ec.group();
    let nid = group.curve_name()?;
    let (curve, _) = CURVES.iter().find(|(_, n)| *n == nid)?;
    let mut ctx = BigNumContext::new().ok()?;
    let point = ec
        .public_key()
        .to_bytes(group, PointConversionForm::UNCOMPRESSED, &mut ctx)
        .ok()?;
    let alg = asn1::wrap(
        tag::SEQUENCE,
        &[
            &asn1::wrap(tag::OID, &[EC_PUBLIC_KEY]),
            &asn1::wrap(tag::OID, &[curve]),
        ],
    );
    Some(asn1::wrap(tag::SEQUENCE, &[&alg, &asn1::bits(&point)]))
}

/// Whether an EC public key is a point of its curve other than infinity. Every curve
/// [`CURVES`] names has prime order (cofactor 1), so that is the whole of SP 800-56A
/// §5.6.2.3.3: n·Q = O follows, and the point multiplication `EC_KEY_check_key` adds for it
/// (as costly as a signature check) proves nothing more.
pub fn ec_point_valid(ec: &EcKeyRef<Public>) -> bool {
    let point = ec.public_key();
    !point.is_infinity(ec.group())
        && BigNumContext::new()
            .and_then(|mut ctx| point.is_on_curve(ec.group(), &mut ctx))
            .unwrap_or(false)
}
