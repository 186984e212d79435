//! Chains: subscriber journeys through the ACME API, one small module each. A chain is an
//! async function over a [`Ctx`] (a per-run [`Client`] and the [`Journal`] it reports to, the
//! thread's [`ChainEnv`], the shared [`Stock`] of accounts and keys); the attacker owns the
//! loop, the timing and the reporting. Adding a chain is adding its module, its name in [`crate::chain_kind`] and one line in [`run`].

pub mod account_update;
pub mod ari;
pub mod catalogue;
pub mod checks;
pub mod db_get;
pub mod db_revoke_foreign;
pub mod deactivate_account;
pub mod deactivate_authz;
pub mod failed_validation;
pub mod issue;
pub mod journal;
pub mod key_rollover;
pub mod keys;
pub mod mix;
pub mod new_account;
pub mod pick;
pub mod poll;
pub mod prove;
pub mod renew;
pub mod revoke;
pub mod settle;
pub mod steps;
pub mod trust;
pub mod x509;

use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use futures_util::future::LocalBoxFuture;

use crate::acme::wire::{ChallengeType, Directory};
use crate::acme::{AcmeError, Client, Problem, Transport};
use crate::challenge::Registry;
use crate::config::Settings;
use crate::pool::{Pool, SourceError};
pub use catalogue::Catalogue;
pub use journal::Journal;
use keys::KeyStock;

/// What every chain on one attacker thread shares.
pub struct ChainEnv {
    pub transport: Rc<Transport>,
    pub directory: Arc<Directory>,
    pub settings: Arc<Settings>,
    pub registry: Addr<Registry>,
    /// Roots issued certificates must chain to (`chains.issue.verify_root`), if configured,
    /// with the intermediates verified so far.
    pub trust: Option<Arc<trust::Trust>>,
}

impl ChainEnv {
    /// A fresh client for one chain run over the thread's connections, reporting its
    /// exchanges to the run's `journal`.
    pub fn client(&self, journal: Rc<Journal>) -> Client {
        Client::new(self.transport.clone(), self.directory.clone(), journal)
    }

    /// As [`ChainEnv::client`], for attacker `id`: presenting its own source address when
    /// `target.source_address_header` is set.
    pub fn client_for(&self, id: usize, journal: Rc<Journal>) -> Client {
        match self.settings.source_address(id) {
            Some((header, address)) => self.client(journal).with_source_address(header, address),
            None => self.client(journal),
        }
    }
}

/// What the chains of every thread share for the whole run, across reloads.
#[derive(Default)]
pub struct Stock {
    /// Accounts, certificates, orders and authorizations the tool created.
    pub pool: Pool,
    /// Certificate keys made ahead of time.
    pub keys: KeyStock,
    /// Revocations so far: `revoke` alternates its signer on it.
    pub revocations: AtomicU64,
    /// Boulder's database, when configured: a second source of objects, and the consistency
    /// checks.
    pub db: Option<crate::db::source::DbLink>,
}

/// What one chain run works with.
pub struct Ctx<'a> {
    pub client: &'a Client,
    /// What the run leaves for the metrics beyond its client's exchanges.
    pub journal: &'a Journal,
    pub env: &'a ChainEnv,
    pub stock: &'a Stock,
}

impl Ctx<'_> {
    pub fn settings(&self) -> &Settings {
        &self.env.settings
    }

    pub fn pool(&self) -> &Pool {
        &self.stock.pool
    }
}

pub use crate::chain_kind::ChainKind;

