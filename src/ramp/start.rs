//! How the Ramp runs a shard's part of the schedule and starts it at `--start-at`: waiting
//! for the instant, or joining the schedule where it stands and counting what it skipped.

use std::time::Duration;

use actix_rt::time::Instant;

use actix::prelude::*;

use super::Ramp;
use crate::schedule::{start_at, Shard};

impl Ramp {
    /// Runs only `shard`'s part of the schedule, and (with `begin`) starts it at that instant
    /// rather than at once: waiting for it, or joining the schedule where it then stands.
    pub fn sharded(mut self, shard: Option<Shard>, begin: Option<Instant>) -> Self {
        self.shard = shard;
        self.begin = begin;
        self
    }

    /// The part of the schedule this process runs.
    pub(super) fn part(&self) -> Shard {
        self.shard.unwrap_or(Shard::WHOLE)
    }

    /// The first start of the schedule when `--start-at` set its t = 0 (`begin`): ahead, the
    /// schedule starts then; behind, it starts at once where it stands, the starts due before
    /// and the steps over counted as skipped.
    pub(super) fn first_start(&mut self, ctx: &mut Context<Self>, begin: Instant) {
        let now = Instant::now();
        if begin > now {
            log::info!(
                "waiting {:.1}s for the schedule's start (--start-at)",
                (begin - now).as_secs_f64()
            );
            self.epoch = begin;
            let generation = self.generation;
            self.timer = Some(ctx.run_later(begin - now, move |ramp, ctx| {
                if ramp.generation == generation {
                    ramp.begin_schedule(ctx, begin, 0);
                }
            }));
            return;
        }
        let late = now - begin;
        self.skipped = start_at::skipped(&self.schedule, self.part(), late);
        if late > Duration::ZERO {
            log::warn!(
                "joining the schedule {:.1}s after --start-at: {} starts and {} steps skipped",
                late.as_secs_f64(),
                self.skipped.starts,
                self.skipped.steps
            );
        }
        self.begin_schedule(ctx, begin, self.skipped.starts);
    }
}
