//! Thresholds gate the exit code: 4 when one fails, 3 (no chain succeeded) taking precedence;
//! the summary and the JSON report mark each one.

mod common;

use std::time::Duration;

use common::{run_bounded, show, wec, Pebble};

#[test]
fn a_failed_threshold_exits_4_and_is_marked() {
    let pebble = Pebble::start();
    let out = pebble.run(
        pebble
            .attack("2s")
            .args(["hammer", "2"])
            .env("WEC_THRESHOLDS__FAILURE_RATE", "1%")
            // No chain with real validation finishes within a millisecond.
            .env("WEC_THRESHOLDS__CHAINS__ISSUE__P99", "1ms"),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("thresholds: 1 passed, 1 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("PASS  thresholds.failure_rate"), "{stdout}");
    assert!(
        stdout.contains("FAIL  thresholds.chains.issue.p99"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 of 2 thresholds failed"), "{stderr}");

    let r = pebble.report();
    let verdicts = r["thresholds"].as_array().unwrap();
    assert_eq!(verdicts[1]["key"], "thresholds.chains.issue.p99");
    assert_eq!(verdicts[1]["pass"], false);
    assert_eq!(verdicts[1]["limit"], 1.0);
    assert!(verdicts[1]["measured"].as_f64().unwrap() > 1.0);
    assert_eq!(verdicts[0]["pass"], true);
}

#[test]
fn no_successful_chain_exits_3_even_with_failed_thresholds() {
    let pebble = Pebble::start();
    let out = pebble.run(
        wec()
            .arg("--config")
            .arg(pebble.config())
            .args(["--duration", "2s", "hammer", "2"])
            // Pebble's HTTPS CA did not issue the certificates: every chain fails its check.
            .env("WEC_CHAINS__ISSUE__VERIFY_ROOT", pebble.path("ca.pem"))
            .env("WEC_THRESHOLDS__FAILURE_RATE", "1%"),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL  thresholds.failure_rate"), "{stdout}");
}

#[test]
fn a_bad_threshold_is_a_config_error() {
    let out = run_bounded(
        wec()
            .args(["hammer", "1"])
            .env("WEC_THRESHOLDS__FAILURE_RATE", "150%"),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("failure_rate") && stderr.contains("not within 0 and 1"),
        "{stderr}"
    );
}
