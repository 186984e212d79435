//! Which shard this process is, and when its schedule starts: read once from the command line
//! and the environment (`--shard I/N` or `WEC_SHARD`; Kubernetes' `JOB_COMPLETION_INDEX` with
//! `--shard-count N` or `WEC_SHARD_COUNT`; `--start-at` or `WEC_START_AT`). A shard's names
//! and contacts carry its label (`config::Settings::name_for_shard`), so shards never order the
//! same name.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::schedule::{Shard, ShardError, Skipped, StartAt, StartAtError};

/// Environment variables read here rather than as config keys (the config layer skips them).
pub const SHARD_VAR: &str = "WEC_SHARD";
pub const SHARD_COUNT_VAR: &str = "WEC_SHARD_COUNT";
pub const START_AT_VAR: &str = "WEC_START_AT";
/// Set by Kubernetes in each pod of an Indexed Job: 0 to completions − 1.
pub const JOB_INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// This process's shard and start instant, as the command line and the environment say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sharding {
    pub shard: Option<Shard>,
    pub start_at: Option<StartAt>,
}

/// What was given: from the command line, or `None` to look in the environment.
#[derive(Debug, Default)]
pub struct Given<'a> {
    pub shard: Option<&'a str>,
    pub shard_count: Option<&'a str>,
    pub start_at: Option<&'a str>,
}

/// Why the shard or the start instant cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardingError {
    #[error("{source_name}: {error}")]
    Shard {
        source_name: &'static str,
        error: ShardError,
    },
    #[error("{source_name} {value:?} is not a whole number")]
    NotANumber {
        source_name: &'static str,
        value: String,
    },
    #[error("{shard_from} says {shard} but {count_from} says {count} shards")]
    Conflict {
        shard_from: &'static str,
        shard: Shard,
        count_from: &'static str,
        count: u32,
    },
    #[error("{count_from} needs this shard's number: --shard I/N, {SHARD_VAR} or {JOB_INDEX_VAR}")]
    CountWithoutIndex { count_from: &'static str },
    #[error(transparent)]
    StartAt(#[from] StartAtError),
}

impl Sharding {
    /// Resolves the shard and start instant from `given` and the environment `env` (the
    /// command line wins over its variable), checking the start against `now` and the run's
    /// `duration`.
    pub fn resolve(
        given: &Given<'_>,
        env: impl Fn(&str) -> Option<String>,
        now: SystemTime,
        duration: Option<Duration>,
    ) -> Result<Sharding, ShardingError> {
        let pick = |flag: Option<&str>, flag_name: &'static str, var: &'static str| match flag {
            Some(value) => Some((value.to_owned(), flag_name)),
            None => env(var).map(|value| (value, var)),
        };
        let shard = pick(given.shard, "--shard", SHARD_VAR)
            .map(|(text, source_name)| {
                Shard::parse(&text)
                    .map(|shard| (shard, source_name))
                    .map_err(|error| ShardingError::Shard { source_name, error })
            })
            .transpose()?;
        let count = pick(given.shard_count, "--shard-count", SHARD_COUNT_VAR)
            .map(|(text, source_name)| {
                text.trim()
                    .parse::<u32>()
                    .map(|count| (count, source_name))
                    .map_err(|_| ShardingError::NotANumber {
                        source_name,
                        value: text,
                    })
            })
            .transpose()?;
        let shard = match (shard, count) {
            (Some((shard, shard_from)), Some((count, count_from))) if shard.count != count => {
                return Err(ShardingError::Conflict {
                    shard_from,
                    shard,
                    count_from,
                    count,
                })
            }
            (Some((shard, _)), _) => Some(shard),
            (None, Some((count, count_from))) => {
                let index =
                    env(JOB_INDEX_VAR).ok_or(ShardingError::CountWithoutIndex { count_from })?;
                let index = index
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| ShardingError::NotANumber {
                        source_name: JOB_INDEX_VAR,
                        value: index,
                    })?;
                Some(
                    Shard::new(index, count).map_err(|error| ShardingError::Shard {
                        source_name: JOB_INDEX_VAR,
                        error,
                    })?,
                )
            }
            (None, None) => None,
        };
        let start_at = match given
            .start_at
            .map(str::to_owned)
            .or_else(|| env(START_AT_VAR))
        {
            Some(text) => {
                let at = StartAt::parse(&text)?;
                at.check(now, duration)?;
                Some(at)
            }
            None => None,
        };
        Ok(Sharding { shard, start_at })
    }
}

/// What the report and the summary say about the shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardReport {
    /// `I/N`, 1-based.
    pub shard: String,
    pub index: u32,
    pub count: u32,
    /// The `--start-at` instant, RFC 3339.
    pub start_at: Option<String>,
    /// What this shard missed by joining its schedule after `start_at`.
    pub skipped_starts: u64,
    pub skipped_steps: usize,
}

impl ShardReport {
    /// `None` for a run that is neither sharded nor started at a set instant.
    pub fn new(sharding: &Sharding, skipped: Skipped) -> Option<ShardReport> {
        if sharding.shard.is_none() && sharding.start_at.is_none() {
            return None;
        }
        let shard = sharding.shard.unwrap_or(Shard::WHOLE);
        Some(ShardReport {
            shard: shard.to_string(),
            index: shard.index,
            count: shard.count,
            start_at: sharding.start_at.map(|at| at.to_string()),
            skipped_starts: skipped.starts,
            skipped_steps: skipped.steps,
        })
    }

