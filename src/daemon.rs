//! One run of the daemon inside the actix System: bind every listener, reach the target,
//! start the challenge server, the Metrics and Ramp actors, the control API and the reload
//! triggers; wait for the end (duration, end of schedule, or signal); shut down gracefully;
//! hand back the summary.
//!
//! Everything that can fail (a port taken, the CA unreachable, a database refusing) happens
//! before any actor of this thread starts, so a failure ends the run with its message alone:
//! an actor spawned but never run would panic in actix's teardown.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::{Actor, Arbiter, AsyncContext, Context};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::attacker::Shared;
use crate::ca::Ca;
use crate::chains::Catalogue;
use crate::challenge::{ChallengeServer, RedisStore, Registry, RegistryBackend, Sockets};
use crate::config::Settings;
use crate::db::source::{Checks, DbLink};
use crate::db::{storage, Db, HighWaterMarks};
use crate::metrics::{Finish, LoadEnded, Metrics};
use crate::ramp::{AbortAll, GetStatus, Ramp, Shutdown};
use crate::reload::{self, Reload, ReloadSource, Reloader};
use crate::report::summary::Summary;
use crate::schedule::start_at::Offset;
use crate::schedule::{Schedule, Skipped, StartAt};
use crate::sharding::Sharding;

/// What a run hands back: its summary, and what its shard skipped by joining late.
pub struct Ended {
    pub summary: Summary,
    pub skipped: Skipped,
}

