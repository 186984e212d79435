//! `renew`: a subscriber renews a certificate it holds. An account of the pool orders again the
//! names it already validated — a CA that reuses valid authorizations (RFC 8555 §7.1.4) wants
//! no new challenge then — and, where the directory offers renewalInfo, names the certificate
//! the order replaces (RFC 9773 §5). The new certificate takes the old one's place in the pool.

use super::{steps, ChainError, Ctx};
use crate::acme::ari;
use crate::pool::Need;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| renew(ctx, fresh)).await
}

async fn renew(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let mut lease = steps::account(ctx, Need::Certificate, fresh).await?;
    let old = &lease.certificates()[0];
    let send_replaces =
        ctx.settings().chains.renew.replaces && ctx.client.directory().renewal_info.is_some();
    let replaces = match send_replaces {
        true => Some(ari::cert_id(&old.der).map_err(|e| ChainError::check("certificate", e))?),
        false => None,
    };
    let names = old.names.clone();
    let renewed =
        steps::obtain_certificate(ctx, lease.account(), &names, replaces.as_deref()).await?;
    lease.take_certificate(0);
    lease.add_certificate(renewed);
    Ok(())
}
