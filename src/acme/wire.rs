//! JSON objects of [RFC 8555 §7.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.1), as the
//! server sends them. Only what the tool reads is typed; unknown fields are ignored so newer
//! servers keep working.

use serde::{Deserialize, Serialize};

use super::Problem;

/// The directory ([RFC 8555 §7.1.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.1)): where
/// every other resource starts.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    /// Where a HEAD gets a fresh nonce
    /// ([RFC 8555 §7.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.2)).
    pub new_nonce: String,
    /// Where accounts are created and looked up by key
    /// ([RFC 8555 §7.3](https://www.rfc-editor.org/rfc/rfc8555#section-7.3)).
    pub new_account: String,
    /// Where orders are created
    /// ([RFC 8555 §7.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.4)).
    pub new_order: String,
    /// Where certificates are revoked
    /// ([RFC 8555 §7.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.6)); a directory without
    /// it fails only the chains that revoke.
    pub revoke_cert: Option<String>,
    /// Where account keys are rolled over
    /// ([RFC 8555 §7.3.5](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.5)); optional as
    /// `revoke_cert` is.
    pub key_change: Option<String>,
    /// ARI ([RFC 9773](https://www.rfc-editor.org/rfc/rfc9773)); Pebble 2.4 lacks it.
    pub renewal_info: Option<String>,
    /// Terms, requirements and profiles; all defaults when the CA sends none.
    #[serde(default)]
    pub meta: Meta,
}

/// Directory metadata ([RFC 8555 §7.1.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.1)).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// URL of the current terms, which every newAccount of the tool agrees to.
    pub terms_of_service: Option<String>,
    /// The CA wants external account binding on newAccount
    /// ([RFC 8555 §7.3.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.4)), which the tool
    /// does not send.
    #[serde(default)]
    pub external_account_required: bool,
    /// Certificate profiles the CA offers, name → description (draft-ietf-acme-profiles).
    #[serde(default)]
    pub profiles: std::collections::BTreeMap<String, String>,
}

/// An identifier in an order or authorization
/// ([RFC 8555 §9.7.7](https://www.rfc-editor.org/rfc/rfc8555#section-9.7.7)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    /// The identifier type (`type` on the wire): `dns` for every name the tool orders.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name; in an authorization a wildcard's comes without its `*.`
    /// ([RFC 8555 §7.1.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.4)).
    pub value: String,
}

impl Identifier {
    /// A `dns` identifier for `name`.
    pub fn dns(name: impl Into<String>) -> Self {
        Identifier {
            kind: "dns".into(),
            value: name.into(),
        }
    }
}

/// Order status ([RFC 8555 §7.1.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.6)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Some authorization is not valid yet.
    Pending,
    /// Every authorization is valid: the order waits for its CSR.
    Ready,
    /// Finalized: the CA is issuing.
    Processing,
    /// Issued: `certificate` is set.
    Valid,
    /// Failed for good (an authorization failed, the order expired or the CA refused it).
    Invalid,
}

/// An order ([RFC 8555 §7.1.3](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.3)).
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    /// Where the order is in its life cycle.
    pub status: OrderStatus,
    /// The names ordered.
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
    /// URLs of the authorizations to satisfy before finalizing.
    #[serde(default)]
    pub authorizations: Vec<String>,
    /// Where the CSR goes once the order is ready
    /// ([RFC 8555 §7.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.4)).
    pub finalize: String,
    /// Where the chain is downloaded once the order is valid
    /// ([RFC 8555 §7.4.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.4.2)).
    pub certificate: Option<String>,
    /// Why the order failed, when the CA says.
    pub error: Option<Problem>,
}

/// Authorization status ([RFC 8555 §7.1.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.6)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizationStatus {
    /// No challenge has succeeded yet.
    Pending,
    /// A challenge succeeded: the account may have the identifier certified.
    Valid,
    /// Validation failed; the failed challenge says why ([`Authorization::failure`]).
    Invalid,
    /// Deactivated by the client
    /// ([RFC 8555 §7.5.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.5.2)).
    Deactivated,
    /// Its lifetime ended, pending or valid.
    Expired,
    /// Revoked by the CA.
    Revoked,
}

