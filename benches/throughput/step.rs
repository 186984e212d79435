//! One step: the release `wile-e-coyote` in `rate` mode against a CA for a fixed time, in a
//! process of its own, measured from outside. CPU and throughput come from two samples in the
//! steady state (after a warm-up, before the schedule ends), so start-up (keys, the directory,
//! threads) and the drain at the end are left out; counts of requests, latencies and TLS
//! handshakes come from the whole run (the JSON report, the CA's counter).

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::probe::{self, Reaped, Status};
use super::{write_config, Ca};
use crate::common::{free_port, wec};

/// How long the tool may take to answer its control API after being started.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long after its schedule ends the tool may take to exit: the grace period of the config
/// (10 s), then writing the report.
const EXIT_TIMEOUT: Duration = Duration::from_secs(40);
/// Before the end of the schedule, the second sample.
const TAIL: Duration = Duration::from_millis(500);
/// Period of the readiness and exit polls.
const POLL: Duration = Duration::from_millis(20);

/// What to run.
pub struct Plan {
    /// Chains per second asked (`rate R`).
    pub rate: u32,
    pub duration: Duration,
    /// The CPU the tool is pinned to, if any.
    pub tool_cpu: Option<usize>,
}

impl Plan {
    /// The steady-state window starts this long into the schedule: 30% of it, 1 to 5 s.
    fn warmup(&self) -> Duration {
        self.duration
            .mul_f64(0.3)
            .clamp(Duration::from_secs(1), Duration::from_secs(5))
    }
}

/// The requests of a run, from the report, `badNonce` re-sends left out. An issue chain of one
/// name must send newOrder, the authorization (POST-as-GET), the challenge answer, at least
/// one poll of the authorization, finalize and the certificate download: six requests, plus
/// newAccount when it registers. Polls beyond the first, order polls (finalize answered
/// `processing`) and newNonce (the tool's nonce pool ran dry) are what a chain sends beyond
/// that minimum.
#[derive(Debug, Clone, Default)]
pub struct Requests {
    pub total: u64,
    /// Six per order plus the registrations.
    pub minimum: u64,
    /// Authorization polls (requests to the authorization beyond one per order) and order
    /// polls.
    pub polls: u64,
    pub orders: u64,
    pub nonces: u64,
}

impl Requests {
    fn from_report(requests: &Value) -> Result<Requests> {
        let endpoints = requests.as_object().context("report: no requests")?;
        let count = |name: &str| {
            let e = &endpoints.get(name).unwrap_or(&Value::Null);
            ["ok", "failed", "expected", "rate_limited"]
                .iter()
                .map(|k| e[k].as_u64().unwrap_or(0))
                .sum::<u64>()
        };
        let total = endpoints.keys().map(|k| count(k)).sum();
        let orders = count("newOrder");
        Ok(Requests {
            total,
            minimum: count("newAccount") + 6 * orders,
            polls: count("authz").saturating_sub(orders) + count("order"),
            orders,
            nonces: count("newNonce"),
        })
    }

    /// Requests beyond the minimum that are neither polls nor nonces: 0 unless a chain
    /// repeated a step or called an endpoint the issue chain does not.
    pub fn unexplained(&self) -> i128 {
        i128::from(self.total)
            - i128::from(self.minimum)
            - (i128::from(self.polls) - i128::from(self.orders))
            - i128::from(self.nonces)
    }
}

/// What one step measured.
#[derive(Debug, Clone)]
pub struct Step {
    pub ca: &'static str,
    pub rate: u32,
    /// Chains of the whole run.
    pub ok: u64,
    pub failed: u64,
    pub interrupted: u64,
    /// Successful chains per second in the steady-state window.
    pub ok_per_s: f64,
    /// CPU seconds of the tool per successful chain in the window.
    pub tool_cpu_per_chain: f64,
    pub requests: Requests,
    /// TLS connections the CA accepted during the run, per chain.
    pub handshakes_per_chain: Option<f64>,
    /// Latency of successful chains, whole run, ms.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The tool's VmHWM, last read before it exited.
    pub peak_rss_kib: u64,
    /// CPU seconds of the CA per successful chain in the window.
    pub ca_cpu_per_chain: f64,
    /// Open-model accuracy at the last sample: chains started, R × elapsed, dropped, and how
    /// late starts were (p99 over the run so far).
    pub starts: u64,
    pub asked: f64,
    pub dropped: u64,
    pub lateness_p99_ms: f64,
}

impl Step {
    pub fn failures(&self) -> u64 {
        self.failed + self.interrupted
    }

    pub fn chains(&self) -> u64 {
        self.ok + self.failures()
    }

    /// Requests per chain, as sent by the tool.
    pub fn requests_per_chain(&self) -> f64 {
        self.requests.total as f64 / self.chains().max(1) as f64
    }

    /// The tool's CPU per request, seconds.
    pub fn tool_cpu_per_request(&self) -> f64 {
        self.tool_cpu_per_chain / self.requests_per_chain()
    }

    /// How busy the tool's and the CA's cores were in the window (1.0: a whole core), to
    /// tell which side limited a step.
    pub fn busy(&self) -> (f64, f64) {
        (
            self.tool_cpu_per_chain * self.ok_per_s,
            self.ca_cpu_per_chain * self.ok_per_s,
        )
    }

