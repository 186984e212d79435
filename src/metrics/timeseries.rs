//! The run over time, for the report's time series and the HTML charts: per interval, the
//! attackers, chains ok/failed, requests, and p50/p99 per chain and per endpoint.
//!
//! Bounded however long the run: intervals start at one second; when [`MAX_POINTS`] are
//! closed, neighbours merge pairwise and the interval doubles (a day fits in 240 points of
//! 512 s). Closed intervals keep their latency distributions as sparse logarithmic histograms
//! (buckets 5 % wide, a few hundred bytes per series), so a merged interval's percentiles come
//! from the merged distribution rather than from averaging percentiles.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::stats::{histogram, record};
use crate::acme::Endpoint;
use crate::report::series::{PointLatency, PointReport, Sparse, TimeSeriesReport, MAX_POINTS};

const FIRST_WIDTH: Duration = Duration::from_secs(1);

/// What a latency series belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Series {
    Chain(&'static str),
    Request(Endpoint),
}

/// One closed interval.
#[derive(Debug, Clone)]
struct Point {
    start: Duration,
    width: Duration,
    attackers: usize,
    chains_ok: u64,
    chains_failed: u64,
    requests: u64,
    latency: BTreeMap<Series, Sparse>,
}

impl Point {
    fn merged(&self, next: &Point) -> Point {
        let mut latency = self.latency.clone();
        for (series, sparse) in &next.latency {
            let merged = match latency.get(series) {
                Some(mine) => mine.merge(sparse),
                None => sparse.clone(),
            };
            latency.insert(*series, merged);
        }
        Point {
            start: self.start,
            width: self.width + next.width,
            attackers: self.attackers.max(next.attackers),
            chains_ok: self.chains_ok + next.chains_ok,
            chains_failed: self.chains_failed + next.chains_failed,
            requests: self.requests + next.requests,
            latency,
        }
    }

    fn report(&self) -> PointReport {
        let secs = self.width.as_secs_f64().max(1e-9);
        let mut chains = BTreeMap::new();
        let mut requests = BTreeMap::new();
        for (series, sparse) in &self.latency {
            let latency = PointLatency::of(sparse.clone());
            match series {
                Series::Chain(name) => chains.insert(name.to_string(), latency),
                Series::Request(endpoint) => requests.insert(endpoint.name().to_owned(), latency),
            };
        }
        PointReport {
            t_s: self.start.as_secs_f64(),
            width_s: self.width.as_secs_f64(),
            attackers: self.attackers,
            chains_ok_per_s: self.chains_ok as f64 / secs,
            chains_failed_per_s: self.chains_failed as f64 / secs,
            requests_per_s: self.requests as f64 / secs,
            chains,
            requests,
        }
    }
}

/// An interval's HDR histogram as the report's buckets: 5 % wide, a few hundred bytes.
fn sparse(h: &Histogram<u32>) -> Sparse {
    let mut out: Vec<(u16, u32)> = Vec::new();
    for v in h.iter_recorded() {
        let (bucket, count) = (Sparse::bucket(v.value_iterated_to()), v.count_at_value());
        match out.last_mut() {
            Some((last, total)) if *last == bucket => *total = total.saturating_add(count),
            _ => out.push((bucket, count)),
        }
    }
    Sparse(out)
}

/// The interval being filled; its histograms are reused from one interval to the next.
struct Live {
    start: Duration,
    attackers: usize,
    chains_ok: u64,
    chains_failed: u64,
    requests: u64,
    latency: BTreeMap<Series, Histogram<u32>>,
}

impl Live {
    fn snapshot(&self, width: Duration) -> Point {
        Point {
            start: self.start,
            width,
            attackers: self.attackers,
            chains_ok: self.chains_ok,
            chains_failed: self.chains_failed,
            requests: self.requests,
            latency: self
                .latency
                .iter()
                .filter(|(_, h)| !h.is_empty())
                .map(|(series, h)| (*series, sparse(h)))
                .collect(),
        }
    }
}

/// The time series of one run; times are offsets from the run's start.
pub struct TimeSeries {
    width: Duration,
    points: Vec<Point>,
    live: Live,
    attackers_now: usize,
}

impl Default for TimeSeries {
    fn default() -> Self {
        TimeSeries {
            width: FIRST_WIDTH,
            points: Vec::new(),
            live: Live {
                start: Duration::ZERO,
                attackers: 0,
                chains_ok: 0,
                chains_failed: 0,
                requests: 0,
                latency: BTreeMap::new(),
            },
            attackers_now: 0,
        }
    }
}

impl TimeSeries {
    /// Closes every interval that ended before `now`.
    pub fn advance(&mut self, now: Duration) {
        while now >= self.live.start + self.width {
            self.points.push(self.live.snapshot(self.width));
            let live = &mut self.live;
            live.start += self.width;
            live.attackers = self.attackers_now;
            (live.chains_ok, live.chains_failed, live.requests) = (0, 0, 0);
            live.latency.values_mut().for_each(Histogram::reset);
            if self.points.len() == MAX_POINTS {
                self.points = self.points.chunks(2).map(|p| p[0].merged(&p[1])).collect();
                self.width *= 2;
            }
        }
    }

