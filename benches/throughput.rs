//! How many issuance chains per second one core of wile-e-coyote sustains, and what each
//! costs. `cargo bench --bench throughput`:
//!
//! - this process pins itself to CPU 1 and starts the fast CA (`testca`, `Config::fast()`, one
//!   worker, HTTPS) in-process; each step runs the release `wile-e-coyote` pinned to CPU 0, in
//!   `rate R` mode, issuance only (one name, P-256, http-01), for `WEC_BENCH_SECS` (10 s);
//! - `R` steps up (`WEC_BENCH_RATES`, comma-separated, overrides the list) until chains fail or
//!   lag (a failure, fewer than 99% of the starts asked, a dropped start, or starts late by
//!   5 ms at p99); each step prints one row (see `throughput/step.rs` for what is measured);
//! - then one run against Pebble at 50 chains/s, Pebble pinned to CPU 1 (skipped when Pebble
//!   is not installed).
//!
//! On a machine with one CPU nothing is pinned. Idle memory per attacker is measured by
//! `cargo bench --bench ramp`. `tests/throughput.rs` is the small checked version; under
//! `cargo test --all-targets` (no `--bench` argument) this binary does nothing.

// The rig and its harness are shared with tests/throughput.rs, which includes them the same way.
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "throughput/mod.rs"]
mod rig;

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};

use rig::fast_ca::FastCa;
use rig::pebble::PebbleCa;
use rig::step::{self, Plan, Step};
use rig::{probe, table, Ca};

const RATES: &[u32] = &[
    100, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000, 2500, 3000,
];
/// Bounds on what `WEC_BENCH_RATES` and `WEC_BENCH_SECS` may ask.
const MAX_STEPS: usize = 20;
const MAX_RATE: u32 = 5000;
const MAX_SECS: u64 = 120;
/// The whole stepping stops after this long, whatever is left.
const MAX_STEPPING: Duration = Duration::from_secs(15 * 60);
const PEBBLE_RATE: u32 = 50;

fn rates() -> Result<Vec<u32>> {
    let rates = match std::env::var("WEC_BENCH_RATES") {
        Ok(list) => list
            .split(',')
            .map(|r| r.trim().parse().context("WEC_BENCH_RATES"))
            .collect::<Result<Vec<u32>>>()?,
        Err(_) => RATES.to_vec(),
    };
    ensure!(
        !rates.is_empty() && rates.len() <= MAX_STEPS,
        "WEC_BENCH_RATES: 1 to {MAX_STEPS} rates"
    );
    ensure!(
        rates.iter().all(|r| (1..=MAX_RATE).contains(r)),
        "WEC_BENCH_RATES: each 1 to {MAX_RATE}"
    );
    Ok(rates)
}

fn duration() -> Result<Duration> {
    let secs = match std::env::var("WEC_BENCH_SECS") {
        Ok(s) => s.trim().parse().context("WEC_BENCH_SECS")?,
        Err(_) => 10,
    };
    ensure!(
        (3..=MAX_SECS).contains(&secs),
        "WEC_BENCH_SECS: 3 to {MAX_SECS}"
    );
    Ok(Duration::from_secs(secs))
}

fn measure(ca: &dyn Ca, plan: &Plan, dir: &std::path::Path) -> Result<Step> {
    let step = step::run(ca, plan, dir)?;
    println!("{}", table::row(&step));
    // Chains that failed stopped short of the minimum: only complete runs are compared.
    let unexplained = step.requests.unexplained();
    if step.failures() == 0 && unexplained != 0 {
        println!("  ({unexplained} requests beyond the minimum were neither polls nor newNonce)");
    }
    Ok(step)
}

fn main() -> Result<()> {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "throughput: run by `cargo bench --bench throughput`; tests/throughput.rs checks it"
        );
        return Ok(());
    }
    let (rates, duration) = (rates()?, duration()?);
    let tool_cpu = if probe::cpus() >= 2 {
        probe::pin_this_thread(1)?;
        println!("pinned: wile-e-coyote to CPU 0, the CA (and this process) to CPU 1");
        Some(0)
    } else {
        println!("one CPU: nothing pinned, the tool and the CA share it");
        None
    };
    let dir = tempfile::tempdir()?;
    println!(
        "issuance only (one name, P-256, http-01), {} s per step, steady-state window from \
         30% of it to 0.5 s before its end\n\n{}",
        duration.as_secs(),
        table::HEADER
    );

    let ca = FastCa::start(dir.path())?;
    let stepping = Instant::now();
    let mut sustained = None;
    for &rate in &rates {
        let plan = Plan {
            rate,
            duration,
            tool_cpu,
        };
        let step = measure(&ca, &plan, dir.path())?;
        if let Some(why) = step.lag() {
            let (tool, ca) = step.busy();
            println!(
                "\nstopped at {rate}/s: {why}; cores busy: the tool's {:.0}%, the CA's {:.0}%",
                tool * 100.0,
                ca * 100.0
            );
            break;
        }
        sustained = Some(step);
        if stepping.elapsed() > MAX_STEPPING {
            println!("\nstopped: stepping took over {MAX_STEPPING:?}");
            break;
        }
    }
    match &sustained {
        Some(s) => println!(
            "sustained: {:.0} issuance chains/s ({}/s asked), {:.3} ms of tool CPU per chain, \
             p99 {:.1} ms",
            s.ok_per_s,
            s.rate,
            s.tool_cpu_per_chain * 1e3,
            s.p99_ms
        ),
        None => println!("sustained: none of the rates asked"),
    }
    drop(ca);

    match PebbleCa::start()? {
        None => println!("\nPebble: skipped (`pebble` is not installed: scripts/install-deps)"),
        Some(pebble) => {
            println!("\n{}", table::HEADER);
            let plan = Plan {
                rate: PEBBLE_RATE,
                duration,
                tool_cpu,
            };
            let step = measure(&pebble, &plan, dir.path())?;
            if let Some(why) = step.lag() {
                println!("\nPebble at {PEBBLE_RATE}/s: {why}");
            }
        }
    }
    println!("\nidle memory per attacker: `cargo bench --bench ramp`");
    Ok(())
}
