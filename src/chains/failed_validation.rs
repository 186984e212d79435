//! `failed-validation`: a subscriber answers a challenge without publishing its response (a
//! misconfigured web server, a forgotten TXT record). The CA must then mark the authorization
//! `invalid` with a problem saying why (RFC 8555 §7.1.6, §7.5.1): that is the chain's ok, and
//! the problem its expected outcome (`validation:http-01:unauthorized`…). An authorization that
//! turns valid, or invalid without a problem, fails the chain; the order must end `invalid`.

use super::{pick, prove, steps, ChainError, Ctx};
use crate::acme::wire::{AuthorizationStatus, Identifier, NewOrder, OrderStatus};
use crate::acme::Account;
use crate::pool::Need;

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| fail(ctx, fresh)).await
}

async fn fail(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let lease = steps::account(ctx, Need::Account, fresh).await?;
    fail_one(ctx, lease.account()).await.map(drop)
}

/// Orders one new name for `account` and answers its challenge without publishing the
/// response, checking the authorization and the order end invalid; returns the order's and
/// the authorization's URLs.
pub async fn fail_one(ctx: &Ctx<'_>, account: &Account) -> Result<(String, String), ChainError> {
    let client = ctx.client;
    let settings = ctx.settings();
    let name = prove::random_names(&settings.chains.issue.base_domain, 1, 0.0);
    let order = client
        .new_order(account, &NewOrder::of(&[Identifier::dns(&name[0])]))
        .await?;
    let url = order
        .order
        .authorizations
        .first()
        .ok_or_else(|| ChainError::check("order", "a new order without authorizations"))?;
    let authz = client.authorization(account, url).await?;
    let weights = settings.chains.failed_validation.challenge.weights(None);
    let (kind, challenge) = pick::pick(&weights, &authz, &mut rand::rng()).ok_or_else(|| {
        ChainError::check("authz", "none of the configured challenge types offered")
    })?;
    client.respond(account, &challenge.url, kind).await?;
    let settled = client.poll_authorization(account, url).await?;
    match (settled.status, settled.failure()) {
        (AuthorizationStatus::Invalid, Some(problem)) => {
            ctx.journal.note_expected(format!("validation:{kind}:{}", problem.short_type()));
        }
        (AuthorizationStatus::Invalid, None) => {
            return Err(ChainError::check(
                "authz",
                "the authorization is invalid but no challenge says why",
            ))
        }
        (status, _) => {
            return Err(ChainError::check(
                "authz",
                format!("{kind} answered without publishing the response, yet the authorization became {status:?}"),
            ))
        }
    }
    let settled = client.order(account, &order.url).await?;
    if settled.status != OrderStatus::Invalid {
        return Err(ChainError::check(
            "order",
            format!(
                "its authorization failed, yet the order is {:?}",
                settled.status
            ),
        ));
    }
    Ok((order.url, url.clone()))
}
