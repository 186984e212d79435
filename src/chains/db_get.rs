//! `db-get-cert`, `db-get-authz`, `db-get-order`: anyone's objects, picked at random from
//! Boulder's database, fetched with a plain GET (RFC 8555 §6.3 lets a server answer GET, and
//! Boulder does) from the configured URL templates. What the CA serves must be what it stored.

use super::{steps, ChainError, Ctx};
use crate::db::consistency::serial_spellings;

/// A stored certificate: the served chain's leaf must be the stored DER.
pub async fn certificate(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    let db = steps::database(ctx)?;
    let stored = db.certificate().await?;
    let chain = ctx
        .client
        .get_certificate(&db.urls.cert(&stored.serial))
        .await?;
    let served = chain.into_iter().next().unwrap_or_default();
    if served != stored.der {
        let leaf = openssl::x509::X509::from_der(&served)
            .map_err(|e| ChainError::check("certificate", format!("unreadable leaf: {e}")))?;
        let serial = serial_spellings(
            &leaf
                .serial_number()
                .to_bn()
                .map_err(ChainError::local)?
                .to_vec(),
        );
        return Err(ChainError::check(
            "served-certificate",
            format!(
                "certificate {} served for serial {} is not the stored one",
                serial[1], stored.serial
            ),
        ));
    }
    Ok(())
}

/// A live authorization: the CA must serve it, for the stored identifier. A wildcard is stored
/// with its `*.` and served without it, flagged `wildcard` (RFC 8555 §7.1.4; Boulder does so).
pub async fn authorization(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    let db = steps::database(ctx)?;
    let stored = db.authorization().await?;
    let url = db.urls.authz(stored.registration_id, stored.id);
    let served = ctx.client.get_authorization(&url).await?;
    let (name, wildcard) = match stored.identifier.strip_prefix("*.") {
        Some(base) => (base, true),
        None => (stored.identifier.as_str(), false),
    };
    if !served.identifier.value.eq_ignore_ascii_case(name) || served.wildcard != wildcard {
        return Err(ChainError::check(
            "served-authorization",
            format!(
                "{url} is for {}{}, stored for {}",
                served.identifier.value,
                if served.wildcard { " (wildcard)" } else { "" },
                stored.identifier
            ),
        ));
    }
    Ok(())
}

/// A live order, then each of its authorizations as the database links them.
pub async fn order(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    let db = steps::database(ctx)?;
    let stored = db.order().await?;
    let url = db.urls.order(stored.registration_id, stored.id);
    let served = ctx.client.get_order(&url).await?;
    if served.authorizations.len() != stored.authz_ids.len() {
        return Err(ChainError::check(
            "served-order",
            format!(
                "{url} lists {} authorizations, the database links {}",
                served.authorizations.len(),
                stored.authz_ids.len()
            ),
        ));
    }
    for &authz in &stored.authz_ids {
        ctx.client
            .get_authorization(&db.urls.authz(stored.registration_id, authz))
            .await?;
    }
    Ok(())
}
