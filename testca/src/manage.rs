//! The management API under /testca/ (not part of ACME, and not something Boulder has): the
//! CA's certificates, a certificate's revocation status, and counters, for tests and
//! benchmarks to check what the CA really did.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use crate::ca::Ca;

/// A certificate's status as the CA records it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CertStatus {
    /// "good" or "revoked".
    pub status: &'static str,
    /// RFC 5280 reason code when revoked.
    pub reason: Option<u8>,
}

pub fn cert_status(ca: &Ca, serial: &str) -> Option<CertStatus> {
    let cert = ca.store.cert(serial)?;
    Some(match cert.revocation {
        Some(r) => CertStatus {
            status: "revoked",
            reason: Some(r.reason),
        },
        None => CertStatus {
            status: "good",
            reason: None,
        },
    })
}

fn pem(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/pem-certificate-chain")
        .body(body)
}

pub async fn root(ca: web::Data<Ca>) -> HttpResponse {
    pem(ca.issuer.root_pem())
}

pub async fn intermediate(ca: web::Data<Ca>) -> HttpResponse {
    pem(ca.issuer.intermediate_pem())
}

pub async fn status(ca: web::Data<Ca>, serial: web::Path<String>) -> HttpResponse {
    match cert_status(&ca, &serial) {
        Some(s) => HttpResponse::Ok().json(s),
        None => HttpResponse::NotFound().finish(),
    }
}

pub async fn stats(ca: web::Data<Ca>) -> HttpResponse {
    HttpResponse::Ok().json(ca.stats.snapshot())
}
