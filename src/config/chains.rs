//! `[chains]`: the mix (`[chains.weights]`) and `[chains.issue]`, which also says how every
//! chain registers accounts and obtains certificates; the other tables are in
//! [`chain_tables`](super::chain_tables). All of it is read by the chains at each run, so a
//! reload changes it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rand::Rng;
use serde::Deserialize;

use super::chain_tables::{
    AccountUpdate, FailedValidation, KeyRollover, Keys, NewAccount, Poll, PoolSettings, Renew,
    Revoke,
};
use super::{check_domain, positive, ChallengeChoice, ChallengeWeights, Invalid};
use crate::acme::wire::ChallengeType;
use crate::acme::{JwsAlg, KeyType};
use crate::chains::ChainKind;

/// Per-chain settings and the mix.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Chains {
    /// Relative weight of each chain by name; without the table, `issue` alone runs.
    pub weights: Option<BTreeMap<String, u32>>,
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
            names_per_order: NamesPerOrder::Exactly(1),
            account_key: JwsAlg::Es256,
            cert_key: CertKeys::One("p256".into()),
            verify_root: None,
            contact: None,
            challenge: ChallengeChoice::One(ChallengeType::Http01),
            challenge_weights: None,
            wildcards: 0.0,
            answer: Answering::Together,
        }
    }
}

/// Number of names in an order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum NamesPerOrder {
    Exactly(usize),
    Between(usize, usize),
    /// Weights by count, as a table: `{ "1" = 80, "3" = 15, "10" = 5 }`.
    Weighted(BTreeMap<String, u32>),
}

/// Most names an order may ask for here (Let's Encrypt allows 100).
const MAX_NAMES: usize = 100;

impl NamesPerOrder {
    /// The counts and their weights (validation guarantees they parse).
    fn weights(&self) -> Vec<(usize, u32)> {
        match self {
            NamesPerOrder::Exactly(n) => vec![(*n, 1)],
            NamesPerOrder::Between(a, b) => (*a..=*b).map(|n| (n, 1)).collect(),
            NamesPerOrder::Weighted(table) => table
                .iter()
                .filter_map(|(n, w)| Some((n.parse().ok()?, *w)))
                .filter(|(_, w)| *w > 0)
                .collect(),
        }
    }

    /// A number of names, drawn by the weights.
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        pick_weighted(&self.weights(), rng).unwrap_or(1)
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            NamesPerOrder::Between(a, b) if a > b => {
                return Err(format!("needs min <= max, got [{a}, {b}]"))
            }
            NamesPerOrder::Weighted(table) => {
                for count in table.keys() {
                    count
                        .parse::<usize>()
                        .map_err(|_| format!("{count:?} is not a number of names"))?;
                }
            }
            _ => {}
        }
        let counts: Vec<usize> = self.weights().into_iter().map(|(n, _)| n).collect();
        let (Some(min), Some(max)) = (counts.iter().min(), counts.iter().max()) else {
            return Err("every weight is 0".into());
        };
        if *min == 0 || *max > MAX_NAMES {
            return Err(format!(
                "counts must be between 1 and {MAX_NAMES}, got {min}..{max}"
            ));
        }
        Ok(())
    }
}

/// The certificate key type: one, or weights by type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CertKeys {
    One(String),
    Weighted(BTreeMap<String, u32>),
}

impl CertKeys {
    /// The types in use and their weights (validation guarantees the names parse).
    pub fn weights(&self) -> Vec<(KeyType, u32)> {
        let named = match self {
            CertKeys::One(name) => vec![(name.as_str(), 1)],
            CertKeys::Weighted(table) => table.iter().map(|(n, w)| (n.as_str(), *w)).collect(),
        };
        named
            .into_iter()
            .filter(|(_, w)| *w > 0)
            .filter_map(|(n, w)| Some((key_type(n).ok()?, w)))
            .collect()
    }

    /// A key type, drawn by the weights.
    pub fn sample(&self, rng: &mut impl Rng) -> KeyType {
        pick_weighted(&self.weights(), rng).unwrap_or(KeyType::P256)
    }

    fn validate(&self) -> Result<(), String> {
        let names: Vec<&str> = match self {
            CertKeys::One(name) => vec![name],
            CertKeys::Weighted(table) => table.keys().map(String::as_str).collect(),
        };
        for name in names {
            key_type(name)?;
        }
        if self.weights().is_empty() {
            return Err("every weight is 0".into());
        }
        Ok(())
    }
}

fn key_type(name: &str) -> Result<KeyType, String> {
    KeyType::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| format!("{name:?} is not a key type: p256, p384 or rsa2048"))
}

impl Chains {
    /// Each chain's weight as configured (validation guarantees the names).
    pub fn weights(&self) -> Vec<(ChainKind, u32)> {
        match &self.weights {
            None => vec![(ChainKind::Issue, 1)],
            Some(table) => table
                .iter()
                .filter_map(|(name, w)| Some((ChainKind::from_name(name)?, *w)))
                .collect(),
        }
    }

