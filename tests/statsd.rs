//! A short run against a real Pebble reports to the real Etsy StatsD daemon: the original
//! metric names arrive, with the right types and units, and the daemon accepts every line.

mod common;

use std::time::Duration;

use common::statsd::{values, StatsdDaemon};
use common::{show, wec, Pebble};

#[test]
fn statsd_receives_the_original_names() {
    let pebble = Pebble::start();
    let statsd = StatsdDaemon::start();
    let out = pebble.run(
        wec()
            .arg("--config")
            .arg(pebble.config())
            .args(["--duration", "3s", "hammer", "2"])
            .env("WEC_STATSD__ADDRESS", format!("127.0.0.1:{}", statsd.port)),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let counters = statsd.command("counters");
    assert_eq!(
        values(&counters, "statsd.bad_lines_seen"),
        Some(vec![0.0]),
        "StatsD refused lines:\n{counters}"
    );
    for name in ["Wile-E-Coyote.TrafficIn", "Wile-E-Coyote.TrafficOut"] {
        let v = values(&counters, name).unwrap_or_else(|| panic!("no {name}:\n{counters}"));
        assert!(v[0] > 10_000.0, "{name} = {v:?}");
    }

    let gauges = statsd.command("gauges");
    // The last value sent is the count after shutdown.
    assert_eq!(
        values(&gauges, "Wile-E-Coyote.NumAttackers"),
        Some(vec![0.0]),
        "{gauges}"
    );
    let rss = values(&gauges, "Procstats.Wile-E-Coyote.ResidentMemory").expect("RSS gauge");
    assert!(rss[0] > 1e6, "{gauges}");
    for name in ["Threads", "OpenFiles", "CpuUserPercent", "MetricsBacklog"] {
        let full = format!("Procstats.Wile-E-Coyote.{name}");
        assert!(values(&gauges, &full).is_some(), "no {full}:\n{gauges}");
    }

    let timers = statsd.command("timers");
    let chains = values(&timers, "Wile-E-Coyote.ChainsTook.issue.Successful")
        .unwrap_or_else(|| panic!("no chain timings:\n{timers}"));
    // Nanoseconds: a chain with real validation takes well over a millisecond.
    assert!(
        !chains.is_empty() && chains.iter().all(|ns| *ns > 1e6),
        "{chains:?}"
    );
    for endpoint in [
        "newAccount",
        "newOrder",
        "authz",
        "challenge.http-01",
        "finalize",
        "certificate",
    ] {
        let name = format!("Wile-E-Coyote.RequestsTook.{endpoint}.Successful");
        let samples = values(&timers, &name).unwrap_or_else(|| panic!("no {name}:\n{timers}"));
        assert!(samples.iter().all(|ns| *ns > 1e4), "{name}: {samples:?}");
    }
}

#[test]
fn an_absent_statsd_daemon_is_reported_not_waited_on() {
    let pebble = Pebble::start();
    // Nothing listens on this port: every send after the first is refused.
    let port = common::free_port();
    let started = std::time::Instant::now();
    let out = pebble.run(
        wec()
            .arg("--config")
            .arg(pebble.config())
            .args(["--duration", "3s", "hammer", "2"])
            .env("WEC_STATSD__ADDRESS", format!("127.0.0.1:{port}"))
            .env("WEC_STATSD__FLUSH_INTERVAL", "500ms"),
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings = stderr
        .lines()
        .filter(|l| l.contains("datagrams not sent"))
        .count();
    assert!(warnings >= 1, "send errors were not reported:\n{stderr}");
    let intervals = (started.elapsed().as_secs_f64() / 0.5).ceil() as usize + 1;
    assert!(
        warnings <= intervals,
        "more than one warning per flush interval ({intervals}):\n{stderr}"
    );
}
