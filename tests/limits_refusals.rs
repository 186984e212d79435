//! An operator's mistake gets a clear refusal, not an out-of-memory kill: schedules beyond the
//! machine, zero and overflowing values, taken ports, public CAs and secrets, each with its
//! exact message and exit code, from the binary.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use common::{free_port, run_bounded, show, wec, Pebble};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Listeners on free loopback ports, the control API on any port, and a 2 s request timeout:
/// a run that only needs to start (or be refused) against `cmd`'s target.
fn on_free_ports(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("WEC_TARGET__REQUEST_TIMEOUT", "2s")
        .env("WEC_CONTROL__LISTEN", "127.0.0.1:0")
        .env(
            "WEC_CHALLENGE__HTTP01_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env(
            "WEC_CHALLENGE__TLSALPN01_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env(
            "WEC_CHALLENGE__DNS_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
}

/// A run refused before it starts: well within this.
const QUICK: Duration = Duration::from_secs(20);

#[test]
fn a_hundred_million_attackers_are_refused_before_any_starts() {
    let out = run_bounded(
        wec().args(["--duration", "10s", "hammer", "100000000"]),
        QUICK,
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr(&out);
    let line = err.lines().last().unwrap();
    assert!(
        line.starts_with(
            "wile-e-coyote: error: hammer 100000000: 100000000 attackers would need about \
             3.0 TiB of memory (about 32.0 KiB each, planned from measurements), but this \
             machine has "
        ),
        "{err}"
    );
    assert!(
        line.ends_with(
            "attackers fit. Lower the attacker count (WORKERNUM, FINALWORKERS), or free memory \
             or use a larger machine"
        ),
        "{err}"
    );

    let out = run_bounded(
        wec().args(["rate", "1000000", "--max-in-flight", "100000000"]),
        QUICK,
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "wile-e-coyote: error: rate 1000000 --max-in-flight 100000000: 100000000 chains in \
             flight would need about 3.0 TiB of memory"
        ),
        "{err}"
    );
    assert!(
        err.contains("Lower --max-in-flight (schedule.max_in_flight)"),
        "{err}"
    );
}

#[test]
fn zero_and_overflowing_values_are_refused_at_parse_time() {
    for (args, message) in [
        (
            &["hammer", "0"][..],
            "error: invalid value '0' for '<WORKERNUM>': must be at least 1: no attacker would run",
        ),
        (
            &["--duration", "0", "hammer", "1"][..],
            "error: invalid value '0' for '--duration <DURATION>': invalid duration \"0\": must \
             be longer than zero (examples: 30, 500ms, 2m, 1h30m)",
        ),
        (
            &["--duration", "1000000000h", "hammer", "1"][..],
            "error: invalid value '1000000000h' for '--duration <DURATION>': invalid duration \
             \"1000000000h\": longer than the maximum of 365d (examples: 30, 500ms, 2m, 1h30m)",
        ),
        (
            &["seq", "18446744073709551616", "1"][..],
            "error: invalid value '18446744073709551616' for '<INTERVAL>': invalid duration \
             \"18446744073709551616\": longer than the maximum of 365d (examples: 30, 500ms, 2m, \
             1h30m)",
        ),
    ] {
        let out = run_bounded(wec().args(args), QUICK);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", show(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().next(), Some(message), "{args:?}\n{err}");
    }
}

/// Every listener binds before anything starts: a taken port ends the run with exit 1 and one
/// line naming the listener and the address, and no panic from actix's teardown before it.
#[test]
fn a_taken_port_is_one_clear_line_and_exit_1() {
    let taken_tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = taken_tcp.local_addr().unwrap();
    let taken_udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = taken_udp.local_addr().unwrap();
    let free = || format!("127.0.0.1:{}", free_port());
    for (key, value, listener) in [
        ("WEC_CHALLENGE__HTTP01_LISTEN", tcp, "http-01 listener"),
        (
            "WEC_CHALLENGE__TLSALPN01_LISTEN",
            tcp,
            "tls-alpn-01 listener",
        ),
        ("WEC_CHALLENGE__DNS_LISTEN", udp, "DNS listener"),
        ("WEC_CONTROL__LISTEN", tcp, "control API listener"),
    ] {
        let mut cmd = wec();
        cmd.args(["--duration", "5s", "hammer", "1"])
            // Nothing answers here: had the run got that far, it would fail differently.
            .env("WEC_TARGET__DIRECTORY_URL", "http://127.0.0.1:1/dir")
            .env("WEC_CHALLENGE__HTTP01_LISTEN", free())
            .env("WEC_CHALLENGE__TLSALPN01_LISTEN", free())
            .env("WEC_CHALLENGE__DNS_LISTEN", free())
            .env("WEC_CONTROL__LISTEN", "127.0.0.1:0")
            .env(key, value.to_string());
        let out = run_bounded(&mut cmd, QUICK);
        assert_eq!(out.status.code(), Some(1), "{key}\n{}", show(&out));
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{key}\n{err}");
        let last = err.lines().last().unwrap_or_default();
        let protocol = if listener == "DNS listener" {
            " (udp)"
        } else {
            ""
        };
        assert_eq!(
            last,
            format!(
                "wile-e-coyote: error: {listener} {value}{protocol}: Address already in use \
                 (os error 98)"
            ),
            "{key}\n{err}"
        );
    }
}

/// The soft limit of file descriptors is raised to the hard limit at start, and said (or, where
/// the hard limit is 1024 itself, that it is the hard limit).
#[test]
fn the_descriptor_limit_is_raised_and_logged() {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let hard: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|h| h.parse().ok())
        .expect("a numeric hard limit of open files");
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "ulimit -Sn 1024 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_wile-e-coyote"))
        .args(["--duration", "5s", "hammer", "1"])
        .env_remove("RUST_LOG")
        .env("WEC_TARGET__DIRECTORY_URL", "http://127.0.0.1:1/dir");
    on_free_ports(&mut cmd);
    let out = run_bounded(&mut cmd, QUICK);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let expected = match hard.min(nr_open) {
        1024 => "file descriptors: limit 1024 (the hard limit)".to_owned(),
        ceiling => {
            format!("file descriptors: soft limit raised from 1024 to {ceiling} (the hard limit)")
        }
    };
    assert!(
        stderr(&out).contains(&expected),
        "{expected}\n{}",
        show(&out)
    );
}

