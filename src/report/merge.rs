//! `report merge`: the JSON reports of runs that ran side by side (shards of one load test)
//! added up into the report of the whole, as if one run had done it all. Percentiles come from
//! the runs' histograms added together, so they are exact; counts add; the time series are
//! aligned on the wall clock by each run's `started_at_unix_s`; the run-wide rates are over
//! the wall-clock span from the first start to the last end.
//!
//! A report is a file from elsewhere: it is bounded in size, must be of this schema version,
//! carry every histogram its counts say it has, and its text is made printable again.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use super::histogram::{latency_histogram, Hdr, HdrError};
use super::series::{self, TimeSeriesReport};
use super::storage;
use super::summary::{
    ChainSummary, ConvergenceSummary, ExpectedSummary, FailureSummary, Percentiles, ProfileSummary,
    RegistrySummary, RequestSummary, Summary, MAX_FAILURE_REASONS, OVERFLOW,
};
use super::thresholds::{Thresholds, UnknownLimit, Verdict};
use super::{Report, SCHEMA_VERSION, TOOL};
use crate::printable::{printable, MAX_MESSAGE};
use crate::sharding::ShardReport;

/// Largest report file read: a report is a few megabytes at most (its time series is bounded).
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// Most reports merged at once.
pub const MAX_REPORTS: usize = 1024;

/// Longest name (chain, endpoint, reason…) kept from a report.
const MAX_NAME: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{0} reports: at most {max} are merged at once", max = MAX_REPORTS)]
    TooMany(usize),
    #[error("{}: {refusal}", file.display())]
    Refused { file: PathBuf, refusal: Refusal },
}

/// Why one report was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("cannot read it: {0}")]
    Read(#[from] std::io::Error),
    #[error("larger than {max} MiB: not a report", max = MAX_REPORT_BYTES >> 20)]
    TooLarge,
    #[error("not JSON: {0}")]
    Json(serde_json::Error),
    #[error("not a report of {TOOL} (its `tool` is {0:?})")]
    Foreign(Option<String>),
    #[error(
        "schema version {0}: this version merges reports of schema version {SCHEMA_VERSION}, \
         which carry their histograms"
    )]
    Version(u64),
    #[error("not a complete report of schema version {SCHEMA_VERSION}: {0}")]
    Incomplete(serde_json::Error),
    #[error("histogram {key}: {source}")]
    Histogram { key: String, source: HdrError },
    #[error("histogram {key} holds {held} values where the report counts {counted}")]
    Count {
        key: String,
        held: u64,
        counted: u64,
    },
    #[error("time series: {0}")]
    Series(&'static str),
    #[error("{0}")]
    Limit(#[from] UnknownLimit),
    #[error("threshold `{0}` has another limit than in the reports before it")]
    LimitDiffers(String),
}

/// The fields that tell a report of this tool and schema from anything else.
#[derive(serde::Deserialize)]
struct Header {
    tool: Option<String>,
    schema_version: Option<u64>,
}

/// Reads one report, refusing what is not a complete report of this schema version.
pub fn read(path: &Path) -> Result<Report, Refusal> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_REPORT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        return Err(Refusal::TooLarge);
    }
    let header: Header = serde_json::from_slice(&bytes).map_err(Refusal::Json)?;
    if header.tool.as_deref() != Some(TOOL) {
        return Err(Refusal::Foreign(header.tool));
    }
    match header.schema_version {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        v => return Err(Refusal::Version(v.unwrap_or(0))),
    }
    serde_json::from_slice(&bytes).map_err(Refusal::Incomplete)
}

/// Reads and merges the reports at `paths`; `limits` replaces the limits the reports were
/// checked against when given (`--config`).
pub fn merge_files(paths: &[PathBuf], limits: Option<&Thresholds>) -> Result<Report, MergeError> {
    if paths.len() > MAX_REPORTS {
        return Err(MergeError::TooMany(paths.len()));
    }
    let mut merger = Merger::default();
    for path in paths {
        let refused = |refusal| MergeError::Refused {
            file: path.clone(),
            refusal,
        };
        let report = read(path).map_err(refused)?;
        merger.add(report).map_err(refused)?;
    }
    Ok(merger.finish(limits))
}

