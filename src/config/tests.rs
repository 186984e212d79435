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
    assert_eq!(
        s.target.directory_url.as_str(),
        "http://boulder:4001/directory"
    );
    assert_eq!(s.target.request_timeout, Duration::from_secs(2));
    assert_eq!(s.polling.interval, Duration::from_secs(1));
    assert_eq!(
        s.chains.issue.names_per_order.weights(),
        [(1, 1), (2, 1), (3, 1)]
    );
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
    assert_eq!(s.target.directory_url.as_str(), "http://b:2/dir");
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
    assert!(
        msg.contains("key `target.directory_url`: not a URL"),
        "{msg}"
    );

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
        s.schedule.unwrap(),
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
    let Schedule::Rate(rate) = s.schedule.unwrap() else {
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
        s.schedule.unwrap(),
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
            "`schedule`: workers",
            "required by mode = \"hammer\"",
        ),
        (
            "mode = \"hammer\"\nworkers = 0",
            "`schedule`",
            "WORKERNUM must be at least 1",
        ),
        (
            "mode = \"aseq\"\nincrement = 2\ninterval = 1",
            "`schedule`: final_workers",
            "required",
        ),
        (
            "mode = \"rate\"\nchains_per_sec = 1\ndelta = \"x\"",
            "`schedule`: delta",
            "N/PERIOD",
        ),
        (
            "mode = \"seq\"\nworkers = [1]\ninterval = \"400d\"",
            "`schedule.interval`",
            "longer than the maximum of 365d",
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
    assert!(msg.contains("must be 16 to 1024 characters long"), "{msg}");
    assert!(!msg.contains("short"), "the token is never quoted: {msg}");
    let msg = load("[control]\ntoken = \"0123456789 abcdef\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("printable ASCII without spaces"), "{msg}");
    let ok = load(
        "[control]\nlisten = \"0.0.0.0:9180\"\ntoken = \"0123456789abcdef\"\n",
        &[],
    );
    assert!(ok.is_ok());
    let msg = load("[control]\nenabled = false\nlisten = \"nonsense\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("key `control.listen`: \"nonsense\": invalid socket address syntax"),
        "a bad value is an error even where it is not used: {msg}"
    );
}

#[test]
fn public_ca_needs_permission() {
    let s = load(
        "[target]\ndirectory_url = \"https://acme-v02.api.letsencrypt.org/directory\"\n",
        &[],
    )
    .unwrap();
    let msg = s.check_public_ca().unwrap_err().to_string();
    assert!(msg.contains("Let's Encrypt production") && msg.contains("--allow-public-ca"));
    let allowed = load(
        "[target]\ndirectory_url = \"https://acme-v02.api.letsencrypt.org/directory\"\n",
        &[("WEC_TARGET__ALLOW_PUBLIC_CA", "true")],
    )
    .unwrap();
    assert!(allowed.check_public_ca().is_ok());
}

/// The database's URL templates are URLs the tool contacts too: one on a public CA is refused
/// like a directory would be (only when a database is used).
#[test]
fn database_url_templates_pass_the_public_ca_guard() {
    let toml = "[db]\ncert_url = \"https://acme.zerossl.com/cert/{serial}\"\n";
    assert!(
        load(toml, &[]).unwrap().check_public_ca().is_ok(),
        "no database"
    );
    let msg = load(toml, &[("WEC_DB__URL", "u:p@tcp(127.0.0.1:3306)/boulder")])
        .unwrap()
        .check_public_ca()
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with(
            "refusing to load-test ZeroSSL production (db.cert_url https://acme.zerossl.com/cert/"
        ),
        "{msg}"
    );
}

