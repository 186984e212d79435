//! Human-friendly durations for the CLI and the config: `30` (seconds, as the original
//! interface takes them), `500ms`, `2m`, `1h30m`. Every duration is at most [`MAX_DURATION`], so
//! any deadline the tool computes from one (an `Instant`, a timer, a schedule's steps) fits.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Why a duration string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {input:?}: {reason} (examples: 30, 500ms, 2m, 1h30m)")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

/// The longest duration accepted anywhere: a year. Longer values are typing mistakes, and
/// values near `Duration::MAX` would overflow the `Instant`s computed from them.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// Parses a duration; a bare number means seconds.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if let Ok(secs) = s.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(err("must be a finite, non-negative number"));
        }
        return seconds(secs).ok_or_else(|| err("longer than the maximum of 365d"));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("a number needs a unit (ms, s, m, h)"))?;
        if digits == 0 {
            return Err(err("expected a number"));
        }
        let value: f64 = rest[..digits].parse().map_err(|_| err("bad number"))?;
        let after = &rest[digits..];
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let scale = match &after[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(err("unknown unit (use ms, s, m, h or d)")),
        };
        total = seconds(value * scale)
            .and_then(|d| total.checked_add(d))
            .filter(|d| *d <= MAX_DURATION)
            .ok_or_else(|| err("longer than the maximum of 365d"))?;
        rest = &after[unit_len..];
    }
    Ok(total)
}

/// As [`parse_duration`], refusing zero: for bounds such as `--duration`, where zero would end
/// the run before it starts.
pub fn parse_positive_duration(input: &str) -> Result<Duration, DurationError> {
    let d = parse_duration(input)?;
    if d.is_zero() {
        return Err(DurationError {
            input: input.to_owned(),
            reason: "must be longer than zero",
        });
    }
    Ok(d)
}

/// `value` seconds, if that is a duration of at most [`MAX_DURATION`].
fn seconds(value: f64) -> Option<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| *d <= MAX_DURATION)
}

/// Formats a duration the way `parse_duration` reads it back (used in logs and reports).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 || ms == 0 {
        format!("{ms}ms")
    } else {
        format!("{}s", ms / 1000)
    }
}

/// serde adapter so config files can say `timeout = "10s"` (or a bare number of seconds).
pub fn deserialize_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(f64),
    }
    match Raw::deserialize(d)? {
        Raw::Text(s) => parse_duration(&s).map_err(serde::de::Error::custom),
        Raw::Number(n) => parse_duration(&n.to_string()).map_err(serde::de::Error::custom),
    }
}

/// serde adapter for an optional duration.
pub fn deserialize_option_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    deserialize_duration(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_numbers_are_seconds() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
    }

    #[test]
    fn units_and_compounds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration("1m30s250ms"),
            Ok(Duration::from_millis(90_250))
        );
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["", "abc", "10x", "-5", "m", "5 m", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
        let msg = parse_duration("10x").unwrap_err().to_string();
        assert!(
            msg.contains("\"10x\"") && msg.contains("unknown unit"),
            "{msg}"
        );
    }

    /// Durations that would overflow the `Instant` of a deadline are refused, whatever their
    /// spelling.
    #[test]
    fn durations_are_bounded() {
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION));
        for long in [
            "1000000000h",
            "366d",
            "364d2d",
            "31536001",
            "1e30",
            "18446744073709551616s",
        ] {
            let msg = parse_duration(long).unwrap_err().to_string();
            assert_eq!(
                msg,
                format!(
                    "invalid duration {long:?}: longer than the maximum of 365d \
                     (examples: 30, 500ms, 2m, 1h30m)"
                )
            );
        }
        assert_eq!(
            parse_positive_duration("0").unwrap_err().to_string(),
            "invalid duration \"0\": must be longer than zero (examples: 30, 500ms, 2m, 1h30m)"
        );
        assert_eq!(
            parse_positive_duration("0.5s"),
            Ok(Duration::from_millis(500))
        );
    }

    #[test]
    fn format_round_trips() {
        for s in ["500ms", "30s", "0ms", "1500ms"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