/// What a chain, endpoint or profile counts, summed over the reports.
#[derive(Default)]
struct Counts {
    ok: u64,
    failed: u64,
    interrupted: u64,
    rate_limited: u64,
    expected: u64,
    bad_nonce_retried: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// Counts from a file are added without overflowing.
fn add(sum: &mut u64, n: u64) {
    *sum = sum.saturating_add(n);
}

/// The sums so far; histograms are kept decoded and encoded once at the end.
#[derive(Default)]
struct Merger {
    reports: usize,
    targets: Vec<String>,
    schedules: Vec<String>,
    /// Each report's start and its series.
    series: Vec<(u64, TimeSeriesReport)>,
    /// Each report's start and load duration.
    spans: Vec<(u64, f64)>,
    /// The most attackers of any one report.
    peak_attackers: usize,
    histograms: BTreeMap<String, Histogram<u64>>,
    chains: BTreeMap<String, Counts>,
    requests: BTreeMap<String, Counts>,
    profiles: BTreeMap<String, Counts>,
    /// By chain and what was read back: `ok` agreed, `failed` timed out.
    convergence: BTreeMap<(String, String), Counts>,
    failures: BTreeMap<(String, String), FailureSummary>,
    expected: BTreeMap<(String, String), u64>,
    /// The limits the reports were checked against, by key.
    limits: BTreeMap<String, Verdict>,
    summary: Summary,
    storage: Vec<storage::StorageView>,
    /// The shared registries' counts, summed, and their URLs.
    registry: Option<(RegistrySummary, Vec<String>)>,
    /// What each sharded report says of its shard.
    shards: Vec<ShardReport>,
}

/// A name or text from a report, printable and bounded as the tool's own are.
fn name(text: &str) -> String {
    printable(text, MAX_NAME)
}

impl Merger {
    /// Adds the histogram `hdr` under `key`, which must hold the `counted` values the report
    /// says it summarises.
    fn histogram(&mut self, key: String, hdr: &Hdr, counted: u64) -> Result<(), Refusal> {
        let h = hdr.decode().map_err(|source| Refusal::Histogram {
            key: key.clone(),
            source,
        })?;
        if h.len() != counted {
            let held = h.len();
            return Err(Refusal::Count { key, held, counted });
        }
        let into = self.histograms.entry(key).or_insert_with(latency_histogram);
        into.add(h).expect("histograms of the same bounds add up");
        Ok(())
    }

