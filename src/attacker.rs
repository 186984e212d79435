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
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::FutureExt;
use openssl::x509::X509;

use crate::acme::wire::Directory;
use crate::acme::{Client, Transport};
use crate::chains::{checks, ChainEnv, ChainError, Journeys};
use crate::challenge::Registry;
use crate::config::Settings;
use crate::metrics::{ChainDone, ChainOutcome, Metrics};

/// What every attacker needs, shareable across attacker threads. Each thread builds its own
/// [`ChainEnv`] (connections, nonces) from it. A reload makes a new one.
pub struct Shared {
    pub settings: Arc<Settings>,
    pub directory: Arc<Directory>,
    /// Trust roots for the target's HTTPS.
    pub tls_roots: Vec<X509>,
    /// PEM roots issued certificates must chain to, if configured.
    pub verify_roots: Option<Vec<u8>>,
    pub registry: Addr<Registry>,
    pub metrics: Addr<Metrics>,
    pub journeys: Arc<dyn Journeys>,
}

impl Shared {
    /// Assembles what attackers share from settings and a connected target; reads the
    /// `verify_root` file.
    pub fn new(
        settings: Settings,
        target: crate::target::Target,
        registry: Addr<Registry>,
        metrics: Addr<Metrics>,
        journeys: Arc<dyn Journeys>,
    ) -> anyhow::Result<Shared> {
        let verify_roots = match &settings.chains.issue.verify_root {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
            ),
            None => None,
        };
        Ok(Shared {
            settings: Arc::new(settings),
            directory: Arc::new(target.directory),
            tls_roots: target.tls_roots,
            verify_roots,
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
        let http = Transport::http_client(&self.tls_roots, &client_settings)
            .expect("TLS set-up succeeded at start with the same roots");
        ChainEnv {
            transport: Rc::new(Transport::new(http, client_settings)),
            directory: self.directory.clone(),
            settings: self.settings.clone(),
            registry: self.registry.clone(),
            verify_store: self
                .verify_roots
                .as_ref()
                .map(|pem| checks::root_store(pem).expect("verify_root was validated before use")),
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
    client: Rc<Client>,
}

pub struct Attacker {
    id: usize,
    duty: Duty,
    shared: Arc<Shared>,
    ramp: Recipient<AttackerEvent>,
    running: Option<Running>,
    retiring: bool,
    /// Crashes since the last chain that ended without panicking.
    crashes: u32,
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
            crashes: 0,
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
        if self.retiring {
            return self.leave(ctx);
        }
        let env = self.shared.thread_env();
        let client = Rc::new(env.client());
        let (chain, journey) = self.shared.journeys.next(client.clone(), env);
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
            client,
        });
    }

    fn finish(&mut self, result: Result<(), ChainError>, ctx: &mut Context<Self>) {
        self.crashes = 0;
        if let Some(run) = self.running.take() {
            let outcome = match result {
                Ok(()) => ChainOutcome::Ok,
                Err(e) => {
                    log::warn!(
                        "attacker {}: chain {} failed after {:.0?}: [{}] {e}",
                        self.id,
                        run.chain,
                        run.scheduled.elapsed(),
                        e.reason()
                    );
                    ChainOutcome::Failed {
                        reason: e.reason(),
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
                let think = self.shared.settings.run.think_time;
                if think.is_zero() {
                    self.next_chain(ctx, Instant::now());
                } else {
                    ctx.run_later(think, |attacker, ctx| {
                        attacker.next_chain(ctx, Instant::now())
                    });
                }
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
        self.shared.metrics.do_send(ChainDone {
            chain: run.chain,
            took: run.scheduled.elapsed(),
            outcome,
            requests: run.client.take_records(),
            bad_nonce_retries: run.client.bad_nonce_retries(),
            expected: run.client.take_expected(),
        });
    }

    fn leave(&mut self, ctx: &mut Context<Self>) {
        self.tell_ramp(Event::Retired);
        ctx.stop();
    }
}

impl Actor for Attacker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.begin(ctx);
    }
}

impl Supervised for Attacker {
    fn restarting(&mut self, _: &mut Self::Context) {
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
