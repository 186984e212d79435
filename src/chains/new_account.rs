//! `new-account`: a subscriber's client starts from nothing — reads the directory, gets a
//! nonce, registers (newAccount agreeing to the terms, RFC 8555 §7.3) — and the account joins
//! the pool. `chains.new-account.only_return_existing` of the time, a known subscriber instead
//! looks its account up by key (`onlyReturnExisting`, §7.3.1): the CA must answer with that
//! account's URL.

use rand::Rng;

use super::{steps, ChainError, Ctx};
use crate::pool::{Holding, Lease, Need};

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    let settings = ctx.settings();
    let client = ctx.client;
    client
        .fetch_directory(&settings.target.directory_url)
        .await?;
    client.new_nonce().await?;
    let share = settings.chains.new_account.only_return_existing;
    if rand::rng().random_bool(share) {
        if let Some(lease) = ctx
            .pool()
            .checkout(Need::Account, settings.chains.pool, ctx.journal)
        {
            return look_up(ctx, lease).await;
        }
    }
    register(ctx).await
}

async fn register(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    let account = steps::register(ctx).await?;
    ctx.pool().deposit(
        Holding::new(account),
        ctx.settings().chains.pool,
        ctx.journal,
    );
    Ok(())
}

/// onlyReturnExisting with a pooled account's key. A CA that forgot the account answers
/// `accountDoesNotExist`: the account leaves the pool and a new one registers instead.
async fn look_up(ctx: &Ctx<'_>, mut lease: Lease<'_>) -> Result<(), ChainError> {
    let account = lease.account();
    match ctx.client.find_account(&account.key).await {
        Ok(url) if url == account.url => Ok(()),
        Ok(url) => Err(ChainError::check(
            "account",
            format!(
                "onlyReturnExisting answered {url} for the key of {}",
                account.url
            ),
        )),
        Err(e) if e.is_account_forgotten() => {
            log::info!("the CA forgot a pooled account ({e}): dropped it, registering a new one");
            ctx.journal
                .expected_refusal("acme:accountDoesNotExist".into());
            lease.discard();
            drop(lease);
            register(ctx).await
        }
        Err(e) => Err(e.into()),
    }
}
