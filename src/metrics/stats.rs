//! Aggregation of chain and request records: counts and HDR latency histograms (bounded
//! memory however long the run), failures grouped by reason.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::{Counter, Histogram};

use super::timeseries::TimeSeries;
use super::{ChainDone, ChainOutcome, WaitCause};
use crate::acme::{Endpoint, RequestOutcome, RequestRecord};
use crate::db::consistency::{Kind, Mismatch};
use crate::printable::{printable, MAX_MESSAGE};
use crate::report::histogram::{Hdr, MAX_MICROS, SIGFIG};
use crate::report::summary::{
    ChainSummary, Consistency, ConvergenceSummary, ExpectedSummary, FailureSummary, Percentiles,
    ProfileSummary, RequestSummary, Summary, Traffic, WaitSummary, MAX_FAILURE_REASONS, OVERFLOW,
};

/// Longest failure reason kept.
const MAX_REASON: usize = 100;

/// A latency histogram with `sigfig` significant digits (3 for the summary, 2 for live views).
pub fn histogram<T: Counter>(sigfig: u8) -> Histogram<T> {
    Histogram::new_with_bounds(1, MAX_MICROS, sigfig).expect("static histogram bounds")
}

/// Records a latency, clamped into the histogram's 1 µs to 1 hour.
pub fn record<T: Counter>(h: &mut Histogram<T>, took: Duration) {
    h.saturating_record((took.as_micros() as u64).clamp(1, MAX_MICROS));
}

/// Latencies of successes and failures, kept apart: a fast failure must not flatter p50.
struct Latencies {
    ok: Histogram<u64>,
    failed: Histogram<u64>,
}

impl Latencies {
    fn new() -> Self {
        Latencies {
            ok: histogram(SIGFIG),
            failed: histogram(SIGFIG),
        }
    }
}

struct ChainStats {
    interrupted: u64,
    rate_limited: u64,
    latency: Latencies,
}

impl ChainStats {
    fn new() -> Self {
        ChainStats {
            interrupted: 0,
            rate_limited: 0,
            latency: Latencies::new(),
        }
    }
}

/// Time until the CA agreed with a change, and how often it never did within the window.
struct ConvergenceStats {
    agreed: Histogram<u64>,
    timed_out: u64,
}

struct EndpointStats {
    bad_nonce: u64,
    expected: u64,
    rate_limited: u64,
    bytes_in: u64,
    bytes_out: u64,
    latency: Latencies,
}

struct FailureStats {
    count: u64,
    example: String,
}

