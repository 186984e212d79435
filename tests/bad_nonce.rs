//! RFC 8555 §6.5: a client that gets `badNonce` retries with the fresh nonce it was given.
//! Pebble rejecting 60% of all good nonces must not fail a single chain with the default
//! config; a CA rejecting every nonce still ends each chain, counted.

mod common;

use std::time::Duration;

use common::{show, Pebble};

#[test]
fn every_chain_survives_most_nonces_being_rejected() {
    let pebble = Pebble::start_with(&[("PEBBLE_WFE_NONCEREJECT", "60")]);
    let out = pebble.run(
        pebble.attack("4s").args(["hammer", "2"]),
        Duration::from_secs(60),
    );
    let (r, ok) = pebble.clean_issuance(&out);

    let retries = r["bad_nonce_retries"].as_u64().unwrap();
    let per_endpoint: u64 = r["requests"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["bad_nonce_retried"].as_u64().unwrap())
        .sum();
    assert_eq!(retries, per_endpoint);
    // Each chain makes at least 7 signed requests; about half are rejected at least once.
    assert!(retries >= ok * 2, "{retries} retries for {ok} chains");
    for (name, e) in r["requests"].as_object().unwrap() {
        assert_eq!(e["failed"], 0, "{name} had failures");
    }
}

/// A CA that rejects every nonce cannot keep a chain going forever: each request ends after
/// its retries, the chain fails `acme:badNonce`, and every retry is counted.
#[test]
fn a_ca_rejecting_every_nonce_ends_each_chain() {
    let pebble = Pebble::start_with(&[("PEBBLE_WFE_NONCEREJECT", "100")]);
    let out = pebble.run(
        pebble.attack("2s").args(["hammer", "1"]),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let r = pebble.report();
    let failed = r["chains"]["issue"]["failed"].as_u64().unwrap();
    assert!(failed > 0, "{}", show(&out));
    assert_eq!(
        r["failures"][0]["reason"],
        "acme:badNonce",
        "{}",
        show(&out)
    );
    let retries = r["bad_nonce_retries"].as_u64().unwrap();
    assert!(
        retries >= failed * 30,
        "{retries} retries for {failed} chains"
    );
}