/// An authorization ([RFC 8555 §7.1.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.4)).
#[derive(Debug, Clone, Deserialize)]
pub struct Authorization {
    /// The name whose control is to be proved.
    pub identifier: Identifier,
    /// Where validation stands.
    pub status: AuthorizationStatus,
    /// The ways the CA accepts to prove control; one succeeding is enough.
    #[serde(default)]
    pub challenges: Vec<Challenge>,
    /// Made for a wildcard: the order named `*.` followed by `identifier`'s value.
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

/// Challenge status ([RFC 8555 §7.1.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.6)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChallengeStatus {
    /// Not answered yet.
    Pending,
    /// Answered: the CA is validating, and may try again.
    Processing,
    /// Validation succeeded.
    Valid,
    /// Validation failed; the challenge's `error` says why.
    Invalid,
}

/// The challenge types the tool answers: http-01
/// ([RFC 8555 §8.3](https://www.rfc-editor.org/rfc/rfc8555#section-8.3)), dns-01
/// ([§8.4](https://www.rfc-editor.org/rfc/rfc8555#section-8.4)) and tls-alpn-01
/// ([RFC 8737 §3](https://www.rfc-editor.org/rfc/rfc8737#section-3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum ChallengeType {
    /// The key authorization served at `/.well-known/acme-challenge/<token>` on port 80.
    #[serde(rename = "http-01")]
    Http01,
    /// A certificate carrying the key authorization's digest, served on port 443 under ALPN
    /// `acme-tls/1`.
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// The key authorization's digest in a TXT record at `_acme-challenge.<name>`.
    #[serde(rename = "dns-01")]
    Dns01,
}

impl ChallengeType {
    /// Every type the tool answers.
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

/// A challenge ([RFC 8555 §7.1.5](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.5),
/// [§8](https://www.rfc-editor.org/rfc/rfc8555#section-8)).
#[derive(Debug, Clone, Deserialize)]
pub struct Challenge {
    /// The type as sent (`type` on the wire), a string so that types the tool does not answer
    /// still parse.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where `{}` is POSTed once the response is in place
    /// ([RFC 8555 §7.5.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.5.1)).
    pub url: String,
    /// Where validation stands.
    pub status: ChallengeStatus,
    /// What the key authorization starts with
    /// ([RFC 8555 §8.1](https://www.rfc-editor.org/rfc/rfc8555#section-8.1)); types other than the
    /// three may have none.
    pub token: Option<String>,
    /// Why validation failed, once it has.
    pub error: Option<Problem>,
}

/// An account object ([RFC 8555 §7.1.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.1.2)).
#[derive(Debug, Clone, Deserialize)]
pub struct AccountObject {
    /// `valid`, `deactivated` or `revoked`, as sent.
    pub status: String,
    /// The contact URLs (`mailto:`…) the CA holds.
    #[serde(default)]
    pub contact: Vec<String>,
}

/// Body of a newAccount request
/// ([RFC 8555 §7.3](https://www.rfc-editor.org/rfc/rfc8555#section-7.3)).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAccount<'a> {
    /// Contact URLs; left out when there are none.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub contact: &'a [String],
    /// Agrees to the directory's `termsOfService`.
    pub terms_of_service_agreed: bool,
    /// Only look up the account of the signing key, never create one
    /// ([RFC 8555 §7.3.1](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.1)); left out when
    /// false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub only_return_existing: bool,
}

