//! RFC 7807 problem documents with RFC 8555 §6.7 error types, carrying the HTTP status Boulder
//! gives each type (probs/probs.go), plus the headers some problems need (`Retry-After` and
//! `Link rel="help"` for rate limits, `Location` for a key-change conflict).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

const NS: &str = "urn:ietf:params:acme:error:";

/// Where Boulder sends people who hit a rate limit.
pub const RATE_LIMIT_DOCS: &str = "https://letsencrypt.org/docs/rate-limits";

/// RFC 8555 §6.7 error types this CA uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AccountDoesNotExist,
    AlreadyReplaced,
    AlreadyRevoked,
    BadCsr,
    BadNonce,
    BadPublicKey,
    BadRevocationReason,
    BadSignatureAlgorithm,
    Conflict,
    Connection,
    Dns,
    InvalidContact,
    InvalidProfile,
    Malformed,
    OrderNotReady,
    RateLimited,
    RejectedIdentifier,
    ServerInternal,
    Tls,
    Unauthorized,
    UnsupportedContact,
    UnsupportedIdentifier,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::AccountDoesNotExist => "accountDoesNotExist",
            Kind::AlreadyReplaced => "alreadyReplaced",
            Kind::AlreadyRevoked => "alreadyRevoked",
            Kind::BadCsr => "badCSR",
            Kind::BadNonce => "badNonce",
            Kind::BadPublicKey => "badPublicKey",
            Kind::BadRevocationReason => "badRevocationReason",
            Kind::BadSignatureAlgorithm => "badSignatureAlgorithm",
            Kind::Conflict => "conflict",
            Kind::Connection => "connection",
            Kind::Dns => "dns",
            Kind::InvalidContact => "invalidContact",
            Kind::InvalidProfile => "invalidProfile",
            Kind::Malformed => "malformed",
            Kind::OrderNotReady => "orderNotReady",
            Kind::RateLimited => "rateLimited",
            Kind::RejectedIdentifier => "rejectedIdentifier",
            Kind::ServerInternal => "serverInternal",
            Kind::Tls => "tls",
            Kind::Unauthorized => "unauthorized",
            Kind::UnsupportedContact => "unsupportedContact",
            Kind::UnsupportedIdentifier => "unsupportedIdentifier",
        }
    }

    /// Boulder's status for the type (probs.go), used unless a constructor says otherwise.
    fn status(self) -> u16 {
        match self {
            Kind::AlreadyReplaced | Kind::Conflict => 409,
            Kind::OrderNotReady | Kind::Unauthorized => 403,
            Kind::RateLimited => 429,
            Kind::ServerInternal => 500,
            _ => 400,
        }
    }
}

/// A problem for the wire. `sub` holds RFC 8555 §6.7.1 subproblems (one per rejected name).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    #[serde(rename = "type", serialize_with = "ser_kind")]
    pub kind: Kind,
    pub detail: String,
    pub status: u16,
    #[serde(rename = "subproblems", skip_serializing_if = "Vec::is_empty")]
    pub sub: Vec<SubProblem>,
    /// Boulder lists the accepted algorithms with badSignatureAlgorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<&'static str>>,
    #[serde(skip)]
    pub retry_after: Option<u64>,
    #[serde(skip)]
    pub location: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SubProblem {
    #[serde(rename = "type", serialize_with = "ser_kind")]
    pub kind: Kind,
    pub detail: String,
    pub status: u16,
    pub identifier: serde_json::Value,
}

fn ser_kind<S: serde::Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{NS}{}", kind.name()))
}

impl Problem {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            detail: detail.into(),
            status: kind.status(),
            sub: Vec::new(),
            algorithms: None,
            retry_after: None,
            location: None,
        }
    }

    pub fn malformed(detail: impl Into<String>) -> Problem {
        Problem::new(Kind::Malformed, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(Kind::Unauthorized, detail)
    }

    /// Boulder's `probs.NotFound`: type malformed, status 404.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::malformed(detail).with_status(404)
    }

    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(Kind::ServerInternal, detail)
    }

    pub fn with_status(mut self, status: u16) -> Problem {
        self.status = status;
        self
    }

    /// Boulder's `ProblemDetailsForError(err, msg)` prefixes "msg :: " to the detail, except
    /// for badNonce, whose detail it replaces by a fixed text.
    pub fn context(mut self, msg: &str) -> Problem {
        if self.kind == Kind::BadNonce {
            self.detail = "JWS has an invalid anti-replay nonce".into();
        } else {
            self.detail = format!("{msg} :: {}", self.detail);
        }
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.kind.name(), self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.content_type("application/problem+json");
        if let Some(secs) = self.retry_after {
            res.insert_header(("Retry-After", secs.to_string()));
            if self.kind == Kind::RateLimited {
                res.append_header(("Link", format!("<{RATE_LIMIT_DOCS}>;rel=\"help\"")));
            }
        }
        if self.status == 500 {
            res.insert_header(("Retry-After", "60"));
        }
        if let Some(location) = &self.location {
            res.insert_header(("Location", location.as_str()));
        }
        res.body(serde_json::to_string_pretty(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        let p = Problem::not_found("No such authorization");
        let v: serde_json::Value = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "urn:ietf:params:acme:error:malformed");
        assert_eq!(v["status"], 404);
        assert!(v.get("subproblems").is_none());
        let n = Problem::new(Kind::BadNonce, "x").context("Unable to validate JWS");
        assert_eq!(n.detail, "JWS has an invalid anti-replay nonce");
    }
}
