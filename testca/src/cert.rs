//! Certificate download (RFC 8555 §7.4.2): `application/pem-certificate-chain`, leaf then
//! intermediate. As in Boulder, a plain GET works for anyone and a POST-as-GET only for the
//! account that ordered it; a serial must be 32 or 36 hex digits (Boulder `core.ValidSerial`).

use actix_web::{web, HttpRequest, HttpResponse};

use crate::ca::Ca;
use crate::problem::Problem;

fn valid_serial(serial: &str) -> bool {
    (serial.len() == 32 || serial.len() == 36)
        && serial
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub async fn certificate(
    ca: web::Data<Ca>,
    req: HttpRequest,
    serial: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let requester = ca.requester(&req, body).await?;
    if !valid_serial(&serial) {
        return Err(Problem::not_found("Certificate not found"));
    }
    let cert = ca
        .store
        .cert(&serial)
        .ok_or_else(|| Problem::not_found("Certificate not found"))?;
    if requester.is_some_and(|a| a.id != cert.reg_id) {
        return Err(Problem::unauthorized(
            "Account in use did not issue specified certificate",
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/pem-certificate-chain")
        .body(ca.issuer.chain_pem(&cert.der)))
}
