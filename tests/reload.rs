//! Config reload on a running daemon against a real Pebble: the schedule changes without a
//! restart, an invalid file is refused and the old schedule keeps running, and SIGHUP, a file
//! change and `POST /reload` all trigger it. Also the control API's token.

mod common;

use std::path::Path;

use common::daemon::Daemon;
use common::Pebble;

fn write_schedule(config: &Path, base: &str, schedule: &str) {
    std::fs::write(config, format!("{base}\n[schedule]\n{schedule}\n")).unwrap();
}

#[test]
fn sighup_and_post_reload_change_the_schedule_and_refuse_bad_files() {
    let pebble = Pebble::start();
    let config = pebble.config();
    let base = std::fs::read_to_string(&config).unwrap();
    write_schedule(&config, &base, "mode = \"hammer\"\nworkers = 2");
    // Only explicit reloads here; the file watcher has its own test.
    let mut d = Daemon::start(&config, &[("WEC_RUN__WATCH_CONFIG", "false")]);
    let s = d.wait_status("2 attackers", |s| s["attackers"] == 2);
    assert_eq!(s["mode"], "hammer");
    assert_eq!(s["reloads"], 0);

    write_schedule(&config, &base, "mode = \"hammer\"\nworkers = 5");
    d.signal("-HUP");
    d.wait_for_log("restarting with new schedule hammer 5");
    let s = d.wait_status("5 attackers", |s| s["attackers"] == 5);
    assert_eq!(s["target_attackers"], 5);
    assert_eq!(s["reloads"], 1);

    // A broken file: refused, logged with file, key and reason; 5 attackers keep running.
    write_schedule(&config, &base, "mode = \"hammer\"\nworkers = \"many\"");
    let (code, body) = d.request("POST", "/reload", None);
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["result"], "rejected");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("wec.toml") && reason.contains("workers"),
        "{reason}"
    );
    let line = d.wait_for_log("rejected, keeping the running config");
    assert!(line.contains("wec.toml"), "{line}");
    let s = d.status();
    assert_eq!(
        (s["attackers"].as_u64(), s["reloads_rejected"].as_u64()),
        (Some(5), Some(1))
    );

    // A good one through the API: accepted and applied.
    write_schedule(
        &config,
        &base,
        "mode = \"seq\"\ninterval = \"1h\"\nworkers = [3, 9]",
    );
    let (code, body) = d.request("POST", "/reload", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["result"], "accepted");
    let s = d.wait_status("3 attackers", |s| s["attackers"] == 3);
    assert_eq!(
        (s["mode"].as_str(), s["step"].as_u64()),
        (Some("seq"), Some(1))
    );
    assert_eq!(s["reloads"], 2);
    let s = d.wait_status("chains completing", |s| s["chains_ok"].as_u64() > Some(0));
    assert_eq!(s["chains_failed"], 0, "{s}");
    assert!(s["uptime_s"].as_f64().unwrap() > s["schedule_elapsed_s"].as_f64().unwrap());

    let summary = d.stop();
    assert!(summary.contains("chains ok"), "{summary}");
}

#[test]
fn a_change_on_disk_reloads_without_a_signal() {
    let pebble = Pebble::start();
    let config = pebble.config();
    let base = std::fs::read_to_string(&config).unwrap();
    write_schedule(&config, &base, "mode = \"hammer\"\nworkers = 1");
    let mut d = Daemon::start(&config, &[]);
    d.wait_status("1 attacker", |s| s["attackers"] == 1);

    // As an editor saves: a new file renamed over the old one.
    let tmp = config.with_extension("toml.new");
    let changed = base.clone() + "\n[schedule]\nmode = \"hammer\"\nworkers = 4\n";
    std::fs::write(&tmp, changed).unwrap();
    std::fs::rename(&tmp, &config).unwrap();
    d.wait_for_log("config reloaded: restarting with new schedule hammer 4");
    let s = d.wait_status("4 attackers", |s| s["attackers"] == 4);
    assert_eq!(s["reloads"], 1, "one reload for one save: {s}");

    // A restart-only key changed on disk is reported, not silently ignored.
    let moved = base.replace(&format!("127.0.0.1:{}", pebble.http01_port), "127.0.0.1:1")
        + "\n[schedule]\nmode = \"hammer\"\nworkers = 4\n";
    std::fs::write(&config, moved).unwrap();
    let line = d.wait_for_log("`challenge` changed but only takes effect after a restart");
    assert!(line.contains("WARN"), "{line}");
    let s = d.wait_status("second reload", |s| s["reloads"] == 2);
    assert_eq!(
        s["chains_failed"], 0,
        "the challenge server kept its address: {s}"
    );
    d.stop();
}

