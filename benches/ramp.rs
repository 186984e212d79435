//! The Ramp under 1,000 and 10,000 attackers, without a CA: how late the Ramp applies step
//! changes, and how much memory idle attackers cost. Chains are a fixed wait (what is measured
//! is the Ramp, not a server). Run: `cargo bench --bench ramp`. Under `cargo test` (no
//! `--bench` argument) it runs a small version with the same checks, so it cannot rot.

use std::sync::Arc;
use std::time::Duration;

use wile_e_coyote::ramp::{GetStatus, RampStatus};
use wile_e_coyote::schedule::{Schedule, Workers};
use wile_e_coyote::test_support::ramp::{self, RampRig, RampSpec, Wait};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

fn start(schedule: Schedule, chain: Duration, think: Duration) -> RampRig {
    let mut settings = ramp::settings();
    settings.run.think_time = think;
    settings.run.grace_period = Duration::from_secs(1);
    RampSpec {
        settings,
        ..RampSpec::new(2, schedule, Arc::new(Wait(chain)))
    }
    .start()
}

async fn step_lateness(high: usize, steps: usize) {
    // Steps of 250 ms alternating between `high` and `high / 2` attackers whose chains take
    // 50 ms.
    let workers = (0..steps)
        .map(|i| if i % 2 == 0 { high } else { high / 2 })
        .collect();
    let schedule = Schedule::Workers(Workers::Seq {
        interval: Duration::from_millis(250),
        workers,
    });
    let rig = start(schedule, Duration::from_millis(50), Duration::ZERO);
    actix_rt::time::sleep(Duration::from_millis(steps as u64 * 250 + 100)).await;
    let status = rig.ramp.send(GetStatus).await.unwrap();
    assert_eq!(status.lateness.count, steps as u64);
    assert_eq!(
        status.attackers,
        if steps % 2 == 0 { high / 2 } else { high }
    );
    println!(
        "step lateness with {high} attackers ({} steps of 250 ms, {high} <-> {}, 50 ms chains): \
         p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; attackers at the end {}",
        status.lateness.count,
        high / 2,
        status.lateness.p50_ms,
        status.lateness.p99_ms,
        status.lateness.max_ms,
        status.attackers
    );
    rig.stop(Duration::from_secs(1)).await;
}

async fn idle_memory(n: usize) {
    let before = rss_kib();
    // Each attacker runs one instant chain, then thinks for an hour: idle between chains. A
    // tenth of them come first, then the rest: what the rest add is the cost of one more
    // attacker, apart from what the first ones bring in once (the allocator's arenas, thread
    // heaps, the Ramp's tables).
    let first = n / 10;
    let step = Duration::from_secs(5);
    let schedule = Schedule::Workers(Workers::Seq {
        interval: step,
        workers: vec![first, n],
    });
    let started = std::time::Instant::now();
    let rig = start(schedule, Duration::ZERO, Duration::from_secs(3600));
    let working = |n: usize| move |s: &RampStatus| s.attackers == n;
    let limit = Duration::from_secs(60);
    rig.wait_for("the first tenth of the attackers", limit, working(first))
        .await;
    // Their instant chains end within milliseconds; the next step is due at 5 s.
    actix_rt::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        started.elapsed() < step,
        "the first step's memory was read too late"
    );
    let some = rss_kib();
    rig.wait_for("all attackers", limit, working(n)).await;
    actix_rt::time::sleep(Duration::from_millis(1000)).await;
    let all = rss_kib();
    println!(
        "{n} idle attackers: RSS {before} KiB before, {all} KiB with them ({:.1} KiB each); \
         from {first} to {n}: {:.1} KiB per attacker added",
        (all - before) as f64 / n as f64,
        (all - some) as f64 / (n - first) as f64,
    );
    rig.stop(Duration::from_secs(1)).await;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    actix_rt::System::new().block_on(async {
        match args.first().map(String::as_str) {
            Some("idle") => idle_memory(args[1].parse().unwrap()).await,
            Some("lateness") => {
                step_lateness(args[1].parse().unwrap(), args[2].parse().unwrap()).await
            }
            _ => {
                // Each case in a fresh process, so one does not inflate the other's memory.
                let cases: &[&[&str]] = if bench {
                    &[
                        &["lateness", "1000", "40"],
                        &["idle", "1000"],
                        &["idle", "10000"],
                    ]
                } else {
                    &[&["lateness", "100", "4"], &["idle", "100"]]
                };
                let exe = std::env::current_exe().unwrap();
                for case in cases {
                    let status = std::process::Command::new(&exe)
                        .args(*case)
                        .status()
                        .unwrap();
                    assert!(status.success(), "{case:?} failed");
                }
            }
        }
    });
}
