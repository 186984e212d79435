//! Test harness: a real Pebble per test (started by `scripts/pebble-up` on free loopback
//! ports, resolving names through the DNS of the wile-e-coyote it is tested with), and the
//! wile-e-coyote binary run against it with a bounded wait.
#![allow(dead_code)] // each test file uses its own part of the harness

pub mod boulder;
pub mod boulder_wfe;
pub mod daemon;
pub mod fault_proxy;
pub mod hostile_ca;
pub mod lab;
pub mod mariadb;
pub mod redis;
pub mod shards;
pub mod statsd;
pub mod tcp_server;
pub mod tls;

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where the repository's scripts live.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A histogram of a JSON report (HdrHistogram V2, base64), decoded with the hdrhistogram
/// crate alone, not with the tool's code.
pub fn report_histogram(encoded: &serde_json::Value) -> hdrhistogram::Histogram<u64> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_str().expect("a base64 histogram"))
        .unwrap();
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
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
/// outside the kernel's ephemeral range (`net.ipv4.ip_local_port_range`, 32768–60999 by
/// default): a port the OS hands out for `:0` could be taken by any outgoing connection or
/// client socket of a parallel test between this check and the server's bind. Each test
/// binary starts at its own pseudo-random offset and never hands a port out twice.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static RANGE: std::sync::OnceLock<(u32, u32, u32)> = std::sync::OnceLock::new();
    let (low, span, start) = *RANGE.get_or_init(|| {
        let (low, span) = outside_ephemeral_range();
        (
            low,
            span,
            std::process::id().wrapping_mul(2_654_435_761) % span,
        )
    });
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(
            n < span,
            "no free loopback port left outside the ephemeral range"
        );
        let port = (low + (start + n) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
}