#[test]
fn the_control_api_demands_its_token() {
    let pebble = Pebble::start();
    let config = pebble.config();
    let base = std::fs::read_to_string(&config).unwrap();
    write_schedule(&config, &base, "mode = \"hammer\"\nworkers = 1");
    let token = "s3cret-token-for-the-test";
    let d = Daemon::start(&config, &[("WEC_CONTROL__TOKEN", token)]);
    let (code, body) = d.request("GET", "/status", None);
    assert_eq!(code, 401, "{body}");
    let (code, _) = d.request("POST", "/reload", Some("wrong-token-of-same-size"));
    assert_eq!(code, 401);
    let (code, body) = d.request("GET", "/status", Some(token));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["mode"], "hammer");
    let (code, _) = d.request("GET", "/nowhere", Some(token));
    assert_eq!(code, 404);
    drop(d);
}

/// Without a token, a web page the operator visits cannot drive the API: a foreign `Host` (DNS
/// rebinding) is refused, and `POST /reload` must be JSON, which a browser does not send
/// cross-site without a preflight. A refused reload's reason quotes no secret.
#[test]
fn the_control_api_refuses_cross_site_requests_and_secrets_stay_out_of_its_answers() {
    let pebble = Pebble::start();
    let config = pebble.config();
    let base = std::fs::read_to_string(&config).unwrap();
    write_schedule(&config, &base, "mode = \"hammer\"\nworkers = 1");
    let mut d = Daemon::start(&config, &[("WEC_RUN__WATCH_CONFIG", "false")]);
    let port = d.control.rsplit(':').next().unwrap().to_owned();

    let (code, body) = d.send(&format!(
        "GET /status HTTP/1.1\r\nHost: rebound.example:{port}\r\n"
    ));
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        body["error"],
        "the Host header must be localhost or a loopback address with this API's port \
         (requests from other sites are refused)"
    );
    let (code, _) = d.send("GET /status HTTP/1.1\r\n");
    assert_eq!(code, 403, "no Host, no answer");
    let (code, body) = d.send(&format!(
        "GET /status HTTP/1.1\r\nHost: localhost:{port}\r\n"
    ));
    assert_eq!(code, 200, "{body}");

    // What an HTML form can send cross-site: refused before anything is reloaded.
    for content_type in [
        "",
        "Content-Type: text/plain\r\n",
        "Content-Type: application/x-www-form-urlencoded\r\n",
    ] {
        let (code, body) = d.send(&format!(
            "POST /reload HTTP/1.1\r\nHost: {}\r\n{content_type}",
            d.control
        ));
        assert_eq!(code, 415, "{content_type:?}: {body}");
        assert_eq!(
            body["error"],
            "POST /reload needs Content-Type: application/json"
        );
    }
    let (code, body) =
        d.send("POST /reload HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\n");
    assert_eq!(code, 403, "{body}");
    assert_eq!(d.status()["reloads"], 0, "nothing refused was applied");

    // A file whose token line is broken: the reason says where, not what the line holds.
    std::fs::write(
        &config,
        // The harness's config ends in [control]: the broken line is its token.
        format!(
            "{base}token = \"hunter2-hunter2-hunter2\n[schedule]\nmode = \"hammer\"\nworkers = 1\n"
        ),
    )
    .unwrap();
    let (code, body) = d.request("POST", "/reload", None);
    assert_eq!(code, 422, "{body}");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("wec.toml: TOML parse error at line"),
        "{reason}"
    );
    assert!(!reason.contains("hunter2"), "{reason}");
    let line = d.wait_for_log("rejected, keeping the running config");
    assert!(!line.contains("hunter2"), "{line}");
    d.stop();
}

/// A reload may switch between the closed and the open model: the looping attackers retire
/// and the open model starts chains at the new rate, then back again, with no chain failed.
#[test]
fn a_reload_switches_between_closed_and_open_model() {
    let pebble = Pebble::start();
    let config = pebble.config();
    let base = std::fs::read_to_string(&config).unwrap();
    write_schedule(&config, &base, "mode = \"hammer\"\nworkers = 2");
    let d = Daemon::start(&config, &[("WEC_RUN__WATCH_CONFIG", "false")]);
    d.wait_status("2 attackers", |s| s["attackers"] == 2);

    write_schedule(&config, &base, "mode = \"rate\"\nchains_per_sec = 5");
    let (code, body) = d.request("POST", "/reload", None);
    assert_eq!(code, 200, "{body}");
    let s = d.wait_status("chains started at 5/s", |s| {
        s["mode"] == "rate" && s["starts"].as_u64() >= Some(3)
    });
    assert_eq!(s["rate_per_s"], 5.0, "{s}");
    assert_eq!(s["target_attackers"], serde_json::Value::Null, "{s}");

    write_schedule(&config, &base, "mode = \"hammer\"\nworkers = 3");
    let (code, body) = d.request("POST", "/reload", None);
    assert_eq!(code, 200, "{body}");
    let s = d.wait_status("3 looping attackers", |s| {
        s["mode"] == "hammer" && s["attackers"] == 3 && s["retiring_attackers"] == 0
    });
    assert_eq!(s["reloads"], 2, "{s}");
    let summary = d.stop();
    assert!(summary.contains("chains ok"), "{summary}");
    let failed = summary
        .lines()
        .find(|l| l.starts_with("issue "))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or_else(|| panic!("no issue row: {summary}"));
    assert_eq!(failed, "0", "{summary}");
}
