//! Attackers obtain real certificates from a real Pebble, validated over http-01 against
//! wile-e-coyote's own challenge server (the other challenge types: tests/challenge_types.rs).

mod common;

use std::time::Duration;

use common::{show, Pebble};

#[test]
fn attackers_issue_certificates_that_chain_to_pebbles_root() {
    let pebble = Pebble::start();
    let out = pebble.run(
        pebble
            .attack("4s")
            .args(["hammer", "3"])
            .env("WEC_CHAINS__ISSUE__NAMES_PER_ORDER", "2")
            // Every issue a new subscriber: one account per certificate.
            .env("WEC_CHAINS__ISSUE__NEW_ACCOUNT", "1"),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = pebble.report();
    let issue = &r["chains"]["issue"];
    let ok = issue["ok"].as_u64().unwrap();
    assert!(ok >= 3, "only {ok} certificates issued\n{}", show(&out));
    assert_eq!(issue["failed"], 0, "{}", show(&out));
    assert_eq!(r["peak_attackers"], 3);

    // Every chain downloaded its certificate once; each order had 2 names, so 2
    // authorizations and 2 challenges, all answered by the challenge server.
    let requests = &r["requests"];
    assert_eq!(requests["certificate"]["ok"].as_u64(), Some(ok));
    assert_eq!(requests["newAccount"]["ok"].as_u64(), Some(ok));
    assert_eq!(requests["challenge.http-01"]["ok"].as_u64(), Some(2 * ok));
    assert!(requests["authz"]["ok"].as_u64().unwrap() >= 4 * ok);
    assert!(r["traffic"]["bytes_in"].as_u64().unwrap() > 0);

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("chain") && stdout.contains("issue"),
        "{stdout}"
    );
}

#[test]
fn a_chain_that_does_not_verify_to_the_expected_root_fails_the_run() {
    let pebble = Pebble::start();
    // The throwaway CA of Pebble's HTTPS listener did not issue the certificates.
    let out = pebble.run(
        pebble
            .attack("2s")
            .args(["hammer", "2"])
            .env("WEC_CHAINS__ISSUE__VERIFY_ROOT", pebble.path("ca.pem")),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let r = pebble.report();
    assert_eq!(r["chains"]["issue"]["ok"], 0);
    assert!(r["chains"]["issue"]["failed"].as_u64().unwrap() > 0);
    assert_eq!(r["failures"][0]["reason"], "check:chain", "{}", show(&out));
}

#[test]
fn answering_in_turn_leaves_one_validation_at_a_time() {
    // No nonce rejected: Pebble logs a challenge POST before it checks the nonce.
    let pebble = Pebble::start_with(&[("PEBBLE_WFE_NONCEREJECT", "0")]);
    let out = pebble.run(
        pebble
            .attack("2s")
            .args(["hammer", "1"])
            .env("WEC_CHAINS__ISSUE__NAMES_PER_ORDER", "3")
            .env("WEC_CHAINS__ISSUE__ANSWER", "in-turn"),
        Duration::from_secs(60),
    );
    let (r, ok) = pebble.clean_issuance(&out);
    assert_eq!(
        r["requests"]["challenge.http-01"]["ok"].as_u64(),
        Some(3 * ok)
    );

    // Pebble's log: with one attacker, every challenge answered is validated before the next.
    let log = std::fs::read_to_string(pebble.path("pebble.log")).unwrap();
    let events: Vec<&str> = log
        .lines()
        .filter_map(|line| {
            if line.contains("POST /chalZ/") {
                Some("answer")
            } else if line.contains("set VALID by completed challenge") {
                Some("valid")
            } else {
                None
            }
        })
        .collect();
    assert_eq!(events.len() as u64, 6 * ok, "{events:?}");
    assert!(
        events.chunks(2).all(|pair| pair == ["answer", "valid"]),
        "{events:?}"
    );
}

#[test]
fn seq_and_aseq_run_their_steps() {
    let pebble = Pebble::start();
    let out = pebble.run(
        pebble.attack("3s").args(["seq", "1s", "1", "3", "2"]),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = pebble.report();
    assert_eq!(r["peak_attackers"], 3);
    assert_eq!(r["schedule"], "seq 1s 1 3 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for step in [
        "step 1 at 0.0s: 1 attackers",
        "step 2 at 1.0s: 3 attackers",
        "step 3 at 2.0s: 2 attackers",
    ] {
        assert!(stderr.contains(step), "missing {step:?}\n{stderr}");
    }

    let out = pebble.run(
        pebble.attack("2500ms").args(["aseq", "2", "5", "1"]),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(pebble.report()["peak_attackers"], 5);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for step in [
        "step 1 at 0.0s: 2 attackers",
        "step 2 at 1.0s: 4 attackers",
        "step 3 at 2.0s: 5 attackers",
    ] {
        assert!(stderr.contains(step), "missing {step:?}\n{stderr}");
    }
}
