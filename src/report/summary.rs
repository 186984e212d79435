//! The end-of-run summary: plain data (serialised into the JSON report, read back to merge
//! reports) and its text table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::histogram::Hdr;
use super::series::TimeSeriesReport;
use super::storage::StorageView;

/// Distinct failure reasons kept; more are counted under [`OVERFLOW`].
pub const MAX_FAILURE_REASONS: usize = 100;

/// The reason failures beyond [`MAX_FAILURE_REASONS`] distinct ones are counted under.
pub const OVERFLOW: &str = "overflow";

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainSummary {
    pub ok: u64,
    pub failed: u64,
    /// Cut short by shutdown after the grace period.
    pub interrupted: u64,
    /// Refused by a rate limit of the CA (in neither `ok` nor `failed`).
    pub rate_limited: u64,
    /// Expected outcomes (refusals the chain asked for) met by these runs.
    pub expected: u64,
    /// Successful chains per second over the run.
    pub rate_per_s: f64,
    /// Latency of successful chains.
    pub latency_ms: Option<Percentiles>,
    pub failed_latency_ms: Option<Percentiles>,
    /// The histograms `latency_ms` and `failed_latency_ms` summarise.
    pub latency_hdr: Hdr,
    pub failed_latency_hdr: Hdr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestSummary {
    pub ok: u64,
    pub failed: u64,
    /// Refused with `badNonce` and re-sent (not counted in `failed`).
    pub bad_nonce_retried: u64,
    /// Refused with the problem the chain expected (in neither `ok` nor `failed`).
    pub expected: u64,
    /// Refused by a rate limit, HTTP 429 (in neither `ok` nor `failed`).
    pub rate_limited: u64,
    /// All exchanges per second over the run.
    pub rate_per_s: f64,
    pub latency_ms: Option<Percentiles>,
    pub failed_latency_ms: Option<Percentiles>,
    /// The histograms `latency_ms` and `failed_latency_ms` summarise.
    pub latency_hdr: Hdr,
    pub failed_latency_hdr: Hdr,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureSummary {
    pub chain: String,
    pub reason: String,
    pub count: u64,
    /// The first message seen for this reason.
    pub example: String,
}

/// An outcome chains expected and met: a refusal showing the CA did its job
/// (`acme:alreadyRevoked`…), or a forgotten account replaced by a new one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpectedSummary {
    pub chain: String,
    pub outcome: String,
    pub count: u64,
}

/// How long the CA took to agree with one kind of change a chain read back (a new account
/// key, a deactivation): eventual consistency, measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConvergenceSummary {
    pub chain: String,
    pub what: String,
    /// Read-backs that agreed within the settle window…
    pub agreed: u64,
    /// …and those that did not (their chain failed).
    pub timed_out: u64,
    /// Time from the accepted change until the CA agreed.
    pub latency_ms: Option<Percentiles>,
    pub latency_hdr: Hdr,
}

/// Chains that ordered with one certificate profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileSummary {
    pub ok: u64,
    pub failed: u64,
    pub rate_limited: u64,
    /// Latency of successful chains.
    pub latency_ms: Option<Percentiles>,
    pub latency_hdr: Hdr,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Consistency {
    /// Things the API did that were looked up (an issuance, a revocation, a key change…).
    pub checked: u64,
    /// Disagreements by name (`certificate-missing`, `fqdn-set-missing`…).
    pub mismatches: BTreeMap<String, u64>,
    /// By kind of row checked (`certificate`, `issued-names`, `blocked-key`…).
    pub kinds: BTreeMap<String, KindCount>,
}

/// Checks of one kind of row, and how many disagreed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct KindCount {
    pub checked: u64,
    pub mismatched: u64,
}

/// Pauses of one cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WaitSummary {
    pub count: u64,
    pub total_s: f64,
    pub max_s: f64,
}

/// The challenge registry shared through Redis (`challenge.registry`): its calls, and the
/// outages during which the shard answered from its own entries only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrySummary {
    /// The Redis URL, its password masked (merged: the distinct ones, joined).
    pub backend: String,
    /// Calls sent to Redis…
    pub calls: u64,
    /// …those that failed (an error, a closed connection, a timeout)…
    pub failed: u64,
    /// …and of those, the ones unanswered within `challenge.registry_timeout`.
    pub timed_out: u64,
    /// Lookups not sent because Redis was out (the shard's own entries answered at once).
    pub skipped: u64,
    /// Times Redis went from answering to failing.
    pub outages: u64,
    /// Lookups answered with another shard's entry.
    pub shared_answers: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Traffic {
    pub bytes_in: u64,
    pub bytes_out: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub duration_s: f64,
    pub peak_attackers: usize,
    pub chains: BTreeMap<String, ChainSummary>,
    pub requests: BTreeMap<String, RequestSummary>,
    pub failures: Vec<FailureSummary>,
    /// Sorted by count.
    pub expected_outcomes: Vec<ExpectedSummary>,
    /// By chain and what was read back.
    pub convergence: Vec<ConvergenceSummary>,
    /// By certificate profile (chains that asked for one).
    pub profiles: BTreeMap<String, ProfileSummary>,
    pub bad_nonce_retries: u64,
    /// Open model: starts not made because `max_in_flight` chains were running.
    pub dropped_starts: u64,
    /// With `--mysql`: certificates looked up in Boulder's database after the API issued or
    /// revoked them, and the disagreements found, by kind.
    pub consistency: Consistency,
    /// Attackers restarted by their supervisor after a crash.
    pub attacker_restarts: u64,
    /// Pauses attackers took before a chain, by cause (`backoff`, `retry-after`).
    pub waits: BTreeMap<String, WaitSummary>,
    pub traffic: Traffic,
    pub timeseries: TimeSeriesReport,
    /// With `--mysql`: how far Boulder's tables grew during the run; `null` otherwise.
    pub storage: Option<StorageView>,
    /// With a shared challenge registry: what it did; `null` otherwise.
    #[serde(default)]
    pub challenge_registry: Option<RegistrySummary>,
}

