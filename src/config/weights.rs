//! The weight tables of `[chains]`: the mix (`[chains.weights]`), and in `[chains.issue]` the
//! names per order, the certificate key types and the profiles. Each is parsed into typed
//! weights as the file is read, so a bad name or count is refused there, naming its key, and
//! the chains draw from the weights without parsing anything again.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;
use serde::Deserialize;

use crate::acme::KeyType;
use crate::chain_kind::ChainKind;
use crate::setting::pick_weighted;

/// Most names an order may ask for here (Let's Encrypt allows 100).
const MAX_NAMES: usize = 100;

/// Profiles named in the config at most: each gets its own metrics.
const MAX_PROFILES: usize = 32;

/// The tables as written, before they are parsed (named as the parsed types, which serde's
/// error for a value of neither shape shows).
mod written {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    /// A number, `[min, max]` (uniform), or weights by count as a table
    /// (`{ "1" = 80, "3" = 15, "10" = 5 }`).
    #[derive(Deserialize)]
    #[serde(untagged)]
    pub enum NamesPerOrder {
        Exactly(usize),
        Between(usize, usize),
        Weighted(BTreeMap<String, u32>),
    }

    /// One type, or weights by type (`{ p256 = 3, rsa2048 = 1 }`).
    #[derive(Deserialize)]
    #[serde(untagged)]
    pub enum CertKeys {
        One(String),
        Weighted(BTreeMap<String, u32>),
    }
}

/// Why a weight table cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WeightsError {
    #[error("every weight is 0")]
    AllZero,
    #[error("{name:?} is not a chain: {known}")]
    NotAChain { name: String, known: String },
    #[error("every weight is 0: give at least one chain a weight")]
    NoChain,
    #[error("needs min <= max, got [{0}, {1}]")]
    MinAboveMax(usize, usize),
    #[error("{0:?} is not a number of names")]
    NotACount(String),
    #[error("counts must be between 1 and {MAX_NAMES}, got {0}..{1}")]
    CountRange(usize, usize),
    #[error("{0:?} is not a key type: p256, p384 or rsa2048")]
    NotAKeyType(String),
    #[error("more than {MAX_PROFILES} profiles")]
    TooManyProfiles,
    #[error("{0:?} is not a profile name (letters, digits, - and _)")]
    NotAProfileName(String),
}

/// The mix: each chain's weight (`[chains.weights]`); without the table, `issue` alone runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BTreeMap<String, u32>")]
pub struct ChainWeights(Vec<(ChainKind, u32)>);

impl Default for ChainWeights {
    fn default() -> Self {
        ChainWeights(vec![(ChainKind::Issue, 1)])
    }
}

impl TryFrom<BTreeMap<String, u32>> for ChainWeights {
    type Error = WeightsError;

    fn try_from(table: BTreeMap<String, u32>) -> Result<Self, WeightsError> {
        let weights = table
            .into_iter()
            .map(|(name, weight)| match ChainKind::from_name(&name) {
                Some(kind) => Ok((kind, weight)),
                None => {
                    let known: Vec<&str> = ChainKind::ALL.iter().map(|k| k.name()).collect();
                    Err(WeightsError::NotAChain {
                        name,
                        known: known.join(", "),
                    })
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if weights.iter().all(|(_, w)| *w == 0) {
            return Err(WeightsError::NoChain);
        }
        Ok(ChainWeights(weights))
    }
}

impl ChainWeights {
    pub fn get(&self) -> &[(ChainKind, u32)] {
        &self.0
    }
}

/// Number of names in an order (a number, `[min, max]` or weights by count, as written): the
/// counts drawn and their weights (each above 0).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "written::NamesPerOrder")]
pub struct NamesPerOrder(Vec<(usize, u32)>);

impl Default for NamesPerOrder {
    fn default() -> Self {
        NamesPerOrder(vec![(1, 1)])
    }
}

impl TryFrom<written::NamesPerOrder> for NamesPerOrder {
    type Error = WeightsError;

    fn try_from(table: written::NamesPerOrder) -> Result<Self, WeightsError> {
        use written::NamesPerOrder as Written;
        let in_range = |min: usize, max: usize| match min == 0 || max > MAX_NAMES {
            true => Err(WeightsError::CountRange(min, max)),
            false => Ok(()),
        };
        let weights: Vec<(usize, u32)> = match table {
            Written::Exactly(n) => vec![(n, 1)],
            Written::Between(min, max) if min > max => {
                return Err(WeightsError::MinAboveMax(min, max))
            }
            // Checked before the range is spelled out, so a huge `max` costs nothing.
            Written::Between(min, max) => {
                in_range(min, max)?;
                (min..=max).map(|n| (n, 1)).collect()
            }
            Written::Weighted(table) => table
                .into_iter()
                .map(|(count, w)| match count.parse() {
                    Ok(n) => Ok((n, w)),
                    Err(_) => Err(WeightsError::NotACount(count)),
                })
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|(_, w)| *w > 0)
                .collect(),
        };
        let counts = weights.iter().map(|(n, _)| *n);
        let (Some(min), Some(max)) = (counts.clone().min(), counts.max()) else {
            return Err(WeightsError::AllZero);
        };
        in_range(min, max)?;
        Ok(NamesPerOrder(weights))
    }
}

impl NamesPerOrder {
    /// The counts and their weights.
    pub fn weights(&self) -> &[(usize, u32)] {
        &self.0
    }

    /// A number of names, drawn by the weights.
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        pick_weighted(&self.0, rng).unwrap_or(1)
    }
}

/// The certificate key types (one, or weights by type, as written) and their weights (each
/// above 0).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "written::CertKeys")]
pub struct CertKeys(Vec<(KeyType, u32)>);

impl Default for CertKeys {
    fn default() -> Self {
        CertKeys(vec![(KeyType::P256, 1)])
    }
}

impl TryFrom<written::CertKeys> for CertKeys {
    type Error = WeightsError;

