//! The mix: which chain an attacker runs next, drawn by the weights of `[chains.weights]`,
//! less the chains the CA's directory cannot serve (ARI without `renewalInfo`…).

use rand::Rng;

use super::ChainKind;
use crate::acme::wire::Directory;
use crate::setting::pick_weighted;

/// Chains with a weight above zero that the directory serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    chains: Vec<(ChainKind, u32)>,
}

/// A weighted chain left out, and what it lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled {
    pub chain: ChainKind,
    pub weight: u32,
    pub missing: &'static str,
}

impl Mix {
    /// The mix of `weights` less the chains this run cannot serve (`database`: whether Boulder's
    /// database is configured).
    pub fn new(
        weights: &[(ChainKind, u32)],
        directory: &Directory,
        database: bool,
    ) -> (Mix, Vec<Disabled>) {
        let mut chains = Vec::new();
        let mut disabled = Vec::new();
        for &(chain, weight) in weights.iter().filter(|(_, w)| *w > 0) {
            match chain.missing_in(directory, database) {
                Some(missing) => disabled.push(Disabled {
                    chain,
                    weight,
                    missing,
                }),
                None => chains.push((chain, weight)),
            }
        }
        (Mix { chains }, disabled)
    }

    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }

    /// The chains and weights, for logs.
    pub fn describe(&self) -> String {
        self.chains
            .iter()
            .map(|(c, w)| format!("{} {w}", c.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The next chain; `None` when the mix is empty.
    pub fn pick(&self, rng: &mut impl Rng) -> Option<ChainKind> {
        pick_weighted(&self.chains, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    fn directory(with_ari: bool) -> Directory {
        let ari = if with_ari {
            r#","renewalInfo":"https://ca/ari""#
        } else {
            ""
        };
        serde_json::from_str(&format!(
            r#"{{"newNonce":"n","newAccount":"a","newOrder":"o","revokeCert":"r","keyChange":"k"{ari}}}"#
        ))
        .unwrap()
    }

    /// Draws `n` chains from `mix` with a fixed seed.
    fn counts(mix: &Mix, n: usize, seed: u64) -> BTreeMap<ChainKind, usize> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut counts = BTreeMap::new();
        for _ in 0..n {
            *counts.entry(mix.pick(&mut rng).unwrap()).or_default() += 1;
        }
        counts
    }

    /// Over 6000 picks each chain's count stays within 4.5 standard deviations of its
    /// expectation (binomial: sqrt(n p (1-p))); a pick that ignored the weights would be off by
    /// far more. Several seeds, so the bound is not tuned to one sequence.
    #[test]
    fn picks_follow_the_weights_within_statistical_tolerance() {
        let weights = [
            (ChainKind::Issue, 10),
            (ChainKind::Renew, 4),
            (ChainKind::Revoke, 3),
            (ChainKind::Poll, 2),
            (ChainKind::KeyRollover, 1),
            (ChainKind::NewAccount, 0),
        ];
        let (mix, disabled) = Mix::new(&weights, &directory(false), false);
        assert!(disabled.is_empty());
        let total: u32 = weights.iter().map(|(_, w)| w).sum();
        let n = 6000;
        for seed in [1, 2, 3, 42] {
            let counts = counts(&mix, n, seed);
            assert!(
                !counts.contains_key(&ChainKind::NewAccount),
                "weight 0 never runs"
            );
            for (chain, weight) in weights.iter().filter(|(_, w)| *w > 0) {
                let p = f64::from(*weight) / f64::from(total);
                let expected = n as f64 * p;
                let sigma = (n as f64 * p * (1.0 - p)).sqrt();
                let got = counts[chain] as f64;
                assert!(
                    (got - expected).abs() <= 4.5 * sigma,
                    "seed {seed}: {} ran {got} times, expected {expected:.0} ± {:.0}",
                    chain.name(),
                    4.5 * sigma
                );
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let (mix, _) = Mix::new(
            &[(ChainKind::Issue, 1), (ChainKind::Revoke, 1)],
            &directory(true),
            false,
        );
        assert_eq!(counts(&mix, 500, 9), counts(&mix, 500, 9));
    }

    #[test]
    fn ari_is_left_out_where_the_directory_lacks_renewal_info() {
        let weights = [(ChainKind::Issue, 3), (ChainKind::Ari, 2)];
        let (mix, disabled) = Mix::new(&weights, &directory(false), false);
        assert_eq!(
            disabled,
            [Disabled {
                chain: ChainKind::Ari,
                weight: 2,
                missing: "the directory's renewalInfo (RFC 9773 ARI)"
            }]
        );
        assert_eq!(
            counts(&mix, 300, 5).keys().collect::<Vec<_>>(),
            [&ChainKind::Issue]
        );
        assert_eq!(mix.describe(), "issue 3");

        let (mix, disabled) = Mix::new(&weights, &directory(true), false);
        assert!(disabled.is_empty());
        assert_eq!(counts(&mix, 300, 5).len(), 2);

        let (only_ari, _) = Mix::new(&[(ChainKind::Ari, 1)], &directory(false), false);
        assert!(only_ari.is_empty());
        assert_eq!(only_ari.pick(&mut StdRng::seed_from_u64(1)), None);
    }
}
