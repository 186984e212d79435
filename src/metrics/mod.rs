//! The Metrics actor: every attacker sends it what its chains did; it aggregates (HDR
//! histograms, a bounded time series), batches StatsD, shows progress and hands the
//! aggregate over as a [`Summary`], which [`crate::report`] prints and writes. It runs on its own arbiter thread and attackers only `do_send` to it, so
//! neither its work nor a slow StatsD daemon ever makes an attacker wait.

pub mod procstats;
pub mod progress;
pub mod settings;
pub mod stats;
pub mod statsd;
pub mod timeseries;

use std::time::{Duration, Instant};

use actix::prelude::*;

use std::sync::Arc;

use crate::acme::{Convergence, RequestRecord};
use crate::db::source::ConsistencyChecked;
use crate::report::summary::Summary;
use procstats::ProcStats;
use progress::{Progress, Totals};
use settings::{Reporting, StatsdSettings};
use stats::Stats;
use statsd::{Statsd, StatsdError};

/// How one chain run ended.
#[derive(Debug, Clone)]
pub enum ChainOutcome {
    Ok,
    Failed {
        reason: String,
        message: String,
    },
    /// Refused by a rate limit of the CA (`rateLimited`): not a failure of the CA.
    RateLimited {
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
    /// Outcomes the chain expected and met (`acme:alreadyRevoked`…): a refusal that shows the
    /// CA did its job, which counts as ok.
    pub expected: Vec<String>,
    /// How long the CA took to agree with changes the chain read back.
    pub converged: Vec<Convergence>,
    /// The certificate profile the chain ordered with, if it asked for one.
    pub profile: Option<Arc<str>>,
}

impl ChainDone {
    /// A run of `chain` that ended with `outcome` after `took`, with its exchanges and
    /// nothing else noted.
    pub fn new(
        chain: &'static str,
        took: Duration,
        outcome: ChainOutcome,
        requests: Vec<RequestRecord>,
    ) -> Self {
        ChainDone {
            chain,
            took,
            outcome,
            requests,
            bad_nonce_retries: 0,
            expected: Vec::new(),
            converged: Vec::new(),
            profile: None,
        }
    }
}

/// The number of live attackers changed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AttackerCount(pub usize);

/// Open model: chain starts that could not happen because `max_in_flight` chains were running.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StartsDropped(pub u64);

/// Why an attacker waited before its next chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WaitCause {
    /// The CA could not be reached, or failed with 5xx: bounded exponential back-off.
    Backoff,
    /// The CA asked for it (`Retry-After` on an error answer).
    RetryAfter,
}

impl WaitCause {
    pub fn name(self) -> &'static str {
        match self {
            WaitCause::Backoff => "backoff",
            WaitCause::RetryAfter => "retry-after",
        }
    }
}

/// An attacker waits this long before its next chain.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AttackerWaited {
    pub cause: WaitCause,
    pub took: Duration,
}

/// The schedule ended (duration reached, signal, last step over): rates and the run's duration
/// in the summary are those of the load, not of the grace period that follows.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct LoadEnded;

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

/// The run is over: send what StatsD has not had yet, end the progress line, and hand back
/// the final summary.
#[derive(Debug, Message)]
#[rtype(result = "Summary")]
pub struct Finish;

/// Sent by the actor to itself: when it is handled, the messages handled since it was sent
/// are the ones that were queued ahead of it, i.e. the mailbox backlog at sending time.
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct Probe {
    sent: Instant,
    handled: u64,
}

/// The progress line, time series and log line advance this often.
const TICK: Duration = Duration::from_secs(1);

/// StatsD output and what it needs every flush.
struct StatsdOutput {
    sink: Statsd,
    flush_interval: Duration,
    procstats: ProcStats,
    procstats_warned: bool,
}

pub struct Metrics {
    stats: Stats,
    started: Instant,
    statsd: Option<StatsdOutput>,
    progress: Progress,
    /// Messages from attackers and the Ramp handled so far.
    handled: u64,
    /// Mailbox backlog at the last probe: messages queued, and how long the probe waited.
    backlog: (u64, Duration),
    /// When the load ended (since `started`), once it has.
    load_ended: Option<Duration>,
}

impl Metrics {
    pub fn new(progress: Progress, statsd: Option<(Statsd, Duration)>) -> Self {
        Metrics {
            stats: Stats::default(),
            started: Instant::now(),
            statsd: statsd.map(|(sink, flush_interval)| StatsdOutput {
                sink,
                flush_interval,
                procstats: ProcStats::default(),
                procstats_warned: false,
            }),
            progress,
            handled: 0,
            backlog: (0, Duration::ZERO),
            load_ended: None,
        }
    }

    /// As configured: StatsD when `statsd.address` is set (resolved now), progress per
    /// `[report]`.
    pub fn from_settings(statsd: &StatsdSettings, report: &Reporting) -> Result<Self, StatsdError> {
        let sink = match &statsd.address {
            Some(address) => {
                let sink = Statsd::connect(statsd, address)?;
                log::info!("StatsD to {}", sink.target());
                Some((sink, statsd.flush_interval))
            }
            None => None,
        };
        Ok(Metrics::new(Progress::new(report), sink))
    }

