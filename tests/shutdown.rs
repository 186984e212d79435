//! Graceful shutdown: SIGTERM (or SIGINT) stops new chains, lets those in flight finish, and
//! still prints the summary and writes the report.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{show, wait_bounded, wec, Pebble};

fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_ends_the_run_with_a_summary() {
    let pebble = Pebble::start();
    let report_path = pebble.path("report.json");
    let child = wec()
        .arg("--config")
        .arg(pebble.config())
        .arg("--report")
        .arg(&report_path)
        .args(["hammer", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    signal(child.id(), "-TERM");
    // The grace period is 10 s; chains take well under a second.
    let out = wait_bounded(child, Duration::from_secs(12));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stopping (SIGTERM)"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
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
    let child = wec()
        .arg("--config")
        .arg(pebble.config())
        .arg("--report")
        .arg(&report_path)
        .args(["hammer", "4"])
        .env("WEC_POLLING__TIMEOUT", "60s")
        .env("WEC_RUN__GRACE_PERIOD", "60s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    signal(child.id(), "-INT");
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id(), "-INT");
    // Far less than the 60 s grace period: the second signal cut the wait short.
    let out = wait_bounded(child, Duration::from_secs(8));
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
    let code = out.status.code();
    assert!(code == Some(0) || code == Some(3), "{}", show(&out));
}
