//! `revoke`: a certificate of the pool is revoked (RFC 8555 §7.6), the requests signed in turn
//! by its account, by the certificate's own key, and by another account that first proves
//! control of every name (`chains.revoke.signer`), with a reason code drawn from
//! `chains.revoke.reasons`. Revoking it again must be refused with `alreadyRevoked`: the
//! expected outcome. The certificate leaves the pool; its key leaves the key stock when it
//! signed the request or was revoked for keyCompromise (a CA may block it).

use rand::seq::IndexedRandom;
use std::sync::atomic::Ordering;

use super::{prove, steps, ChainError, Ctx};
use crate::acme::wire::{Identifier, NewOrder};
use crate::acme::{AccountKey, RevokeAs};
use crate::config::{Flavor, RevokeSigner};
use crate::db::consistency::Claim;
use crate::pool::Need;

/// RFC 5280 §5.3.1 `keyCompromise`.
const KEY_COMPROMISE: u8 = 1;

/// RFC 5280 §5.3.1 `cessationOfOperation`.
const CESSATION_OF_OPERATION: u8 = 5;

/// The signers `alternate` takes in turn.
const ALTERNATE: [RevokeSigner; 3] = [
    RevokeSigner::Account,
    RevokeSigner::CertificateKey,
    RevokeSigner::NameHolder,
];

/// The reason code the CA is expected to store. Boulder overrides what was asked in two cases:
/// a revocation signed by the certificate's key proves the key is out, so it is stored as
/// keyCompromise; one by an account that does not hold the certificate but controls its names
/// is stored as cessationOfOperation. Otherwise the reason asked, and none is `unspecified` (0).
fn stored_reason(flavor: Flavor, signer: RevokeSigner, asked: Option<u8>) -> i32 {
    let reason = match (flavor, signer) {
        (Flavor::Boulder, RevokeSigner::CertificateKey) => Some(KEY_COMPROMISE),
        (Flavor::Boulder, RevokeSigner::NameHolder) => Some(CESSATION_OF_OPERATION),
        _ => asked,
    };
    reason.map_or(0, i32::from)
}

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| revoke(ctx, fresh)).await
}

async fn revoke(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let cfg = &ctx.settings().chains.revoke;
    let mut lease = steps::account(ctx, Need::Certificate, fresh).await?;
    let certificate = lease.take_certificate(0);
    let signer = match cfg.signer {
        RevokeSigner::Alternate => {
            // Pebble refuses revocations by a name holder (RFC 8555 §7.6 asks CAs to accept).
            let signers = match ctx.settings().target.flavor {
                Flavor::Pebble => &ALTERNATE[..2],
                _ => &ALTERNATE[..],
            };
            let turn = ctx.stock.revocations.fetch_add(1, Ordering::Relaxed);
            signers[turn as usize % signers.len()]
        }
        one => one,
    };
    let reason = cfg.reasons.choose(&mut rand::rng()).copied();
    if signer == RevokeSigner::CertificateKey || reason == Some(KEY_COMPROMISE) {
        ctx.stock.keys.retire(&certificate.key);
    }
    let certificate_key;
    let holder;
    let by = match signer {
        RevokeSigner::CertificateKey => {
            certificate_key =
                AccountKey::from_pkey(certificate.key.clone()).map_err(ChainError::local)?;
            RevokeAs::CertificateKey(&certificate_key)
        }
        RevokeSigner::NameHolder => {
            holder = steps::account(ctx, Need::Account, false).await?;
            let identifiers: Vec<Identifier> =
                certificate.names.iter().map(Identifier::dns).collect();
            let order = ctx
                .client
                .new_order(holder.account(), &NewOrder::of(&identifiers))
                .await?;
            prove::prove_control(ctx, holder.account(), &order.order.authorizations).await?;
            RevokeAs::Account(holder.account())
        }
        _ => RevokeAs::Account(lease.account()),
    };
    if let Err(e) = ctx.client.revoke(by, &certificate.der, reason).await {
        // Signed by the certificate's key, the request names no account: a CA that forgot the
        // certificate (restarted, purged) only says it does not know it. Its account tells:
        // forgotten too, the pool drops it with its certificates and the chain runs again.
        if signer == RevokeSigner::CertificateKey && !fresh {
            if let Err(lookup) = ctx.client.account(lease.account()).await {
                if lookup.is_account_forgotten() {
                    return Err(lookup.into());
                }
            }
        }
        return Err(e.into());
    }
    if let Some(db) = &ctx.stock.db {
        let flavor = ctx.settings().target.flavor;
        db.check_later(Claim::Revoked {
            der: certificate.der.clone(),
            reason: stored_reason(flavor, signer, reason),
            by_key: signer == RevokeSigner::CertificateKey,
        });
    }
    let again = ctx.client.revoke(by, &certificate.der, reason).await;
    steps::expect_refusal(
        ctx,
        again,
        &["alreadyRevoked"],
        "revocation",
        &format!("a second revocation signed by {}", signed_by(signer)),
    )?;
    Ok(())
}

fn signed_by(signer: RevokeSigner) -> &'static str {
    match signer {
        RevokeSigner::CertificateKey => "the certificate's key",
        RevokeSigner::NameHolder => "another account holding the names",
        _ => "the account",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boulder_stores_its_own_reason_for_key_and_name_holder_revocations() {
        use RevokeSigner::*;
        let cases = [
            (Flavor::Boulder, Account, Some(4), 4),
            (Flavor::Boulder, CertificateKey, Some(4), 1),
            (Flavor::Boulder, CertificateKey, None, 1),
            (Flavor::Boulder, NameHolder, Some(0), 5),
            (Flavor::Boulder, Account, None, 0),
            (Flavor::Pebble, CertificateKey, Some(4), 4),
            (Flavor::Generic, NameHolder, Some(4), 4),
            (Flavor::Generic, Account, None, 0),
        ];
        for (flavor, signer, asked, stored) in cases {
            assert_eq!(
                stored_reason(flavor, signer, asked),
                stored,
                "{flavor:?} {signer:?} {asked:?}"
            );
        }
    }
}