    fn add(&mut self, r: Report) -> Result<(), Refusal> {
        if let Some(shard) = &r.shard {
            self.shards.push(shard.clone());
        }
        let s = r.summary;
        check_series(&s.timeseries)?;
        if !(s.duration_s.is_finite() && s.duration_s >= 0.0) {
            return Err(Refusal::Series("duration_s is not a duration"));
        }
        self.add_limits(&r.thresholds)?;
        for (chain, c) in &s.chains {
            let chain = name(chain);
            self.histogram(format!("chains.{chain}.latency_hdr"), &c.latency_hdr, c.ok)?;
            let failed_key = format!("chains.{chain}.failed_latency_hdr");
            self.histogram(failed_key, &c.failed_latency_hdr, c.failed)?;
            let sum = self.chains.entry(chain).or_default();
            add(&mut sum.ok, c.ok);
            add(&mut sum.failed, c.failed);
            add(&mut sum.interrupted, c.interrupted);
            add(&mut sum.rate_limited, c.rate_limited);
        }
        for (endpoint, e) in &s.requests {
            let endpoint = name(endpoint);
            self.histogram(
                format!("requests.{endpoint}.latency_hdr"),
                &e.latency_hdr,
                e.ok,
            )?;
            let failed_key = format!("requests.{endpoint}.failed_latency_hdr");
            self.histogram(failed_key, &e.failed_latency_hdr, e.failed)?;
            let sum = self.requests.entry(endpoint).or_default();
            add(&mut sum.ok, e.ok);
            add(&mut sum.failed, e.failed);
            add(&mut sum.rate_limited, e.rate_limited);
            add(&mut sum.bad_nonce_retried, e.bad_nonce_retried);
            add(&mut sum.expected, e.expected);
            add(&mut sum.bytes_in, e.bytes_in);
            add(&mut sum.bytes_out, e.bytes_out);
        }
        for (profile, p) in &s.profiles {
            let profile = name(profile);
            self.histogram(
                format!("profiles.{profile}.latency_hdr"),
                &p.latency_hdr,
                p.ok,
            )?;
            let sum = self.profiles.entry(profile).or_default();
            add(&mut sum.ok, p.ok);
            add(&mut sum.failed, p.failed);
            add(&mut sum.rate_limited, p.rate_limited);
        }
        for c in &s.convergence {
            let key = (name(&c.chain), name(&c.what));
            let hdr_key = format!("convergence.{}.{}.latency_hdr", key.0, key.1);
            self.histogram(hdr_key, &c.latency_hdr, c.agreed)?;
            let sum = self.convergence.entry(key).or_default();
            add(&mut sum.ok, c.agreed);
            add(&mut sum.failed, c.timed_out);
        }
        for f in &s.failures {
            self.add_failure(f);
        }
        for e in &s.expected_outcomes {
            let key = (name(&e.chain), name(&e.outcome));
            add(self.expected.entry(key).or_default(), e.count);
        }
        let m = &mut self.summary;
        add(&mut m.bad_nonce_retries, s.bad_nonce_retries);
        add(&mut m.dropped_starts, s.dropped_starts);
        add(&mut m.attacker_restarts, s.attacker_restarts);
        add(&mut m.traffic.bytes_in, s.traffic.bytes_in);
        add(&mut m.traffic.bytes_out, s.traffic.bytes_out);
        add(&mut m.consistency.checked, s.consistency.checked);
        for (mismatch, n) in &s.consistency.mismatches {
            add(
                m.consistency.mismatches.entry(name(mismatch)).or_default(),
                *n,
            );
        }
        for (kind, k) in &s.consistency.kinds {
            let sum = m.consistency.kinds.entry(name(kind)).or_default();
            add(&mut sum.checked, k.checked);
            add(&mut sum.mismatched, k.mismatched);
        }
        for (cause, w) in &s.waits {
            let sum = m.waits.entry(name(cause)).or_default();
            add(&mut sum.count, w.count);
            sum.total_s += w.total_s;
            sum.max_s = sum.max_s.max(w.max_s);
        }
        self.storage.extend(s.storage);
        if let Some(r) = s.challenge_registry {
            let (sum, backends) = self.registry.get_or_insert_with(Default::default);
            for (into, n) in [
                (&mut sum.calls, r.calls),
                (&mut sum.failed, r.failed),
                (&mut sum.timed_out, r.timed_out),
                (&mut sum.skipped, r.skipped),
                (&mut sum.outages, r.outages),
                (&mut sum.shared_answers, r.shared_answers),
            ] {
                add(into, n);
            }
            backends.push(name(&r.backend));
        }
        self.peak_attackers = self.peak_attackers.max(s.peak_attackers);
        self.spans.push((r.started_at_unix_s, s.duration_s));
        self.series.push((r.started_at_unix_s, s.timeseries));
        self.targets.push(name(&r.target));
        self.schedules.push(name(&r.schedule));
        self.reports += 1;
        Ok(())
    }

    /// Counts a failure under its reason as a run does: the first example kept, at most
    /// [`MAX_FAILURE_REASONS`] distinct reasons, the rest under [`OVERFLOW`].
    fn add_failure(&mut self, f: &FailureSummary) {
        let (chain, reason) = (name(&f.chain), name(&f.reason));
        let example = printable(&f.example, 2 * MAX_MESSAGE);
        let known = self.failures.contains_key(&(chain.clone(), reason.clone()));
        let key = if known || self.failures.len() < MAX_FAILURE_REASONS {
            (chain, reason)
        } else {
            (chain, OVERFLOW.to_owned())
        };
        let sum = self
            .failures
            .entry(key.clone())
            .or_insert_with(|| FailureSummary {
                chain: key.0,
                reason: key.1,
                count: 0,
                example,
            });
        add(&mut sum.count, f.count);
    }

