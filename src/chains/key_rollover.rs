//! `key-rollover`: a subscriber replaces its account key (keyChange, RFC 8555 §7.3.5), then
//! reads its account back with the new key until the CA accepts it, and with the old key until
//! the CA refuses it (`malformed`, `unauthorized` or `accountDoesNotExist`: the expected
//! outcome). A CA that caches accounts answers from the old key for a while (Boulder: ~5 s);
//! the time until it agreed is measured (see `chains::settle`). The account returns to the
//! pool with its new key, or leaves it when the CA never verifiably took the new key.

use std::time::Instant;

use super::settle::{self, ReadBack};
use super::{steps, ChainError, Ctx};
use crate::acme::{Account, AccountKey};
use crate::db::consistency::{account_key_digest, Claim};
use crate::db::urls::last_id;
use crate::pool::Need;

/// What a request signed by a key the account no longer has is refused with.
const OLD_KEY_REFUSALS: [&str; 3] = ["malformed", "unauthorized", "accountDoesNotExist"];

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| roll_over(ctx, fresh)).await
}

async fn roll_over(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let client = ctx.client;
    let mut lease = steps::account(ctx, Need::Account, fresh).await?;
    let new_key = AccountKey::generate(ctx.settings().chains.key_rollover.new_key)
        .map_err(ChainError::local)?;
    // Until the CA verifiably took the new key, which key it holds is unknown: the account
    // must not be used again.
    lease.discard();
    client.key_change(lease.account(), &new_key).await?;
    let changed = Instant::now();
    let old_key = lease.replace_key(new_key);
    let account = lease.account();
    let read = settle::until_agreed(ctx, "new-key", changed, || async move {
        Ok(
            match settle::refused_while_settling(
                ctx,
                client.account(account).await,
                &["malformed", "unauthorized"],
            )? {
                Ok(object) => ReadBack::Agreed(object),
                Err(refusal) => ReadBack::NotYet(format!("the new key was refused: {refusal}")),
            },
        )
    })
    .await?;
    if read.status != "valid" {
        return Err(ChainError::check(
            "account",
            format!("read with the new key, the account is {:?}", read.status),
        ));
    }
    let with_old_key = Account::new(old_key, account.url.clone());
    if let (Some(db), Some(id)) = (&ctx.stock.db, last_id(&account.url)) {
        if let (Some(key_digest), Ok(account)) =
            (account_key_digest(account.key.pkey()), i64::try_from(id))
        {
            db.check_later(Claim::AccountKey {
                account,
                key_digest,
            });
        }
    }
    lease.keep();
    let with_old_key = &with_old_key;
    settle::until_agreed(ctx, "old-key", changed, || async move {
        let refused = client.account(with_old_key).await;
        if refused.is_ok() {
            return Ok(ReadBack::NotYet("the old key still works".into()));
        }
        steps::expect_refusal(
            ctx,
            refused,
            &OLD_KEY_REFUSALS,
            "old-key",
            "a request signed by the replaced account key",
        )?;
        Ok(ReadBack::Agreed(()))
    })
    .await
}
