//! Settings of the metrics side (`[statsd]`, `[report]`), read by `config` with the rest and
//! validated here, where their meaning lives. `[thresholds]` is in [`crate::report::thresholds`].

use std::time::Duration;

use serde::Deserialize;

use crate::setting::Invalid;
use crate::units::deserialize_duration;

/// Where metrics go (the StatsD daemon) and how they are batched.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsdSettings {
    /// `host:port` of a StatsD daemon; metrics are not sent when absent.
    pub address: Option<String>,
    /// Prefix of the load metrics (`Wile-E-Coyote.TrafficIn`…), as the original named them.
    pub prefix: String,
    /// Prefix of the tool's own process metrics.
    pub procstats_prefix: String,
    /// Counters, gauges and partly filled datagrams go out this often.
    #[serde(deserialize_with = "deserialize_duration")]
    pub flush_interval: Duration,
    /// Upper bound on one datagram (1432 fits a 1500-byte MTU with IPv6 and UDP headers).
    pub max_datagram_bytes: usize,
    /// Unit of timing values: nanoseconds as the original sent them, or milliseconds.
    pub timing_unit: TimingUnit,
    /// Fraction of timing samples sent (`|@rate`), for very high request rates.
    pub timing_sample_rate: f64,
}

impl Default for StatsdSettings {
    fn default() -> Self {
        StatsdSettings {
            address: None,
            prefix: "Wile-E-Coyote".into(),
            procstats_prefix: "Procstats.Wile-E-Coyote".into(),
            flush_interval: Duration::from_secs(1),
            max_datagram_bytes: 1432,
            timing_unit: TimingUnit::Ns,
            timing_sample_rate: 1.0,
        }
    }
}

impl StatsdSettings {
    /// Refusals the types cannot express: (key, reason).
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if let Some(addr) = &self.address {
            let port = addr
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(_))) if !host.is_empty()) {
                return Err(Invalid::new(
                    "statsd.address",
                    format!("{addr:?} is not host:port"),
                ));
            }
        }
        for (key, prefix) in [
            ("statsd.prefix", &self.prefix),
            ("statsd.procstats_prefix", &self.procstats_prefix),
        ] {
            let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
            if !prefix.bytes().all(ok) || prefix.starts_with('.') || prefix.contains("..") {
                return Err(Invalid::new(
                    key,
                    format!("{prefix:?}: use letters, digits, `-`, `_` and single dots"),
                ));
            }
        }
        if self.flush_interval.is_zero() {
            return Err(Invalid::new(
                "statsd.flush_interval",
                "must be longer than zero",
            ));
        }
        if !(256..=65507).contains(&self.max_datagram_bytes) {
            return Err(Invalid::new(
                "statsd.max_datagram_bytes",
                format!("{} is not within 256..=65507", self.max_datagram_bytes),
            ));
        }
        if !(self.timing_sample_rate > 0.0 && self.timing_sample_rate <= 1.0) {
            return Err(Invalid::new(
                "statsd.timing_sample_rate",
                format!("{} is not within (0, 1]", self.timing_sample_rate),
            ));
        }
        Ok(())
    }
}

/// Unit of StatsD timing values (the `|ms` type carries whichever is chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimingUnit {
    Ns,
    Ms,
}

/// What the operator sees while the run goes on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reporting {
    /// The live progress line on stderr.
    pub progress: ProgressMode,
    /// When the live line is not shown, a progress line is logged (info) this often; 0 never.
    #[serde(deserialize_with = "deserialize_duration")]
    pub log_interval: Duration,
}

impl Default for Reporting {
    fn default() -> Self {
        Reporting {
            progress: ProgressMode::Auto,
            log_interval: Duration::from_secs(30),
        }
    }
}

/// When the live progress line is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressMode {
    /// Only when stderr is a terminal.
    Auto,
    Always,
    Never,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::{ConfigError, Settings};

    fn load(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with_env(None, Some(env))
    }

    #[test]
    fn defaults_are_the_original_names() {
        let s = load(&[]).unwrap();
        assert_eq!(s.statsd.prefix, "Wile-E-Coyote");
        assert_eq!(s.statsd.procstats_prefix, "Procstats.Wile-E-Coyote");
        assert_eq!(s.statsd.max_datagram_bytes, 1432);
        assert_eq!(s.statsd.timing_unit, super::TimingUnit::Ns);
        let s = load(&[
            ("WEC_STATSD__TIMING_UNIT", "ms"),
            ("WEC_STATSD__ADDRESS", "[::1]:8125"),
            ("WEC_REPORT__PROGRESS", "never"),
        ])
        .unwrap();
        assert_eq!(s.statsd.timing_unit, super::TimingUnit::Ms);
        assert_eq!(s.report.progress, super::ProgressMode::Never);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (key, value, expect) in [
            ("WEC_STATSD__ADDRESS", "localhost", "`statsd.address`"),
            ("WEC_STATSD__ADDRESS", ":8125", "`statsd.address`"),
            ("WEC_STATSD__PREFIX", "a b", "`statsd.prefix`"),
            (
                "WEC_STATSD__PROCSTATS_PREFIX",
                "x..y",
                "`statsd.procstats_prefix`",
            ),
            (
                "WEC_STATSD__MAX_DATAGRAM_BYTES",
                "70000",
                "`statsd.max_datagram_bytes`",
            ),
            (
                "WEC_STATSD__TIMING_SAMPLE_RATE",
                "0",
                "`statsd.timing_sample_rate`",
            ),
            (
                "WEC_STATSD__FLUSH_INTERVAL",
                "0s",
                "`statsd.flush_interval`",
            ),
            ("WEC_STATSD__TIMING_UNIT", "us", "timing_unit"),
            ("WEC_REPORT__PROGRESS", "sometimes", "progress"),
        ] {
            let msg = load(&[(key, value)]).unwrap_err().to_string();
            assert!(msg.contains(expect), "{key}={value}: {msg}");
        }
    }
}
