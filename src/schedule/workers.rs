//! The closed-model modes of the original interface: how many attackers to keep alive at
//! elapsed time `t`, and when that number next changes.

use std::time::Duration;

use super::ScheduleError;

/// How many attackers to keep alive over time (closed model: each attacker runs chains back to
/// back, so the load follows the server's speed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workers {
    /// A constant number of attackers.
    Hammer { workers: usize },
    /// `workers[i]` during the i-th `interval`; the last count holds afterwards.
    Seq {
        interval: Duration,
        workers: Vec<usize>,
    },
    /// `increment`, then `increment` more every `interval`, never above `final_workers`.
    Aseq {
        increment: usize,
        final_workers: usize,
        interval: Duration,
    },
}

impl Workers {
    /// Checks the invariants the functions below rely on.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            Workers::Hammer { workers: 0 } => Err(ScheduleError::ZeroWorkers),
            Workers::Hammer { .. } => Ok(()),
            Workers::Seq { interval, workers } => {
                if interval.is_zero() {
                    Err(ScheduleError::ZeroInterval)
                } else if workers.is_empty() {
                    Err(ScheduleError::EmptySeq)
                } else {
                    Ok(())
                }
            }
            Workers::Aseq {
                increment,
                final_workers,
                interval,
            } => {
                if interval.is_zero() {
                    Err(ScheduleError::ZeroInterval)
                } else if *increment == 0 {
                    Err(ScheduleError::ZeroIncrement)
                } else if final_workers < increment {
                    Err(ScheduleError::FinalBelowIncrement {
                        increment: *increment,
                        final_workers: *final_workers,
                    })
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Index of the step in force at `elapsed` (0 for `hammer`); stops growing at the last step.
    pub fn step_at(&self, elapsed: Duration) -> usize {
        match self {
            Workers::Hammer { .. } => 0,
            Workers::Seq { interval, workers } => {
                interval_index(elapsed, *interval).min(workers.len() - 1)
            }
            Workers::Aseq {
                increment,
                final_workers,
                interval,
            } => interval_index(elapsed, *interval).min(aseq_last_step(*increment, *final_workers)),
        }
    }

    /// Number of attackers the schedule asks for at `elapsed`.
    pub fn workers_at(&self, elapsed: Duration) -> usize {
        let step = self.step_at(elapsed);
        match self {
            Workers::Hammer { workers } => *workers,
            Workers::Seq { workers, .. } => workers[step],
            Workers::Aseq {
                increment,
                final_workers,
                ..
            } => (increment * (step + 1)).min(*final_workers),
        }
    }

    /// Elapsed time of the next step boundary strictly after `elapsed`, or `None` once the
    /// final count holds for good.
    pub fn next_change_after(&self, elapsed: Duration) -> Option<Duration> {
        let (interval, last_step) = match self {
            Workers::Hammer { .. } => return None,
            Workers::Seq { interval, workers } => (*interval, workers.len() - 1),
            Workers::Aseq {
                increment,
                final_workers,
                interval,
            } => (*interval, aseq_last_step(*increment, *final_workers)),
        };
        let next = interval_index(elapsed, interval) + 1;
        (next <= last_step).then(|| interval * next as u32)
    }

    /// Elapsed time at which the last step's interval ends, for runs configured to stop there
    /// (`None` for `hammer`, which has no steps).
    pub fn last_step_ends(&self) -> Option<Duration> {
        match self {
            Workers::Hammer { .. } => None,
            Workers::Seq { interval, workers } => Some(*interval * workers.len() as u32),
            Workers::Aseq {
                increment,
                final_workers,
                interval,
            } => Some(*interval * (aseq_last_step(*increment, *final_workers) as u32 + 1)),
        }
    }

    /// The largest attacker count the schedule ever asks for.
    pub fn peak(&self) -> usize {
        match self {
            Workers::Hammer { workers } => *workers,
            Workers::Seq { workers, .. } => workers.iter().copied().max().unwrap_or(0),
            Workers::Aseq { final_workers, .. } => *final_workers,
        }
    }

    /// The schedule as it would be typed on the command line.
    pub fn describe(&self) -> String {
        use crate::units::format_duration as fmt;
        match self {
            Workers::Hammer { workers } => format!("hammer {workers}"),
            Workers::Seq { interval, workers } => {
                let counts: Vec<String> = workers.iter().map(usize::to_string).collect();
                format!("seq {} {}", fmt(*interval), counts.join(" "))
            }
            Workers::Aseq {
                increment,
                final_workers,
                interval,
            } => format!("aseq {increment} {final_workers} {}", fmt(*interval)),
        }
    }
}

fn interval_index(elapsed: Duration, interval: Duration) -> usize {
    (elapsed.as_nanos() / interval.as_nanos()) as usize
}

/// Step at which `aseq` first reaches `final_workers` (clamped there).
fn aseq_last_step(increment: usize, final_workers: usize) -> usize {
    final_workers.div_ceil(increment) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: Duration = Duration::from_nanos(1);

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn hammer_is_constant() {
        let h = Workers::Hammer { workers: 7 };
        for t in [0, 1, 3600, 86400 * 365] {
            assert_eq!(h.workers_at(s(t)), 7);
            assert_eq!(h.next_change_after(s(t)), None);
        }
        assert_eq!(h.peak(), 7);
        assert_eq!(h.last_step_ends(), None);
    }

    #[test]
    fn seq_changes_exactly_at_each_boundary() {
        let seq = Workers::Seq {
            interval: s(10),
            workers: vec![1, 5, 3],
        };
        assert_eq!(seq.workers_at(Duration::ZERO), 1);
        assert_eq!(seq.workers_at(s(10) - EPS), 1);
        assert_eq!(seq.workers_at(s(10)), 5);
        assert_eq!(seq.workers_at(s(20) - EPS), 5);
        assert_eq!(seq.workers_at(s(20)), 3);
        assert_eq!(seq.workers_at(s(20) + EPS), 3);
        assert_eq!(seq.workers_at(s(10_000)), 3, "last count holds");
        assert_eq!(seq.step_at(s(10_000)), 2);
    }

    #[test]
    fn seq_next_change() {
        let seq = Workers::Seq {
            interval: Duration::from_millis(500),
            workers: vec![1, 2, 3],
        };
        assert_eq!(
            seq.next_change_after(Duration::ZERO),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            seq.next_change_after(Duration::from_millis(500) - EPS),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            seq.next_change_after(Duration::from_millis(500)),
            Some(s(1))
        );
        assert_eq!(seq.next_change_after(s(1) - EPS), Some(s(1)));
        assert_eq!(seq.next_change_after(s(1)), None);
        assert_eq!(seq.last_step_ends(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn aseq_grows_then_clamps() {
        let a = Workers::Aseq {
            increment: 4,
            final_workers: 10,
            interval: s(30),
        };
        assert_eq!(a.workers_at(Duration::ZERO), 4);
        assert_eq!(a.workers_at(s(30) - EPS), 4);
        assert_eq!(a.workers_at(s(30)), 8);
        assert_eq!(a.workers_at(s(60) - EPS), 8);
        assert_eq!(a.workers_at(s(60)), 10, "clamped, never 12");
        assert_eq!(a.workers_at(s(90)), 10);
        assert_eq!(a.workers_at(s(1_000_000)), 10);
        assert_eq!(a.next_change_after(Duration::ZERO), Some(s(30)));
        assert_eq!(a.next_change_after(s(30)), Some(s(60)));
        assert_eq!(a.next_change_after(s(60) - EPS), Some(s(60)));
        assert_eq!(a.next_change_after(s(60)), None);
        assert_eq!(a.last_step_ends(), Some(s(90)));
        assert_eq!(a.peak(), 10);
    }

    #[test]
    fn aseq_exact_multiple_reaches_target() {
        let a = Workers::Aseq {
            increment: 5,
            final_workers: 15,
            interval: s(1),
        };
        let counts: Vec<usize> = (0..5).map(|t| a.workers_at(s(t))).collect();
        assert_eq!(counts, [5, 10, 15, 15, 15]);
        assert_eq!(a.next_change_after(s(2)), None);
    }

    #[test]
    fn aseq_single_step_when_target_equals_increment() {
        let a = Workers::Aseq {
            increment: 3,
            final_workers: 3,
            interval: s(1),
        };
        assert_eq!(a.workers_at(Duration::ZERO), 3);
        assert_eq!(a.next_change_after(Duration::ZERO), None);
    }

    #[test]
    fn validation_names_the_problem() {
        let zero = Workers::Seq {
            interval: Duration::ZERO,
            workers: vec![1],
        };
        assert_eq!(zero.validate(), Err(ScheduleError::ZeroInterval));
        let empty = Workers::Seq {
            interval: s(1),
            workers: vec![],
        };
        assert_eq!(empty.validate(), Err(ScheduleError::EmptySeq));
        let below = Workers::Aseq {
            increment: 5,
            final_workers: 2,
            interval: s(1),
        };
        assert!(below
            .validate()
            .unwrap_err()
            .to_string()
            .contains("FINALWORKERS (2)"));
        let no_inc = Workers::Aseq {
            increment: 0,
            final_workers: 2,
            interval: s(1),
        };
        assert_eq!(no_inc.validate(), Err(ScheduleError::ZeroIncrement));
    }

    #[test]
    fn describe_reads_like_the_cli() {
        let seq = Workers::Seq {
            interval: Duration::from_millis(500),
            workers: vec![1, 2],
        };
        assert_eq!(seq.describe(), "seq 500ms 1 2");
        let a = Workers::Aseq {
            increment: 2,
            final_workers: 8,
            interval: s(30),
        };
        assert_eq!(a.describe(), "aseq 2 8 30s");
    }
}
