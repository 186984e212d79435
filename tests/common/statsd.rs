//! The real Etsy StatsD daemon (npm `statsd@0.9.0`, installed by `scripts/install-deps`), on
//! free loopback ports, read back through its management port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, require};

/// Where `scripts/install-deps` puts the daemon.
fn stats_js() -> PathBuf {
    let home = std::env::var("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/wile-e-coyote/statsd-0.9.0/node_modules/statsd/stats.js")
}

/// A running StatsD daemon that never flushes (so counters accumulate); killed on drop.
pub struct StatsdDaemon {
    child: Child,
    pub port: u16,
    mgmt_port: u16,
    _dir: tempfile::TempDir,
}

impl StatsdDaemon {
    pub fn start() -> StatsdDaemon {
        require("node");
        let script = stats_js();
        assert!(
            script.exists(),
            "{} is missing: run scripts/install-deps (npm install statsd@0.9.0)",
            script.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let (port, mgmt_port) = (free_port(), free_port());
        let config = dir.path().join("statsd.js");
        std::fs::write(
            &config,
            format!(
                "{{ address: \"127.0.0.1\", port: {port}, mgmt_address: \"127.0.0.1\", \
                 mgmt_port: {mgmt_port}, flushInterval: 3600000, backends: [] }}\n"
            ),
        )
        .unwrap();
        let child = Command::new("node")
            .arg(&script)
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = StatsdDaemon {
            child,
            port,
            mgmt_port,
            _dir: dir,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", mgmt_port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "StatsD did not open its management port"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    /// The answer to a management command (`counters`, `timers`, `gauges`), up to `END`.
    pub fn command(&self, cmd: &str) -> String {
        let mut conn = TcpStream::connect(("127.0.0.1", self.mgmt_port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(format!("{cmd}\n").as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 65536];
        while !String::from_utf8_lossy(&answer).contains("\nEND") {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "StatsD closed the management connection");
            answer.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(answer).unwrap()
    }
}

impl Drop for StatsdDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The numbers after `'name':` in a management answer (one for a counter or gauge, the samples
/// of a timer); `None` when the name is absent.
pub fn values(answer: &str, name: &str) -> Option<Vec<f64>> {
    let start = answer.find(&format!("'{name}':"))? + name.len() + 3;
    let rest = &answer[start..];
    let end = rest.find(['\'', '}']).unwrap_or(rest.len());
    // Long arrays end in `... N more items`: that N is not a sample.
    let body = rest[..end].split("...").next().unwrap_or("");
    Some(
        body.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .filter_map(|n| n.parse().ok())
            .collect(),
    )
}
