//! Pass/fail limits on a run (`[thresholds]` in the config). The summary marks each one and the
//! process exits with [`crate::exit::THRESHOLDS`] when any fails, so a CI job can gate on a load
//! test. A limit whose subject was never measured (no such chain or endpoint ran) fails: a typo
//! in a name must not pass silently.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::summary::{Percentiles, Summary};
use crate::setting::Invalid;

/// `[thresholds]`: limits on the whole run, per chain and per endpoint.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Failed chains over finished ones (`ok + failed`), all chains together: at most this.
    pub failure_rate: Option<Fraction>,
    /// Successful chains per second over the run: at least this.
    pub min_chains_per_s: Option<f64>,
    /// Per chain name (`issue`…).
    pub chains: BTreeMap<String, Limits>,
    /// Per endpoint name (`newOrder`…), matched without regard to case (environment variables
    /// arrive lower-cased).
    pub requests: BTreeMap<String, Limits>,
}

/// Limits on one chain or endpoint. Latencies are those of successful exchanges.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Failed over `ok + failed`: at most this.
    pub failure_rate: Option<Fraction>,
    #[serde(deserialize_with = "crate::units::deserialize_option_duration")]
    pub p50: Option<Duration>,
    #[serde(deserialize_with = "crate::units::deserialize_option_duration")]
    pub p90: Option<Duration>,
    #[serde(deserialize_with = "crate::units::deserialize_option_duration")]
    pub p99: Option<Duration>,
    #[serde(deserialize_with = "crate::units::deserialize_option_duration")]
    pub p999: Option<Duration>,
    #[serde(deserialize_with = "crate::units::deserialize_option_duration")]
    pub max: Option<Duration>,
}

/// A ratio in [0, 1], written as a number (`0.01`) or a percentage (`"1%"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fraction(pub f64);

impl<'de> Deserialize<'de> for Fraction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        let bad = |what: &str| {
            serde::de::Error::custom(format!("invalid ratio {what}: use 0.01 or \"1%\""))
        };
        let value = match Raw::deserialize(d)? {
            Raw::Number(n) => n,
            Raw::Text(s) => match s.trim().strip_suffix('%') {
                Some(pct) => pct.trim().parse::<f64>().map_err(|_| bad(&s))? / 100.0,
                None => s.trim().parse::<f64>().map_err(|_| bad(&s))?,
            },
        };
        if !(0.0..=1.0).contains(&value) {
            return Err(serde::de::Error::custom(format!(
                "ratio {value} is not within 0 and 1 (0%..100%)"
            )));
        }
        Ok(Fraction(value))
    }
}

