//! Issuance against a real Pebble over each challenge type, over `random`, and for wildcard
//! names over dns-01. Pebble resolves every name through wile-e-coyote's own DNS and really
//! validates: http-01 fetches, tls-alpn-01 handshakes and dns-01 TXT lookups all reach the
//! tool.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{show, Pebble};
use serde_json::Value;

const TYPES: [&str; 3] = ["http-01", "tls-alpn-01", "dns-01"];

/// `pebble.config()` with extra `[chains.issue]` keys.
fn config_with(pebble: &Pebble, issue_keys: &str) -> PathBuf {
    let base = std::fs::read_to_string(pebble.config()).unwrap();
    let toml = base.replace(
        "[chains.issue]\n",
        &format!("[chains.issue]\n{issue_keys}\n"),
    );
    assert_ne!(toml, base, "the harness config has a [chains.issue] table");
    let path = pebble.path("types.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// Runs `hammer 2` for 3 s and returns the report; every chain must succeed.
fn run(pebble: &Pebble, config: PathBuf, names_per_order: u32) -> Value {
    let out = pebble.run(
        pebble.attack_with(&config, "3s").args(["hammer", "2"]).env(
            "WEC_CHAINS__ISSUE__NAMES_PER_ORDER",
            names_per_order.to_string(),
        ),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = pebble.report();
    let issue = &r["chains"]["issue"];
    assert!(issue["ok"].as_u64().unwrap() >= 2, "{}", show(&out));
    assert_eq!(issue["failed"], 0, "{}", show(&out));
    r
}

/// Successful challenge answers per type, and the certificates issued.
fn challenges(r: &Value) -> ([u64; 3], u64) {
    let count = |kind: &str| {
        let endpoint = &r["requests"][format!("challenge.{kind}")];
        assert_eq!(endpoint["failed"].as_u64().unwrap_or(0), 0, "{kind}");
        endpoint["ok"].as_u64().unwrap_or(0)
    };
    let issued = r["requests"]["certificate"]["ok"].as_u64().unwrap();
    assert_eq!(r["chains"]["issue"]["ok"].as_u64(), Some(issued));
    (TYPES.map(count), issued)
}

#[test]
fn issues_over_each_challenge_type() {
    let pebble = Pebble::start();
    for (i, kind) in TYPES.iter().enumerate() {
        let config = config_with(&pebble, &format!("challenge = \"{kind}\""));
        let r = run(&pebble, config, 2);
        let (per_type, issued) = challenges(&r);
        let mut expected = [0; 3];
        expected[i] = 2 * issued;
        assert_eq!(
            per_type, expected,
            "{kind}: 2 names per order, all over {kind}"
        );
    }
}

#[test]
fn random_spreads_over_the_types_and_honours_weights() {
    let pebble = Pebble::start();
    let r = run(&pebble, config_with(&pebble, "challenge = \"random\""), 3);
    let (per_type, issued) = challenges(&r);
    assert_eq!(per_type.iter().sum::<u64>(), 3 * issued);
    // With 15 challenges or more, all landing on one type has probability below 1e-6.
    assert!(issued >= 5, "too few chains to judge the spread: {issued}");
    let used = per_type.iter().filter(|n| **n > 0).count();
    assert!(used >= 2, "random used only one type: {per_type:?}");

    let weighted = config_with(
        &pebble,
        "challenge = \"random\"\nchallenge_weights = { \"http-01\" = 1, \"dns-01\" = 3 }",
    );
    let r = run(&pebble, weighted, 3);
    let (per_type, issued) = challenges(&r);
    assert_eq!(per_type[1], 0, "tls-alpn-01 has no weight: {per_type:?}");
    assert_eq!(per_type[0] + per_type[2], 3 * issued);
}

#[test]
fn wildcard_orders_are_validated_over_dns01() {
    let pebble = Pebble::start();
    // Every order is `*.<label>.<base>` plus `<label>.<base>`: two authorizations whose TXT
    // records share one name, answered at the same time.
    let config = config_with(&pebble, "challenge = \"dns-01\"\nwildcards = 1.0");
    let (per_type, issued) = challenges(&run(&pebble, config, 1));
    assert_eq!(per_type, [0, 0, 2 * issued]);

    // Under `random`, the wildcard authorization offers only dns-01; the base name may take
    // any type.
    let config = config_with(&pebble, "challenge = \"random\"\nwildcards = 1.0");
    let (per_type, issued) = challenges(&run(&pebble, config, 1));
    assert_eq!(per_type.iter().sum::<u64>(), 2 * issued);
    assert!(
        per_type[2] >= issued,
        "one dns-01 per wildcard: {per_type:?}"
    );
}

#[test]
fn a_full_registry_fails_chains_with_a_clear_reason() {
    let pebble = Pebble::start();
    // Two names per order, room for one response: every chain is refused at its second name,
    // and withdraws its first, so the next chain meets the same bound.
    let out = pebble.run(
        pebble
            .attack("2s")
            .args(["hammer", "2"])
            .env("WEC_CHAINS__ISSUE__NAMES_PER_ORDER", "2")
            .env("WEC_CHALLENGE__MAX_ENTRIES", "1"),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let r = pebble.report();
    assert_eq!(r["chains"]["issue"]["ok"], 0);
    let failures = r["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["reason"], "local");
    let example = failures[0]["example"].as_str().unwrap();
    assert!(
        example.contains("challenge registry full (1 entries)")
            && example.contains("challenge.max_entries"),
        "{example}"
    );
    assert!(
        r["requests"].get("challenge.http-01").is_none(),
        "nothing answered"
    );
}
