//! ACME Renewal Information (RFC 9773): certIDs (`base64url(AKI keyIdentifier) "."
//! base64url(serial)`), the suggested window Boulder computes (core.RenewalInfoSimple: centred
//! 2/3 of the way through the validity, half way for certificates under 10 days, ±1% of the
//! validity; revoked certificates get a window an hour in the past), and the renewalInfo
//! resource with Boulder's jittered `Retry-After` of 6 hours.

use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::ca::Ca;
use crate::clock;
use crate::model::{Account, CertRecord, OrderStatus};
use crate::problem::{Kind, Problem};

/// `%036x` of the serial's integer value.
pub fn serial_string(bytes: &[u8]) -> String {
    let hex: String = bytes
        .iter()
        .skip_while(|b| **b == 0)
        .map(|b| format!("{b:02x}"))
        .collect();
    let hex = hex.trim_start_matches('0');
    format!("{hex:0>36}")
}

/// Boulder `parseARICertID`: the serial a certID names, if its AKI is this CA's intermediate.
pub fn parse_cert_id(ca: &Ca, id: &str) -> Result<String, Problem> {
    let parts: Vec<&str> = id.split('.').collect();
    let [aki, serial] = parts[..] else {
        return Err(Problem::malformed("Invalid path"));
    };
    if aki.is_empty() || serial.is_empty() {
        return Err(Problem::malformed("Invalid path"));
    }
    let aki = URL_SAFE_NO_PAD.decode(aki).map_err(|e| {
        Problem::malformed(format!(
            "Authority Key Identifier was not base64url-encoded or contained padding: {e}"
        ))
    })?;
    if aki != ca.issuer.ski {
        return Err(Problem::not_found(
            "path contained an Authority Key Identifier that did not match a known issuer",
        ));
    }
    let serial = URL_SAFE_NO_PAD.decode(serial).map_err(|e| {
        Problem::not_found(format!(
            "serial number was not base64url-encoded or contained padding: {e}"
        ))
    })?;
    Ok(serial_string(&serial))
}

/// The suggested renewal window (start, end) in Unix seconds.
pub fn window(cert: &CertRecord, now: i64) -> (i64, i64) {
    if cert.revocation.is_some() {
        let start = now - 3600;
        return (start, start + 1800);
    }
    let validity = cert.not_after + 1 - cert.issued;
    let offset = if validity < 10 * 86_400 {
        validity / 2
    } else {
        validity / 3
    };
    let ideal = cert.not_after - offset;
    let margin = validity / 100;
    (ideal - margin, ideal + margin)
}

/// Whether `now` is inside the window (Boulder `SuggestedWindow.IsWithin`).
pub fn inside(window: (i64, i64), now: i64) -> bool {
    now >= window.0 && now < window.1
}

/// Go's `Certificate.VerifyHostname` for one SAN: exact, or a wildcard covering one label.
fn covers(san: &str, name: &str) -> bool {
    if san == name {
        return true;
    }
    match (san.strip_prefix("*."), name.split_once('.')) {
        (Some(base), Some((label, rest))) => {
            !name.starts_with('*') && !label.is_empty() && rest == base
        }
        _ => false,
    }
}

/// Boulder `validateReplacementOrder`: the replaced certificate's serial, and whether the
/// renewal comes inside its ARI window (then exempt from rate limits).
pub fn check_replacement(
    ca: &Ca,
    account: &Account,
    names: &[String],
    cert_id: &str,
    now: i64,
) -> Result<(String, bool), Problem> {
    let serial = parse_cert_id(ca, cert_id)?;
    if let Some(r) = ca.store.replacement(&serial) {
        let live = r.replaced
            || (r.expires > now
                && ca.store.order(r.order_id).is_some_and(|o| {
                    matches!(
                        ca.store.order_status(&o, now),
                        OrderStatus::Pending
                            | OrderStatus::Ready
                            | OrderStatus::Processing
                            | OrderStatus::Valid
                    )
                }));
        if live {
            return Err(Problem::new(
                Kind::AlreadyReplaced,
                format!(
                    "cannot indicate an order replaces certificate with serial {serial:?}, which already has a replacement order"
                ),
            ));
        }
    }
    let cert = ca.store.cert(&serial).ok_or_else(|| {
        Problem::not_found(format!(
            "request included `replaces` field, but no current certificate with serial {serial:?} exists"
        ))
    })?;
    if cert.reg_id != account.id {
        return Err(Problem::unauthorized(
            "requester account did not request the certificate being replaced by this order",
        ));
    }
    if !names
        .iter()
        .any(|n| cert.names.iter().any(|san| covers(san, n)))
    {
        return Err(Problem::malformed(
            "identifiers in this order do not match any identifiers in the certificate being replaced",
        ));
    }
    let inside_window = inside(window(&cert, now), now);
    Ok((serial, inside_window))
}

pub async fn renewal_info(
    ca: web::Data<Ca>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let ctx = "While parsing ARI CertID an error occurred";
    let serial = parse_cert_id(&ca, &id).map_err(|p| p.context(ctx))?;
    let cert = ca
        .store
        .cert(&serial)
        .ok_or_else(|| Problem::not_found("Requested certificate was not found"))?;
    let (start, end) = window(&cert, clock::now());
    let jitter = 1.0 + 0.2 * (2.0 * rand::random::<f64>() - 1.0);
    let retry = (21_600.0 * jitter) as u64;
    Ok(HttpResponse::Ok()
        .insert_header(("Retry-After", retry.to_string()))
        .json(json!({
            "suggestedWindow": { "start": clock::rfc3339(start), "end": clock::rfc3339(end) }
        })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_forms() {
        assert_eq!(serial_string(&[0, 0x01, 0xab]), format!("{:0>36}", "1ab"));
        assert_eq!(serial_string(&[0x7f; 18]).len(), 36);
    }

    #[test]
    fn wildcard_coverage_like_go() {
        assert!(covers("*.a.com", "x.a.com"));
        assert!(covers("*.a.com", "*.a.com"));
        assert!(!covers("*.a.com", "a.com"));
        assert!(!covers("*.a.com", "y.x.a.com"));
        assert!(covers("b.com", "b.com"));
    }
}