/// Passwords and tokens never reach the terminal: a malformed DSN, a TOML syntax error on a
/// secret's line, a directory URL's credentials.
#[test]
fn secrets_are_never_shown() {
    let out = run_bounded(
        wec().args(["--mysql", "u:hunter2@tcp(127.0.0.1:3306)", "hammer", "1"]),
        QUICK,
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert_eq!(
        stderr(&out).trim_end(),
        "wile-e-coyote: error: --mysql \"u:***@tcp(127.0.0.1:3306)\": no /database (expected \
         user:pass@tcp(127.0.0.1:3306)/boulder or mysql://user:pass@127.0.0.1:3306/boulder)"
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("secret.toml");
    std::fs::write(&config, "[control]\ntoken = \"hunter2-hunter2-hunter2\n").unwrap();
    let out = run_bounded(
        wec().arg("--config").arg(&config).args(["hammer", "1"]),
        QUICK,
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "wile-e-coyote: error: config {}: TOML parse error at line 2, column 33: invalid \
             basic string, expected `\"`",
            config.display()
        )
    );

    let out = run_bounded(
        on_free_ports(wec().args(["--duration", "2s", "hammer", "1"]).env(
            "WEC_TARGET__DIRECTORY_URL",
            "http://user:hunter2@127.0.0.1:1/dir",
        )),
        QUICK,
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = stderr(&out);
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        err.contains("cannot use the ACME directory http://***@127.0.0.1:1/dir"),
        "{err}"
    );
}

/// The directory URL's credentials stay out of the summary header and the report of a run
/// that went through.
#[test]
fn a_run_shows_its_target_without_credentials() {
    let pebble = Pebble::start();
    let url = pebble
        .directory_url()
        .replace("https://", "https://user:hunter2@");
    let out = pebble.run(
        pebble
            .attack("3s")
            .args(["hammer", "1"])
            .env("WEC_TARGET__DIRECTORY_URL", &url),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let shown = pebble.directory_url().replace("https://", "https://***@");
    assert!(
        stdout.contains(&format!("wile-e-coyote hammer 1 against {shown}")),
        "{}",
        show(&out)
    );
    assert!(!stdout.contains("hunter2") && !stderr(&out).contains("hunter2"));
    assert_eq!(pebble.report()["target"], shown.as_str());
}

/// The public-CA guard covers the URLs the directory lists and the database's URL templates,
/// and says in the log when it is lifted.
#[test]
fn the_public_ca_guard_covers_every_url_and_says_when_it_is_off() {
    // A directory of our own whose newOrder is Let's Encrypt's.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let directory = format!("http://{}/dir", server.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in server.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = r#"{"newNonce":"/nonce","newAccount":"/acct","newOrder":"https://acme-v02.api.letsencrypt.org/acme/new-order"}"#;
            let _ = write!(
                &stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let base = |cmd: &mut std::process::Command| {
        on_free_ports(
            cmd.args(["--duration", "2s", "hammer", "1"])
                .env("WEC_TARGET__DIRECTORY_URL", &directory),
        );
    };
    let mut cmd = wec();
    base(&mut cmd);
    let out = run_bounded(&mut cmd, QUICK);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains(
            "wile-e-coyote: error: refusing to load-test Let's Encrypt production (the \
             directory's newOrder https://acme-v02.api.letsencrypt.org/acme/new-order)"
        ),
        "{}",
        show(&out)
    );

    let mut cmd = wec();
    base(&mut cmd);
    cmd.args(["--mysql", "u:p@tcp(127.0.0.1:1)/boulder"]).env(
        "WEC_DB__CERT_URL",
        "https://dv.acme-v02.api.pki.goog/cert/{serial}",
    );
    let out = run_bounded(&mut cmd, QUICK);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr(&out).contains(
            "wile-e-coyote: error: refusing to load-test Google Trust Services production \
             (db.cert_url https://dv.acme-v02.api.pki.goog/cert/"
        ),
        "{}",
        show(&out)
    );

    for (how, flag) in [
        ("WEC_TARGET__ALLOW_PUBLIC_CA", None),
        ("--allow-public-ca", Some("--allow-public-ca")),
    ] {
        let mut cmd = wec();
        base(&mut cmd);
        match flag {
            Some(flag) => cmd.arg(flag),
            None => cmd.env(how, "true"),
        };
        let out = run_bounded(&mut cmd, QUICK);
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "the public-CA guard is off (--allow-public-ca or target.allow_public_ca): \
                 {directory} and the URLs it lists are not checked against the public ACME CAs"
            )),
            "{how}\n{}",
            show(&out)
        );
        assert!(!err.contains("refusing to load-test"), "{how}\n{err}");
    }
}
