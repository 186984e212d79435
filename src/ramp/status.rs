//! What the Ramp reports about itself (the control API's `GET /status` merges it with the
//! Metrics actor's chain counts).

use actix::prelude::*;
use serde::Serialize;

use super::Ramp;
use crate::schedule::Schedule;

/// Milliseconds by which the Ramp acted after the schedule asked (steps and starts).
#[derive(Debug, Clone, Serialize)]
pub struct Lateness {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RampStatus {
    /// `hammer`, `seq`, `aseq` or `rate`.
    pub mode: &'static str,
    /// This process's shard, `I/N` (`null`: the whole schedule).
    pub shard: Option<String>,
    /// The schedule as on the command line.
    pub schedule: String,
    /// 1-based step of `seq`/`aseq` (1 for `hammer` and `rate`).
    pub step: usize,
    /// Attackers the schedule asks for now (closed model); `null` in `rate` mode.
    pub target_attackers: Option<usize>,
    /// Attackers working: looping, running a chain, or finishing a last one.
    pub attackers: usize,
    /// Chains running now (open model: busy attackers; closed model: looping ones).
    pub in_flight: usize,
    /// Open model: attackers waiting for a start.
    pub idle_attackers: usize,
    /// Attackers finishing their last chain after a scale-down or reload.
    pub retiring_attackers: usize,
    /// `rate` mode: chains per second asked for now.
    pub rate_per_s: Option<f64>,
    /// `rate` mode: starts due since the schedule (re)started, dispatched or dropped.
    pub starts: u64,
    pub dropped: u64,
    /// Starts due before this shard joined its schedule after `--start-at` (never run).
    pub skipped_starts: u64,
    /// Steps over before this shard joined its schedule after `--start-at`.
    pub skipped_steps: usize,
    pub restarts: u64,
    pub reloads: u64,
    pub reloads_rejected: u64,
    pub uptime_s: f64,
    /// Time since the schedule (re)started.
    pub schedule_elapsed_s: f64,
    pub lateness: Lateness,
}

#[derive(Debug, Message)]
#[rtype(result = "RampStatus")]
pub struct GetStatus;

impl Handler<GetStatus> for Ramp {
    type Result = MessageResult<GetStatus>;

    fn handle(&mut self, _: GetStatus, _: &mut Context<Self>) -> Self::Result {
        let elapsed = self.epoch.elapsed();
        let (target_attackers, rate_per_s, in_flight) = match &self.schedule {
            Schedule::Workers(_) => (Some(self.target_attackers), None, self.crew.looping()),
            Schedule::Rate(rate) => (
                None,
                Some(self.part().rate_at(rate, elapsed)),
                self.crew.busy(),
            ),
        };
        let ms = |q: f64| self.lateness.value_at_quantile(q) as f64 / 1000.0;
        MessageResult(RampStatus {
            mode: self.schedule.mode(),
            shard: self.shard.map(|shard| shard.to_string()),
            schedule: self.schedule.describe(),
            step: self.step + 1,
            target_attackers,
            attackers: self.crew.working(),
            in_flight,
            idle_attackers: self.crew.idle(),
            retiring_attackers: self.crew.retiring(),
            rate_per_s,
            starts: self.next_start - self.first_start,
            dropped: self.counters.dropped,
            skipped_starts: self.skipped.starts,
            skipped_steps: self.skipped.steps,
            restarts: self.counters.restarts,
            reloads: self.counters.reloads,
            reloads_rejected: self.counters.reloads_rejected,
            uptime_s: self.born.elapsed().as_secs_f64(),
            schedule_elapsed_s: elapsed.as_secs_f64(),
            lateness: Lateness {
                count: self.lateness.len(),
                p50_ms: ms(0.5),
                p99_ms: ms(0.99),
                max_ms: self.lateness.max() as f64 / 1000.0,
            },
        })
    }
}
