//! The Attacker actor: one simulated subscriber. In the closed model it runs chains back to
//! back (with an optional think time); in the open model it runs one chain per `Run` the Ramp
//! sends and then reports itself idle. It reports every chain to the Metrics actor, stops at a
//! chain boundary when retired, and is cancelled mid-chain only when aborted. A panicking chain
//! crashes the attacker; its supervisor restarts it after a back-off that grows with repeated
//! crashes.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_rt::time::Instant;
use anyhow::Context as _;
use futures_util::FutureExt;
use openssl::ssl::SslConnector;

use crate::acme::wire::Directory;
use crate::acme::Transport;
use crate::chains::trust::Trust;
use crate::chains::{ChainEnv, ChainError, Journal, Journeys};
use crate::challenge::Registry;
use crate::config::Settings;
use crate::metrics::{AttackerWaited, ChainDone, ChainOutcome, Metrics};
use crate::printable::{printable, MAX_MESSAGE};

mod log_limit;
mod pause;

use log_limit::LogLimit;
use pause::Pauses;

/// What every attacker needs, shareable across attacker threads. Everything that can fail is
/// built here, once; each thread builds its own [`ChainEnv`] (connections, nonces) from it
/// without failing. A reload makes a new one.
pub struct Shared {
    pub settings: Arc<Settings>,
    pub directory: Arc<Directory>,
    /// TLS for the target's HTTPS (an awc client is not `Send`: each thread makes one on it).
    pub tls: SslConnector,
    /// The roots issued certificates must chain to, if configured.
    pub trust: Option<Arc<Trust>>,
    pub registry: Addr<Registry>,
    pub metrics: Addr<Metrics>,
    pub journeys: Arc<dyn Journeys>,
}

impl Shared {
    /// Assembles what attackers share from settings and a connected target: the certificate
    /// profiles asked for must be ones the CA offers; reads the `verify_root` file into a store.
    pub fn new(
        settings: Settings,
        ca: crate::ca::Ca,
        registry: Addr<Registry>,
        metrics: Addr<Metrics>,
        journeys: Arc<dyn Journeys>,
    ) -> anyhow::Result<Shared> {
        settings
            .chains
            .issue
            .profiles
            .check_offered(&ca.directory.meta.profiles)?;
        let trust = match &settings.chains.issue.verify_root {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
                let trust = Trust::from_pem(&pem)
                    .with_context(|| format!("the roots in {}", path.display()))?;
                Some(Arc::new(trust))
            }
            None => None,
        };
        Ok(Shared {
            settings: Arc::new(settings),
            directory: Arc::new(ca.directory),
            tls: ca.tls,
            trust,
            registry,
            metrics,
            journeys,
        })
    }
}

thread_local! {
    /// The chain environment of this thread, with the `Shared` it was built from.
    static THREAD_ENV: RefCell<Option<(Arc<Shared>, Rc<ChainEnv>)>> = const { RefCell::new(None) };
}

impl Shared {
    /// This thread's environment, built on first use: one connection pool and nonce pool per
    /// thread, shared by all its attackers, rebuilt when the config is reloaded.
    fn thread_env(self: &Arc<Self>) -> Rc<ChainEnv> {
        THREAD_ENV.with(|cell| {
            let mut cell = cell.borrow_mut();
            if let Some((shared, env)) = cell.as_ref() {
                if Arc::ptr_eq(shared, self) {
                    return env.clone();
                }
            }
            let env = Rc::new(self.build_env());
            *cell = Some((self.clone(), env.clone()));
            env
        })
    }

    fn build_env(&self) -> ChainEnv {
        let client_settings = self.settings.client_settings();
        let http = Transport::http_client(self.tls.clone(), &client_settings);
        ChainEnv {
            transport: Rc::new(Transport::new(http, client_settings)),
            directory: self.directory.clone(),
            settings: self.settings.clone(),
            registry: self.registry.clone(),
            trust: self.trust.clone(),
        }
    }
}

/// How an attacker gets its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// Closed model: chains back to back.
    Loop,
    /// Open model: one chain per [`Run`].
    OnDemand,
}

/// Stop after the current chain.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Retire;

/// Stop now, interrupting the current chain.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Abort;

/// Open model: run one chain whose latency counts from `scheduled`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Run {
    pub scheduled: Instant,
}

/// Use this configuration from the next chain on (a reload).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UseShared(pub Arc<Shared>);

