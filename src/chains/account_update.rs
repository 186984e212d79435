//! `account-update`: a subscriber changes its contact (RFC 8555 §7.3.2) and reads its account
//! back (POST-as-GET, §7.3). With `chains.account-update.check_contact`, the update's answer
//! must show the new contact, and the account is read back until it does too: a CA that caches
//! accounts serves the old contact for a while (see `chains::settle`).

use std::time::Instant;

use rand::distr::{Alphanumeric, SampleString};

use super::settle::{self, ReadBack};
use super::{steps, ChainError, Ctx};
use crate::acme::wire::AccountObject;
use crate::pool::Need;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| update(ctx, fresh)).await
}

async fn update(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let cfg = &ctx.settings().chains.account_update;
    let client = ctx.client;
    let lease = steps::account(ctx, Need::Account, fresh).await?;
    let account = lease.account();
    let user = Alphanumeric
        .sample_string(&mut rand::rng(), 10)
        .to_ascii_lowercase();
    let contact = vec![format!("mailto:wile-{user}@{}", cfg.contact_domain)];
    let updated = client.update_contact(account, &contact).await?;
    let changed = Instant::now();
    if cfg.check_contact {
        check_contact("the update's answer", &updated, &contact)?;
    }
    let contact = &contact;
    let read = settle::until_agreed(ctx, "contact", changed, || async move {
        let read = client.account(account).await?;
        Ok(match cfg.check_contact && read.contact != *contact {
            true => ReadBack::NotYet(format!("the account shows contact {:?}", read.contact)),
            false => ReadBack::Agreed(read),
        })
    })
    .await?;
    if read.status != "valid" {
        return Err(ChainError::check(
            "account",
            format!("read back, the account is {:?}", read.status),
        ));
    }
    Ok(())
}

fn check_contact(what: &str, object: &AccountObject, want: &[String]) -> Result<(), ChainError> {
    if object.contact == want {
        return Ok(());
    }
    Err(ChainError::check(
        "contact",
        format!(
            "{what} shows contact {:?}, not the new {want:?}",
            object.contact
        ),
    ))
}
