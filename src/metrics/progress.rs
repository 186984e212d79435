//! What the operator sees while a run goes on: a live progress line on stderr once per second
//! (rewritten in place on a terminal, one line per second when forced elsewhere), or, when it
//! is not shown, an info log line every `report.log_interval` so a daemon under journald or a
//! CI log still shows the run advancing without a line per second.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::settings::{ProgressMode, Reporting};
use super::stats::{histogram, record};

/// Chains and requests since the window was last reset.
struct Window {
    since: Duration,
    chains_ok: u64,
    chains_failed: u64,
    requests: u64,
    /// Successful chains' latency in µs, 2 significant digits.
    latency: Histogram<u32>,
}

impl Window {
    fn new() -> Window {
        Window {
            since: Duration::ZERO,
            chains_ok: 0,
            chains_failed: 0,
            requests: 0,
            latency: histogram(2),
        }
    }

    fn chain(&mut self, ok: bool, took: Duration) {
        if ok {
            self.chains_ok += 1;
            record(&mut self.latency, took);
        } else {
            self.chains_failed += 1;
        }
    }

    /// The line for the window ending `now`; then starts a new window.
    fn line(&mut self, now: Duration, totals: &Totals) -> String {
        let secs = now.saturating_sub(self.since).as_secs_f64().max(1e-3);
        let p99 = if self.latency.is_empty() {
            "-".to_owned()
        } else {
            format!(
                "{:.0} ms",
                self.latency.value_at_quantile(0.99) as f64 / 1000.0
            )
        };
        let limited = match totals.chains_rate_limited {
            0 => String::new(),
            n => format!(" rate-limited {n}"),
        };
        let line = format!(
            "{:>8}  attackers {}  chains ok {} failed {}{limited}  {:.1} ok/s {:.1} failed/s  {:.0} req/s  p99 {p99}",
            elapsed(now),
            totals.attackers,
            totals.chains_ok,
            totals.chains_failed,
            self.chains_ok as f64 / secs,
            self.chains_failed as f64 / secs,
            self.requests as f64 / secs,
        );
        self.since = now;
        (self.chains_ok, self.chains_failed, self.requests) = (0, 0, 0);
        self.latency.reset();
        line
    }
}

/// Run-wide numbers shown next to the window's rates.
pub struct Totals {
    pub attackers: usize,
    pub chains_ok: u64,
    pub chains_failed: u64,
    pub chains_rate_limited: u64,
}

/// `12s`, `4m05s`, `2h03m10s`.
fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// Where the live line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Live {
    /// Rewritten in place (`\r`, erase line); log lines clear it first (see `lib.rs`).
    Terminal,
    /// One line per update, for a forced progress line on a pipe or file.
    Lines,
}

pub struct Progress {
    live: Option<(Live, Window)>,
    last_line: String,
    /// Log interval, its window and when the next line is due.
    log: Option<(Duration, Window, Duration)>,
}

impl Progress {
    /// From the settings, with stderr's nature deciding `auto`.
    pub fn new(reporting: &Reporting) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let live = match (reporting.progress, terminal) {
            (ProgressMode::Never, _) | (ProgressMode::Auto, false) => None,
            (_, true) => Some(Live::Terminal),
            (ProgressMode::Always, false) => Some(Live::Lines),
        };
        let log = (live.is_none() && !reporting.log_interval.is_zero()).then(|| {
            (
                reporting.log_interval,
                Window::new(),
                reporting.log_interval,
            )
        });
        Progress {
            live: live.map(|l| (l, Window::new())),
            last_line: String::new(),
            log,
        }
    }

    /// Nothing shown, nothing logged.
    pub fn off() -> Progress {
        Progress {
            live: None,
            last_line: String::new(),
            log: None,
        }
    }

    fn windows(&mut self) -> impl Iterator<Item = &mut Window> {
        self.live
            .iter_mut()
            .map(|(_, w)| w)
            .chain(self.log.iter_mut().map(|(_, w, _)| w))
    }

    pub fn chain(&mut self, ok: bool, took: Duration) {
        self.windows().for_each(|w| w.chain(ok, took));
    }

    pub fn requests(&mut self, n: usize) {
        self.windows().for_each(|w| w.requests += n as u64);
    }

    /// Called once per second: shows the live line, or logs when the log line is due.
    pub fn tick(&mut self, now: Duration, totals: &Totals) {
        if let Some((live, window)) = &mut self.live {
            let line = window.line(now, totals);
            let mut err = std::io::stderr().lock();
            let _ = match live {
                Live::Terminal => write!(err, "\r\x1b[K{line}"),
                Live::Lines => writeln!(err, "{line}"),
            };
            let _ = err.flush();
            self.last_line = line;
        }
        if let Some((every, window, due)) = &mut self.log {
            if now >= *due {
                log::info!("progress: {}", window.line(now, totals).trim_start());
                *due = now + *every;
            }
        }
    }

    /// Shows the last live line again (a log line may have erased it) and ends it, so the
    /// terminal keeps it and what follows starts on a line of its own.
    pub fn finish(&mut self) {
        if let Some((Live::Terminal, _)) = self.live.take() {
            let _ = writeln!(std::io::stderr(), "\r\x1b[K{}", self.last_line);
        }
        self.log = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_shows_rates_and_p99_then_resets() {
        let mut w = Window::new();
        for ms in 1..=100 {
            w.chain(true, Duration::from_millis(ms));
        }
        w.chain(false, Duration::from_millis(5));
        w.requests += 1200;
        let totals = Totals {
            attackers: 4,
            chains_ok: 380,
            chains_failed: 1,
            chains_rate_limited: 0,
        };
        let line = w.line(Duration::from_secs(2), &totals);
        assert_eq!(
            line,
            "      2s  attackers 4  chains ok 380 failed 1  50.0 ok/s 0.5 failed/s  600 req/s  p99 99 ms"
        );
        let line = w.line(Duration::from_secs(3), &totals);
        assert!(
            line.ends_with("0.0 ok/s 0.0 failed/s  0 req/s  p99 -"),
            "{line}"
        );
    }

    #[test]
    fn elapsed_reads_like_a_clock() {
        assert_eq!(elapsed(Duration::from_secs(9)), "9s");
        assert_eq!(elapsed(Duration::from_secs(245)), "4m05s");
        assert_eq!(elapsed(Duration::from_secs(7390)), "2h03m10s");
    }

    #[test]
    fn never_and_zero_interval_mean_silence() {
        let quiet = Reporting {
            progress: ProgressMode::Never,
            log_interval: Duration::ZERO,
        };
        let p = Progress::new(&quiet);
        assert!(p.live.is_none() && p.log.is_none());
        let logged = Reporting {
            progress: ProgressMode::Never,
            log_interval: Duration::from_secs(30),
        };
        assert!(Progress::new(&logged).log.is_some());
    }
}
