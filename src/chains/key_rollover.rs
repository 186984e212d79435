//! `key-rollover`: a subscriber replaces its account key (keyChange, RFC 8555 §7.3.5), reads
//! its account back with the new key, and checks the CA refuses the old one (`malformed` or
//! `unauthorized` — the signature no longer matches the account — is the expected outcome).
//! The account returns to the pool with its new key.

use super::{steps, ChainError, Ctx};
use crate::acme::{Account, AccountKey};
use crate::pool::Need;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| roll_over(ctx, fresh)).await
}

async fn roll_over(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let client = ctx.client;
    let mut lease = steps::account(ctx, Need::Account, fresh).await?;
    let new_key = AccountKey::generate(ctx.settings().chains.key_rollover.new_key)
        .map_err(ChainError::local)?;
    if let Err(e) = client.key_change(lease.account(), &new_key).await {
        // Which key the CA now holds is unknown: the account must not be used again.
        lease.discard();
        return Err(e.into());
    }
    let old_key = lease.replace_key(new_key);
    let account = client.account(lease.account()).await?;
    if account.status != "valid" {
        return Err(ChainError::check(
            "account",
            format!("read with the new key, the account is {:?}", account.status),
        ));
    }
    let with_old_key = Account::new(old_key, lease.account().url.clone());
    let refused = client.account(&with_old_key).await;
    steps::expect_refusal(
        ctx,
        refused,
        &["malformed", "unauthorized", "accountDoesNotExist"],
        "old-key",
        "a request signed with the replaced account key",
    )?;
    Ok(())
}
