//! The end-of-run summary: plain data (serialised into the JSON report) and its text table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::timeseries::TimeSeriesReport;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainSummary {
    pub ok: u64,
    pub failed: u64,
    /// Cut short by shutdown after the grace period.
    pub interrupted: u64,
    /// Expected outcomes (refusals the chain asked for) met by these runs.
    pub expected: u64,
    /// Successful chains per second over the run.
    pub rate_per_s: f64,
    /// Latency of successful chains.
    pub latency_ms: Option<Percentiles>,
    pub failed_latency_ms: Option<Percentiles>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestSummary {
    pub ok: u64,
    pub failed: u64,
    /// Refused with `badNonce` and re-sent (not counted in `failed`).
    pub bad_nonce_retried: u64,
    /// Refused with the problem the chain expected (in neither `ok` nor `failed`).
    pub expected: u64,
    /// All exchanges per second over the run.
    pub rate_per_s: f64,
    pub latency_ms: Option<Percentiles>,
    pub failed_latency_ms: Option<Percentiles>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureSummary {
    pub chain: String,
    pub reason: String,
    pub count: u64,
    /// The first message seen for this reason.
    pub example: String,
}

/// An outcome chains expected and met: a refusal showing the CA did its job
/// (`acme:alreadyRevoked`…), or a forgotten account replaced by a new one.
#[derive(Debug, Clone, Serialize)]
pub struct ExpectedSummary {
    pub chain: String,
    pub outcome: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Consistency {
    pub checked: u64,
    pub mismatches: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Traffic {
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub duration_s: f64,
    pub peak_attackers: usize,
    pub chains: BTreeMap<String, ChainSummary>,
    pub requests: BTreeMap<String, RequestSummary>,
    pub failures: Vec<FailureSummary>,
    /// Sorted by count.
    pub expected_outcomes: Vec<ExpectedSummary>,
    pub bad_nonce_retries: u64,
    /// Open model: starts not made because `max_in_flight` chains were running.
    pub dropped_starts: u64,
    /// With `--mysql`: certificates looked up in Boulder's database after the API issued or
    /// revoked them, and the disagreements found, by kind.
    pub consistency: Consistency,
    /// Attackers restarted by their supervisor after a crash.
    pub attacker_restarts: u64,
    pub traffic: Traffic,
    pub timeseries: TimeSeriesReport,
    /// With `--mysql`: how far Boulder's tables grew during the run; `null` otherwise.
    pub storage: Option<crate::db::storage::StorageView>,
}

impl Summary {
    pub fn chains_ok(&self) -> u64 {
        self.chains.values().map(|c| c.ok).sum()
    }

    pub fn chains_failed(&self) -> u64 {
        self.chains.values().map(|c| c.failed).sum()
    }

    /// Total requests per second (all endpoints, all outcomes).
    pub fn requests_per_s(&self) -> f64 {
        self.requests.values().map(|r| r.rate_per_s).sum()
    }

    /// The summary as aligned text tables.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "duration {:.1}s, peak attackers {}, chains ok {}, failed {}, requests/s {:.1}",
            self.duration_s,
            self.peak_attackers,
            self.chains_ok(),
            self.chains_failed(),
            self.requests_per_s()
        );
        let _ = writeln!(
            out,
            "\n{:<21} {:>8} {:>7} {:>7} {:>7} {:>8} {}",
            "chain", "ok", "failed", "intr", "expect", "ok/s", LATENCY_HEADER
        );
        for (name, c) in &self.chains {
            let _ = writeln!(
                out,
                "{:<21} {:>8} {:>7} {:>7} {:>7} {:>8.2} {}",
                name,
                c.ok,
                c.failed,
                c.interrupted,
                c.expected,
                c.rate_per_s,
                latency_cells(&c.latency_ms)
            );
        }
        let _ = writeln!(
            out,
            "\n{:<21} {:>8} {:>7} {:>7} {:>7} {:>8} {}",
            "request", "ok", "failed", "nonce", "expect", "req/s", LATENCY_HEADER
        );
        for (name, r) in &self.requests {
            let _ = writeln!(
                out,
                "{:<21} {:>8} {:>7} {:>7} {:>7} {:>8.2} {}",
                name,
                r.ok,
                r.failed,
                r.bad_nonce_retried,
                r.expected,
                r.rate_per_s,
                latency_cells(&r.latency_ms)
            );
        }
        if !self.failures.is_empty() {
            let _ = writeln!(out, "\nfailures by reason:");
            for f in &self.failures {
                let _ = writeln!(
                    out,
                    "  {:>7}  {:<21} {:<32} e.g. {}",
                    f.count, f.chain, f.reason, f.example
                );
            }
        }
        if !self.expected_outcomes.is_empty() {
            let _ = writeln!(out, "\nexpected outcomes (counted as ok):");
            for e in &self.expected_outcomes {
                let _ = writeln!(out, "  {:>7}  {:<21} {}", e.count, e.chain, e.outcome);
            }
        }
        if self.consistency.checked > 0 {
            let found: Vec<String> = self
                .consistency
                .mismatches
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            let _ = writeln!(
                out,
                "\nconsistency with Boulder's database: {} certificates checked, {}",
                self.consistency.checked,
                if found.is_empty() {
                    "no mismatch".to_owned()
                } else {
                    format!("mismatches: {}", found.join(", "))
                }
            );
        }
        if self.dropped_starts > 0 || self.attacker_restarts > 0 {
            let _ = writeln!(
                out,
                "\ndropped starts {} (max_in_flight reached), attacker restarts {}",
                self.dropped_starts, self.attacker_restarts
            );
        }
        let _ = writeln!(
            out,
            "\nbadNonce retries {}, traffic in {}, out {}",
            self.bad_nonce_retries,
            bytes(self.traffic.bytes_in),
            bytes(self.traffic.bytes_out)
        );
        if let Some(storage) = &self.storage {
            out += &crate::db::storage::to_text(storage);
        }
        out
    }
}

const LATENCY_HEADER: &str = "     min      p50      p90      p99    p99.9      max (ms, ok only)";

fn latency_cells(p: &Option<Percentiles>) -> String {
    match p {
        Some(p) => format!(
            "{:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            p.min, p.p50, p.p90, p.p99, p.p999, p.max
        ),
        None => format!(
            "{:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "-", "-", "-", "-", "-", "-"
        ),
    }
}

/// `1.5 KiB`: binary units, one decimal.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_units() {
        assert_eq!(bytes(512), "512.0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }
}
