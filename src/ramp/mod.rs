//! The Ramp actor: applies the schedule. In the closed model it keeps the scheduled number of
//! looping attackers, retiring the surplus at chain boundaries; in the open model it starts
//! chains at their scheduled instants on idle (or new) attackers, and counts the starts that
//! `max_in_flight` forbids as dropped. It applies reloads the reload service prepared, reports its status, and on
//! shutdown retires everyone, interrupting what still runs after the grace period. A shard
//! (`--shard`) applies its part of the schedule, from the instant `--start-at` set.

mod crew;
mod start;
mod status;

pub use status::{GetStatus, RampStatus};

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_rt::time::Instant;
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, oneshot};

use crate::attacker::{AttackerEvent, Event, Run, Shared};
use crate::metrics::stats::{histogram, record};
use crate::metrics::{AttackerCount, AttackerRestarted, StartsDropped};
use crate::schedule::{Schedule, Shard, Skipped};
use crew::Crew;

/// After an abort, how long to wait for attackers to confirm before giving up on them.
const ABORT_WAIT: Duration = Duration::from_secs(2);

/// What the Ramp counts besides chains (which the Metrics actor counts).
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    dropped: u64,
    restarts: u64,
    reloads: u64,
    reloads_rejected: u64,
}

pub struct Ramp {
    shared: Arc<Shared>,
    schedule: Schedule,
    /// This process's part of the schedule (`None`: all of it).
    shard: Option<Shard>,
    /// The first t = 0 of the schedule when `--start-at` set it (in the future: wait for it).
    begin: Option<Instant>,
    /// What this shard missed by joining its schedule after `--start-at`.
    skipped: Skipped,
    /// t = 0 of the schedule (restarted by a reload).
    epoch: Instant,
    born: Instant,
    crew: Crew,
    step: usize,
    target_attackers: usize,
    timer: Option<SpawnHandle>,
    end_timer: Option<SpawnHandle>,
    /// Bumped whenever the schedule restarts or stops: a timer armed for an earlier schedule
    /// then does nothing, even if cancelling it did not take (actix can miss the cancellation
    /// of a timer that is due in the same poll).
    generation: u64,
    /// Open model: index of the next start to dispatch.
    next_start: u64,
    /// Open model: the index the schedule (re)started from (past the skipped starts).
    first_start: u64,
    counters: Counters,
    /// The attacker count the Metrics actor last heard of.
    reported_attackers: Option<usize>,
    /// How late the Ramp acts on the schedule (steps, starts), in microseconds.
    lateness: Histogram<u64>,
    /// Told when a schedule configured to stop after its last step is over.
    ended: mpsc::UnboundedSender<()>,
    shutting_down: bool,
    stopped: Option<oneshot::Sender<()>>,
}

impl Ramp {
    pub fn new(
        schedule: Schedule,
        shared: Arc<Shared>,
        threads: usize,
        ended: mpsc::UnboundedSender<()>,
    ) -> Self {
        Ramp {
            shared,
            schedule,
            shard: None,
            begin: None,
            skipped: Skipped::default(),
            epoch: Instant::now(),
            born: Instant::now(),
            crew: Crew::new(threads),
            step: 0,
            target_attackers: 0,
            timer: None,
            end_timer: None,
            generation: 0,
            next_start: 0,
            first_start: 0,
            counters: Counters::default(),
            reported_attackers: None,
            lateness: histogram(3),
            ended,
            shutting_down: false,
            stopped: None,
        }
    }

    /// Tells the Metrics actor how many attackers work, when that changed (the open model
    /// checks at every dispatch).
    fn report_attackers(&mut self) {
        let working = self.crew.working();
        if self.reported_attackers != Some(working) {
            self.reported_attackers = Some(working);
            self.shared.metrics.do_send(AttackerCount(working));
        }
    }

    fn grace_deadline(&self) -> Instant {
        Instant::now() + self.shared.settings.run.grace_period
    }

    fn note_lateness(&mut self, due: Duration) {
        let late = self.epoch.elapsed().saturating_sub(due);
        record(&mut self.lateness, late);
    }

    /// Starts the schedule from t = 0 now (at start and after a reload).
    fn restart_schedule(&mut self, ctx: &mut Context<Self>) {
        self.begin_schedule(ctx, Instant::now(), 0);
    }

