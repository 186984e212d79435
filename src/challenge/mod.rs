//! The challenge server the CA validates against: the [`registry::Registry`] actor holding the
//! responses the chains publish, and the listeners that serve them.

pub mod http01;
pub mod registry;

pub use registry::{Lookup, Publish, Registry, Withdraw};
