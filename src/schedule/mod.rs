//! The load schedule as pure functions of elapsed time: no clock, no actor. The Ramp asks
//! "how many attackers at `t`?" (closed model, [`Workers`]) or "how many chains are due by
//! `t`?" (open model, [`Rate`]).

pub mod rate;
pub mod shard;
pub mod start_at;
pub mod workers;

pub use rate::{Delta, Rate};
pub use shard::{Shard, ShardError};
pub use start_at::{Skipped, StartAt, StartAtError};
pub use workers::Workers;

use std::time::Duration;

/// What the Ramp applies.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// A number of attackers over time, each running chains back to back.
    Workers(Workers),
    /// Chain starts at scheduled instants, whatever the server's speed.
    Rate(Rate),
}

/// Why a schedule cannot run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    #[error("WORKERNUM must be at least 1: no attacker would run")]
    ZeroWorkers,
    #[error("INTERVAL must be longer than zero")]
    ZeroInterval,
    #[error("seq needs at least one WORKERNUM")]
    EmptySeq,
    #[error("WORKERINCREMENT must be at least 1")]
    ZeroIncrement,
    #[error("FINALWORKERS ({final_workers}) must be at least WORKERINCREMENT ({increment})")]
    FinalBelowIncrement {
        increment: usize,
        final_workers: usize,
    },
    #[error("CHAINS_PER_SEC {0} must be a number above 0 (or 0 with a growing --delta) and at most 1000000")]
    BadRate(f64),
    #[error("--max-in-flight must be at least 1")]
    ZeroInFlight,
}

impl Schedule {
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            Schedule::Workers(w) => w.validate(),
            Schedule::Rate(r) => r.validate(),
        }
    }

    /// The mode's name as on the command line.
    pub fn mode(&self) -> &'static str {
        match self {
            Schedule::Workers(Workers::Hammer { .. }) => "hammer",
            Schedule::Workers(Workers::Seq { .. }) => "seq",
            Schedule::Workers(Workers::Aseq { .. }) => "aseq",
            Schedule::Rate(_) => "rate",
        }
    }

    /// The schedule as it would be typed on the command line.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Workers(w) => w.describe(),
            Schedule::Rate(r) => r.describe(),
        }
    }

    /// When a run told to stop after the last step ends (`None`: it holds until stopped).
    pub fn last_step_ends(&self) -> Option<Duration> {
        match self {
            Schedule::Workers(w) => w.last_step_ends(),
            Schedule::Rate(_) => None,
        }
    }
}