    pub fn set_attackers(&mut self, n: usize) {
        self.attackers_now = n;
        self.live.attackers = self.live.attackers.max(n);
    }

    /// A finished chain: counted; its latency kept when it succeeded.
    pub fn chain(&mut self, name: &'static str, ok: bool, took: Duration) {
        if ok {
            self.live.chains_ok += 1;
            self.record(Series::Chain(name), took);
        } else {
            self.live.chains_failed += 1;
        }
    }

    /// An exchange: counted whatever its outcome; its latency kept when it succeeded.
    pub fn request(&mut self, endpoint: Endpoint, ok_took: Option<Duration>) {
        self.live.requests += 1;
        if let Some(took) = ok_took {
            self.record(Series::Request(endpoint), took);
        }
    }

    fn record(&mut self, series: Series, took: Duration) {
        let h = self
            .live
            .latency
            .entry(series)
            .or_insert_with(|| histogram(2));
        record(h, took);
    }

    /// The closed intervals and the partial one up to `now`; a partial interval shorter than
    /// half an interval joins the one before, so a few chains finishing just before the end
    /// do not draw a spike.
    pub fn report(&self, now: Duration) -> TimeSeriesReport {
        let mut points: Vec<PointReport> = self.points.iter().map(Point::report).collect();
        let partial = now.saturating_sub(self.live.start);
        if !partial.is_zero() {
            let tail = self.live.snapshot(partial);
            match self.points.last() {
                Some(last) if partial < self.width / 2 => {
                    points.pop();
                    points.push(last.merged(&tail).report());
                }
                _ => points.push(tail.report()),
            }
        }
        TimeSeriesReport {
            interval_s: self.width.as_secs_f64(),
            points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn intervals_count_and_measure() {
        let mut ts = TimeSeries::default();
        ts.set_attackers(2);
        for ms in 1..=100 {
            ts.chain("issue", true, Duration::from_millis(ms));
            ts.request(Endpoint::NewOrder, Some(Duration::from_millis(ms)));
        }
        ts.chain("issue", false, secs(1));
        ts.request(Endpoint::NewOrder, None);
        ts.advance(Duration::from_millis(1500));
        ts.set_attackers(5);
        ts.set_attackers(3);
        ts.advance(Duration::from_millis(2500));

        let r = ts.report(Duration::from_millis(2500));
        assert_eq!(r.interval_s, 1.0);
        assert_eq!(r.points.len(), 3, "two closed, one partial");
        let first = &r.points[0];
        assert_eq!((first.t_s, first.width_s, first.attackers), (0.0, 1.0, 2));
        assert_eq!(first.chains_ok_per_s, 100.0);
        assert_eq!(first.chains_failed_per_s, 1.0);
        assert_eq!(first.requests_per_s, 101.0);
        let issue = &first.chains["issue"];
        assert!((issue.p50_ms / 50.0 - 1.0).abs() <= 0.03, "{issue:?}");
        assert!((issue.p99_ms / 99.0 - 1.0).abs() <= 0.03, "{issue:?}");
        assert_eq!(
            r.points[1].attackers, 5,
            "the most attackers in the interval"
        );
        assert!(r.points[1].chains.is_empty());
        let last = &r.points[2];
        assert_eq!((last.t_s, last.width_s, last.attackers), (2.0, 0.5, 3));

        // A short tail joins the interval before it.
        let r = ts.report(Duration::from_millis(2200));
        assert_eq!(r.points.len(), 2);
        assert_eq!((r.points[1].t_s, r.points[1].width_s), (1.0, 1.2));
        assert_eq!(r.points[1].attackers, 5);
    }

    #[test]
    fn long_runs_stay_bounded_and_merge_exactly() {
        let mut ts = TimeSeries::default();
        // Ten hours at one chain per second, latency alternating 10 ms and 30 ms.
        for s in 0..36_000u64 {
            ts.advance(secs(s));
            ts.chain(
                "issue",
                true,
                Duration::from_millis(if s % 2 == 0 { 10 } else { 30 }),
            );
        }
        let r = ts.report(secs(36_000));
        assert!(
            r.points.len() <= MAX_POINTS + 1,
            "{} points",
            r.points.len()
        );
        assert!(r.points.len() >= MAX_POINTS / 2);
        assert_eq!(r.interval_s, 256.0);
        let p = &r.points[0];
        assert_eq!(p.width_s, 256.0);
        assert_eq!(p.chains_ok_per_s, 1.0);
        // Half the samples are 10 ms, half 30 ms: the median is 10 ms, p99 30 ms.
        let l = &p.chains["issue"];
        assert!((l.p50_ms / 10.0 - 1.0).abs() <= 0.03, "{l:?}");
        assert!((l.p99_ms / 30.0 - 1.0).abs() <= 0.03, "{l:?}");
        // Contiguous, ascending intervals.
        for pair in r.points.windows(2) {
            assert!((pair[0].t_s + pair[0].width_s - pair[1].t_s).abs() < 1e-9);
        }
    }
}
