//! Where chains find objects the CA already holds, behind one small interface: the in-memory
//! [`Pool`](super::Pool) of what the tool created is one source; a source that only knows an
//! object's URL and DER (Boulder's database, which holds no keys) fits the same interface, and
//! its objects are then fetched with a plain GET or used where no key is needed (ARI).

use std::sync::Arc;

use futures_util::future::LocalBoxFuture;

/// The kinds of CA objects a source names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    Certificate,
    Order,
    Authorization,
}

/// A CA object as anyone may refer to it: no key comes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: ObjectKind,
    /// Where the CA serves it.
    pub url: String,
    /// A certificate's leaf in DER (what ARI and revocation need), when the source has it.
    pub der: Option<Arc<[u8]>>,
}

/// A source could not answer (a database down…); distinct from having nothing to offer.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// The low-cardinality failure reason for reports (`db:unavailable`…).
    pub reason: &'static str,
    pub message: String,
}

/// Something chains can draw CA objects from.
pub trait Source: Send + Sync {
    /// One object of `kind`, chosen by the source (at random where it can); `None` when it has
    /// none. Local futures: chains run on attacker threads, and a source may talk to an actor.
    fn sample(
        &self,
        kind: ObjectKind,
    ) -> LocalBoxFuture<'_, Result<Option<ObjectRef>, SourceError>>;
}
