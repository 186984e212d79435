//! Durations in the configuration ("5s", "168h", "90d", "1h30m", "500ms", or a bare number of
//! seconds) and Go-style printing of them, because Boulder's rate-limit messages print periods
//! with Go's `time.Duration.String` ("too many new orders (1500) from this account in the last
//! 3h0m0s").

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Why a duration string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid duration {0:?}: use a number with a unit (ms, s, m, h, d), e.g. \"5s\" or \"168h\""
)]
pub struct DurationError(pub String);

/// Parses "1h30m", "90d", "500ms", "2.5s" or "0".
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_string());
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (number, tail) = rest.split_at(split);
        let value: f64 = number.parse().map_err(|_| err())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let seconds = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(err()),
        };
        total += value * seconds;
        rest = next;
    }
    if !total.is_finite() || total > 1e11 {
        return Err(err());
    }
    Ok(Duration::from_secs_f64(total))
}

/// Prints like Go's `time.Duration.String` for the values a rate-limit period takes.
pub fn go_format(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    let frac = d.subsec_nanos();
    let secs = if frac == 0 {
        format!("{s}")
    } else {
        let digits = format!("{frac:09}");
        format!("{s}.{}", digits.trim_end_matches('0'))
    };
    if h > 0 {
        format!("{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{m}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Seconds(u64),
    Text(String),
}

fn from_raw(raw: Raw) -> Result<Duration, DurationError> {
    match raw {
        Raw::Seconds(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => parse(&t),
    }
}

/// `#[serde(deserialize_with = "duration::de")]`.
pub fn de<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    from_raw(Raw::deserialize(d)?).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("90d"), Ok(Duration::from_secs(90 * 86400)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert!(parse("5").is_err());
        assert!(parse("5x").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn prints_like_go() {
        assert_eq!(go_format(Duration::from_secs(3 * 3600)), "3h0m0s");
        assert_eq!(go_format(Duration::from_secs(168 * 3600)), "168h0m0s");
        assert_eq!(go_format(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_format(Duration::from_secs(1)), "1s");
        assert_eq!(go_format(Duration::from_millis(1500)), "1.5s");
    }
}
