//! Steps the chains share: register an account, obtain a certificate for some names, get an
//! account from the pool (creating one when the pool lacks it), run again with a new account
//! when the CA forgot the pooled one, and expect a refusal.

use std::future::Future;
use std::sync::Arc;

use super::{checks, prove, ChainError, Ctx};
use crate::acme::ari;
use crate::acme::csr::csr_der;
use crate::acme::wire::{Identifier, NewOrder, OrderStatus};
use crate::acme::{Account, AccountKey, AcmeError, Problem};
use crate::db::consistency::Claim;
use crate::db::urls::last_id;
use crate::pool::WhenEmpty;
use crate::pool::{HeldCertificate, Holding, Lease, Need};

/// newAccount with a fresh key, as `[chains.issue]` says (key algorithm, contact).
pub async fn register(ctx: &Ctx<'_>) -> Result<Account, ChainError> {
    let cfg = &ctx.settings().chains.issue;
    let key = AccountKey::generate(cfg.account_key).map_err(ChainError::local)?;
    let contact: Vec<String> = cfg.contact.iter().cloned().collect();
    Ok(ctx.client.new_account(key, &contact).await?)
}

/// What a certificate is ordered with beyond its names.
#[derive(Debug, Default)]
pub struct OrderWith<'a> {
    /// The certificate it renews, by ARI certificate identifier (RFC 9773 §5).
    pub replaces: Option<&'a str>,
    /// The certificate profile asked for; `None`: the CA's default.
    pub profile: Option<Arc<str>>,
    /// The names had a certificate before: a renewal (whether or not it says `replaces`).
    pub renewal: bool,
}

impl OrderWith<'_> {
    /// A new certificate, with a profile drawn from `chains.issue.profiles`.
    pub fn new_certificate(ctx: &Ctx<'_>) -> Self {
        OrderWith {
            replaces: None,
            profile: ctx
                .settings()
                .chains
                .issue
                .profiles
                .sample(&mut rand::rng()),
            renewal: false,
        }
    }
}

/// Obtains a certificate for `names`: order (naming the certificate it `replaces`, and a
/// profile), prove control of every name, finalize with a stocked key of a type drawn from
/// `chains.issue.cert_key`, wait for issuance, download and check the chain.
pub async fn obtain_certificate(
    ctx: &Ctx<'_>,
    account: &Account,
    names: &[String],
    with: OrderWith<'_>,
) -> Result<HeldCertificate, ChainError> {
    let client = ctx.client;
    let chains = &ctx.settings().chains;
    let identifiers: Vec<Identifier> = names.iter().map(Identifier::dns).collect();
    if let Some(profile) = &with.profile {
        ctx.journal.note_profile(profile.clone());
    }
    let order = client
        .new_order(
            account,
            &NewOrder {
                identifiers: &identifiers,
                replaces: with.replaces,
                profile: with.profile.as_deref(),
            },
        )
        .await?;
    prove::prove_control(ctx, account, &order.order.authorizations).await?;

    let key_type = chains.issue.cert_key.sample(&mut rand::rng());
    let key = ctx
        .stock
        .keys
        .key(key_type, &chains.keys)
        .map_err(ChainError::local)?;
    let csr = csr_der(&key, names).map_err(ChainError::local)?;
    let mut finalized = client
        .finalize(account, &order.order.finalize, &csr)
        .await?;
    if finalized.status != OrderStatus::Valid {
        finalized = client.poll_order(account, &order.url).await?;
    }
    let url = match (finalized.status, finalized.certificate) {
        (OrderStatus::Valid, Some(url)) => url,
        (status, _) => {
            let why = finalized.error.map(|p| p.to_string()).unwrap_or_default();
            return Err(ChainError::check(
                "order",
                format!("order ended {status:?} without a certificate {why}"),
            ));
        }
    };
    let chain = client.certificate(account, &url).await?;
    let der = checks::certificate_chain(chain, names, ctx.env.trust.as_deref())?;
    checks::certified_key(&der, &key)?;
    let der: std::sync::Arc<[u8]> = der.into();
    if let Some(db) = &ctx.stock.db {
        db.check_later(Claim::Issued {
            der: der.clone(),
            renewal: with.renewal,
            order: last_id(&order.url),
            replaces: with.replaces.and_then(ari::serial_of),
        });
    }
    Ok(HeldCertificate {
        url,
        order_url: order.url,
        authz_urls: order.order.authorizations,
        names: names.to_vec(),
        der,
        key,
        profile: with.profile,
    })
}

