//! Errors: [RFC 7807](https://www.rfc-editor.org/rfc/rfc7807) problem documents as ACME servers
//! send them ([RFC 8555 §6.7](https://www.rfc-editor.org/rfc/rfc8555#section-6.7)), and every other
//! way a request can fail, each naming the endpoint it happened on.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::Endpoint;
use crate::printable::{printable, MAX_MESSAGE};

/// The namespace of ACME error types
/// ([RFC 8555 §6.7](https://www.rfc-editor.org/rfc/rfc8555#section-6.7)).
pub const ACME_ERROR_NS: &str = "urn:ietf:params:acme:error:";

/// The ACME error types a CA may send
/// ([RFC 8555 §6.7](https://www.rfc-editor.org/rfc/rfc8555#section-6.7),
/// [RFC 9773 §5](https://www.rfc-editor.org/rfc/rfc9773#section-5) `alreadyReplaced`,
/// draft-ietf-acme-profiles `invalidProfile`). Any other type is folded into `other`: the type
/// names a failure reason, a map key and a StatsD name, so the set must stay small whatever a CA
/// sends.
const KNOWN_TYPES: &[&str] = &[
    "accountDoesNotExist",
    "alreadyReplaced",
    "alreadyRevoked",
    "badCSR",
    "badNonce",
    "badPublicKey",
    "badRevocationReason",
    "badSignatureAlgorithm",
    "caa",
    "compound",
    "connection",
    "dns",
    "externalAccountRequired",
    "incorrectResponse",
    "invalidContact",
    "invalidProfile",
    "malformed",
    "orderNotReady",
    "rateLimited",
    "rejectedIdentifier",
    "serverInternal",
    "tls",
    "unauthorized",
    "unsupportedContact",
    "unsupportedIdentifier",
    "userActionRequired",
];

/// Subproblems kept of one problem
/// ([RFC 8555 §6.7.1](https://www.rfc-editor.org/rfc/rfc8555#section-6.7.1)); the rest are counted.
const MAX_SUBPROBLEMS: usize = 10;

/// The short type of a problem whose type is not one of the known ACME types.
pub const OTHER: &str = "other";

/// An [RFC 7807](https://www.rfc-editor.org/rfc/rfc7807) problem document
/// ([RFC 8555 §6.7](https://www.rfc-editor.org/rfc/rfc8555#section-6.7)), bounded and printable
/// whatever the CA sent: the type is one of the known ACME types (or `about:blank`, or `other`,
/// with the sent type kept in `unknown_type`), the texts are cut to a few hundred bytes without
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "RawProblem")]
pub struct Problem {
    /// The type URI (`type` on the wire), folded as above; `None` means `about:blank`.
    pub kind: Option<String>,
    /// The type as sent, cut and made printable, when it was folded into `other`.
    pub unknown_type: Option<String>,
    /// What went wrong, for people.
    pub detail: Option<String>,
    /// The HTTP status as the document states it; the answer's own status is the one counted.
    pub status: Option<u16>,
    /// Problems per identifier of a compound error
    /// ([RFC 8555 §6.7.1](https://www.rfc-editor.org/rfc/rfc8555#section-6.7.1)), at most ten, each
    /// without subproblems of its own.
    pub subproblems: Vec<Problem>,
    /// Subproblems sent beyond those kept.
    pub more_subproblems: usize,
}

/// A problem document as sent.
#[derive(Deserialize)]
struct RawProblem {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    detail: Option<String>,
    status: Option<u16>,
    #[serde(default)]
    subproblems: Vec<RawProblem>,
}

impl From<RawProblem> for Problem {
    fn from(raw: RawProblem) -> Problem {
        let text = |s: String| printable(&s, MAX_MESSAGE);
        let (kind, unknown_type) = match raw.kind {
            None => (None, None),
            Some(kind) if kind == "about:blank" => (Some(kind), None),
            Some(kind) => match kind.strip_prefix(ACME_ERROR_NS) {
                Some(short) if KNOWN_TYPES.contains(&short) => (Some(kind), None),
                _ => (Some(format!("{ACME_ERROR_NS}{OTHER}")), Some(text(kind))),
            },
        };
        let more_subproblems = raw.subproblems.len().saturating_sub(MAX_SUBPROBLEMS);
        Problem {
            kind,
            unknown_type,
            detail: raw.detail.map(text),
            status: raw.status,
            subproblems: raw
                .subproblems
                .into_iter()
                .take(MAX_SUBPROBLEMS)
                .map(|mut sub| {
                    // Subproblems of subproblems are not part of RFC 8555: dropped.
                    sub.subproblems.clear();
                    Problem::from(sub)
                })
                .collect(),
            more_subproblems,
        }
    }
}

