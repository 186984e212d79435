//! Errors: RFC 7807 problem documents as ACME servers send them (RFC 8555 §6.7), and every
//! other way a request can fail, each naming the endpoint it happened on.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::Endpoint;

/// The namespace of ACME error types (RFC 8555 §6.7).
pub const ACME_ERROR_NS: &str = "urn:ietf:params:acme:error:";

/// An RFC 7807 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Problem {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub detail: Option<String>,
    pub status: Option<u16>,
    #[serde(default)]
    pub subproblems: Vec<Problem>,
}

impl Problem {
    /// The type without the ACME namespace (`badNonce`), or the full URI for other namespaces.
    pub fn short_type(&self) -> &str {
        match &self.kind {
            Some(kind) => kind.strip_prefix(ACME_ERROR_NS).unwrap_or(kind),
            None => "about:blank",
        }
    }

    /// Whether this is the ACME error `name` (e.g. `"badNonce"`).
    pub fn is(&self, name: &str) -> bool {
        self.short_type() == name
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.short_type())?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        for sub in &self.subproblems {
            write!(f, "; {sub}")?;
        }
        Ok(())
    }
}

/// Why an ACME request (or a poll) did not give the expected answer.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The server answered with a problem document.
    #[error("{endpoint}: HTTP {status}: {problem}")]
    Problem {
        endpoint: Endpoint,
        status: u16,
        problem: Problem,
    },
    /// An error status without a parseable problem document.
    #[error("{endpoint}: HTTP {status}: {body}")]
    Status {
        endpoint: Endpoint,
        status: u16,
        body: String,
    },
    /// No complete answer within the request timeout.
    #[error("{endpoint}: no answer within {}", crate::units::format_duration(*.after))]
    Timeout { endpoint: Endpoint, after: Duration },
    /// Connection, TLS or protocol failure below HTTP.
    #[error("{endpoint}: transport: {message}")]
    Transport { endpoint: Endpoint, message: String },
    /// A success status whose body or headers are not what RFC 8555 requires.
    #[error("{endpoint}: malformed response: {message}")]
    Malformed { endpoint: Endpoint, message: String },
    /// The object stayed pending/processing beyond the polling timeout.
    #[error("{endpoint}: still {state} after {}", crate::units::format_duration(*.after))]
    StillPending {
        endpoint: Endpoint,
        state: String,
        after: Duration,
    },
}

impl AcmeError {
    /// A short, low-cardinality key for grouping failures in reports: `acme:badNonce`,
    /// `timeout:finalize`, `transport:newOrder`, `http-503:order`…
    pub fn reason(&self) -> String {
        match self {
            AcmeError::Problem { problem, .. } => format!("acme:{}", problem.short_type()),
            AcmeError::Status {
                endpoint, status, ..
            } => format!("http-{status}:{endpoint}"),
            AcmeError::Timeout { endpoint, .. } => format!("timeout:{endpoint}"),
            AcmeError::Transport { endpoint, .. } => format!("transport:{endpoint}"),
            AcmeError::Malformed { endpoint, .. } => format!("malformed:{endpoint}"),
            AcmeError::StillPending { endpoint, .. } => format!("poll-timeout:{endpoint}"),
        }
    }

    /// The problem document, when the server sent one.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            AcmeError::Problem { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// The CA does not know the account the request was signed with (RFC 8555 §7.3.1
    /// `accountDoesNotExist`): restarted, or purged.
    pub fn is_account_forgotten(&self) -> bool {
        self.problem().is_some_and(|p| p.is("accountDoesNotExist"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pebble_bad_nonce() {
        let p: Problem = serde_json::from_str(
            r#"{"type":"urn:ietf:params:acme:error:badNonce","detail":"JWS has an invalid anti-replay nonce: \"abc\"","status":400}"#,
        )
        .unwrap();
        assert!(p.is("badNonce"));
        assert_eq!(p.status, Some(400));
        assert_eq!(
            p.to_string(),
            "badNonce: JWS has an invalid anti-replay nonce: \"abc\""
        );
    }

    #[test]
    fn subproblems_and_foreign_types() {
        let p: Problem = serde_json::from_str(
            r#"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"two bad",
                "subproblems":[{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"a.test"}]}"#,
        )
        .unwrap();
        assert_eq!(p.subproblems.len(), 1);
        assert!(p.to_string().ends_with("; rejectedIdentifier: a.test"));

        let other: Problem =
            serde_json::from_str(r#"{"type":"https://example.test/oops"}"#).unwrap();
        assert_eq!(other.short_type(), "https://example.test/oops");
        let blank: Problem = serde_json::from_str(r#"{"detail":"x"}"#).unwrap();
        assert_eq!(blank.short_type(), "about:blank");
    }

    #[test]
    fn reasons_are_low_cardinality() {
        let e = AcmeError::Problem {
            endpoint: Endpoint::NewOrder,
            status: 400,
            problem: serde_json::from_str(
                r#"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"x123.test"}"#,
            )
            .unwrap(),
        };
        assert_eq!(e.reason(), "acme:rejectedIdentifier");
        let t = AcmeError::Timeout {
            endpoint: Endpoint::Finalize,
            after: Duration::from_secs(5),
        };
        assert_eq!(t.reason(), "timeout:finalize");
        assert_eq!(t.to_string(), "finalize: no answer within 5s");
    }
}
