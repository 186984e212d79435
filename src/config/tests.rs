//! Tests of loading and validating settings (file, environment, errors).

use super::*;
use std::collections::HashMap;
use std::io::Write;

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(contents.as_bytes()).unwrap();
    f
}

/// Settings from `contents` as a file, and `env` as the whole environment.
pub(super) fn load(contents: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let f = file(contents);
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::load_with_env(Some(f.path()), Some(env))
}

#[test]
fn defaults_are_valid() {
    let s = Settings::load_with_env(None, Some(HashMap::new())).unwrap();
    assert_eq!(s.target.request_timeout, Duration::from_secs(30));
    let server = s.challenge_server();
    assert_eq!(server.http01, vec!["127.0.0.1:5002".parse().unwrap()]);
    assert_eq!(server.zone.base_domains, ["wile.test"]);
    assert!(server.zone.ipv6.is_empty(), "no AAAA unless asked for");
}

#[test]
fn file_values_and_durations() {
    let s = load(
        "[target]\ndirectory_url = \"http://boulder:4001/directory\"\nrequest_timeout = \"2s\"\n\
         [polling]\ninterval = 1\n[chains.issue]\nnames_per_order = [1, 3]\n",
        &[],
    )
    .unwrap();
    assert_eq!(s.target.directory_url, "http://boulder:4001/directory");
    assert_eq!(s.target.request_timeout, Duration::from_secs(2));
    assert_eq!(s.polling.interval, Duration::from_secs(1));
    assert_eq!(s.chains.issue.names_per_order, NamesPerOrder::Between(1, 3));
}

#[test]
fn environment_overrides_nested_keys() {
    let s = load(
        "[target]\ndirectory_url = \"http://a:1/dir\"\n",
        &[
            ("WEC_TARGET__DIRECTORY_URL", "http://b:2/dir"),
            ("WEC_TARGET__BAD_NONCE_RETRIES", "9"),
            (
                "WEC_CHALLENGE__HTTP01_LISTEN",
                "127.0.0.1:80,127.0.0.1:5002",
            ),
            ("WEC_RUN__GRACE_PERIOD", "5s"),
        ],
    )
    .unwrap();
    assert_eq!(s.target.directory_url, "http://b:2/dir");
    assert_eq!(s.target.bad_nonce_retries, 9);
    assert_eq!(s.challenge.http01_listen.len(), 2);
    assert_eq!(s.run.grace_period, Duration::from_secs(5));
}

#[test]
fn errors_name_file_key_and_reason() {
    let err = load("[target]\nrequest_timeout = \"soon\"\n", &[]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(".toml") && msg.contains("request_timeout"),
        "{msg}"
    );
    assert!(msg.contains("invalid duration"), "{msg}");

    let msg = load("[target]\ndirectory_url = \"nope\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`target.directory_url`: not a URL"), "{msg}");

    let msg = load("[target]\ndirectoy_url = \"http://x/\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unknown field `directoy_url`"), "{msg}");

    let msg = load("[challenge]\nhttp01_listen = [\"localhost\"]\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`challenge.http01_listen`"), "{msg}");

    let msg = load("[target]\nca_cert = \"missing.pem\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`target.ca_cert`: cannot read"), "{msg}");

    let msg = load("[chains.issue]\nnames_per_order = [3, 1]\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("names_per_order"), "{msg}");

    let msg = load("[target\n", &[]).unwrap_err().to_string();
    assert!(msg.contains(".toml"), "{msg}");
}

#[test]
fn relative_paths_follow_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let pem = crate::test_support::self_signed_pem();
    std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[target]\nca_cert = \"ca.pem\"\n").unwrap();
    let s = Settings::load_with_env(Some(&cfg), Some(HashMap::new())).unwrap();
    assert_eq!(s.target.ca_cert, Some(dir.path().join("ca.pem")));
}

#[test]
fn schedule_table_gives_any_mode() {
    use crate::schedule::{Schedule, Workers};
    let s = load(
        "[schedule]\nmode = \"seq\"\ninterval = \"30s\"\nworkers = [1, 4]\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        s.schedule.unwrap().to_schedule().unwrap(),
        Schedule::Workers(Workers::Seq {
            interval: Duration::from_secs(30),
            workers: vec![1, 4]
        })
    );
    let s = load(
        "[schedule]\nmode = \"rate\"\nchains_per_sec = 2.5\ndelta = \"1/10s\"\n",
        &[],
    )
    .unwrap();
    let Schedule::Rate(rate) = s.schedule.unwrap().to_schedule().unwrap() else {
        panic!("not rate")
    };
    assert_eq!(rate.max_in_flight, crate::cli::DEFAULT_MAX_IN_FLIGHT);
    let s = load(
        "",
        &[
            ("WEC_SCHEDULE__MODE", "hammer"),
            ("WEC_SCHEDULE__WORKERS", "3"),
        ],
    )
    .unwrap();
    assert_eq!(
        s.schedule.unwrap().to_schedule().unwrap(),
        Schedule::Workers(Workers::Hammer { workers: 3 })
    );
}

#[test]
fn schedule_table_errors_name_the_key() {
    for (toml, key, why) in [
        (
            "mode = \"hammer\"\nworkers = \"many\"",
            "workers",
            "a number of attackers",
        ),
        (
            "mode = \"hammer\"",
            "`schedule.workers`",
            "required by mode = \"hammer\"",
        ),
        (
            "mode = \"aseq\"\nincrement = 2\ninterval = 1",
            "`schedule.final_workers`",
            "required",
        ),
        (
            "mode = \"rate\"\nchains_per_sec = 1\ndelta = \"x\"",
            "`schedule.delta`",
            "N/PERIOD",
        ),
        (
            "mode = \"rate\"\nchains_per_sec = -1",
            "`schedule`",
            "CHAINS_PER_SEC",
        ),
        ("mode = \"stampede\"", "`schedule.mode`", "stampede"),
        (
            "mode = \"hammer\"\nworkers = 1\nwrokers = 2",
            "wrokers",
            "unknown field",
        ),
    ] {
        let msg = load(&format!("[schedule]\n{toml}\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains(key) && msg.contains(why), "{toml}: {msg}");
    }
}

#[test]
fn control_api_off_loopback_needs_a_token() {
    let msg = load("[control]\nlisten = \"0.0.0.0:9180\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`control.token`") && msg.contains("loopback"),
        "{msg}"
    );
    let msg = load("[control]\ntoken = \"short\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("16 characters"), "{msg}");
    let ok = load(
        "[control]\nlisten = \"0.0.0.0:9180\"\ntoken = \"0123456789abcdef\"\n",
        &[],
    );
    assert!(ok.is_ok());
    assert!(load("[control]\nenabled = false\nlisten = \"nonsense\"\n", &[]).is_ok());
}

#[test]
fn public_ca_needs_permission() {
    let s = load(
        "[target]\ndirectory_url = \"https://acme-v02.api.letsencrypt.org/directory\"\n",
        &[],
    )
    .unwrap();
    let msg = s.check_public_ca(false).unwrap_err();
    assert!(msg.contains("Let's Encrypt production") && msg.contains("--allow-public-ca"));
    assert!(s.check_public_ca(true).is_ok());
}
