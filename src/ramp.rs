//! The Ramp actor: applies the schedule, starting attackers (supervised, spread over the
//! attacker threads) and retiring them at chain boundaries; on shutdown it retires everyone and
//! interrupts what is still running after the grace period.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix::WeakAddr;
use tokio::sync::oneshot;

use crate::attacker::{Abort, Attacker, Retire, Retired, Shared};
use crate::metrics::AttackerCount;
use crate::schedule::Schedule;

/// After an abort, how long to wait for attackers to confirm before giving up on them.
const ABORT_WAIT: Duration = Duration::from_secs(2);

pub struct Ramp {
    schedule: Schedule,
    started: Instant,
    shared: Arc<Shared>,
    arbiters: Vec<Arbiter>,
    next_arbiter: usize,
    next_id: usize,
    /// Attackers the schedule counts; the Ramp holds their only strong address, so a crash is
    /// restarted by their supervisor.
    active: Vec<(usize, Addr<Attacker>)>,
    /// Attackers finishing their last chain; weak, so stopping does not restart them.
    retiring: HashMap<usize, WeakAddr<Attacker>>,
    step_timer: Option<SpawnHandle>,
    stopped: Option<oneshot::Sender<()>>,
}

impl Ramp {
    pub fn new(schedule: Schedule, shared: Arc<Shared>, threads: usize) -> Self {
        Ramp {
            schedule,
            started: Instant::now(),
            shared,
            arbiters: (0..threads.max(1)).map(|_| Arbiter::new()).collect(),
            next_arbiter: 0,
            next_id: 0,
            active: Vec::new(),
            retiring: HashMap::new(),
            step_timer: None,
            stopped: None,
        }
    }

    fn apply_schedule(&mut self, ctx: &mut Context<Self>) {
        let elapsed = self.started.elapsed();
        let target = self.schedule.workers_at(elapsed);
        if target != self.active.len() {
            log::info!(
                "step {} at {:.1}s: {} attackers",
                self.schedule.step_at(elapsed) + 1,
                elapsed.as_secs_f64(),
                target
            );
        }
        self.scale_to(target, ctx);
        if let Some(next) = self.schedule.next_change_after(elapsed) {
            let wait = next.saturating_sub(self.started.elapsed());
            self.step_timer = Some(ctx.run_later(wait, |ramp, ctx| ramp.apply_schedule(ctx)));
        }
    }

    fn scale_to(&mut self, target: usize, ctx: &mut Context<Self>) {
        while self.active.len() < target {
            let id = self.next_id;
            self.next_id += 1;
            let arbiter = self.arbiters[self.next_arbiter % self.arbiters.len()].handle();
            self.next_arbiter += 1;
            let shared = self.shared.clone();
            let ramp = ctx.address().recipient();
            let addr =
                Supervisor::start_in_arbiter(&arbiter, move |_| Attacker::new(id, shared, ramp));
            self.active.push((id, addr));
        }
        while self.active.len() > target {
            let (id, addr) = self.active.pop().expect("more active than target");
            addr.do_send(Retire);
            self.retiring.insert(id, addr.downgrade());
        }
        self.shared
            .metrics
            .do_send(AttackerCount(self.active.len()));
    }

    fn abort_retiring(&mut self, ctx: &mut Context<Self>) {
        if self.retiring.is_empty() {
            return;
        }
        log::warn!(
            "grace period over: interrupting {} chains still running",
            self.retiring.len()
        );
        self.retiring.retain(|_, weak| match weak.upgrade() {
            Some(addr) => {
                addr.do_send(Abort);
                true
            }
            None => false,
        });
        ctx.run_later(ABORT_WAIT, |ramp, _| {
            if !ramp.retiring.is_empty() {
                log::error!(
                    "{} attackers did not stop; giving up on them",
                    ramp.retiring.len()
                );
                ramp.retiring.clear();
            }
            ramp.finish_if_done();
        });
        self.finish_if_done();
    }

    fn finish_if_done(&mut self) {
        if self.active.is_empty() && self.retiring.is_empty() {
            if let Some(stopped) = self.stopped.take() {
                for arbiter in &self.arbiters {
                    arbiter.stop();
                }
                let _ = stopped.send(());
            }
        }
    }
}

impl Actor for Ramp {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.started = Instant::now();
        log::info!(
            "schedule {} on {} attacker threads",
            self.schedule.describe(),
            self.arbiters.len()
        );
        self.apply_schedule(ctx);
    }
}

impl Handler<Retired> for Ramp {
    type Result = ();

    fn handle(&mut self, msg: Retired, _: &mut Context<Self>) {
        self.retiring.remove(&msg.id);
        self.finish_if_done();
    }
}

/// Stop the run: no new chains; chains in flight get `grace` to finish, then are interrupted.
/// Resolves when every attacker has stopped.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown {
    pub grace: Duration,
}

impl Handler<Shutdown> for Ramp {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(timer) = self.step_timer.take() {
            ctx.cancel_future(timer);
        }
        let (tx, rx) = oneshot::channel();
        self.stopped = Some(tx);
        self.scale_to(0, ctx);
        if !self.retiring.is_empty() {
            log::info!(
                "waiting up to {:.0?} for {} chains in flight",
                msg.grace,
                self.retiring.len()
            );
        }
        ctx.run_later(msg.grace, |ramp, ctx| ramp.abort_retiring(ctx));
        self.finish_if_done();
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

/// Interrupt every chain still running now (a second signal during shutdown).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct AbortAll;

impl Handler<AbortAll> for Ramp {
    type Result = ();

    fn handle(&mut self, _: AbortAll, ctx: &mut Context<Self>) {
        self.abort_retiring(ctx);
    }
}
