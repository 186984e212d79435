//! Finalization (RFC 8555 §7.4) as Boulder's WFE and RA do it in their default synchronous
//! mode: the order must be ready, the CSR must pass Boulder's checks and name exactly the
//! order's identifiers (unauthorized otherwise, as Boulder answers), its key must differ from
//! the account's; the order goes processing, the certificate is signed, the order is valid.
//! Issuance spends CertificatesPerFQDNSet and (unless a renewal) CertificatesPerDomain.

use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use crate::ca::Ca;
use crate::clock;
use crate::limits::{LimitName, Mode, Txn};
use crate::mirror::Write;
use crate::model::{name_set, CertRecord, OrderStatus};
use crate::order::{ids, order_response, registered_domain};
use crate::problem::{Kind, Problem};
use crate::stats::bump;

const CONTEXT: &str = "Error finalizing order";

#[derive(Deserialize)]
struct Finalize {
    csr: String,
}

pub async fn finalize(
    ca: web::Data<Ca>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> Result<HttpResponse, Problem> {
    let (payload, account, _) = ca.post_for_account(&req, body).await?;
    let (reg, id) = ids(&path)?;
    if account.id != reg {
        return Err(Problem::malformed("Mismatched account ID"));
    }
    let order = ca
        .store
        .order(id)
        .ok_or_else(|| Problem::not_found(format!("No order for ID {id}")))?;
    if order.reg_id != account.id {
        return Err(Problem::not_found(format!(
            "No order found for account ID {}",
            account.id
        )));
    }
    let now = clock::now();
    let not_ready = |status: OrderStatus| {
        Problem::new(
            Kind::OrderNotReady,
            format!(
                "Order's status ({:?}) is not acceptable for finalization",
                status.name()
            ),
        )
    };
    let status = ca.store.order_status(&order, now);
    if status != OrderStatus::Ready {
        return Err(not_ready(status));
    }
    let profile_name = if order.profile.is_empty() {
        ca.cfg.default_profile.as_str()
    } else {
        order.profile.as_str()
    };
    let profile = ca.cfg.profile(profile_name).ok_or_else(|| {
        Problem::new(
            Kind::InvalidProfile,
            format!("profile name {profile_name:?} not recognized"),
        )
    })?;
    let request: Finalize = serde_json::from_slice(&payload)
        .map_err(|_| Problem::malformed("Error unmarshaling finalize order request"))?;
    let der = URL_SAFE_NO_PAD
        .decode(request.csr.trim_end_matches('='))
        .map_err(|_| Problem::malformed("Error unmarshaling finalize order request"))?;
    let parsed = crate::csr::parse(&der)?;
    let csr = crate::csr::check(&parsed, &ca.store, &ca.policy).map_err(|p| p.context(CONTEXT))?;
    if csr.names != order.idents {
        return Err(
            Problem::unauthorized("CSR does not specify same identifiers as Order")
                .context(CONTEXT),
        );
    }
    let account_key = ca.store.account(account.id).map(|a| a.key.digest);
    if account_key == Some(csr.digest) {
        return Err(Problem::malformed(
            "certificate public key must be different than account key",
        )
        .context(CONTEXT));
    }
    let began = ca
        .store
        .update_order(id, |o| !std::mem::replace(&mut o.began_processing, true))
        .unwrap_or(false);
    if !began {
        return Err(not_ready(OrderStatus::Processing));
    }
    ca.mirror(Write::OrderProcessing { id });
    let renewal = ca
        .store
        .last_issued(&order.idents)
        .is_some_and(|t| t > now - 120 * 86_400);
    let issued = match ca.issuer.issue(
        &csr.key,
        &csr.names,
        csr.common_name.as_deref(),
        profile.validity,
        now,
    ) {
        Ok(issued) => issued,
        Err(e) => {
            let p = Problem::internal(format!("issuing the certificate: {e}"));
            ca.store.update_order(id, |o| o.error = Some(p.clone()));
            ca.mirror(Write::OrderError {
                id,
                error: serde_json::json!(p).to_string(),
            });
            return Err(p.context(CONTEXT));
        }
    };
    let digest = URL_SAFE_NO_PAD.encode(crate::jwk::sha256(&issued.der));
    ca.mirror(Write::Certificate {
        reg: account.id,
        serial: issued.serial.clone(),
        digest,
        der: issued.der.clone(),
        issued: now,
        not_after: issued.not_after,
        issuer_id: ca.issuer.issuer_id,
        renewal,
    });
    ca.store.insert_cert(CertRecord {
        serial: issued.serial.clone(),
        reg_id: account.id,
        der: std::sync::Arc::new(issued.der),
        names: order.idents.clone(),
        issued: now,
        not_after: issued.not_after,
        revocation: None,
    });
    let done = ca.store.update_order(id, |o| {
        o.serial = Some(issued.serial.clone());
        o.clone()
    });
    ca.mirror(Write::OrderIssued {
        id,
        serial: issued.serial.clone(),
    });
    bump(&ca.stats.certificates);
    if let Some(serial) = &order.replaces_serial {
        ca.store.mark_replaced(serial, id);
    }
    let mut txns = vec![Txn::new(
        LimitName::CertificatesPerFQDNSet,
        name_set(&order.idents),
        Mode::SpendOnly,
    )];
    if !renewal {
        let mut domains: Vec<String> = order.idents.iter().map(|n| registered_domain(n)).collect();
        domains.sort();
        domains.dedup();
        txns.extend(
            domains
                .into_iter()
                .map(|d| Txn::new(LimitName::CertificatesPerDomain, d, Mode::SpendOnly)),
        );
    }
    let _ = ca.limits.batch(&txns);
    let done = done.ok_or_else(|| Problem::internal("order vanished"))?;
    Ok(order_response(&ca, HttpResponse::Ok(), &done))
}
