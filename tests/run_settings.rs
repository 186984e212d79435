//! The `[run]` keys the README promises, against a real Pebble: `stop_after_last_step` ends the
//! run when a stepped schedule's last step is over, and `think_time` pauses every attacker
//! between two chains.

mod common;

use std::time::Duration;

use common::{show, Pebble};

#[test]
fn stop_after_last_step_ends_the_run_when_the_schedule_is_over() {
    let pebble = Pebble::start();
    // Without the key this run would last its whole minute (and fail the 40 s bound).
    let out = pebble.run(
        pebble
            .attack("60s")
            .args(["seq", "1s", "1", "2"])
            .env("WEC_RUN__STOP_AFTER_LAST_STEP", "true"),
        Duration::from_secs(40),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stopping (schedule over)"), "{stderr}");
    let r = pebble.report();
    let ran = r["duration_s"].as_f64().unwrap();
    assert!((2.0..30.0).contains(&ran), "ran {ran} s");
}

#[test]
fn think_time_pauses_each_attacker_between_chains() {
    let pebble = Pebble::start();
    // One attacker for 3 s with 1 s of thinking after each chain: at most three chains begin
    // (Pebble issues in well under a second, so without the pause there would be dozens).
    let out = pebble.run(
        pebble
            .attack("3s")
            .args(["hammer", "1"])
            .env("WEC_RUN__THINK_TIME", "1s"),
        Duration::from_secs(40),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = pebble.report();
    let chains: u64 = r["chains"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| {
            ["ok", "failed", "interrupted"]
                .iter()
                .map(|k| c[k].as_u64().unwrap_or(0))
                .sum::<u64>()
        })
        .sum();
    assert!((1..=3).contains(&chains), "{chains} chains: {}", show(&out));
}
