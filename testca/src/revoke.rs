//! Revocation (RFC 8555 §7.6) with Boulder's rules (wfe2 RevokeCertificate, ra
//! RevokeCertByApplicant / RevokeCertByKey): the certificate may come padded (Boulder trims
//! '='); it must be this CA's and unexpired; reasons {0, 1, 4, 5} only. Signed by an account:
//! the owner revokes with its reason, a non-owner holding valid authorizations for every name
//! revokes with reason 5 (cessationOfOperation), anyone else is unauthorized. Signed by the
//! certificate's own key: the reason is always 1 (keyCompromise), an earlier revocation for
//! another reason is upgraded, and the key is blocked from then on.

use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openssl::x509::X509;
use serde::Deserialize;

use crate::ari::serial_string;
use crate::auth::JWS_CONTEXT;
use crate::ca::Ca;
use crate::clock;
use crate::jwk::spki_digest;
use crate::jws::{AuthKind, Jws};
use crate::mirror::Write;
use crate::model::Revocation;
use crate::problem::{Kind, Problem};
use crate::stats::bump;

const KEY_COMPROMISE: u8 = 1;
const CESSATION_OF_OPERATION: u8 = 5;

#[derive(Deserialize)]
struct Request {
    certificate: String,
    reason: Option<i64>,
}

struct Target {
    serial: String,
    key_digest: Option<[u8; 32]>,
    reason: u8,
}

/// Boulder `parseRevocation`.
fn parse(ca: &Ca, payload: &[u8]) -> Result<Target, Problem> {
    let request: Request = serde_json::from_slice(payload)
        .map_err(|_| Problem::malformed("Unable to JSON parse revoke request"))?;
    let der = URL_SAFE_NO_PAD
        .decode(request.certificate.trim_end_matches('='))
        .map_err(|_| Problem::malformed("Unable to JSON parse revoke request"))?;
    let cert =
        X509::from_der(&der).map_err(|_| Problem::malformed("Unable to parse certificate DER"))?;
    let (same_issuer, signed) = ca.issuer.recognizes(&cert);
    if !same_issuer {
        return Err(Problem::not_found("Certificate from unrecognized issuer"));
    }
    if !signed {
        return Err(Problem::not_found("No such certificate"));
    }
    let serial = cert
        .serial_number()
        .to_bn()
        .map(|bn| serial_string(&bn.to_vec()))
        .map_err(|_| Problem::malformed("Unable to parse certificate DER"))?;
    let record = ca
        .store
        .cert(&serial)
        .ok_or_else(|| Problem::not_found(format!("No certificate with serial {serial:?}")))?;
    if record.not_after < clock::now() {
        return Err(Problem::unauthorized("Certificate is expired"));
    }
    let reason = match request.reason {
        None => 0,
        Some(r @ (0 | 1 | 4 | 5)) => r as u8,
        Some(r) => {
            return Err(Problem::new(
                Kind::BadRevocationReason,
                format!("disallowed revocation reason: {r}"),
            ))
        }
    };
    Ok(Target {
        serial,
        key_digest: cert.public_key().ok().and_then(|k| spki_digest(&k)),
        reason,
    })
}

fn record(
    ca: &Ca,
    serial: &str,
    result: Option<Result<Revocation, Problem>>,
    by_key: bool,
) -> Result<(), Problem> {
    let revocation = result.ok_or_else(|| Problem::not_found("Certificate not found"))??;
    bump(&ca.stats.revocations);
    if let Some(cert) = ca.store.cert(serial) {
        ca.mirror(Write::Revocation {
            serial: serial.to_string(),
            reason: revocation.reason,
            at: revocation.at,
            der: cert.der,
            issuer_id: ca.issuer.issuer_id,
            by_key,
        });
    }
    Ok(())
}

fn by_account(ca: &Ca, req: &HttpRequest, jws: &Jws) -> Result<(), Problem> {
    let (payload, account) = ca.verify_account(req, jws)?;
    let target = parse(ca, &payload)?;
    let cert = ca
        .store
        .cert(&target.serial)
        .ok_or_else(|| Problem::not_found("Certificate not found"))?;
    let reason = if cert.reg_id == account.id {
        target.reason
    } else {
        let now = clock::now();
        let controls_all = cert
            .names
            .iter()
            .all(|n| ca.store.valid_authz(account.id, n, now, None).is_some());
        if !controls_all {
            return Err(Problem::unauthorized(format!(
                "requester does not control all identifiers in cert with serial {:?}",
                target.serial
            )));
        }
        CESSATION_OF_OPERATION
    };
    let result = ca.store.revoke(&target.serial, |current| match current {
        Some(_) => Err(Problem::new(
            Kind::AlreadyRevoked,
            format!(
                "no certificate with serial {} and status other than revoked",
                target.serial
            ),
        )),
        None => Ok(Revocation {
            reason,
            at: clock::now(),
        }),
    });
    record(ca, &target.serial, result, false)
}

fn by_key(ca: &Ca, req: &HttpRequest, jws: &Jws) -> Result<(), Problem> {
    let (payload, key) = ca.verify_self_signed(req, jws)?;
    let target = parse(ca, &payload)?;
    if target.key_digest != Some(key.digest) {
        return Err(Problem::unauthorized(
            "JWK embedded in revocation request must be the same public key as the cert to be revoked",
        ));
    }
    let result = ca.store.revoke(&target.serial, |current| match current {
        Some(r) if r.reason == KEY_COMPROMISE => Err(Problem::new(
            Kind::AlreadyRevoked,
            format!(
                "unable to re-revoke serial {:?} which is already revoked for keyCompromise",
                target.serial
            ),
        )),
        Some(r) => Ok(Revocation {
            reason: KEY_COMPROMISE,
            at: r.at,
        }),
        None => Ok(Revocation {
            reason: KEY_COMPROMISE,
            at: clock::now(),
        }),
    });
    ca.store.block_key(key.digest);
    record(ca, &target.serial, result, true)
}

pub async fn revoke(
    ca: web::Data<Ca>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let jws = ca.read_jws(&req, body).await?;
    let result = match jws.auth_kind().map_err(|p| p.context(JWS_CONTEXT))? {
        Some(AuthKind::Kid) => by_account(&ca, &req, &jws),
        Some(AuthKind::Jwk) => by_key(&ca, &req, &jws),
        None => Err(Problem::malformed(
            "Malformed JWS, no KeyID or embedded JWK",
        )),
    };
    result.map_err(|p| p.context("Unable to revoke"))?;
    Ok(HttpResponse::Ok().finish())
}
