//! JSON Web Keys (RFC 7517/7518) as ACME uses them: parsing the `jwk` header, the RFC 7638
//! thumbprint (key authorizations, RFC 8555 §8.1), the SHA-256 of the SubjectPublicKeyInfo
//! (Boulder's `core.KeyDigest`, the identity of a key for accounts and blocked keys), Boulder's
//! key policy (goodkey: RSA 2048/3072/4096 with e = 65537, ECDSA P-256/P-384) and signature
//! checks (RFC 7518 §3.3 PKCS#1 v1.5, §3.4 ECDSA with raw r||s).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::BigNum;
use openssl::ec::EcKey;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, PKeyRef, Public};
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use serde_json::Value;

/// JWS algorithms Boulder accepts (wfe2/verify.go `getSupportedAlgs`).
pub const SUPPORTED_ALGS: [&str; 4] = ["RS256", "ES256", "ES384", "ES512"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
    Es384,
    Es512,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwkError {
    #[error("Invalid JWK in JWS header")]
    Invalid,
    #[error("JWK contains unsupported key type (expected RSA, or ECDSA P-256, P-384, or P-521)")]
    Unsupported,
}

/// A public key from a JWS header.
#[derive(Debug)]
pub struct Jwk {
    pub key: PKey<Public>,
    /// Set for EC keys, so that each JWS check goes straight to `ECDSA_do_verify` without
    /// looking the key up again.
    ec: Option<EcKey<Public>>,
    /// The algorithm this key signs with.
    pub alg: Alg,
    /// RFC 7638 canonical JSON (required members, lexicographic order, no spaces).
    pub json: String,
    /// base64url(SHA-256(canonical JSON)).
    pub thumbprint: String,
    /// SHA-256 of the DER SubjectPublicKeyInfo.
    pub digest: [u8; 32],
}

fn b64(v: &Value, field: &str) -> Result<Vec<u8>, JwkError> {
    let s = v
        .get(field)
        .and_then(Value::as_str)
        .ok_or(JwkError::Invalid)?;
    URL_SAFE_NO_PAD.decode(s).map_err(|_| JwkError::Invalid)
}

/// SHA-256 through the low-level API: OpenSSL 3's one-shot `SHA256()` and `EVP_Digest` fetch
/// the implementation from the provider on every call, which costs more than hashing a JWS.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h = openssl::sha::Sha256::new();
    h.update(data);
    h.finish()
}

/// SHA-256 of a key's SubjectPublicKeyInfo.
pub fn spki_digest(key: &PKeyRef<Public>) -> Option<[u8; 32]> {
    key.public_key_to_der().ok().map(|der| sha256(&der))
}

impl Jwk {
    pub fn parse(v: &Value) -> Result<Jwk, JwkError> {
        let (key, ec, alg, json) = match v.get("kty").and_then(Value::as_str) {
            Some("EC") => {
                let crv = v
                    .get("crv")
                    .and_then(Value::as_str)
                    .ok_or(JwkError::Invalid)?;
                let (nid, size, alg) = match crv {
                    "P-256" => (Nid::X9_62_PRIME256V1, 32, Alg::Es256),
                    "P-384" => (Nid::SECP384R1, 48, Alg::Es384),
                    "P-521" => (Nid::SECP521R1, 66, Alg::Es512),
                    _ => return Err(JwkError::Unsupported),
                };
                let (x, y) = (b64(v, "x")?, b64(v, "y")?);
                if x.len() != size || y.len() != size {
                    return Err(JwkError::Invalid);
                }
                let group = crate::spki::group(nid).ok_or(JwkError::Invalid)?;
                let bx = BigNum::from_slice(&x).map_err(|_| JwkError::Invalid)?;
                let by = BigNum::from_slice(&y).map_err(|_| JwkError::Invalid)?;
                // Refuses points off the curve.
                let ec = EcKey::from_public_key_affine_coordinates(group, &bx, &by)
                    .map_err(|_| JwkError::Invalid)?;
                let json = format!(
                    r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                    URL_SAFE_NO_PAD.encode(&x),
                    URL_SAFE_NO_PAD.encode(&y)
                );
                (
                    PKey::from_ec_key(ec.clone()).map_err(|_| JwkError::Invalid)?,
                    Some(ec),
                    alg,
                    json,
                )
            }
            Some("RSA") => {
                let (n, e) = (b64(v, "n")?, b64(v, "e")?);
                if n.is_empty() || e.is_empty() || n[0] == 0 || e[0] == 0 {
                    return Err(JwkError::Invalid);
                }
                let rsa = Rsa::from_public_components(
                    BigNum::from_slice(&n).map_err(|_| JwkError::Invalid)?,
                    BigNum::from_slice(&e).map_err(|_| JwkError::Invalid)?,
                )
                .map_err(|_| JwkError::Invalid)?;
                let json = format!(
                    r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                    URL_SAFE_NO_PAD.encode(&e),
                    URL_SAFE_NO_PAD.encode(&n)
                );
                (
                    PKey::from_rsa(rsa).map_err(|_| JwkError::Invalid)?,
                    None,
                    Alg::Rs256,
                    json,
                )
            }
            Some(_) => return Err(JwkError::Unsupported),
            None => return Err(JwkError::Invalid),
        };
        let digest = match &ec {
            Some(ec) => crate::spki::ec_der(ec).map(|der| sha256(&der)),
            None => spki_digest(&key),
        }
        .ok_or(JwkError::Invalid)?;
        Ok(Jwk {
            thumbprint: URL_SAFE_NO_PAD.encode(sha256(json.as_bytes())),
            key,
            ec,
            alg,
            json,
            digest,
        })
    }

