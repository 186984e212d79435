//! The `[schedule]` table: any mode of the command line, written in the config so a daemon
//! can be driven (and re-driven on reload) without arguments. A flat table rather than a
//! tagged enum, so a wrong value is reported with its own name (`workers`); it is turned into
//! a [`Schedule`] as the config loads.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::cli::DEFAULT_MAX_IN_FLIGHT;
use crate::schedule::rate::DeltaError;
use crate::schedule::{Delta, Rate, Schedule, ScheduleError, Workers};
use crate::units::deserialize_option_duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Hammer,
    Seq,
    Aseq,
    Rate,
}

/// `workers = 4` (hammer) or `workers = [1, 4, 16]` (seq).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Counts {
    One(usize),
    Many(Vec<usize>),
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Counts;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of attackers, or a list of them")
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Counts, E> {
                Ok(Counts::One(n as usize))
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Counts, E> {
                usize::try_from(n)
                    .map(Counts::One)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(n), &self))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Counts, A::Error> {
                let mut counts = Vec::new();
                while let Some(n) = seq.next_element::<usize>()? {
                    counts.push(n);
                }
                Ok(Counts::Many(counts))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleTable {
    pub mode: Mode,
    pub workers: Option<Counts>,
    #[serde(default, deserialize_with = "deserialize_option_duration")]
    pub interval: Option<Duration>,
    pub increment: Option<usize>,
    pub final_workers: Option<usize>,
    pub chains_per_sec: Option<f64>,
    /// `N/PERIOD`, as `--delta`.
    pub delta: Option<String>,
    pub max_in_flight: Option<usize>,
}

/// The `[schedule]` table as a [`Schedule`], checked; errors name the table's key at fault.
pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Schedule>, D::Error> {
    Option::<ScheduleTable>::deserialize(d)?
        .map(|table| table.to_schedule())
        .transpose()
        .map_err(serde::de::Error::custom)
}

/// What is wrong with the table, naming the key under `schedule` where one is at fault.
#[derive(Debug, thiserror::Error)]
enum TableError {
    #[error("{key}: required by mode = \"{mode}\"")]
    Missing {
        key: &'static str,
        mode: &'static str,
    },
    #[error("workers: hammer takes one number")]
    HammerTakesOne,
    #[error("delta: {0}")]
    Delta(#[from] DeltaError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

fn missing(key: &'static str, mode: &'static str) -> TableError {
    TableError::Missing { key, mode }
}

impl ScheduleTable {
    /// The schedule, or which key is wrong and why.
    fn to_schedule(&self) -> Result<Schedule, TableError> {
        let interval = |mode| self.interval.ok_or_else(|| missing("interval", mode));
        let schedule = match self.mode {
            Mode::Hammer => match &self.workers {
                Some(Counts::One(n)) => Schedule::Workers(Workers::Hammer { workers: *n }),
                Some(Counts::Many(_)) => return Err(TableError::HammerTakesOne),
                None => return Err(missing("workers", "hammer")),
            },
            Mode::Seq => {
                let workers = match &self.workers {
                    Some(Counts::Many(v)) => v.clone(),
                    Some(Counts::One(n)) => vec![*n],
                    None => return Err(missing("workers", "seq")),
                };
                Schedule::Workers(Workers::Seq {
                    interval: interval("seq")?,
                    workers,
                })
            }
            Mode::Aseq => Schedule::Workers(Workers::Aseq {
                increment: self.increment.ok_or_else(|| missing("increment", "aseq"))?,
                final_workers: self
                    .final_workers
                    .ok_or_else(|| missing("final_workers", "aseq"))?,
                interval: interval("aseq")?,
            }),
            Mode::Rate => Schedule::Rate(Rate {
                per_sec: self
                    .chains_per_sec
                    .ok_or_else(|| missing("chains_per_sec", "rate"))?,
                delta: self.delta.as_deref().map(Delta::parse).transpose()?,
                max_in_flight: self.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
            }),
        };
        schedule.validate()?;
        Ok(schedule)
    }
}