/// Everything counted since the start of the run.
#[derive(Default)]
pub struct Stats {
    chains: BTreeMap<&'static str, ChainStats>,
    endpoints: BTreeMap<Endpoint, EndpointStats>,
    failures: BTreeMap<(&'static str, String), FailureStats>,
    expected: BTreeMap<(&'static str, String), u64>,
    convergence: BTreeMap<(&'static str, &'static str), ConvergenceStats>,
    /// Chains by the certificate profile they ordered with; the names come from the config.
    profiles: BTreeMap<std::sync::Arc<str>, ChainStats>,
    bad_nonce_retries: u64,
    dropped_starts: u64,
    consistency: Consistency,
    attacker_restarts: u64,
    waits: BTreeMap<WaitCause, WaitSummary>,
    attackers: usize,
    peak_attackers: usize,
    series: TimeSeries,
}

impl Stats {
    pub fn set_attackers(&mut self, n: usize) {
        self.attackers = n;
        self.peak_attackers = self.peak_attackers.max(n);
        self.series.set_attackers(n);
    }

    pub fn attackers(&self) -> usize {
        self.attackers
    }

    /// Closes the time series' intervals that ended before `now` (since the run started).
    pub fn advance(&mut self, now: Duration) {
        self.series.advance(now);
    }

    /// One consistency check: a verdict per kind of row it looked at.
    pub fn add_consistency(&mut self, verdicts: &[(Kind, Option<Mismatch>)]) {
        self.consistency.checked += 1;
        for (kind, mismatch) in verdicts {
            let count = self
                .consistency
                .kinds
                .entry(kind.name().to_owned())
                .or_default();
            count.checked += 1;
            if let Some(m) = mismatch {
                count.mismatched += 1;
                *self
                    .consistency
                    .mismatches
                    .entry(m.name().to_owned())
                    .or_default() += 1;
            }
        }
    }

    pub fn add_dropped(&mut self, n: u64) {
        self.dropped_starts += n;
    }

    pub fn add_wait(&mut self, cause: WaitCause, took: Duration) {
        let w = self.waits.entry(cause).or_default();
        w.count += 1;
        w.total_s += took.as_secs_f64();
        w.max_s = w.max_s.max(took.as_secs_f64());
    }

    pub fn add_restart(&mut self) {
        self.attacker_restarts += 1;
    }

    pub fn chains_ok(&self) -> u64 {
        self.chains.values().map(|c| c.latency.ok.len()).sum()
    }

    pub fn chains_failed(&self) -> u64 {
        self.chains.values().map(|c| c.latency.failed.len()).sum()
    }

    pub fn chains_rate_limited(&self) -> u64 {
        self.chains.values().map(|c| c.rate_limited).sum()
    }

    /// Adds one chain run that ended `now` after the start of the run.
    pub fn add_chain(&mut self, done: &ChainDone, now: Duration) {
        self.series.advance(now);
        let chain = self
            .chains
            .entry(done.chain)
            .or_insert_with(ChainStats::new);
        count_chain(chain, &done.outcome, done.took);
        if let Some(profile) = &done.profile {
            let by_profile = self
                .profiles
                .entry(profile.clone())
                .or_insert_with(ChainStats::new);
            count_chain(by_profile, &done.outcome, done.took);
        }
        for outcome in &done.expected {
            *self
                .expected
                .entry((done.chain, outcome.clone()))
                .or_default() += 1;
        }
        for c in &done.converged {
            let stats = self
                .convergence
                .entry((done.chain, c.what))
                .or_insert_with(|| ConvergenceStats {
                    agreed: histogram(SIGFIG),
                    timed_out: 0,
                });
            match c.agreed {
                true => record(&mut stats.agreed, c.took),
                false => stats.timed_out += 1,
            }
        }
        match &done.outcome {
            ChainOutcome::Ok => self.series.chain(done.chain, true, done.took),
            ChainOutcome::Failed { reason, message } => {
                self.series.chain(done.chain, false, done.took);
                self.add_failure(done.chain, reason, message);
            }
            ChainOutcome::RateLimited { .. } | ChainOutcome::Interrupted => {}
        }
        self.bad_nonce_retries += u64::from(done.bad_nonce_retries);
        for request in &done.requests {
            self.add_request(request);
        }
    }

    /// Counts a failure under its reason, keeping the first message as the example. Reasons
    /// and messages carry what the CA sent: both are made printable and bounded, and past
    /// [`MAX_FAILURE_REASONS`] distinct reasons the rest are counted under `overflow`.
    fn add_failure(&mut self, chain: &'static str, reason: &str, message: &str) {
        let reason = printable(reason, MAX_REASON);
        let known = self.failures.contains_key(&(chain, reason.clone()));
        let (reason, example) = if known || self.failures.len() < MAX_FAILURE_REASONS {
            (reason, printable(message, MAX_MESSAGE))
        } else {
            let example = format!(
                "beyond {MAX_FAILURE_REASONS} distinct reasons, e.g. {}",
                printable(message, MAX_MESSAGE)
            );
            (OVERFLOW.to_owned(), example)
        };
        let failure = self
            .failures
            .entry((chain, reason))
            .or_insert_with(|| FailureStats { count: 0, example });
        failure.count += 1;
    }

    fn add_request(&mut self, r: &RequestRecord) {
        let e = self
            .endpoints
            .entry(r.endpoint)
            .or_insert_with(|| EndpointStats {
                bad_nonce: 0,
                expected: 0,
                rate_limited: 0,
                bytes_in: 0,
                bytes_out: 0,
                latency: Latencies::new(),
            });
        e.bytes_in += r.bytes_in;
        e.bytes_out += r.bytes_out;
        match r.outcome {
            RequestOutcome::Ok => record(&mut e.latency.ok, r.took),
            RequestOutcome::Failed => record(&mut e.latency.failed, r.took),
            RequestOutcome::BadNonceRetried => e.bad_nonce += 1,
            RequestOutcome::Expected => e.expected += 1,
            RequestOutcome::RateLimited => e.rate_limited += 1,
        }
        let ok_took = (r.outcome == RequestOutcome::Ok).then_some(r.took);
        self.series.request(r.endpoint, ok_took);
    }

    pub fn summary(&self, elapsed: Duration) -> Summary {
        self.summary_of_load(elapsed, elapsed)
    }

    /// The summary of a load that lasted `load` (its rates and duration), the run having
    /// lasted `elapsed` (chains still finishing in the grace period are counted too).
    pub fn summary_of_load(&self, load: Duration, elapsed: Duration) -> Summary {
        let secs = load.as_secs_f64().max(1e-9);
        let chains = self
            .chains
            .iter()
            .map(|(name, c)| {
                let s = ChainSummary {
                    ok: c.latency.ok.len(),
                    failed: c.latency.failed.len(),
                    interrupted: c.interrupted,
                    rate_limited: c.rate_limited,
                    expected: self
                        .expected
                        .iter()
                        .filter(|((chain, _), _)| chain == name)
                        .map(|(_, n)| n)
                        .sum(),
                    rate_per_s: c.latency.ok.len() as f64 / secs,
                    latency_ms: Percentiles::of(&c.latency.ok),
                    failed_latency_ms: Percentiles::of(&c.latency.failed),
                    latency_hdr: Hdr::encode(&c.latency.ok),
                    failed_latency_hdr: Hdr::encode(&c.latency.failed),
                };
                (name.to_string(), s)
            })
            .collect();
        let requests = self
            .endpoints
            .iter()
            .map(|(endpoint, e)| {
                let total = e.latency.ok.len()
                    + e.latency.failed.len()
                    + e.bad_nonce
                    + e.expected
                    + e.rate_limited;
                let s = RequestSummary {
                    ok: e.latency.ok.len(),
                    failed: e.latency.failed.len(),
                    bad_nonce_retried: e.bad_nonce,
                    expected: e.expected,
                    rate_limited: e.rate_limited,
                    rate_per_s: total as f64 / secs,
                    latency_ms: Percentiles::of(&e.latency.ok),
                    failed_latency_ms: Percentiles::of(&e.latency.failed),
                    latency_hdr: Hdr::encode(&e.latency.ok),
                    failed_latency_hdr: Hdr::encode(&e.latency.failed),
                    bytes_in: e.bytes_in,
                    bytes_out: e.bytes_out,
                };
                (endpoint.name().to_owned(), s)
            })
            .collect();
        let mut failures: Vec<FailureSummary> = self
            .failures
            .iter()
            .map(|((chain, reason), f)| FailureSummary {
                chain: chain.to_string(),
                reason: reason.clone(),
                count: f.count,
                example: f.example.clone(),
            })
            .collect();
        failures.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
        let mut expected: Vec<ExpectedSummary> = self
            .expected
            .iter()
            .map(|((chain, outcome), count)| ExpectedSummary {
                chain: chain.to_string(),
                outcome: outcome.clone(),
                count: *count,
            })
            .collect();
        expected.sort_by(|a, b| b.count.cmp(&a.count).then(a.outcome.cmp(&b.outcome)));
        let convergence = self
            .convergence
            .iter()
            .map(|((chain, what), c)| ConvergenceSummary {
                chain: chain.to_string(),
                what: what.to_string(),
                agreed: c.agreed.len(),
                timed_out: c.timed_out,
                latency_ms: Percentiles::of(&c.agreed),
                latency_hdr: Hdr::encode(&c.agreed),
            })
            .collect();
        let profiles = self
            .profiles
            .iter()
            .map(|(name, c)| {
                let s = ProfileSummary {
                    ok: c.latency.ok.len(),
                    failed: c.latency.failed.len(),
                    rate_limited: c.rate_limited,
                    latency_ms: Percentiles::of(&c.latency.ok),
                    latency_hdr: Hdr::encode(&c.latency.ok),
                };
                (name.to_string(), s)
            })
            .collect();
        let traffic = Traffic {
            bytes_in: self.endpoints.values().map(|e| e.bytes_in).sum(),
            bytes_out: self.endpoints.values().map(|e| e.bytes_out).sum(),
        };
        Summary {
            duration_s: load.as_secs_f64(),
            peak_attackers: self.peak_attackers,
            chains,
            requests,
            failures,
            expected_outcomes: expected,
            convergence,
            profiles,
            bad_nonce_retries: self.bad_nonce_retries,
            dropped_starts: self.dropped_starts,
            consistency: self.consistency.clone(),
            attacker_restarts: self.attacker_restarts,
            waits: self
                .waits
                .iter()
                .map(|(cause, w)| (cause.name().to_owned(), *w))
                .collect(),
            traffic,
            timeseries: self.series.report(elapsed),
            storage: None,
            challenge_registry: None,
        }
    }
}

/// Counts one chain run into `c` (by chain, or by profile).
fn count_chain(c: &mut ChainStats, outcome: &ChainOutcome, took: Duration) {
    match outcome {
        ChainOutcome::Ok => record(&mut c.latency.ok, took),
        ChainOutcome::Failed { .. } => record(&mut c.latency.failed, took),
        ChainOutcome::RateLimited { .. } => c.rate_limited += 1,
        ChainOutcome::Interrupted => c.interrupted += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::chain;

    fn request(endpoint: Endpoint, outcome: RequestOutcome, ms: u64) -> RequestRecord {
        RequestRecord {
            endpoint,
            outcome,
            status: 200,
            took: Duration::from_millis(ms),
            bytes_in: 100,
            bytes_out: 50,
        }
    }

    fn add(stats: &mut Stats, done: ChainDone) {
        stats.add_chain(&done, Duration::ZERO);
    }

    #[test]
    fn counts_rates_and_failures() {
        let mut stats = Stats::default();
        for ms in 1..=100 {
            add(
                &mut stats,
                chain(
                    ChainOutcome::Ok,
                    ms,
                    vec![request(Endpoint::NewOrder, RequestOutcome::Ok, ms)],
                ),
            );
        }
        let failed = ChainOutcome::Failed {
            reason: "acme:rejectedIdentifier".into(),
            message: "first".into(),
        };
        add(&mut stats, chain(failed.clone(), 5, vec![]));
        add(&mut stats, chain(failed, 6, vec![]));
        add(
            &mut stats,
            chain(
                ChainOutcome::Ok,
                10,
                vec![
                    request(Endpoint::NewOrder, RequestOutcome::BadNonceRetried, 1),
                    request(Endpoint::NewOrder, RequestOutcome::Ok, 1),
                ],
            ),
        );
        add(&mut stats, chain(ChainOutcome::Interrupted, 10, vec![]));

        let s = stats.summary(Duration::from_secs(10));
        let issue = &s.chains["issue"];
        assert_eq!((issue.ok, issue.failed, issue.interrupted), (101, 2, 1));
        assert!((issue.rate_per_s - 10.1).abs() < 1e-9);
        let p = issue.latency_ms.as_ref().unwrap();
        assert!((p.p50 - 50.0).abs() <= 0.05, "{p:?}");
        assert!((p.p99 - 99.0).abs() <= 0.1, "{p:?}");
        assert!((p.max - 100.0).abs() <= 0.1, "{p:?}");

        let new_order = &s.requests["newOrder"];
        assert_eq!(
            (new_order.ok, new_order.failed, new_order.bad_nonce_retried),
            (101, 0, 1)
        );
        assert_eq!(new_order.bytes_in, 102 * 100);
        assert_eq!(s.traffic.bytes_out, 102 * 50);

        assert_eq!(s.failures.len(), 1);
        assert_eq!(s.failures[0].count, 2);
        assert_eq!(s.failures[0].example, "first");
    }

    /// Nearest-rank percentile of sorted samples, the definition HDR histograms approximate.
    fn exact(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    #[test]
    fn percentiles_match_a_sorted_array_within_precision() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut stats = Stats::default();
        // Long-tailed latencies from 50 µs to about 20 s.
        let mut samples: Vec<u64> = (0..50_000)
            .map(|_| (50.0 * (rng.random::<f64>() * 12.9).exp()) as u64)
            .collect();
        let requests = samples
            .iter()
            .map(|&us| RequestRecord {
                took: Duration::from_micros(us),
                ..request(Endpoint::Authz, RequestOutcome::Ok, 0)
            })
            .collect();
        add(&mut stats, chain(ChainOutcome::Ok, 1, requests));
        samples.sort_unstable();
        let p = stats.summary(Duration::from_secs(1)).requests["authz"]
            .latency_ms
            .clone()
            .unwrap();
        for (q, got) in [
            (0.5, p.p50),
            (0.9, p.p90),
            (0.99, p.p99),
            (0.999, p.p999),
            (1.0, p.max),
        ] {
            let want = exact(&samples, q) as f64 / 1000.0;
            // 3 significant digits: the histogram answers within 1/1024 above the exact value.
            assert!(
                got >= want && got <= want * (1.0 + 1.0 / 1024.0) + 0.001,
                "q {q}: histogram {got} ms, exact {want} ms"
            );
        }
        assert!((p.min - samples[0] as f64 / 1000.0).abs() <= 0.001);
    }

    #[test]
    fn expected_refusals_are_neither_ok_nor_failed() {
        let mut stats = Stats::default();
        for _ in 0..3 {
            let mut revoke = chain(
                ChainOutcome::Ok,
                20,
                vec![
                    request(Endpoint::RevokeCert, RequestOutcome::Ok, 4),
                    request(Endpoint::RevokeCert, RequestOutcome::Expected, 2),
                ],
            );
            revoke.chain = "revoke";
            revoke.expected = vec!["acme:alreadyRevoked".into()];
            add(&mut stats, revoke);
        }
        let s = stats.summary(Duration::from_secs(1));
        let endpoint = &s.requests["revokeCert"];
        assert_eq!((endpoint.ok, endpoint.failed, endpoint.expected), (3, 0, 3));
        assert!((endpoint.rate_per_s - 6.0).abs() < 1e-9);
        assert!((endpoint.latency_ms.as_ref().unwrap().max - 4.0).abs() < 0.01);
        let chain = &s.chains["revoke"];
        assert_eq!((chain.ok, chain.failed, chain.expected), (3, 0, 3));
        assert_eq!(s.expected_outcomes.len(), 1);
        let e = &s.expected_outcomes[0];
        assert_eq!(
            (e.chain.as_str(), e.outcome.as_str(), e.count),
            ("revoke", "acme:alreadyRevoked", 3)
        );
        assert!(s.failures.is_empty());
    }

    /// Rate-limit refusals are neither successes nor failures of the CA; convergence times and
    /// profiles are kept per chain and per profile.
    #[test]
    fn rate_limits_convergence_and_profiles_have_their_own_counts() {
        use crate::acme::Convergence;
        let mut stats = Stats::default();
        let shortlived: std::sync::Arc<str> = "shortlived".into();
        let mut limited = chain(
            ChainOutcome::RateLimited {
                message: "too many".into(),
            },
            30,
            vec![request(Endpoint::NewOrder, RequestOutcome::RateLimited, 3)],
        );
        limited.profile = Some(shortlived.clone());
        add(&mut stats, limited);
        let mut ok = chain(ChainOutcome::Ok, 40, vec![]);
        ok.profile = Some(shortlived);
        add(&mut stats, ok);
        for (ms, agreed) in [(4_000, true), (5_000, true), (10_000, false)] {
            let mut rollover = chain(ChainOutcome::Ok, ms, vec![]);
            rollover.chain = "key-rollover";
            rollover.converged = vec![Convergence {
                what: "new-key",
                took: Duration::from_millis(ms),
                agreed,
            }];
            add(&mut stats, rollover);
        }
        let s = stats.summary(Duration::from_secs(1));
        let issue = &s.chains["issue"];
        assert_eq!((issue.ok, issue.failed, issue.rate_limited), (1, 0, 1));
        assert_eq!((s.chains_failed(), s.chains_rate_limited()), (0, 1));
        assert!(s.failures.is_empty(), "a rate limit is no failure");
        let new_order = &s.requests["newOrder"];
        assert_eq!((new_order.failed, new_order.rate_limited), (0, 1));
        let p = &s.profiles["shortlived"];
        assert_eq!((p.ok, p.failed, p.rate_limited), (1, 0, 1));
        assert_eq!(s.convergence.len(), 1);
        let c = &s.convergence[0];
        assert_eq!(
            (c.chain.as_str(), c.what.as_str(), c.agreed, c.timed_out),
            ("key-rollover", "new-key", 2, 1)
        );
        let latency = c.latency_ms.as_ref().unwrap();
        assert!((latency.max - 5_000.0).abs() < 5.0, "{latency:?}");
        let text = s.to_text();
        assert!(text.contains("rate-limited 1"), "{text}");
        assert!(text.contains("shortlived"), "{text}");
        assert!(text.contains("ms until the CA agreed"), "{text}");
    }

    /// However many distinct reasons and however long the messages a CA causes, the failure
    /// table stays bounded and printable.
    #[test]
    fn failure_reasons_and_examples_are_bounded() {
        let mut stats = Stats::default();
        for i in 0..1_000 {
            let failed = ChainOutcome::Failed {
                reason: format!("http-{i}:order\u{1b}[31m"),
                message: format!("line one\nline two {}", "x".repeat(10_000)),
            };
            add(&mut stats, chain(failed, 1, vec![]));
        }
        let s = stats.summary(Duration::from_secs(1));
        assert_eq!(s.chains_failed(), 1_000);
        assert_eq!(s.failures.len(), MAX_FAILURE_REASONS + 1);
        let overflow = s.failures.iter().find(|f| f.reason == OVERFLOW).unwrap();
        assert_eq!(overflow.count, 1_000 - MAX_FAILURE_REASONS as u64);
        for f in &s.failures {
            assert!(f.example.len() < 2 * MAX_MESSAGE, "{}", f.example.len());
            assert!(!f.example.contains('\n') && !f.reason.contains('\u{1b}'));
        }
    }

    #[test]
    fn peak_attackers_is_kept() {
        let mut stats = Stats::default();
        for n in [2, 8, 3] {
            stats.set_attackers(n);
        }
        assert_eq!(stats.summary(Duration::from_secs(1)).peak_attackers, 8);
    }
}
