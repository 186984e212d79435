//! `poll`: a subscriber's client looks at what it holds — one of its orders, one of that
//! order's authorizations and the certificate — by POST-as-GET (RFC 8555 §6.3), or with
//! `chains.poll.plain_get` by plain GET where the CA allows it (Boulder; Pebble answers 405).
//! The order must be valid and point at the certificate, the authorization valid, and the
//! certificate the one downloaded at issuance.

use rand::seq::IndexedRandom;

use super::{steps, ChainError, Ctx};
use crate::acme::wire::{AuthorizationStatus, OrderStatus};
use crate::pool::Need;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| poll(ctx, fresh)).await
}

async fn poll(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let client = ctx.client;
    let lease = steps::account(ctx, Need::Certificate, fresh).await?;
    let account = lease.account();
    let mut rng = rand::rng();
    let held = lease
        .certificates()
        .choose(&mut rng)
        .expect("the lease meets Need::Certificate");
    let authz_url = held
        .authz_urls
        .choose(&mut rng)
        .ok_or_else(|| ChainError::check("order", "a held order without authorizations"))?;
    let (order, authz, chain) = if ctx.settings().chains.poll.plain_get {
        (
            client.get_order(&held.order_url).await?,
            client.get_authorization(authz_url).await?,
            client.get_certificate(&held.url).await?,
        )
    } else {
        (
            client.order(account, &held.order_url).await?,
            client.authorization(account, authz_url).await?,
            client.certificate(account, &held.url).await?,
        )
    };
    if order.status != OrderStatus::Valid || order.certificate.as_deref() != Some(&held.url) {
        return Err(ChainError::check(
            "order",
            format!(
                "the order is {:?} with certificate {:?}, expected valid with {}",
                order.status, order.certificate, held.url
            ),
        ));
    }
    if authz.status != AuthorizationStatus::Valid {
        return Err(ChainError::check(
            "authz",
            format!("an authorization of a valid order is {:?}", authz.status),
        ));
    }
    if chain.first().map(Vec::as_slice) != Some(&*held.der) {
        return Err(ChainError::check(
            "certificate",
            format!(
                "{} now serves another certificate than at issuance",
                held.url
            ),
        ));
    }
    Ok(())
}
