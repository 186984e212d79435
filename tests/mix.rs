//! The chain mix through the binary, against a real Pebble: every weighted chain runs about as
//! often as its weight says and none fails, the expected refusals show in the report, ARI
//! (which Pebble lacks) is left out with a log line rather than failing, and a reload changes
//! the weights of a running daemon.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{show, wait_bounded, wec, Pebble};
use serde_json::Value;

/// `pebble.config()` with a `[chains.weights]` table.
fn config_with_weights(pebble: &Pebble, weights: &[(&str, u32)], name: &str) -> PathBuf {
    let mut toml = std::fs::read_to_string(pebble.config()).unwrap();
    toml.push_str("\n[chains.weights]\n");
    for (chain, weight) in weights {
        toml.push_str(&format!("{chain} = {weight}\n"));
    }
    let path = pebble.path(name);
    std::fs::write(&path, toml).unwrap();
    path
}

/// Runs of `chain` that ended (ok, failed or interrupted).
fn runs(r: &Value, chain: &str) -> u64 {
    let c = &r["chains"][chain];
    ["ok", "failed", "interrupted"]
        .iter()
        .map(|k| c[k].as_u64().unwrap_or(0))
        .sum()
}

/// How often `chain` met `outcome`, from the report's `expected_outcomes`.
fn expected(r: &Value, chain: &str, outcome: &str) -> u64 {
    r["expected_outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["chain"] == chain && e["outcome"] == outcome)
        .map_or(0, |e| e["count"].as_u64().unwrap())
}

#[test]
fn a_weighted_mix_runs_every_chain_in_proportion_with_its_expected_outcomes() {
    let pebble = Pebble::start();
    let weights = [
        ("issue", 4),
        ("new-account", 2),
        ("renew", 2),
        ("revoke", 2),
        ("poll", 2),
        ("key-rollover", 1),
        ("account-update", 1),
        ("deactivate-account", 1),
        ("deactivate-authz", 1),
        ("failed-validation", 1),
        ("ari", 3),
    ];
    let config = config_with_weights(&pebble, &weights, "mix.toml");
    let out = pebble.run(
        pebble.attack_with(&config, "6s").args(["hammer", "3"]),
        Duration::from_secs(90),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("chain ari disabled: it needs the directory's renewalInfo (RFC 9773 ARI)"),
        "{stderr}"
    );
    let r = pebble.report();
    assert!(
        r["chains"].get("ari").is_none(),
        "ari never ran: {}",
        r["chains"]
    );

    // Each start draws a chain by weight; the runs that ended lag the starts by at most the
    // 3 chains in flight at the end. Counts stay within 5 standard deviations (binomial).
    let running: Vec<(&str, u32)> = weights
        .iter()
        .copied()
        .filter(|(c, _)| *c != "ari")
        .collect();
    let total_weight: u32 = running.iter().map(|(_, w)| w).sum();
    let n: u64 = running.iter().map(|(c, _)| runs(&r, c)).sum();
    assert!(n >= 300, "only {n} chains ran\n{}", show(&out));
    for (chain, weight) in &running {
        let c = &r["chains"][chain];
        assert_eq!(c["failed"], 0, "{chain}: {}\n{}", r["failures"], show(&out));
        assert!(c["ok"].as_u64().unwrap() > 0, "{chain} never succeeded");
        let p = f64::from(*weight) / f64::from(total_weight);
        let mean = n as f64 * p;
        let tolerance = 5.0 * (n as f64 * p * (1.0 - p)).sqrt() + 3.0;
        let got = runs(&r, chain) as f64;
        assert!(
            (got - mean).abs() <= tolerance,
            "{chain} ran {got} times of {n}, expected {mean:.0} ± {tolerance:.0}"
        );
    }

    // The refusals the chains asked for are counted as ok and shown as what they were.
    let ok = |chain: &str| r["chains"][chain]["ok"].as_u64().unwrap();
    assert_eq!(expected(&r, "revoke", "acme:alreadyRevoked"), ok("revoke"));
    assert_eq!(
        expected(&r, "deactivate-account", "acme:unauthorized"),
        ok("deactivate-account")
    );
    assert_eq!(
        expected(&r, "key-rollover", "acme:malformed"),
        ok("key-rollover")
    );
    assert_eq!(
        expected(&r, "failed-validation", "validation:http-01:unauthorized"),
        ok("failed-validation")
    );
    assert_eq!(
        r["chains"]["revoke"]["expected"].as_u64(),
        Some(ok("revoke"))
    );
    let revoke_cert = &r["requests"]["revokeCert"];
    assert_eq!(revoke_cert["failed"], 0);
    assert_eq!(revoke_cert["expected"].as_u64(), Some(ok("revoke")));
    assert!(
        r["failures"].as_array().unwrap().is_empty(),
        "{}",
        r["failures"]
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("expected outcomes (counted as ok):"),
        "{stdout}"
    );
}

#[test]
fn a_reload_changes_the_weights_of_a_running_daemon() {
    let pebble = Pebble::start();
    let config = config_with_weights(&pebble, &[("issue", 1)], "reload.toml");
    let child = pebble
        .attack_with(&config, "6s")
        .args(["hammer", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    // The daemon watches its config file: the new weights apply from the next chain on.
    config_with_weights(&pebble, &[("issue", 0), ("revoke", 1)], "reload.toml");
    let out = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("chain mix after reload: revoke 1"),
        "{}",
        show(&out)
    );
    let r = pebble.report();
    let ok = |chain: &str| r["chains"][chain]["ok"].as_u64().unwrap_or(0);
    assert!(ok("issue") > 0 && ok("revoke") > 0, "{}", r["chains"]);
    assert_eq!(r["chains"]["revoke"]["failed"], 0, "{}", show(&out));
}

#[test]
fn a_mix_pebble_cannot_serve_at_all_is_refused_at_start() {
    let pebble = Pebble::start();
    let config = config_with_weights(&pebble, &[("ari", 1)], "ari.toml");
    let out = pebble.run(
        wec()
            .arg("--config")
            .arg(&config)
            .args(["--duration", "2s", "hammer", "1"]),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no chain of chains.weights can run")
            && stderr.contains("ari needs the directory's renewalInfo (RFC 9773 ARI)"),
        "{stderr}"
    );
}
