//! Test harness: a real Pebble per test (started by `scripts/pebble-up` on free loopback
//! ports, resolving names through the DNS of the wile-e-coyote it is tested with), and the
//! wile-e-coyote binary run against it with a bounded wait.
#![allow(dead_code)] // each test file uses its own part of the harness

pub mod boulder_wfe;
pub mod lab;
pub mod mariadb;
pub mod statsd;

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where the repository's scripts live.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails the test with instructions when a real part is not installed.
pub fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{tool} is not installed: run scripts/install-deps");
}

/// A free TCP port on 127.0.0.1 that is also free for UDP (DNS needs both). Ports come from
/// below the kernel's ephemeral range (32768–60999 here): a port the OS hands out for `:0`
/// could be taken by any outgoing connection of a parallel test before the server binds it.
/// Each test binary starts at its own pseudo-random offset and never hands a port out twice.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static START: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| std::process::id().wrapping_mul(2_654_435_761) % SPAN);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(
            n < SPAN,
            "no free loopback port left below the ephemeral range"
        );
        let port = (LOW + (start + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
}

/// A running Pebble with its own ports and files; stopped on drop.
pub struct Pebble {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub mgmt_port: u16,
    pub http01_port: u16,
    pub tlsalpn01_port: u16,
    pub dns_port: u16,
    /// The extra environment it was started with, for a restart.
    env: Vec<(String, String)>,
}

impl Pebble {
    pub fn start() -> Pebble {
        Pebble::start_with(&[])
    }

    /// Starts Pebble with extra environment (e.g. `PEBBLE_WFE_NONCEREJECT`). Validation is
    /// real: `PEBBLE_VA_ALWAYS_VALID` is removed and authorization reuse is off.
    pub fn start_with(env: &[(&str, &str)]) -> Pebble {
        require("pebble");
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
        let pebble = Pebble {
            dir,
            port: ports[0],
            mgmt_port: ports[1],
            http01_port: ports[2],
            tlsalpn01_port: ports[3],
            dns_port: ports[4],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        pebble.up();
        pebble
    }

    fn up(&self) {
        let mut cmd = Command::new(repo().join("scripts/pebble-up"));
        cmd.arg(self.dir.path())
            .env_remove("PEBBLE_VA_ALWAYS_VALID")
            .env("PEBBLE_AUTHZREUSE", "0")
            .env("PEBBLE_PORT", self.port.to_string())
            .env("PEBBLE_MGMT_PORT", self.mgmt_port.to_string())
            .env("HTTP01_PORT", self.http01_port.to_string())
            .env("TLSALPN01_PORT", self.tlsalpn01_port.to_string())
            .env("DNS_PORT", self.dns_port.to_string());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "scripts/pebble-up failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops Pebble and starts it again on the same ports: it forgets every account, order and
    /// certificate, and has a new HTTPS certificate and root.
    pub fn restart(&self) {
        self.up();
    }

    /// What Pebble's management API says of the certificate with this serial (hex):
    /// `{"Status": "Valid" | "Revoked", "Reason": n, ...}`.
    pub fn cert_status(&self, serial_hex: &str) -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "10", "--cacert"])
            .arg(self.path("ca.pem"))
            .arg(format!(
                "https://127.0.0.1:{}/cert-status-by-serial/{serial_hex}",
                self.mgmt_port
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cert-status-by-serial/{serial_hex}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Whether Pebble has frozen (`scripts/pebble-frozen`): Pebble 2.4.0 can leave a lock of
    /// its in-memory store held for good under load, after which every request that reads the
    /// store hangs.
    pub fn frozen(&self) -> bool {
        Command::new(repo().join("scripts/pebble-frozen"))
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// wile-e-coyote against this Pebble with `config()`, for `duration`, writing its JSON
    /// report where `report()` reads it; the test adds the mode and any overrides.
    pub fn attack(&self, duration: &str) -> Command {
        self.attack_with(&self.config(), duration)
    }

    /// `attack` with another config file.
    pub fn attack_with(&self, config: &Path, duration: &str) -> Command {
        let mut cmd = wec();
        cmd.arg("--config")
            .arg(config)
            .args(["--duration", duration, "--report"])
            .arg(self.path("report.json"));
        cmd
    }

    /// The JSON report of the last `attack`.
    pub fn report(&self) -> serde_json::Value {
        report(&self.path("report.json"))
    }

    /// Runs a load test against this Pebble, as `run_bounded` does. A run during which Pebble
    /// froze (see `frozen`) says nothing about wile-e-coyote: it is run again, once, on a
    /// restarted Pebble; a second freeze fails the test.
    pub fn run(&self, cmd: &mut Command, limit: Duration) -> Output {
        let out = run_bounded(cmd, limit);
        if !self.frozen() {
            return out;
        }
        eprintln!(
            "Pebble froze during the run (a known Pebble 2.4.0 bug); running again on a \
             restarted Pebble. The frozen run:\n{}",
            show(&out)
        );
        self.restart();
        let out = run_bounded(cmd, limit);
        assert!(!self.frozen(), "Pebble froze twice\n{}", show(&out));
        out
    }

    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// Writes a config targeting this Pebble: trusting its HTTPS certificate, answering http-01
    /// and tls-alpn-01 on the ports it validates, serving the DNS it resolves through,
    /// checking every chain against its root. Tests vary it through `WEC_*` environment
    /// variables.
    pub fn config(&self) -> PathBuf {
        let toml = format!(
            "[target]\ndirectory_url = \"{}\"\nca_cert = \"ca.pem\"\nrequest_timeout = \"10s\"\n\n\
             [polling]\ninterval = \"20ms\"\nmax_interval = \"500ms\"\ntimeout = \"20s\"\n\n\
             [challenge]\nhttp01_listen = [\"127.0.0.1:{}\"]\ntlsalpn01_listen = [\"127.0.0.1:{}\"]\n\
             dns_listen = [\"127.0.0.1:{}\"]\n\n\
             [chains.issue]\nverify_root = \"root.pem\"\n\n\
             [run]\ngrace_period = \"10s\"\n\n\
             [control]\nlisten = \"127.0.0.1:0\"\n",
            self.directory_url(),
            self.http01_port,
            self.tlsalpn01_port,
            self.dns_port
        );
        let path = self.path("wec.toml");
        std::fs::write(&path, toml).unwrap();
        path
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/pebble-down"))
            .arg(self.dir.path())
            .status();
    }
}

/// The wile-e-coyote binary under test.
pub fn wec() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wile-e-coyote"));
    cmd.env_remove("RUST_LOG");
    for (key, _) in std::env::vars() {
        if key.starts_with("WEC_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `cmd` to completion, killing it if it takes longer than `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(child, limit)
}

/// Waits for `child` (whose stdout and stderr are piped), reading both pipes meanwhile so a
/// chatty child never blocks on a full pipe; kills it after `limit`.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    assert!(
        !timed_out,
        "wile-e-coyote did not finish within {limit:?}\n{}",
        show(&out)
    );
    out
}

/// Reads a JSON report.
pub fn report(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no report at {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// stdout and stderr of a finished run, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
