//! Flattened JWS request bodies (RFC 8555 §6.2, RFC 7515 §7.2.2).

use openssl::error::ErrorStack;
use serde_json::json;

use super::{b64, AccountKey};

/// Who signs: a new key presents its JWK (newAccount, revocation by certificate key), an
/// existing account its URL as `kid` (RFC 8555 §6.2).
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    Jwk(&'a AccountKey),
    Kid(&'a AccountKey, &'a str),
}

impl Signer<'_> {
    pub fn key(&self) -> &AccountKey {
        match self {
            Signer::Jwk(key) | Signer::Kid(key, _) => key,
        }
    }
}

/// Serialises and signs one request. `payload` `None` is POST-as-GET (RFC 8555 §6.3): the
/// payload is the empty string.
pub fn sign(
    signer: Signer<'_>,
    nonce: &str,
    url: &str,
    payload: Option<&[u8]>,
) -> Result<String, ErrorStack> {
    let key = signer.key();
    let mut protected = json!({ "alg": key.alg_name(), "nonce": nonce, "url": url });
    match signer {
        Signer::Jwk(key) => {
            protected["jwk"] = serde_json::from_str(key.jwk()).expect("JWK is JSON we built");
        }
        Signer::Kid(_, kid) => protected["kid"] = kid.into(),
    }
    flattened(key, &protected, payload)
}

/// The inner JWS of a keyChange request (RFC 8555 §7.3.5): signed by the new key, which it
/// presents as `jwk`, with the keyChange URL and no nonce.
pub fn sign_inner(new_key: &AccountKey, url: &str, payload: &[u8]) -> Result<String, ErrorStack> {
    let protected = json!({
        "alg": new_key.alg_name(),
        "jwk": serde_json::from_str::<serde_json::Value>(new_key.jwk()).expect("JWK is JSON we built"),
        "url": url,
    });
    flattened(new_key, &protected, Some(payload))
}

/// The flattened JSON serialisation (RFC 7515 §7.2.2) of `payload` under `protected`.
fn flattened(
    key: &AccountKey,
    protected: &serde_json::Value,
    payload: Option<&[u8]>,
) -> Result<String, ErrorStack> {
    let protected = b64(protected.to_string());
    let payload = payload.map(b64).unwrap_or_default();
    let signature = b64(key.sign(format!("{protected}.{payload}").as_bytes())?);
    Ok(json!({ "protected": protected, "payload": payload, "signature": signature }).to_string())
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