/// What an attacker tells the Ramp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Stopped for good after a Retire or an Abort.
    Retired,
    /// Open model: the chain is done, ready for the next `Run`.
    Idle,
    /// Restarted by its supervisor after a crash.
    Restarted,
}

#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AttackerEvent {
    pub id: usize,
    pub event: Event,
}

/// First back-off after a crash; it doubles with each crash in a row, up to the maximum.
const CRASH_BACKOFF: Duration = Duration::from_millis(100);
const MAX_CRASH_BACKOFF: Duration = Duration::from_secs(30);

struct Running {
    handle: SpawnHandle,
    chain: &'static str,
    scheduled: Instant,
    journal: Rc<Journal>,
}

pub struct Attacker {
    id: usize,
    duty: Duty,
    shared: Arc<Shared>,
    ramp: Recipient<AttackerEvent>,
    running: Option<Running>,
    retiring: bool,
    /// Said `Retired` to the Ramp: done for good, whatever the supervisor restarts.
    left: bool,
    /// Crashes since the last chain that ended without panicking.
    crashes: u32,
    /// Chains the CA could not serve, in a row: the back-off before the next.
    pauses: Pauses,
}

impl Attacker {
    pub fn new(id: usize, duty: Duty, shared: Arc<Shared>, ramp: Recipient<AttackerEvent>) -> Self {
        Attacker {
            id,
            duty,
            shared,
            ramp,
            running: None,
            retiring: false,
            left: false,
            crashes: 0,
            pauses: Pauses::default(),
        }
    }

    fn tell_ramp(&self, event: Event) {
        self.ramp.do_send(AttackerEvent { id: self.id, event });
    }

    /// Ready for work: at once, or after the crash back-off.
    fn begin(&mut self, ctx: &mut Context<Self>) {
        let backoff = match self.crashes {
            0 => Duration::ZERO,
            n => (CRASH_BACKOFF * 2u32.saturating_pow(n - 1)).min(MAX_CRASH_BACKOFF),
        };
        ctx.run_later(backoff, |attacker, ctx| match attacker.duty {
            Duty::Loop => attacker.next_chain(ctx, Instant::now()),
            // A fresh on-demand attacker gets its first Run straight away; one restarted after
            // a crash must say it is free again.
            Duty::OnDemand if attacker.crashes > 0 => attacker.tell_ramp(Event::Idle),
            Duty::OnDemand => {}
        });
    }

    fn next_chain(&mut self, ctx: &mut Context<Self>, scheduled: Instant) {
        if self.left {
            return;
        }
        if self.retiring {
            return self.leave(ctx);
        }
        let env = self.shared.thread_env();
        let journal = Rc::new(Journal::default());
        let client = Rc::new(env.client_for(self.id, journal.clone()));
        let (chain, journey) = self.shared.journeys.next(client, journal.clone(), env);
        let guarded = AssertUnwindSafe(journey).catch_unwind();
        let handle = ctx.spawn(guarded.into_actor(self).map(
            |result, attacker, ctx| match result {
                Ok(outcome) => attacker.finish(outcome, ctx),
                Err(panic) => attacker.crash(panic, ctx),
            },
        ));
        self.running = Some(Running {
            handle,
            chain,
            scheduled,
            journal,
        });
    }

    fn finish(&mut self, result: Result<(), ChainError>, ctx: &mut Context<Self>) {
        self.crashes = 0;
        let mut failure = None;
        let mut asked_wait = None;
        if let Some(run) = self.running.take() {
            asked_wait = run.journal.asked_wait();
            let outcome = match result {
                Ok(()) => ChainOutcome::Ok,
                Err(e) if e.is_rate_limited() => {
                    self.log_limited("rate-limited", |id| {
                        format!(
                            "attacker {id}: chain {} rate-limited: {}",
                            run.chain,
                            text(&e)
                        )
                    });
                    ChainOutcome::RateLimited {
                        message: e.to_string(),
                    }
                }
                Err(e) => {
                    let reason = e.reason();
                    self.log_limited(&reason, |id| {
                        format!(
                            "attacker {id}: chain {} failed after {:.0?}: [{reason}] {}",
                            run.chain,
                            run.scheduled.elapsed(),
                            text(&e)
                        )
                    });
                    failure = Some(reason.clone());
                    ChainOutcome::Failed {
                        reason,
                        message: e.to_string(),
                    }
                }
            };
            self.report(run, outcome);
        }
        if self.retiring {
            return self.leave(ctx);
        }
        match self.duty {
            Duty::OnDemand => self.tell_ramp(Event::Idle),
            Duty::Loop => {
                let cap = self.shared.settings.polling.max_retry_after;
                let pause = self.pauses.after(failure.as_deref(), asked_wait, cap);
                let think = self.shared.settings.run.think_time;
                let wait = match pause {
                    Some((wait, cause)) => {
                        self.shared
                            .metrics
                            .do_send(AttackerWaited { cause, took: wait });
                        wait.max(think)
                    }
                    None => think,
                };
                if wait.is_zero() {
                    self.next_chain(ctx, Instant::now());
                } else {
                    ctx.run_later(wait, |attacker, ctx| {
                        attacker.next_chain(ctx, Instant::now())
                    });
                }
            }
        }
    }

