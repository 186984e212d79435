//! The directory (RFC 8555 §7.1.1) and newNonce (§7.2), as Boulder's WFE serves them: relative
//! to the CA's base URL, `renewalInfo` without a trailing slash, `meta.profiles` when profiles
//! are configured, and a random key pointing at Boulder's explanation so clients do not
//! hard-code the key set.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use crate::ca::Ca;
use crate::problem::Problem;

const RANDOM_KEY_EXPLANATION: &str =
    "https://community.letsencrypt.org/t/adding-random-entries-to-the-directory/33417";

pub fn directory_json(ca: &Ca) -> Value {
    let mut dir = Map::new();
    for (key, path) in [
        ("newNonce", "/acme/new-nonce"),
        ("newAccount", "/acme/new-acct"),
        ("newOrder", "/acme/new-order"),
        ("revokeCert", "/acme/revoke-cert"),
        ("keyChange", "/acme/key-change"),
        ("renewalInfo", "/acme/renewal-info"),
    ] {
        dir.insert(key.into(), Value::String(ca.url(path)));
    }
    let random: String = (0..8)
        .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
        .collect();
    dir.insert(random, json!(RANDOM_KEY_EXPLANATION));
    let mut meta = Map::new();
    meta.insert("termsOfService".into(), json!(ca.terms));
    if !ca.cfg.profiles.is_empty() {
        let profiles: Map<String, Value> = ca
            .cfg
            .profiles
            .iter()
            .map(|p| (p.name.clone(), json!(p.description)))
            .collect();
        meta.insert("profiles".into(), Value::Object(profiles));
    }
    dir.insert("meta".into(), Value::Object(meta));
    Value::Object(dir)
}

pub async fn directory(ca: web::Data<Ca>) -> HttpResponse {
    HttpResponse::Ok().json(directory_json(&ca))
}

/// POST-as-GET to the directory (Boulder authenticates it).
pub async fn directory_post(
    ca: web::Data<Ca>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    ca.post_as_get(&req, body).await?;
    Ok(HttpResponse::Ok().json(directory_json(&ca)))
}

/// GET → 204, HEAD → 200 (RFC 8555 §7.2); the nonce itself is added to every such response.
pub async fn new_nonce(req: HttpRequest) -> HttpResponse {
    let mut res = if req.method() == actix_web::http::Method::GET {
        HttpResponse::NoContent()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header(("Cache-Control", "no-store")).finish()
}

/// POST-as-GET to newNonce (RFC 8555 §7.2 allows it; Boulder authenticates it).
pub async fn new_nonce_post(
    ca: web::Data<Ca>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    ca.post_as_get(&req, body).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
