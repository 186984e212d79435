//! `report merge` on reports of runs aggregated as a real run does (the Metrics actor's
//! [`Stats`]): what adds up, what is recomputed, and what is refused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::histogram::latency_histogram;
use super::merge::{merge_files, MergeError, MAX_REPORTS};
use super::summary::{Percentiles, RegistrySummary, MAX_FAILURE_REASONS, OVERFLOW};
use super::thresholds::Thresholds;
use super::Report;
use crate::acme::{Convergence, Endpoint, RequestOutcome, RequestRecord};
use crate::metrics::stats::Stats;
use crate::metrics::{ChainDone, ChainOutcome};

fn done(outcome: ChainOutcome, ms: u64) -> ChainDone {
    let request = RequestRecord {
        endpoint: Endpoint::NewOrder,
        outcome: RequestOutcome::Ok,
        status: 201,
        took: Duration::from_micros(ms * 10),
        bytes_in: 100,
        bytes_out: 10,
    };
    ChainDone {
        bad_nonce_retries: 1,
        converged: vec![Convergence {
            what: "new-key",
            took: Duration::from_millis(ms * 3),
            agreed: true,
        }],
        profile: Some("shortlived".into()),
        ..ChainDone::new("issue", Duration::from_millis(ms), outcome, vec![request])
    }
}

fn failed(reason: &str) -> ChainDone {
    let outcome = ChainOutcome::Failed {
        reason: reason.into(),
        message: format!("{reason} happened"),
    };
    done(outcome, 5)
}

/// What a run of `secs` aggregates from successful chains taking `latencies` ms, then the
/// `failures`.
fn report(secs: u64, latencies: &[u64], failures: &[ChainDone]) -> Stats {
    let mut stats = Stats::default();
    stats.set_attackers(2);
    for (i, &ms) in latencies.iter().enumerate() {
        let at = Duration::from_millis(secs * 1000 * i as u64 / latencies.len() as u64);
        stats.add_chain(&done(ChainOutcome::Ok, ms), at);
    }
    for f in failures {
        stats.add_chain(f, Duration::from_secs(secs));
    }
    stats
}

fn write(dir: &Path, file: &str, started: u64, secs: u64, stats: &Stats, limits: &str) -> PathBuf {
    let summary = stats.summary(Duration::from_secs(secs));
    let thresholds: Thresholds = toml_thresholds(limits);
    let verdicts = thresholds.evaluate(&summary);
    let r = Report::new(
        "https://ca/dir".into(),
        "hammer 2".into(),
        started,
        summary,
        verdicts,
    );
    let path = dir.join(file);
    r.write(&path).unwrap();
    path
}

fn toml_thresholds(toml: &str) -> Thresholds {
    config::Config::builder()
        .add_source(config::File::from_str(toml, config::FileFormat::Toml))
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap()
}

#[test]
fn merged_reports_add_up_with_exact_percentiles() {
    let dir = tempfile::tempdir().unwrap();
    let a: Vec<u64> = (1..=100).collect();
    let b: Vec<u64> = (101..=400).step_by(3).collect();
    let limits = "[chains.issue]\np99 = \"150ms\"\n";
    let first = write(
        dir.path(),
        "a.json",
        1_000,
        10,
        &report(10, &a, &[failed("timeout:authz")]),
        limits,
    );
    let second = write(
        dir.path(),
        "b.json",
        1_004,
        10,
        &report(10, &b, &[failed("timeout:authz"), failed("acme:malformed")]),
        limits,
    );
    let r = merge_files(&[first.clone(), second], None).unwrap();
    let s = &r.summary;
    let issue = &s.chains["issue"];
    assert_eq!((issue.ok, issue.failed), (100 + b.len() as u64, 3));
    let mut all = latency_histogram();
    for ms in a.iter().chain(&b) {
        all.record(ms * 1000).unwrap();
    }
    assert_eq!(issue.latency_ms, Percentiles::of(&all));
    assert_eq!(issue.latency_hdr.decode().unwrap(), all);
    assert_eq!(s.duration_s, 14.0, "from the first start to the last end");
    assert!((issue.rate_per_s - issue.ok as f64 / 14.0).abs() < 1e-9);
    let new_order = &s.requests["newOrder"];
    assert_eq!(new_order.ok, issue.ok + 3);
    assert_eq!(new_order.latency_hdr.decode().unwrap().len(), new_order.ok);
    assert_eq!(s.traffic.bytes_in, 100 * new_order.ok);
    assert_eq!(s.bad_nonce_retries, new_order.ok);
    assert_eq!(s.profiles["shortlived"].ok, issue.ok);
    assert_eq!(s.convergence[0].agreed, issue.ok + 3);
    let timeout = s.failures.iter().find(|f| f.reason == "timeout:authz");
    assert_eq!(timeout.unwrap().count, 2);
    assert_eq!(s.failures[0].reason, "timeout:authz", "sorted by count");
    // Aligned on the wall clock: the second run's first second is the merged fifth.
    let points = &s.timeseries.points;
    assert_eq!(points.len(), 14, "{points:?}");
    assert_eq!(points[0].attackers, 2);
    assert_eq!(points[4].attackers, 4, "both ran then");
    // The first run passes its p99 limit; the whole does not.
    let alone = merge_files(&[first], None).unwrap();
    assert!(alone.thresholds[0].pass, "{:?}", alone.thresholds);
    assert_eq!(r.thresholds.len(), 1);
    assert!(!r.thresholds[0].pass, "{:?}", r.thresholds);
    assert_eq!(
        r.thresholds[0].measured,
        Some(issue.latency_ms.as_ref().unwrap().p99)
    );
    assert!(r.to_text().contains("FAIL  thresholds.chains.issue.p99"));
    // The merged report is itself a report that merges.
    let again = dir.path().join("merged.json");
    r.write(&again).unwrap();
    let twice = merge_files(&[again], None).unwrap();
    assert_eq!(twice.summary.chains["issue"].latency_ms, issue.latency_ms);
}

