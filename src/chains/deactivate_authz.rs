//! `deactivate-authz`: a subscriber orders a certificate, then gives up one of the order's
//! authorizations (RFC 8555 §7.5.2). The answer and the authorization read back must both be
//! `deactivated`.

use rand::seq::IndexedRandom;

use super::{prove, steps, ChainError, Ctx};
use crate::acme::wire::{Authorization, AuthorizationStatus, Identifier, NewOrder};
use crate::acme::Account;
use crate::db::consistency::Claim;
use crate::db::urls::last_id;
use crate::pool::Need;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| deactivate(ctx, fresh)).await
}

async fn deactivate(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let lease = steps::account(ctx, Need::Account, fresh).await?;
    deactivate_one(ctx, lease.account()).await.map(drop)
}

/// Orders new names for `account` and deactivates one of the order's authorizations, checking
/// it says so; returns its URL.
pub async fn deactivate_one(ctx: &Ctx<'_>, account: &Account) -> Result<String, ChainError> {
    let client = ctx.client;
    let identifiers: Vec<Identifier> = prove::order_names(ctx)
        .iter()
        .map(Identifier::dns)
        .collect();
    let order = client
        .new_order(account, &NewOrder::of(&identifiers))
        .await?;
    let url = order
        .order
        .authorizations
        .choose(&mut rand::rng())
        .ok_or_else(|| ChainError::check("order", "a new order without authorizations"))?;
    let answer = client.deactivate_authorization(account, url).await?;
    deactivated("the deactivation's answer", &answer)?;
    if let (Some(db), Some(authz)) = (&ctx.stock.db, last_id(url)) {
        db.check_later(Claim::AuthzDeactivated { authz });
    }
    let read = client.authorization(account, url).await?;
    deactivated("the authorization read back", &read)?;
    Ok(url.clone())
}

fn deactivated(what: &str, authz: &Authorization) -> Result<(), ChainError> {
    if authz.status == AuthorizationStatus::Deactivated {
        return Ok(());
    }
    Err(ChainError::check(
        "authz",
        format!("{what} is {:?}, not deactivated", authz.status),
    ))
}
