//! Flattened JWS request bodies
//! ([RFC 8555 §6.2](https://www.rfc-editor.org/rfc/rfc8555#section-6.2),
//! [RFC 7515 §7.2.2](https://www.rfc-editor.org/rfc/rfc7515#section-7.2.2)).

use openssl::error::ErrorStack;
use serde::Serialize;

use super::key::Jwk;
use super::{b64, AccountKey};

/// Who signs: a new key presents its JWK (newAccount, revocation by certificate key), an existing
/// account its URL as `kid` ([RFC 8555 §6.2](https://www.rfc-editor.org/rfc/rfc8555#section-6.2)).
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// Presented as `jwk`: newAccount (no account URL yet) and revocation by the certificate's key.
    Jwk(&'a AccountKey),
    /// An account: its key signs, its URL goes as `kid`.
    Kid(&'a AccountKey, &'a str),
}

impl Signer<'_> {
    /// The key that signs.
    pub fn key(&self) -> &AccountKey {
        match self {
            Signer::Jwk(key) | Signer::Kid(key, _) => key,
        }
    }
}

/// The JWS protected header of an ACME request
/// ([RFC 8555 §6.2](https://www.rfc-editor.org/rfc/rfc8555#section-6.2)): `jwk` or `kid`, never
/// both; a `nonce` on every request but the inner JWS of a key change
/// ([§7.3.5](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.5)).
#[derive(Debug, Serialize)]
struct Header<'a> {
    alg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwk: Option<&'a Jwk>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    url: &'a str,
}

/// The flattened JSON serialisation
/// ([RFC 7515 §7.2.2](https://www.rfc-editor.org/rfc/rfc7515#section-7.2.2)), members base64url.
#[derive(Debug, Serialize)]
struct Flattened {
    protected: String,
    payload: String,
    signature: String,
}

/// Serialises and signs one request
/// ([RFC 8555 §6.2](https://www.rfc-editor.org/rfc/rfc8555#section-6.2)). `payload` `None` is
/// POST-as-GET ([RFC 8555 §6.3](https://www.rfc-editor.org/rfc/rfc8555#section-6.3)): the payload
/// is the empty string.
pub fn sign(
    signer: Signer<'_>,
    nonce: &str,
    url: &str,
    payload: Option<&[u8]>,
) -> Result<String, ErrorStack> {
    let key = signer.key();
    let (jwk, kid) = match signer {
        Signer::Jwk(key) => (Some(key.jwk()), None),
        Signer::Kid(_, kid) => (None, Some(kid)),
    };
    let header = Header {
        alg: key.alg_name(),
        jwk,
        kid,
        nonce: Some(nonce),
        url,
    };
    flattened(key, &header, payload)
}

/// The inner JWS of a keyChange request
/// ([RFC 8555 §7.3.5](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.5)): signed by the new
/// key, which it presents as `jwk`, with the keyChange URL and no nonce.
pub fn sign_inner(new_key: &AccountKey, url: &str, payload: &[u8]) -> Result<String, ErrorStack> {
    let header = Header {
        alg: new_key.alg_name(),
        jwk: Some(new_key.jwk()),
        kid: None,
        nonce: None,
        url,
    };
    flattened(new_key, &header, Some(payload))
}