/// Environment variables of string keys are strings, even when they look like numbers;
/// numeric and boolean keys still parse.
#[test]
fn environment_strings_stay_strings() {
    let s = load(
        "",
        &[
            ("WEC_CONTROL__TOKEN", "0001234567890123456"),
            ("WEC_CHAINS__ISSUE__BASE_DOMAIN", "1234.test"),
            ("WEC_STATSD__PREFIX", "007"),
            ("WEC_CHALLENGE__BASE_DOMAINS", "1234.test"),
            ("WEC_CHALLENGE__TLSALPN01_LISTEN", ""),
            ("WEC_TARGET__BAD_NONCE_RETRIES", "7"),
            ("WEC_RUN__WATCH_CONFIG", "false"),
            ("WEC_CHAINS__REVOKE__REASONS", "1,4"),
        ],
    )
    .unwrap();
    let token = s.control.token.as_ref().map(|t| t.expose());
    assert_eq!(token, Some("0001234567890123456"));
    assert_eq!(s.chains.issue.base_domain, "1234.test");
    assert_eq!(s.statsd.prefix, "007");
    assert_eq!(s.dns_base_domains(), ["1234.test"]);
    assert!(
        s.challenge.tlsalpn01_listen.is_empty(),
        "an empty list is []"
    );
    assert_eq!(s.target.bad_nonce_retries, 7);
    assert!(!s.run.watch_config);
    assert_eq!(s.chains.revoke.reasons, [1, 4]);
}

/// A TOML syntax error says where, without quoting the line: it may hold a secret.
#[test]
fn syntax_errors_do_not_quote_secrets() {
    for (toml, secret) in [
        (
            "[control]\ntoken = \"s3cr3t-t0ken-abcdefgh\n",
            "s3cr3t-t0ken",
        ),
        (
            "[db]\nurl = \"u:hunter2@tcp(db:3306)/boulder\" x\n",
            "hunter2",
        ),
    ] {
        let msg = load(toml, &[]).unwrap_err().to_string();
        assert!(!msg.contains(secret), "{msg}");
        assert!(msg.contains("TOML parse error at line 2"), "{msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }
}

/// A directory URL's credentials never show, in errors or in the log.
#[test]
fn directory_url_credentials_do_not_show() {
    let s = load(
        "[target]\ndirectory_url = \"https://user:hunter2@ca.test/dir\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        s.target.directory_url.to_string(),
        "https://***@ca.test/dir"
    );
    assert!(!format!("{s:?}").contains("hunter2"));
    let msg = load(
        "[target]\ndirectory_url = \"ftp://user:hunter2@ca.test/dir\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.ends_with(
            "key `target.directory_url`: ftp://***@ca.test/dir is not an http(s) URL with a host"
        ),
        "{msg}"
    );
}

/// The database's URL is parsed once, at load: the settings (and their `Debug`) and its
/// errors show it with the password masked; the URL templates are checked at load too.
#[test]
fn the_database_is_parsed_at_load_without_showing_its_password() {
    let s = load(
        "[db]\nurl = \"u:hunter2@tcp(db:3306)/boulder\"\norder_url = \"/o/{orderID}\"\n",
        &[],
    )
    .unwrap();
    let url = s.db.url.as_ref().unwrap();
    assert_eq!(url.url().as_str(), "mysql://u:hunter2@db:3306/boulder");
    assert_eq!(url.to_string(), "mysql://u:***@db:3306/boulder");
    assert!(!format!("{s:?}").contains("hunter2"));
    let templates = s.db.url_templates(s.directory_url());
    assert_eq!(templates.order(7, 9), "https://127.0.0.1:14000/o/9");
    let msg = load("", &[("WEC_DB__URL", "u:hunter2@tcp(db:3306)")])
        .unwrap_err()
        .to_string();
    assert!(
        msg.ends_with(
            "key `db.url`: \"u:***@tcp(db:3306)\": no /database (expected \
             user:pass@tcp(127.0.0.1:3306)/boulder or mysql://user:pass@127.0.0.1:3306/boulder)"
        ),
        "{msg}"
    );
    let msg = load("[db]\nauthz_url = \"/acme/authz/{regID}\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.ends_with(
            "key `db.authz_url`: authorization template \"/acme/authz/{regID}\" lacks {authzID}"
        ),
        "{msg}"
    );
}

#[test]
fn durations_are_bounded_and_a_run_is_not_empty() {
    let msg = load("[run]\nduration = \"0s\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`run.duration`: must be longer than zero"),
        "{msg}"
    );
    let msg = load("[run]\ngrace_period = \"1000000000h\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("key `run.grace_period`: invalid duration \"1000000000h\": longer than the maximum of 365d"),
        "{msg}"
    );
    let msg = load("[run]\nthink_time = 1e30\n", &[])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`run.think_time`"), "{msg}");
}

