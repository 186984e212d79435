//! One run of the daemon inside the actix System: reach the target, start the challenge
//! server, the Metrics and Ramp actors, wait for the end (duration or signal), shut down
//! gracefully and hand back the summary.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Arbiter};
use anyhow::Context as _;
use openssl::x509::X509;
use tokio::signal::unix::{signal, SignalKind};

use crate::acme::Transport;
use crate::attacker::Shared;
use crate::challenge::{http01, Registry};
use crate::config::Settings;
use crate::metrics::summary::Summary;
use crate::metrics::{Finish, Metrics};
use crate::ramp::{AbortAll, Ramp, Shutdown};
use crate::schedule::Schedule;

/// Runs the load test until `duration` elapses or SIGINT/SIGTERM arrives.
pub async fn run(
    settings: Settings,
    schedule: Schedule,
    duration: Option<Duration>,
) -> anyhow::Result<Summary> {
    let settings = Arc::new(settings);
    let tls_roots = match &settings.target.ca_cert {
        Some(path) => X509::stack_from_pem(&std::fs::read(path)?)?,
        None => Vec::new(),
    };
    let verify_roots = match &settings.chains.issue.verify_root {
        Some(path) => Some(std::fs::read(path)?),
        None => None,
    };

    let client_settings = settings.client_settings();
    let http = Transport::http_client(&tls_roots, &client_settings).map_err(anyhow::Error::msg)?;
    let url = settings.target.directory_url.clone();
    let (directory, _) = Transport::new(http, client_settings)
        .fetch_directory(&url)
        .await;
    let directory = directory.with_context(|| format!("cannot use the ACME directory {url}"))?;
    log::info!("target {url}: directory read");

    let registry = Registry::new(settings.challenge.ttl).start();
    let http01 = http01::start(registry.clone(), &settings.http01_addrs())?;
    log::info!(
        "http-01 challenge server on {}",
        settings.challenge.http01_listen.join(", ")
    );
    let metrics = Metrics::from_settings(&settings)?;
    // Its own thread: aggregation and StatsD never delay the Ramp or the challenge Registry.
    let metrics_thread = Arbiter::new();
    let metrics = Metrics::start_in_arbiter(&metrics_thread.handle(), move |_| metrics);

    let threads = match settings.run.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let grace = settings.run.grace_period;
    let shared = Arc::new(Shared {
        settings,
        directory: Arc::new(directory),
        tls_roots,
        verify_roots,
        registry,
        metrics: metrics.clone(),
    });
    let ramp = Ramp::new(schedule, shared, threads).start();

    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let why = tokio::select! {
        _ = sleep_or_forever(duration) => "duration reached",
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
    let summary = metrics.send(Finish).await?;
    metrics_thread.stop();
    http01.stop(true).await;
    Ok(summary)
}

async fn sleep_or_forever(duration: Option<Duration>) {
    match duration {
        Some(d) => actix_rt::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
