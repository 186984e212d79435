//! `[chains]`: the mix (`[chains.weights]`) and `[chains.issue]`, which also says how every
//! chain registers accounts and obtains certificates; the other tables are in
//! [`chain_tables`](super::chain_tables), the weight tables in [`weights`](super::weights).
//! All of it is read by the chains at each run, so a reload changes it.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::chain_tables::{
    AccountUpdate, FailedValidation, KeyRollover, Keys, NewAccount, Poll, Renew, Revoke, Settle,
};
use super::weights::{CertKeys, ChainWeights, NamesPerOrder, Profiles};
use super::{check_domain, positive, ChallengeChoice, ChallengeWeights, Invalid};
use crate::acme::wire::ChallengeType;
use crate::acme::JwsAlg;
use crate::chain_kind::ChainKind;
use crate::pool::PoolSettings;

/// Per-chain settings and the mix.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Chains {
    /// Relative weight of each chain by name; without the table, `issue` alone runs.
    pub weights: ChainWeights,
    pub issue: Issue,
    #[serde(rename = "new-account", alias = "new_account")]
    pub new_account: NewAccount,
    pub renew: Renew,
    pub revoke: Revoke,
    #[serde(rename = "key-rollover", alias = "key_rollover")]
    pub key_rollover: KeyRollover,
    #[serde(rename = "account-update", alias = "account_update")]
    pub account_update: AccountUpdate,
    #[serde(rename = "failed-validation", alias = "failed_validation")]
    pub failed_validation: FailedValidation,
    pub poll: Poll,
    pub pool: PoolSettings,
    pub keys: Keys,
    pub settle: Settle,
}

/// The `issue` chain (new account, order, validation, finalize, download), and how every other
/// chain registers accounts and obtains certificates when it needs one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Issue {
    /// Random names are `<label>.<base_domain>`; the CA must resolve them to the challenge
    /// server.
    pub base_domain: String,
    /// Names in each order: a number, `[min, max]` (uniform), or weights by count.
    pub names_per_order: NamesPerOrder,
    /// Account key algorithm.
    pub account_key: JwsAlg,
    /// Certificate key type, or weights by type (`{ p256 = 3, rsa2048 = 1 }`).
    pub cert_key: CertKeys,
    /// When set, every downloaded chain must verify up to one of these PEM roots.
    pub verify_root: Option<PathBuf>,
    /// Contact added to new accounts (`mailto:` URL); none when empty.
    pub contact: Option<String>,
    /// The challenge each authorization is answered with: a type, or `random`.
    pub challenge: ChallengeChoice,
    /// Weights for `challenge = "random"` (`{ "http-01" = 2, "dns-01" = 1 }`); all types
    /// weigh 1 when absent.
    pub challenge_weights: Option<ChallengeWeights>,
    /// Share (0–1) of names ordered as a wildcard `*.<label>.<base>`, together with
    /// `<label>.<base>`: both authorizations then share one dns-01 TXT name.
    pub wildcards: f64,
    /// How an order's challenges are answered: all at once, then polled (as ACME clients do),
    /// or one at a time.
    pub answer: Answering,
    /// Share (0–1) of `issue` runs that register a new account; the others order from an
    /// account of the pool, as most real subscribers (and every hosting provider) do.
    pub new_account: f64,
    /// Certificate profiles to order with, by weight (`{ shortlived = 1, classic = 3 }`);
    /// empty: none asked, the CA's default.
    pub profiles: Profiles,
}

/// How an order's challenges are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answering {
    /// Every challenge answered, then every authorization polled: the CA validates the names
    /// concurrently.
    Together,
    /// Answer one, wait for its verdict, then the next, as some clients do: the CA sees one
    /// validation per order at a time.
    InTurn,
}

impl Default for Issue {
    fn default() -> Self {
        Issue {
            base_domain: "wile.test".into(),
            names_per_order: NamesPerOrder::default(),
            account_key: JwsAlg::Es256,
            cert_key: CertKeys::default(),
            verify_root: None,
            contact: None,
            challenge: ChallengeChoice::One(ChallengeType::Http01),
            challenge_weights: None,
            wildcards: 0.0,
            answer: Answering::Together,
            new_account: 0.1,
            profiles: Profiles::default(),
        }
    }
}

impl Chains {
    /// Each chain's weight as configured.
    pub fn weights(&self) -> &[(ChainKind, u32)] {
        self.weights.get()
    }

