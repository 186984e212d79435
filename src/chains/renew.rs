//! `renew`: a subscriber renews a certificate it holds. An account of the pool orders again the
//! names it already validated — a CA that reuses valid authorizations (RFC 8555 §7.1.4) wants
//! no new challenge then — with the same profile and, where the directory offers renewalInfo,
//! names the certificate the order replaces (RFC 9773 §5). The new certificate takes the old
//! one's place in the pool. A CA that refuses the `replaces` — the certificate already has a
//! replacement order (`alreadyReplaced`), or it is not the account's (`unauthorized`) — is
//! doing its job: the certificate leaves the pool, counted as the expected outcome.

use super::steps::{self, OrderWith};
use super::{ChainError, Ctx};
use crate::acme::ari;
use crate::pool::Need;

/// What a CA answers to a `replaces` it will not take (RFC 9773 §5, Boulder's wording).
const REFUSED_REPLACES: [&str; 2] = ["alreadyReplaced", "unauthorized"];

pub async fn run(ctx: &Ctx<'_>) -> Result<(), ChainError> {
    steps::retry_if_forgotten(ctx, |fresh| renew(ctx, fresh)).await
}

async fn renew(ctx: &Ctx<'_>, fresh: bool) -> Result<(), ChainError> {
    let mut lease = steps::account(ctx, Need::Certificate, fresh).await?;
    let old = &lease.certificates()[0];
    let send_replaces =
        ctx.settings().chains.renew.replaces && ctx.client.directory().renewal_info.is_some();
    let replaces = match send_replaces {
        true => Some(
            ari::cert_id(&old.der).map_err(|e| ChainError::check("certificate", e.to_string()))?,
        ),
        false => None,
    };
    let names = old.names.clone();
    let with = OrderWith {
        replaces: replaces.as_deref(),
        profile: old.profile.clone(),
        renewal: true,
    };
    match steps::obtain_certificate(ctx, lease.account(), &names, with).await {
        Ok(renewed) => {
            lease.take_certificate(0);
            lease.add_certificate(renewed);
            Ok(())
        }
        Err(ChainError::Acme(e)) if replaces.is_some() && refuses_replaces(&e) => {
            let problem = e.problem().map_or("", |p| p.short_type());
            ctx.journal.expected_refusal(format!("acme:{problem}"));
            lease.take_certificate(0);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The CA refused the order because of its `replaces` (refusals of the newOrder only: a later
/// `unauthorized`, from validation say, is a failure).
fn refuses_replaces(e: &crate::acme::AcmeError) -> bool {
    matches!(e, crate::acme::AcmeError::Problem { endpoint: crate::acme::Endpoint::NewOrder, problem, .. }
        if REFUSED_REPLACES.iter().any(|k| problem.is(k)))
}
