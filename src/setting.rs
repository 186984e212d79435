//! What every subsystem's settings share, so each can own and check its own table without
//! naming `config` (which composes them): the refusal of a key, serde adapters for values read
//! with `FromStr`, and the weighted draw behind every weight table.

use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Deserializer};

/// A refusal of a table's `validate`: the key, and why (the file is added by
/// `config::Settings::load`).
#[derive(Debug, thiserror::Error)]
#[error("key `{key}`: {reason}")]
pub struct Invalid {
    pub key: &'static str,
    pub reason: String,
}

impl Invalid {
    pub fn new(key: &'static str, reason: impl std::fmt::Display) -> Invalid {
        Invalid {
            key,
            reason: reason.to_string(),
        }
    }
}

/// serde adapter for a value read from a string by `FromStr`, the string quoted in the error
/// (for values that are not secrets: addresses).
pub fn deserialize_parsed<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
}

/// As [`deserialize_parsed`], for a list.
pub fn deserialize_parsed_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|item| {
            item.parse()
                .map_err(|e| serde::de::Error::custom(format!("{item:?}: {e}")))
        })
        .collect()
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
