//! Flattened JSON JWS (RFC 7515 §7.2.2) as ACME requires it (RFC 8555 §6.2): one signature, all
//! headers protected, `alg` among Boulder's supported algorithms, and exactly one of `jwk` and
//! `kid`. Parsing only; authentication is in `auth`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::jwk::SUPPORTED_ALGS;
use crate::problem::{Kind, Problem};

/// The protected header members ACME uses.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub alg: String,
    pub nonce: Option<String>,
    pub url: Option<String>,
    pub jwk: Option<Value>,
    pub kid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Jws {
    protected_b64: String,
    payload_b64: String,
    pub signature: Vec<u8>,
    pub header: Header,
    pub payload: Vec<u8>,
}

/// How a JWS says who signed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    Jwk,
    Kid,
}

fn parse_error() -> Problem {
    Problem::malformed("Parse error reading JWS")
}

fn text(v: &Value, field: &str) -> Result<String, Problem> {
    match v.get(field) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(parse_error()),
    }
}

/// Boulder wfe2 `parseJWS`.
pub fn parse(body: &[u8]) -> Result<Jws, Problem> {
    let outer: Value = serde_json::from_slice(body).map_err(|_| parse_error())?;
    if !outer.is_object() {
        return Err(parse_error());
    }
    if outer.get("header").is_some_and(|h| !h.is_null()) {
        return Err(Problem::malformed(
            "JWS \"header\" field not allowed. All headers must be in \"protected\" field",
        ));
    }
    if outer
        .get("signatures")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty())
    {
        return Err(Problem::malformed(
            "JWS \"signatures\" field not allowed. Only the \"signature\" field should contain a signature",
        ));
    }
    let protected_b64 = text(&outer, "protected")?;
    let payload_b64 = text(&outer, "payload")?;
    let signature_b64 = text(&outer, "signature")?;
    let protected = URL_SAFE_NO_PAD
        .decode(&protected_b64)
        .map_err(|_| parse_error())?;
    let header: Value = serde_json::from_slice(&protected).map_err(|_| parse_error())?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(parse_error)?
        .to_string();
    if !SUPPORTED_ALGS.contains(&alg.as_str()) {
        let mut p = Problem::new(
            Kind::BadSignatureAlgorithm,
            format!(
                "JWS signature header contains unsupported algorithm {alg:?}, expected one of [{}]",
                SUPPORTED_ALGS.join(" ")
            ),
        );
        p.algorithms = Some(SUPPORTED_ALGS.to_vec());
        return Err(p);
    }
    let opt_text = |field: &str| -> Result<Option<String>, Problem> {
        match header.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(parse_error()),
        }
    };
    let header = Header {
        nonce: opt_text("nonce")?,
        url: opt_text("url")?,
        kid: opt_text("kid")?.filter(|k| !k.is_empty()),
        jwk: header.get("jwk").filter(|j| !j.is_null()).cloned(),
        alg,
    };
    let payload = URL_SAFE_NO_PAD
        .decode(&payload_b64)
        .map_err(|_| parse_error())?;
    let signature = URL_SAFE_NO_PAD
        .decode(&signature_b64)
        .map_err(|_| parse_error())?;
    if signature.is_empty() {
        return Err(Problem::malformed("POST JWS not signed"));
    }
    Ok(Jws {
        protected_b64,
        payload_b64,
        signature,
        header,
        payload,
    })
}

impl Jws {
    /// The JWS Signing Input (RFC 7515 §5.1 step 6).
    pub fn signing_input(&self) -> Vec<u8> {
        let mut input = Vec::with_capacity(self.protected_b64.len() + self.payload_b64.len() + 1);
        input.extend_from_slice(self.protected_b64.as_bytes());
        input.push(b'.');
        input.extend_from_slice(self.payload_b64.as_bytes());
        input
    }

    /// Boulder `checkJWSAuthType`: `Ok(None)` when neither `jwk` nor `kid` is present.
    pub fn auth_kind(&self) -> Result<Option<AuthKind>, Problem> {
        match (&self.header.jwk, &self.header.kid) {
            (Some(_), Some(_)) => Err(Problem::malformed(
                "jwk and kid header fields are mutually exclusive",
            )),
            (Some(_), None) => Ok(Some(AuthKind::Jwk)),
            (None, Some(_)) => Ok(Some(AuthKind::Kid)),
            (None, None) => Ok(None),
        }
    }

    /// Boulder `enforceJWSAuthType`.
    pub fn require(&self, kind: AuthKind) -> Result<(), Problem> {
        if self.auth_kind()? == Some(kind) {
            return Ok(());
        }
        Err(Problem::malformed(match kind {
            AuthKind::Kid => "No Key ID in JWS header",
            AuthKind::Jwk => "No embedded JWK in JWS header",
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn refuses_what_boulder_refuses() {
        let ok = format!(
            r#"{{"protected":"{}","payload":"","signature":"AAAA"}}"#,
            enc(r#"{"alg":"ES256","kid":"x","nonce":"n","url":"u"}"#)
        );
        let jws = parse(ok.as_bytes()).unwrap();
        assert_eq!(jws.auth_kind().unwrap(), Some(AuthKind::Kid));
        let hs = format!(
            r#"{{"protected":"{}","payload":"","signature":"AAAA"}}"#,
            enc(r#"{"alg":"HS256"}"#)
        );
        assert_eq!(
            parse(hs.as_bytes()).unwrap_err().kind,
            Kind::BadSignatureAlgorithm
        );
        let unsigned = format!(
            r#"{{"protected":"{}","payload":"","signature":""}}"#,
            enc(r#"{"alg":"ES256"}"#)
        );
        assert_eq!(
            parse(unsigned.as_bytes()).unwrap_err().detail,
            "POST JWS not signed"
        );
        let header = format!(
            r#"{{"protected":"{}","header":{{"a":"b"}},"payload":"","signature":"AA"}}"#,
            enc(r#"{"alg":"ES256"}"#)
        );
        assert!(parse(header.as_bytes())
            .unwrap_err()
            .detail
            .contains("\"header\""));
        assert!(parse(b"[]").is_err());
    }
}
