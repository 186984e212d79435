//! JSON objects of RFC 8555 §7.1, as the server sends them. Only what the tool reads is typed;
//! unknown fields are ignored so newer servers keep working.

use serde::{Deserialize, Serialize};

use super::Problem;

/// The directory (RFC 8555 §7.1.1): where every other resource starts.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    pub new_nonce: String,
    pub new_account: String,
    pub new_order: String,
    pub revoke_cert: Option<String>,
    pub key_change: Option<String>,
    /// ARI (RFC 9773); Pebble 2.4 lacks it.
    pub renewal_info: Option<String>,
    #[serde(default)]
    pub meta: Meta,
}

/// Directory metadata (RFC 8555 §7.1.1).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub terms_of_service: Option<String>,
    #[serde(default)]
    pub external_account_required: bool,
}

/// An identifier in an order or authorization (RFC 8555 §9.7.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

impl Identifier {
    pub fn dns(name: impl Into<String>) -> Self {
        Identifier {
            kind: "dns".into(),
            value: name.into(),
        }
    }
}

/// Order status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid,
}

/// An order (RFC 8555 §7.1.3).
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub status: OrderStatus,
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
    #[serde(default)]
    pub authorizations: Vec<String>,
    pub finalize: String,
    pub certificate: Option<String>,
    pub error: Option<Problem>,
}

/// Authorization status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizationStatus {
    Pending,
    Valid,
    Invalid,
    Deactivated,
    Expired,
    Revoked,
}

/// An authorization (RFC 8555 §7.1.4).
#[derive(Debug, Clone, Deserialize)]
pub struct Authorization {
    pub identifier: Identifier,
    pub status: AuthorizationStatus,
    #[serde(default)]
    pub challenges: Vec<Challenge>,
    #[serde(default)]
    pub wildcard: bool,
}

impl Authorization {
    /// The first challenge of the given type.
    pub fn challenge(&self, kind: ChallengeType) -> Option<&Challenge> {
        self.challenges.iter().find(|c| c.kind == kind.name())
    }

    /// Why validation failed, from the first challenge carrying an error.
    pub fn failure(&self) -> Option<&Problem> {
        self.challenges.iter().find_map(|c| c.error.as_ref())
    }
}

/// Challenge status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChallengeStatus {
    Pending,
    Processing,
    Valid,
    Invalid,
}

/// The challenge types the tool answers: http-01 (RFC 8555 §8.3), dns-01 (§8.4) and
/// tls-alpn-01 (RFC 8737 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum ChallengeType {
    #[serde(rename = "http-01")]
    Http01,
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    #[serde(rename = "dns-01")]
    Dns01,
}

impl ChallengeType {
    pub const ALL: [ChallengeType; 3] = [
        ChallengeType::Http01,
        ChallengeType::TlsAlpn01,
        ChallengeType::Dns01,
    ];

    /// The type's name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ChallengeType::Http01 => "http-01",
            ChallengeType::TlsAlpn01 => "tls-alpn-01",
            ChallengeType::Dns01 => "dns-01",
        }
    }
}

impl std::fmt::Display for ChallengeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A challenge (RFC 8555 §7.1.5, §8).
#[derive(Debug, Clone, Deserialize)]
pub struct Challenge {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub status: ChallengeStatus,
    pub token: Option<String>,
    pub error: Option<Problem>,
}

/// An account object (RFC 8555 §7.1.2).
#[derive(Debug, Clone, Deserialize)]
pub struct AccountObject {
    pub status: String,
    #[serde(default)]
    pub contact: Vec<String>,
}

/// Body of a newAccount request (RFC 8555 §7.3).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAccount<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub contact: &'a [String],
    pub terms_of_service_agreed: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub only_return_existing: bool,
}

/// Body of a newOrder request (RFC 8555 §7.4), with the certificate it renews (RFC 9773 §5).
#[derive(Debug, Serialize)]
pub struct NewOrder<'a> {
    pub identifiers: &'a [Identifier],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<&'a str>,
}

/// Body of an account update: new contacts (RFC 8555 §7.3.2) or deactivation (§7.3.6).
#[derive(Debug, Serialize)]
pub struct AccountUpdate<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
}

/// Body of an authorization deactivation (RFC 8555 §7.5.2).
#[derive(Debug, Serialize)]
pub struct AuthorizationUpdate {
    pub status: &'static str,
}

