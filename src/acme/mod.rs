//! An [RFC 8555](https://www.rfc-editor.org/rfc/rfc8555) (ACME) client in plain async code over awc
//! and openssl, with no actor inside: the attackers drive it, and every HTTP exchange it makes
//! leaves a [`RequestRecord`] for them to report.
//!
//! Wire types ([`wire`]) are kept apart from behaviour ([`client`], [`account`]); server errors
//! arrive as typed [RFC 7807](https://www.rfc-editor.org/rfc/rfc7807) problems ([`Problem`]).

#![warn(missing_docs)]

pub mod account;
pub mod ari;
pub mod client;
pub mod csr;
pub mod get;
pub mod jws;
pub mod key;
pub mod key_change;
pub mod meter;
pub mod nonce;
pub mod pem;
pub mod problem;
pub mod record;
pub mod revocation;
pub mod wire;

pub use account::Account;
pub use client::{Client, ClientSettings, Response, Transport};
pub use key::{AccountKey, JwsAlg, KeyType};
pub use problem::{AcmeError, Problem};
pub use record::{AccountRefusal, Convergence, Endpoint, Recorder, RequestOutcome, RequestRecord};
pub use revocation::RevokeAs;

use base64::Engine;

/// base64url without padding, as JOSE and ACME use everywhere
/// ([RFC 8555 §6.1](https://www.rfc-editor.org/rfc/rfc8555#section-6.1)).
pub fn b64(data: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}
