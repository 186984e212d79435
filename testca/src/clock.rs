//! Wall-clock time as Unix seconds, and its RFC 3339 form. Boulder stores times in DATETIME
//! columns (whole seconds) and serves them with Go's RFC 3339 encoding, so every time this CA
//! serves has whole seconds in UTC ("2026-08-07T12:00:00Z").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    now_nanos() / 1_000_000_000
}

pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

pub fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn datetime(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2026-08-07T12:00:00Z`.
pub fn rfc3339(unix: i64) -> String {
    datetime(unix).format(&Rfc3339).unwrap_or_default()
}

/// `2026-08-07 12:00:00`, what MySQL takes for a DATETIME (UTC).
pub fn sql(unix: i64) -> String {
    let t = datetime(unix);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2026-08-07 12:00:00 UTC`, the form of Boulder's "retry after" in rate-limit messages.
pub fn human(unix: i64) -> String {
    format!("{} UTC", sql(unix))
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::sql(86_400 + 61), "1970-01-02 00:01:01");
    }
}