/// Body of a revokeCert request (RFC 8555 §7.6): the DER certificate, unpadded base64url, and
/// an optional RFC 5280 §5.3.1 reason code.
#[derive(Debug, Serialize)]
pub struct Revocation {
    pub certificate: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<u8>,
}

/// Payload of the inner JWS of a keyChange request (RFC 8555 §7.3.5).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyChange<'a> {
    pub account: &'a str,
    pub old_key: serde_json::Value,
}

/// A renewalInfo answer (RFC 9773 §4.2).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalInfo {
    pub suggested_window: SuggestedWindow,
    #[serde(rename = "explanationURL")]
    pub explanation_url: Option<String>,
}

/// When the CA suggests renewing: RFC 3339 timestamps, `end` after `start`.
#[derive(Debug, Clone, Deserialize)]
pub struct SuggestedWindow {
    pub start: String,
    pub end: String,
}

/// Body of a finalize request (RFC 8555 §7.4).
#[derive(Debug, Serialize)]
pub struct Finalize {
    pub csr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pebble_directory_parses() {
        let dir: Directory = serde_json::from_str(
            r#"{"keyChange":"https://127.0.0.1:14000/rollover-account-key",
                "meta":{"externalAccountRequired":false,"termsOfService":"data:text/plain,Do%20what%20thou%20wilt"},
                "newAccount":"https://127.0.0.1:14000/sign-me-up","newNonce":"https://127.0.0.1:14000/nonce-plz",
                "newOrder":"https://127.0.0.1:14000/order-plz","revokeCert":"https://127.0.0.1:14000/revoke-cert"}"#,
        )
        .unwrap();
        assert_eq!(dir.new_nonce, "https://127.0.0.1:14000/nonce-plz");
        assert!(dir.renewal_info.is_none());
        assert!(dir.meta.terms_of_service.is_some());
    }

    #[test]
    fn invalid_authorization_exposes_its_problem() {
        let authz: Authorization = serde_json::from_str(
            r#"{"status":"invalid","identifier":{"type":"dns","value":"a.test"},
                "challenges":[{"type":"http-01","url":"u","status":"invalid","token":"t",
                "error":{"type":"urn:ietf:params:acme:error:connection","detail":"refused","status":400}}]}"#,
        )
        .unwrap();
        assert_eq!(authz.status, AuthorizationStatus::Invalid);
        assert_eq!(authz.failure().unwrap().short_type(), "connection");
        assert!(authz.challenge(ChallengeType::Http01).is_some());
        assert!(authz.challenge(ChallengeType::Dns01).is_none());
    }

    #[test]
    fn new_account_omits_empty_fields() {
        let body = serde_json::to_string(&NewAccount {
            contact: &[],
            terms_of_service_agreed: true,
            only_return_existing: false,
        })
        .unwrap();
        assert_eq!(body, r#"{"termsOfServiceAgreed":true}"#);
    }

    #[test]
    fn optional_request_fields_are_left_out() {
        let ids = [Identifier::dns("a.test")];
        let order = |replaces| {
            serde_json::to_string(&NewOrder {
                identifiers: &ids,
                replaces,
            })
        };
        assert_eq!(
            order(None).unwrap(),
            r#"{"identifiers":[{"type":"dns","value":"a.test"}]}"#
        );
        assert!(order(Some("aYhb.AIdl"))
            .unwrap()
            .ends_with(r#","replaces":"aYhb.AIdl"}"#));
        let revoke = serde_json::to_string(&Revocation {
            certificate: "MIIB".into(),
            reason: None,
        });
        assert_eq!(revoke.unwrap(), r#"{"certificate":"MIIB"}"#);
        let deactivate = AccountUpdate {
            contact: None,
            status: Some("deactivated"),
        };
        assert_eq!(
            serde_json::to_string(&deactivate).unwrap(),
            r#"{"status":"deactivated"}"#
        );
    }

    #[test]
    fn renewal_info_parses() {
        let info: RenewalInfo = serde_json::from_str(
            r#"{"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"},
                "explanationURL":"https://acme.example.com/docs/ari"}"#,
        )
        .unwrap();
        assert_eq!(info.suggested_window.start, "2025-01-02T04:00:00Z");
        assert!(info.explanation_url.is_some());
    }
}
