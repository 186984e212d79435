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
use serde::Serialize;

use super::stats::{histogram, record};
use crate::acme::Endpoint;

/// Closed intervals kept before neighbours merge; even, so every point has a partner.
pub const MAX_POINTS: usize = 240;
const FIRST_WIDTH: Duration = Duration::from_secs(1);
/// Ratio between neighbouring buckets of closed intervals: a bucket's middle is within 2.5 %
/// of every value in it, and 1 µs to 1 hour takes 451 buckets.
const GROWTH: f64 = 1.05;

/// What a latency series belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Series {
    Chain(&'static str),
    Request(Endpoint),
}

/// A latency distribution as (bucket, count), ascending: bucket `i` holds the values in
/// [GROWTH^i, GROWTH^(i+1)) µs.
#[derive(Debug, Clone, Default, PartialEq)]
struct Sparse(Vec<(u16, u32)>);

impl Sparse {
    fn bucket(micros: u64) -> u16 {
        ((micros.max(1) as f64).ln() / GROWTH.ln()) as u16
    }

    /// The middle of a bucket (geometric), in µs.
    fn middle(bucket: u16) -> f64 {
        GROWTH.powf(f64::from(bucket) + 0.5)
    }

    fn of(h: &Histogram<u32>) -> Sparse {
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

    fn merge(&self, other: &Sparse) -> Sparse {
        let (a, b) = (&self.0, &other.0);
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::with_capacity(a.len().max(b.len()));
        while i < a.len() && j < b.len() {
            let (x, y) = (a[i], b[j]);
            if x.0 == y.0 {
                out.push((x.0, x.1.saturating_add(y.1)));
                (i, j) = (i + 1, j + 1);
            } else if x.0 < y.0 {
                out.push(x);
                i += 1;
            } else {
                out.push(y);
                j += 1;
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
        Sparse(out)
    }

    /// The value (µs) at quantile `q`, with HDR's rule: the bucket where the cumulative count
    /// reaches `ceil(q * total)` (at least 1).
    fn quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.0.iter().map(|&(_, c)| u64::from(c)).sum();
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        self.0.iter().find_map(|&(bucket, count)| {
            seen += u64::from(count);
            (seen >= rank).then(|| Sparse::middle(bucket))
        })
    }
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
            let ms = |q| sparse.quantile(q).map_or(0.0, |us| us / 1000.0);
            let latency = PointLatency {
                p50_ms: ms(0.50),
                p99_ms: ms(0.99),
            };
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
                .map(|(series, h)| (*series, Sparse::of(h)))
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

/// The time series in the JSON report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TimeSeriesReport {
    /// Width of the points now; it doubles whenever the series reaches its bound.
    pub interval_s: f64,
    pub points: Vec<PointReport>,
}

/// One interval of the run.
#[derive(Debug, Clone, Serialize)]
pub struct PointReport {
    /// Start, in seconds since the run started.
    pub t_s: f64,
    /// Width (the last point of a run may be shorter than `interval_s`).
    pub width_s: f64,
    /// Most attackers live during the interval.
    pub attackers: usize,
    pub chains_ok_per_s: f64,
    pub chains_failed_per_s: f64,
    /// Every exchange, whatever its outcome.
    pub requests_per_s: f64,
    /// Successful chains' latency, per chain that finished one in the interval.
    pub chains: BTreeMap<String, PointLatency>,
    /// Successful requests' latency, per endpoint.
    pub requests: BTreeMap<String, PointLatency>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PointLatency {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::stats::MAX_MICROS;

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
        let issue = first.chains["issue"];
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
        let l = p.chains["issue"];
        assert!((l.p50_ms / 10.0 - 1.0).abs() <= 0.03, "{l:?}");
        assert!((l.p99_ms / 30.0 - 1.0).abs() <= 0.03, "{l:?}");
        // Contiguous, ascending intervals.
        for pair in r.points.windows(2) {
            assert!((pair[0].t_s + pair[0].width_s - pair[1].t_s).abs() < 1e-9);
        }
    }

    #[test]
    fn sparse_merge_and_quantiles() {
        let a = Sparse(vec![(1, 2), (5, 1)]);
        let b = Sparse(vec![(3, 1), (5, 2), (9, 1)]);
        let m = a.merge(&b);
        assert_eq!(m, Sparse(vec![(1, 2), (3, 1), (5, 3), (9, 1)]));
        assert_eq!(m.quantile(0.0), Some(Sparse::middle(1)));
        assert_eq!(m.quantile(0.5), Some(Sparse::middle(5)));
        assert_eq!(m.quantile(1.0), Some(Sparse::middle(9)));
        assert_eq!(Sparse::default().quantile(0.5), None);
    }

    #[test]
    fn buckets_are_within_two_and_a_half_percent() {
        for micros in [1, 7, 999, 1_000, 123_456, 3_600_000_000u64] {
            let middle = Sparse::middle(Sparse::bucket(micros));
            assert!(
                (middle / micros as f64 - 1.0).abs() <= 0.025,
                "{micros}: {middle}"
            );
        }
        assert_eq!(Sparse::bucket(MAX_MICROS), 450);
    }
}
