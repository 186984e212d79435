//! One shard of a schedule run on several machines at once: shard `i` of `N` takes an exact
//! part of the load, so the shards together run the single-machine schedule. Attacker counts
//! are split into ⌊W/N⌋ and ⌈W/N⌉ (the first `W mod N` shards take one more); open-model starts
//! are dealt in turn, shard `i` taking the global starts `k ≡ i (mod N)`, so the union of all
//! shards' start instants is the single-machine sequence itself, `--delta` ramps included.

use std::fmt;
use std::time::Duration;

use super::{Rate, Workers};

/// The most shards a schedule may be split into: beyond it a share is less than one chain a
/// minute at any sensible rate, and a typo (`--shard 1/30000`) is far likelier.
pub const MAX_SHARDS: u32 = 10_000;

/// This process's part of the run: `index` is 0-based (Kubernetes' `JOB_COMPLETION_INDEX`),
/// shown and typed 1-based (`--shard 2/3` is `index` 1 of `count` 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// Why a shard was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    #[error("{0:?} is not I/N (this shard's number from 1 to N, and N shards), e.g. 2/3")]
    Syntax(String),
    #[error("the shard count must be at least 1")]
    ZeroCount,
    #[error("{0} shards are more than the maximum of {MAX_SHARDS}")]
    TooMany(u32),
    #[error("shard {number} of {count} does not exist: shards are numbered 1 to {count}")]
    OutOfRange { number: u64, count: u32 },
}

impl Shard {
    /// The whole run, unsplit: every split below is the identity with it.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` (0-based) of `count`.
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError::ZeroCount);
        }
        if count > MAX_SHARDS {
            return Err(ShardError::TooMany(count));
        }
        if index >= count {
            return Err(ShardError::OutOfRange {
                number: u64::from(index) + 1,
                count,
            });
        }
        Ok(Shard { index, count })
    }

    /// `I/N` as typed: `I` from 1 to `N`.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_owned());
        let (number, count) = text.trim().split_once('/').ok_or_else(syntax)?;
        let number: u64 = number.trim().parse().map_err(|_| syntax())?;
        let count: u32 = count.trim().parse().map_err(|_| syntax())?;
        let whole = Shard::new(0, count)?;
        match u32::try_from(number) {
            Ok(number) if (1..=count).contains(&number) => Shard::new(number - 1, count),
            _ => Err(ShardError::OutOfRange {
                number,
                count: whole.count,
            }),
        }
    }

    /// The DNS label naming this shard (`s2` for 2/3), under which its names are ordered.
    pub fn label(&self) -> String {
        format!("s{}", self.index + 1)
    }

    /// This shard's part of `total` attackers: ⌈total/N⌉ for the first `total mod N` shards,
    /// ⌊total/N⌋ for the others, so the parts add up to `total` (0 when `total < N` for some).
    pub fn share(&self, total: usize) -> usize {
        let n = self.count as usize;
        total / n + usize::from((self.index as usize) < total % n)
    }

    /// Attackers this shard keeps at `elapsed`.
    pub fn workers_at(&self, workers: &Workers, elapsed: Duration) -> usize {
        self.share(workers.workers_at(elapsed))
    }

    /// The most attackers this shard ever keeps.
    pub fn peak(&self, workers: &Workers) -> usize {
        self.share(workers.peak())
    }

    /// The index in the single-machine sequence of this shard's start `k`.
    fn global(&self, k: u64) -> u64 {
        u64::from(self.index).saturating_add(k.saturating_mul(u64::from(self.count)))
    }

    /// When this shard's start `k` (k = 0, 1, 2…) is due: the single-machine schedule's start
    /// `index + k·N`.
    pub fn start_time(&self, rate: &Rate, k: u64) -> Duration {
        rate.start_time(self.global(k))
    }

    /// How many of this shard's starts are due at or before `elapsed`: the global starts due
    /// by then whose index is `≡ index (mod N)`.
    pub fn starts_by(&self, rate: &Rate, elapsed: Duration) -> u64 {
        let due = rate.starts_by(elapsed);
        let (index, count) = (u64::from(self.index), u64::from(self.count));
        (due + count - 1).saturating_sub(index) / count
    }

    /// The chains per second this shard starts at `elapsed`.
    pub fn rate_at(&self, rate: &Rate, elapsed: Duration) -> f64 {
        rate.rate_at(elapsed) / f64::from(self.count)
    }
}

