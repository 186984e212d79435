//! `report merge` on the reports of two real runs against one Pebble: counts are the sums,
//! percentiles those of both runs' histograms added together (computed here independently),
//! the merged HTML renders, and thresholds are judged on the whole, with a single run's exit
//! codes. Files that are not reports of this version are refused, naming the file and why.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::Value;

use common::{chromium, report, report_histogram, run_bounded, show, wec, Pebble};

fn merge(files: &[&Path], extra: &[&str]) -> Output {
    let mut cmd = wec();
    cmd.args(["report", "merge"]).args(files).args(extra);
    run_bounded(&mut cmd, Duration::from_secs(60))
}

fn u64_at(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .fold(v, |v, key| &v[key])
        .as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not a count"))
}

/// Two runs of `hammer 2` for 3 s, one after the other, on the same Pebble.
fn two_runs(pebble: &Pebble) -> [PathBuf; 2] {
    ["a.json", "b.json"].map(|name| {
        let out = pebble.run(
            pebble
                .attack("3s")
                .args(["hammer", "2"])
                .env("WEC_CHAINS__WEIGHTS__ISSUE", "3")
                .env("WEC_CHAINS__WEIGHTS__REVOKE", "1")
                .env("WEC_THRESHOLDS__CHAINS__ISSUE__P99", "60s"),
            Duration::from_secs(60),
        );
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let path = pebble.path(name);
        std::fs::rename(pebble.path("report.json"), &path).unwrap();
        path
    })
}

