//! `issue`: the journey of a new subscriber. Register an account, order a certificate for
//! random names (some of them wildcards), prove control of each name over the challenge type
//! the config picks (http-01, tls-alpn-01 or dns-01), finalize with a stocked key, download
//! the chain and check it. The account and its certificate join the pool for the other chains.

use super::{prove, steps, ChainError, Ctx};
use crate::pool::Holding;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    let account = steps::register(ctx).await?;
    let names = prove::order_names(ctx);
    let certificate = steps::obtain_certificate(ctx, &account, &names, None).await?;
    let mut holding = Holding::new(account);
    holding.certificates.push(certificate);
    ctx.pool().deposit(holding, ctx.settings().chains.pool);
    Ok(())
}
