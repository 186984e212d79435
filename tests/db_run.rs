//! `--mysql` on a real run against Pebble: the storage-side view of the run (high-water marks
//! of Boulder's tables, here a fixture that a thread fills as a CA would), a database that is
//! unreachable at start, one that stops mid-run while the chains carry on, and one that is
//! slow (not down) mid-run, told apart in the report.

mod common;

use std::time::Duration;

use common::mariadb::MariaDb;
use common::{show, wait_bounded, wec, Pebble};
use diesel::connection::SimpleConnection;

#[test]
fn the_report_shows_how_far_the_tables_grew() {
    let pebble = Pebble::start();
    let maria = MariaDb::start();
    maria.fixture("boulder", "current");
    let child = pebble
        .attack("3s")
        .args(["--mysql", &maria.readonly_dsn("boulder")])
        .args(["hammer", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stand in for the CA: 30 certificates written during the run.
    std::thread::sleep(Duration::from_millis(1000));
    for i in 1..=30 {
        maria.exec(
            "boulder",
            &format!(
                "INSERT INTO certificates (registrationID, serial, digest, der, issued, expires) \
                 VALUES (1, '{i:036x}', 'd', X'00', NOW(), NOW())"
            ),
        );
    }
    let out = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = pebble.report();
    let certs = &r["storage"]["certificates"];
    assert_eq!(
        (certs["start"].as_u64(), certs["end"].as_u64()),
        (Some(0), Some(30)),
        "{r}"
    );
    let per_s = certs["rows_per_s"].as_f64().unwrap();
    assert!(per_s > 5.0 && per_s < 15.0, "{per_s}");
    assert_eq!(r["storage"]["orders"]["rows_per_s"], 0.0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Boulder database (largest id"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wec_ro:***@"),
        "the password is not logged: {stderr}"
    );
}

#[test]
fn an_unreachable_database_at_start_is_a_clear_error() {
    let pebble = Pebble::start();
    let out = pebble.run(
        wec()
            .arg("--config")
            .arg(pebble.config())
            .args([
                "--mysql",
                "wec:secret@tcp(127.0.0.1:1)/boulder",
                "--duration",
                "2s",
            ])
            .args(["hammer", "1"]),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Boulder database mysql://wec:***@127.0.0.1:1/boulder"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[test]
fn a_database_stopping_mid_run_does_not_stop_the_chains() {
    let pebble = Pebble::start();
    let maria = MariaDb::start();
    maria.fixture("boulder", "legacy");
    let child = pebble
        .attack("4s")
        .args(["--mysql", &maria.readonly_dsn("boulder")])
        .args(["hammer", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    maria.stop();
    let out = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = pebble.report();
    assert!(
        r["chains"]["issue"]["ok"].as_u64().unwrap() > 10,
        "{}",
        show(&out)
    );
    assert_eq!(r["chains"]["issue"]["failed"], 0, "{}", show(&out));
    assert!(
        r["storage"].is_null(),
        "no end snapshot without the database"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Boulder database at the end of the run"),
        "{stderr}"
    );
}

#[test]
fn a_slow_database_fails_db_chains_with_timeouts_not_an_outage() {
    let pebble = Pebble::start();
    let maria = MariaDb::start();
    maria.fixture("boulder", "current");
    let child = pebble
        .attack("4s")
        .args(["--mysql", &maria.readonly_dsn("boulder")])
        .args(["hammer", "2"])
        .env("WEC_CHAINS__WEIGHTS__ISSUE", "1")
        .env("WEC_CHAINS__WEIGHTS__DB_GET_CERT", "1")
        .env("WEC_DB__QUERY_TIMEOUT", "300ms")
        .env("WEC_DB__CONSISTENCY_CHECKS", "false")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the run is going, another session holds a write lock on certificates for two
    // seconds: every read of it waits until its statement timeout.
    std::thread::sleep(Duration::from_millis(1000));
    let mut locker = maria.admin("boulder");
    locker
        .batch_execute("LOCK TABLES certificates WRITE")
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    locker.batch_execute("UNLOCK TABLES").unwrap();
    let out = wait_bounded(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let r = pebble.report();
    assert!(
        r["chains"]["issue"]["ok"].as_u64().unwrap() > 5,
        "{}",
        show(&out)
    );
    assert_eq!(r["chains"]["issue"]["failed"], 0, "{}", show(&out));
    let failures = r["failures"].as_array().unwrap();
    let count = |reason: &str| {
        failures
            .iter()
            .filter(|f| f["chain"] == "db-get-cert" && f["reason"] == reason)
            .map(|f| f["count"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert!(count("db:timeout") > 0, "{failures:?}");
    assert_eq!(count("db:unavailable"), 0, "{failures:?}");
    // The lock was gone before the end: the end-of-run snapshot was read.
    assert!(!r["storage"].is_null(), "{}", show(&out));
}
