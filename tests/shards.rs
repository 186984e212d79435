//! Three shards as separate processes against one real Pebble, started at one `--start-at`:
//! together they run the asked `rate 30` for 4 s (120 starts, ±1 for the start due exactly at
//! the end), each its third, with no failed chain.
//!
//! Pebble validates http-01 on one port, at the address its one DNS answers. Each shard
//! listens on that port at its own loopback address (127.0.0.2, .3, .4), and orders names
//! under its own label (`<random>.s2.wile.test`); one DNS, with `challenge.domain_addresses`,
//! sends each label's names to its shard. That DNS runs here, in the test, for the test's
//! whole length: a shard serving it would stop it when its own run ends, while the other
//! shards' last validations may still need it. A validation that reached another shard (or a
//! name under no label, which has no address) fails its chain, so 0 failed chains also proves
//! that every shard ordered only names under its own label: no name of two shards is equal.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::shards::{address, serve_dns, start_at, started, SHARDS};
use common::{free_port, show, wait_bounded, Pebble};

#[test]
fn three_shards_run_one_schedule() {
    let pebble = Pebble::start();
    serve_dns(pebble.dns_port, |i| i, None);
    let config = pebble.config();
    let start_at = start_at(Duration::from_secs(8));
    let children: Vec<_> = (1..=SHARDS)
        .map(|i| {
            let mut cmd = common::wec();
            cmd.arg("--config")
                .arg(&config)
                .args(["--duration", "4s", "--start-at", &start_at, "--report"])
                .arg(pebble.path(&format!("shard{i}.json")))
                .env(
                    "WEC_CHALLENGE__HTTP01_LISTEN",
                    format!("{}:{}", address(i), pebble.http01_port),
                )
                .env("WEC_CHALLENGE__TLSALPN01_LISTEN", "")
                .env("WEC_CHALLENGE__DNS_LISTEN", "")
                .env("WEC_CONTROL__LISTEN", format!("127.0.0.1:{}", free_port()));
            // The three ways a shard learns its number.
            match i {
                1 => cmd.args(["--shard", "1/3"]),
                2 => cmd.env("WEC_SHARD", "2/3"),
                _ => cmd
                    .env("JOB_COMPLETION_INDEX", "2")
                    .args(["--shard-count", "3"]),
            };
            cmd.args(["rate", "30"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|child| wait_bounded(child, Duration::from_secs(120)))
        .collect();

    let mut total = 0;
    for (i, out) in (1..=SHARDS).zip(&outs) {
        assert!(out.status.success(), "shard {i}/3\n{}", show(out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("shard {i}/3")), "{}", show(out));
        let report = common::report(&pebble.path(&format!("shard{i}.json")));
        assert_eq!(report["shard"]["shard"], format!("{i}/3"));
        assert_eq!(
            report["chains"]["issue"]["failed"],
            0,
            "shard {i}/3: {}\n{}",
            report["failures"],
            show(out)
        );
        let (chains, skipped) = started(&report);
        // 40 each, and the start due at exactly 4 s may or may not make it.
        assert!(
            (40..=41).contains(&(chains + skipped)),
            "shard {i}/3 started {chains} (skipped {skipped})\n{}",
            show(out)
        );
        total += chains + skipped;
    }
    assert!((120..=121).contains(&total), "the shards started {total}");
    let names = Command::new("grep")
        .args(["-o", "[a-z0-9]*\\.s[0-9]\\.wile\\.test"])
        .arg(pebble.path("pebble.log"))
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&names.stdout);
    for i in 1..=SHARDS {
        assert!(
            names.contains(&format!(".s{i}.wile.test")),
            "no name of shard {i}"
        );
    }
}
