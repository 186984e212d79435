//! A small ACME client for the tests: P-256 keys, ES256 flattened JWS, nonces from responses.

use std::cell::RefCell;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{hash, MessageDigest};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::stack::Stack;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509ReqBuilder};
use serde_json::{json, Value};

pub fn b64(data: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

pub fn jwk(key: &PKey<Private>) -> Value {
    let ec = key.ec_key().unwrap();
    let mut ctx = BigNumContext::new().unwrap();
    let (mut x, mut y) = (
        openssl::bn::BigNum::new().unwrap(),
        openssl::bn::BigNum::new().unwrap(),
    );
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .unwrap();
    json!({"crv": "P-256", "kty": "EC", "x": b64(x.to_vec_padded(32).unwrap()), "y": b64(y.to_vec_padded(32).unwrap())})
}

pub fn thumbprint(key: &PKey<Private>) -> String {
    let j = jwk(key);
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        j["x"].as_str().unwrap(),
        j["y"].as_str().unwrap()
    );
    b64(hash(MessageDigest::sha256(), canonical.as_bytes()).unwrap())
}

/// Who signs: the account (kid) or an embedded key.
pub enum Signer<'a> {
    Kid(&'a PKey<Private>, &'a str),
    Jwk(&'a PKey<Private>),
}

pub fn jws(signer: Signer, url: &str, nonce: Option<&str>, payload: Option<&Value>) -> Value {
    let (key, mut protected) = match signer {
        Signer::Kid(k, kid) => (k, json!({"alg": "ES256", "kid": kid, "url": url})),
        Signer::Jwk(k) => (k, json!({"alg": "ES256", "jwk": jwk(k), "url": url})),
    };
    if let Some(n) = nonce {
        protected["nonce"] = json!(n);
    }
    let protected = b64(protected.to_string());
    let payload = payload.map_or(String::new(), |p| b64(p.to_string()));
    let digest = hash(
        MessageDigest::sha256(),
        format!("{protected}.{payload}").as_bytes(),
    )
    .unwrap();
    let sig = EcdsaSig::sign(&digest, &key.ec_key().unwrap()).unwrap();
    let mut raw = sig.r().to_vec_padded(32).unwrap();
    raw.extend(sig.s().to_vec_padded(32).unwrap());
    json!({"protected": protected, "payload": payload, "signature": b64(raw)})
}

pub fn csr(key: &PKey<Private>, names: &[&str]) -> Vec<u8> {
    let mut b = X509ReqBuilder::new().unwrap();
    let mut subject = X509NameBuilder::new().unwrap();
    subject
        .append_entry_by_nid(Nid::COMMONNAME, names[0])
        .unwrap();
    b.set_subject_name(&subject.build()).unwrap();
    b.set_pubkey(key).unwrap();
    let mut san = SubjectAlternativeName::new();
    for n in names {
        san.dns(n);
    }
    let mut exts = Stack::new().unwrap();
    exts.push(san.build(&b.x509v3_context(None)).unwrap())
        .unwrap();
    b.add_extensions(&exts).unwrap();
    b.sign(key, MessageDigest::sha256()).unwrap();
    b.build().to_der().unwrap()
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }

    pub fn problem(&self) -> (u16, String, String) {
        let j = self.json();
        let kind = j["type"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("urn:ietf:params:acme:error:")
            .to_string();
        (
            self.status,
            kind,
            j["detail"].as_str().unwrap_or("").to_string(),
        )
    }
}

pub struct Client {
    http: awc::Client,
    pub dir: Value,
    nonce: RefCell<Option<String>>,
    pub key: PKey<Private>,
    pub kid: String,
}

impl Client {
    pub async fn new(directory_url: &str) -> Client {
        let http = awc::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .finish();
        let dir = http
            .get(directory_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Client {
            http,
            dir,
            nonce: RefCell::new(None),
            key: p256(),
            kid: String::new(),
        }
    }

    pub fn url(&self, name: &str) -> String {
        self.dir[name].as_str().unwrap().to_string()
    }

    pub async fn get(&self, url: &str) -> Resp {
        let mut res = self.http.get(url).send().await.unwrap();
        let body = res.body().limit(1 << 20).await.unwrap().to_vec();
        Resp {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body,
        }
    }

    pub async fn nonce(&self) -> String {
        if let Some(n) = self.nonce.borrow_mut().take() {
            return n;
        }
        let res = self.http.head(self.url("newNonce")).send().await.unwrap();
        res.headers()
            .get("Replay-Nonce")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    }

    /// Posts a ready JWS body; keeps the response's nonce.
    pub async fn send(&self, url: &str, body: &Value) -> Resp {
        self.send_with(url, body, &[]).await
    }

    pub async fn send_with(&self, url: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
        let mut req = self
            .http
            .post(url)
            .insert_header(("Content-Type", "application/jose+json"));
        for h in headers {
            req = req.insert_header(*h);
        }
        let mut res = req.send_body(body.to_string()).await.unwrap();
        let body = res.body().limit(1 << 20).await.unwrap().to_vec();
        if let Some(n) = res.headers().get("Replay-Nonce") {
            *self.nonce.borrow_mut() = Some(n.to_str().unwrap().to_string());
        }
        Resp {
            status: res.status().as_u16(),
            headers: res.headers().clone(),
            body,
        }
    }

    /// A kid-signed POST (payload `None` = POST-as-GET).
    pub async fn post(&self, url: &str, payload: Option<&Value>) -> Resp {
        let nonce = self.nonce().await;
        let body = jws(
            Signer::Kid(&self.key, &self.kid),
            url,
            Some(&nonce),
            payload,
        );
        self.send(url, &body).await
    }

    pub async fn post_with_key(
        &self,
        key: &PKey<Private>,
        url: &str,
        payload: Option<&Value>,
    ) -> Resp {
        let nonce = self.nonce().await;
        let body = jws(Signer::Kid(key, &self.kid), url, Some(&nonce), payload);
        self.send(url, &body).await
    }

    pub async fn post_jwk(&self, key: &PKey<Private>, url: &str, payload: &Value) -> Resp {
        let nonce = self.nonce().await;
        let body = jws(Signer::Jwk(key), url, Some(&nonce), Some(payload));
        self.send(url, &body).await
    }

    pub async fn register(&mut self) -> Resp {
        let url = self.url("newAccount");
        let key = self.key.clone();
        let res = self
            .post_jwk(
                &key,
                &url,
                &json!({"termsOfServiceAgreed": true, "contact": ["mailto:ops@wile.com"]}),
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.json());
        self.kid = res.header("Location").unwrap();
        res
    }

    pub async fn new_order(&self, names: &[&str], extra: Value) -> Resp {
        let mut payload = json!({"identifiers": names.iter().map(|n| json!({"type": "dns", "value": n})).collect::<Vec<_>>()});
        if let (Some(p), Some(e)) = (payload.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        self.post(&self.url("newOrder"), Some(&payload)).await
    }

    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", thumbprint(&self.key))
    }
}
