//! Chains: subscriber journeys through the ACME API, one small module each. A chain is an
//! async function over a [`ChainEnv`] and a per-run [`Client`]; the attacker owns the loop,
//! the timing and the reporting.

pub mod checks;
pub mod issue;
pub mod pick;

use std::rc::Rc;
use std::sync::Arc;

use actix::Addr;
use futures_util::future::LocalBoxFuture;
use openssl::x509::store::X509Store;

use crate::acme::wire::{ChallengeType, Directory};
use crate::acme::{AcmeError, Client, Problem, Transport};
use crate::challenge::Registry;
use crate::config::Settings;

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

/// The journeys an attacker can take; the name is `{chain}` in metrics and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainKind {
    Issue,
}

impl ChainKind {
    pub fn name(self) -> &'static str {
        match self {
            ChainKind::Issue => "issue",
        }
    }

    pub async fn run(self, client: &Client, env: &ChainEnv) -> Result<(), ChainError> {
        match self {
            ChainKind::Issue => issue::run(client, env).await,
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

/// The real chains.
pub struct Catalogue;

impl Journeys for Catalogue {
    fn next(&self, client: Rc<Client>, env: Rc<ChainEnv>) -> Journey {
        let kind = ChainKind::Issue;
        (
            kind.name(),
            Box::pin(async move { kind.run(&client, &env).await }),
        )
    }
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
            ChainError::Local(_) => "local".into(),
        }
    }

    pub fn local(e: impl std::fmt::Display) -> Self {
        ChainError::Local(e.to_string())
    }
}
