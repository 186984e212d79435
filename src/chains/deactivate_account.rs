//! `deactivate-account`: a subscriber closes its account (RFC 8555 §7.3.6). The answer must say
//! `deactivated`, and a new order signed by the account must then be refused with
//! `unauthorized`: the expected outcome. The account leaves the pool.

use super::{prove, steps, ChainError, Ctx};
use crate::acme::wire::Identifier;
use crate::pool::Need;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| deactivate(ctx, fresh)).await
}

async fn deactivate(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let mut lease = steps::account(ctx, Need::Account, fresh).await?;
    lease.discard();
    let account = lease.account();
    let answer = ctx.client.deactivate_account(account).await?;
    if answer.status != "deactivated" {
        return Err(ChainError::check(
            "account",
            format!("after deactivation the account is {:?}", answer.status),
        ));
    }
    let identifiers: Vec<Identifier> = prove::order_names(ctx)
        .iter()
        .map(Identifier::dns)
        .collect();
    let refused = ctx.client.new_order(account, &identifiers, None).await;
    steps::expect_refusal(
        ctx,
        refused,
        &["unauthorized"],
        "deactivated-account",
        "an order from a deactivated account",
    )?;
    Ok(())
}
