//! How long an attacker waits before its next chain. A CA that cannot be reached (connections
//! refused or reset, timeouts, 5xx) would otherwise meet thousands of chains a second that fail
//! at once: the attacker backs off, exponentially with jitter, up to a bound, and starts afresh
//! at the first chain that gets through. A CA that says when to come back (`Retry-After` on a
//! 503, or on a 429 not tied to one account) is given at least that long, capped.

use std::time::Duration;

use rand::Rng;

use crate::metrics::WaitCause;

/// First back-off after a chain the CA could not serve; it doubles with each one in a row…
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// …up to this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Failures in a row of one attacker.
#[derive(Debug, Default)]
pub struct Pauses {
    unreachable_in_a_row: u32,
}

/// Whether a failure `reason` says the CA itself could not serve the request, rather than
/// that it answered wrongly: only those back off.
pub fn unreachable(reason: &str) -> bool {
    reason.starts_with("transport:")
        || reason.starts_with("timeout:")
        || reason.starts_with("http-5")
        || reason == "acme:serverInternal"
}

impl Pauses {
    /// The pause before the next chain after one that ended with failure `reason` (`None`:
    /// it did not fail), when the CA asked to wait `retry_after` (capped at `cap`).
    pub fn after(
        &mut self,
        reason: Option<&str>,
        retry_after: Option<Duration>,
        cap: Duration,
    ) -> Option<(Duration, WaitCause)> {
        match reason {
            Some(reason) if unreachable(reason) => self.unreachable_in_a_row += 1,
            _ => self.unreachable_in_a_row = 0,
        }
        let backoff = match self.unreachable_in_a_row {
            0 => Duration::ZERO,
            n => {
                let full = BACKOFF_FIRST
                    .saturating_mul(2u32.saturating_pow(n - 1))
                    .min(BACKOFF_MAX);
                // Jitter: attackers that failed together do not all come back together.
                full.mul_f64(rand::rng().random_range(0.5..=1.0))
            }
        };
        let asked = retry_after.map_or(Duration::ZERO, |d| d.min(cap));
        match (backoff, asked) {
            (b, a) if a >= b && !a.is_zero() => Some((a, WaitCause::RetryAfter)),
            (b, _) if !b.is_zero() => Some((b, WaitCause::Backoff)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(10);

    #[test]
    fn back_off_grows_with_jitter_up_to_the_bound_and_resets_on_success() {
        let mut p = Pauses::default();
        let mut last = Duration::ZERO;
        for n in 1..=12u32 {
            let (wait, cause) = p.after(Some("transport:newOrder"), None, CAP).unwrap();
            assert_eq!(cause, WaitCause::Backoff);
            let full = (BACKOFF_FIRST * 2u32.pow(n - 1)).min(BACKOFF_MAX);
            assert!(
                wait >= full / 2 && wait <= full,
                "{n}: {wait:?} of {full:?}"
            );
            last = wait;
        }
        assert!(last >= BACKOFF_MAX / 2);
        assert_eq!(p.after(None, None, CAP), None, "a success resets");
        let (first, _) = p.after(Some("timeout:order"), None, CAP).unwrap();
        assert!(first <= BACKOFF_FIRST);
    }

    #[test]
    fn answers_that_are_wrong_do_not_back_off_but_retry_after_is_honoured() {
        let mut p = Pauses::default();
        assert_eq!(p.after(Some("check:names"), None, CAP), None);
        assert_eq!(p.after(Some("acme:malformed"), None, CAP), None);
        assert_eq!(
            p.after(None, Some(Duration::from_secs(3)), CAP),
            Some((Duration::from_secs(3), WaitCause::RetryAfter))
        );
        assert_eq!(
            p.after(
                Some("http-503:newOrder"),
                Some(Duration::from_secs(3600)),
                CAP
            ),
            Some((CAP, WaitCause::RetryAfter)),
            "capped"
        );
        for reason in [
            "http-500:finalize",
            "acme:serverInternal",
            "transport:directory",
        ] {
            assert!(unreachable(reason), "{reason}");
        }
    }
}