    fn try_from(table: written::CertKeys) -> Result<Self, WeightsError> {
        let named = match table {
            written::CertKeys::One(name) => vec![(name, 1)],
            written::CertKeys::Weighted(table) => table.into_iter().collect(),
        };
        let weights: Vec<(KeyType, u32)> = named
            .into_iter()
            .map(|(name, w)| Ok((key_type(name)?, w)))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|(_, w)| *w > 0)
            .collect();
        if weights.is_empty() {
            return Err(WeightsError::AllZero);
        }
        Ok(CertKeys(weights))
    }
}

impl CertKeys {
    /// The types in use and their weights.
    pub fn weights(&self) -> &[(KeyType, u32)] {
        &self.0
    }

    /// A key type, drawn by the weights.
    pub fn sample(&self, rng: &mut impl Rng) -> KeyType {
        pick_weighted(&self.0, rng).unwrap_or(KeyType::P256)
    }
}

fn key_type(name: String) -> Result<KeyType, WeightsError> {
    KeyType::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .ok_or(WeightsError::NotAKeyType(name))
}

/// Certificate profiles by weight; the names must be among those the CA's directory offers
/// (checked when the directory is read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BTreeMap<String, u32>")]
pub struct Profiles(Vec<(Arc<str>, u32)>);

impl TryFrom<BTreeMap<String, u32>> for Profiles {
    type Error = WeightsError;

    fn try_from(table: BTreeMap<String, u32>) -> Result<Self, WeightsError> {
        if table.len() > MAX_PROFILES {
            return Err(WeightsError::TooManyProfiles);
        }
        // The name becomes part of StatsD names and report keys: a plain token.
        let token = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if let Some(bad) = table
            .keys()
            .find(|n| n.is_empty() || n.len() > 64 || !n.bytes().all(token))
        {
            return Err(WeightsError::NotAProfileName(bad.clone()));
        }
        if !table.is_empty() && table.values().all(|w| *w == 0) {
            return Err(WeightsError::AllZero);
        }
        Ok(Profiles(
            table
                .into_iter()
                .filter(|(_, w)| *w > 0)
                .map(|(n, w)| (Arc::from(n), w))
                .collect(),
        ))
    }
}

/// Profiles the config asks for that the CA's directory does not offer.
#[derive(Debug, thiserror::Error)]
#[error(
    "chains.issue.profiles names {missing}, which the CA's directory does not offer (it offers: \
     {offers})"
)]
pub struct ProfilesNotOffered {
    missing: String,
    /// A few of the names the CA offers, made printable.
    offers: String,
}

impl Profiles {
    /// A profile drawn by weight; `None` when none is configured.
    pub fn sample(&self, rng: &mut impl Rng) -> Option<Arc<str>> {
        let names: Vec<(&Arc<str>, u32)> = self.0.iter().map(|(n, w)| (n, *w)).collect();
        pick_weighted(&names, rng).cloned()
    }