    /// The canonical JWK as a JSON value (what account objects show as `key`).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }

    /// Checks a JWS signature over `input` (`protected || '.' || payload`).
    pub fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        match self.alg {
            Alg::Rs256 => Verifier::new(MessageDigest::sha256(), &self.key)
                .and_then(|mut v| v.verify_oneshot(signature, input))
                .unwrap_or(false),
            alg => {
                let half = signature.len() / 2;
                let expected = match alg {
                    Alg::Es256 => 32,
                    Alg::Es384 => 48,
                    _ => 66,
                };
                if half != expected || signature.len() % 2 != 0 {
                    return false;
                }
                let Some(ec) = &self.ec else {
                    return false;
                };
                let check = || -> Result<bool, openssl::error::ErrorStack> {
                    let r = BigNum::from_slice(&signature[..half])?;
                    let s = BigNum::from_slice(&signature[half..])?;
                    let sig = EcdsaSig::from_private_components(r, s)?;
                    // The low-level digests: no provider fetch per request.
                    match alg {
                        Alg::Es384 => sig.verify(&openssl::sha::sha384(input), ec),
                        Alg::Es512 => sig.verify(&openssl::sha::sha512(input), ec),
                        _ => sig.verify(&sha256(input), ec),
                    }
                };
                check().unwrap_or(false)
            }
        }
    }
}

/// Why Boulder's goodkey policy refuses a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadKey {
    #[error("unsupported key type")]
    Unsupported,
    #[error("key size not supported: {0}")]
    Size(u32),
    #[error("key exponent must be 65537")]
    Exponent,
    #[error("key is not on the curve")]
    OffCurve,
    #[error("ECDSA curve {0} not allowed")]
    Curve(&'static str),
    /// On the blocked-keys list (the caller's check).
    #[error("public key is forbidden")]
    Blocked,
}

/// Boulder's goodkey policy for account and certificate keys (the blocked-key check is the
/// caller's): RSA of exactly 2048, 3072 or 4096 bits with exponent 65537; ECDSA P-256 or P-384.
pub fn good_key(key: &PKeyRef<Public>) -> Result<(), BadKey> {
    match key.id() {
        Id::RSA => {
            let rsa = key.rsa().map_err(|_| BadKey::Unsupported)?;
            let bits = rsa.n().num_bits();
            if ![2048, 3072, 4096].contains(&bits) {
                return Err(BadKey::Size(bits.unsigned_abs()));
            }
            if rsa.e().to_vec() != [1, 0, 1] {
                return Err(BadKey::Exponent);
            }
            Ok(())
        }
        Id::EC => {
            let ec = key.ec_key().map_err(|_| BadKey::Unsupported)?;
            let nid = ec.group().curve_name();
            match nid {
                Some(Nid::X9_62_PRIME256V1) | Some(Nid::SECP384R1) => {
                    match crate::spki::ec_point_valid(&ec) {
                        true => Ok(()),
                        false => Err(BadKey::OffCurve),
                    }
                }
                _ => Err(BadKey::Curve(
                    nid.and_then(|n| n.short_name().ok()).unwrap_or("unknown"),
                )),
            }
        }
        _ => Err(BadKey::Unsupported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let v: Value = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        let jwk = Jwk::parse(&v).unwrap();
        assert_eq!(
            jwk.thumbprint,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(jwk.alg, Alg::Rs256);
        assert_eq!(good_key(&jwk.key), Ok(()));
        assert_eq!(
            Jwk::parse(&serde_json::json!({"kty":"oct"})).unwrap_err(),
            JwkError::Unsupported
        );
    }
}