/// `payload` signed under `header`, serialised.
fn flattened(
    key: &AccountKey,
    header: &Header<'_>,
    payload: Option<&[u8]>,
) -> Result<String, ErrorStack> {
    let protected = b64(serde_json::to_vec(header).expect("a JWS header serialises"));
    let payload = payload.map(b64).unwrap_or_default();
    let mut input = String::with_capacity(protected.len() + 1 + payload.len());
    input.push_str(&protected);
    input.push('.');
    input.push_str(&payload);
    let signature = b64(key.sign(input.as_bytes())?);
    let body = Flattened {
        protected,
        payload,
        signature,
    };
    Ok(serde_json::to_string(&body).expect("a JWS serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::JwsAlg;
    use base64::Engine;
    use openssl::bn::BigNum;
    use openssl::ecdsa::EcdsaSig;
    use openssl::hash::{hash, MessageDigest};
    use openssl::sign::Verifier;
    use serde_json::Value;

    fn unb64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    }

    fn parts(body: &str) -> (Value, String, String, Vec<u8>) {
        let v: Value = serde_json::from_str(body).unwrap();
        let p = v["protected"].as_str().unwrap().to_owned();
        let header = serde_json::from_slice(&unb64(&p)).unwrap();
        let payload = v["payload"].as_str().unwrap().to_owned();
        let sig = unb64(v["signature"].as_str().unwrap());
        (header, p, payload, sig)
    }

    #[test]
    fn es256_with_jwk_verifies_with_openssl() {
        let key = AccountKey::generate(JwsAlg::Es256).unwrap();
        let body = sign(
            Signer::Jwk(&key),
            "n0nce",
            "https://ca/new-acct",
            Some(b"{}"),
        )
        .unwrap();
        let (header, p, payload, sig) = parts(&body);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["nonce"], "n0nce");
        assert_eq!(header["url"], "https://ca/new-acct");
        assert_eq!(header["jwk"]["kty"], "EC");
        assert!(header.get("kid").is_none());
        assert_eq!(unb64(&payload), b"{}");

        let ecdsa = EcdsaSig::from_private_components(
            BigNum::from_slice(&sig[..32]).unwrap(),
            BigNum::from_slice(&sig[32..]).unwrap(),
        )
        .unwrap();
        let digest = hash(MessageDigest::sha256(), format!("{p}.{payload}").as_bytes()).unwrap();
        assert!(ecdsa
            .verify(&digest, &key.pkey().ec_key().unwrap())
            .unwrap());
    }

    #[test]
    fn key_change_inner_jws_has_jwk_and_url_but_no_nonce() {
        let key = AccountKey::generate(JwsAlg::Es256).unwrap();
        let body = sign_inner(&key, "https://ca/key-change", b"{\"account\":\"a\"}").unwrap();
        let (header, p, payload, sig) = parts(&body);
        assert_eq!(header["url"], "https://ca/key-change");
        assert_eq!(header["jwk"]["crv"], "P-256");
        assert!(header.get("nonce").is_none() && header.get("kid").is_none());
        assert_eq!(unb64(&payload), b"{\"account\":\"a\"}");
        let ecdsa = EcdsaSig::from_private_components(
            BigNum::from_slice(&sig[..32]).unwrap(),
            BigNum::from_slice(&sig[32..]).unwrap(),
        )
        .unwrap();
        let digest = hash(MessageDigest::sha256(), format!("{p}.{payload}").as_bytes()).unwrap();
        assert!(ecdsa
            .verify(&digest, &key.pkey().ec_key().unwrap())
            .unwrap());
    }

    #[test]
    fn rs256_post_as_get_with_kid_verifies_with_openssl() {
        let key = AccountKey::generate(JwsAlg::Rs256).unwrap();
        let body = sign(
            Signer::Kid(&key, "https://ca/acct/1"),
            "n",
            "https://ca/o/1",
            None,
        )
        .unwrap();
        let (header, p, payload, sig) = parts(&body);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["kid"], "https://ca/acct/1");
        assert!(header.get("jwk").is_none());
        assert_eq!(payload, "", "POST-as-GET has an empty payload");

        let mut verifier = Verifier::new(MessageDigest::sha256(), key.pkey()).unwrap();
        verifier
            .update(format!("{p}.{payload}").as_bytes())
            .unwrap();
        assert!(verifier.verify(&sig).unwrap());
        let mut tampered = Verifier::new(MessageDigest::sha256(), key.pkey()).unwrap();
        tampered.update(format!("{p}.e30").as_bytes()).unwrap();
        assert!(!tampered.verify(&sig).unwrap());
    }
}
