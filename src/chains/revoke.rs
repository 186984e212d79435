//! `revoke`: a subscriber revokes a certificate it holds (RFC 8555 §7.6), the requests signed in
//! turn by its account and by the certificate's own key (`chains.revoke.signer`), with a reason
//! code drawn from `chains.revoke.reasons`. Revoking it again must be refused with
//! `alreadyRevoked`: the expected outcome. The certificate leaves the pool; its key leaves the
//! key stock when it signed the request or was revoked for keyCompromise (a CA may block it).

use rand::seq::IndexedRandom;
use std::sync::atomic::Ordering;

use super::{steps, ChainError, Ctx};
use crate::acme::{AccountKey, RevokeAs};
use crate::config::RevokeSigner;
use crate::pool::Need;

/// RFC 5280 §5.3.1 `keyCompromise`.
const KEY_COMPROMISE: u8 = 1;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| revoke(ctx, fresh)).await
}

async fn revoke(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let cfg = &ctx.settings().chains.revoke;
    let mut lease = steps::account(ctx, Need::Certificate, fresh).await?;
    let certificate = lease.take_certificate(0);
    let by_certificate_key = match cfg.signer {
        RevokeSigner::Account => false,
        RevokeSigner::CertificateKey => true,
        RevokeSigner::Alternate => ctx.stock.revocations.fetch_add(1, Ordering::Relaxed) % 2 == 1,
    };
    let reason = cfg.reasons.choose(&mut rand::rng()).copied();
    if by_certificate_key || reason == Some(KEY_COMPROMISE) {
        ctx.stock.keys.retire(&certificate.key);
    }
    let certificate_key;
    let by = if by_certificate_key {
        certificate_key =
            AccountKey::from_pkey(certificate.key.clone()).map_err(ChainError::local)?;
        RevokeAs::CertificateKey(&certificate_key)
    } else {
        RevokeAs::Account(lease.account())
    };
    ctx.client.revoke(by, &certificate.der, reason).await?;
    if let Some(db) = &ctx.stock.db {
        // RFC 5280 §5.3.1: no reason code is `unspecified` (0).
        db.check_later(certificate.der.clone(), Some(reason.map_or(0, i32::from)));
    }
    let again = ctx.client.revoke(by, &certificate.der, reason).await;
    steps::expect_refusal(
        ctx,
        again,
        &["alreadyRevoked"],
        "revocation",
        &format!("a second revocation signed by the {}", by.name()),
    )?;
    Ok(())
}
