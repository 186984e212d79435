//! The CA's objects (RFC 8555 §7.1) as it keeps them in memory, with Boulder's encodings where
//! they show on the wire or in its database: authorization status codes (sa/model.go: 0 pending,
//! 1 valid, 2 invalid, 3 deactivated, 4 revoked), challenge type bits (0 http-01, 1 dns-01,
//! 2 tls-alpn-01), one token shared by an authorization's challenges, and challenge ids that
//! are base64url(FNV-1a-128(token || type)[..4]) as Boulder's `Challenge.StringID`.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::jwk::Jwk;
use crate::problem::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Valid,
    Deactivated,
}

impl AccountStatus {
    pub fn name(self) -> &'static str {
        match self {
            AccountStatus::Valid => "valid",
            AccountStatus::Deactivated => "deactivated",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: u64,
    pub key: Arc<Jwk>,
    pub status: AccountStatus,
    pub created: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallType {
    Http01,
    Dns01,
    TlsAlpn01,
}

impl ChallType {
    pub fn name(self) -> &'static str {
        match self {
            ChallType::Http01 => "http-01",
            ChallType::Dns01 => "dns-01",
            ChallType::TlsAlpn01 => "tls-alpn-01",
        }
    }

    /// Bit position in authz2.challenges and the value of authz2.attempted.
    pub fn code(self) -> u8 {
        match self {
            ChallType::Http01 => 0,
            ChallType::Dns01 => 1,
            ChallType::TlsAlpn01 => 2,
        }
    }

    /// The challenge's id in its URL.
    pub fn string_id(self, token: &str) -> String {
        const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
        const PRIME: u128 = 0x0000000001000000000000000000013B;
        let mut h = OFFSET;
        for b in token.bytes().chain(self.name().bytes()) {
            h ^= u128::from(b);
            h = h.wrapping_mul(PRIME);
        }
        URL_SAFE_NO_PAD.encode(&h.to_be_bytes()[..4])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthzStatus {
    Pending,
    Valid,
    Invalid,
    Deactivated,
}

impl AuthzStatus {
    pub fn name(self) -> &'static str {
        match self {
            AuthzStatus::Pending => "pending",
            AuthzStatus::Valid => "valid",
            AuthzStatus::Invalid => "invalid",
            AuthzStatus::Deactivated => "deactivated",
        }
    }

    pub fn code(self) -> u8 {
        match self {
            AuthzStatus::Pending => 0,
            AuthzStatus::Valid => 1,
            AuthzStatus::Invalid => 2,
            AuthzStatus::Deactivated => 3,
        }
    }
}

/// The outcome of a validation attempt (authz2.attempted/attemptedAt/validationError/Record).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub kind: ChallType,
    pub at: i64,
    pub error: Option<Problem>,
    pub records: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct Authz {
    pub id: u64,
    pub reg_id: u64,
    /// Lower-case; keeps "*." for wildcards as Boulder stores it.
    pub ident: String,
    pub status: AuthzStatus,
    pub expires: i64,
    pub created: i64,
    pub token: [u8; 32],
    pub challenges: Vec<ChallType>,
    /// The profile the order asked for ("" when none), as authz2.certificateProfileName.
    pub profile: String,
    pub attempt: Option<Attempt>,
    /// A validation is running (a second POST does not start another).
    pub validating: bool,
}

impl Authz {
    pub fn token_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.token)
    }

    pub fn is_wildcard(&self) -> bool {
        self.ident.starts_with("*.")
    }

    /// Challenges a client sees: all until one was attempted, then only that one
    /// (RFC 8555 §7.1.4, Boulder sa/model.go).
    pub fn shown_challenges(&self) -> Vec<ChallType> {
        match &self.attempt {
            Some(a) => vec![a.kind],
            None => self.challenges.clone(),
        }
    }

    /// The authz2.challenges bitmap.
    pub fn challenge_bits(&self) -> u8 {
        self.challenges
            .iter()
            .fold(0, |bits, c| bits | (1 << c.code()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid,
}

impl OrderStatus {
    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Ready => "ready",
            OrderStatus::Processing => "processing",
            OrderStatus::Valid => "valid",
            OrderStatus::Invalid => "invalid",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: u64,
    pub reg_id: u64,
    /// Normalized: lower-case, sorted, without duplicates.
    pub idents: Vec<String>,
    pub authz_ids: Vec<u64>,
    pub expires: i64,
    pub created: i64,
    /// As requested ("" = the default profile).
    pub profile: String,
    /// The ARI certID the order named (RFC 9773 §5), and the serial it resolved to.
    pub replaces: String,
    pub replaces_serial: Option<String>,
    pub began_processing: bool,
    pub serial: Option<String>,
    pub error: Option<Problem>,
}

/// A certificate revocation (RFC 5280 reason code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub reason: u8,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct CertRecord {
    pub serial: String,
    pub reg_id: u64,
    pub der: Arc<Vec<u8>>,
    /// Normalized identifiers of the certificate.
    pub names: Vec<String>,
    /// When it was issued (certificates.issued), not the backdated notBefore.
    pub issued: i64,
    pub not_after: i64,
    pub revocation: Option<Revocation>,
}

/// The key of a set of names: normalized and comma-joined.
pub fn name_set(idents: &[String]) -> String {
    idents.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_ids_are_short_and_distinct() {
        let a = ChallType::Http01.string_id("tok");
        let b = ChallType::Dns01.string_id("tok");
        assert_eq!(a.len(), 6);
        assert_ne!(a, b);
    }
}