    /// Starts the schedule whose t = 0 is `epoch` (now or past), with `first_start` the next
    /// open-model start to dispatch.
    fn begin_schedule(&mut self, ctx: &mut Context<Self>, epoch: Instant, first_start: u64) {
        self.stop_timers(ctx);
        self.epoch = epoch;
        self.step = 0;
        (self.next_start, self.first_start) = (first_start, first_start);
        let generation = self.generation;
        if self.shared.settings.run.stop_after_last_step {
            if let Some(end) = self.schedule.last_step_ends() {
                let wait = end.saturating_sub(self.epoch.elapsed());
                self.end_timer = Some(ctx.run_later(wait, move |ramp, _| {
                    if ramp.generation == generation {
                        log::info!("schedule {} is over", ramp.schedule.describe());
                        let _ = ramp.ended.send(());
                    }
                }));
            }
        }
        match self.schedule {
            Schedule::Workers(_) => self.apply_step(ctx, Duration::ZERO, generation),
            Schedule::Rate(_) => self.dispatch_starts(ctx, generation),
        }
    }

    /// Disarms the schedule's timers (at a restart or at shutdown).
    fn stop_timers(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        for timer in [self.timer.take(), self.end_timer.take()]
            .into_iter()
            .flatten()
        {
            ctx.cancel_future(timer);
        }
    }

    /// Closed model: puts the attacker count of the step due at `due` in place and arms the
    /// timer for the next step.
    fn apply_step(&mut self, ctx: &mut Context<Self>, due: Duration, generation: u64) {
        let Schedule::Workers(workers) = &self.schedule else {
            return;
        };
        if generation != self.generation {
            return;
        }
        let elapsed = self.epoch.elapsed();
        let shard = self.part();
        let (step, target) = (workers.step_at(elapsed), shard.workers_at(workers, elapsed));
        let next = workers.next_change_after(elapsed);
        if target != self.crew.looping() || step != self.step || due.is_zero() {
            log::info!(
                "step {} at {:.1}s: {} attackers",
                step + 1,
                elapsed.as_secs_f64(),
                target
            );
        }
        let shrinking = target < self.crew.looping();
        let recipient = ctx.address().recipient();
        self.crew
            .loop_to(target, &self.shared, &recipient, self.grace_deadline());
        self.note_lateness(due);
        (self.step, self.target_attackers) = (step, target);
        if shrinking {
            let grace = self.shared.settings.run.grace_period;
            ctx.run_later(grace, |ramp, ctx| ramp.abort_overdue(ctx));
        }
        self.report_attackers();
        if let Some(next) = next {
            let wait = next.saturating_sub(self.epoch.elapsed());
            self.timer = Some(ctx.run_later(wait, move |ramp, ctx| {
                ramp.apply_step(ctx, next, generation)
            }));
        }
    }

    /// Open model: dispatches every start due by now, each with its scheduled instant (so
    /// latency counts from it even when dispatch is late), and arms the timer for the next.
    fn dispatch_starts(&mut self, ctx: &mut Context<Self>, generation: u64) {
        let Schedule::Rate(rate) = &self.schedule else {
            return;
        };
        if generation != self.generation {
            return;
        }
        let rate = rate.clone();
        let shard = self.part();
        let recipient = ctx.address().recipient();
        let elapsed = self.epoch.elapsed();
        let mut dropped = 0;
        loop {
            let due = shard.start_time(&rate, self.next_start);
            if due > elapsed {
                break;
            }
            self.next_start += 1;
            let scheduled = self.epoch + due;
            match self
                .crew
                .take_for_start(rate.max_in_flight, &self.shared, &recipient)
            {
                Some(attacker) => attacker.do_send(Run { scheduled }),
                None => dropped += 1,
            }
            self.note_lateness(due);
        }
        if dropped > 0 {
            self.counters.dropped += dropped;
            self.shared.metrics.do_send(StartsDropped(dropped));
            log::warn!(
                "{dropped} chain starts dropped: {} chains in flight (max_in_flight)",
                rate.max_in_flight
            );
        }
        self.report_attackers();
        let next = shard.start_time(&rate, self.next_start);
        let wait = next.saturating_sub(self.epoch.elapsed());
        self.timer =
            Some(ctx.run_later(wait, move |ramp, ctx| ramp.dispatch_starts(ctx, generation)));
    }

    fn abort_overdue(&mut self, ctx: &mut Context<Self>) {
        let aborted = self.crew.abort_overdue(Instant::now());
        if aborted > 0 {
            log::warn!("grace period over: interrupting {aborted} chains still running");
            ctx.run_later(ABORT_WAIT, |ramp, _| ramp.finish_if_done());
        }
    }

