//! `deactivate-account`: a subscriber closes its account (RFC 8555 §7.3.6). The answer must say
//! `deactivated`; then the account is read back until the CA refuses it, and a new order signed
//! by it must be refused with `unauthorized`: the expected outcome. A CA that caches accounts
//! keeps serving the account for a while (Boulder: ~5 s); the time until it agreed is measured
//! (see `chains::settle`). The account leaves the pool.

use std::time::Instant;

use super::settle::{self, ReadBack};
use super::{prove, steps, ChainError, Ctx};
use crate::acme::wire::{Identifier, NewOrder};
use crate::db::consistency::Claim;
use crate::db::urls::last_id;
use crate::pool::Need;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| deactivate(ctx, fresh)).await
}

async fn deactivate(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let client = ctx.client;
    let mut lease = steps::account(ctx, Need::Account, fresh).await?;
    lease.discard();
    let account = lease.account();
    let answer = client.deactivate_account(account).await?;
    if answer.status != "deactivated" {
        return Err(ChainError::check(
            "account",
            format!("after deactivation the account is {:?}", answer.status),
        ));
    }
    let deactivated = Instant::now();
    if let (Some(db), Some(id)) = (&ctx.stock.db, last_id(&account.url)) {
        if let Ok(account) = i64::try_from(id) {
            db.check_later(Claim::AccountDeactivated { account });
        }
    }
    let identifiers: Vec<Identifier> = prove::order_names(ctx)
        .iter()
        .map(Identifier::dns)
        .collect();
    let identifiers = &identifiers;
    settle::until_agreed(ctx, "deactivated", deactivated, || async move {
        // Reading the account is the cheap probe (a new order makes objects on the CA); once
        // the CA refuses it (or shows it deactivated), the order must be refused too.
        match client.account(account).await {
            Ok(object) if object.status == "valid" => {
                return Ok(ReadBack::NotYet("the account reads as valid".into()))
            }
            Ok(_) => {}
            Err(e) if e.problem().is_some_and(|p| p.is("unauthorized")) => {
                ctx.journal.mark_last_expected()
            }
            Err(e) => return Err(e.into()),
        }
        let ordered = client.new_order(account, &NewOrder::of(identifiers)).await;
        if ordered.is_ok() {
            return Ok(ReadBack::NotYet(
                "an order from the account was accepted".into(),
            ));
        }
        steps::expect_refusal(
            ctx,
            ordered,
            &["unauthorized"],
            "deactivated-account",
            "an order from a deactivated account",
        )?;
        Ok(ReadBack::Agreed(()))
    })
    .await
}
