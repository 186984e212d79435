//! Whole runs against the Boulder stand-in (tests/common/boulder.rs): validation on ports 80
//! and 443 of a public-range address through DNS over HTTPS only, the 5 s account cache,
//! Boulder's dev rate limits, certificate profiles, and the revocation reasons Boulder stores.

mod common;

use std::time::Duration;

use common::boulder::Boulder;
use common::mariadb::MariaDb;
use common::{run_bounded, show};
use serde_json::Value;

/// The mix of config/boulder.toml.
const MIX: &[(&str, &str)] = &[
    ("WEC_CHAINS__WEIGHTS__ISSUE", "6"),
    ("WEC_CHAINS__WEIGHTS__RENEW", "3"),
    ("WEC_CHAINS__WEIGHTS__POLL", "2"),
    ("WEC_CHAINS__WEIGHTS__REVOKE", "2"),
    ("WEC_CHAINS__WEIGHTS__NEW_ACCOUNT", "2"),
    ("WEC_CHAINS__WEIGHTS__ARI", "1"),
    ("WEC_CHAINS__WEIGHTS__KEY_ROLLOVER", "1"),
    ("WEC_CHAINS__WEIGHTS__ACCOUNT_UPDATE", "1"),
    ("WEC_CHAINS__WEIGHTS__DEACTIVATE_ACCOUNT", "1"),
    ("WEC_CHAINS__WEIGHTS__DEACTIVATE_AUTHZ", "1"),
    ("WEC_CHAINS__WEIGHTS__FAILED_VALIDATION", "1"),
];

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Everything a subscriber does, over every challenge type (dns-01 and wildcards through the
/// tool's DNS over HTTPS), against a CA that answers from a 5 s account cache and enforces
/// Boulder's dev rate limits: no chain fails. Refusals by a rate limit are their own outcome.
#[test]
fn the_full_mix_runs_against_boulder_without_a_failure() {
    let boulder = Boulder::start(|_| {});
    let mut cmd = boulder.attack("20s");
    cmd.args(["hammer", "4"])
        .env("WEC_CHAINS__ISSUE__WILDCARDS", "0.2")
        .env("WEC_CHAINS__ISSUE__PROFILES__LEGACY", "1")
        .env("WEC_CHAINS__ISSUE__PROFILES__SHORTLIVED", "1")
        .envs(MIX.iter().copied());
    let out = run_bounded(&mut cmd, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = boulder.report();
    for (name, chain) in r["chains"].as_object().unwrap() {
        assert_eq!(chain["failed"], 0, "{name}\n{}", show(&out));
    }
    for name in [
        "issue",
        "renew",
        "revoke",
        "key-rollover",
        "deactivate-account",
    ] {
        assert!(
            count(&r["chains"][name]["ok"]) > 0,
            "{name}\n{}",
            show(&out)
        );
    }
    for endpoint in [
        "challenge.http-01",
        "challenge.tls-alpn-01",
        "challenge.dns-01",
    ] {
        assert!(count(&r["requests"][endpoint]["ok"]) > 0, "{endpoint}");
    }
    let converged = r["convergence"].as_array().unwrap();
    for (chain, what) in [
        ("key-rollover", "new-key"),
        ("key-rollover", "old-key"),
        ("deactivate-account", "deactivated"),
    ] {
        let c = converged
            .iter()
            .find(|c| c["chain"] == chain && c["what"] == what)
            .unwrap_or_else(|| panic!("{chain} {what}: {converged:?}"));
        assert!(count(&c["agreed"]) > 0 && c["timed_out"] == 0, "{c}");
    }
    for profile in ["legacy", "shortlived"] {
        assert!(count(&r["profiles"][profile]["ok"]) > 0, "{profile}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ms until the CA agreed"), "{stdout}");
}

/// Everything Boulder's SA writes for what the API did is found in its database (the stand-in
/// writes the same rows), every kind of row checked. Boulder stores keyCompromise for a
/// revocation signed by the certificate's key and cessationOfOperation for one by an account
/// holding the names, whatever was asked: with `flavor = "boulder"` the consistency checks
/// expect exactly that; taking Boulder for a generic CA reports the overrides as disagreements.
#[test]
fn boulders_database_agrees_with_the_api_and_reasons_are_expected_per_flavor() {
    let maria = MariaDb::start();
    maria.fixture("boulder", "current");
    let boulder = Boulder::start(|c| {
        c.db_url = Some(maria.admin_url("boulder"));
        c.account_cache_ttl = Duration::from_secs(1);
    });
    // The CA's database has objects before the database-driven chain starts picking.
    let mut warm_up = boulder.attack("2s");
    warm_up
        .args(["hammer", "1"])
        .env("WEC_CHAINS__ISSUE__CHALLENGE", "http-01");
    let out = run_bounded(&mut warm_up, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let run = |flavor: &str| {
        let mut cmd = boulder.attack("8s");
        cmd.args(["--mysql", &maria.readonly_dsn("boulder"), "hammer", "2"])
            .env("WEC_TARGET__FLAVOR", flavor)
            .env("WEC_CHAINS__WEIGHTS__ISSUE", "2")
            .env("WEC_CHAINS__WEIGHTS__REVOKE", "3")
            .env("WEC_CHAINS__WEIGHTS__RENEW", "1")
            .env("WEC_CHAINS__WEIGHTS__KEY_ROLLOVER", "1")
            .env("WEC_CHAINS__WEIGHTS__DEACTIVATE_ACCOUNT", "1")
            .env("WEC_CHAINS__WEIGHTS__DEACTIVATE_AUTHZ", "1")
            .env("WEC_CHAINS__WEIGHTS__DB_GET_AUTHZ", "1")
            .env("WEC_CHAINS__ISSUE__CHALLENGE", "dns-01")
            .env("WEC_CHAINS__ISSUE__WILDCARDS", "0.5")
            .env("WEC_DB__CONSISTENCY_WAIT", "5s");
        let out = run_bounded(&mut cmd, Duration::from_secs(120));
        (out, boulder.report())
    };
    let (out, r) = run("boulder");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for (name, chain) in r["chains"].as_object().unwrap() {
        assert_eq!(chain["failed"], 0, "{name}\n{}", show(&out));
    }
    assert!(
        count(&r["chains"]["db-get-authz"]["ok"]) > 0,
        "wildcard authorizations are read as Boulder serves them"
    );
    let consistency = &r["consistency"];
    assert!(count(&consistency["checked"]) >= 6, "{consistency}");
    for kind in [
        "certificate",
        "certificate-status",
        "issued-names",
        "key-hash",
        "fqdn-set",
        "order-serial",
        "replacement-order",
        "revoked-certificate",
        "blocked-key",
        "account-key",
        "account-status",
        "authz-status",
    ] {
        assert!(
            count(&consistency["kinds"][kind]["checked"]) > 0,
            "{kind} never checked: {consistency}"
        );
    }
    assert_eq!(
        consistency["mismatches"],
        serde_json::json!({}),
        "{}",
        show(&out)
    );

    let (out, r) = run("generic");
    let differs = count(&r["consistency"]["mismatches"]["reason-differs"]);
    assert!(differs > 0, "{}\n{}", r["consistency"], show(&out));
}

/// Boulder's VA discards private and loopback answers: the tool warns at start, and every
/// validation fails, as it would against Boulder.
#[test]
fn a_loopback_answer_is_warned_about_and_refused_as_boulder_does() {
    let boulder = Boulder::start(|_| {});
    let mut cmd = boulder.attack("3s");
    cmd.args(["hammer", "1"])
        .env("WEC_CHALLENGE__ADDRESSES_V4", "127.0.0.1")
        .env("WEC_CHAINS__ISSUE__CHALLENGE", "http-01");
    let out = run_bounded(&mut cmd, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the DNS answers 127.0.0.1 (loopback)"),
        "{stderr}"
    );
    let r = boulder.report();
    assert_eq!(
        r["failures"][0]["reason"],
        "validation:http-01:dns",
        "{}",
        show(&out)
    );
}

/// A profile the CA's directory does not offer is refused before the run starts.
#[test]
fn a_profile_the_ca_does_not_offer_is_refused_at_start() {
    let boulder = Boulder::start(|_| {});
    let mut cmd = boulder.attack("3s");
    cmd.args(["hammer", "1"])
        .env("WEC_CHAINS__ISSUE__PROFILES__CLASSIC", "1");
    let out = run_bounded(&mut cmd, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "chains.issue.profiles names classic, which the CA's directory does not offer \
             (it offers: legacy, modern, shortlived)"
        ),
        "{stderr}"
    );
}
