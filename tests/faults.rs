//! The tool against a CA that misbehaves: Pebble behind a fault-injecting proxy (outages,
//! 503 and 429 with `Retry-After`, garbage, hangs, trickling bodies) and a hostile ACME server
//! (random problem types, 1 GB bodies, endless chunks, redirect loops). Each run must leave the
//! process alive with bounded memory, attribute failures to the endpoint and reason they
//! happened at, never wait past a request's timeout, respect `Retry-After`, not storm a CA that
//! is down, and recover once the fault ends.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::fault_proxy::{Fault, FaultProxy, Plan};
use common::hostile_ca::{HostileCa, Hostility};
use common::{show, wec, Pebble};
use serde_json::Value;

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// A config for the CA at `directory` (Pebble, the proxy in front of it, or a hostile CA),
/// trusting Pebble's CA and answering Pebble's challenges as the harness config does; `extra`
/// TOML is appended.
fn config(pebble: &Pebble, directory: &str, extra: &str) -> PathBuf {
    let toml = format!(
        "[target]\ndirectory_url = \"{directory}\"\nrequest_timeout = \"3s\"\nca_cert = \"ca.pem\"\nflavor = \"pebble\"\n\n\
         [polling]\ninterval = \"20ms\"\nmax_interval = \"500ms\"\ntimeout = \"10s\"\n\n\
         [challenge]\nhttp01_listen = [\"127.0.0.1:{}\"]\ntlsalpn01_listen = [\"127.0.0.1:{}\"]\n\
         dns_listen = [\"127.0.0.1:{}\"]\n\n\
         [run]\ngrace_period = \"5s\"\n\n[control]\nlisten = \"127.0.0.1:0\"\n\n{extra}",
        pebble.http01_port, pebble.tlsalpn01_port, pebble.dns_port
    );
    let path = pebble.path("faults.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// A run in progress, sampled for its resident memory until it ends.
struct Running {
    child: Child,
    peak_rss_kib: u64,
}

impl Running {
    fn start(config: &PathBuf, report: &PathBuf, duration: &str, mode: &[&str]) -> Running {
        Running::start_with(config, report, duration, mode, &[])
    }

    /// As `start`, with environment overrides.
    fn start_with(
        config: &PathBuf,
        report: &PathBuf,
        duration: &str,
        mode: &[&str],
        env: &[(&str, &str)],
    ) -> Running {
        let child = wec()
            .arg("--config")
            .arg(config)
            .args(["--duration", duration, "--report"])
            .arg(report)
            .args(mode)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Running {
            child,
            peak_rss_kib: 0,
        }
    }

    fn sample(&mut self) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        let rss = status.ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        });
        self.peak_rss_kib = self.peak_rss_kib.max(rss.unwrap_or(0));
    }

    /// Samples until `done` holds (or `limit` passes).
    fn until(&mut self, limit: Duration, mut done: impl FnMut() -> bool) {
        let started = Instant::now();
        while !done() && started.elapsed() < limit {
            self.sample();
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(done(), "condition not met within {limit:?}");
    }

    /// Waits for the end (killing the process after `limit`), reading its output.
    fn finish(mut self, limit: Duration) -> (Output, u64) {
        let mut stdout = self.child.stdout.take().unwrap();
        let mut stderr = self.child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = stdout.read_to_end(&mut b);
            b
        });
        let err = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = stderr.read_to_end(&mut b);
            b
        });
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < limit,
                "the run did not end within {limit:?}"
            );
            self.sample();
            std::thread::sleep(Duration::from_millis(50));
        };
        let output = Output {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        };
        (output, self.peak_rss_kib)
    }
}