    fn finish_if_done(&mut self) {
        if self.shutting_down && self.crew.is_empty() {
            if let Some(stopped) = self.stopped.take() {
                self.crew.stop_threads();
                let _ = stopped.send(());
            }
        }
    }

    /// Puts a validated reload into effect: new settings for the next chains, the schedule
    /// restarted from t = 0, attackers kept where the new schedule still wants them.
    fn apply_reload(&mut self, reloaded: ApplyReload, ctx: &mut Context<Self>) {
        let mode_switch = matches!(
            (&self.schedule, &reloaded.schedule),
            (Schedule::Workers(_), Schedule::Rate(_)) | (Schedule::Rate(_), Schedule::Workers(_))
        );
        self.shared = reloaded.shared;
        self.crew.broadcast(&self.shared);
        if mode_switch {
            self.crew.retire_all(self.grace_deadline());
            let grace = self.shared.settings.run.grace_period;
            ctx.run_later(grace, |ramp, ctx| ramp.abort_overdue(ctx));
        }
        self.schedule = reloaded.schedule;
        self.counters.reloads += 1;
        log::info!(
            "config reloaded: restarting with new schedule {}",
            self.schedule.describe()
        );
        for key in &reloaded.needs_restart {
            log::warn!("config reload: `{key}` changed but only takes effect after a restart; still using the running value");
        }
        self.restart_schedule(ctx);
    }
}

impl Actor for Ramp {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.born = Instant::now();
        let shard = match self.shard {
            Some(shard) => format!(", shard {shard}"),
            None => String::new(),
        };
        log::info!(
            "schedule {} on {} attacker threads{shard}",
            self.schedule.describe(),
            self.crew.threads()
        );
        match self.begin.take() {
            Some(begin) => self.first_start(ctx, begin),
            None => self.restart_schedule(ctx),
        }
    }
}

impl Handler<AttackerEvent> for Ramp {
    type Result = ();

    fn handle(&mut self, msg: AttackerEvent, _: &mut Context<Self>) {
        match msg.event {
            Event::Retired => {
                self.crew.retired(msg.id);
                self.report_attackers();
                self.finish_if_done();
            }
            Event::Idle => self.crew.now_idle(msg.id),
            Event::Restarted => {
                self.counters.restarts += 1;
                self.shared.metrics.do_send(AttackerRestarted);
            }
        }
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
        self.stop_timers(ctx);
        let (tx, rx) = oneshot::channel();
        self.shutting_down = true;
        self.stopped = Some(tx);
        self.crew.retire_all(Instant::now() + msg.grace);
        if self.crew.retiring() > 0 {
            log::info!(
                "waiting up to {:.0?} for {} attackers to finish their chains",
                msg.grace,
                self.crew.retiring()
            );
        }
        ctx.run_later(msg.grace, |ramp, ctx| {
            ramp.abort_overdue(ctx);
            ctx.run_later(ABORT_WAIT, |ramp, _| {
                let lost = ramp.crew.forget_retiring();
                if lost > 0 {
                    log::error!("{lost} attackers did not stop; giving up on them");
                }
                ramp.finish_if_done();
            });
        });
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
        let now = Instant::now();
        self.crew.retire_all(now);
        self.crew.end_grace(now);
        self.abort_overdue(ctx);
    }
}

/// A reload the reload service validated and connected: the Ramp puts it into effect and
/// answers the new schedule's description, or `None` when it is shutting down.
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub struct ApplyReload {
    pub shared: Arc<Shared>,
    pub schedule: Schedule,
    /// Restart-only keys the file changed (their running values are kept), for the log.
    pub needs_restart: Vec<&'static str>,
}

impl Handler<ApplyReload> for Ramp {
    type Result = Option<String>;

    fn handle(&mut self, msg: ApplyReload, ctx: &mut Context<Self>) -> Option<String> {
        if self.shutting_down {
            return None;
        }
        self.apply_reload(msg, ctx);
        Some(self.schedule.describe())
    }
}

/// A reload was refused: counted in the status.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReloadRefused;

impl Handler<ReloadRefused> for Ramp {
    type Result = ();

    fn handle(&mut self, _: ReloadRefused, _: &mut Context<Self>) {
        self.counters.reloads_rejected += 1;
    }
}
