//! `db-revoke-foreign`: try to revoke a certificate of another account (picked from Boulder's
//! database) with one of the tool's account keys (RFC 8555 §7.6). The CA must refuse with
//! `unauthorized`: that is the chain's ok. A CA that accepts has a security bug, reported as
//! loudly as the tool can. The certificate must really be foreign: neither the revoking
//! account's own, nor one whose every name it holds a valid authorization for (the CA may then
//! rightly revoke it).

use super::{steps, ChainError, Ctx};
use crate::acme::RevokeAs;
use crate::db::queries::CertRow;
use crate::db::source::DbLink;
use crate::db::urls::last_id;
use crate::db::DbError;
use crate::pool::Need;

/// Picks made to find a certificate the revoking account has no claim on.
const PICKS: usize = 8;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    let db = steps::database(ctx)?;
    let lease = steps::account(ctx, Need::Account, false).await?;
    let account = lease.account();
    let foreign = foreign_certificate(db, &account.url).await?;
    let attempt = ctx
        .client
        .revoke(RevokeAs::Account(account), &foreign.der, None)
        .await;
    if attempt.is_ok() {
        log::error!(
            "SECURITY: the CA revoked certificate {} of account {} at the request of account {}",
            foreign.serial,
            foreign.registration_id,
            account.url
        );
    }
    steps::expect_refusal(
        ctx,
        attempt,
        &["unauthorized"],
        "foreign-revocation",
        &format!(
            "the revocation of another account's certificate ({})",
            foreign.serial
        ),
    )?;
    Ok(())
}

/// A stored certificate the account at `account_url` neither owns nor controls the names of.
async fn foreign_certificate(db: &DbLink, account_url: &str) -> Result<CertRow, ChainError> {
    let Some((ours, registration)) =
        last_id(account_url).and_then(|id| Some((id, i64::try_from(id).ok()?)))
    else {
        return Ok(db.certificate().await?);
    };
    for _ in 0..PICKS {
        let picked = db.foreign_certificate(ours).await?;
        if !db.controls(registration, names(&picked.der)).await? {
            return Ok(picked);
        }
    }
    Err(DbError::Empty("certificates of other accounts").into())
}

/// The dNSName SANs of a certificate, as Boulder stores authorization identifiers.
fn names(der: &[u8]) -> Vec<String> {
    openssl::x509::X509::from_der(der)
        .ok()
        .and_then(|c| c.subject_alt_names())
        .map(|sans| {
            sans.iter()
                .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default()
}