/// `I/N`, 1-based, as typed.
impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Delta;

    fn all(count: u32) -> impl Iterator<Item = Shard> {
        (0..count).map(move |index| Shard::new(index, count).unwrap())
    }

    #[test]
    fn parsing_is_one_based_and_bounded() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 1, count: 3 }));
        assert_eq!(Shard::parse(" 1 / 1 "), Ok(Shard::WHOLE));
        assert_eq!(Shard::parse("2/3").unwrap().to_string(), "2/3");
        assert_eq!(Shard::parse("2/3").unwrap().label(), "s2");
        let err = |s: &str| Shard::parse(s).unwrap_err().to_string();
        assert_eq!(
            err("0/3"),
            "shard 0 of 3 does not exist: shards are numbered 1 to 3"
        );
        assert_eq!(
            err("4/3"),
            "shard 4 of 3 does not exist: shards are numbered 1 to 3"
        );
        assert_eq!(err("1/0"), "the shard count must be at least 1");
        assert_eq!(
            err("1/10001"),
            "10001 shards are more than the maximum of 10000"
        );
        for garbage in ["", "2", "two/3", "2/three", "-1/3", "2/3/4", "1/-3"] {
            assert!(
                err(garbage).contains("is not I/N"),
                "{garbage}: {}",
                err(garbage)
            );
        }
        assert!(Shard::parse("99999999999/3")
            .unwrap_err()
            .to_string()
            .contains("shard 99999999999 of 3 does not exist"));
        assert_eq!(
            Shard::new(3, 3),
            Err(ShardError::OutOfRange {
                number: 4,
                count: 3
            })
        );
    }

    /// Over many W and N (W < N included), the shards' parts are ⌊W/N⌋ or ⌈W/N⌉ and add up
    /// to W.
    #[test]
    fn shares_add_up_to_the_whole() {
        for count in 1..=13 {
            for total in 0..=100 {
                let parts: Vec<usize> = all(count).map(|s| s.share(total)).collect();
                assert_eq!(parts.iter().sum::<usize>(), total, "{total} over {count}");
                let (floor, ceil) = (total / count as usize, total.div_ceil(count as usize));
                assert!(parts.iter().all(|p| *p == floor || *p == ceil), "{parts:?}");
            }
        }
        assert_eq!(Shard::WHOLE.share(7), 7);
        assert_eq!(
            Shard::new(9_999, MAX_SHARDS).unwrap().share(usize::MAX),
            usize::MAX / 10_000
        );
    }

    /// `seq` and `aseq` split at every step: at every instant, the shards' attackers add up to
    /// the single-machine count.
    #[test]
    fn closed_model_steps_add_up_at_every_instant() {
        let schedules = [
            Workers::Hammer { workers: 2 },
            Workers::Seq {
                interval: Duration::from_secs(10),
                workers: vec![1, 7, 0, 30, 4],
            },
            Workers::Aseq {
                increment: 3,
                final_workers: 20,
                interval: Duration::from_secs(5),
            },
        ];
        for workers in &schedules {
            for count in 1..=8 {
                for t in (0..80).map(|s| Duration::from_millis(s * 997)) {
                    let sum: usize = all(count).map(|s| s.workers_at(workers, t)).sum();
                    assert_eq!(
                        sum,
                        workers.workers_at(t),
                        "{workers:?} over {count} at {t:?}"
                    );
                }
                let peaks: usize = all(count).map(|s| s.peak(workers)).sum();
                assert_eq!(peaks, workers.peak());
            }
        }
    }

    fn rates() -> Vec<Rate> {
        let rate = |per_sec: f64, delta: Option<&str>| Rate {
            per_sec,
            delta: delta.map(|d| Delta::parse(d).unwrap()),
            max_in_flight: 100,
        };
        vec![
            rate(30.0, None),
            rate(1.0, None),
            rate(0.3, None),
            rate(997.0, None),
            rate(10.0, Some("60/1m")),
            rate(0.0, Some("2/1s")),
        ]
    }

    /// The union of the shards' start instants is the single-machine sequence: every global
    /// start belongs to exactly one shard, at the same instant, and each shard's starts are in
    /// order.
    #[test]
    fn rate_starts_interleave_into_the_single_machine_schedule() {
        for rate in rates() {
            for count in [1, 2, 3, 4, 7, 10, 64] {
                let mut union: Vec<Duration> = Vec::new();
                for shard in all(count) {
                    let mine: Vec<Duration> =
                        (0..300).map(|k| shard.start_time(&rate, k)).collect();
                    assert!(
                        mine.windows(2).all(|w| w[0] <= w[1]),
                        "{shard} out of order"
                    );
                    union.extend(mine);
                }
                union.sort();
                let global: Vec<Duration> = (0..300 * u64::from(count))
                    .map(|k| rate.start_time(k))
                    .collect();
                assert_eq!(union, global, "{rate:?} over {count}");
            }
        }
    }

    /// At every instant, the shards' starts due add up to the single-machine count, each
    /// shard's is ⌊⌋ or ⌈⌉ of it, and agrees with its own start instants.
    #[test]
    fn rate_counts_add_up_at_every_instant() {
        for rate in rates() {
            for count in [1, 2, 3, 5, 16, 1000] {
                for t in (0..120).map(|ms| Duration::from_millis(ms * 83)) {
                    let global = rate.starts_by(t);
                    let parts: Vec<u64> = all(count).map(|s| s.starts_by(&rate, t)).collect();
                    assert_eq!(
                        parts.iter().sum::<u64>(),
                        global,
                        "{rate:?}/{count} at {t:?}"
                    );
                    let c = u64::from(count);
                    assert!(parts
                        .iter()
                        .all(|p| *p == global / c || *p == global.div_ceil(c)));
                    for (shard, due) in all(count).zip(&parts) {
                        assert!(shard.start_time(&rate, *due) > t);
                        if *due > 0 {
                            assert!(shard.start_time(&rate, due - 1) <= t);
                        }
                    }
                }
            }
        }
        let r = &rates()[0];
        let shares: Vec<f64> = all(3).map(|s| s.rate_at(r, Duration::ZERO)).collect();
        assert_eq!(shares, [10.0, 10.0, 10.0]);
    }
}
