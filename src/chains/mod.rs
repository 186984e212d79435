//! Chains: subscriber journeys through the ACME API, one small module each. A chain is an
//! async function over a [`Ctx`] (a per-run [`Client`], the thread's [`ChainEnv`], the shared
//! [`Stock`] of accounts and keys); the attacker owns the loop, the timing and the reporting.
//! Adding a chain is adding its module and one line in the chain table (`chain_table!`).

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
pub mod key_rollover;
pub mod keys;
pub mod mix;
pub mod new_account;
pub mod pick;
pub mod poll;
pub mod prove;
pub mod renew;
pub mod revoke;
pub mod steps;

use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use futures_util::future::LocalBoxFuture;
use openssl::x509::store::X509Store;

use crate::acme::wire::{ChallengeType, Directory};
use crate::acme::{AcmeError, Client, Problem, Transport};
use crate::challenge::Registry;
use crate::config::Settings;
use crate::pool::{Pool, SourceError};
pub use catalogue::Catalogue;
use keys::KeyStock;

/// What every chain on one attacker thread shares.
pub struct ChainEnv {
    pub transport: Rc<Transport>,
    pub directory: Arc<Directory>,
    pub settings: Arc<Settings>,
    pub registry: Addr<Registry>,
    /// Roots issued certificates must chain to (`chains.issue.verify_root`), if configured.
    pub verify_store: Option<X509Store>,
}

impl ChainEnv {
    /// A fresh client for one chain run (its own request records, the thread's connections).
    pub fn client(&self) -> Client {
        Client::new(self.transport.clone(), self.directory.clone())
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

/// Declares [`ChainKind`] from the chain table below: one line per chain.
macro_rules! chain_table {
    ($($kind:ident $name:literal |$ctx:ident| $run:expr;)+) => {
        /// The journeys an attacker can take; the name is `{chain}` in metrics, reports and the
        /// config's `[chains.weights]`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ChainKind {
            $($kind,)+
        }

        impl ChainKind {
            pub const ALL: &'static [ChainKind] = &[$(ChainKind::$kind,)+];

            pub fn name(self) -> &'static str {
                match self {
                    $(ChainKind::$kind => $name,)+
                }
            }

            pub async fn run(self, ctx: &Ctx<'_>) -> Result<(), ChainError> {
                match self {
                    $(ChainKind::$kind => {
                        let $ctx = ctx;
                        $run.await
                    })+
                }
            }
        }
    };
}

// The chains: adding one is adding its module and a line here.
chain_table! {
    NewAccount "new-account" |ctx| new_account::run(ctx);
    Issue "issue" |ctx| issue::run(ctx);
    Renew "renew" |ctx| renew::run(ctx);
    Ari "ari" |ctx| ari::run(ctx, &ctx.stock.pool);
    Revoke "revoke" |ctx| revoke::run(ctx);
    KeyRollover "key-rollover" |ctx| key_rollover::run(ctx);
    AccountUpdate "account-update" |ctx| account_update::run(ctx);
    DeactivateAccount "deactivate-account" |ctx| deactivate_account::run(ctx);
    DeactivateAuthz "deactivate-authz" |ctx| deactivate_authz::run(ctx);
    FailedValidation "failed-validation" |ctx| failed_validation::run(ctx);
    Poll "poll" |ctx| poll::run(ctx);
    DbGetCert "db-get-cert" |ctx| db_get::certificate(ctx);
    DbGetAuthz "db-get-authz" |ctx| db_get::authorization(ctx);
    DbGetOrder "db-get-order" |ctx| db_get::order(ctx);
    DbAri "db-ari" |ctx| ari::run(ctx, steps::database(ctx)?);
    DbRevokeForeign "db-revoke-foreign" |ctx| db_revoke_foreign::run(ctx);
}

impl ChainKind {
    /// The chain named `name`; `_` may stand for `-` (environment variables cannot hold `-`).
    pub fn from_name(name: &str) -> Option<ChainKind> {
        let name = name.replace('_', "-");
        ChainKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// What this chain cannot do without and this run lacks: a directory resource, or
    /// Boulder's database (`database` tells whether one is configured).
    pub fn missing_in(self, directory: &Directory, database: bool) -> Option<&'static str> {
        let needs_database = matches!(
            self,
            ChainKind::DbGetCert
                | ChainKind::DbGetAuthz
                | ChainKind::DbGetOrder
                | ChainKind::DbAri
                | ChainKind::DbRevokeForeign
        );
        match self {
            _ if needs_database && !database => Some("Boulder's database (--mysql or db.url)"),
            ChainKind::Ari | ChainKind::DbAri if directory.renewal_info.is_none() => {
                Some("the directory's renewalInfo (RFC 9773 ARI)")
            }
            ChainKind::Revoke | ChainKind::DbRevokeForeign if directory.revoke_cert.is_none() => {
                Some("the directory's revokeCert")
            }
            ChainKind::KeyRollover if directory.key_change.is_none() => {
                Some("the directory's keyChange")
            }
            _ => None,
        }
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
    fn next(&self, client: Rc<Client>, env: Rc<ChainEnv>) -> Journey;
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

    /// The CA does not know the account the request was signed with.
    pub fn is_account_forgotten(&self) -> bool {
        matches!(self, ChainError::Acme(e) if e.is_account_forgotten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_back_with_either_separator() {
        for &kind in ChainKind::ALL {
            assert_eq!(ChainKind::from_name(kind.name()), Some(kind));
            let underscored = kind.name().replace('-', "_");
            assert_eq!(ChainKind::from_name(&underscored), Some(kind));
        }
        assert_eq!(ChainKind::from_name("revok"), None);
    }

    #[test]
    fn chains_missing_their_resource_are_named() {
        let pebble: Directory = serde_json::from_str(
            r#"{"newNonce":"n","newAccount":"a","newOrder":"o","revokeCert":"r","keyChange":"k"}"#,
        )
        .unwrap();
        let missing: Vec<_> = ChainKind::ALL
            .iter()
            .copied()
            .filter_map(|k| Some((k, k.missing_in(&pebble, true)?)))
            .collect();
        assert_eq!(
            missing,
            [
                (ChainKind::Ari, "the directory's renewalInfo (RFC 9773 ARI)"),
                (
                    ChainKind::DbAri,
                    "the directory's renewalInfo (RFC 9773 ARI)"
                )
            ]
        );
        let without_db = ChainKind::DbGetCert.missing_in(&pebble, false);
        assert_eq!(without_db, Some("Boulder's database (--mysql or db.url)"));
        let bare: Directory =
            serde_json::from_str(r#"{"newNonce":"n","newAccount":"a","newOrder":"o"}"#).unwrap();
        assert!(ChainKind::Revoke.missing_in(&bare, true).is_some());
        assert!(ChainKind::KeyRollover.missing_in(&bare, true).is_some());
        assert!(ChainKind::Issue.missing_in(&bare, false).is_none());
    }
}
