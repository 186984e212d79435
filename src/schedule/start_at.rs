//! `--start-at`: the wall-clock instant at which every shard starts its schedule, so shards
//! started one by one (a Kubernetes Job's pods, a compose file's services) run one schedule.
//! A shard ready before it waits; one ready after it joins the schedule where it stands and
//! counts what it missed. Pure functions of the instants they are given: no clock here.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{Schedule, Shard};

/// How far ahead a start may be set: a shard waiting longer is far likelier a wrong date
/// (a year, a time zone) than a plan.
pub const MAX_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// The instant every shard's schedule starts at (its t = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartAt(SystemTime);

/// Why a start instant was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartAtError {
    #[error("--start-at {input:?} is not an RFC 3339 time such as 2030-01-02T15:04:05Z: {reason}")]
    Syntax { input: String, reason: String },
    #[error("--start-at {at} is {ahead_s} s ahead, more than the 24 h allowed: is the date or the time zone right?")]
    TooFarAhead { at: StartAt, ahead_s: u64 },
    #[error(
        "--start-at {at} was {ago_s} s ago: a run of {duration_s} s starting then is already over"
    )]
    Over {
        at: StartAt,
        ago_s: u64,
        duration_s: u64,
    },
    #[error("--start-at {at} was {ago_s} s ago, more than the 24 h allowed for a run without --duration")]
    TooLongAgo { at: StartAt, ago_s: u64 },
}

/// Where this process stands relative to the start instant when it is ready to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// Ready this long before the start: wait.
    Early(Duration),
    /// Ready this long after the start (or exactly at it): join the schedule there.
    Late(Duration),
}

/// What a shard that joins its schedule late never runs: the `rate` starts due before it
/// joined, and the `seq`/`aseq` steps that were over by then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub starts: u64,
    pub steps: usize,
}

impl StartAt {
    pub fn parse(input: &str) -> Result<StartAt, StartAtError> {
        let at =
            OffsetDateTime::parse(input.trim(), &Rfc3339).map_err(|e| StartAtError::Syntax {
                input: input.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(StartAt(at.into()))
    }

    pub fn instant(&self) -> SystemTime {
        self.0
    }

    /// Where `now` stands relative to the start.
    pub fn offset(&self, now: SystemTime) -> Offset {
        match self.0.duration_since(now) {
            Ok(ahead) if !ahead.is_zero() => Offset::Early(ahead),
            Ok(_) => Offset::Late(Duration::ZERO),
            Err(behind) => Offset::Late(behind.duration()),
        }
    }

    /// Refuses a start more than [`MAX_AHEAD`] ahead of `now`, one so long ago that a run of
    /// `duration` from it is over, or (without a duration) more than [`MAX_AHEAD`] ago.
    pub fn check(&self, now: SystemTime, duration: Option<Duration>) -> Result<(), StartAtError> {
        let secs = |d: Duration| d.as_secs();
        match (self.offset(now), duration) {
            (Offset::Early(ahead), _) if ahead > MAX_AHEAD => Err(StartAtError::TooFarAhead {
                at: *self,
                ahead_s: secs(ahead),
            }),
            (Offset::Late(ago), Some(duration)) if ago >= duration => Err(StartAtError::Over {
                at: *self,
                ago_s: secs(ago),
                duration_s: secs(duration),
            }),
            (Offset::Late(ago), None) if ago > MAX_AHEAD => Err(StartAtError::TooLongAgo {
                at: *self,
                ago_s: secs(ago),
            }),
            _ => Ok(()),
        }
    }
}

/// RFC 3339 in UTC, as typed.
impl fmt::Display for StartAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = OffsetDateTime::from(self.0);
        match at.format(&Rfc3339) {
            Ok(text) => f.write_str(&text),
            Err(_) => write!(f, "{at}"),
        }
    }
}