    /// Logs a chain's failure, at most one line per `reason` per interval (with how many
    /// were held back since the last).
    fn log_limited(&self, reason: &str, line: impl FnOnce(usize) -> String) {
        if let Some(held) = LogLimit::global().admit(reason, std::time::Instant::now()) {
            let line = line(self.id);
            match held {
                0 => log::warn!("{line}"),
                n => log::warn!("{line} (and {n} more like it since the last such line)"),
            }
        }
    }

    /// A chain panicked: count it as failed, then stop so the supervisor restarts this
    /// attacker (unless it was retiring anyway).
    fn crash(&mut self, panic: Box<dyn std::any::Any + Send>, ctx: &mut Context<Self>) {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        self.crashes += 1;
        if let Some(run) = self.running.take() {
            log::error!("attacker {}: chain {} panicked: {what}", self.id, run.chain);
            self.report(
                run,
                ChainOutcome::Failed {
                    reason: "panic".into(),
                    message: what,
                },
            );
        }
        if self.retiring {
            self.leave(ctx);
        } else {
            ctx.stop();
        }
    }

    fn report(&self, run: Running, outcome: ChainOutcome) {
        let entries = run.journal.take();
        let took = run.scheduled.elapsed();
        self.shared.metrics.do_send(ChainDone {
            bad_nonce_retries: entries.bad_nonce_retries,
            expected: entries.expected,
            converged: entries.converged,
            profile: entries.profile,
            ..ChainDone::new(run.chain, took, outcome, entries.records)
        });
    }

    fn leave(&mut self, ctx: &mut Context<Self>) {
        if !self.left {
            self.left = true;
            self.tell_ramp(Event::Retired);
        }
        ctx.stop();
    }
}

/// A chain's error as it may reach the log: CA text bounded and printable.
fn text(e: &ChainError) -> String {
    printable(&e.to_string(), MAX_MESSAGE)
}

impl Actor for Attacker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // An attacker that retired is only restarted because the Ramp still holds its
        // address: it does nothing more, and stops once the Ramp lets go of it.
        if !self.left {
            self.begin(ctx);
        }
    }
}

impl Supervised for Attacker {
    fn restarting(&mut self, _: &mut Self::Context) {
        if self.left {
            return;
        }
        log::warn!(
            "attacker {} restarting after crash {} in a row",
            self.id,
            self.crashes
        );
        self.running = None;
        self.tell_ramp(Event::Restarted);
    }
}

impl Handler<Retire> for Attacker {
    type Result = ();

    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        self.retiring = true;
        if self.running.is_none() {
            self.leave(ctx);
        }
    }
}

impl Handler<Abort> for Attacker {
    type Result = ();

    fn handle(&mut self, _: Abort, ctx: &mut Context<Self>) {
        self.retiring = true;
        if let Some(run) = self.running.take() {
            ctx.cancel_future(run.handle);
            log::warn!(
                "attacker {}: chain {} interrupted after {:.0?}",
                self.id,
                run.chain,
                run.scheduled.elapsed()
            );
            self.report(run, ChainOutcome::Interrupted);
        }
        self.leave(ctx);
    }
}

impl Handler<Run> for Attacker {
    type Result = ();

    fn handle(&mut self, msg: Run, ctx: &mut Context<Self>) {
        if self.running.is_some() {
            log::error!("attacker {} got a Run while busy; ignored", self.id);
            return;
        }
        self.next_chain(ctx, msg.scheduled);
    }
}

impl Handler<UseShared> for Attacker {
    type Result = ();

    fn handle(&mut self, msg: UseShared, _: &mut Context<Self>) {
        self.shared = msg.0;
    }
}
