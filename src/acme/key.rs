//! Account keys: generation, JWK ([RFC 7517](https://www.rfc-editor.org/rfc/rfc7517)), JWK
//! thumbprint ([RFC 7638](https://www.rfc-editor.org/rfc/rfc7638)), signatures for JWS
//! ([RFC 7518 §3.3](https://www.rfc-editor.org/rfc/rfc7518#section-3.3) RS256,
//! [§3.4](https://www.rfc-editor.org/rfc/rfc7518#section-3.4) ES256/ES384 as raw `r || s`) and key
//! authorizations ([RFC 8555 §8.1](https://www.rfc-editor.org/rfc/rfc8555#section-8.1)). A
//! certificate's own key signs with the same code when it revokes its certificate
//! ([RFC 8555 §7.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.6)), so P-384 keys sign too.

use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::hash::{hash, MessageDigest};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use serde::{Deserialize, Serialize};

use super::b64;

/// JWS algorithm of an account key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JwsAlg {
    /// ECDSA P-256 with SHA-256: the usual ACME account key.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256 over a 2048-bit key.
    Rs256,
}

/// Key types for certificate (CSR) keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// ECDSA on P-256 (prime256v1).
    P256,
    /// ECDSA on P-384 (secp384r1).
    P384,
    /// RSA with a 2048-bit modulus.
    Rsa2048,
}

impl KeyType {
    /// Every key type the tool generates.
    pub const ALL: [KeyType; 3] = [KeyType::P256, KeyType::P384, KeyType::Rsa2048];

    /// The name in the config.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::P256 => "p256",
            KeyType::P384 => "p384",
            KeyType::Rsa2048 => "rsa2048",
        }
    }

    /// A fresh private key of this type.
    pub fn generate(self) -> Result<PKey<Private>, ErrorStack> {
        match self {
            KeyType::P256 => ec_key(Nid::X9_62_PRIME256V1),
            KeyType::P384 => ec_key(Nid::SECP384R1),
            KeyType::Rsa2048 => PKey::from_rsa(Rsa::generate(2048)?),
        }
    }
}

fn ec_key(curve: Nid) -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(curve)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

/// A public JWK ([RFC 7517 §4](https://www.rfc-editor.org/rfc/rfc7517#section-4);
/// [RFC 7518 §6.2.1](https://www.rfc-editor.org/rfc/rfc7518#section-6.2.1) for EC,
/// [§6.3.1](https://www.rfc-editor.org/rfc/rfc7518#section-6.3.1) for RSA) with its required
/// members only, declared in lexicographic order: serialised by serde (no whitespace) it is the
/// [RFC 7638 §3.2](https://www.rfc-editor.org/rfc/rfc7638#section-3.2) form whose hash is the
/// thumbprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Jwk {
    /// An elliptic-curve key
    /// ([RFC 7518 §6.2.1](https://www.rfc-editor.org/rfc/rfc7518#section-6.2.1)).
    Ec {
        /// The curve: `P-256` or `P-384`.
        crv: &'static str,
        /// Always `EC`.
        kty: &'static str,
        /// The x coordinate, big-endian padded to the curve's size, base64url.
        x: String,
        /// The y coordinate, likewise.
        y: String,
    },
    /// An RSA key ([RFC 7518 §6.3.1](https://www.rfc-editor.org/rfc/rfc7518#section-6.3.1)).
    Rsa {
        /// The public exponent, big-endian without leading zeros, base64url.
        e: String,
        /// Always `RSA`.
        kty: &'static str,
        /// The modulus, likewise.
        n: String,
    },
}

/// A private key that signs ACME requests, with its public JWK precomputed.
pub struct AccountKey {
    pkey: PKey<Private>,
    alg: JwsAlg,
    jwk: Jwk,
    thumbprint: String,
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccountKey({:?}, {})", self.alg, self.thumbprint)
    }
}

impl AccountKey {
    /// A fresh key for `alg`: P-256, P-384 or RSA 2048.
    pub fn generate(alg: JwsAlg) -> Result<Self, ErrorStack> {
        let pkey = match alg {
            JwsAlg::Es256 => KeyType::P256.generate()?,
            JwsAlg::Es384 => KeyType::P384.generate()?,
            JwsAlg::Rs256 => KeyType::Rsa2048.generate()?,
        };
        Self::from_pkey(pkey)
    }

