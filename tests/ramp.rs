//! The Ramp actor with purpose-built journeys: a fixed wait, an HTTP request to a server that
//! answers slowly, a chain that panics. What is tested is the Ramp (counts, timing, dropped
//! starts, grace, supervision), so the journeys do not talk ACME. Where the clock is the
//! subject the test pauses it and runs the attackers on its own thread: time then moves only
//! when everything waits, so no load on the machine can make a step late. Journeys that do
//! network I/O run on the real clock (a paused one would jump over the I/O).

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpServer};
use wile_e_coyote::chains::{ChainEnv, ChainError, Journal, Journey, Journeys};
use wile_e_coyote::config::Settings;
use wile_e_coyote::metrics::GetSummary;
use wile_e_coyote::ramp::GetStatus;
use wile_e_coyote::schedule::{Rate, Schedule, Shard, Workers};
use wile_e_coyote::test_support::ramp::{RampRig, RampSpec, Wait};

/// A journey that waits a fixed time and counts the chains that began.
struct Counted {
    wait: Duration,
    started: AtomicUsize,
}

impl Journeys for Counted {
    fn next(&self, _: Rc<wile_e_coyote::acme::Client>, _: Rc<Journal>, _: Rc<ChainEnv>) -> Journey {
        let wait = self.wait;
        self.started.fetch_add(1, Ordering::SeqCst);
        (
            "wait",
            Box::pin(async move {
                actix_rt::time::sleep(wait).await;
                Ok(())
            }),
        )
    }
}

/// A journey that GETs a URL of a purpose-built server that answers slowly.
struct SlowGet(String);

thread_local! {
    /// One client per attacker thread, as the real transport does: building an awc client
    /// loads the system trust store, far too slow to do per chain.
    static HTTP: awc::Client = awc::Client::default();
}

impl Journeys for SlowGet {
    fn next(&self, _: Rc<wile_e_coyote::acme::Client>, _: Rc<Journal>, _: Rc<ChainEnv>) -> Journey {
        let request = HTTP.with(|http| http.get(self.0.clone()));
        (
            "slow-get",
            Box::pin(async move {
                let response = request.send().await;
                match response {
                    Ok(r) if r.status().is_success() => Ok(()),
                    other => Err(ChainError::Local(format!("{other:?}"))),
                }
            }),
        )
    }
}

/// A journey that panics its first `crashes` times, then waits 10 ms.
struct PanicsFirst {
    crashes: usize,
    runs: AtomicUsize,
}

impl Journeys for PanicsFirst {
    fn next(&self, _: Rc<wile_e_coyote::acme::Client>, _: Rc<Journal>, _: Rc<ChainEnv>) -> Journey {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        let crash = n < self.crashes;
        (
            "crashy",
            Box::pin(async move {
                actix_rt::time::sleep(Duration::from_millis(5)).await;
                assert!(!crash, "injected crash {n}");
                Ok(())
            }),
        )
    }
}

/// Attacker threads for a test on a paused clock: none, so the attackers share the test's
/// thread and its clock.
const ON_TEST_THREAD: usize = 0;
/// Attacker threads for journeys that do network I/O, on the real clock.
const THREADS: usize = 2;

fn start(
    threads: usize,
    schedule: Schedule,
    journeys: Arc<dyn Journeys>,
    settings: Settings,
) -> RampRig {
    RampSpec {
        settings,
        ..RampSpec::new(threads, schedule, journeys)
    }
    .start()
}