/// During a CA outage (every connection reset), attackers back off instead of starting
/// failing chains in a tight loop, log a bounded number of lines, and chains succeed again
/// within seconds of the CA coming back.
#[test]
fn an_outage_backs_off_and_the_run_recovers() {
    let pebble = Pebble::start();
    let proxy = FaultProxy::start(
        &pebble.directory_url().replace("/dir", ""),
        pebble.dir.path(),
    );
    let cfg = config(&pebble, &proxy.directory_url(), "");
    let report = pebble.path("outage.json");
    let mut run = Running::start(&cfg, &report, "14s", &["hammer", "4"]);
    run.until(Duration::from_secs(30), || proxy.passed("certZ") >= 5);
    proxy.set(Plan::all(Fault::Reset));
    let (before, _) = proxy.counts();
    let outage = Instant::now();
    run.until(Duration::from_secs(10), || {
        outage.elapsed() >= Duration::from_secs(4)
    });
    let (after, _) = proxy.counts();
    proxy.set(Plan::pass());
    let issued_before = proxy.passed("certZ");
    run.until(Duration::from_secs(20), || {
        proxy.passed("certZ") > issued_before
    });
    let recovered = outage.elapsed();
    let (out, peak) = run.finish(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // Backing off from 100 ms, doubling to 10 s: a handful of chains per attacker in 4 s; each
    // meets the reset at its first request or two. A tight loop would make thousands.
    let during = after - before;
    assert!(
        during <= 4 * 12,
        "{during} requests during a 4 s outage\n{}",
        show(&out)
    );
    assert!(
        recovered < Duration::from_secs(4 + 12),
        "recovered after {recovered:?}"
    );
    let r = common::report(&report);
    assert!(count(&r["waits"]["backoff"]["count"]) > 0, "{}", r["waits"]);
    assert!(
        r["failures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["reason"].as_str().unwrap().starts_with("transport:")),
        "{}",
        r["failures"]
    );
    let stderr_lines = String::from_utf8_lossy(&out.stderr).lines().count();
    assert!(stderr_lines < 200, "{stderr_lines} lines of stderr");
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
}

/// A 503 with `Retry-After` keeps the attacker away that long: a handful of requests in 5 s,
/// the waits counted in the report.
#[test]
fn retry_after_on_a_503_is_respected() {
    let pebble = Pebble::start();
    let proxy = FaultProxy::start(
        &pebble.directory_url().replace("/dir", ""),
        pebble.dir.path(),
    );
    proxy.set(Plan::on("/order-plz", Fault::Status(503, Some(2))));
    let cfg = config(&pebble, &proxy.directory_url(), "");
    let report = pebble.path("503.json");
    let run = Running::start(&cfg, &report, "5s", &["hammer", "1"]);
    let (out, _) = run.finish(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let (_, faulted) = proxy.counts();
    assert!(
        (1..=4).contains(&faulted),
        "{faulted} newOrder requests in 5 s\n{}",
        show(&out)
    );
    let r = common::report(&report);
    assert!(
        count(&r["waits"]["retry-after"]["count"]) >= 1,
        "{}",
        r["waits"]
    );
    assert_eq!(
        r["failures"][0]["reason"],
        "acme:serverInternal",
        "{}",
        show(&out)
    );
    assert_eq!(count(&r["requests"]["newOrder"]["failed"]), faulted);
}

/// A 429 on newAccount (a limit not tied to an account) is a rate-limited chain, not a failed
/// one, and the attacker waits as asked.
#[test]
fn a_429_is_rate_limited_and_waited_for() {
    let pebble = Pebble::start();
    let proxy = FaultProxy::start(
        &pebble.directory_url().replace("/dir", ""),
        pebble.dir.path(),
    );
    proxy.set(Plan::on("/sign-me-up", Fault::Status(429, Some(1))));
    let cfg = config(&pebble, &proxy.directory_url(), "");
    let report = pebble.path("429.json");
    let run = Running::start(&cfg, &report, "3s", &["hammer", "1"]);
    let (out, _) = run.finish(Duration::from_secs(60));
    let r = common::report(&report);
    assert_eq!(count(&r["chains"]["issue"]["failed"]), 0, "{}", show(&out));
    let limited = count(&r["chains"]["issue"]["rate_limited"]);
    assert!((1..=4).contains(&limited), "{limited}\n{}", show(&out));
    assert_eq!(count(&r["requests"]["newAccount"]["rate_limited"]), limited);
    assert!(count(&r["waits"]["retry-after"]["count"]) >= 1);
}

/// Garbage in a success answer is a failed request of that endpoint (not a success with a
/// failed chain), and a certificate body that is not PEM is `malformed:certificate`.
#[test]
fn garbage_is_a_failure_of_the_endpoint_that_answered_it() {
    let pebble = Pebble::start();
    let proxy = FaultProxy::start(
        &pebble.directory_url().replace("/dir", ""),
        pebble.dir.path(),
    );
    for (path, endpoint) in [("/authZ/", "authz"), ("/certZ/", "certificate")] {
        proxy.set(Plan::on(path, Fault::Garbage));
        let cfg = config(&pebble, &proxy.directory_url(), "");
        let report = pebble.path("garbage.json");
        let run = Running::start(&cfg, &report, "2s", &["hammer", "1"]);
        let (out, _) = run.finish(Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(3), "{}", show(&out));
        let r = common::report(&report);
        assert_eq!(
            count(&r["requests"][endpoint]["ok"]),
            0,
            "{endpoint}: {}",
            show(&out)
        );
        assert!(count(&r["requests"][endpoint]["failed"]) > 0, "{endpoint}");
        assert_eq!(
            r["failures"][0]["reason"],
            format!("malformed:{endpoint}"),
            "{}",
            show(&out)
        );
    }
}

/// A CA that never answers, or answers a byte at a time, costs each request its timeout and
/// no more.
#[test]
fn hangs_and_trickles_are_bounded_by_the_request_timeout() {
    let pebble = Pebble::start();
    let proxy = FaultProxy::start(
        &pebble.directory_url().replace("/dir", ""),
        pebble.dir.path(),
    );
    for fault in [Fault::Hang, Fault::Trickle(Duration::from_millis(100))] {
        proxy.set(Plan::on("/order-plz", fault.clone()));
        let cfg = config(&pebble, &proxy.directory_url(), "");
        let report = pebble.path("hang.json");
        let started = Instant::now();
        let run = Running::start(&cfg, &report, "4s", &["hammer", "2"]);
        let (out, _) = run.finish(Duration::from_secs(60));
        assert!(
            started.elapsed() < Duration::from_secs(4 + 5 + 5),
            "{fault:?}"
        );
        let r = common::report(&report);
        assert_eq!(
            r["failures"][0]["reason"],
            "timeout:newOrder",
            "{fault:?}\n{}",
            show(&out)
        );
        let slowest = r["requests"]["newOrder"]["failed_latency_ms"]["max"]
            .as_f64()
            .unwrap();
        assert!(slowest < 3_000.0 + 500.0, "{fault:?}: {slowest} ms");
    }
}

/// A hostile CA cannot grow the tool, flood its output or reach the terminal raw, whatever
/// it sends.
#[test]
fn a_hostile_ca_leaves_the_tool_bounded_and_its_output_clean() {
    let pebble = Pebble::start();
    for hostility in [
        Hostility::RandomProblems,
        Hostility::HugeBody,
        Hostility::EndlessChunks,
        Hostility::RedirectLoop,
    ] {
        let ca = HostileCa::start(hostility);
        let cfg = config(
            &pebble,
            &ca.directory_url(),
            "[chains.weights]\n\"new-account\" = 1\n",
        );
        let report = pebble.path("hostile.json");
        let html = pebble.path("hostile.html");
        let mode = ["--html-report", html.to_str().unwrap(), "hammer", "4"];
        let run = Running::start(&cfg, &report, "4s", &mode);
        let (out, peak) = run.finish(Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(3), "{hostility:?}\n{}", show(&out));
        assert!(peak < 150 * 1024, "{hostility:?}: peak RSS {peak} KiB");
        assert!(ca.hostile.load(std::sync::atomic::Ordering::SeqCst) > 0);
        for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(text);
            assert!(
                text.len() < 256 * 1024,
                "{hostility:?}: {} bytes of {what}",
                text.len()
            );
            assert!(
                !text.contains('\u{1b}') && !text.contains("ERROR forged"),
                "{hostility:?}: raw CA text in {what}"
            );
        }
        // The HTML report shows the CA's text as text, never as markup.
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(
            !page.contains("<script") && !page.contains('\u{1b}'),
            "{hostility:?}: raw CA text in the HTML report"
        );
        if hostility == Hostility::RandomProblems {
            assert!(
                page.contains("error:&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{page}"
            );
        }
        let r = common::report(&report);
        let failures = r["failures"].as_array().unwrap();
        assert!(failures.len() <= 2, "{hostility:?}: {failures:?}");
        let expected = match hostility {
            Hostility::RandomProblems => "acme:other",
            Hostility::HugeBody | Hostility::EndlessChunks => "malformed:newAccount",
            Hostility::RedirectLoop => "http-302:newAccount",
        };
        assert_eq!(
            failures[0]["reason"],
            expected,
            "{hostility:?}\n{}",
            show(&out)
        );
    }
}

/// A CA restarted mid-run (its HTTPS name kept, every account forgotten) costs the chains in
/// flight and the downtime, then chains succeed again: pooled accounts the CA forgot are
/// replaced, never failing a later chain.
#[test]
fn a_ca_restart_mid_run_is_survived() {
    let pebble = Pebble::start();
    let extra = "[chains.weights]\nissue = 3\nrevoke = 1\nrenew = 1\npoll = 1\n\
                 \"key-rollover\" = 1\n[chains.issue]\nnew_account = 0\n";
    let cfg = config(&pebble, &pebble.directory_url(), extra);
    let report = pebble.path("restart.json");
    // Four attackers thinking 1 s after each ~0.2 s chain: when Pebble restarts, the pool
    // holds idle accounts (all four in flight at once is a ~0.1% chance), which the next
    // chains meet forgotten. Long enough for any machine; stopped once chains succeeded after.
    let env = [("WEC_RUN__THINK_TIME", "1s")];
    let mut run = Running::start_with(&cfg, &report, "120s", &["hammer", "4"], &env);
    // pebble-up starts each Pebble with an empty log: after the restart this counts anew.
    let issued = || {
        let log = std::fs::read_to_string(pebble.path("pebble.log")).unwrap_or_default();
        log.matches("Issued certificate").count()
    };
    run.until(Duration::from_secs(60), || issued() >= 8);
    pebble.restart_keeping_tls();
    run.until(Duration::from_secs(60), || issued() >= 3);
    let sigterm = std::process::Command::new("kill")
        .args(["-TERM", &run.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sigterm.success());
    let (out, _) = run.finish(Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = common::report(&report);
    let forgotten = r["expected_outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["outcome"] == "acme:accountDoesNotExist");
    assert!(
        forgotten,
        "pooled accounts met the restart: {}",
        r["expected_outcomes"]
    );
    for f in r["failures"].as_array().unwrap() {
        let reason = f["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("transport:") || reason.starts_with("timeout:"),
            "only the downtime may fail chains: {f}\n{}",
            show(&out)
        );
    }
}
