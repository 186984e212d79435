//! Three shards as separate processes against one real Pebble, sharing one challenge registry
//! in a real `redis-server` (`challenge.registry`), run `rate 60` for 4 s together (240
//! starts), then `report merge` adds their reports up.
//!
//! The one DNS (run here, as in `tests/shards.rs`) sends every shard's names to *another*
//! shard's address: names under `s1.wile.test` to shard 2's listeners, `s2` to shard 3's,
//! `s3` to shard 1's. Each authorization is answered with a random type, so Pebble fetches
//! http-01 tokens and makes tls-alpn-01 handshakes at a shard that never published them, and
//! reads every dns-01 TXT record from that DNS, which publishes none: 0 failed chains proves
//! the shared registry answers every type across processes. Each shard's report counts the
//! answers it found in Redis. Each shard keeps answering (`challenge.linger`) until the
//! others' chains are over.
//!
//! Checked: the union of the shards' starts is the asked schedule (±1%), no chain failed,
//! the merged report's percentiles are those of the shards' histograms added together
//! (computed here independently), and StatsD received every shard's chains (each shard under
//! its own prefix, so each shard's count is read back alone).

mod common;

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::Value;

use common::redis::RedisServer;
use common::shards::{address, serve_dns, start_at, started, SHARDS};
use common::statsd::{values, StatsdDaemon};
use common::{free_port, report, report_histogram, run_bounded, show, wait_bounded, wec, Pebble};

const RATE: u64 = 60;
const SECONDS: u64 = 4;