    fn totals(&self) -> Totals {
        Totals {
            attackers: self.stats.attackers(),
            chains_ok: self.stats.chains_ok(),
            chains_failed: self.stats.chains_failed(),
            chains_rate_limited: self.stats.chains_rate_limited(),
        }
    }

    fn tick(&mut self) {
        let now = self.started.elapsed();
        self.stats.advance(now);
        self.progress.tick(now, &self.totals());
    }

    fn flush_statsd(&mut self, ctx: &mut Context<Self>) {
        let attackers = self.stats.attackers();
        let Some(out) = &mut self.statsd else {
            return;
        };
        let mut gauges = match out.procstats.sample() {
            Ok(gauges) => gauges,
            Err(e) => {
                if !out.procstats_warned {
                    log::warn!("no process statistics: {e}");
                    out.procstats_warned = true;
                }
                Vec::new()
            }
        };
        gauges.extend([
            ("Attackers", attackers as f64),
            ("MetricsBacklog", self.backlog.0 as f64),
            ("MetricsLagMs", self.backlog.1.as_secs_f64() * 1000.0),
        ]);
        let sends = out.sink.flush(attackers, &gauges);
        if sends.failed > 0 {
            log::warn!(
                "StatsD {}: {} of {} datagrams not sent in the last {:.0?}: {}",
                out.sink.target(),
                sends.failed,
                sends.datagrams,
                out.flush_interval,
                sends.last_error.as_deref().unwrap_or("unknown error")
            );
        }
        if sends.oversized > 0 {
            log::warn!(
                "StatsD: {} lines longer than statsd.max_datagram_bytes were dropped",
                sends.oversized
            );
        }
        ctx.address().do_send(Probe {
            sent: Instant::now(),
            handled: self.handled,
        });
    }
}

impl Actor for Metrics {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.started = Instant::now();
        ctx.run_interval(TICK, |m, _| m.tick());
        if let Some(out) = &self.statsd {
            ctx.run_interval(out.flush_interval, |m, ctx| m.flush_statsd(ctx));
        }
    }
}

impl Handler<ChainDone> for Metrics {
    type Result = ();

    fn handle(&mut self, msg: ChainDone, _: &mut Context<Self>) {
        self.handled += 1;
        self.stats.add_chain(&msg, self.started.elapsed());
        match msg.outcome {
            ChainOutcome::Ok => self.progress.chain(true, msg.took),
            ChainOutcome::Failed { .. } => self.progress.chain(false, msg.took),
            ChainOutcome::RateLimited { .. } | ChainOutcome::Interrupted => {}
        }
        self.progress.requests(msg.requests.len());
        if let Some(out) = &mut self.statsd {
            out.sink.chain_done(&msg);
        }
    }
}

impl Handler<AttackerCount> for Metrics {
    type Result = ();

    fn handle(&mut self, msg: AttackerCount, _: &mut Context<Self>) {
        self.handled += 1;
        self.stats.set_attackers(msg.0);
    }
}

impl Handler<ConsistencyChecked> for Metrics {
    type Result = ();

    fn handle(&mut self, msg: ConsistencyChecked, _: &mut Context<Self>) {
        self.handled += 1;
        self.stats.add_consistency(&msg.verdicts);
        if let Some(out) = &mut self.statsd {
            out.sink.consistency(&msg.verdicts);
        }
    }
}

impl Handler<StartsDropped> for Metrics {
    type Result = ();

    fn handle(&mut self, msg: StartsDropped, _: &mut Context<Self>) {
        self.handled += 1;
        self.stats.add_dropped(msg.0);
    }
}

impl Handler<AttackerRestarted> for Metrics {
    type Result = ();

    fn handle(&mut self, _: AttackerRestarted, _: &mut Context<Self>) {
        self.handled += 1;
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

impl Handler<Finish> for Metrics {
    type Result = MessageResult<Finish>;

    fn handle(&mut self, _: Finish, ctx: &mut Context<Self>) -> Self::Result {
        self.flush_statsd(ctx);
        let now = self.started.elapsed();
        self.progress.finish();
        let load = self.load_ended.unwrap_or(now);
        MessageResult(self.stats.summary_of_load(load, now))
    }
}

impl Handler<LoadEnded> for Metrics {
    type Result = ();

    fn handle(&mut self, _: LoadEnded, _: &mut Context<Self>) {
        self.load_ended.get_or_insert(self.started.elapsed());
    }
}

impl Handler<AttackerWaited> for Metrics {
    type Result = ();

    fn handle(&mut self, msg: AttackerWaited, _: &mut Context<Self>) {
        self.handled += 1;
        self.stats.add_wait(msg.cause, msg.took);
        if let Some(out) = &mut self.statsd {
            out.sink.waited(msg.cause, msg.took);
        }
    }
}

impl Handler<Probe> for Metrics {
    type Result = ();

    fn handle(&mut self, msg: Probe, _: &mut Context<Self>) {
        self.backlog = (self.handled - msg.handled, msg.sent.elapsed());
    }
}

#[cfg(test)]
mod tests;
