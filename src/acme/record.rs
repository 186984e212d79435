//! What each HTTP exchange leaves behind for the metrics: a stable endpoint name (never a URL
//! with IDs in it), the outcome, the time taken and the bytes moved.

use std::fmt;
use std::time::Duration;

use super::wire::ChallengeType;

/// ACME resources, named as in RFC 8555's directory and object types (and RFC 9773's
/// `renewalInfo`). Answering a challenge is named per type (`challenge.http-01`…), so each
/// validation path is counted on its own; a plain GET of an order, authorization or certificate
/// (which some CAs serve without a signature) is named apart from its POST-as-GET (`order.get`…),
/// as the CA serves it on another path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Directory,
    NewNonce,
    NewAccount,
    Account,
    NewOrder,
    Order,
    Authz,
    Challenge(ChallengeType),
    Finalize,
    Certificate,
    RevokeCert,
    KeyChange,
    RenewalInfo,
    OrderGet,
    AuthzGet,
    CertificateGet,
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
            Endpoint::Challenge(ChallengeType::Http01) => "challenge.http-01",
            Endpoint::Challenge(ChallengeType::TlsAlpn01) => "challenge.tls-alpn-01",
            Endpoint::Challenge(ChallengeType::Dns01) => "challenge.dns-01",
            Endpoint::Finalize => "finalize",
            Endpoint::Certificate => "certificate",
            Endpoint::RevokeCert => "revokeCert",
            Endpoint::KeyChange => "keyChange",
            Endpoint::RenewalInfo => "renewalInfo",
            Endpoint::OrderGet => "order.get",
            Endpoint::AuthzGet => "authz.get",
            Endpoint::CertificateGet => "certificate.get",
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
    /// Refused with the problem the chain expected (`alreadyRevoked` for a second revocation,
    /// `unauthorized` for a deactivated account…): the CA did its job, so this is neither a
    /// success nor a failure of the endpoint.
    Expected,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_endpoints_are_named_per_type() {
        let names: Vec<&str> = ChallengeType::ALL
            .into_iter()
            .map(|kind| Endpoint::Challenge(kind).name())
            .collect();
        assert_eq!(
            names,
            [
                "challenge.http-01",
                "challenge.tls-alpn-01",
                "challenge.dns-01"
            ]
        );
        for kind in ChallengeType::ALL {
            assert_eq!(
                Endpoint::Challenge(kind).name(),
                format!("challenge.{kind}")
            );
        }
    }
}
