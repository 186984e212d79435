//! Account key rollover (RFC 8555 §7.3.5) as Boulder's WFE checks it (wfe2/wfe.go KeyRollover,
//! verify.go validKeyRollover): the outer JWS authenticates the account through the account
//! cache, so `oldKey` must match the key the cache holds; the inner JWS is signed by the new key
//! with the same `url` (its nonce is not looked at); the new key must pass the key policy and
//! belong to no other account (409 conflict with that account's URL). Only the store changes:
//! the cache keeps the old key until its entry expires.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::account::account_json;
use crate::auth::JWS_CONTEXT;
use crate::ca::Ca;
use crate::jwk::Jwk;
use crate::jws::AuthKind;
use crate::mirror::Write;
use crate::problem::{Kind, Problem};

pub async fn key_change(
    ca: web::Data<Ca>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (outer_payload, account, outer) = ca.post_for_account(&req, body).await?;
    let ctx = |p: Problem| p.context(JWS_CONTEXT);
    let inner = crate::jws::parse(&outer_payload).map_err(ctx)?;
    inner.require(AuthKind::Jwk).map_err(ctx)?;
    let new_key = Jwk::parse(inner.header.jwk.as_ref().unwrap_or(&Value::Null))
        .map_err(|e| ctx(Problem::malformed(e.to_string())))?;
    ca.key_policy(&new_key).map_err(ctx)?;
    if inner.header.alg != new_key.alg.name() {
        return Err(ctx(Problem::malformed(format!(
            "JWS signature header algorithm {:?} does not match expected algorithm {:?} for JWK",
            inner.header.alg,
            new_key.alg.name()
        ))));
    }
    if !new_key.verify(&inner.signing_input(), &inner.signature) {
        return Err(ctx(Problem::malformed(
            "Inner JWS does not verify with embedded JWK",
        )));
    }
    let outer_url = outer.header.url.clone().unwrap_or_default();
    match inner.header.url.as_deref() {
        None | Some("") => {
            return Err(ctx(Problem::malformed(
                "Inner JWS header parameter 'url' required",
            )))
        }
        Some(url) if url != outer_url => {
            return Err(ctx(Problem::malformed(format!(
                "Outer JWS 'url' value {outer_url:?} does not match inner JWS 'url' value {url:?}"
            ))))
        }
        Some(_) => {}
    }
    let request: Value = serde_json::from_slice(&inner.payload).map_err(|_| {
        ctx(Problem::malformed(
            "Inner JWS payload did not parse as JSON key rollover object",
        ))
    })?;
    let wrong_old = || {
        ctx(Problem::malformed(
            "Inner JWS does not contain old key field matching current account key",
        ))
    };
    let old_key = request
        .get("oldKey")
        .filter(|v| !v.is_null())
        .ok_or_else(wrong_old)?;
    let old_key = Jwk::parse(old_key).map_err(|e| {
        ctx(Problem::malformed(format!(
            "Unable to compare new and old keys: {e}"
        )))
    })?;
    if old_key.digest != account.key.digest {
        return Err(wrong_old());
    }
    let named = request.get("account").and_then(Value::as_str).unwrap_or("");
    let kid = outer.header.kid.clone().unwrap_or_default();
    if named != kid {
        return Err(Problem::malformed(format!(
            "Inner key rollover request specified Account {named:?}, but outer JWS has Key ID {kid:?}"
        )));
    }
    if new_key.digest == account.key.digest {
        return Err(Problem::malformed(
            "New key specified by rollover request is the same as the old key",
        ));
    }
    let new_key = Arc::new(new_key);
    match ca.store.change_key(account.id, new_key.clone()) {
        Err(other) => {
            let mut p = Problem::new(
                Kind::Conflict,
                "New key is already in use for a different account",
            );
            p.location = Some(ca.account_url(other));
            Err(p)
        }
        Ok(None) => Err(Problem::internal("Unable to update account with new key")),
        Ok(Some(updated)) => {
            ca.mirror(Write::AccountKey {
                id: updated.id,
                jwk: new_key.json.clone(),
                digest: STANDARD.encode(new_key.digest),
            });
            Ok(HttpResponse::Ok().json(account_json(&updated)))
        }
    }
}
