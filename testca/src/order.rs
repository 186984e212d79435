//! Orders (RFC 8555 §7.1.3, §7.4) as Boulder's WFE and RA make them: names normalized and
//! checked by policy, `profile` among the configured ones, `replaces` (RFC 9773 §5) checked,
//! rate limits spent (ARI renewals inside the window exempt from all; renewals of a name set
//! issued in the last 120 days exempt from NewOrdersPerAccount and CertificatesPerDomain), an
//! unexpired pending/ready order for the same names reused, valid authorizations of the
//! account reused, and the order's expiry capped by its authorizations'.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ca::Ca;
use crate::clock;
use crate::limits::{LimitName, Mode, Txn};
use crate::mirror::Write;
use crate::model::{name_set, Authz, AuthzStatus, ChallType, Order, OrderStatus};
use crate::problem::{Kind, Problem};
use crate::stats::bump;

pub fn order_json(ca: &Ca, o: &Order, status: OrderStatus) -> Value {
    let mut v = json!({
        "status": status.name(),
        "expires": clock::rfc3339(o.expires),
        "identifiers": o.idents.iter().map(|i| json!({"type": "dns", "value": i})).collect::<Vec<_>>(),
        "authorizations": o.authz_ids.iter().map(|a| ca.authz_url(o.reg_id, *a)).collect::<Vec<_>>(),
        "finalize": ca.finalize_url(o.reg_id, o.id),
    });
    if !o.profile.is_empty() {
        v["profile"] = json!(o.profile);
    }
    if let (OrderStatus::Valid, Some(serial)) = (status, &o.serial) {
        v["certificate"] = json!(ca.cert_url(serial));
    }
    if let Some(e) = &o.error {
        v["error"] = json!(e);
    }
    if !o.replaces.is_empty() {
        v["replaces"] = json!(o.replaces);
    }
    v
}

/// The order, with `Retry-After: 3` while processing (Boulder `orderRetryAfter`).
pub fn order_response(ca: &Ca, mut res: actix_web::HttpResponseBuilder, o: &Order) -> HttpResponse {
    let status = ca.store.order_status(o, clock::now());
    if status == OrderStatus::Processing {
        res.insert_header(("Retry-After", "3"));
    }
    res.insert_header(("Location", ca.order_url(o.reg_id, o.id)))
        .json(order_json(ca, o, status))
}

/// The registered domain a CertificatesPerDomain bucket counts (the last two labels).
pub fn registered_domain(name: &str) -> String {
    let base = name.trim_start_matches("*.");
    let labels: Vec<&str> = base.rsplitn(3, '.').collect();
    match labels[..] {
        [tld, sld, ..] => format!("{sld}.{tld}"),
        _ => base.to_string(),
    }
}

