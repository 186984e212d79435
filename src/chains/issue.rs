//! `issue`: a subscriber orders a certificate for random names (some of them wildcards),
//! proves control of each name over the challenge type the config picks (http-01, tls-alpn-01
//! or dns-01), finalizes with a stocked key, downloads the chain and checks it. Most
//! subscribers order from an account they already have (a hosting provider orders millions of
//! certificates from a few): `chains.issue.new_account` of the runs register a new account
//! first, the others take one from the pool. The certificate joins the pool with its account.

use rand::Rng;

use super::steps::{self, OrderWith};
use super::{prove, ChainError, Ctx};
use crate::pool::{Holding, Lease, Need};

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    let settings = ctx.settings();
    if rand::rng().random_bool(settings.chains.issue.new_account) {
        return as_new_subscriber(ctx).await;
    }
    // `issue` is how subscribers arrive: with no account free in the pool, a new one comes,
    // whatever `chains.pool.when_empty` says.
    match ctx
        .pool()
        .checkout(Need::Account, settings.chains.pool, ctx.journal)
    {
        None => as_new_subscriber(ctx).await,
        Some(lease) => {
            let mut first = Some(lease);
            steps::retry_if_forgotten(ctx, |fresh| as_subscriber(ctx, first.take(), fresh)).await
        }
    }
}

async fn as_new_subscriber(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    let account = steps::register(ctx).await?;
    let names = prove::order_names(ctx);
    let with = OrderWith::new_certificate(ctx);
    let certificate = steps::obtain_certificate(ctx, &account, &names, with).await?;
    let mut holding = Holding::new(account);
    holding.certificates.push(certificate);
    ctx.pool()
        .deposit(holding, ctx.settings().chains.pool, ctx.journal);
    Ok(())
}

/// With an account of the pool: `leased` at first, a new one after the CA forgot it.
async fn as_subscriber<'p>(
    ctx: &Ctx<'p>,
    leased: Option<Lease<'p>>,
    fresh: bool,
) -> Result<(), ChainError> {
    let mut lease = match leased {
        Some(lease) => lease,
        None => steps::account(ctx, Need::Account, fresh).await?,
    };
    let names = prove::order_names(ctx);
    let with = OrderWith::new_certificate(ctx);
    let certificate = steps::obtain_certificate(ctx, lease.account(), &names, with).await?;
    lease.add_certificate(certificate);
    Ok(())
}
