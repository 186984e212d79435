//! Refusals: bad command lines and configs exit 2 with a message naming what and why; a target
//! that cannot be reached exits 1.

mod common;

use std::time::Duration;

use common::{run_bounded, show, wec};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bare_invocation_prints_usage() {
    let out = run_bounded(&mut wec(), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for word in ["Usage", "hammer", "seq", "aseq", "--mysql", "--config"] {
        assert!(err.contains(word), "usage lacks {word}: {err}");
    }
}

#[test]
fn bad_config_names_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, "[target]\nrequest_timeout = \"whenever\"\n").unwrap();
    let out = run_bounded(
        wec().arg("--config").arg(&path).args(["hammer", "1"]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("broken.toml"), "{err}");
    assert!(err.contains("request_timeout"), "{err}");
    assert!(err.contains("invalid duration"), "{err}");

    std::fs::write(&path, "[target]\ndirectory_url = \"ftp://ca/\"\n").unwrap();
    let out = run_bounded(
        wec().arg("--config").arg(&path).args(["hammer", "1"]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr(&out).contains("`target.directory_url`"),
        "{}",
        show(&out)
    );

    let out = run_bounded(
        wec().args(["--config", "/nonexistent/wec.toml", "hammer", "1"]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr(&out).contains("/nonexistent/wec.toml"),
        "{}",
        show(&out)
    );
}

#[test]
fn environment_overrides_are_validated_too() {
    let out = run_bounded(
        wec()
            .args(["hammer", "1"])
            .env("WEC_TARGET__REQUEST_TIMEOUT", "0s"),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr(&out).contains("`target.request_timeout`"),
        "{}",
        show(&out)
    );
}

#[test]
fn public_ca_is_refused_without_permission() {
    for url in [
        "https://acme-v02.api.letsencrypt.org/directory",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ] {
        let out = run_bounded(
            wec()
                .args(["--duration", "1s", "hammer", "1"])
                .env("WEC_TARGET__DIRECTORY_URL", url),
            Duration::from_secs(10),
        );
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        let err = stderr(&out);
        assert!(
            err.contains("refusing") && err.contains("Let's Encrypt"),
            "{err}"
        );
        assert!(err.contains("--allow-public-ca"), "{err}");
    }
}

#[test]
fn bad_schedules_and_mysql_uris_are_refused() {
    let out = run_bounded(
        wec().args(["aseq", "5", "2", "10"]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("FINALWORKERS (2)"), "{}", show(&out));

    let out = run_bounded(wec().args(["seq", "0", "1"]), Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("INTERVAL"), "{}", show(&out));

    let out = run_bounded(
        wec().args([
            "--mysql",
            "root@unix(/run/mysqld.sock)/boulder",
            "hammer",
            "1",
        ]),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("--mysql"), "{}", show(&out));
}

#[test]
fn unreachable_target_is_a_runtime_error() {
    // Nothing listens on port 1 of loopback.
    let out = run_bounded(
        wec()
            .args(["--duration", "1s", "hammer", "1"])
            .env("WEC_TARGET__DIRECTORY_URL", "http://127.0.0.1:1/dir")
            .env("WEC_TARGET__REQUEST_TIMEOUT", "2s"),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("http://127.0.0.1:1/dir"), "{err}");
}
