//! `db-revoke-foreign`: try to revoke a certificate of another account (picked from Boulder's
//! database) with one of the tool's account keys (RFC 8555 §7.6). The CA must refuse with
//! `unauthorized`: that is the chain's ok. A CA that accepts has a security bug, reported as
//! loudly as the tool can.

use super::{steps, ChainError, Ctx};
use crate::acme::RevokeAs;
use crate::pool::Need;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    let db = steps::database(ctx)?;
    let foreign = db.certificate().await?;
    let lease = steps::account(ctx, Need::Account, false).await?;
    let attempt = ctx
        .client
        .revoke(RevokeAs::Account(lease.account()), &foreign.der, None)
        .await;
    if attempt.is_ok() {
        log::error!(
            "SECURITY: the CA revoked certificate {} of account {} at the request of account {}",
            foreign.serial,
            foreign.registration_id,
            lease.account().url
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