fn settings(grace: Duration) -> Settings {
    let mut s = wile_e_coyote::test_support::ramp::settings();
    s.run.grace_period = grace;
    s
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[actix_rt::test]
async fn seq_reaches_each_count_in_order() {
    tokio::time::pause();
    let schedule = Schedule::Workers(Workers::Seq {
        interval: ms(600),
        workers: vec![2, 7, 1, 4],
    });
    let d = start(
        ON_TEST_THREAD,
        schedule,
        Arc::new(Wait(ms(20))),
        settings(ms(500)),
    );
    for (i, expected) in [2, 7, 1, 4].into_iter().enumerate() {
        let step = i + 1;
        let status = d
            .wait_for(&format!("{expected} attackers"), ms(5000), |s| {
                s.step > step || (s.step == step && s.attackers == expected)
            })
            .await;
        assert_eq!(status.step, step, "step {step} came and went: {status:?}");
        assert_eq!(status.target_attackers, Some(expected), "{status:?}");
    }
    let held = d
        .wait_for("2.8 s of schedule", ms(10_000), |s| {
            s.schedule_elapsed_s >= 2.8
        })
        .await;
    assert_eq!((held.step, held.attackers), (4, 4), "the last count holds");
    let summary = d.stop(ms(500)).await;
    assert_eq!(summary.peak_attackers, 7);
    assert_eq!(summary.chains["wait"].interrupted, 0);
}

#[actix_rt::test]
async fn aseq_adds_then_clamps() {
    tokio::time::pause();
    let schedule = Schedule::Workers(Workers::Aseq {
        increment: 3,
        final_workers: 8,
        interval: ms(500),
    });
    let d = start(
        ON_TEST_THREAD,
        schedule,
        Arc::new(Wait(ms(20))),
        settings(ms(500)),
    );
    for (i, expected) in [3, 6, 8].into_iter().enumerate() {
        let step = i + 1;
        let status = d
            .wait_for(&format!("{expected} attackers"), ms(5000), |s| {
                s.step > step || (s.step == step && s.attackers == expected)
            })
            .await;
        assert_eq!(status.step, step, "interval {i} came and went: {status:?}");
    }
    // A fourth interval adds nothing: the count is clamped at its target.
    let status = d
        .wait_for("2.2 s of schedule", ms(10_000), |s| {
            s.schedule_elapsed_s >= 2.2
        })
        .await;
    assert_eq!((status.step, status.attackers), (3, 8), "{status:?}");
    assert_eq!(status.lateness.count, 3, "{status:?}");
    d.stop(ms(500)).await;
}

#[actix_rt::test]
async fn scale_down_waits_for_the_chain_then_interrupts_after_grace() {
    tokio::time::pause();
    // Chains take 10 s; scaling 4 → 1 after 2 s with a 1 s grace interrupts 3 of them.
    let schedule = Schedule::Workers(Workers::Seq {
        interval: ms(2000),
        workers: vec![4, 1],
    });
    let journeys = Arc::new(Counted {
        wait: ms(10_000),
        started: AtomicUsize::new(0),
    });
    let d = start(
        ON_TEST_THREAD,
        schedule,
        journeys.clone(),
        settings(ms(1000)),
    );
    let busy = d
        .wait_for("4 chains started", ms(5000), |_| {
            journeys.started.load(Ordering::SeqCst) == 4
        })
        .await;
    assert_eq!(busy.step, 1, "the chains started late: {busy:?}");
    let during = d
        .wait_for("the scale-down", ms(5000), |s| s.step == 2)
        .await;
    assert_eq!(during.target_attackers, Some(1));
    assert_eq!(during.retiring_attackers, 3, "still finishing: {during:?}");
    let after = d
        .wait_for("the grace's end", ms(5000), |s| s.retiring_attackers == 0)
        .await;
    assert_eq!(after.attackers, 1, "{after:?}");
    assert!(after.schedule_elapsed_s >= 3.0, "grace was cut: {after:?}");
    let summary = d.stop(ms(100)).await;
    // Three interrupted by the scale-down, the last by the shutdown.
    assert_eq!(summary.chains["wait"].interrupted, 4);
    assert_eq!(summary.chains["wait"].ok, 0);
}

/// A server whose every answer takes 300 ms.
fn slow_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(|| {
        App::new().route(
            "/slow",
            web::get().to(|| async {
                actix_rt::time::sleep(Duration::from_millis(300)).await;
                "slowly"
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    actix_rt::spawn(server);
    format!("http://{addr}/slow")
}

#[actix_rt::test]
async fn rate_starts_the_asked_number_of_chains_against_a_slow_target() {
    let url = slow_server();
    let rate = Rate {
        per_sec: 60.0,
        delta: None,
        max_in_flight: 1000,
    };
    let d = start(
        THREADS,
        Schedule::Rate(rate.clone()),
        Arc::new(SlowGet(url)),
        settings(ms(2000)),
    );
    let status = d
        .wait_for("3 s of schedule", ms(10_000), |s| {
            s.schedule_elapsed_s >= 3.0
        })
        .await;
    let expected = rate.starts_by(Duration::from_secs_f64(status.schedule_elapsed_s));
    assert!(
        status.starts.abs_diff(expected) <= 1,
        "{} starts, schedule says {expected}",
        status.starts
    );
    assert_eq!(status.dropped, 0);
    // About 60/s × 0.3 s = 18 chains in flight whatever the server's speed.
    assert!((10..=30).contains(&status.in_flight), "{status:?}");
    let starts = status.starts;
    let summary = d.stop(ms(2000)).await;
    let chains = &summary.chains["slow-get"];
    let done = chains.ok + chains.failed + chains.interrupted;
    // Starts keep coming until the shutdown arrives, a moment after the status was read.
    assert!(
        done >= starts && done <= starts + 3,
        "{done} chains for {starts} starts"
    );
    assert_eq!(chains.failed, 0);
    let asked = 60.0 * status.schedule_elapsed_s;
    let within_1pct = (starts as f64 - asked).abs() <= asked * 0.01 + 1.0;
    assert!(within_1pct, "{starts} starts, {asked:.1} asked");
    // Latency counts from the scheduled start, so it is at least the server's 300 ms.
    assert!(chains.latency_ms.as_ref().unwrap().min >= 300.0);
}

#[actix_rt::test]
async fn starts_beyond_max_in_flight_are_dropped_and_counted() {
    let url = slow_server();
    let rate = Rate {
        per_sec: 50.0,
        delta: None,
        max_in_flight: 5,
    };
    let d = start(
        THREADS,
        Schedule::Rate(rate),
        Arc::new(SlowGet(url)),
        settings(ms(2000)),
    );
    let status = d
        .wait_for("2 s of schedule", ms(10_000), |s| {
            s.schedule_elapsed_s >= 2.0
        })
        .await;
    assert!(status.in_flight <= 5, "{status:?}");
    // Five slots of 300 ms serve at most ~17 starts/s of the 50 asked.
    assert!(status.dropped >= 40, "{status:?}");
    let summary = d.stop(ms(2000)).await;
    let chains = &summary.chains["slow-get"];
    assert_eq!(
        summary.dropped_starts,
        status.dropped.max(summary.dropped_starts)
    );
    let done = chains.ok + chains.failed + chains.interrupted;
    assert!(
        done + summary.dropped_starts >= status.starts,
        "every start is accounted for"
    );
}

#[actix_rt::test]
async fn a_crashing_attacker_is_restarted_and_counted() {
    tokio::time::pause();
    let journeys = Arc::new(PanicsFirst {
        crashes: 2,
        runs: AtomicUsize::new(0),
    });
    let schedule = Schedule::Workers(Workers::Hammer { workers: 1 });
    let d = start(ON_TEST_THREAD, schedule, journeys, settings(ms(500)));
    // The first panic may take a while when RUST_BACKTRACE makes the hook symbolise.
    let deadline = Instant::now() + Duration::from_secs(10);
    let restarted = loop {
        let status = d.ramp.send(GetStatus).await.unwrap();
        if status.restarts == 2 || Instant::now() > deadline {
            break status;
        }
        actix_rt::time::sleep(ms(20)).await;
    };
    assert_eq!(restarted.restarts, 2, "{restarted:?}");
    assert_eq!(restarted.attackers, 1);
    // Back-off after the second crash is 200 ms; then 5 ms chains run back to back.
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.metrics.send(GetSummary).await.unwrap().chains["crashy"].ok < 10 {
        assert!(
            Instant::now() < deadline,
            "the attacker never worked again after its crashes"
        );
        actix_rt::time::sleep(ms(20)).await;
    }
    let summary = d.stop(ms(500)).await;
    assert_eq!(summary.chains["crashy"].failed, 2);
    assert_eq!(summary.attacker_restarts, 2);
    assert_eq!(summary.failures[0].reason, "panic");
    assert!(summary.failures[0].example.contains("injected crash"));
}

#[actix_rt::test]
async fn a_crash_loop_backs_off() {
    tokio::time::pause();
    let journeys = Arc::new(PanicsFirst {
        crashes: usize::MAX,
        runs: AtomicUsize::new(0),
    });
    let schedule = Schedule::Workers(Workers::Hammer { workers: 2 });
    let d = start(ON_TEST_THREAD, schedule, journeys, settings(ms(500)));
    // The first panic may take a while when RUST_BACKTRACE makes the hook symbolise.
    d.wait_for("two crashes", ms(10_000), |s| s.restarts >= 2)
        .await;
    // Without back-off two attackers would crash thousands of times in 1.6 s; with pauses
    // doubling from 100 ms each crashes at most 5 more times.
    actix_rt::time::sleep(ms(1600)).await;
    let status = d.ramp.send(GetStatus).await.unwrap();
    assert!(status.restarts <= 12, "{status:?}");
    d.stop(ms(500)).await;
}

/// A shard whose `--start-at` was 1 s ago skips the starts due before it joined and runs its
/// quarter of the schedule from there; one whose start is ahead waits for it.
#[actix_rt::test]
async fn a_shard_joins_late_or_waits_for_its_start() {
    tokio::time::pause();
    let shard = Shard::parse("2/4").unwrap();
    let rate = Rate {
        per_sec: 100.0,
        delta: None,
        max_in_flight: 50,
    };
    let quick = || {
        Arc::new(PanicsFirst {
            crashes: 0,
            runs: AtomicUsize::new(0),
        })
    };
    let late = RampSpec {
        settings: settings(ms(2000)),
        shard: Some(shard),
        begin: Some(actix_rt::time::Instant::now() - ms(1000)),
        ..RampSpec::new(ON_TEST_THREAD, Schedule::Rate(rate.clone()), quick())
    }
    .start();
    let status = late.wait_for("starts", ms(5000), |s| s.starts > 0).await;
    assert_eq!(status.shard.as_deref(), Some("2/4"));
    assert_eq!(status.rate_per_s, Some(25.0));
    // Global starts 0..=99 were due in the first second, 25 of them this shard's; more if the
    // Ramp joined later: as it started, `schedule_elapsed_s − uptime_s` into the schedule.
    let joined_by = Duration::from_secs_f64(status.schedule_elapsed_s - status.uptime_s) + ms(20);
    assert!(
        (25..=shard.starts_by(&rate, joined_by)).contains(&status.skipped_starts),
        "{status:?}"
    );
    // Skipped and dispatched together are this shard's starts due by now, give or take the
    // one due between the two readings.
    let due = shard.starts_by(&rate, Duration::from_secs_f64(status.schedule_elapsed_s));
    let seen = status.skipped_starts + status.starts;
    assert!(
        due.abs_diff(seen) <= 1,
        "{due} due, {seen} seen: {status:?}"
    );
    assert!(status.starts > 0, "{status:?}");
    late.stop(ms(2000)).await;

    // Ahead of the status read below: on the paused clock nothing moves until all waits.
    let begin = actix_rt::time::Instant::now() + ms(1500);
    let early = RampSpec {
        settings: settings(ms(2000)),
        shard: Some(shard),
        begin: Some(begin),
        ..RampSpec::new(ON_TEST_THREAD, Schedule::Rate(rate), quick())
    }
    .start();
    let waiting = early.ramp.send(GetStatus).await.unwrap();
    assert!(
        actix_rt::time::Instant::now() < begin,
        "the status came after the start"
    );
    assert_eq!(
        (waiting.starts, waiting.skipped_starts),
        (0, 0),
        "{waiting:?}"
    );
    assert_eq!(waiting.schedule_elapsed_s, 0.0);
    let running = early
        .wait_for("starts after --start-at", ms(5000), |s| s.starts > 0)
        .await;
    assert_eq!(running.skipped_starts, 0, "{running:?}");
    early.stop(ms(2000)).await;
}