/// The first port and the number of ports of the larger stretch of 10000–65535 the kernel
/// never picks for `:0` (20000–31999 when neither stretch holds 2,000 ports).
fn outside_ephemeral_range() -> (u32, u32) {
    const FIRST: u32 = 10_000;
    const LAST: u32 = 65_535;
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .expect("reading net.ipv4.ip_local_port_range");
    let bounds: Vec<u32> = text
        .split_whitespace()
        .map(|n| n.parse().expect("a port number"))
        .collect();
    let [lo, hi] = bounds[..] else {
        panic!("net.ipv4.ip_local_port_range: {text:?}");
    };
    let below = (FIRST, lo.saturating_sub(FIRST));
    let above = (hi + 1, LAST.saturating_sub(hi));
    match if below.1 >= above.1 { below } else { above } {
        (low, span) if span >= 2_000 => (low, span),
        _ => {
            eprintln!(
                "net.ipv4.ip_local_port_range is {lo}-{hi}: test ports may collide with \
                 outgoing connections (sysctl net.ipv4.ip_local_port_range='32768 60999' \
                 avoids it)"
            );
            (20_000, 12_000)
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
        self.up_with(&[]);
    }

    fn up_with(&self, extra: &[(&str, &str)]) {
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
        cmd.envs(extra.iter().copied());
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

    /// As [`Pebble::restart`], keeping its HTTPS certificate, as a real CA's restart would: a
    /// client that trusted it carries on (the issuing root is new all the same).
    pub fn restart_keeping_tls(&self) {
        self.up_with(&[("PEBBLE_KEEP_TLS", "1")]);
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

    /// The report of the run that printed `out`, which must have exited 0 having issued
    /// certificates without a failed `issue` chain, and how many it issued.
    pub fn clean_issuance(&self, out: &Output) -> (serde_json::Value, u64) {
        assert_eq!(out.status.code(), Some(0), "{}", show(out));
        let r = self.report();
        let ok = r["chains"]["issue"]["ok"].as_u64().unwrap();
        assert!(ok > 0, "{}", show(out));
        assert_eq!(r["chains"]["issue"]["failed"], 0, "{}", show(out));
        (r, ok)
    }

    /// Runs a load test against this Pebble, as `run_bounded` does. A run during which Pebble
    /// froze (see `frozen`) or deadlocked one of its objects (see `deadlocked`) says nothing
    /// about wile-e-coyote: it is run again, once, on a restarted Pebble; a second hang fails
    /// the test.
    pub fn run(&self, cmd: &mut Command, limit: Duration) -> Output {
        let out = run_bounded(cmd, limit);
        let Some(hang) = self.hung(&out) else {
            return out;
        };
        eprintln!(
            "{hang} (a known Pebble 2.4.0 bug); running again on a restarted Pebble. \
             The run:\n{}",
            show(&out)
        );
        self.restart();
        let out = run_bounded(cmd, limit);
        if let Some(hang) = self.hung(&out) {
            panic!("{hang}, twice\n{}", show(&out));
        }
        out
    }

    /// Why this run says nothing about wile-e-coyote, if Pebble hung during it: the whole
    /// store (`frozen`, harmless to ask), or a single order or authorization, which only a
    /// request that timed out reveals and only a goroutine dump proves (`deadlocked`, which
    /// stops Pebble; it is started again, keeping its HTTPS certificate, when it was not).
    pub fn hung(&self, out: &Output) -> Option<&'static str> {
        if self.frozen() {
            return Some("Pebble froze during the run");
        }
        if !String::from_utf8_lossy(&out.stdout).contains("timeout:") {
            return None;
        }
        let deadlocked = Command::new(repo().join("scripts/pebble-deadlocked"))
            .arg(self.dir.path())
            .status()
            .unwrap()
            .success();
        if deadlocked {
            return Some("Pebble deadlocked an object during the run");
        }
        self.restart_keeping_tls();
        None
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
            "[target]\ndirectory_url = \"{}\"\nca_cert = \"ca.pem\"\nrequest_timeout = \"10s\"\n\
             flavor = \"pebble\"\n\n\
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

/// Runs headless Chromium on `page` with `extra` flags. Its own background traffic goes to a
/// loopback port where nothing listens and no name resolves, so nothing leaves the machine.
pub fn chromium(page: &Path, extra: &[String]) -> std::process::Output {
    require("chromium");
    let profile = tempfile::tempdir().unwrap();
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-server=http://127.0.0.1:{}", free_port()))
        .arg("--host-resolver-rules=MAP * ~NOTFOUND")
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(child, Duration::from_secs(60))
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

/// The HTTP status curl gets for an HTTPS request trusting `ca` only (`args`: method,
/// headers, body, URL), as text in the output's stdout; run off the async thread, in at most
/// `max_time`.
pub async fn curl_status(ca: &Path, args: &[String], max_time: Duration) -> Output {
    let (ca, args) = (ca.to_path_buf(), args.to_vec());
    actix_rt::task::spawn_blocking(move || {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", &max_time.as_secs().to_string()])
            .args(["-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(ca)
            .args(args)
            .stdin(Stdio::null());
        run_bounded(&mut cmd, max_time + Duration::from_secs(10))
    })
    .await
    .expect("the curl thread")
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

/// Runs `start`, which binds ports it picked with [`free_port`], until it succeeds: a port free
/// when picked may be taken by anything on the machine before the bind, and then `start` runs
/// again (picking others), a few times.
pub fn retry_taken_ports<T>(mut start: impl FnMut() -> std::io::Result<T>) -> T {
    const ATTEMPTS: usize = 5;
    for _ in 1..ATTEMPTS {
        match start() {
            Ok(server) => return server,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                eprintln!("{e}: again on other ports");
            }
            Err(e) => panic!("starting a server: {e}"),
        }
    }
    start().unwrap_or_else(|e| panic!("starting a server: {e}"))
}

/// Starts a challenge server with `start` on the ports `settings` names, or, when one was taken
/// meanwhile, on fresh free ports ([`retry_taken_ports`]). `settings` ends up naming the ports
/// in use.
pub fn start_on_free_ports<T>(
    settings: &mut wile_e_coyote::challenge::ServerSettings,
    start: impl Fn(wile_e_coyote::challenge::ServerSettings) -> std::io::Result<T>,
) -> T {
    let mut first = true;
    retry_taken_ports(|| {
        if !std::mem::take(&mut first) {
            let listeners = [
                &mut settings.http01,
                &mut settings.tlsalpn01,
                &mut settings.dns,
                &mut settings.doh,
            ];
            for addr in listeners.into_iter().flatten() {
                addr.set_port(free_port());
            }
        }
        start(settings.clone())
    })
}

/// Challenge-server settings for a test, every listener off: the zone `wile.test` answering
/// 127.0.0.1, entries kept 60 s, at most 100 of them, 16 connections per listener and 5 s per
/// client. Tests name what they change: `ServerSettings { dns: vec![addr], ..common::challenge_settings() }`.
pub fn challenge_settings() -> wile_e_coyote::challenge::ServerSettings {
    use wile_e_coyote::challenge::{dns, Limits, ServerSettings};
    ServerSettings {
        http01: vec![],
        tlsalpn01: vec![],
        dns: vec![],
        doh: vec![],
        doh_tls: None,
        zone: dns::Zone {
            base_domains: vec!["wile.test".into()],
            ipv4: vec!["127.0.0.1".parse().unwrap()],
            ipv6: vec![],
            domain_addresses: vec![],
        },
        ttl: Duration::from_secs(60),
        max_entries: 100,
        limits: Limits {
            max_connections: 16,
            client_timeout: Duration::from_secs(5),
        },
    }
}

/// A loopback address on a free port.
pub fn free_addr() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], free_port()))
}
