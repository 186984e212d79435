//! Which challenge answers an authorization: among the challenges the CA offers, one of the
//! types the config enables, at random by weight. A CA offers only dns-01 for a wildcard
//! (RFC 8555 §7.1.3), so `random` then always lands on dns-01.

use rand::Rng;

use crate::acme::wire::{Authorization, Challenge, ChallengeType};
use crate::setting::pick_weighted;

/// Picks a challenge of `authz` by `weights` (types with weight 0 are left out); `None` when
/// the authorization offers none of the weighted types.
pub fn pick<'a>(
    weights: &[(ChallengeType, u32)],
    authz: &'a Authorization,
    rng: &mut impl Rng,
) -> Option<(ChallengeType, &'a Challenge)> {
    let offered: Vec<(ChallengeType, u32)> = weights
        .iter()
        .copied()
        .filter(|&(kind, _)| authz.challenge(kind).is_some())
        .collect();
    let kind = pick_weighted(&offered, rng)?;
    Some((kind, authz.challenge(kind)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn authz(types: &[&str]) -> Authorization {
        let challenges: Vec<String> = types
            .iter()
            .map(|t| format!(r#"{{"type":"{t}","url":"u-{t}","status":"pending","token":"t"}}"#))
            .collect();
        serde_json::from_str(&format!(
            r#"{{"status":"pending","identifier":{{"type":"dns","value":"a.test"}},"challenges":[{}]}}"#,
            challenges.join(",")
        ))
        .unwrap()
    }

    fn counts(weights: &[(ChallengeType, u32)], authz: &Authorization, n: usize) -> [usize; 3] {
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = [0; 3];
        for _ in 0..n {
            let (kind, challenge) = pick(weights, authz, &mut rng).unwrap();
            assert_eq!(challenge.kind, kind.name());
            counts[ChallengeType::ALL.iter().position(|t| *t == kind).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn picks_by_weight_among_offered_types() {
        let all = authz(&["http-01", "dns-01", "tls-alpn-01"]);
        let weights = [
            (ChallengeType::Http01, 1),
            (ChallengeType::TlsAlpn01, 1),
            (ChallengeType::Dns01, 2),
        ];
        let [http, tls, dns] = counts(&weights, &all, 8000);
        assert!((1800..2200).contains(&http), "{http}");
        assert!((1800..2200).contains(&tls), "{tls}");
        assert!((3800..4200).contains(&dns), "{dns}");

        let no_tls = [(ChallengeType::Http01, 1), (ChallengeType::TlsAlpn01, 0)];
        assert_eq!(counts(&no_tls, &all, 500), [500, 0, 0]);
    }

    #[test]
    fn a_wildcard_authorization_leaves_only_dns01() {
        let wildcard = authz(&["dns-01"]);
        let weights = [
            (ChallengeType::Http01, 5),
            (ChallengeType::TlsAlpn01, 5),
            (ChallengeType::Dns01, 1),
        ];
        assert_eq!(counts(&weights, &wildcard, 200), [0, 0, 200]);
    }

    #[test]
    fn nothing_when_no_weighted_type_is_offered() {
        let mut rng = StdRng::seed_from_u64(1);
        let http_only = authz(&["http-01"]);
        assert!(pick(&[(ChallengeType::Dns01, 1)], &http_only, &mut rng).is_none());
        assert!(pick(&[(ChallengeType::Http01, 0)], &http_only, &mut rng).is_none());
        assert!(pick(&[], &http_only, &mut rng).is_none());
    }
}
