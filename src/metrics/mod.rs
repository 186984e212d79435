//! The Metrics actor: every attacker sends it what its chains did; it aggregates, logs
//! progress and produces the end-of-run summary.

pub mod report;
pub mod stats;
pub mod summary;

use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::acme::RequestRecord;
use stats::Stats;
use summary::Summary;

/// How one chain run ended.
#[derive(Debug, Clone)]
pub enum ChainOutcome {
    Ok,
    Failed {
        reason: String,
        message: String,
    },
    /// Cancelled by shutdown or scale-down after the grace period.
    Interrupted,
}

/// One chain run, with every request it made.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ChainDone {
    pub chain: &'static str,
    pub took: Duration,
    pub outcome: ChainOutcome,
    pub requests: Vec<RequestRecord>,
    pub bad_nonce_retries: u32,
}

/// The number of live attackers changed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AttackerCount(pub usize);

/// Open model: chain starts that could not happen because `max_in_flight` chains were running.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StartsDropped(pub u64);

/// An attacker was restarted by its supervisor after a crash.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AttackerRestarted;

/// Chains ok and failed so far, cheaply (for the status API).
#[derive(Debug, Message)]
#[rtype(result = "(u64, u64)")]
pub struct GetCounts;

/// The summary so far.
#[derive(Debug, Message)]
#[rtype(result = "Summary")]
pub struct GetSummary;

pub struct Metrics {
    stats: Stats,
    started: Instant,
    progress_every: Duration,
}

impl Metrics {
    pub fn new(progress_every: Duration) -> Self {
        Metrics {
            stats: Stats::default(),
            started: Instant::now(),
            progress_every,
        }
    }

    fn log_progress(&self) {
        log::info!(
            "{:.0}s: chains ok {}, failed {}",
            self.started.elapsed().as_secs_f64(),
            self.stats.chains_ok(),
            self.stats.chains_failed(),
        );
    }
}

impl Actor for Metrics {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if !self.progress_every.is_zero() {
            ctx.run_interval(self.progress_every, |m, _| m.log_progress());
        }
    }
}

impl Handler<ChainDone> for Metrics {
    type Result = ();

    fn handle(&mut self, msg: ChainDone, _: &mut Context<Self>) {
        self.stats.add_chain(&msg);
    }
}

impl Handler<AttackerCount> for Metrics {
    type Result = ();

    fn handle(&mut self, msg: AttackerCount, _: &mut Context<Self>) {
        self.stats.set_attackers(msg.0);
    }
}

impl Handler<StartsDropped> for Metrics {
    type Result = ();

    fn handle(&mut self, msg: StartsDropped, _: &mut Context<Self>) {
        self.stats.add_dropped(msg.0);
    }
}

impl Handler<AttackerRestarted> for Metrics {
    type Result = ();

    fn handle(&mut self, _: AttackerRestarted, _: &mut Context<Self>) {
        self.stats.add_restart();
    }
}

impl Handler<GetCounts> for Metrics {
    type Result = MessageResult<GetCounts>;

    fn handle(&mut self, _: GetCounts, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.stats.chains_ok(), self.stats.chains_failed()))
    }
}

impl Handler<GetSummary> for Metrics {
    type Result = MessageResult<GetSummary>;

    fn handle(&mut self, _: GetSummary, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.stats.summary(self.started.elapsed()))
    }
}