#[derive(Deserialize)]
struct Identifier {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOrder {
    #[serde(default)]
    identifiers: Vec<Identifier>,
    #[serde(default)]
    not_before: String,
    #[serde(default)]
    not_after: String,
    #[serde(default)]
    replaces: String,
    #[serde(default)]
    profile: String,
}

fn check_identifiers(ca: &Ca, request: &NewOrder) -> Result<Vec<String>, Problem> {
    if request.identifiers.is_empty() {
        return Err(Problem::malformed(
            "NewOrder request did not specify any identifiers",
        ));
    }
    if !request.not_before.is_empty() || !request.not_after.is_empty() {
        return Err(Problem::malformed(
            "NotBefore and NotAfter are not supported",
        ));
    }
    for ident in &request.identifiers {
        if ident.kind != "dns" && ident.kind != "ip" {
            return Err(Problem::new(
                Kind::UnsupportedIdentifier,
                format!(
                    "NewOrder request included unsupported identifier: type {:?}, value {:?}",
                    ident.kind, ident.value
                ),
            ));
        }
        if ident.value.is_empty() {
            return Err(Problem::malformed(
                "NewOrder request included empty identifier",
            ));
        }
    }
    if request.identifiers.iter().any(|i| i.kind == "ip") {
        let name = if request.profile.is_empty() {
            "Default profile".to_string()
        } else {
            format!("Profile {:?}", request.profile)
        };
        return Err(Problem::new(
            Kind::RejectedIdentifier,
            format!("{name} does not permit IP address identifiers. See available profiles at https://letsencrypt.org/docs/profiles/."),
        ));
    }
    let mut names: Vec<String> = request
        .identifiers
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    if names.len() > ca.cfg.max_names {
        return Err(Problem::malformed(format!(
            "Order cannot contain more than {} identifiers",
            ca.cfg.max_names
        )));
    }
    ca.policy
        .check(&names)
        .map_err(|p| p.context("Invalid identifiers requested"))?;
    for name in names.iter().filter(|n| !n.starts_with("*.")) {
        let wildcard = match name.split_once('.') {
            Some((_, rest)) => format!("*.{rest}"),
            None => continue,
        };
        if names.contains(&wildcard) {
            return Err(Problem::malformed(format!(
                "Domain name {name:?} is redundant with a wildcard domain in the same request. Remove one or the other from the certificate request."
            )).context("Error creating new order"));
        }
    }
    Ok(names)
}

fn new_authz(ca: &Ca, reg: u64, ident: &str, profile: &str, now: i64) -> Authz {
    let challenges = if ident.starts_with("*.") {
        vec![ChallType::Dns01]
    } else {
        vec![ChallType::Http01, ChallType::Dns01, ChallType::TlsAlpn01]
    };
    Authz {
        id: ca.store.next_authz_id(),
        reg_id: reg,
        ident: ident.to_string(),
        status: AuthzStatus::Pending,
        expires: now + clock::secs(ca.cfg.authz_pending_lifetime),
        created: now,
        token: rand::random(),
        challenges,
        profile: profile.to_string(),
        attempt: None,
        validating: false,
    }
}

pub async fn new_order(
    ca: web::Data<Ca>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (payload, account, _) = ca.post_for_account(&req, body).await?;
    let request: NewOrder = serde_json::from_slice(&payload)
        .map_err(|_| Problem::malformed("Unable to unmarshal NewOrder request body"))?;
    let names = check_identifiers(&ca, &request)?;
    let now = clock::now();
    let (replaces_serial, ari_renewal) = if request.replaces.is_empty() {
        (None, false)
    } else {
        let (serial, inside) =
            crate::ari::check_replacement(&ca, &account, &names, &request.replaces, now)
                .map_err(|p| p.context("Could not validate ARI 'replaces' field"))?;
        (Some(serial), inside)
    };
    let renewal = !ari_renewal
        && ca
            .store
            .last_issued(&names)
            .is_some_and(|t| t > now - 120 * 86_400);
    if !request.profile.is_empty() && ca.cfg.profile(&request.profile).is_none() {
        return Err(Problem::new(
            Kind::InvalidProfile,
            format!("profile name {:?} not recognized", request.profile),
        ));
    }
    let mut txns = Vec::new();
    if !ari_renewal {
        if !renewal {
            txns.push(Txn::new(
                LimitName::NewOrdersPerAccount,
                account.id.to_string(),
                Mode::Spend,
            ));
        }
        for name in &names {
            let key = format!("{}:{name}", account.id);
            txns.push(Txn::new(
                LimitName::FailedAuthorizationsPerDomainPerAccount,
                key,
                Mode::Check,
            ));
        }
        if !renewal {
            let mut domains: Vec<String> = names.iter().map(|n| registered_domain(n)).collect();
            domains.sort();
            domains.dedup();
            for d in domains {
                txns.push(Txn::new(LimitName::CertificatesPerDomain, d, Mode::Check));
            }
        }
        txns.push(Txn::new(
            LimitName::CertificatesPerFQDNSet,
            name_set(&names),
            Mode::Check,
        ));
    }
    if let Err(denied) = ca.limits.batch(&txns) {
        ca.stats.rate_limited(denied.name);
        return Err(denied.problem());
    }
    if let Some(order) = ca
        .store
        .reusable_order(account.id, &names, &request.profile)
    {
        return Ok(order_response(&ca, HttpResponse::Created(), &order));
    }
    let lifetime = clock::secs(ca.cfg.order_lifetime);
    let cutoff = now + (lifetime / 8).clamp(3600, 86_400);
    let mut expires = now + lifetime;
    let mut authz_ids = Vec::with_capacity(names.len());
    let mut created = Vec::new();
    for name in &names {
        match ca
            .store
            .valid_authz(account.id, name, cutoff, Some(&request.profile))
        {
            Some(a) => {
                expires = expires.min(a.expires);
                authz_ids.push(a.id);
            }
            None => {
                let a = new_authz(&ca, account.id, name, &request.profile, now);
                expires = expires.min(a.expires);
                authz_ids.push(a.id);
                created.push(a);
            }
        }
    }
    for a in created {
        ca.mirror(Write::Authz {
            id: a.id,
            reg: a.reg_id,
            ident: a.ident.clone(),
            profile: a.profile.clone(),
            expires: a.expires,
            bits: a.challenge_bits(),
            token: a.token,
            created: a.created,
        });
        ca.store.insert_authz(a);
    }
    let order = Order {
        id: ca.store.next_order_id(),
        reg_id: account.id,
        idents: names,
        authz_ids,
        expires,
        created: now,
        profile: request.profile,
        replaces: request.replaces,
        replaces_serial,
        began_processing: false,
        serial: None,
        error: None,
    };
    ca.mirror(Write::Order {
        id: order.id,
        reg: order.reg_id,
        expires: order.expires,
        created: order.created,
        profile: order.profile.clone(),
        replaces: order.replaces.clone(),
        replaced_serial: order.replaces_serial.clone(),
        authzs: order.authz_ids.clone(),
    });
    ca.store.insert_order(order.clone());
    bump(&ca.stats.orders);
    Ok(order_response(&ca, HttpResponse::Created(), &order))
}

/// Boulder's "{regID}/{id}" path parsing for orders and finalize.
pub fn ids(path: &(String, String)) -> Result<(u64, u64), Problem> {
    let reg = path
        .0
        .parse()
        .map_err(|_| Problem::malformed("Invalid account ID"))?;
    let id = path
        .1
        .parse()
        .map_err(|_| Problem::malformed("Invalid order ID"))?;
    Ok((reg, id))
}

/// GET (no authentication, as Boulder allows) or POST-as-GET by the owner.
pub async fn get_order(
    ca: web::Data<Ca>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let requester = ca.requester(&req, body).await?;
    let (reg, id) = ids(&path)?;
    let order = ca
        .store
        .order(id)
        .ok_or_else(|| Problem::not_found(format!("No order for ID {id}")))?;
    if order.reg_id != reg || requester.is_some_and(|a| a.id != order.reg_id) {
        return Err(Problem::not_found(format!(
            "No order found for account ID {reg}"
        )));
    }
    Ok(order_response(&ca, HttpResponse::Ok(), &order))
}