/// Runs the journey of `kind` (adding a chain is adding its module, its name in
/// [`crate::chain_kind`] and its line here).
pub async fn run(kind: ChainKind, ctx: &Ctx<'_>) -> Result<(), ChainError> {
    match kind {
        ChainKind::NewAccount => new_account::run(ctx).await,
        ChainKind::Issue => issue::run(ctx).await,
        ChainKind::Renew => renew::run(ctx).await,
        ChainKind::Ari => ari::run(ctx, &ctx.stock.pool).await,
        ChainKind::Revoke => revoke::run(ctx).await,
        ChainKind::KeyRollover => key_rollover::run(ctx).await,
        ChainKind::AccountUpdate => account_update::run(ctx).await,
        ChainKind::DeactivateAccount => deactivate_account::run(ctx).await,
        ChainKind::DeactivateAuthz => deactivate_authz::run(ctx).await,
        ChainKind::FailedValidation => failed_validation::run(ctx).await,
        ChainKind::Poll => poll::run(ctx).await,
        ChainKind::DbGetCert => db_get::certificate(ctx).await,
        ChainKind::DbGetAuthz => db_get::authorization(ctx).await,
        ChainKind::DbGetOrder => db_get::order(ctx).await,
        ChainKind::DbAri => ari::run(ctx, steps::database(ctx)?).await,
        ChainKind::DbRevokeForeign => db_revoke_foreign::run(ctx).await,
    }
}

/// A chain about to run: its name (the `{chain}` in metrics) and the journey itself.
pub type Journey = (
    &'static str,
    LocalBoxFuture<'static, Result<(), ChainError>>,
);

/// Chooses an attacker's next journey. [`Catalogue`] holds the real chains; actor tests and
/// benchmarks supply purpose-built ones (a chain that panics, a fixed wait) through this trait.
pub trait Journeys: Send + Sync {
    fn next(&self, client: Rc<Client>, journal: Rc<Journal>, env: Rc<ChainEnv>) -> Journey;
}

/// Why a chain failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error(transparent)]
    Acme(#[from] AcmeError),
    /// The CA answered, but the result is wrong (a certificate missing a name…).
    #[error("check {what} failed: {detail}")]
    Check { what: &'static str, detail: String },
    /// The CA could not validate a challenge the tool answered correctly.
    #[error("{kind} validation of {name} failed ({status}): {}", problem.as_ref().map_or("no error given".into(), |p| p.to_string()))]
    Validation {
        name: String,
        kind: ChallengeType,
        status: String,
        problem: Option<Box<Problem>>,
    },
    /// `chains.pool.when_empty = "wait"` and nothing came back in time.
    #[error("the pool had no {need} within {}", crate::units::format_duration(*.waited))]
    PoolEmpty {
        need: &'static str,
        waited: Duration,
    },
    /// A source of objects could not answer.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Boulder's database could not answer (down, slow, or nothing to pick).
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    /// The CA accepted a change but still answered from the state before it when the settle
    /// window ended.
    #[error("the CA did not agree with the change ({what}) within {}: {last}", crate::units::format_duration(*.window))]
    Settle {
        what: &'static str,
        window: Duration,
        last: String,
    },
    /// A failure on the tool's side (key generation, challenge server).
    #[error("local: {0}")]
    Local(String),
}

impl ChainError {
    /// Low-cardinality grouping key for reports.
    pub fn reason(&self) -> String {
        match self {
            ChainError::Acme(e) => e.reason(),
            ChainError::Check { what, .. } => format!("check:{what}"),
            ChainError::Validation { kind, problem, .. } => format!(
                "validation:{kind}:{}",
                problem.as_ref().map_or("unknown", |p| p.short_type())
            ),
            ChainError::PoolEmpty { .. } => "pool:empty".into(),
            ChainError::Source(e) => e.reason.into(),
            ChainError::Db(e) => e.reason().into(),
            ChainError::Settle { what, .. } => format!("settle:{what}"),
            ChainError::Local(_) => "local".into(),
        }
    }

    pub fn local(e: impl std::fmt::Display) -> Self {
        ChainError::Local(e.to_string())
    }

    pub fn check(what: &'static str, detail: impl Into<String>) -> Self {
        ChainError::Check {
            what,
            detail: detail.into(),
        }
    }

    /// The CA refused with a rate limit (RFC 8555 §6.6 `rateLimited`).
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, ChainError::Acme(e) if e.is_rate_limited())
    }

    /// The CA does not know the account the request was signed with.
    pub fn is_account_forgotten(&self) -> bool {
        matches!(self, ChainError::Acme(e) if e.is_account_forgotten())
    }
}