/// Body of a newOrder request
/// ([RFC 8555 §7.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.4)), with the certificate it
/// renews ([RFC 9773 §5](https://www.rfc-editor.org/rfc/rfc9773#section-5)) and the certificate
/// profile asked for (draft-ietf-acme-profiles; Boulder offers them in the directory's
/// `meta.profiles`).
#[derive(Debug, Default, Serialize)]
pub struct NewOrder<'a> {
    /// The names to certify.
    pub identifiers: &'a [Identifier],
    /// The ARI certID of the certificate renewed ([`super::ari::cert_id`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<&'a str>,
    /// A profile name from the directory's `meta.profiles`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<&'a str>,
}

impl<'a> NewOrder<'a> {
    /// An order for `identifiers`, nothing else asked.
    pub fn of(identifiers: &'a [Identifier]) -> Self {
        NewOrder {
            identifiers,
            ..NewOrder::default()
        }
    }
}

/// Body of an account update: new contacts
/// ([RFC 8555 §7.3.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.2)) or deactivation
/// ([§7.3.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.6)).
#[derive(Debug, Serialize)]
pub struct AccountUpdate<'a> {
    /// Contact URLs replacing all the account has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<&'a [String]>,
    /// `"deactivated"`, the only status a client may set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
}

/// Body of an authorization deactivation
/// ([RFC 8555 §7.5.2](https://www.rfc-editor.org/rfc/rfc8555#section-7.5.2)).
#[derive(Debug, Serialize)]
pub struct AuthorizationUpdate {
    /// `"deactivated"`, the only status a client may set.
    pub status: &'static str,
}

/// Body of a revokeCert request
/// ([RFC 8555 §7.6](https://www.rfc-editor.org/rfc/rfc8555#section-7.6)): the DER certificate,
/// unpadded base64url, and an optional
/// [RFC 5280 §5.3.1](https://www.rfc-editor.org/rfc/rfc5280#section-5.3.1) reason code.
#[derive(Debug, Serialize)]
pub struct Revocation {
    /// The DER certificate, unpadded base64url.
    pub certificate: String,
    /// The reason code; left out, the CA should record `unspecified` (0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<u8>,
}

/// Payload of the inner JWS of a keyChange request
/// ([RFC 8555 §7.3.5](https://www.rfc-editor.org/rfc/rfc8555#section-7.3.5)).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyChange<'a> {
    /// URL of the account whose key changes.
    pub account: &'a str,
    /// The current key, which the CA checks against the one signing the outer JWS.
    pub old_key: &'a super::key::Jwk,
}

/// A renewalInfo answer ([RFC 9773 §4.2](https://www.rfc-editor.org/rfc/rfc9773#section-4.2)).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalInfo {
    /// When the CA wants the certificate renewed.
    pub suggested_window: SuggestedWindow,
    /// A page where the CA explains the window to people (`explanationURL` on the wire).
    #[serde(rename = "explanationURL")]
    pub explanation_url: Option<String>,
}

/// When the CA suggests renewing: [RFC 3339](https://www.rfc-editor.org/rfc/rfc3339) timestamps,
/// `end` after `start`.
#[derive(Debug, Clone, Deserialize)]
pub struct SuggestedWindow {
    /// Renewing before this is too early.
    pub start: String,
    /// Renewing after this is too late.
    pub end: String,
}

/// Body of a finalize request
/// ([RFC 8555 §7.4](https://www.rfc-editor.org/rfc/rfc8555#section-7.4)).
#[derive(Debug, Serialize)]
pub struct Finalize {
    /// The DER CSR, unpadded base64url.
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
        let order = |replaces, profile| {
            serde_json::to_string(&NewOrder {
                identifiers: &ids,
                replaces,
                profile,
            })
        };
        assert_eq!(
            order(None, None).unwrap(),
            r#"{"identifiers":[{"type":"dns","value":"a.test"}]}"#
        );
        assert!(order(Some("aYhb.AIdl"), None)
            .unwrap()
            .ends_with(r#","replaces":"aYhb.AIdl"}"#));
        assert!(order(None, Some("shortlived"))
            .unwrap()
            .ends_with(r#"}],"profile":"shortlived"}"#));
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
