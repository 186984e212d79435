//! Ingestion rate of the Metrics actor and its memory over 10 million events.
//!
//! `cargo bench --bench metrics_ingest` feeds the actor, on its own arbiter thread as in the
//! daemon, chain reports of 1 chain outcome + 12 request records (13 events each) from the main
//! thread, in batches of 10,000 reports; after each batch it waits for the actor to drain its
//! mailbox, so the queue never holds more than one batch. It reports events per second of the
//! actor thread's CPU time (the rate one core sustains), the wall-clock rate, and the process's
//! resident memory after every million events. Three configurations: no StatsD; StatsD to a
//! loopback UDP socket nobody reads (every timing line formatted, packed and sent); StatsD with
//! `timing_sample_rate = 0.1`.
//!
//! A fourth part feeds the same events straight into the aggregation (`Stats`, no actor, no
//! StatsD) as if they were spread over a 24-hour run, to show that the time series stays
//! bounded as intervals grow coarser.
//!
//! Under `cargo test` (no `--bench` argument) it runs a few thousand events per configuration
//! and checks the counts, so the benchmark cannot rot.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use actix::prelude::*;
use wile_e_coyote::acme::wire::ChallengeType;
use wile_e_coyote::acme::{Endpoint, RequestOutcome, RequestRecord};
use wile_e_coyote::config::StatsdSettings;
use wile_e_coyote::metrics::progress::Progress;
use wile_e_coyote::metrics::stats::Stats;
use wile_e_coyote::metrics::statsd::Statsd;
use wile_e_coyote::metrics::{AttackerCount, ChainDone, ChainOutcome, Finish, Metrics};

const REQUESTS_PER_CHAIN: usize = 12;
const EVENTS_PER_CHAIN: u64 = 1 + REQUESTS_PER_CHAIN as u64;
const BATCH: u64 = 10_000;

const ENDPOINTS: [Endpoint; 6] = [
    Endpoint::NewAccount,
    Endpoint::NewOrder,
    Endpoint::Authz,
    Endpoint::Challenge(ChallengeType::Http01),
    Endpoint::Finalize,
    Endpoint::Certificate,
];

/// A chain report with latencies spread over a few decades, like a real run.
fn report(i: u64) -> ChainDone {
    let requests = (0..REQUESTS_PER_CHAIN as u64)
        .map(|j| RequestRecord {
            endpoint: ENDPOINTS[(j % 6) as usize],
            outcome: match (i + j) % 50 {
                0 => RequestOutcome::BadNonceRetried,
                1 => RequestOutcome::Failed,
                _ => RequestOutcome::Ok,
            },
            status: 200,
            took: Duration::from_micros(300 + (i * 7919 + j * 104_729) % 20_000),
            bytes_in: 1200,
            bytes_out: 700,
        })
        .collect();
    let outcome = if i % 100 == 0 {
        ChainOutcome::Failed {
            reason: "acme:rejectedIdentifier".into(),
            message: "newOrder: HTTP 400".into(),
        }
    } else {
        ChainOutcome::Ok
    };
    let took = Duration::from_micros(50_000 + (i * 7919) % 150_000);
    ChainDone::new("issue", took, outcome, requests)
}

/// CPU time (user + system) of thread `tid` of this process, in seconds.
fn thread_cpu(tid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    let fields: Vec<u64> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (fields[0] + fields[1]) as f64 / hz
}

fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

struct Outcome {
    events: u64,
    cpu_s: f64,
    wall_s: f64,
    rss_mib: Vec<(u64, f64)>,
}