    /// Wraps an existing P-256, P-384 or RSA key (another curve is an error).
    pub fn from_pkey(pkey: PKey<Private>) -> Result<Self, ErrorStack> {
        let (alg, jwk) = match pkey.id() {
            Id::EC => ec_jwk(&pkey)?,
            _ => {
                let rsa = pkey.rsa()?;
                let jwk = Jwk::Rsa {
                    e: b64(rsa.e().to_vec()),
                    kty: "RSA",
                    n: b64(rsa.n().to_vec()),
                };
                (JwsAlg::Rs256, jwk)
            }
        };
        let canonical = serde_json::to_vec(&jwk).expect("a JWK serialises");
        let thumbprint = b64(hash(MessageDigest::sha256(), &canonical)?);
        Ok(AccountKey {
            pkey,
            alg,
            jwk,
            thumbprint,
        })
    }

    /// The JWS algorithm the key signs with.
    pub fn alg(&self) -> JwsAlg {
        self.alg
    }

    /// The JWS `alg` header value.
    pub fn alg_name(&self) -> &'static str {
        match self.alg {
            JwsAlg::Es256 => "ES256",
            JwsAlg::Es384 => "ES384",
            JwsAlg::Rs256 => "RS256",
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// [RFC 7638](https://www.rfc-editor.org/rfc/rfc7638) SHA-256 thumbprint, base64url.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// `token || '.' || thumbprint`
    /// ([RFC 8555 §8.1](https://www.rfc-editor.org/rfc/rfc8555#section-8.1)).
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.thumbprint)
    }

    /// The openssl key underneath, for uses beyond JWS (a digest naming the key).
    pub fn pkey(&self) -> &PKey<Private> {
        &self.pkey
    }

    /// Signs `data` as the JWS algorithm requires: raw `r || s` for ES256 (64 bytes) and ES384 (96
    /// bytes) ([RFC 7518 §3.4](https://www.rfc-editor.org/rfc/rfc7518#section-3.4), not DER),
    /// PKCS#1 v1.5 for RS256.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, ErrorStack> {
        let ecdsa = |digest: MessageDigest, size: i32| -> Result<Vec<u8>, ErrorStack> {
            let digest = hash(digest, data)?;
            let sig = EcdsaSig::sign(&digest, &*self.pkey.ec_key()?)?;
            let mut raw = sig.r().to_vec_padded(size)?;
            raw.extend(sig.s().to_vec_padded(size)?);
            Ok(raw)
        };
        match self.alg {
            JwsAlg::Es256 => ecdsa(MessageDigest::sha256(), 32),
            JwsAlg::Es384 => ecdsa(MessageDigest::sha384(), 48),
            JwsAlg::Rs256 => {
                let mut signer = Signer::new(MessageDigest::sha256(), &self.pkey)?;
                signer.update(data)?;
                signer.sign_to_vec()
            }
        }
    }
}

