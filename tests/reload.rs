//! Config reload on a running daemon against a real Pebble: the schedule changes without a
//! restart, an invalid file is refused and the old schedule keeps running, and SIGHUP, a file
//! change and `POST /reload` all trigger it. Also the control API's token.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStderr, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{show, wait_bounded, wec, Pebble};
use serde_json::Value;

/// A daemon started without a mode and without a duration: the schedule comes from the
/// config, and it runs until signalled.
struct Daemon {
    child: Option<Child>,
    control: String,
    log: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn start(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = wec();
        cmd.arg("--config")
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = follow(child.stderr.take().unwrap());
        let mut daemon = Daemon {
            child: Some(child),
            control: String::new(),
            log,
            seen: Vec::new(),
        };
        let line = daemon.wait_for_log("control API on http://");
        let start = line.find("http://").unwrap() + "http://".len();
        daemon.control = line[start..].split_whitespace().next().unwrap().to_owned();
        daemon
    }

    fn wait_for_log(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        while let Ok(line) = self
            .log
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
        panic!(
            "no log line with {needle:?}; log so far:\n{}",
            self.seen.join("\n")
        );
    }

    fn request(&self, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.control).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.control
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
        // actix-web answers with Content-Length, so the body is plain JSON.
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn status(&self) -> Value {
        let (code, body) = self.request("GET", "/status", None);
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Polls /status until `check` holds.
    fn wait_status(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let status = self.status();
            if check(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "{what} never happened: {status}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    }

    fn stop(mut self) -> String {
        self.signal("-TERM");
        let mut child = self.child.take().unwrap();
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let out = wait_bounded(child, Duration::from_secs(15));
        assert_eq!(out.status.code(), Some(0), "{}\n{stdout}", show(&out));
        stdout
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn follow(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

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
