//! Logging of repeated failures, limited: the first failure of each reason in an interval is
//! logged, the others only counted and reported with the next line of that reason, so a CA
//! outage cannot write megabytes of stderr.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One line per reason per this long.
const INTERVAL: Duration = Duration::from_secs(10);

/// Reasons remembered at most (they are low-cardinality; this bounds a pathological CA).
const MAX_REASONS: usize = 1_000;

#[derive(Debug, Default)]
pub struct LogLimit {
    /// reason → (start of its interval, lines suppressed in it)
    seen: Mutex<HashMap<String, (Instant, u64)>>,
}

impl LogLimit {
    /// The process's limiter, shared by every attacker thread.
    pub fn global() -> &'static LogLimit {
        static GLOBAL: OnceLock<LogLimit> = OnceLock::new();
        GLOBAL.get_or_init(LogLimit::default)
    }

    /// Whether a line of `reason` may be logged now, with how many were held back since the
    /// last one; `None`: hold this one back (it is counted).
    pub fn admit(&self, reason: &str, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_REASONS && !seen.contains_key(reason) {
            seen.retain(|_, (start, _)| now.duration_since(*start) < INTERVAL);
            if seen.len() >= MAX_REASONS {
                return None;
            }
        }
        match seen.get_mut(reason) {
            Some((start, held)) if now.duration_since(*start) < INTERVAL => {
                *held += 1;
                None
            }
            Some((start, held)) => {
                let before = *held;
                (*start, *held) = (now, 0);
                Some(before)
            }
            None => {
                seen.insert(reason.to_owned(), (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_reason_per_interval_with_the_count_of_the_others() {
        let limit = LogLimit::default();
        let t0 = Instant::now();
        assert_eq!(limit.admit("transport:newOrder", t0), Some(0));
        for _ in 0..999 {
            assert_eq!(limit.admit("transport:newOrder", t0), None);
        }
        assert_eq!(limit.admit("timeout:order", t0), Some(0), "another reason");
        let later = t0 + INTERVAL;
        assert_eq!(limit.admit("transport:newOrder", later), Some(999));
        assert_eq!(limit.admit("transport:newOrder", later), None);
    }
}
