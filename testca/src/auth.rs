//! Authenticating POSTs (RFC 8555 §6.2-6.5) in Boulder's order (wfe2/verify.go): request
//! headers, body size, JWS parse, then for `kid` the account lookup through the account cache
//! (unknown → accountDoesNotExist, not valid → unauthorized) before the signature; then
//! algorithm, signature ("JWS verification error"), nonce, `url`, and JSON payload.

use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use serde_json::Value;

use crate::ca::Ca;
use crate::jwk::{self, Jwk, JwkError};
use crate::jws::{AuthKind, Jws};
use crate::model::{Account, AccountStatus};
use crate::problem::{Kind, Problem};
use crate::stats::bump;

/// Boulder's `maxRequestSize` (wfe2/verify.go); larger bodies get 403 unauthorized.
pub const MAX_BODY: usize = 50_000;

/// The context Boulder gives JWS problems ("Unable to validate JWS :: ...").
pub const JWS_CONTEXT: &str = "Unable to validate JWS";

/// Boulder `validPOSTRequest` plus the bounded body read.
pub async fn read_post(req: &HttpRequest, mut body: web::Payload) -> Result<Vec<u8>, Problem> {
    match req.headers().get("Content-Type") {
        None => {
            return Err(Problem::malformed(
                "No Content-Type header on POST. Content-Type must be \"application/jose+json\"",
            ))
        }
        Some(v) if v.as_bytes() != b"application/jose+json" => return Err(Problem::malformed(
            "Invalid Content-Type header on POST. Content-Type must be \"application/jose+json\"",
        )),
        Some(_) => {}
    }
    if req.headers().contains_key("Replay-Nonce") {
        return Err(Problem::malformed(
            "HTTP requests should NOT contain Replay-Nonce header. Use JWS nonce field",
        ));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| Problem::malformed("unable to read request body"))?;
        if bytes.len() + chunk.len() > MAX_BODY {
            return Err(Problem::unauthorized("request body too large"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn parse_jwk(value: &Value) -> Result<Jwk, Problem> {
    Jwk::parse(value).map_err(|e| match e {
        JwkError::Invalid => Problem::malformed(e.to_string()),
        JwkError::Unsupported => Problem::new(Kind::BadPublicKey, e.to_string()),
    })
}

impl Ca {
    /// Boulder `checkAlgorithm`.
    fn check_alg(&self, jws: &Jws, key: &Jwk) -> Result<(), Problem> {
        if jws.header.alg != key.alg.name() {
            return Err(Problem::malformed(format!(
                "JWS signature header algorithm {:?} does not match expected algorithm {:?} for JWK",
                jws.header.alg,
                key.alg.name()
            )));
        }
        Ok(())
    }

    /// Boulder `validJWSForKey`: the payload when everything holds.
    pub fn verify_with(&self, req: &HttpRequest, jws: &Jws, key: &Jwk) -> Result<Vec<u8>, Problem> {
        self.check_alg(jws, key)?;
        if !key.verify(&jws.signing_input(), &jws.signature) {
            return Err(Problem::malformed("JWS verification error"));
        }
        if let Err(e) = self
            .nonces
            .redeem(jws.header.nonce.as_deref().unwrap_or(""))
        {
            bump(&self.stats.bad_nonces);
            return Err(Problem::new(Kind::BadNonce, e.to_string()));
        }
        let expected = self.url(req.uri().path_and_query().map_or("", |p| p.as_str()));
        match jws.header.url.as_deref() {
            None | Some("") => {
                return Err(Problem::malformed("JWS header parameter 'url' required"))
            }
            Some(url) if url != expected => {
                return Err(Problem::malformed(format!(
                    "JWS header parameter 'url' incorrect. Expected {expected:?} got {url:?}"
                )))
            }
            Some(_) => {}
        }
        if !jws.payload.is_empty() && serde_json::from_slice::<Value>(&jws.payload).is_err() {
            return Err(Problem::malformed("Request payload did not parse as JSON"));
        }
        Ok(jws.payload.clone())
    }

    /// Boulder `validSelfAuthenticatedJWS` (no key policy: revocation by a blocked key must
    /// still work).
    pub fn verify_self_signed(
        &self,
        req: &HttpRequest,
        jws: &Jws,
    ) -> Result<(Vec<u8>, Jwk), Problem> {
        jws.require(AuthKind::Jwk)?;
        let key = parse_jwk(jws.header.jwk.as_ref().unwrap_or(&Value::Null))?;
        let payload = self.verify_with(req, jws, &key)?;
        Ok((payload, key))
    }

    /// Boulder `validSelfAuthenticatedPOST`: the above plus the key policy and blocked keys.
    pub fn verify_new_key(&self, req: &HttpRequest, jws: &Jws) -> Result<(Vec<u8>, Jwk), Problem> {
        let (payload, key) = self.verify_self_signed(req, jws)?;
        self.key_policy(&key)?;
        Ok((payload, key))
    }

    /// Boulder goodkey with the blockedKeys check, as badPublicKey.
    pub fn key_policy(&self, key: &Jwk) -> Result<(), Problem> {
        let refused = if self.store.is_blocked(&key.digest) {
            Err(jwk::BadKey::Blocked)
        } else {
            jwk::good_key(&key.key)
        };
        refused.map_err(|why| {
            Problem::new(
                Kind::BadPublicKey,
                format!("invalid request signing key: {why}"),
            )
        })
    }

    /// Boulder `lookupJWK`: the account named by `kid`, as the account cache has it.
    pub fn kid_account(&self, jws: &Jws) -> Result<Account, Problem> {
        jws.require(AuthKind::Kid)?;
        let kid = jws.header.kid.as_deref().unwrap_or("");
        let prefix = self.url("/acme/acct/");
        let Some(id) = kid.strip_prefix(&prefix) else {
            return Err(Problem::malformed(format!(
                "KeyID header contained an invalid account URL: {kid:?}"
            )));
        };
        let id: u64 = id.parse().map_err(|_| {
            Problem::malformed(format!("Malformed account ID in KeyID header URL: {kid:?}"))
        })?;
        let account = self.cache.get(id, &self.store).ok_or_else(|| {
            Problem::new(
                Kind::AccountDoesNotExist,
                format!("Account {kid:?} not found"),
            )
        })?;
        if account.status != AccountStatus::Valid {
            return Err(Problem::unauthorized(format!(
                "Account is not valid, has status {:?}",
                account.status.name()
            )));
        }
        Ok(account)
    }

    /// Boulder `validJWSForAccount`.
    pub fn verify_account(
        &self,
        req: &HttpRequest,
        jws: &Jws,
    ) -> Result<(Vec<u8>, Account), Problem> {
        let account = self.kid_account(jws)?;
        let payload = self.verify_with(req, jws, &account.key)?;
        Ok((payload, account))
    }

    /// Reads and parses a POST's JWS, not yet verified; problems carry Boulder's context.
    pub async fn read_jws(
        &self,
        req: &HttpRequest,
        body: web::Payload,
    ) -> Result<crate::jws::Jws, Problem> {
        let run = async { crate::jws::parse(&read_post(req, body).await?) };
        run.await.map_err(|p: Problem| p.context(JWS_CONTEXT))
    }

    /// The account of a POST-as-GET, or `None` for a plain GET (Boulder serves orders,
    /// authorizations, challenges and certificates to both).
    pub async fn requester(
        &self,
        req: &HttpRequest,
        body: web::Payload,
    ) -> Result<Option<Account>, Problem> {
        match req.method() == actix_web::http::Method::POST {
            true => Ok(Some(self.post_as_get(req, body).await?)),
            false => Ok(None),
        }
    }

    /// Reads, parses and authenticates a kid-signed POST; problems carry Boulder's context.
    pub async fn post_for_account(
        &self,
        req: &HttpRequest,
        body: web::Payload,
    ) -> Result<(Vec<u8>, Account, Jws), Problem> {
        let run = async {
            let bytes = read_post(req, body).await?;
            let jws = crate::jws::parse(&bytes)?;
            let (payload, account) = self.verify_account(req, &jws)?;
            Ok((payload, account, jws))
        };
        run.await.map_err(|p: Problem| p.context(JWS_CONTEXT))
    }

    /// A POST-as-GET (empty payload) from an account.
    pub async fn post_as_get(
        &self,
        req: &HttpRequest,
        body: web::Payload,
    ) -> Result<Account, Problem> {
        let (payload, account, _) = self.post_for_account(req, body).await?;
        if !payload.is_empty() {
            return Err(
                Problem::malformed("POST-as-GET requests must have an empty payload")
                    .context(JWS_CONTEXT),
            );
        }
        Ok(account)
    }
}