/// How many samples a timer holds in a StatsD management answer: those shown, and the
/// `... N more items` Node leaves out of long arrays.
fn samples(answer: &str, name: &str) -> usize {
    let Some(shown) = values(answer, name) else {
        return 0;
    };
    let at = answer.find(&format!("'{name}':")).unwrap();
    let body = &answer[at..];
    let body = &body[..body.find(']').unwrap_or(body.len())];
    let more = body
        .split("... ")
        .nth(1)
        .and_then(|tail| tail.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    shown.len() + more
}

/// Runs the three shards once, reports under `shard<i>.json`, StatsD under `prefix.s<i>`.
fn run_shards(pebble: &Pebble, redis: &RedisServer, statsd_port: u16, prefix: &str) -> Vec<Output> {
    let config = pebble.config();
    let start_at = start_at(Duration::from_secs(8));
    let children: Vec<_> = (1..=SHARDS)
        .map(|i| {
            let listen = |port: u16| format!("{}:{port}", address(i));
            wec()
                .arg("--config")
                .arg(&config)
                .args([
                    "--duration",
                    &format!("{SECONDS}s"),
                    "--start-at",
                    &start_at,
                ])
                .args(["--shard", &format!("{i}/{SHARDS}"), "--report"])
                .arg(report_path(pebble, i))
                .env("WEC_CHALLENGE__REGISTRY", redis.url())
                // Generous on a loaded test machine; the default (250 ms) is for production.
                .env("WEC_CHALLENGE__REGISTRY_TIMEOUT", "2s")
                // Other shards' chains may still be validated here until their grace period
                // (10 s in this config) is over.
                .env("WEC_CHALLENGE__LINGER", "10s")
                .env("WEC_CHALLENGE__HTTP01_LISTEN", listen(pebble.http01_port))
                .env(
                    "WEC_CHALLENGE__TLSALPN01_LISTEN",
                    listen(pebble.tlsalpn01_port),
                )
                // Pebble asks the test's DNS; the shard's own (dns-01 needs one) goes unasked.
                .env(
                    "WEC_CHALLENGE__DNS_LISTEN",
                    format!("127.0.0.1:{}", free_port()),
                )
                .env("WEC_CHAINS__ISSUE__CHALLENGE", "random")
                // A slow request or poll on a loaded machine is interrupted at the end of the
                // grace period (not failed) rather than timing out before it.
                .env("WEC_TARGET__REQUEST_TIMEOUT", "30s")
                .env("WEC_POLLING__TIMEOUT", "30s")
                .env("WEC_STATSD__ADDRESS", format!("127.0.0.1:{statsd_port}"))
                .env("WEC_STATSD__PREFIX", format!("{prefix}.s{i}"))
                .env("WEC_CONTROL__LISTEN", format!("127.0.0.1:{}", free_port()))
                .args(["rate", &RATE.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|child| wait_bounded(child, Duration::from_secs(180)))
        .collect()
}

fn report_path(pebble: &Pebble, shard: u32) -> PathBuf {
    pebble.path(&format!("shard{shard}.json"))
}

#[test]
fn three_shards_answer_each_others_validations_through_one_redis() {
    let pebble = Pebble::start();
    let redis = RedisServer::start();
    let statsd = StatsdDaemon::start();
    let next = |i: u32| i % SHARDS + 1;
    serve_dns(pebble.dns_port, next, Some(redis.url()));
    let mut prefix = "Wile-E-Coyote".to_owned();
    let mut outs = run_shards(&pebble, &redis, statsd.port, &prefix);
    // Pebble 2.4.0 can freeze its store, or deadlock one order, under load (see Pebble::run):
    // such a run says nothing about the shards; it is run again, once, on a restarted Pebble.
    if let Some(hang) = outs.iter().find_map(|out| pebble.hung(out)) {
        eprintln!("{hang} (a known Pebble 2.4.0 bug); running again on a restarted Pebble");
        pebble.restart();
        prefix = "Wile-E-Coyote.again".to_owned();
        outs = run_shards(&pebble, &redis, statsd.port, &prefix);
        if let Some(hang) = outs.iter().find_map(|out| pebble.hung(out)) {
            panic!("{hang}, twice");
        }
    }
    let report_path = |i: u32| report_path(&pebble, i);

    let all_outputs: String = (1..=SHARDS)
        .zip(&outs)
        .map(|(i, out)| format!("\n--- shard {i}:\n{}", show(out)))
        .collect();
    let mut reports = Vec::new();
    let mut total = 0;
    for (i, out) in (1..=SHARDS).zip(&outs) {
        assert!(out.status.success(), "shard {i}\n{all_outputs}");
        let r = report(&report_path(i));
        assert_eq!(
            r["chains"]["issue"]["failed"], 0,
            "shard {i}: {}\n{all_outputs}",
            r["failures"]
        );
        let registry = &r["challenge_registry"];
        assert_eq!(registry["backend"], redis.url(), "{registry}");
        assert_eq!(registry["failed"], 0, "shard {i}: {registry}");
        assert_eq!(registry["outages"], 0, "shard {i}: {registry}");
        assert!(
            registry["shared_answers"].as_u64().unwrap() > 0,
            "shard {i} answered none of shard {}'s validations: {registry}",
            (i + SHARDS - 2) % SHARDS + 1
        );
        let (chains, skipped) = started(&r);
        println!(
            "shard {i}: {chains} chains started, {skipped} skipped, {} ok; registry {registry}",
            r["chains"]["issue"]["ok"]
        );
        total += chains + skipped;
        reports.push(r);
    }
    let asked = RATE * SECONDS;
    assert!(
        total.abs_diff(asked) * 100 <= asked,
        "the shards started {total} of {asked}"
    );

    // Merged: counts add up, percentiles are those of the histograms added together.
    let merged_path = pebble.path("all.json");
    let mut merge = wec();
    merge.args(["report", "merge"]);
    merge.args((1..=SHARDS).map(report_path));
    merge.arg("--report").arg(&merged_path);
    let out = run_bounded(&mut merge, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let merged = report(&merged_path);
    let issue = |r: &Value, key: &str| r["chains"]["issue"][key].as_u64().unwrap();
    let ok: u64 = reports.iter().map(|r| issue(r, "ok")).sum();
    assert_eq!(issue(&merged, "ok"), ok);
    assert_eq!(issue(&merged, "failed"), 0);
    // The merged report alone says the whole schedule ran: 60/s over 3 shards.
    let (chains, skipped) = started(&merged);
    assert_eq!(chains + skipped, total, "merged: {}", merged["shard"]);
    assert!(
        (chains + skipped).abs_diff(asked) * 100 <= asked,
        "the merged report started {} of {asked}",
        chains + skipped
    );
    let mut all: Option<Histogram<u64>> = None;
    for r in &reports {
        let h = report_histogram(&r["chains"]["issue"]["latency_hdr"]);
        assert_eq!(h.len(), issue(r, "ok"));
        match &mut all {
            Some(sum) => sum.add(&h).unwrap(),
            None => all = Some(h),
        }
    }
    let all = all.unwrap();
    let latency = &merged["chains"]["issue"]["latency_ms"];
    for (key, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)] {
        let want = all.value_at_quantile(q) as f64 / 1000.0;
        assert_eq!(latency[key].as_f64(), Some(want), "merged {key}");
    }
    assert_eq!(
        report_histogram(&merged["chains"]["issue"]["latency_hdr"]),
        all
    );
    let calls: u64 = reports
        .iter()
        .map(|r| r["challenge_registry"]["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(merged["challenge_registry"]["calls"], calls);

    // StatsD: every shard's successful chains, under its own prefix, once the daemon has
    // read its socket.
    let began = Instant::now();
    loop {
        let timers = statsd.command("timers");
        let counts: Vec<(usize, u64)> = (1..=SHARDS)
            .zip(&reports)
            .map(|(i, r)| {
                let name = format!("{prefix}.s{i}.ChainsTook.issue.Successful");
                (samples(&timers, &name), issue(r, "ok"))
            })
            .collect();
        if counts.iter().all(|(seen, sent)| *seen as u64 == *sent) {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "StatsD samples (received, chains ok) per shard: {counts:?}\n{timers}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let counters = statsd.command("counters");
    assert_eq!(
        values(&counters, "statsd.bad_lines_seen"),
        Some(vec![0.0]),
        "{counters}"
    );
}