/// Each attacker presents a stable address of its own from the range; the header and the
/// range come together, and the header must be one the tool does not set itself.
#[test]
fn source_addresses_per_attacker() {
    let s = load(
        "[target]\nsource_address_header = \"X-Real-IP\"\nsource_addresses = \"198.18.0.0/15\"\n",
        &[],
    )
    .unwrap();
    let (header, first) = s.source_address(1).unwrap();
    assert_eq!(header, "X-Real-IP");
    assert_eq!(s.source_address(1).unwrap().1, first, "stable per attacker");
    let addresses: std::collections::HashSet<_> =
        (0..100).map(|id| s.source_address(id).unwrap().1).collect();
    assert_eq!(
        addresses.len(),
        100,
        "distinct attackers, distinct addresses"
    );
    let inside = |a: &std::net::IpAddr| match a {
        std::net::IpAddr::V4(v4) => matches!(v4.octets(), [198, 18 | 19, _, _]),
        std::net::IpAddr::V6(_) => false,
    };
    assert!(addresses.iter().all(inside), "{addresses:?}");
    assert!(load("", &[]).unwrap().source_address(1).is_none());
    for (toml, expected) in [
        (
            "[target]\nsource_addresses = \"198.18.0.0/15\"\n",
            "`target.source_addresses`: needs target.source_address_header",
        ),
        (
            "[target]\nsource_address_header = \"Host\"\nsource_addresses = \"10.0.0.0/8\"\n",
            "`target.source_address_header`: \"Host\" is a header the tool sets itself",
        ),
        (
            "[target]\nsource_address_header = \"X-Real-IP\"\nsource_addresses = \"10.0.0.0\"\n",
            "not in CIDR notation",
        ),
    ] {
        let err = load(toml, &[]).unwrap_err().to_string();
        assert!(err.contains(expected), "{toml}\n=> {err}");
    }
}

/// The shipped configs load: `config/pebble.toml` as it is, `config/boulder.toml` once the
/// paths docs/boulder.md has the operator fill in point at real files.
#[test]
fn the_shipped_configs_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let pebble = Settings::load_with_env(Some(&dir.join("pebble.toml")), Some(HashMap::new()));
    if let Err(e) = &pebble {
        // Only the throwaway CA of a Pebble not started yet may be missing.
        assert!(e.to_string().contains("target.ca_cert"), "{e}");
    }
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = crate::test_support::self_signed_ca("64.112.117.1");
    let write = |name: &str, pem: Vec<u8>| {
        let path = files.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path.display().to_string()
    };
    let env: HashMap<String, String> = [
        (
            "WEC_CHALLENGE__DOH_CERTIFICATE",
            write("doh.pem", cert.to_pem().unwrap()),
        ),
        (
            "WEC_CHALLENGE__DOH_KEY",
            write("doh-key.pem", key.private_key_to_pem_pkcs8().unwrap()),
        ),
        (
            "WEC_CHAINS__ISSUE__VERIFY_ROOT",
            write("root.pem", cert.to_pem().unwrap()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let boulder = Settings::load_with_env(Some(&dir.join("boulder.toml")), Some(env)).unwrap();
    assert_eq!(boulder.target.flavor, Flavor::Boulder);
    assert!(
        boulder.warnings().is_empty(),
        "the shipped Boulder config is right for Boulder: {:?}",
        boulder.warnings()
    );
    let server = boulder.challenge_server();
    assert_eq!(server.http01[0].port(), 80);
    assert_eq!(server.tlsalpn01[0].port(), 443);
    assert!(server.dns.is_empty() && !server.doh.is_empty());
}

#[test]
fn names_and_contacts_carry_the_shard_label() {
    let mut settings = Settings::load_with_env(None, Some(HashMap::new())).unwrap();
    settings.name_for_shard(Shard::parse("2/3").unwrap());
    assert_eq!(settings.chains.issue.base_domain, "s2.wile.test");
    assert_eq!(
        settings.chains.account_update.contact_domain,
        "s2.wile.test"
    );
    assert_eq!(settings.dns_base_domains(), ["s2.wile.test"]);
}
