//! A wile-e-coyote daemon under test: started as a process, followed through its log lines
//! and its control API (`/status`), so tests wait for states instead of sleeping.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStderr, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{show, wait_bounded, wec};

/// A daemon started without a duration, followed through its log and its control API: the
/// schedule comes from the config (or `args`), and it runs until signalled.
pub struct Daemon {
    child: Option<Child>,
    /// The control API's `host:port`.
    pub control: String,
    log: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with(config, &[], env)
    }

    /// As `start`, with more command-line arguments (a report path, a mode).
    pub fn start_with(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = wec();
        cmd.arg("--config")
            .arg(config)
            .args(args)
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

    pub fn wait_for_log(&mut self, needle: &str) -> String {
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

    /// A request as a tool would send it: `Host` naming the API, JSON for a POST.
    pub fn request(&self, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let json = match method {
            "POST" => "Content-Type: application/json\r\n",
            _ => "",
        };
        self.send(&format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}{json}",
            self.control
        ))
    }

    /// Sends the request line and `headers` (each ending in CRLF), an empty body, and reads
    /// the answer.
    pub fn send(&self, head: &str) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.control).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "{head}Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
        // actix-web answers with Content-Length, so the body is plain JSON.
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    pub fn status(&self) -> Value {
        let (code, body) = self.request("GET", "/status", None);
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Polls /status until `check` holds.
    pub fn wait_status(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
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

    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        assert!(std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    }

    /// SIGTERM, then the run's output once it exited with 0.
    pub fn stop(self) -> String {
        self.signal("-TERM");
        let (out, stdout) = self.finish();
        assert_eq!(out.status.code(), Some(0), "{}\n{stdout}", show(&out));
        stdout
    }

    /// Waits (bounded) for the daemon to exit on its own or after a signal; its output, and
    /// its stdout apart (the summary).
    pub fn finish(mut self) -> (std::process::Output, String) {
        let mut child = self.child.take().unwrap();
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut out = wait_bounded(child, Duration::from_secs(15));
        out.stderr = self.seen.join("\n").into_bytes();
        // The log thread ends at the pipe's end, which the exit brought.
        for line in self.log.iter() {
            out.stderr.extend(format!("\n{line}").bytes());
        }
        (out, stdout)
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