#[test]
fn failure_reasons_stay_bounded_when_merged() {
    let dir = tempfile::tempdir().unwrap();
    let reasons = |from: usize| -> Vec<ChainDone> {
        (from..from + MAX_FAILURE_REASONS)
            .map(|i| failed(&format!("http-{i}:order")))
            .collect()
    };
    let a = write(
        dir.path(),
        "a.json",
        0,
        1,
        &report(1, &[5], &reasons(0)),
        "",
    );
    let b = write(
        dir.path(),
        "b.json",
        0,
        1,
        &report(1, &[5], &reasons(1000)),
        "",
    );
    let s = merge_files(&[a, b], None).unwrap().summary;
    assert_eq!(s.failures.len(), MAX_FAILURE_REASONS + 1);
    let overflow = s.failures.iter().find(|f| f.reason == OVERFLOW).unwrap();
    assert_eq!(overflow.count, MAX_FAILURE_REASONS as u64);
    assert_eq!(
        s.failures.iter().map(|f| f.count).sum::<u64>(),
        s.chains_failed()
    );
}

/// The message naming the file and why, for a file holding `contents`.
fn refusal(contents: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    std::fs::write(&path, contents).unwrap();
    let err = merge_files(std::slice::from_ref(&path), None)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(&format!("{}: ", path.display())), "{err}");
    err
}

#[test]
fn what_is_not_a_complete_report_of_this_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "a.json", 0, 1, &report(1, &[5, 6], &[]), "");
    let text = std::fs::read_to_string(&good).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = value.clone();
        edit(&mut v);
        v.to_string()
    };

    assert!(refusal("{\"chains\":").contains("not JSON"));
    assert!(refusal("{\"tool\": \"k6\"}").contains("not a report of wile-e-coyote"));
    let old = edited(&|v| v["schema_version"] = 1.into());
    assert!(refusal(&old).contains("schema version 1: this version merges"));
    let missing = edited(&|v| {
        v["chains"]["issue"]
            .as_object_mut()
            .unwrap()
            .remove("latency_hdr");
    });
    assert!(refusal(&missing).contains("missing field `latency_hdr`"));
    let empty = value["chains"]["issue"]["failed_latency_hdr"].clone();
    let swapped = edited(&|v| v["chains"]["issue"]["latency_hdr"] = empty.clone());
    let err = refusal(&swapped);
    let want = "histogram chains.issue.latency_hdr holds 0 values where the report counts 2";
    assert!(err.contains(want), "{err}");
    let garbage = edited(&|v| v["chains"]["issue"]["latency_hdr"] = "SElTVA==".into());
    assert!(refusal(&garbage).contains("not an HdrHistogram V2 histogram"));
    let wrong_count = edited(&|v| v["chains"]["issue"]["ok"] = 3.into());
    assert!(refusal(&wrong_count).contains("holds 2 values where the report counts 3"));

    let big = dir.path().join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(super::merge::MAX_REPORT_BYTES + 1)
        .unwrap();
    let err = merge_files(&[big], None).unwrap_err().to_string();
    assert!(err.contains("big.json: larger than 64 MiB"), "{err}");

    let many = vec![good; MAX_REPORTS + 1];
    assert!(matches!(
        merge_files(&many, None),
        Err(MergeError::TooMany(_))
    ));
}

#[test]
fn shared_registry_counts_add_up_when_merged() {
    let dir = tempfile::tempdir().unwrap();
    let shard = |file: &str, backend: &str, calls: u64, outages: u64| {
        let mut summary = report(2, &[10, 20], &[]).summary(Duration::from_secs(2));
        summary.challenge_registry = Some(RegistrySummary {
            backend: backend.into(),
            calls,
            failed: outages,
            timed_out: 0,
            skipped: 3 * outages,
            outages,
            shared_answers: calls / 2,
        });
        let r = Report::new(
            "https://ca/dir".into(),
            "rate 3".into(),
            1_000,
            summary,
            vec![],
        );
        let path = dir.path().join(file);
        r.write(&path).unwrap();
        path
    };
    let a = shard("a.json", "redis://r:6379", 10, 0);
    let b = shard("b.json", "redis://r:6379", 20, 1);
    let c = shard("c.json", "redis://other:6379", 30, 2);
    let merged = merge_files(&[a, b, c], None).unwrap();
    let r = merged.summary.challenge_registry.clone().unwrap();
    assert_eq!(
        r,
        RegistrySummary {
            backend: "redis://other:6379, redis://r:6379".into(),
            calls: 60,
            failed: 3,
            timed_out: 0,
            skipped: 9,
            outages: 3,
            shared_answers: 30,
        }
    );
    assert!(merged
        .to_text()
        .contains("3 outages, 30 answers from other shards"));
    let memory = write(dir.path(), "m.json", 1_000, 2, &report(2, &[5], &[]), "");
    let mixed = merge_files(std::slice::from_ref(&memory), None).unwrap();
    assert_eq!(mixed.summary.challenge_registry, None);
    let text = std::fs::read_to_string(&memory).unwrap();
    assert!(text.contains("\"challenge_registry\": null"), "{text}");
}