    pub(super) fn validate(&self) -> Result<(), Invalid> {
        let issue = &self.issue;
        check_domain("chains.issue.base_domain", &issue.base_domain)?;
        if let Some(contact) = &issue.contact {
            if !contact.starts_with("mailto:") {
                return Err(Invalid::new(
                    "chains.issue.contact",
                    format!("{contact:?} must be a mailto: URL"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&issue.new_account) {
            return Err(Invalid::new(
                "chains.issue.new_account",
                format!("{} is not a share between 0 and 1", issue.new_account),
            ));
        }
        let share = self.new_account.only_return_existing;
        if !(0.0..=1.0).contains(&share) {
            return Err(Invalid::new(
                "chains.new-account.only_return_existing",
                format!("{share} is not a share between 0 and 1"),
            ));
        }
        if let Some(bad) = self.revoke.reasons.iter().find(|r| **r == 7 || **r > 10) {
            return Err(Invalid::new(
                "chains.revoke.reasons",
                format!("{bad} is not an RFC 5280 reason code (0-10 without 7)"),
            ));
        }
        check_domain(
            "chains.account-update.contact_domain",
            &self.account_update.contact_domain,
        )?;
        let pool = &self.pool;
        if pool.max_accounts == 0 {
            return Err(Invalid::new(
                "chains.pool.max_accounts",
                "must be at least 1",
            ));
        }
        if pool.max_certificates_per_account == 0 {
            return Err(Invalid::new(
                "chains.pool.max_certificates_per_account",
                "must be at least 1",
            ));
        }
        positive("chains.pool.wait_timeout", pool.wait_timeout)?;
        positive("chains.settle.interval", self.settle.interval)?;
        if self.settle.window < self.settle.interval {
            return Err(Invalid::new(
                "chains.settle.window",
                "must be at least chains.settle.interval",
            ));
        }
        if self.settle.window > Duration::from_secs(600) {
            return Err(Invalid::new(
                "chains.settle.window",
                "more than 10m: a CA that disagrees that long is failing, not settling",
            ));
        }
        if !(1..=10_000).contains(&self.keys.pool_size) {
            return Err(Invalid::new(
                "chains.keys.pool_size",
                format!("{} is not between 1 and 10000", self.keys.pool_size),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::load;
    use crate::config::{Eviction, RevokeSigner, WhenEmpty};

    fn error(toml: &str) -> String {
        load(toml, &[]).unwrap_err().to_string()
    }

    #[test]
    fn without_weights_issue_runs_alone() {
        let s = load("", &[]).unwrap();
        assert_eq!(s.chains.weights(), [(ChainKind::Issue, 1)]);
        assert_eq!(s.chains.revoke.reasons, [0, 4, 5]);
        assert_eq!(s.chains.pool.when_empty, WhenEmpty::Create);
    }

    #[test]
    fn weights_and_chain_tables_take_either_separator() {
        let s = load(
            "[chains.weights]\nissue = 5\nkey-rollover = 2\n\
             [chains.key-rollover]\nnew_key = \"es384\"\n\
             [chains.account_update]\ncheck_contact = false\n",
            &[("WEC_CHAINS__WEIGHTS__DEACTIVATE_AUTHZ", "3")],
        )
        .unwrap();
        let mut weights = s.chains.weights().to_vec();
        weights.sort();
        assert_eq!(
            weights,
            [
                (ChainKind::Issue, 5),
                (ChainKind::KeyRollover, 2),
                (ChainKind::DeactivateAuthz, 3)
            ]
        );
        assert_eq!(s.chains.key_rollover.new_key, JwsAlg::Es384);
        assert!(!s.chains.account_update.check_contact);
    }

    #[test]
    fn bad_weights_name_the_key_and_the_reason() {
        let msg = error("[chains.weights]\nrevok = 1\n");
        assert!(
            msg.contains("`chains.weights`") && msg.contains("\"revok\" is not a chain"),
            "{msg}"
        );
        assert!(msg.contains("key-rollover"), "lists the chains: {msg}");
        let msg = error("[chains.weights]\nissue = 0\n");
        assert!(msg.contains("every weight is 0"), "{msg}");
        let msg = error("[chains.revok]\nreasons = [1]\n");
        assert!(msg.contains("unknown field `revok`"), "{msg}");
    }

    #[test]
    fn per_chain_values_are_checked() {
        for (toml, key, why) in [
            (
                "[chains.revoke]\nreasons = [0, 7]\n",
                "chains.revoke.reasons",
                "7 is not an RFC 5280 reason code",
            ),
            (
                "[chains.new-account]\nonly_return_existing = 1.5\n",
                "chains.new-account.only_return_existing",
                "not a share",
            ),
            (
                "[chains.pool]\nmax_accounts = 0\n",
                "chains.pool.max_accounts",
                "at least 1",
            ),
            (
                "[chains.pool]\nwait_timeout = \"0s\"\n",
                "chains.pool.wait_timeout",
                "longer than zero",
            ),
            (
                "[chains.keys]\npool_size = 0\n",
                "chains.keys.pool_size",
                "between 1 and 10000",
            ),
            (
                "[chains.account-update]\ncontact_domain = \"not a domain\"\n",
                "chains.account-update.contact_domain",
                "not a DNS name",
            ),
        ] {
            let msg = error(toml);
            assert!(
                msg.contains(&format!("`{key}`")) && msg.contains(why),
                "{toml}: {msg}"
            );
        }
        let msg = error("[chains.revoke]\nsigner = \"me\"\n");
        assert!(msg.contains("signer") || msg.contains("variant"), "{msg}");
    }

    #[test]
    fn revoke_and_pool_settings_parse() {
        let s = load(
            "[chains.revoke]\nsigner = \"certificate-key\"\nreasons = []\n\
             [chains.pool]\neviction = \"random\"\nwhen_empty = \"wait\"\nwait_timeout = \"2s\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(s.chains.revoke.signer, RevokeSigner::CertificateKey);
        assert!(s.chains.revoke.reasons.is_empty());
        assert_eq!(s.chains.pool.eviction, Eviction::Random);
        assert_eq!(s.chains.pool.when_empty, WhenEmpty::Wait);
        assert_eq!(s.chains.pool.wait_timeout, Duration::from_secs(2));
        let s = load("", &[("WEC_CHAINS__REVOKE__REASONS", "4")]).unwrap();
        assert_eq!(s.chains.revoke.reasons, [4]);
        let s = load("", &[("WEC_CHAINS__REVOKE__REASONS", "0,5")]).unwrap();
        assert_eq!(s.chains.revoke.reasons, [0, 5]);
    }
}
