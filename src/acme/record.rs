//! What each HTTP exchange leaves behind for the metrics: a stable endpoint name (never a URL
//! with IDs in it), the outcome, the time taken and the bytes moved.

use std::fmt;
use std::time::Duration;

/// ACME resources, named as in RFC 8555's directory and object types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Directory,
    NewNonce,
    NewAccount,
    Account,
    NewOrder,
    Order,
    Authz,
    Challenge,
    Finalize,
    Certificate,
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Directory => "directory",
            Endpoint::NewNonce => "newNonce",
            Endpoint::NewAccount => "newAccount",
            Endpoint::Account => "account",
            Endpoint::NewOrder => "newOrder",
            Endpoint::Order => "order",
            Endpoint::Authz => "authz",
            Endpoint::Challenge => "challenge",
            Endpoint::Finalize => "finalize",
            Endpoint::Certificate => "certificate",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A success status.
    Ok,
    /// Refused with `badNonce` and sent again with a fresh nonce (RFC 8555 §6.5).
    BadNonceRetried,
    /// Any other failure: error status, timeout, transport error, malformed answer.
    Failed,
}

/// One HTTP exchange with the CA.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub endpoint: Endpoint,
    pub outcome: RequestOutcome,
    /// HTTP status, 0 when none arrived.
    pub status: u16,
    pub took: Duration,
    /// Status line, headers and body received.
    pub bytes_in: u64,
    /// Request line, headers and body sent.
    pub bytes_out: u64,
}
