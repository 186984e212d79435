//! The open model: chains start at scheduled instants whatever the server's speed, at a rate
//! that may grow linearly. Start `k` (k = 0, 1, 2…) is due when the expected number of starts
//! `N(t) = r·t + a·t²/2` reaches `k`, so the first chain starts at t = 0.

use std::time::Duration;

use super::ScheduleError;
use crate::units::DurationError;

/// Linear growth of the rate: `chains` more per second every `period`, applied continuously
/// (Boulder's load-generator adds the same amount in one step at the end of each period).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delta {
    pub chains: f64,
    pub period: Duration,
}

/// Why a string is not a [`Delta`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("delta {input:?}: {reason}")]
pub struct DeltaError {
    input: String,
    reason: DeltaReason,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
enum DeltaReason {
    #[error("expected N/PERIOD, e.g. 5/1m")]
    NoSlash,
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error(transparent)]
    Period(DurationError),
    #[error("needs a non-negative N and a period longer than zero")]
    OutOfRange,
}

impl Delta {
    /// Parses `N/PERIOD` as the original load generator writes it: `5/1m`, `0.5/10s`, `2/30`.
    pub fn parse(s: &str) -> Result<Delta, DeltaError> {
        let err = |reason| DeltaError {
            input: s.to_owned(),
            reason,
        };
        let (n, period) = s.split_once('/').ok_or_else(|| err(DeltaReason::NoSlash))?;
        let chains: f64 = n
            .trim()
            .parse()
            .map_err(|_| err(DeltaReason::NotANumber(n.to_owned())))?;
        let period =
            crate::units::parse_duration(period).map_err(|e| err(DeltaReason::Period(e)))?;
        if !chains.is_finite() || chains < 0.0 || period.is_zero() {
            return Err(err(DeltaReason::OutOfRange));
        }
        Ok(Delta { chains, period })
    }

    /// Growth in chains per second, per second.
    fn per_sec2(&self) -> f64 {
        self.chains / self.period.as_secs_f64()
    }
}

/// The open-model schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// Chains started per second at t = 0.
    pub per_sec: f64,
    pub delta: Option<Delta>,
    /// Chains allowed in flight at once; a start beyond it is dropped (and counted).
    pub max_in_flight: usize,
}

/// Upper bound on a rate: beyond it the scheduler's granularity is meaningless.
const MAX_RATE: f64 = 1_000_000.0;

impl Rate {
    pub fn validate(&self) -> Result<(), ScheduleError> {
        let growing = self.delta.is_some_and(|d| d.chains > 0.0);
        if !self.per_sec.is_finite() || self.per_sec < 0.0 || self.per_sec > MAX_RATE {
            return Err(ScheduleError::BadRate(self.per_sec));
        }
        if self.per_sec == 0.0 && !growing {
            return Err(ScheduleError::BadRate(self.per_sec));
        }
        if self.max_in_flight == 0 {
            return Err(ScheduleError::ZeroInFlight);
        }
        Ok(())
    }

    fn accel(&self) -> f64 {
        self.delta.map_or(0.0, |d| d.per_sec2())
    }

    /// The rate in chains per second at `elapsed`.
    pub fn rate_at(&self, elapsed: Duration) -> f64 {
        (self.per_sec + self.accel() * elapsed.as_secs_f64()).min(MAX_RATE)
    }

