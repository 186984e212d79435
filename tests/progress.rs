//! The live progress line when forced on a pipe, and the periodic log line otherwise.

mod common;

use std::time::Duration;

use common::{show, wec, Pebble};

fn progress_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("  attackers ") && l.contains("  chains ok "))
        .collect()
}

#[test]
fn forced_progress_line_and_periodic_log_line() {
    let pebble = Pebble::start();
    let out = pebble.run(
        wec().arg("--config").arg(pebble.config()).args([
            "--progress",
            "--duration",
            "3500ms",
            "hammer",
            "2",
        ]),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = progress_lines(&stderr);
    assert!(
        (3..=5).contains(&lines.len()),
        "one line per second:\n{stderr}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.contains("req/s") && l.contains("p99")),
        "{stderr}"
    );
    assert!(lines[0].trim_start().starts_with("1s "), "{stderr}");
    assert!(!stderr.contains('\r'), "a pipe gets whole lines");

    // Not a terminal and not forced: no live line, an info line every log interval instead.
    let out = pebble.run(
        wec()
            .arg("--config")
            .arg(pebble.config())
            .args(["--duration", "3500ms", "hammer", "2"])
            .env("WEC_REPORT__LOG_INTERVAL", "1s"),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logged: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("] progress: "))
        .collect();
    assert!((2..=4).contains(&logged.len()), "{stderr}");
    assert_eq!(progress_lines(&stderr).len(), logged.len(), "{stderr}");
}
