//! The DB-driven chains through the binary. Boulder cannot run here, so the GETs and the
//! revocation they make are served by `common::boulder_wfe`, a purpose-built stand-in for
//! Boulder's WFE answering from the same fixture database the tool reads. Consistency checks
//! and an outage mid-run are checked against a real Pebble.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::boulder_wfe::{BoulderWfe, Faults};
use common::mariadb::{seed, MariaDb};
use common::{free_port, report, run_bounded, show, wait_bounded, wec, Pebble};
use serde_json::Value;

const DB_CHAINS: &str = "[chains.weights]\n\"db-get-cert\" = 1\n\"db-get-authz\" = 1\n\
                         \"db-get-order\" = 1\n\"db-ari\" = 1\n\"db-revoke-foreign\" = 1\n";

/// A config targeting the stand-in WFE, with the challenge server on free ports.
fn wfe_config(dir: &Path, wfe: &BoulderWfe, extra: &str) -> PathBuf {
    let toml = format!(
        "[target]\ndirectory_url = \"{}\"\nrequest_timeout = \"5s\"\n\n\
         [challenge]\nhttp01_listen = [\"127.0.0.1:{}\"]\ntlsalpn01_listen = [\"127.0.0.1:{}\"]\n\
         dns_listen = [\"127.0.0.1:{}\"]\n\n[control]\nlisten = \"127.0.0.1:0\"\n\n{extra}",
        wfe.directory_url(),
        free_port(),
        free_port(),
        free_port()
    );
    let path = dir.join("wec.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn chain<'r>(r: &'r Value, name: &str) -> &'r Value {
    &r["chains"][name]
}

fn fixture() -> MariaDb {
    let maria = MariaDb::start();
    maria.fixture("boulder", "current");
    seed(&maria, "boulder", "current");
    maria
}

fn run_against(maria: &MariaDb, wfe: &BoulderWfe) -> (std::process::Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let config = wfe_config(dir.path(), wfe, DB_CHAINS);
    let report_path = dir.path().join("report.json");
    let out = run_bounded(
        wec()
            .arg("--config")
            .arg(config)
            .args(["--mysql", &maria.readonly_dsn("boulder")])
            .args(["--duration", "3s", "--report"])
            .arg(&report_path)
            .args(["hammer", "2"]),
        Duration::from_secs(60),
    );
    let r = report(&report_path);
    (out, r)
}

#[test]
fn db_driven_chains_act_on_what_the_ca_stored() {
    let maria = fixture();
    let wfe = BoulderWfe::start(&maria.admin_url("boulder"));
    let (out, r) = run_against(&maria, &wfe);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    for name in [
        "db-get-cert",
        "db-get-authz",
        "db-get-order",
        "db-ari",
        "db-revoke-foreign",
    ] {
        let c = chain(&r, name);
        assert!(
            c["ok"].as_u64().unwrap_or(0) > 0,
            "{name} never ran ok\n{}",
            show(&out)
        );
        assert_eq!(c["failed"], 0, "{name}\n{}", show(&out));
    }
    // The foreign revocation was refused each time, counted as the expected outcome.
    let foreign = chain(&r, "db-revoke-foreign")["ok"].as_u64().unwrap();
    let refused = r["expected_outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["chain"] == "db-revoke-foreign")
        .unwrap_or_else(|| panic!("no expected outcome\n{}", show(&out)));
    assert_eq!(refused["outcome"], "acme:unauthorized", "{refused}");
    assert_eq!(refused["count"].as_u64(), Some(foreign));
    assert_eq!(wfe.revoked.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Plain GETs of certificates, authorizations (also those of each order) and orders.
    for endpoint in ["certificate.get", "authz.get", "order.get", "renewalInfo"] {
        assert!(
            r["requests"][endpoint]["ok"].as_u64().unwrap_or(0) > 0,
            "{endpoint}\n{}",
            show(&out)
        );
    }
}

#[test]
fn a_ca_that_revokes_foreign_certificates_or_serves_the_wrong_one_is_caught() {
    let maria = fixture();
    let wfe = BoulderWfe::start_with(
        &maria.admin_url("boulder"),
        Faults {
            accept_foreign_revocation: true,
            wrong_certificate: true,
        },
    );
    let (out, r) = run_against(&maria, &wfe);
    assert_eq!(
        out.status.code(),
        Some(0),
        "other chains still succeed\n{}",
        show(&out)
    );
    let revoke = chain(&r, "db-revoke-foreign");
    assert_eq!(revoke["ok"], 0, "{}", show(&out));
    assert!(revoke["failed"].as_u64().unwrap() > 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SECURITY: the CA revoked certificate"),
        "{stderr}"
    );
    let reasons: Vec<&str> = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"check:foreign-revocation"), "{reasons:?}");
    // Serial 1 is served for every serial: all but serial 1's own picks mismatch.
    assert!(reasons.contains(&"check:served-certificate"), "{reasons:?}");
}

#[test]
fn consistency_checks_count_what_the_database_lacks() {
    // Pebble stores nothing in the fixture database, so each certificate it issues must be
    // reported missing there once the (short) wait is over.
    let pebble = Pebble::start();
    let maria = MariaDb::start();
    maria.fixture("boulder", "current");
    let out = run_bounded(
        pebble
            .attack("3s")
            .args(["--mysql", &maria.readonly_dsn("boulder")])
            .args(["hammer", "1"])
            .env("WEC_DB__CONSISTENCY_WAIT", "300ms"),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = pebble.report();
    let issued = chain(&r, "issue")["ok"].as_u64().unwrap();
    let checked = r["consistency"]["checked"].as_u64().unwrap();
    // Checks still waiting when the run ends are not counted.
    assert!(
        checked > 0 && checked <= issued,
        "{checked} checked of {issued}"
    );
    assert_eq!(
        r["consistency"]["mismatches"]["certificate-missing"].as_u64(),
        Some(checked),
        "{}",
        r["consistency"]
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("consistency with Boulder's database"),
        "{stdout}"
    );
}

#[test]
fn a_database_outage_fails_db_chains_fast_and_spares_the_others() {
    let pebble = Pebble::start();
    let maria = fixture();
    let wfe = BoulderWfe::start(&maria.admin_url("boulder"));
    let cert_url = format!("http://127.0.0.1:{}/acme/cert/{{serial}}", wfe.port);
    let child = pebble
        .attack("5s")
        .args(["--mysql", &maria.readonly_dsn("boulder")])
        .args(["hammer", "2"])
        .env("WEC_CHAINS__WEIGHTS__ISSUE", "1")
        .env("WEC_CHAINS__WEIGHTS__DB_GET_CERT", "1")
        .env("WEC_DB__CERT_URL", &cert_url)
        .env("WEC_DB__CONSISTENCY_CHECKS", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    maria.stop();
    let out = wait_bounded(child, Duration::from_secs(60));
    let r = pebble.report();
    let issue = chain(&r, "issue");
    assert!(issue["ok"].as_u64().unwrap() > 10, "{}", show(&out));
    assert_eq!(issue["failed"], 0, "{}", show(&out));
    let db_chain = chain(&r, "db-get-cert");
    assert!(
        db_chain["ok"].as_u64().unwrap() > 0,
        "ran before the outage"
    );
    assert!(db_chain["failed"].as_u64().unwrap() > 0, "failed during it");
    let unavailable = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["chain"] == "db-get-cert" && f["reason"] == "db:unavailable")
        .unwrap_or_else(|| panic!("{}", r["failures"]));
    assert!(unavailable["count"].as_u64().unwrap() > 0);
    // Failing fast: a failed db chain takes far less than a connection timeout (2 s).
    let p50 = db_chain["failed_latency_ms"]["p50"].as_f64().unwrap();
    assert!(p50 < 100.0, "failed db chains took {p50} ms (p50)");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}
