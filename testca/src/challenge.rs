//! Challenges (RFC 8555 §7.5.1): GET shows one, POST `{}` asks the CA to validate it. As in
//! Boulder, the answer is the challenge as it stands (still "pending"); the validation runs in
//! the background and the authorization turns valid or invalid. The key authorization uses the
//! account's current key from the store (Boulder's RA reads the SA, not the WFE cache).

use std::rc::Rc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::authz::{challenge_json, live_authz};
use crate::ca::Ca;
use crate::model::{Authz, AuthzStatus};
use crate::problem::Problem;
use crate::validate::{self, Job, Validator};

fn respond(ca: &Ca, authz: &Authz, kind: crate::model::ChallType) -> HttpResponse {
    let body = challenge_json(ca, authz, kind);
    let url = body["url"].as_str().unwrap_or_default().to_string();
    HttpResponse::Ok()
        .insert_header(("Location", url))
        .append_header((
            "Link",
            format!("<{}>;rel=\"up\"", ca.authz_url(authz.reg_id, authz.id)),
        ))
        .json(body)
}

/// `/acme/chall/{regID}/{authzID}/{challID}` (the regID is ignored, as in Boulder).
pub async fn challenge(
    ca: web::Data<Ca>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (_, authz_id, chall_id) = path.into_inner();
    let authz = live_authz(&ca, &authz_id, "No such challenge")?;
    let token = authz.token_b64();
    let kind = authz
        .shown_challenges()
        .into_iter()
        .find(|c| c.string_id(&token) == chall_id)
        .ok_or_else(|| Problem::not_found("No such challenge"))?;
    if req.method() != actix_web::http::Method::POST {
        return Ok(respond(&ca, &authz, kind));
    }
    let (payload, account, _) = ca.post_for_account(&req, body).await?;
    if account.id != authz.reg_id {
        return Err(Problem::unauthorized(
            "User account ID doesn't match account ID in authorization",
        ));
    }
    if payload.is_empty() || authz.status == AuthzStatus::Valid {
        return Ok(respond(&ca, &authz, kind));
    }
    if serde_json::from_slice::<Value>(&payload).is_err() {
        return Err(Problem::malformed("Error unmarshaling challenge response"));
    }
    if authz.status != AuthzStatus::Pending {
        return Err(Problem::malformed("authorization must be pending")
            .context("Unable to update challenge"));
    }
    let key = ca
        .store
        .account(authz.reg_id)
        .ok_or_else(|| Problem::internal("getting acct for authorization"))?
        .key;
    let start = ca
        .store
        .update_authz(authz.id, |a| !std::mem::replace(&mut a.validating, true))
        .unwrap_or(false);
    if start {
        let validator = req
            .app_data::<Rc<Validator>>()
            .cloned()
            .ok_or_else(|| Problem::internal("no validator on this worker"))?;
        let job = Job {
            authz_id: authz.id,
            reg_id: authz.reg_id,
            kind,
            name: authz.ident.trim_start_matches("*.").to_string(),
            ident: authz.ident.clone(),
            key_authorization: format!("{token}.{}", key.thumbprint),
            token,
        };
        actix_rt::spawn(validate::run(ca.clone(), validator, job));
    }
    Ok(respond(&ca, &authz, kind))
}
