//! `account-update`: a subscriber changes its contact (RFC 8555 §7.3.2) and reads its account
//! back (POST-as-GET, §7.3). With `chains.account-update.check_contact`, the update's answer and
//! the account read back must both show the new contact.

use rand::distr::{Alphanumeric, SampleString};

use super::{steps, ChainError, Ctx};
use crate::acme::wire::AccountObject;
use crate::pool::Need;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| update(ctx, fresh)).await
}

async fn update(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let cfg = &ctx.settings().chains.account_update;
    let lease = steps::account(ctx, Need::Account, fresh).await?;
    let account = lease.account();
    let user = Alphanumeric
        .sample_string(&mut rand::rng(), 10)
        .to_ascii_lowercase();
    let contact = vec![format!("mailto:wile-{user}@{}", cfg.contact_domain)];
    let updated = ctx.client.update_contact(account, &contact).await?;
    let read = ctx.client.account(account).await?;
    if read.status != "valid" {
        return Err(ChainError::check(
            "account",
            format!("read back, the account is {:?}", read.status),
        ));
    }
    if cfg.check_contact {
        for (what, object) in [
            ("the update's answer", &updated),
            ("the account read back", &read),
        ] {
            check_contact(what, object, &contact)?;
        }
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