    /// When start `k` is due. Written as `2k / (r + sqrt(r² + 2ak))`, the root of
    /// `a·t²/2 + r·t = k` that stays exact as `a` goes to zero.
    pub fn start_time(&self, k: u64) -> Duration {
        let (r, a, k) = (self.per_sec, self.accel(), k as f64);
        if k == 0.0 {
            return Duration::ZERO;
        }
        let t = 2.0 * k / (r + (r * r + 2.0 * a * k).sqrt());
        Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX)
    }

    /// How many starts are due at or before `elapsed`.
    pub fn starts_by(&self, elapsed: Duration) -> u64 {
        let t = elapsed.as_secs_f64();
        let expected = self.per_sec * t + self.accel() * t * t / 2.0;
        // Start k is due when N(t) reaches k; the epsilon absorbs rounding at exact instants.
        let mut count = (expected + 1e-9).floor() as u64 + 1;
        // Rounding can still disagree with start_time at a boundary: start_time is the truth.
        while count > 0 && self.start_time(count - 1) > elapsed {
            count -= 1;
        }
        while self.start_time(count) <= elapsed {
            count += 1;
        }
        count
    }

    pub fn describe(&self) -> String {
        let mut s = format!("rate {}", self.per_sec);
        if let Some(d) = self.delta {
            s += &format!(
                " --delta {}/{}",
                d.chains,
                crate::units::format_duration(d.period)
            );
        }
        s + &format!(" --max-in-flight {}", self.max_in_flight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn constant(per_sec: f64) -> Rate {
        Rate {
            per_sec,
            delta: None,
            max_in_flight: 100,
        }
    }

    #[test]
    fn constant_rate_starts_at_exact_instants() {
        let r = constant(10.0);
        assert_eq!(r.start_time(0), Duration::ZERO);
        assert_eq!(r.start_time(1), ms(100));
        assert_eq!(r.start_time(25), ms(2500));
        assert_eq!(
            r.starts_by(Duration::ZERO),
            1,
            "the first chain starts at once"
        );
        assert_eq!(r.starts_by(ms(100) - Duration::from_nanos(1)), 1);
        assert_eq!(r.starts_by(ms(100)), 2);
        assert_eq!(r.starts_by(ms(100) + Duration::from_nanos(1)), 2);
        assert_eq!(r.starts_by(ms(999)), 10);
        assert_eq!(r.starts_by(ms(1000)), 11);
        assert_eq!(r.rate_at(Duration::from_secs(3600)), 10.0);
    }

    #[test]
    fn starts_between_two_instants() {
        let r = constant(250.0);
        let between = |a: u64, b: u64| r.starts_by(ms(b)) - r.starts_by(ms(a));
        assert_eq!(between(0, 1000), 250);
        assert_eq!(between(1000, 1004), 1);
        assert_eq!(between(1000, 1003), 0);
        // Over a long run the count is exact, not drifting.
        assert_eq!(r.starts_by(Duration::from_secs(3600)), 900_001);
    }

    #[test]
    fn delta_grows_the_rate_linearly() {
        // 10/s growing by 60/s every minute: 1/s².
        let r = Rate {
            per_sec: 10.0,
            delta: Some(Delta::parse("60/1m").unwrap()),
            max_in_flight: 100,
        };
        assert_eq!(r.rate_at(Duration::ZERO), 10.0);
        assert!((r.rate_at(Duration::from_secs(30)) - 40.0).abs() < 1e-9);
        // N(10 s) = 10·10 + 1·100/2 = 150 starts in [0, 10 s), so start 150 is due at 10 s.
        let t150 = r.start_time(150);
        assert!((t150.as_secs_f64() - 10.0).abs() < 1e-9, "{t150:?}");
        assert_eq!(r.starts_by(Duration::from_secs(10)), 151);
        assert_eq!(r.starts_by(Duration::from_secs(10) - ms(1)), 150);
        // Starts are strictly increasing in time and gaps shrink as the rate grows.
        let gaps: Vec<f64> = (1..200)
            .map(|k| (r.start_time(k) - r.start_time(k - 1)).as_secs_f64())
            .collect();
        assert!(gaps.windows(2).all(|w| w[1] <= w[0] + 1e-12));
    }

    #[test]
    fn rate_may_start_at_zero_when_it_grows() {
        let r = Rate {
            per_sec: 0.0,
            delta: Some(Delta::parse("2/1s").unwrap()),
            max_in_flight: 1,
        };
        assert!(r.validate().is_ok());
        // N(t) = t², so start k is due at sqrt(k) seconds.
        assert!((r.start_time(4).as_secs_f64() - 2.0).abs() < 1e-9);
        assert_eq!(r.starts_by(Duration::from_secs(3)), 10);
    }

    #[test]
    fn delta_parsing() {
        assert_eq!(
            Delta::parse("5/1m").unwrap(),
            Delta {
                chains: 5.0,
                period: Duration::from_secs(60)
            }
        );
        assert_eq!(
            Delta::parse("0.5/30").unwrap().period,
            Duration::from_secs(30)
        );
        for (bad, why) in [
            ("5", "delta \"5\": expected N/PERIOD, e.g. 5/1m"),
            ("x/1m", "delta \"x/1m\": \"x\" is not a number"),
            ("5/soon", "delta \"5/soon\": invalid duration \"soon\""),
            (
                "-1/1m",
                "delta \"-1/1m\": needs a non-negative N and a period longer",
            ),
            (
                "5/0s",
                "delta \"5/0s\": needs a non-negative N and a period longer",
            ),
        ] {
            let err = Delta::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with(why), "{bad}: {err}");
        }
    }

    #[test]
    fn validation() {
        assert!(constant(0.0).validate().is_err());
        assert!(constant(f64::NAN).validate().is_err());
        assert!(constant(-1.0).validate().is_err());
        let mut r = constant(1.0);
        r.max_in_flight = 0;
        assert_eq!(r.validate(), Err(ScheduleError::ZeroInFlight));
    }
}