/// An account of the pool meeting `need`, for this chain's exclusive use. When the pool has
/// none (or `fresh`: the last one was forgotten by the CA), one is made — registered, and given
/// a certificate if needed — within this chain's latency, or with `chains.pool.when_empty =
/// "wait"` the chain waits for another to bring one back.
pub async fn account<'p>(ctx: &Ctx<'p>, need: Need, fresh: bool) -> Result<Lease<'p>, ChainError> {
    let limits = ctx.settings().chains.pool;
    let pool = &ctx.stock.pool;
    if !fresh {
        if let Some(lease) = pool.checkout(need, limits, ctx.journal) {
            return Ok(lease);
        }
        if limits.when_empty == WhenEmpty::Wait {
            return pool
                .wait(need, limits, ctx.journal)
                .await
                .ok_or(ChainError::PoolEmpty {
                    need: need.name(),
                    waited: limits.wait_timeout,
                });
        }
    }
    let mut holding = Holding::new(register(ctx).await?);
    if need == Need::Certificate {
        let names = prove::order_names(ctx);
        let with = OrderWith::new_certificate(ctx);
        let certificate = obtain_certificate(ctx, &holding.account, &names, with).await?;
        holding.certificates.push(certificate);
    }
    Ok(pool.lease(holding, limits, ctx.journal))
}

/// Runs `attempt` with a pooled account (`attempt(false)`); when the CA answers that it does
/// not know that account (`accountDoesNotExist`: restarted, or purged), the pool has already
/// dropped it (the journal told it, as the account's lease ended), and the chain runs once more with a new account (`attempt(true)`). The refusal
/// counts as an expected outcome.
pub async fn retry_if_forgotten<F, Fut>(ctx: &Ctx<'_>, mut attempt: F) -> Result<(), ChainError>
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = Result<(), ChainError>>,
{
    match attempt(false).await {
        Err(e) if e.is_account_forgotten() => {
            log::info!("the CA forgot a pooled account ({e}): dropped it, retrying with a new one");
            ctx.journal
                .expected_refusal("acme:accountDoesNotExist".into());
            attempt(true).await
        }
        other => other,
    }
}

/// The CA must refuse what `result` asked: it did with one of `kinds` (the exchange then
/// counts as expected, and the problem type goes into the summary), or it accepted (a failed
/// check `what`: "the CA accepted `doing`"). Any other error stays an error.
pub fn expect_refusal<T>(
    ctx: &Ctx<'_>,
    result: Result<T, AcmeError>,
    kinds: &[&str],
    what: &'static str,
    doing: &str,
) -> Result<Problem, ChainError> {
    match result {
        Ok(_) => Err(ChainError::check(
            what,
            format!(
                "the CA accepted {doing}; expected it to refuse with {}",
                kinds.join(" or ")
            ),
        )),
        Err(AcmeError::Problem { problem, .. }) if kinds.iter().any(|k| problem.is(k)) => {
            ctx.journal
                .expected_refusal(format!("acme:{}", problem.short_type()));
            Ok(*problem)
        }
        Err(e) => Err(e.into()),
    }
}

/// Boulder's database, for the chains that need it (the mix leaves them out without one).
pub fn database<'a>(ctx: &Ctx<'a>) -> Result<&'a crate::db::source::DbLink, ChainError> {
    ctx.stock
        .db
        .as_ref()
        .ok_or_else(|| ChainError::local("this chain needs Boulder's database (--mysql or db.url)"))
}