/// The algorithm and canonical JWK of a P-256 or P-384 key
/// ([RFC 7518 §6.2.1](https://www.rfc-editor.org/rfc/rfc7518#section-6.2.1): coordinates padded to
/// the curve's size).
fn ec_jwk(pkey: &PKey<Private>) -> Result<(JwsAlg, Jwk), ErrorStack> {
    let ec = pkey.ec_key()?;
    let (alg, crv, size) = match ec.group().curve_name() {
        Some(Nid::X9_62_PRIME256V1) => (JwsAlg::Es256, "P-256", 32),
        Some(Nid::SECP384R1) => (JwsAlg::Es384, "P-384", 48),
        _ => return Err(ErrorStack::get()),
    };
    let mut x = openssl::bn::BigNum::new()?;
    let mut y = openssl::bn::BigNum::new()?;
    let mut ctx = BigNumContext::new()?;
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)?;
    let jwk = Jwk::Ec {
        crv,
        kty: "EC",
        x: b64(x.to_vec_padded(size)?),
        y: b64(y.to_vec_padded(size)?),
    };
    Ok((alg, jwk))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use openssl::bn::BigNum;

    fn unb64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    }

    /// [RFC 7638 §3.1](https://www.rfc-editor.org/rfc/rfc7638#section-3.1): the example RSA key and
    /// its published thumbprint.
    #[test]
    fn rfc7638_example_thumbprint() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        // Only the public part enters the thumbprint; a private exponent is needed to build
        // an openssl key, any value will do.
        let rsa = Rsa::from_private_components(
            BigNum::from_slice(&unb64(n)).unwrap(),
            BigNum::from_slice(&unb64("AQAB")).unwrap(),
            BigNum::from_u32(3).unwrap(),
            BigNum::from_u32(5).unwrap(),
            BigNum::from_u32(7).unwrap(),
            BigNum::from_u32(11).unwrap(),
            BigNum::from_u32(13).unwrap(),
            BigNum::from_u32(17).unwrap(),
        )
        .unwrap();
        let key = AccountKey::from_pkey(PKey::from_rsa(rsa).unwrap()).unwrap();
        assert_eq!(key.alg_name(), "RS256");
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(
            key.key_authorization("tok"),
            "tok.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn ec_jwk_is_canonical_and_thumbprint_matches_it() {
        let key = AccountKey::generate(JwsAlg::Es256).unwrap();
        let text = serde_json::to_string(key.jwk()).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(unb64(jwk["x"].as_str().unwrap()).len(), 32);
        assert_eq!(unb64(jwk["y"].as_str().unwrap()).len(), 32);
        assert!(!text.contains(' '));
        let keys: Vec<&String> = jwk.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["crv", "kty", "x", "y"]);
        let expect = b64(hash(MessageDigest::sha256(), text.as_bytes()).unwrap());
        assert_eq!(key.thumbprint(), expect);
    }

    #[test]
    fn es256_signature_is_raw_r_s_and_verifies() {
        let key = AccountKey::generate(JwsAlg::Es256).unwrap();
        let sig = key.sign(b"payload").unwrap();
        assert_eq!(sig.len(), 64);
        let ecdsa = EcdsaSig::from_private_components(
            BigNum::from_slice(&sig[..32]).unwrap(),
            BigNum::from_slice(&sig[32..]).unwrap(),
        )
        .unwrap();
        let digest = hash(MessageDigest::sha256(), b"payload").unwrap();
        let ec = key.pkey().ec_key().unwrap();
        assert!(ecdsa.verify(&digest, &ec).unwrap());
        assert!(!ecdsa
            .verify(&hash(MessageDigest::sha256(), b"other").unwrap(), &ec)
            .unwrap());
    }

    #[test]
    fn es384_signature_is_raw_r_s_and_jwk_names_the_curve() {
        let key = AccountKey::from_pkey(KeyType::P384.generate().unwrap()).unwrap();
        assert_eq!(key.alg_name(), "ES384");
        let jwk = serde_json::to_value(key.jwk()).unwrap();
        assert_eq!(jwk["crv"], "P-384");
        assert_eq!(unb64(jwk["x"].as_str().unwrap()).len(), 48);
        let sig = key.sign(b"payload").unwrap();
        assert_eq!(sig.len(), 96);
        let ecdsa = EcdsaSig::from_private_components(
            BigNum::from_slice(&sig[..48]).unwrap(),
            BigNum::from_slice(&sig[48..]).unwrap(),
        )
        .unwrap();
        let digest = hash(MessageDigest::sha384(), b"payload").unwrap();
        assert!(ecdsa
            .verify(&digest, &key.pkey().ec_key().unwrap())
            .unwrap());
    }

    #[test]
    fn other_curves_are_refused() {
        let group = EcGroup::from_curve_name(Nid::SECP521R1).unwrap();
        let pkey = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        assert!(AccountKey::from_pkey(pkey).is_err());
    }

    #[test]
    fn cert_key_types_generate() {
        assert_eq!(KeyType::P384.generate().unwrap().bits(), 384);
        assert_eq!(KeyType::P256.generate().unwrap().id(), Id::EC);
    }
}
