//! What each HTTP exchange leaves behind for the metrics: a stable endpoint name (never a URL
//! with IDs in it), the outcome, the time taken and the bytes moved.

use std::fmt;
use std::time::Duration;

use super::wire::ChallengeType;

/// ACME resources, named as in [RFC 8555](https://www.rfc-editor.org/rfc/rfc8555)'s directory and
/// object types (and [RFC 9773](https://www.rfc-editor.org/rfc/rfc9773)'s `renewalInfo`). Answering
/// a challenge is named per type (`challenge.http-01`…), so each validation path is counted on its
/// own; a plain GET of an order, authorization or certificate (which some CAs serve without a
/// signature) is named apart from its POST-as-GET (`order.get`…), as the CA serves it on another
/// path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// GET of the directory
    /// ([RFC 8555 §7.1.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.1)).
    Directory,
    /// HEAD of newNonce ([RFC 8555 §7.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.2)).
    NewNonce,
    /// newAccount: creating an account or finding one by key
    /// ([RFC 8555 §7.3](https://www.rfc-editor.org/rfc/rfc8555#section-7.3)).
    NewAccount,
    /// The account URL: reading, updating or deactivating the account
    /// ([RFC 8555 §7.3.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.2),
    /// [§7.3.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.6)).
    Account,
    /// newOrder ([RFC 8555 §7.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.4)).
    NewOrder,
    /// POST-as-GET of an order, polls included.
    Order,
    /// An authorization: POST-as-GET, polls included, and deactivation
    /// ([RFC 8555 §7.5](https://www.rfc-editor.org/rfc/rfc8555#section-7.5)).
    Authz,
    /// Answering a challenge of this type
    /// ([RFC 8555 §7.5.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.5.1)).
    Challenge(ChallengeType),
    /// finalize with the CSR ([RFC 8555 §7.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.4)).
    Finalize,
    /// POST-as-GET of the certificate chain
    /// ([RFC 8555 §7.4.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.4.2)).
    Certificate,
    /// revokeCert ([RFC 8555 §7.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.6)).
    RevokeCert,
    /// keyChange ([RFC 8555 §7.3.5](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.5)).
    KeyChange,
    /// GET of renewalInfo ([RFC 9773 §4.1](https://www.rfc-editor.org/rfc/rfc9773#section-4.1)).
    RenewalInfo,
    /// Plain GET of an order, where the CA allows it
    /// ([RFC 8555 §6.3](https://www.rfc-editor.org/rfc/rfc8555#section-6.3)).
    OrderGet,
    /// Plain GET of an authorization.
    AuthzGet,
    /// Plain GET of a certificate chain.
    CertificateGet,
}

impl Endpoint {
    /// The name in logs, metrics and reports, spelt as the directory does.
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
    /// Refused with `badNonce` and sent again with a fresh nonce
    /// ([RFC 8555 §6.5](https://www.rfc-editor.org/rfc/rfc8555#section-6.5)).
    BadNonceRetried,
    /// Refused with the problem the chain expected (`alreadyRevoked` for a second revocation,
    /// `unauthorized` for a deactivated account…): the CA did its job, so this is neither a
    /// success nor a failure of the endpoint.
    Expected,
    /// Refused by a rate limit (HTTP 429, `rateLimited`): the CA protecting itself as it was
    /// told to, counted apart from its failures.
    RateLimited,
    /// Any other failure: error status, timeout, transport error, malformed answer.
    Failed,
}

/// One HTTP exchange with the CA.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// What was asked.
    pub endpoint: Endpoint,
    /// How it ended.
    pub outcome: RequestOutcome,
    /// HTTP status, 0 when none arrived.
    pub status: u16,
    /// From sending the request to the last body byte, or to the failure.
    pub took: Duration,
    /// Bytes read from the network for it: TLS records of the answer, and of the handshake
    /// when it opened the connection.
    pub bytes_in: u64,
    /// Bytes written to the network for it, TLS included likewise.
    pub bytes_out: u64,
}

/// How long a CA took to agree with a change it had accepted (a new account key, a
/// deactivation) when read back: CAs that cache accounts, as Boulder's WFE does for about 5 s,
/// keep answering from the old state for a while. Measured from the accepted change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Convergence {
    /// What was read back (`new-key`, `old-key`, `deactivated`…): a name from the chain, so the
    /// set is small and fixed.
    pub what: &'static str,
    /// From the accepted change to the CA agreeing, or to the end of the settle window.
    pub took: std::time::Duration,
    /// `false`: the settle window ended before the CA agreed.
    pub agreed: bool,
}

/// What the CA said of the account that signed a request, beyond that one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRefusal {
    /// It does not know the account (`accountDoesNotExist`): it restarted, or purged it.
    Unknown,
    /// A rate limit refused the account, to be asked again after this (its `Retry-After`,
    /// capped by [`super::ClientSettings::max_rate_limit_wait`]).
    RateLimited(Duration),
}

/// Where a [`super::Client`] reports what each exchange did, as it happens. The chain running
/// the client provides it and keeps its own journal beside (what it expected, how long the CA
/// took to agree): the client knows the protocol, not the journeys.
pub trait Recorder {
    /// An exchange ended.
    fn record(&self, record: RequestRecord);
    /// The last exchange of `endpoint` turned out to be `outcome`: a malformed answer is
    /// [`RequestOutcome::Failed`], a request re-sent after `badNonce`
    /// [`RequestOutcome::BadNonceRetried`].
    fn amend_last(&self, endpoint: Endpoint, outcome: RequestOutcome);
    /// An error answer carried `Retry-After: wait`.
    fn asked_to_wait(&self, wait: Duration);
    /// The CA refused a request signed by the account at `account_url` for a reason that
    /// holds beyond the request (what the pool does with the account is the chain's call).
    fn account_refused(&self, account_url: &str, refusal: AccountRefusal);
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
