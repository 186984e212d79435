//! The tables of `[chains]` beyond `issue`: each chain's own settings and the certificate key
//! stock (`[chains.keys]`); the pool's own table (`[chains.pool]`) is `pool::settings`.

use std::time::Duration;

use serde::Deserialize;

use super::ChallengeChoice;
use crate::acme::wire::ChallengeType;
use crate::acme::JwsAlg;
use crate::units::deserialize_duration;

/// `new-account`: register, or (this share of the time) look up a known account by its key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewAccount {
    /// Share (0–1) of runs that send `onlyReturnExisting` for an account of the pool.
    pub only_return_existing: f64,
}

impl Default for NewAccount {
    fn default() -> Self {
        NewAccount {
            only_return_existing: 0.25,
        }
    }
}

/// `renew`: order again the names of a certificate the tool holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Renew {
    /// Send RFC 9773 `replaces` when the directory offers `renewalInfo`.
    pub replaces: bool,
}

impl Default for Renew {
    fn default() -> Self {
        Renew { replaces: true }
    }
}

/// Who signs a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeSigner {
    /// The three below in turn.
    Alternate,
    /// The account that holds the certificate (`kid`).
    Account,
    /// The certificate's own key (`jwk`).
    CertificateKey,
    /// Another account, after proving control of every name of the certificate (RFC 8555
    /// §7.6 allows it: a domain's new holder revoking the previous holder's certificate).
    NameHolder,
}

/// `revoke`: revoke a certificate the tool holds, then check a second revocation is refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Revoke {
    /// RFC 5280 §5.3.1 reason codes, one drawn per revocation; empty: no reason sent.
    #[serde(deserialize_with = "one_or_many")]
    pub reasons: Vec<u8>,
    pub signer: RevokeSigner,
}

impl Default for Revoke {
    fn default() -> Self {
        Revoke {
            reasons: vec![0, 4, 5],
            signer: RevokeSigner::Alternate,
        }
    }
}

/// `key-rollover`: the algorithm of the new account key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyRollover {
    pub new_key: JwsAlg,
}

impl Default for KeyRollover {
    fn default() -> Self {
        KeyRollover {
            new_key: JwsAlg::Es256,
        }
    }
}

/// `account-update`: the contacts it sets, and whether it checks the CA kept them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountUpdate {
    /// New contacts are `mailto:wile-<random>@<contact_domain>`.
    pub contact_domain: String,
    /// The account read back must show the new contact (Boulder ignores contact updates since
    /// 2025: set `false` there).
    pub check_contact: bool,
}

impl Default for AccountUpdate {
    fn default() -> Self {
        AccountUpdate {
            contact_domain: "wile.test".into(),
            check_contact: true,
        }
    }
}

/// `failed-validation`: the challenge answered without publishing its response.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailedValidation {
    pub challenge: ChallengeChoice,
}

impl Default for FailedValidation {
    fn default() -> Self {
        FailedValidation {
            challenge: ChallengeChoice::One(ChallengeType::Http01),
        }
    }
}

/// `poll`: how orders, authorizations and certificates are fetched.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Poll {
    /// Plain GET instead of POST-as-GET (Boulder allows it, Pebble answers 405).
    pub plain_get: bool,
}

/// How long a chain reads back a change the CA accepted (a new account key, a deactivation, a
/// contact) before the CA's disagreement counts as a failure: CAs that cache accounts answer
/// from the old state for a while (Boulder's WFE for about 5 s). The time until the CA agreed
/// is measured and reported.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settle {
    /// The read-back must agree within this long after the change was accepted.
    #[serde(deserialize_with = "deserialize_duration")]
    pub window: Duration,
    /// Pause between two read-backs: the resolution of the measured time.
    #[serde(deserialize_with = "deserialize_duration")]
    pub interval: Duration,
}

impl Default for Settle {
    fn default() -> Self {
        Settle {
            window: Duration::from_secs(10),
            interval: Duration::from_millis(250),
        }
    }
}

/// Certificate keys, generated ahead so key generation (RSA's above all) is not what a chain
/// measures.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Keys {
    /// Keys of each certificate key type in use, made at start.
    pub pool_size: usize,
    /// Reuse the keys in turn; `false`: each certificate gets a key of its own, its
    /// replacement made in the background (Boulder revokes every certificate of a key one
    /// revocation reported compromised).
    pub reuse: bool,
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            pool_size: 16,
            reuse: true,
        }
    }
}

/// A list of numbers, or one alone: from the environment `WEC_CHAINS__REVOKE__REASONS=4`
/// arrives as a number and `=0,5` as a list of strings.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Number(u8),
        Text(String),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Number),
        Many(Vec<Number>),
    }
    let numbers = match OneOrMany::deserialize(d)? {
        OneOrMany::One(n) => vec![n],
        OneOrMany::Many(list) => list,
    };
    numbers
        .into_iter()
        .map(|n| match n {
            Number::Number(n) => Ok(n),
            Number::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("{t:?} is not a reason code"))),
        })
        .collect()
}