async fn run(name: &str, statsd: Option<StatsdSettings>, events: u64) -> Outcome {
    // Datagrams to a socket nobody reads are dropped by the kernel after the send.
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let statsd = statsd.map(|settings| {
        let address = sink.local_addr().unwrap().to_string();
        (
            Statsd::connect(&settings, &address).unwrap(),
            settings.flush_interval,
        )
    });
    let arbiter = Arbiter::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    arbiter.spawn_fn(move || {
        // SAFETY: gettid has no preconditions.
        let _ = tx.send(unsafe { libc::gettid() });
    });
    let tid = rx.await.unwrap();
    let metrics = Metrics::new(Progress::off(), statsd);
    let addr = Metrics::start_in_arbiter(&arbiter.handle(), move |_| metrics);
    addr.send(AttackerCount(64)).await.unwrap();

    let chains = events.div_ceil(EVENTS_PER_CHAIN);
    let (cpu0, started) = (thread_cpu(tid), Instant::now());
    let mut rss_mib = Vec::new();
    let mut next_report = 1_000_000;
    let mut sent = 0;
    while sent < chains {
        let end = (sent + BATCH).min(chains);
        for i in sent..end {
            addr.do_send(report(i));
        }
        sent = end;
        // FIFO mailbox: when this is answered, the batch has been ingested.
        addr.send(AttackerCount(64)).await.unwrap();
        if sent * EVENTS_PER_CHAIN >= next_report {
            rss_mib.push((sent * EVENTS_PER_CHAIN, resident_mib()));
            next_report += 1_000_000;
        }
    }
    let (cpu_s, wall_s) = (thread_cpu(tid) - cpu0, started.elapsed().as_secs_f64());
    let summary = addr.send(Finish).await.unwrap();
    assert_eq!(
        summary.chains_ok() + summary.chains_failed(),
        chains,
        "{name}: every chain counted"
    );
    let requests: u64 = summary
        .requests
        .values()
        .map(|r| r.ok + r.failed + r.bad_nonce_retried)
        .sum();
    assert_eq!(requests, chains * REQUESTS_PER_CHAIN as u64, "{name}");
    arbiter.stop();
    Outcome {
        events: chains * EVENTS_PER_CHAIN,
        cpu_s,
        wall_s,
        rss_mib,
    }
}

/// `events` spread evenly over a simulated day, straight into `Stats`.
fn simulated_day(events: u64) -> (f64, f64, usize) {
    let chains = events.div_ceil(EVENTS_PER_CHAIN);
    let day = Duration::from_secs(86_400);
    let mut stats = Stats::default();
    stats.set_attackers(64);
    let before = resident_mib();
    for i in 0..chains {
        let now = day.mul_f64(i as f64 / chains as f64);
        stats.add_chain(&report(i), now);
    }
    let summary = stats.summary(day);
    assert_eq!(summary.chains_ok() + summary.chains_failed(), chains);
    (before, resident_mib(), summary.timeseries.points.len())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let events = if bench { 10_000_000 } else { 20_000 };
    let sampled = StatsdSettings {
        timing_sample_rate: 0.1,
        ..StatsdSettings::default()
    };
    let configs = [
        ("no StatsD", None),
        ("StatsD, every timing", Some(StatsdSettings::default())),
        ("StatsD, 10% of timings", Some(sampled)),
    ];
    let (before, after, points) = simulated_day(events);
    println!(
        "{:<24} {events} events over a simulated 24 h: RSS {before:.1} -> {after:.1} MiB, \
         {points} time-series points",
        "Stats alone"
    );
    let system = System::new();
    for (name, statsd) in configs {
        let o = system.block_on(run(name, statsd, events));
        if !bench {
            println!("{name}: {} events ingested and counted", o.events);
            continue;
        }
        println!(
            "{name:<24} {} events: {:.2} M events/s per actor-thread CPU second ({:.2} s CPU), \
             {:.2} M events/s wall ({:.2} s)",
            o.events,
            o.events as f64 / o.cpu_s.max(1e-9) / 1e6,
            o.cpu_s,
            o.events as f64 / o.wall_s / 1e6,
            o.wall_s,
        );
        if !o.rss_mib.is_empty() {
            let rss: Vec<String> = o
                .rss_mib
                .iter()
                .map(|(n, mib)| format!("{}M:{mib:.1}", n / 1_000_000))
                .collect();
            println!("{:<24} RSS MiB after events: {}", "", rss.join(" "));
        }
    }
}