    /// One line for the summary.
    pub fn to_text(&self) -> String {
        let mut line = format!("shard {}", self.shard);
        if let Some(at) = &self.start_at {
            line += &format!(", schedule started at {at}");
        }
        if self.skipped_starts > 0 || self.skipped_steps > 0 {
            line += &format!(
                ", joined late: {} starts and {} steps skipped",
                self.skipped_starts, self.skipped_steps
            );
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve(given: Given<'_>, vars: &[(&str, &str)]) -> Result<Sharding, ShardingError> {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Sharding::resolve(&given, |k| env.get(k).cloned(), SystemTime::now(), None)
    }

    fn shard(given: Given<'_>, vars: &[(&str, &str)]) -> Option<Shard> {
        resolve(given, vars).unwrap().shard
    }

    #[test]
    fn the_command_line_wins_over_the_environment() {
        let s = |i, n| Some(Shard::new(i, n).unwrap());
        assert_eq!(shard(Given::default(), &[]), None);
        assert_eq!(shard(Given::default(), &[(SHARD_VAR, "2/3")]), s(1, 3));
        let flag = Given {
            shard: Some("3/3"),
            ..Given::default()
        };
        assert_eq!(shard(flag, &[(SHARD_VAR, "2/3")]), s(2, 3));
        // Kubernetes' 0-based index, with the count from the flag or the environment.
        let count = Given {
            shard_count: Some("4"),
            ..Given::default()
        };
        assert_eq!(shard(count, &[(JOB_INDEX_VAR, "0")]), s(0, 4));
        assert_eq!(
            shard(
                Given::default(),
                &[(JOB_INDEX_VAR, "2"), (SHARD_COUNT_VAR, "3")]
            ),
            s(2, 3)
        );
        // Without a count, an Indexed Job's index alone does not shard the run.
        assert_eq!(shard(Given::default(), &[(JOB_INDEX_VAR, "2")]), None);
        // An explicit shard wins over the index; an agreeing count is fine.
        assert_eq!(
            shard(
                Given::default(),
                &[
                    (SHARD_VAR, "1/3"),
                    (JOB_INDEX_VAR, "2"),
                    (SHARD_COUNT_VAR, "3")
                ]
            ),
            s(0, 3)
        );
    }

    #[test]
    fn refusals_say_where_the_value_came_from() {
        let err = |given, vars: &[(&str, &str)]| resolve(given, vars).unwrap_err().to_string();
        assert_eq!(
            err(Given::default(), &[(SHARD_VAR, "4/3")]),
            "WEC_SHARD: shard 4 of 3 does not exist: shards are numbered 1 to 3"
        );
        let flag = |shard| Given {
            shard: Some(shard),
            ..Given::default()
        };
        assert!(err(flag("x"), &[]).starts_with("--shard: \"x\" is not I/N"));
        assert_eq!(
            err(
                Given::default(),
                &[(JOB_INDEX_VAR, "3"), (SHARD_COUNT_VAR, "3")]
            ),
            "JOB_COMPLETION_INDEX: shard 4 of 3 does not exist: shards are numbered 1 to 3"
        );
        assert_eq!(
            err(
                Given::default(),
                &[(JOB_INDEX_VAR, "-1"), (SHARD_COUNT_VAR, "3")]
            ),
            "JOB_COMPLETION_INDEX \"-1\" is not a whole number"
        );
        assert_eq!(
            err(Given::default(), &[(SHARD_COUNT_VAR, "three")]),
            "WEC_SHARD_COUNT \"three\" is not a whole number"
        );
        assert_eq!(
            err(Given::default(), &[(SHARD_COUNT_VAR, "3")]),
            "WEC_SHARD_COUNT needs this shard's number: --shard I/N, WEC_SHARD or \
             JOB_COMPLETION_INDEX"
        );
        assert_eq!(
            err(
                Given {
                    shard: Some("1/2"),
                    shard_count: Some("3"),
                    ..Given::default()
                },
                &[]
            ),
            "--shard says 1/2 but --shard-count says 3 shards"
        );
        assert_eq!(
            err(
                Given::default(),
                &[(JOB_INDEX_VAR, "0"), (SHARD_COUNT_VAR, "0")]
            ),
            "JOB_COMPLETION_INDEX: the shard count must be at least 1"
        );
        assert!(err(Given::default(), &[(START_AT_VAR, "soon")])
            .starts_with("--start-at \"soon\" is not an RFC 3339 time"));
    }

    #[test]
    fn start_at_is_read_and_checked() {
        let ahead = |secs: u64| {
            let at = SystemTime::now() + Duration::from_secs(secs);
            time::OffsetDateTime::from(at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let soon = ahead(60);
        let given = Given {
            start_at: Some(&soon),
            ..Given::default()
        };
        assert!(resolve(given, &[]).unwrap().start_at.is_some());
        let far = ahead(3 * 24 * 3600);
        let err = resolve(Given::default(), &[(START_AT_VAR, &far)]).unwrap_err();
        assert!(matches!(
            err,
            ShardingError::StartAt(StartAtError::TooFarAhead { .. })
        ));
    }

    #[test]
    fn the_summary_line() {
        let sharding = Sharding {
            shard: Some(Shard::parse("2/3").unwrap()),
            start_at: Some(StartAt::parse("2030-01-02T15:04:05Z").unwrap()),
        };
        let skipped = Skipped {
            starts: 12,
            steps: 0,
        };
        assert_eq!(
            ShardReport::new(&sharding, skipped).unwrap().to_text(),
            "shard 2/3, schedule started at 2030-01-02T15:04:05Z, joined late: 12 starts and \
             0 steps skipped"
        );
        assert!(ShardReport::new(&Sharding::default(), Skipped::default()).is_none());
    }
}