    pub(super) fn validate(&self) -> Result<(), Invalid> {
        if let Some(table) = &self.weights {
            for name in table.keys() {
                if ChainKind::from_name(name).is_none() {
                    let known: Vec<&str> = ChainKind::ALL.iter().map(|k| k.name()).collect();
                    return Err((
                        "chains.weights",
                        format!("{name:?} is not a chain: {}", known.join(", ")),
                    ));
                }
            }
        }
        if self.weights().iter().all(|(_, w)| *w == 0) {
            return Err((
                "chains.weights",
                "every weight is 0: give at least one chain a weight".into(),
            ));
        }
        let issue = &self.issue;
        check_domain(&issue.base_domain).map_err(|e| ("chains.issue.base_domain", e))?;
        issue
            .names_per_order
            .validate()
            .map_err(|e| ("chains.issue.names_per_order", e))?;
        issue
            .cert_key
            .validate()
            .map_err(|e| ("chains.issue.cert_key", e))?;
        if let Some(contact) = &issue.contact {
            if !contact.starts_with("mailto:") {
                return Err((
                    "chains.issue.contact",
                    format!("{contact:?} must be a mailto: URL"),
                ));
            }
        }
        let share = self.new_account.only_return_existing;
        if !(0.0..=1.0).contains(&share) {
            return Err((
                "chains.new-account.only_return_existing",
                format!("{share} is not a share between 0 and 1"),
            ));
        }
        if let Some(bad) = self.revoke.reasons.iter().find(|r| **r == 7 || **r > 10) {
            return Err((
                "chains.revoke.reasons",
                format!("{bad} is not an RFC 5280 reason code (0-10 without 7)"),
            ));
        }
        check_domain(&self.account_update.contact_domain)
            .map_err(|e| ("chains.account-update.contact_domain", e))?;
        let pool = &self.pool;
        if pool.max_accounts == 0 {
            return Err(("chains.pool.max_accounts", "must be at least 1".into()));
        }
        if pool.max_certificates_per_account == 0 {
            return Err((
                "chains.pool.max_certificates_per_account",
                "must be at least 1".into(),
            ));
        }
        positive("chains.pool.wait_timeout", pool.wait_timeout)?;
        if !(1..=10_000).contains(&self.keys.pool_size) {
            return Err((
                "chains.keys.pool_size",
                format!("{} is not between 1 and 10000", self.keys.pool_size),
            ));
        }
        Ok(())
    }
}

/// Draws one of `items` by weight; `None` when every weight is 0.
pub fn pick_weighted<T: Copy>(items: &[(T, u32)], rng: &mut impl Rng) -> Option<T> {
    let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let mut ticket = rng.random_range(0..total);
    for (item, weight) in items {
        let weight = u64::from(*weight);
        if ticket < weight {
            return Some(*item);
        }
        ticket -= weight;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::load;
    use crate::config::{Eviction, RevokeSigner, WhenEmpty};
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::time::Duration;

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
        let mut weights = s.chains.weights();
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
    fn names_per_order_by_weight() {
        let s = load(
            "[chains.issue]\nnames_per_order = { \"1\" = 3, \"4\" = 1, \"9\" = 0 }\n",
            &[],
        )
        .unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let draws: Vec<usize> = (0..4000)
            .map(|_| s.chains.issue.names_per_order.sample(&mut rng))
            .collect();
        let fours = draws.iter().filter(|n| **n == 4).count();
        assert!(
            draws.iter().all(|n| *n == 1 || *n == 4),
            "weight 0 never drawn"
        );
        assert!(
            (880..1120).contains(&fours),
            "{fours} of 4000, expected 1000"
        );

        for (table, why) in [
            ("{ \"x\" = 1 }", "\"x\" is not a number of names"),
            ("{ \"0\" = 1 }", "between 1 and 100"),
            ("{ \"101\" = 1 }", "between 1 and 100"),
            ("{ \"2\" = 0 }", "every weight is 0"),
            ("[3, 1]", "needs min <= max"),
        ] {
            let msg = error(&format!("[chains.issue]\nnames_per_order = {table}\n"));
            assert!(
                msg.contains("`chains.issue.names_per_order`") && msg.contains(why),
                "{table}: {msg}"
            );
        }
    }

    #[test]
    fn certificate_key_types_by_weight() {
        let s = load(
            "[chains.issue]\ncert_key = { p256 = 1, rsa2048 = 1, p384 = 0 }\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            s.chains.issue.cert_key.weights(),
            [(KeyType::P256, 1), (KeyType::Rsa2048, 1)]
        );
        let s = load("", &[("WEC_CHAINS__ISSUE__CERT_KEY", "p384")]).unwrap();
        assert_eq!(s.chains.issue.cert_key.weights(), [(KeyType::P384, 1)]);
        let msg = error("[chains.issue]\ncert_key = \"p521\"\n");
        assert!(
            msg.contains("`chains.issue.cert_key`") && msg.contains("\"p521\" is not a key type"),
            "{msg}"
        );
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