    /// The configured names the CA does not offer (`offered`: its directory's
    /// `meta.profiles`), as an error naming both.
    pub fn check_offered(
        &self,
        offered: &BTreeMap<String, String>,
    ) -> Result<(), ProfilesNotOffered> {
        let missing: Vec<&str> = self
            .0
            .iter()
            .map(|(n, _)| &**n)
            .filter(|n| !offered.contains_key(*n))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        // The names come from the CA: a few, printable, short, before they reach a terminal.
        const SHOWN: usize = 10;
        let mut offers: Vec<String> = offered
            .keys()
            .take(SHOWN)
            .map(|name| {
                name.chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(64)
                    .collect()
            })
            .collect();
        if offered.len() > SHOWN {
            offers.push(format!("and {} more", offered.len() - SHOWN));
        }
        Err(ProfilesNotOffered {
            missing: missing.join(", "),
            offers: match offers.is_empty() {
                true => "none".to_owned(),
                false => offers.join(", "),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::load;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn error(toml: &str) -> String {
        load(toml, &[]).unwrap_err().to_string()
    }

    #[test]
    fn profiles_are_drawn_by_weight_and_checked_against_the_directory() {
        let s = load(
            "[chains.issue]\nprofiles = { shortlived = 3, legacy = 1, modern = 0 }\n",
            &[],
        )
        .unwrap();
        let profiles = &s.chains.issue.profiles;
        let mut rng = StdRng::seed_from_u64(7);
        let drawn: Vec<String> = (0..400)
            .map(|_| profiles.sample(&mut rng).unwrap().to_string())
            .collect();
        let short = drawn.iter().filter(|p| *p == "shortlived").count();
        assert!((250..350).contains(&short), "{short}");
        assert!(
            !drawn.iter().any(|p| p == "modern"),
            "weight 0 is never drawn"
        );
        assert!(load("", &[])
            .unwrap()
            .chains
            .issue
            .profiles
            .sample(&mut rng)
            .is_none());

        let offered: BTreeMap<String, String> = [("legacy", ""), ("shortlived", "")]
            .into_iter()
            .map(|(n, d)| (n.to_owned(), d.to_owned()))
            .collect();
        assert!(profiles.check_offered(&offered).is_ok());
        let hostile: BTreeMap<String, String> = (0..50)
            .map(|i| (format!("p{i:02}\x1b[31m{}", "x".repeat(200)), String::new()))
            .collect();
        let err = profiles.check_offered(&hostile).unwrap_err().to_string();
        assert!(
            err.starts_with("chains.issue.profiles names legacy, shortlived"),
            "{err}"
        );
        assert!(
            err.contains("and 40 more") && !err.contains('\x1b'),
            "{err}"
        );
        assert!(err.len() < 1_000, "{}", err.len());
        let none = profiles.check_offered(&BTreeMap::new()).unwrap_err();
        assert!(none.to_string().ends_with("(it offers: none)"), "{none}");
        for (bad, why) in [
            ("{ \"a.b\" = 1 }", "\"a.b\" is not a profile name"),
            ("{ \"\" = 1 }", "\"\" is not a profile name"),
            ("{ a = 0 }", "every weight is 0"),
        ] {
            let e = error(&format!("[chains.issue]\nprofiles = {bad}\n"));
            assert!(
                e.contains("key `chains.issue.profiles`: ") && e.contains(why),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn names_per_order_by_weight() {
        let s = load(
            "[chains.issue]\nnames_per_order = { \"1\" = 3, \"4\" = 1, \"9\" = 0 }\n",
            &[],
        )
        .unwrap();
        assert_eq!(s.chains.issue.names_per_order.weights(), [(1, 3), (4, 1)]);
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
            ("{ \"0\" = 1 }", "between 1 and 100, got 0..0"),
            ("{ \"101\" = 1 }", "between 1 and 100, got 101..101"),
            ("{ \"2\" = 0 }", "every weight is 0"),
            ("[3, 1]", "needs min <= max, got [3, 1]"),
            (
                "[1, 100000000000]",
                "between 1 and 100, got 1..100000000000",
            ),
            ("0", "between 1 and 100, got 0..0"),
            (
                "\"x\"",
                "data did not match any variant of untagged enum NamesPerOrder",
            ),
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
        for (toml, why) in [
            (
                "\"p521\"",
                "\"p521\" is not a key type: p256, p384 or rsa2048",
            ),
            ("{ p521 = 0, p256 = 1 }", "\"p521\" is not a key type"),
            ("{ p256 = 0 }", "every weight is 0"),
        ] {
            let msg = error(&format!("[chains.issue]\ncert_key = {toml}\n"));
            assert!(
                msg.contains("`chains.issue.cert_key`") && msg.contains(why),
                "{toml}: {msg}"
            );
        }
    }
}