/// Runs the load test until `duration` elapses (counted from `--start-at` when set), the
/// schedule ends (when configured to), or SIGINT/SIGTERM arrives; `sharding` says which part
/// of the schedule runs, and from when.
pub async fn run(
    settings: Settings,
    schedule: Schedule,
    duration: Option<Duration>,
    reload_source: ReloadSource,
    sharding: Sharding,
) -> anyhow::Result<Ended> {
    for warning in settings.warnings() {
        log::warn!("{warning}");
    }
    let challenge_settings = settings.challenge_server();
    let linger = settings.challenge.linger;
    let sockets = Sockets::bind(&challenge_settings)?;
    let control_listener = match settings.control.enabled {
        true => Some(crate::control::bind(&settings.control)?),
        false => None,
    };
    // In this thread, where the Registry will use its connections.
    let shared_registry = match &settings.challenge.registry {
        RegistryBackend::Memory => None,
        RegistryBackend::Redis(url) => {
            Some(RedisStore::connect(url.clone(), settings.challenge.registry_timeout).await?)
        }
    };
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let ca = Ca::connect(&settings).await?;
    log::info!("target {}: directory read", settings.target.directory_url);
    let metrics = Metrics::from_settings(&settings.statsd, &settings.report)?;
    // Its own thread: aggregation and StatsD never delay the Ramp or the challenge Registry.
    let metrics_thread = Arbiter::new();
    let metrics = Metrics::start_in_arbiter(&metrics_thread.handle(), move |_| metrics);

    let db = match &settings.db.url {
        Some(url) => {
            let db = Db::start(url.url(), &settings.db.settings())
                .map_err(|e| anyhow::anyhow!("Boulder database {url}: {e}"))?;
            let marks = db.send(HighWaterMarks).await??;
            Some((db, marks, Instant::now()))
        }
        None => None,
    };
    let db_link = match &db {
        Some((db, _, _)) => Some(DbLink {
            db: db.clone(),
            urls: settings.db.url_templates(settings.directory_url()),
            verdicts: metrics.clone().recipient(),
            consistency_wait: settings
                .db
                .consistency_checks
                .then_some(settings.db.consistency_wait),
            rollovers: Default::default(),
            checks: Checks::on(Arbiter::current()),
        }),
        None => None,
    };
    // How long the end of the run waits for the verdicts of the last chains' checks.
    let last_checks = db_link.as_ref().and_then(|link| {
        let wait = link.consistency_wait? + settings.db.query_timeout;
        Some((link.checks.clone(), wait))
    });
    let catalogue = Catalogue::new(&settings, &ca.directory, db_link)?;
    let stock = catalogue.stock().clone();
    let registry = Context::<Registry>::new();

    let threads = match settings.run.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let grace = settings.run.grace_period;
    let control_settings = settings.control.clone();
    let watch = settings.run.watch_config;
    let shared = Shared::new(
        settings,
        ca,
        registry.address(),
        metrics.clone(),
        Arc::new(catalogue),
    )?;
    let shared = Arc::new(shared);
    let ramp_context = Context::<Ramp>::new();
    let ramp = ramp_context.address();
    let reloader = Reloader::new(
        reload_source.clone(),
        shared.clone(),
        schedule.clone(),
        ramp.clone(),
    )
    .start();
    let _watcher = match (&reload_source.path, watch) {
        (Some(path), true) => {
            let reloader = reloader.clone();
            let watcher = reload::watch(path, move || {
                reloader.do_send(Reload {
                    cause: "config file changed",
                })
            })
            .map_err(|e| anyhow::anyhow!("watching {}: {e}", path.display()))?;
            Some(watcher)
        }
        _ => None,
    };

    let challenge_server =
        ChallengeServer::serve_shared(challenge_settings, sockets, registry, shared_registry)?;
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
    let begin = sharding.start_at.map(instant_of).transpose()?;
    let end = duration.map(|d| begin.unwrap_or_else(Instant::now) + d);
    let ramp_begin = begin.map(actix_rt::time::Instant::from_std);
    ramp_context
        .run(Ramp::new(schedule, shared, threads, ended_tx).sharded(sharding.shard, ramp_begin));
    let control = match control_listener {
        Some(listener) => {
            let (handle, addr) = crate::control::start(
                listener,
                &control_settings,
                ramp.clone(),
                reloader.clone(),
                metrics.clone(),
            )?;
            log::info!("control API on http://{addr} (GET /status, POST /reload)");
            Some(handle)
        }
        None => None,
    };
    actix_rt::spawn(async move {
        while hangup.recv().await.is_some() {
            // The reload service logs the outcome either way.
            let _ = reloader.send(Reload { cause: "SIGHUP" }).await;
        }
    });

    let why = tokio::select! {
        _ = sleep_or_forever(end) => "duration reached",
        _ = ended_rx.recv() => "schedule over",
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    log::info!("stopping ({why}); a second SIGINT/SIGTERM interrupts chains in flight");
    metrics.do_send(LoadEnded);
    let skipped = ramp.send(GetStatus).await.map_or_else(
        |_| Skipped::default(),
        |status| Skipped {
            starts: status.skipped_starts,
            steps: status.skipped_steps,
        },
    );
    let shutdown = ramp.send(Shutdown { grace });
    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => {}
        _ = async { tokio::select! { _ = interrupt.recv() => {}, _ = terminate.recv() => {} } } => {
            log::warn!("second signal: interrupting chains in flight");
            ramp.do_send(AbortAll);
            let _ = shutdown.await;
        }
    }
    // The tables' growth over the load, not over the wait for the last checks below.
    let storage = match db {
        Some((db, start, started)) => match db.send(HighWaterMarks).await? {
            Ok(end) => Some(storage::growth(&start, &end, started.elapsed())),
            Err(e) => {
                log::warn!("Boulder database at the end of the run: {e}");
                None
            }
        },
        None => None,
    };
    if let Some((checks, wait)) = last_checks.filter(|(checks, _)| checks.running() > 0) {
        log::info!(
            "waiting up to {:.0} s for the verdicts of {} consistency checks under way",
            wait.as_secs_f64(),
            checks.running()
        );
        let left = checks.settled(wait).await;
        if left > 0 {
            log::warn!("{left} consistency checks still running at the end: no verdict from them");
        }
    }
    let mut summary = metrics.send(Finish).await?;
    summary.storage = storage;
    let pool = stock.pool.stats();
    log::info!(
        "pool at the end: {} accounts ({} in use), {} certificates held, {} accounts evicted",
        pool.idle + pool.leased,
        pool.leased,
        pool.certificates,
        pool.evicted
    );
    metrics_thread.stop();
    if let Some(control) = control {
        control.stop();
    }
    if !linger.is_zero() {
        log::info!(
            "challenge server: answering other shards' validations {} s more \
             (challenge.linger; a signal ends it)",
            linger.as_secs_f64()
        );
        tokio::select! {
            _ = actix_rt::time::sleep(linger) => {}
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }
    summary.challenge_registry = challenge_server.shared_stats().map(|s| s.summary());
    challenge_server.stop().await;
    Ok(Ended { summary, skipped })
}

async fn sleep_or_forever(end: Option<Instant>) {
    match end {
        Some(end) => actix_rt::time::sleep_until(end.into()).await,
        None => std::future::pending().await,
    }
}

/// `at` on this process's monotonic clock, which the Ramp's schedule runs on.
fn instant_of(at: StartAt) -> anyhow::Result<Instant> {
    let now = Instant::now();
    match at.offset(SystemTime::now()) {
        Offset::Early(ahead) => Ok(now + ahead),
        Offset::Late(behind) => now
            .checked_sub(behind)
            .ok_or_else(|| anyhow::anyhow!("--start-at {at} is before this machine booted")),
    }
}
