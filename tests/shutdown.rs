//! Graceful shutdown: SIGTERM (or SIGINT) stops new chains, lets those in flight finish, and
//! still prints the summary and writes the report.

mod common;

use std::time::Duration;

use common::daemon::Daemon;
use common::{show, Pebble};

#[test]
fn sigterm_ends_the_run_with_a_summary() {
    let pebble = Pebble::start();
    let report_path = pebble.path("report.json");
    let report = report_path.to_str().unwrap();
    let d = Daemon::start_with(&pebble.config(), &["--report", report, "hammer", "2"], &[]);
    d.wait_status("a chain done", |s| s["chains_ok"].as_u64() > Some(0));
    d.signal("-TERM");
    // The grace period is 10 s; chains take well under a second.
    let (out, stdout) = d.finish();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stopping (SIGTERM)"), "{stderr}");
    assert!(stdout.contains("chains ok"), "{stdout}");
    let r = pebble.report();
    assert!(r["chains"]["issue"]["ok"].as_u64().unwrap() > 0);
    assert_eq!(r["chains"]["issue"]["interrupted"], 0, "{}", show(&out));
}

#[test]
fn a_second_signal_interrupts_chains_in_flight() {
    // Pebble sleeps a random 0-15 s before each validation, so chains are in flight (polling
    // their authorizations) when the signals arrive.
    let pebble = Pebble::start_with(&[("PEBBLE_VA_NOSLEEP", "0")]);
    let report_path = pebble.path("report.json");
    let report = report_path.to_str().unwrap();
    let env = [
        ("WEC_POLLING__TIMEOUT", "60s"),
        ("WEC_RUN__GRACE_PERIOD", "60s"),
    ];
    let mut d = Daemon::start_with(&pebble.config(), &["--report", report, "hammer", "4"], &env);
    // Four chains polling authorizations that Pebble will not validate for seconds.
    d.wait_status("4 attackers", |s| s["attackers"] == 4);
    d.signal("-INT");
    d.wait_for_log("a second SIGINT/SIGTERM interrupts chains in flight");
    d.signal("-INT");
    // Far less than the 60 s grace period: the second signal cut the wait short.
    let (out, _) = d.finish();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("second signal"), "{}", show(&out));
    let r = pebble.report();
    let issue = &r["chains"]["issue"];
    assert!(
        issue["interrupted"].as_u64().unwrap() >= 1,
        "{}",
        show(&out)
    );
    assert_eq!(issue["failed"], 0, "{}", show(&out));
    // Chains were interrupted, none failed: the run passes unless none succeeded (exit 3).
    let ok = issue["ok"].as_u64().unwrap();
    let expected = if ok > 0 { 0 } else { 3 };
    assert_eq!(out.status.code(), Some(expected), "{}", show(&out));
}

/// Attackers that retire — at a step of the schedule that scales down, or at the end of the
/// run — are not restarted by their supervisor, and nothing is counted as a restart: only a
/// chain that panicked restarts an attacker. (Before the fix, an attacker whose mailbox was
/// still referenced when it stopped came back, counted, in about one run of this schedule in
/// two.)
#[test]
fn retiring_attackers_are_not_counted_as_restarts() {
    let pebble = Pebble::start();
    let steps: Vec<&str> = ["8", "1"].repeat(12);
    let out = pebble.run(
        pebble
            .attack("4s")
            .args(["seq", "150ms"])
            .args(&steps)
            .env("WEC_RUN__THINK_TIME", "20ms"),
        Duration::from_secs(40),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = pebble.report();
    assert_eq!(r["attacker_restarts"], 0, "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("restarting after crash"), "{stderr}");
}