    /// Why the tool did not keep up with the rate asked, if it did not.
    pub fn lag(&self) -> Option<String> {
        if self.failures() > 0 {
            Some(format!("{} chains failed", self.failures()))
        } else if (self.starts as f64) < 0.99 * self.asked {
            Some(format!(
                "{} chains started of {:.0} asked",
                self.starts, self.asked
            ))
        } else if self.dropped > 0 {
            Some(format!("{} starts dropped", self.dropped))
        } else if self.lateness_p99_ms >= 5.0 {
            Some(format!(
                "starts late by {:.1} ms (p99)",
                self.lateness_p99_ms
            ))
        } else {
            None
        }
    }
}

/// The tool's and the CA's state at one instant.
struct Sample {
    status: Status,
    tool_cpu: f64,
    ca_cpu: f64,
}

fn sample(control_port: u16, tool_pid: u32, ca: &dyn Ca) -> Result<Sample> {
    Ok(Sample {
        status: probe::status(control_port)?,
        tool_cpu: probe::cpu_seconds(&tool_pid.to_string())?,
        ca_cpu: ca.cpu_seconds()?,
    })
}

/// The tail of the tool's log, for an error message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Polls the control API until the schedule has started.
fn wait_started(tool: &mut Reaped, control_port: u16, log: &Path) -> Result<Status> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(exit) = tool.0.try_wait()? {
            bail!("wile-e-coyote exited at start ({exit}):\n{}", log_tail(log));
        }
        if let Ok(status) = probe::status(control_port) {
            if status.schedule_elapsed_s > 0.0 {
                return Ok(status);
            }
        }
        if Instant::now() > deadline {
            bail!("wile-e-coyote did not start within {START_TIMEOUT:?}");
        }
        std::thread::sleep(POLL);
    }
}

/// Waits for the tool to exit, reading its peak memory meanwhile (gone once it has exited).
fn wait_exit(tool: &mut Reaped, limit: Duration, log: &Path) -> Result<u64> {
    let pid = tool.0.id();
    let deadline = Instant::now() + limit;
    let mut peak = 0;
    loop {
        if let Ok(kib) = probe::peak_rss_kib(pid) {
            peak = kib;
        }
        if let Some(exit) = tool.0.try_wait()? {
            // 3: no chain succeeded, which the report shows.
            if !matches!(exit.code(), Some(0 | 3)) {
                bail!("wile-e-coyote ended {exit}:\n{}", log_tail(log));
            }
            return Ok(peak);
        }
        if Instant::now() > deadline {
            bail!("wile-e-coyote did not exit within {limit:?} of its schedule's end");
        }
        std::thread::sleep(POLL);
    }
}

fn sleep_until(at: Instant) {
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
}

/// Runs the tool as `plan` says against `ca`, its files under `dir`, and measures it.
pub fn run(ca: &dyn Ca, plan: &Plan, dir: &Path) -> Result<Step> {
    let control_port = free_port();
    let config = dir.join(format!("wec-{}.toml", plan.rate));
    let report = dir.join(format!("report-{}.json", plan.rate));
    let log = dir.join(format!("wec-{}.log", plan.rate));
    write_config(ca.target(), control_port, &config)?;
    let out = File::create(&log)?;
    let mut cmd = wec();
    cmd.arg("--config")
        .arg(&config)
        .arg("--duration")
        .arg(format!("{}ms", plan.duration.as_millis()))
        .arg("--report")
        .arg(&report)
        .args(["rate", &plan.rate.to_string()])
        .stdout(out.try_clone()?)
        .stderr(out);
    if let Some(cpu) = plan.tool_cpu {
        probe::pin_command(&mut cmd, cpu);
    }
    let connections_before = ca.connections();
    let mut tool = Reaped(cmd.spawn().context("starting wile-e-coyote")?);
    let pid = tool.0.id();

    let started = wait_started(&mut tool, control_port, &log)?;
    let origin = Instant::now() - Duration::from_secs_f64(started.schedule_elapsed_s);
    sleep_until(origin + plan.warmup());
    let a = sample(control_port, pid, ca)?;
    sleep_until(origin + plan.duration.saturating_sub(TAIL));
    let b = sample(control_port, pid, ca)?;
    let peak_rss_kib = wait_exit(&mut tool, EXIT_TIMEOUT, &log)?;

    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(&report).with_context(|| report.display().to_string())?,
    )?;
    let issue = &r["chains"]["issue"];
    let count = |k: &str| issue[k].as_u64().unwrap_or(0);
    let latency = |p: &str| issue["latency_ms"][p].as_f64().unwrap_or(f64::NAN);
    let (ok, failed, interrupted) = (count("ok"), count("failed"), count("interrupted"));
    let window_ok = b.status.chains_ok.saturating_sub(a.status.chains_ok);
    let window_s = b.status.schedule_elapsed_s - a.status.schedule_elapsed_s;
    let per_chain = |seconds: f64| seconds / window_ok as f64;
    let handshakes = connections_before
        .zip(ca.connections())
        .map(|(before, after)| (after - before) as f64 / (ok + failed + interrupted).max(1) as f64);
    Ok(Step {
        ca: ca.target().name,
        rate: plan.rate,
        ok,
        failed,
        interrupted,
        ok_per_s: window_ok as f64 / window_s,
        tool_cpu_per_chain: per_chain(b.tool_cpu - a.tool_cpu),
        requests: Requests::from_report(&r["requests"])?,
        handshakes_per_chain: handshakes,
        p50_ms: latency("p50"),
        p99_ms: latency("p99"),
        peak_rss_kib,
        ca_cpu_per_chain: per_chain(b.ca_cpu - a.ca_cpu),
        starts: b.status.starts,
        asked: f64::from(plan.rate) * b.status.schedule_elapsed_s,
        dropped: b.status.dropped,
        lateness_p99_ms: b.status.lateness.p99_ms,
    })
}
