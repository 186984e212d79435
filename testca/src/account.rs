//! Accounts (RFC 8555 §7.3): newAccount signed by the new key, lookups by key
//! (`onlyReturnExisting`), the account URL for POST-as-GET, updates and deactivation, all as
//! Boulder's WFE answers them. Boulder no longer stores contacts: they are checked, then
//! dropped, and accounts show only `key`, `createdAt` and `status`.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::JWS_CONTEXT;
use crate::ca::Ca;
use crate::clock;
use crate::limits::{LimitName, Mode, Txn};
use crate::mirror::Write;
use crate::model::{Account, AccountStatus};
use crate::problem::{Kind, Problem};
use crate::stats::bump;

pub fn account_json(a: &Account) -> Value {
    json!({
        "key": a.key.value(),
        "createdAt": clock::rfc3339(a.created),
        "status": a.status.name(),
    })
}

fn terms_link(ca: &Ca) -> (&'static str, String) {
    ("Link", format!("<{}>;rel=\"terms-of-service\"", ca.terms))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewAccount {
    #[serde(default)]
    contact: Vec<String>,
    #[serde(default)]
    terms_of_service_agreed: bool,
    #[serde(default)]
    only_return_existing: bool,
}

/// Boulder `contactsToEmails`: mailto only, one address each, a public non-example domain.
fn check_contacts(ca: &Ca, contacts: &[String]) -> Result<(), Problem> {
    for contact in contacts {
        let invalid = |d: String| Problem::new(Kind::InvalidContact, d);
        if contact.is_empty() {
            return Err(invalid("empty contact".into()));
        }
        let Some(address) = contact.strip_prefix("mailto:") else {
            return Err(Problem::new(
                Kind::UnsupportedContact,
                "only contact scheme 'mailto:' is supported",
            ));
        };
        if address.contains('?') {
            return Err(invalid("contact email contains a question mark".into()));
        }
        if address.contains('#') {
            return Err(invalid("contact email contains a '#'".into()));
        }
        if !contact.is_ascii() {
            return Err(invalid(
                "contact email contains non-ASCII characters".into(),
            ));
        }
        let Some((_, domain)) = address.rsplit_once('@').filter(|(l, _)| !l.is_empty()) else {
            return Err(invalid("unable to parse email address".into()));
        };
        ca.policy
            .email_domain(&domain.to_ascii_lowercase())
            .map_err(|e| invalid(e.to_string()))?;
    }
    Ok(())
}

/// The requester's address: `X-Real-IP` when it parses, else the peer (Boulder web/extract.go).
fn requester_ip(req: &HttpRequest) -> Option<IpAddr> {
    req.headers()
        .get("X-Real-IP")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| req.peer_addr().map(|a| a.ip()))
}

fn existing(ca: &Ca, account: &Account) -> Result<HttpResponse, Problem> {
    if account.status == AccountStatus::Deactivated {
        return Err(Problem::unauthorized(
            "An account with the provided public key exists but is deactivated",
        ));
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Location", ca.account_url(account.id)))
        .json(account_json(account)))
}

pub async fn new_account(
    ca: web::Data<Ca>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let jws = ca.read_jws(&req, body).await?;
    let (payload, key) = ca
        .verify_new_key(&req, &jws)
        .map_err(|p| p.context(JWS_CONTEXT))?;
    let request: NewAccount = serde_json::from_slice(&payload)
        .map_err(|_| Problem::malformed("Error unmarshaling JSON"))?;
    if let Some(account) = ca.store.account_by_key(&key.digest) {
        return existing(&ca, &account);
    }
    if request.only_return_existing {
        return Err(Problem::new(
            Kind::AccountDoesNotExist,
            "No account exists with the provided key",
        ));
    }
    if !request.terms_of_service_agreed {
        return Err(Problem::malformed("must agree to terms of service"));
    }
    check_contacts(&ca, &request.contact).map_err(|p| p.context("Error validating contact(s)"))?;
    let ip = requester_ip(&req).map_or_else(String::new, |ip| ip.to_string());
    let txns = [Txn::new(
        LimitName::NewRegistrationsPerIPAddress,
        ip,
        Mode::Spend,
    )];
    if let Err(denied) = ca.limits.batch(&txns) {
        ca.stats.rate_limited(denied.name);
        return Err(denied.problem());
    }
    let account = match ca.store.create_account(Arc::new(key), clock::now()) {
        Ok(account) => account,
        Err(account) => {
            ca.limits.refund(&txns);
            return existing(&ca, &account);
        }
    };
    bump(&ca.stats.accounts);
    ca.mirror(Write::Account {
        id: account.id,
        jwk: account.key.json.clone(),
        digest: base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            account.key.digest,
        ),
        created: account.created,
    });
    Ok(HttpResponse::Created()
        .insert_header(("Location", ca.account_url(account.id)))
        .insert_header(terms_link(&ca))
        .json(account_json(&account)))
}

#[derive(Deserialize)]
struct Update {
    #[serde(default)]
    status: String,
}

/// POST to an account URL: POST-as-GET, a no-op update (contacts), or deactivation.
pub async fn account(
    ca: web::Data<Ca>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (payload, current, _) = ca.post_for_account(&req, body).await?;
    let raw = path.into_inner();
    let id: i64 = raw
        .parse()
        .map_err(|_| Problem::malformed(format!("Account ID must be an integer, was {raw:?}")))?;
    if id <= 0 {
        return Err(Problem::malformed(format!(
            "Account ID must be a positive non-zero integer, was {id}"
        )));
    }
    if u64::try_from(id).ok() != Some(current.id) {
        return Err(Problem::unauthorized(
            "Request signing key did not match account key",
        ));
    }
    let account = if payload.is_empty() || payload == b"{}" {
        current
    } else {
        let update: Update = serde_json::from_slice(&payload).map_err(|e| {
            Problem::malformed(format!("parsing account update request: {e}"))
                .context("Unable to update account")
        })?;
        match update.status.as_str() {
            "" | "valid" => current,
            "deactivated" => {
                let done = ca.store.deactivate_account(current.id).ok_or_else(|| {
                    Problem::not_found(format!("no active account with id {}", current.id))
                        .context("Unable to update account")
                })?;
                ca.mirror(Write::AccountStatus {
                    id: done.id,
                    status: "deactivated",
                });
                done
            }
            other => {
                return Err(Problem::malformed(format!(
                    "invalid status {other:?} for account update request, must be \"valid\" or \"deactivated\""
                ))
                .context("Unable to update account"))
            }
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header(terms_link(&ca))
        .json(account_json(&account)))
}
