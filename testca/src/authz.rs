//! Authorizations (RFC 8555 §7.1.4, §7.5) as Boulder's WFE shows them: a wildcard's
//! identifier without "*." plus `"wildcard": true`, challenges in random order (so clients do
//! not rely on it), only the attempted challenge once one was tried, every challenge invalid
//! when the authorization is, expired authorizations 404. POST `{"status":"deactivated"}`
//! deactivates (RFC 8555 §7.5.2).

use actix_web::{web, HttpRequest, HttpResponse};
use rand::seq::SliceRandom;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ca::Ca;
use crate::clock;
use crate::limits::{LimitName, Mode, Txn};
use crate::mirror::Write;
use crate::model::{Authz, AuthzStatus, ChallType};
use crate::problem::Problem;

pub fn challenge_json(ca: &Ca, a: &Authz, kind: ChallType) -> Value {
    let token = a.token_b64();
    let attempt = a.attempt.as_ref().filter(|t| t.kind == kind);
    let status = match attempt {
        _ if a.status == AuthzStatus::Invalid => "invalid",
        Some(t) if t.error.is_some() => "invalid",
        Some(_) => "valid",
        None => "pending",
    };
    let mut v = json!({
        "type": kind.name(),
        "url": ca.challenge_url(a.reg_id, a.id, &kind.string_id(&token)),
        "status": status,
        "token": token,
    });
    if let Some(t) = attempt {
        v["validated"] = json!(clock::rfc3339(t.at));
        if let Some(e) = &t.error {
            v["error"] = json!(e);
        }
        if !t.records.is_empty() {
            v["validationRecord"] = json!(t.records);
        }
    }
    v
}

pub fn authz_json(ca: &Ca, a: &Authz, status: AuthzStatus) -> Value {
    let mut challenges: Vec<Value> = a
        .shown_challenges()
        .into_iter()
        .map(|c| challenge_json(ca, a, c))
        .collect();
    challenges.shuffle(&mut rand::rng());
    let mut v = json!({
        "identifier": {"type": "dns", "value": a.ident.trim_start_matches("*.")},
        "status": status.name(),
        "expires": clock::rfc3339(a.expires),
        "challenges": challenges,
    });
    if a.is_wildcard() {
        v["wildcard"] = json!(true);
    }
    v
}

/// The authorization an id names, unless it expired (Boulder: 404 "Expired authorization").
pub fn live_authz(ca: &Ca, raw_id: &str, missing: &str) -> Result<Authz, Problem> {
    let id: u64 = raw_id
        .parse()
        .map_err(|_| Problem::malformed("Invalid authorization ID"))?;
    let authz = ca
        .store
        .authz(id)
        .ok_or_else(|| Problem::not_found(missing))?;
    if authz.expires <= clock::now() {
        return Err(Problem::not_found("Expired authorization"));
    }
    Ok(authz)
}

#[derive(Deserialize)]
struct Deactivate {
    #[serde(default)]
    status: String,
}

/// GET, POST-as-GET, or deactivation of `/acme/authz/{regID}/{id}` (the regID is ignored, as
/// in Boulder).
pub async fn authorization(
    ca: web::Data<Ca>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let posted = if req.method() == actix_web::http::Method::POST {
        let (payload, account, _) = ca.post_for_account(&req, body).await?;
        Some((payload, account))
    } else {
        None
    };
    let authz = live_authz(&ca, &path.1, "No such authorization")?;
    let mut status = authz.status;
    if let Some((payload, account)) = posted {
        if account.id != authz.reg_id {
            return Err(Problem::unauthorized(
                "Account ID doesn't match ID for authorization",
            ));
        }
        if !payload.is_empty() {
            let request: Deactivate = serde_json::from_slice(&payload)
                .map_err(|_| Problem::malformed("Error unmarshaling JSON"))?;
            if request.status != "deactivated" {
                return Err(Problem::malformed("Invalid status value"));
            }
            deactivate(&ca, &authz);
            status = AuthzStatus::Deactivated;
        }
    }
    Ok(HttpResponse::Ok().json(authz_json(&ca, &authz, status)))
}

/// Deactivates a pending or valid authorization; a pending one counts as a failed
/// authorization (Boulder RA DeactivateAuthorization).
fn deactivate(ca: &Ca, authz: &Authz) {
    let before = ca.store.update_authz(authz.id, |a| {
        let before = a.status;
        if matches!(before, AuthzStatus::Pending | AuthzStatus::Valid) {
            a.status = AuthzStatus::Deactivated;
        }
        before
    });
    if matches!(before, Some(AuthzStatus::Pending | AuthzStatus::Valid)) {
        ca.mirror(Write::AuthzStatus {
            id: authz.id,
            status: AuthzStatus::Deactivated.code(),
        });
    }
    if before == Some(AuthzStatus::Pending) {
        let key = format!("{}:{}", authz.reg_id, authz.ident);
        let _ = ca.limits.batch(&[Txn::new(
            LimitName::FailedAuthorizationsPerDomainPerAccount,
            key,
            Mode::SpendOnly,
        )]);
    }
}