impl Thresholds {
    /// Refusals the types cannot express; the key names the table, the reason the entry.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if let Some(rate) = self.min_chains_per_s {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(Invalid::new(
                    "thresholds.min_chains_per_s",
                    format!("{rate} must be a positive number"),
                ));
            }
        }
        for (table, entries) in [
            ("thresholds.chains", &self.chains),
            ("thresholds.requests", &self.requests),
        ] {
            for (name, limits) in entries {
                for (limit, value) in limits.latencies() {
                    if value.is_some_and(|d| d.is_zero()) {
                        return Err(Invalid::new(
                            table,
                            format!("{name}.{limit}: must be longer than zero"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.failure_rate.is_none()
            && self.min_chains_per_s.is_none()
            && self.chains.is_empty()
            && self.requests.is_empty()
    }

    /// Every configured limit against the run, in a stable order.
    pub fn evaluate(&self, summary: &Summary) -> Vec<Verdict> {
        let mut verdicts = Vec::new();
        if let Some(limit) = self.failure_rate {
            let (ok, failed) = (summary.chains_ok(), summary.chains_failed());
            verdicts.push(Verdict::at_most(
                "thresholds.failure_rate".into(),
                Unit::Ratio,
                limit.0,
                ratio(failed, ok + failed),
            ));
        }
        if let Some(limit) = self.min_chains_per_s {
            let measured =
                (summary.duration_s > 0.0).then(|| summary.chains_ok() as f64 / summary.duration_s);
            verdicts.push(Verdict {
                key: "thresholds.min_chains_per_s".into(),
                unit: Unit::PerSecond,
                limit,
                measured,
                pass: measured.is_some_and(|m| m >= limit),
            });
        }
        for (name, limits) in &self.chains {
            let chain = summary.chains.get(name);
            let counts = chain.map(|c| (c.ok, c.failed));
            let latency = chain.and_then(|c| c.latency_ms.as_ref());
            limits.evaluate(
                &format!("thresholds.chains.{name}"),
                counts,
                latency,
                &mut verdicts,
            );
        }
        for (name, limits) in &self.requests {
            let request = summary
                .requests
                .iter()
                .find(|(endpoint, _)| endpoint.eq_ignore_ascii_case(name))
                .map(|(_, r)| r);
            let counts = request.map(|r| (r.ok, r.failed));
            let latency = request.and_then(|r| r.latency_ms.as_ref());
            limits.evaluate(
                &format!("thresholds.requests.{name}"),
                counts,
                latency,
                &mut verdicts,
            );
        }
        verdicts
    }
}

/// A verdict whose key is not a limit this version knows.
#[derive(Debug, thiserror::Error)]
#[error("threshold `{key}` with limit {limit} is not a limit this version knows")]
pub struct UnknownLimit {
    key: String,
    limit: f64,
}

impl Thresholds {
    /// The limits a run was checked against, read back from its verdicts (what a report
    /// carries), so that merged reports are checked against the same limits.
    pub fn from_verdicts(verdicts: &[Verdict]) -> Result<Thresholds, UnknownLimit> {
        let mut t = Thresholds::default();
        for v in verdicts {
            let unknown = || UnknownLimit {
                key: v.key.clone(),
                limit: v.limit,
            };
            let fraction = || {
                (0.0..=1.0)
                    .contains(&v.limit)
                    .then_some(Fraction(v.limit))
                    .ok_or_else(unknown)
            };
            let key = v.key.strip_prefix("thresholds.").ok_or_else(unknown)?;
            if key == "failure_rate" {
                t.failure_rate = Some(fraction()?);
                continue;
            }
            if key == "min_chains_per_s" {
                t.min_chains_per_s = Some(v.limit);
                continue;
            }
            let (table, rest) = key.split_once('.').ok_or_else(unknown)?;
            let (name, limit) = rest.rsplit_once('.').ok_or_else(unknown)?;
            let entries = match table {
                "chains" => &mut t.chains,
                "requests" => &mut t.requests,
                _ => return Err(unknown()),
            };
            let limits = entries.entry(name.to_owned()).or_default();
            let ms = || {
                (v.limit.is_finite() && v.limit > 0.0)
                    .then(|| Duration::from_secs_f64(v.limit / 1000.0))
                    .ok_or_else(unknown)
            };
            match limit {
                "failure_rate" => limits.failure_rate = Some(fraction()?),
                "p50" => limits.p50 = Some(ms()?),
                "p90" => limits.p90 = Some(ms()?),
                "p99" => limits.p99 = Some(ms()?),
                "p999" => limits.p999 = Some(ms()?),
                "max" => limits.max = Some(ms()?),
                _ => return Err(unknown()),
            }
        }
        Ok(t)
    }
}

impl Limits {
    fn latencies(&self) -> [(&'static str, Option<Duration>); 5] {
        [
            ("p50", self.p50),
            ("p90", self.p90),
            ("p99", self.p99),
            ("p999", self.p999),
            ("max", self.max),
        ]
    }

    fn evaluate(
        &self,
        key: &str,
        counts: Option<(u64, u64)>,
        latency: Option<&Percentiles>,
        out: &mut Vec<Verdict>,
    ) {
        if let Some(limit) = self.failure_rate {
            let measured = counts.and_then(|(ok, failed)| ratio(failed, ok + failed));
            out.push(Verdict::at_most(
                format!("{key}.failure_rate"),
                Unit::Ratio,
                limit.0,
                measured,
            ));
        }
        for (name, limit) in self.latencies() {
            let Some(limit) = limit else { continue };
            let measured = latency.map(|p| match name {
                "p50" => p.p50,
                "p90" => p.p90,
                "p99" => p.p99,
                "p999" => p.p999,
                _ => p.max,
            });
            let limit_ms = limit.as_secs_f64() * 1000.0;
            out.push(Verdict::at_most(
                format!("{key}.{name}"),
                Unit::Ms,
                limit_ms,
                measured,
            ));
        }
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Unit of a threshold's limit and measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A fraction in [0, 1].
    Ratio,
    Ms,
    PerSecond,
}

/// One limit checked against the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    /// The config key of the limit, e.g. `thresholds.chains.issue.p99`.
    pub key: String,
    pub unit: Unit,
    pub limit: f64,
    /// `None` when nothing was measured (which fails the limit).
    pub measured: Option<f64>,
    pub pass: bool,
}

impl Verdict {
    fn at_most(key: String, unit: Unit, limit: f64, measured: Option<f64>) -> Verdict {
        Verdict {
            key,
            unit,
            limit,
            measured,
            pass: measured.is_some_and(|m| m <= limit),
        }
    }
}

/// A limit or measurement in its unit, for people.
pub fn show(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Ratio => format!("{:.2}%", value * 100.0),
        Unit::Ms => format!("{value:.1} ms"),
        Unit::PerSecond => format!("{value:.2}/s"),
    }
}

/// The verdicts as a text block for the end-of-run summary; empty without thresholds.
pub fn to_text(verdicts: &[Verdict]) -> String {
    if verdicts.is_empty() {
        return String::new();
    }
    let failed = verdicts.iter().filter(|v| !v.pass).count();
    let mut out = format!(
        "\nthresholds: {} passed, {failed} failed\n",
        verdicts.len() - failed
    );
    for v in verdicts {
        let (mark, relation) = match (v.pass, v.unit) {
            (true, Unit::PerSecond) => ("PASS", ">="),
            (true, _) => ("PASS", "<="),
            (false, Unit::PerSecond) => ("FAIL", "<"),
            (false, _) => ("FAIL", ">"),
        };
        let measured = match v.measured {
            Some(m) => format!("{} {relation} {}", show(v.unit, m), show(v.unit, v.limit)),
            None => format!("not measured (limit {})", show(v.unit, v.limit)),
        };
        let _ = writeln!(out, "  {mark}  {:<40} {measured}", v.key);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::histogram::Hdr;
    use crate::report::summary::{ChainSummary, RequestSummary, Traffic};

    fn percentiles(p99: f64) -> Percentiles {
        Percentiles {
            min: 1.0,
            mean: 10.0,
            p50: 10.0,
            p90: 20.0,
            p99,
            p999: p99,
            max: p99,
        }
    }

    fn summary() -> Summary {
        let chain = ChainSummary {
            ok: 99,
            failed: 1,
            interrupted: 0,
            rate_limited: 0,
            expected: 0,
            rate_per_s: 9.9,
            latency_ms: Some(percentiles(150.0)),
            failed_latency_ms: None,
            latency_hdr: Hdr::empty(),
            failed_latency_hdr: Hdr::empty(),
        };
        let request = RequestSummary {
            ok: 1000,
            failed: 0,
            bad_nonce_retried: 0,
            expected: 0,
            rate_limited: 0,
            rate_per_s: 100.0,
            latency_ms: Some(percentiles(40.0)),
            failed_latency_ms: None,
            latency_hdr: Hdr::empty(),
            failed_latency_hdr: Hdr::empty(),
            bytes_in: 0,
            bytes_out: 0,
        };
        Summary {
            duration_s: 10.0,
            peak_attackers: 1,
            chains: [("issue".to_string(), chain)].into(),
            requests: [("newOrder".to_string(), request)].into(),
            failures: vec![],
            expected_outcomes: vec![],
            convergence: vec![],
            profiles: Default::default(),
            bad_nonce_retries: 0,
            dropped_starts: 0,
            consistency: Default::default(),
            attacker_restarts: 0,
            waits: Default::default(),
            traffic: Traffic {
                bytes_in: 0,
                bytes_out: 0,
            },
            timeseries: Default::default(),
            storage: None,
            challenge_registry: None,
        }
    }

    fn thresholds(toml: &str) -> Thresholds {
        let parsed: Thresholds = config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        parsed.validate().unwrap();
        parsed
    }

    fn outcome(verdicts: &[Verdict]) -> Vec<(&str, bool)> {
        verdicts.iter().map(|v| (v.key.as_str(), v.pass)).collect()
    }

    #[test]
    fn limits_pass_and_fail_as_configured() {
        let t = thresholds(
            "failure_rate = \"1%\"\nmin_chains_per_s = 10\n\
             [chains.issue]\nfailure_rate = 0.005\np99 = \"200ms\"\np50 = \"5ms\"\n\
             [requests.neworder]\np99 = \"40ms\"\nfailure_rate = 0\n",
        );
        let verdicts = t.evaluate(&summary());
        assert_eq!(
            outcome(&verdicts),
            vec![
                ("thresholds.failure_rate", true),
                ("thresholds.min_chains_per_s", false),
                ("thresholds.chains.issue.failure_rate", false),
                ("thresholds.chains.issue.p50", false),
                ("thresholds.chains.issue.p99", true),
                ("thresholds.requests.neworder.failure_rate", true),
                ("thresholds.requests.neworder.p99", true),
            ]
        );
        assert_eq!(verdicts[0].measured, Some(0.01));
        assert_eq!(verdicts[4].limit, 200.0);
        let text = to_text(&verdicts);
        assert!(text.contains("thresholds: 4 passed, 3 failed"), "{text}");
        assert!(text.contains("FAIL  thresholds.chains.issue.p50"), "{text}");
        assert!(text.contains("10.0 ms > 5.0 ms"), "{text}");
        assert!(text.contains("9.90/s < 10.00/s"), "{text}");
    }

    /// The limits read back from a run's verdicts give the same verdicts.
    #[test]
    fn limits_come_back_from_their_verdicts() {
        let t = thresholds(
            "failure_rate = \"1%\"\nmin_chains_per_s = 10\n\
             [chains.issue]\np99 = \"200ms\"\n[requests.\"challenge.http-01\"]\nmax = \"1.5s\"\n",
        );
        let verdicts = t.evaluate(&summary());
        let back = Thresholds::from_verdicts(&verdicts).unwrap();
        assert_eq!(back, t);
        let mut foreign = verdicts[0].clone();
        foreign.key = "thresholds.chains.issue.p98".into();
        let err = Thresholds::from_verdicts(&[foreign])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`thresholds.chains.issue.p98`"), "{err}");
    }

    #[test]
    fn unmeasured_subjects_fail() {
        let t =
            thresholds("[chains.isue]\np99 = \"1s\"\n[requests.newOrdr]\nfailure_rate = \"5%\"\n");
        let verdicts = t.evaluate(&summary());
        assert!(verdicts.iter().all(|v| !v.pass && v.measured.is_none()));
        assert!(to_text(&verdicts).contains("not measured"));
    }

    #[test]
    fn bad_limits_are_refused() {
        let parse = |toml: &str| {
            config::Config::builder()
                .add_source(config::File::from_str(toml, config::FileFormat::Toml))
                .build()
                .unwrap()
                .try_deserialize::<Thresholds>()
        };
        let err = parse("failure_rate = \"150%\"").unwrap_err().to_string();
        assert!(err.contains("not within 0 and 1"), "{err}");
        let err = parse("failure_rate = \"lots\"").unwrap_err().to_string();
        assert!(err.contains("invalid ratio"), "{err}");
        let err = parse("[chains.issue]\np98 = \"1s\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("p98"), "{err}");
        let zero = parse("[chains.issue]\np99 = \"0s\"").unwrap();
        let err = zero.validate().unwrap_err().to_string();
        assert_eq!(
            err,
            "key `thresholds.chains`: issue.p99: must be longer than zero"
        );
    }

    #[test]
    fn no_thresholds_no_text() {
        assert!(Thresholds::default().is_empty());
        assert!(Thresholds::default().evaluate(&summary()).is_empty());
        assert_eq!(to_text(&[]), "");
    }
}