impl Summary {
    pub fn chains_ok(&self) -> u64 {
        self.chains.values().map(|c| c.ok).sum()
    }

    pub fn chains_failed(&self) -> u64 {
        self.chains.values().map(|c| c.failed).sum()
    }

    pub fn chains_rate_limited(&self) -> u64 {
        self.chains.values().map(|c| c.rate_limited).sum()
    }

    /// Total requests per second (all endpoints, all outcomes).
    pub fn requests_per_s(&self) -> f64 {
        self.requests.values().map(|r| r.rate_per_s).sum()
    }

    /// The summary as aligned text tables.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "duration {:.1}s, peak attackers {}, chains ok {}, failed {}",
            self.duration_s,
            self.peak_attackers,
            self.chains_ok(),
            self.chains_failed(),
        );
        if self.chains_rate_limited() > 0 {
            let _ = write!(out, ", rate-limited {}", self.chains_rate_limited());
        }
        let _ = writeln!(out, ", requests/s {:.1}", self.requests_per_s());
        let _ = writeln!(
            out,
            "\n{:<21} {:>8} {:>7} {:>7} {:>7} {:>7} {:>8} {}",
            "chain", "ok", "failed", "limited", "intr", "expect", "ok/s", LATENCY_HEADER
        );
        for (name, c) in &self.chains {
            let _ = writeln!(
                out,
                "{:<21} {:>8} {:>7} {:>7} {:>7} {:>7} {:>8.2} {}",
                name,
                c.ok,
                c.failed,
                c.rate_limited,
                c.interrupted,
                c.expected,
                c.rate_per_s,
                latency_cells(&c.latency_ms)
            );
        }
        let _ = writeln!(
            out,
            "\n{:<21} {:>8} {:>7} {:>7} {:>7} {:>7} {:>8} {}",
            "request", "ok", "failed", "limited", "nonce", "expect", "req/s", LATENCY_HEADER
        );
        for (name, r) in &self.requests {
            let _ = writeln!(
                out,
                "{:<21} {:>8} {:>7} {:>7} {:>7} {:>7} {:>8.2} {}",
                name,
                r.ok,
                r.failed,
                r.rate_limited,
                r.bad_nonce_retried,
                r.expected,
                r.rate_per_s,
                latency_cells(&r.latency_ms)
            );
        }
        if !self.profiles.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<21} {:>8} {:>7} {:>7} {:>15} {}",
                "profile", "ok", "failed", "limited", "", LATENCY_HEADER
            );
            for (name, p) in &self.profiles {
                let _ = writeln!(
                    out,
                    "{:<21} {:>8} {:>7} {:>7} {:>15} {}",
                    name,
                    p.ok,
                    p.failed,
                    p.rate_limited,
                    "",
                    latency_cells(&p.latency_ms)
                );
            }
        }
        if !self.convergence.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<21} {:<13} {:>7} {:>9} {}",
                "converged (chain)", "read back", "agreed", "timed out", CONVERGENCE_HEADER
            );
            for c in &self.convergence {
                let _ = writeln!(
                    out,
                    "{:<21} {:<13} {:>7} {:>9} {}",
                    c.chain,
                    c.what,
                    c.agreed,
                    c.timed_out,
                    latency_cells(&c.latency_ms)
                );
            }
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
                "\nconsistency with Boulder's database: {} changes checked, {}",
                self.consistency.checked,
                if found.is_empty() {
                    "no mismatch".to_owned()
                } else {
                    format!("mismatches: {}", found.join(", "))
                }
            );
            let kinds: Vec<String> = self
                .consistency
                .kinds
                .iter()
                .map(|(kind, c)| match c.mismatched {
                    0 => format!("{kind} {}", c.checked),
                    m => format!("{kind} {}/{m} mismatched", c.checked),
                })
                .collect();
            let _ = writeln!(out, "  rows checked: {}", kinds.join(", "));
        }
        if !self.waits.is_empty() {
            let waits: Vec<String> = self
                .waits
                .iter()
                .map(|(cause, w)| {
                    format!(
                        "{cause} {} (total {:.1}s, longest {:.1}s)",
                        w.count, w.total_s, w.max_s
                    )
                })
                .collect();
            let _ = writeln!(out, "\nattackers waited: {}", waits.join(", "));
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
        if let Some(r) = &self.challenge_registry {
            let _ = writeln!(
                out,
                "challenge registry {}: {} calls, {} failed ({} timed out), {} skipped during \
                 {} outages, {} answers from other shards",
                r.backend, r.calls, r.failed, r.timed_out, r.skipped, r.outages, r.shared_answers
            );
        }
        if let Some(storage) = &self.storage {
            out += &super::storage::to_text(storage);
        }
        out
    }
}

const CONVERGENCE_HEADER: &str =
    "     min      p50      p90      p99    p99.9      max (ms until the CA agreed)";

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