    /// Takes the union of the reports' limits; a limit must be the same in every report that
    /// has it.
    fn add_limits(&mut self, verdicts: &[Verdict]) -> Result<(), Refusal> {
        Thresholds::from_verdicts(verdicts)?;
        for v in verdicts {
            let known = self
                .limits
                .entry(v.key.clone())
                .or_insert_with(|| v.clone());
            if (known.unit, known.limit) != (v.unit, v.limit) {
                return Err(Refusal::LimitDiffers(name(&v.key)));
            }
        }
        Ok(())
    }

    fn latency(&mut self, key: String) -> (Option<Percentiles>, Hdr) {
        let h = self
            .histograms
            .remove(&key)
            .unwrap_or_else(latency_histogram);
        (Percentiles::of(&h), Hdr::encode(&h))
    }

    fn finish(mut self, limits: Option<&Thresholds>) -> Report {
        let first = self
            .spans
            .iter()
            .map(|(start, _)| *start)
            .min()
            .unwrap_or(0);
        let duration_s = self
            .spans
            .iter()
            .map(|(start, d)| (start - first) as f64 + d)
            .fold(0.0, f64::max);
        let secs = duration_s.max(1e-9);
        let expected = std::mem::take(&mut self.expected);
        for (name, c) in std::mem::take(&mut self.chains) {
            let (latency_ms, latency_hdr) = self.latency(format!("chains.{name}.latency_hdr"));
            let (failed_latency_ms, failed_latency_hdr) =
                self.latency(format!("chains.{name}.failed_latency_hdr"));
            let chain = ChainSummary {
                ok: c.ok,
                failed: c.failed,
                interrupted: c.interrupted,
                rate_limited: c.rate_limited,
                expected: expected
                    .iter()
                    .filter(|((chain, _), _)| *chain == name)
                    .map(|(_, n)| n)
                    .sum(),
                rate_per_s: c.ok as f64 / secs,
                latency_ms,
                failed_latency_ms,
                latency_hdr,
                failed_latency_hdr,
            };
            self.summary.chains.insert(name, chain);
        }
        for (name, e) in std::mem::take(&mut self.requests) {
            let (latency_ms, latency_hdr) = self.latency(format!("requests.{name}.latency_hdr"));
            let (failed_latency_ms, failed_latency_hdr) =
                self.latency(format!("requests.{name}.failed_latency_hdr"));
            let all = [e.failed, e.bad_nonce_retried, e.expected, e.rate_limited]
                .into_iter()
                .fold(e.ok, u64::saturating_add);
            let request = RequestSummary {
                ok: e.ok,
                failed: e.failed,
                bad_nonce_retried: e.bad_nonce_retried,
                expected: e.expected,
                rate_limited: e.rate_limited,
                rate_per_s: all as f64 / secs,
                latency_ms,
                failed_latency_ms,
                latency_hdr,
                failed_latency_hdr,
                bytes_in: e.bytes_in,
                bytes_out: e.bytes_out,
            };
            self.summary.requests.insert(name, request);
        }
        for (name, p) in std::mem::take(&mut self.profiles) {
            let (latency_ms, latency_hdr) = self.latency(format!("profiles.{name}.latency_hdr"));
            let profile = ProfileSummary {
                ok: p.ok,
                failed: p.failed,
                rate_limited: p.rate_limited,
                latency_ms,
                latency_hdr,
            };
            self.summary.profiles.insert(name, profile);
        }
        for ((chain, what), c) in std::mem::take(&mut self.convergence) {
            let key = format!("convergence.{chain}.{what}.latency_hdr");
            let (latency_ms, latency_hdr) = self.latency(key);
            self.summary.convergence.push(ConvergenceSummary {
                chain,
                what,
                agreed: c.ok,
                timed_out: c.failed,
                latency_ms,
                latency_hdr,
            });
        }
        let mut failures: Vec<FailureSummary> =
            std::mem::take(&mut self.failures).into_values().collect();
        failures.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
        let mut expected: Vec<ExpectedSummary> = expected
            .into_iter()
            .map(|((chain, outcome), count)| ExpectedSummary {
                chain,
                outcome,
                count,
            })
            .collect();
        expected.sort_by(|a, b| b.count.cmp(&a.count).then(a.outcome.cmp(&b.outcome)));
        let aligned: Vec<(f64, &TimeSeriesReport)> = self
            .series
            .iter()
            .map(|(start, s)| ((start - first) as f64, s))
            .collect();
        let timeseries = series::merge(&aligned);
        let busiest = timeseries.points.iter().map(|p| p.attackers).max();
        let mut s = self.summary;
        s.duration_s = duration_s;
        s.peak_attackers = busiest.unwrap_or(0).max(self.peak_attackers);
        (s.failures, s.expected_outcomes, s.timeseries) = (failures, expected, timeseries);
        s.storage = storage::merge(self.storage.iter(), duration_s);
        s.challenge_registry = self.registry.map(|(mut sum, mut backends)| {
            backends.sort();
            backends.dedup();
            sum.backend = backends.join(", ");
            sum
        });
        let carried: Vec<Verdict> = self.limits.into_values().collect();
        let carried =
            Thresholds::from_verdicts(&carried).expect("every report's limits were read back");
        let verdicts = limits.unwrap_or(&carried).evaluate(&s);
        let describe = |mut all: Vec<String>| {
            all.sort();
            all.dedup();
            all.join("; ")
        };
        let schedule = format!(
            "{} merged reports ({})",
            self.reports,
            describe(self.schedules)
        );
        let mut report = Report::new(describe(self.targets), schedule, first, s, verdicts);
        report.shard = merged_shards(&self.shards);
        report
    }
}

/// The shards of the merged reports as one: which were merged (`index` 0: no single one),
/// their common `--start-at`, and the starts and steps they skipped, added up, so the merged
/// report alone says whether the whole schedule ran.
fn merged_shards(shards: &[ShardReport]) -> Option<ShardReport> {
    let first = shards.first()?;
    let mut names: Vec<String> = shards.iter().map(|s| name(&s.shard)).collect();
    names.sort();
    names.dedup();
    let shard = match names.len() {
        n if n <= 8 => format!("{} merged", names.join(", ")),
        n => format!("{n} shards merged"),
    };
    let start_at = shards
        .iter()
        .all(|s| s.start_at == first.start_at)
        .then(|| first.start_at.as_deref().map(name))
        .flatten();
    Some(ShardReport {
        shard,
        index: 0,
        count: shards.iter().map(|s| s.count).max().unwrap_or(0),
        start_at,
        skipped_starts: shards
            .iter()
            .fold(0u64, |sum, s| sum.saturating_add(s.skipped_starts)),
        skipped_steps: shards.iter().map(|s| s.skipped_steps).max().unwrap_or(0),
    })
}

/// A series from a file is used only when its numbers are the kind a run writes.
fn check_series(s: &TimeSeriesReport) -> Result<(), Refusal> {
    let fine = |v: f64| v.is_finite() && v >= 0.0;
    if !(fine(s.interval_s) && s.interval_s >= 1.0) {
        return Err(Refusal::Series("interval_s below 1 s"));
    }
    if s.points.len() > 2 * series::MAX_POINTS {
        return Err(Refusal::Series("more points than a run writes"));
    }
    for p in &s.points {
        let rates = [p.chains_ok_per_s, p.chains_failed_per_s, p.requests_per_s];
        if !(fine(p.t_s) && fine(p.width_s) && rates.into_iter().all(fine)) {
            return Err(Refusal::Series(
                "a point with a negative or infinite number",
            ));
        }
        if !p
            .chains
            .values()
            .chain(p.requests.values())
            .all(|l| l.buckets.is_well_formed())
        {
            return Err(Refusal::Series("buckets not ascending or with zero counts"));
        }
    }
    Ok(())
}