/// What `shard` misses of `schedule` when it joins it `late` after t = 0: the starts due
/// before then (the Ramp dispatches from the next one on), and the steps over by then (it puts
/// the step in force at once). Joining exactly at t = 0 misses nothing.
pub fn skipped(schedule: &Schedule, shard: Shard, late: Duration) -> Skipped {
    match schedule {
        Schedule::Rate(rate) => Skipped {
            starts: match late.checked_sub(Duration::from_nanos(1)) {
                Some(before) => shard.starts_by(rate, before),
                None => 0,
            },
            steps: 0,
        },
        Schedule::Workers(workers) => Skipped {
            starts: 0,
            steps: workers.step_at(late),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Rate, Workers};

    fn at(text: &str) -> StartAt {
        StartAt::parse(text).unwrap()
    }

    #[test]
    fn parses_rfc3339_with_any_offset() {
        let utc = at("2030-01-02T15:04:05Z");
        assert_eq!(at("2030-01-02T16:04:05+01:00"), utc);
        assert_eq!(utc.to_string(), "2030-01-02T15:04:05Z");
        assert_eq!(
            at("2030-01-02T15:04:05.250Z").instant() - Duration::from_millis(250),
            utc.instant()
        );
        for bad in [
            "tomorrow",
            "2030-01-02",
            "2030-01-02 15:04:05",
            "1735689600",
        ] {
            let err = StartAt::parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("--start-at {bad:?} is not an RFC 3339")),
                "{err}"
            );
        }
    }

    #[test]
    fn offsets_and_bounds() {
        let start = at("2030-01-02T15:04:05Z");
        let s = Duration::from_secs;
        let now = |secs: i64| match secs {
            0.. => start.instant() + s(secs as u64),
            _ => start.instant() - s(secs.unsigned_abs()),
        };
        assert_eq!(start.offset(now(-3)), Offset::Early(s(3)));
        assert_eq!(start.offset(now(0)), Offset::Late(Duration::ZERO));
        assert_eq!(start.offset(now(7)), Offset::Late(s(7)));

        assert_eq!(start.check(now(-86_400), None), Ok(()));
        let ahead = start.check(now(-86_401), None).unwrap_err().to_string();
        assert!(
            ahead.contains("is 86401 s ahead, more than the 24 h allowed"),
            "{ahead}"
        );
        assert_eq!(start.check(now(59), Some(s(60))), Ok(()));
        let over = start.check(now(60), Some(s(60))).unwrap_err().to_string();
        assert_eq!(
            over,
            "--start-at 2030-01-02T15:04:05Z was 60 s ago: a run of 60 s starting then is \
             already over"
        );
        assert_eq!(start.check(now(86_400), None), Ok(()));
        assert!(matches!(
            start.check(now(86_401), None),
            Err(StartAtError::TooLongAgo { ago_s: 86_401, .. })
        ));
    }

    #[test]
    fn a_late_shard_skips_what_was_due() {
        let rate = Schedule::Rate(Rate {
            per_sec: 30.0,
            delta: None,
            max_in_flight: 10,
        });
        let shard = |i| Shard::new(i, 3).unwrap();
        // 1.51 s late: global starts 0..=45 were due (46), dealt 16, 15, 15.
        let late = Duration::from_millis(1510);
        let missed: Vec<u64> = (0..3)
            .map(|i| skipped(&rate, shard(i), late).starts)
            .collect();
        assert_eq!(missed, [16, 15, 15]);
        assert_eq!(skipped(&rate, Shard::WHOLE, late).starts, 46);
        assert_eq!(skipped(&rate, shard(0), Duration::ZERO), Skipped::default());
        // Start 45 is due at exactly 1.5 s: a shard joining then still runs it.
        assert_eq!(
            skipped(&rate, Shard::WHOLE, Duration::from_millis(1500)).starts,
            45
        );

        let seq = Schedule::Workers(Workers::Seq {
            interval: Duration::from_secs(10),
            workers: vec![3, 6, 9],
        });
        assert_eq!(skipped(&seq, shard(0), Duration::from_secs(25)).steps, 2);
        assert_eq!(
            skipped(&seq, shard(0), Duration::from_secs(5)),
            Skipped::default()
        );
        assert_eq!(skipped(&seq, shard(0), Duration::from_secs(500)).steps, 2);
    }
}