#[test]
fn two_real_runs_merge_into_exact_totals() {
    let pebble = Pebble::start();
    let [a, b] = two_runs(&pebble);
    let (ra, rb) = (report(&a), report(&b));
    let (all_json, all_html) = (pebble.path("all.json"), pebble.path("all.html"));
    let out = merge(
        &[&a, &b],
        &[
            "--report",
            all_json.to_str().unwrap(),
            "--html-report",
            all_html.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 merged reports (hammer 2)"), "{stdout}");
    assert!(
        stdout.contains("thresholds: 1 passed, 0 failed"),
        "{stdout}"
    );
    let merged = report(&all_json);

    let names = |table: &str| -> Vec<String> {
        let mut names: Vec<String> = [&ra, &rb]
            .iter()
            .flat_map(|r| r[table].as_object().unwrap().keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let sum = |path: &[&str]| -> u64 {
        [&ra, &rb]
            .iter()
            .map(|r| path.iter().fold(*r, |v, key| &v[key]).as_u64().unwrap_or(0))
            .sum()
    };
    let chains = names("chains");
    assert!(chains.contains(&"issue".to_owned()), "{chains:?}");
    for chain in &chains {
        for count in ["ok", "failed", "interrupted", "rate_limited", "expected"] {
            let path = ["chains", chain.as_str(), count];
            assert_eq!(u64_at(&merged, &path), sum(&path), "{path:?}");
        }
    }
    for endpoint in names("requests") {
        let counts = [
            "ok",
            "failed",
            "bad_nonce_retried",
            "expected",
            "rate_limited",
        ];
        for count in counts.into_iter().chain(["bytes_in", "bytes_out"]) {
            let path = ["requests", endpoint.as_str(), count];
            assert_eq!(u64_at(&merged, &path), sum(&path), "{path:?}");
        }
    }
    for path in [
        &["traffic", "bytes_in"][..],
        &["traffic", "bytes_out"],
        &["bad_nonce_retries"],
    ] {
        assert_eq!(u64_at(&merged, path), sum(path), "{path:?}");
    }

    // Percentiles of both runs' histograms added together, for chains and endpoints.
    for (table, names) in [("chains", chains), ("requests", names("requests"))] {
        for name in names {
            let mut both: Option<Histogram<u64>> = None;
            for r in [&ra, &rb] {
                let Some(entry) = r[table].get(&name) else {
                    continue;
                };
                let h = report_histogram(&entry["latency_hdr"]);
                assert_eq!(h.len(), entry["ok"].as_u64().unwrap(), "{table}.{name}");
                match &mut both {
                    Some(sum) => sum.add(&h).unwrap(),
                    None => both = Some(h),
                }
            }
            let both = both.unwrap();
            let latency = &merged[table][&name]["latency_ms"];
            if both.is_empty() {
                assert!(latency.is_null(), "{table}.{name}: {latency}");
                continue;
            }
            for (key, q) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
                let want = both.value_at_quantile(q) as f64 / 1000.0;
                assert_eq!(latency[key].as_f64(), Some(want), "{table}.{name}.{key}");
            }
            assert_eq!(report_histogram(&merged[table][&name]["latency_hdr"]), both);
        }
    }

    // The series covers both runs on the wall clock, and the page renders it.
    let span = u64_at(&rb, &["started_at_unix_s"]) - u64_at(&ra, &["started_at_unix_s"]);
    let points = merged["timeseries"]["points"].as_array().unwrap();
    assert!(points.len() as u64 >= span + 2, "{} points", points.len());
    let ok_per_s: f64 = points
        .iter()
        .map(|p| p["chains_ok_per_s"].as_f64().unwrap() * p["width_s"].as_f64().unwrap())
        .sum();
    let series_a_b: f64 = [&ra, &rb]
        .iter()
        .flat_map(|r| r["timeseries"]["points"].as_array().unwrap())
        .map(|p| p["chains_ok_per_s"].as_f64().unwrap() * p["width_s"].as_f64().unwrap())
        .sum();
    assert!(
        (ok_per_s - series_a_b).abs() < 0.5,
        "{ok_per_s} vs {series_a_b}"
    );
    let dom = chromium(&all_html, &["--dump-dom".into()]);
    assert!(dom.status.success(), "{}", show(&dom));
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(dom.matches("<svg class=\"chart\"").count(), 5, "{dom}");
    assert!(dom.matches("<polyline").count() >= 5, "{dom}");
    assert!(dom.contains("thresholds.chains.issue.p99"));

    // A limit between the two runs' slowest exchange of some endpoint: the faster run passes
    // it alone, the whole fails it, and the merge exits 4 as that run would have.
    let (endpoint, fast, limit_ms) = names("requests")
        .into_iter()
        .find_map(|e| {
            let max = |r: &Value| {
                Some(report_histogram(r["requests"].get(&e)?.get("latency_hdr")?).max())
            };
            let (ma, mb) = (max(&ra)?, max(&rb)?);
            let fast = if ma < mb { &a } else { &b };
            (ma != mb).then(|| (e, fast.clone(), (ma + mb) as f64 / 2.0 / 1000.0))
        })
        .expect("an endpoint whose slowest request differs between the runs");
    let config = pebble.path("limits.toml");
    let table = format!("[thresholds.requests.\"{endpoint}\"]\nmax = \"{limit_ms:.4}ms\"\n");
    std::fs::write(&config, table).unwrap();
    let config_arg = ["--config", config.to_str().unwrap()];
    let alone = merge(&[&fast], &config_arg);
    assert_eq!(alone.status.code(), Some(0), "{}", show(&alone));
    let whole = merge(&[&a, &b], &config_arg);
    assert_eq!(whole.status.code(), Some(4), "{}", show(&whole));
    let stderr = String::from_utf8_lossy(&whole.stderr);
    assert!(stderr.contains("1 of 1 thresholds failed"), "{stderr}");
    let stdout = String::from_utf8_lossy(&whole.stdout);
    let key = format!("FAIL  thresholds.requests.{endpoint}.max");
    assert!(stdout.contains(&key), "{stdout}");
}

#[test]
fn files_that_are_not_reports_of_this_version_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, contents: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    };
    let corrupt = file(
        "corrupt.json",
        "{\"tool\": \"wile-e-coyote\", \"chains\": {",
    );
    let foreign = file("k6.json", "{\"metrics\": {}}");
    let old = file(
        "old.json",
        "{\"tool\": \"wile-e-coyote\", \"schema_version\": 1}",
    );
    let incomplete = file(
        "incomplete.json",
        "{\"tool\": \"wile-e-coyote\", \"schema_version\": 2, \"chains\": {}}",
    );
    let oversized = dir.path().join("huge.json");
    std::fs::File::create(&oversized)
        .unwrap()
        .set_len(64 << 20 | 1)
        .unwrap();
    for (path, why) in [
        (&corrupt, "not JSON"),
        (&foreign, "not a report of wile-e-coyote"),
        (
            &old,
            "schema version 1: this version merges reports of schema version 2",
        ),
        (
            &incomplete,
            "not a complete report of schema version 2: missing field",
        ),
        (&oversized, "larger than 64 MiB"),
        (&dir.path().join("absent.json"), "cannot read it"),
    ] {
        let out = merge(&[path], &[]);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!("wile-e-coyote: error: {}: {why}", path.display());
        assert!(stderr.contains(&want), "want {want:?}\n{}", show(&out));
        assert!(out.stdout.is_empty(), "{}", show(&out));
    }
}