impl Problem {
    /// The type without the ACME namespace (`badNonce`), `about:blank`, or `other` for a type
    /// that is not a known ACME type.
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
        if let Some(sent) = &self.unknown_type {
            write!(f, " ({sent})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        for sub in &self.subproblems {
            write!(f, "; {sub}")?;
        }
        if self.more_subproblems > 0 {
            write!(f, "; and {} more", self.more_subproblems)?;
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
        /// The resource asked.
        endpoint: Endpoint,
        /// The HTTP status of the answer.
        status: u16,
        /// The document, boxed to keep every `Result` small.
        problem: Box<Problem>,
        /// The answer's `Retry-After`
        /// ([RFC 8555 §6.6](https://www.rfc-editor.org/rfc/rfc8555#section-6.6): with
        /// `rateLimited`, when to try again).
        retry_after: Option<Duration>,
    },
    /// An error status without a parseable problem document.
    #[error("{endpoint}: HTTP {status}: {body}")]
    Status {
        /// The resource asked.
        endpoint: Endpoint,
        /// The HTTP status of the answer.
        status: u16,
        /// The body, cut to 200 bytes and made printable.
        body: String,
    },
    /// No complete answer within the request timeout.
    #[error("{endpoint}: no answer within {}", crate::units::format_duration(*.after))]
    Timeout {
        /// The resource asked.
        endpoint: Endpoint,
        /// The request timeout that ran out.
        after: Duration,
    },
    /// Connection, TLS or protocol failure below HTTP.
    #[error("{endpoint}: transport: {message}")]
    Transport {
        /// The resource asked.
        endpoint: Endpoint,
        /// The failure as the HTTP or TLS layer put it.
        message: String,
    },
    /// A success status whose body or headers are not what
    /// [RFC 8555](https://www.rfc-editor.org/rfc/rfc8555) requires.
    #[error("{endpoint}: malformed response: {message}")]
    Malformed {
        /// The resource asked.
        endpoint: Endpoint,
        /// What is missing or wrong.
        message: String,
    },
    /// This side failed before anything was sent (signing a JWS): the CA is not to blame, so
    /// the reason says `local`, never `malformed`.
    #[error("{endpoint}: local failure: {message}")]
    Local {
        /// The resource about to be asked.
        endpoint: Endpoint,
        /// What failed here.
        message: String,
    },
    /// The object stayed pending/processing beyond the polling timeout.
    #[error("{endpoint}: still {state} after {}", crate::units::format_duration(*.after))]
    StillPending {
        /// The resource polled.
        endpoint: Endpoint,
        /// The status it was still in (`pending`, `processing`).
        state: String,
        /// How long it was polled.
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
            AcmeError::Local { endpoint, .. } => format!("local:{endpoint}"),
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

    /// The CA refused with a rate limit
    /// ([RFC 8555 §6.6](https://www.rfc-editor.org/rfc/rfc8555#section-6.6) `rateLimited`).
    pub fn is_rate_limited(&self) -> bool {
        self.problem().is_some_and(|p| p.is("rateLimited"))
    }

    /// The CA does not know the account the request was signed with
    /// ([RFC 8555 §7.3.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.1)
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
        assert_eq!(other.short_type(), "other");
        assert_eq!(other.to_string(), "other (https://example.test/oops)");
        let blank: Problem = serde_json::from_str(r#"{"detail":"x"}"#).unwrap();
        assert_eq!(blank.short_type(), "about:blank");
    }

    /// A CA cannot grow the tool or reach the terminal through a problem: unknown types fold
    /// into one, texts are cut and stripped of control characters, subproblems are bounded.
    #[test]
    fn hostile_problems_are_bounded_and_printable() {
        let huge_type = format!("{ACME_ERROR_NS}{}", "x".repeat(100_000));
        let subs: Vec<serde_json::Value> = (0..50)
            .map(|i| {
                serde_json::json!({"type": format!("{ACME_ERROR_NS}dns"), "detail": i.to_string(),
                "subproblems": [{"type": "deeper"}]})
            })
            .collect();
        let json = serde_json::json!({
            "type": huge_type,
            "detail": format!("line\n[2026-01-01 ERROR forged]\u{1b}[2J{}", "y".repeat(100_000)),
            "subproblems": subs,
        });
        let p: Problem = serde_json::from_value(json).unwrap();
        assert_eq!(p.short_type(), OTHER);
        assert!(p.unknown_type.as_ref().unwrap().len() <= MAX_MESSAGE + 3);
        let text = p.to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(text.len() < 20 * (MAX_MESSAGE + 10), "{}", text.len());
        assert_eq!(p.subproblems.len(), MAX_SUBPROBLEMS);
        assert!(p.subproblems.iter().all(|s| s.subproblems.is_empty()));
        assert!(text.ends_with("; and 40 more"), "{text}");
        let e = AcmeError::Problem {
            endpoint: Endpoint::NewOrder,
            status: 400,
            problem: Box::new(p),
            retry_after: None,
        };
        assert_eq!(e.reason(), "acme:other");
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
            retry_after: None,
        };
        assert_eq!(e.reason(), "acme:rejectedIdentifier");
        let t = AcmeError::Timeout {
            endpoint: Endpoint::Finalize,
            after: Duration::from_secs(5),
        };
        assert_eq!(t.reason(), "timeout:finalize");
        assert_eq!(t.to_string(), "finalize: no answer within 5s");
        let local = AcmeError::Local {
            endpoint: Endpoint::KeyChange,
            message: "signing the inner JWS failed".into(),
        };
        assert_eq!(local.reason(), "local:keyChange");
    }
}
