//! One run of the daemon inside the actix System: reach the target, start the challenge
//! server, the Metrics and Ramp actors, the control API and the reload triggers; wait for the
//! end (duration, end of schedule, or signal); shut down gracefully; hand back the summary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Arbiter};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::attacker::Shared;
use crate::chains::Catalogue;
use crate::challenge::ChallengeServer;
use crate::config::Settings;
use crate::db::source::DbLink;
use crate::db::{dsn, storage, Db, HighWaterMarks};
use crate::metrics::summary::Summary;
use crate::metrics::{Finish, Metrics};
use crate::ramp::{AbortAll, Ramp, Reload, Shutdown};
use crate::reload::{self, ReloadSource};
use crate::schedule::Schedule;
use crate::target::Target;

/// Runs the load test until `duration` elapses, the schedule ends (when configured to), or
/// SIGINT/SIGTERM arrives.
pub async fn run(
    settings: Settings,
    schedule: Schedule,
    duration: Option<Duration>,
    reload_source: ReloadSource,
) -> anyhow::Result<Summary> {
    let target = Target::connect(&settings).await?;
    log::info!("target {}: directory read", settings.target.directory_url);
    let metrics = Metrics::from_settings(&settings)?;
    // Its own thread: aggregation and StatsD never delay the Ramp or the challenge Registry.
    let metrics_thread = Arbiter::new();
    let metrics = Metrics::start_in_arbiter(&metrics_thread.handle(), move |_| metrics);

    let db = match &settings.db.url {
        Some(url) => {
            let url = dsn::to_url(url)?;
            let db = Db::start(&url, &settings.db.settings())
                .map_err(|e| anyhow::anyhow!("Boulder database {}: {e}", dsn::redacted(&url)))?;
            let marks = db.send(HighWaterMarks).await??;
            Some((db, marks, Instant::now()))
        }
        None => None,
    };
    let db_link = match &db {
        Some((db, _, _)) => Some(DbLink {
            db: db.clone(),
            urls: settings.db.url_templates(&settings.directory_url()),
            metrics: metrics.clone(),
            consistency_wait: settings
                .db
                .consistency_checks
                .then_some(settings.db.consistency_wait),
        }),
        None => None,
    };
    let catalogue =
        Catalogue::new(&settings, &target.directory, db_link).map_err(anyhow::Error::msg)?;
    let stock = catalogue.stock().clone();
    let challenge_server = ChallengeServer::start(settings.challenge_server())?;

    let threads = match settings.run.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let grace = settings.run.grace_period;
    let control_settings = settings.control.clone();
    let watch = settings.run.watch_config;
    let shared = Shared::new(
        settings,
        target,
        challenge_server.registry.clone(),
        metrics.clone(),
        Arc::new(catalogue),
    )?;
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel();
    let ramp = Ramp::new(
        schedule,
        Arc::new(shared),
        threads,
        reload_source.clone(),
        ended_tx,
    )
    .start();

    let control = if control_settings.enabled {
        let (handle, addrs) =
            crate::control::start(&control_settings, ramp.clone(), metrics.clone())?;
        let shown: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        log::info!(
            "control API on http://{} (GET /status, POST /reload)",
            shown.join(", http://")
        );
        Some(handle)
    } else {
        None
    };
    let _watcher = match (&reload_source.path, watch) {
        (Some(path), true) => {
            let ramp = ramp.clone();
            let watcher = reload::watch(path, move || {
                ramp.do_send(Reload {
                    cause: "config file changed",
                })
            })
            .map_err(|e| anyhow::anyhow!("watching {}: {e}", path.display()))?;
            Some(watcher)
        }
        _ => None,
    };
    let mut hangup = signal(SignalKind::hangup())?;
    let reloader = ramp.clone();
    actix_rt::spawn(async move {
        while hangup.recv().await.is_some() {
            // The Ramp logs the outcome either way.
            let _ = reloader.send(Reload { cause: "SIGHUP" }).await;
        }
    });

    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let why = tokio::select! {
        _ = sleep_or_forever(duration) => "duration reached",
        _ = ended_rx.recv() => "schedule over",
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    log::info!("stopping ({why}); a second SIGINT/SIGTERM interrupts chains in flight");
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
    let mut summary = metrics.send(Finish).await?;
    if let Some((db, start, started)) = db {
        match db.send(HighWaterMarks).await? {
            Ok(end) => summary.storage = Some(storage::growth(&start, &end, started.elapsed())),
            Err(e) => log::warn!("Boulder database at the end of the run: {e}"),
        }
    }
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
        control.stop(true).await;
    }
    challenge_server.stop().await;
    Ok(summary)
}

async fn sleep_or_forever(duration: Option<Duration>) {
    match duration {
        Some(d) => actix_rt::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
