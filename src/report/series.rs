//! The time series as the report carries it: per interval, the attackers, chain and request
//! rates, and per chain and endpoint the latency distribution of the interval as sparse
//! logarithmic buckets (5 % wide), with its p50 and p99. The buckets travel in the report so
//! that intervals merged later — when a long run's series halves, or shards' reports are
//! merged — get the percentiles of the merged distribution, never an average of percentiles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::histogram::MAX_MICROS;

/// Intervals a series keeps before neighbours merge pairwise; even, so every point has a
/// partner.
pub const MAX_POINTS: usize = 240;

/// Ratio between neighbouring buckets: a bucket's middle is within 2.5 % of every value in it,
/// and 1 µs to 1 hour takes 451 buckets.
const GROWTH: f64 = 1.05;

/// A latency distribution as `[bucket, count]` pairs, ascending: bucket `i` holds the values
/// in [1.05^i, 1.05^(i+1)) µs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sparse(pub Vec<(u16, u32)>);

impl Sparse {
    /// The bucket holding `micros`.
    pub fn bucket(micros: u64) -> u16 {
        ((micros.max(1) as f64).ln() / GROWTH.ln()) as u16
    }

    /// The middle of a bucket (geometric), in µs.
    pub fn middle(bucket: u16) -> f64 {
        GROWTH.powf(f64::from(bucket) + 0.5)
    }

    /// Both distributions together.
    pub fn merge(&self, other: &Sparse) -> Sparse {
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
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.0.iter().map(|&(_, c)| u64::from(c)).sum();
        let rank = ((q * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        self.0.iter().find_map(|&(bucket, count)| {
            seen += u64::from(count);
            (seen >= rank).then(|| Sparse::middle(bucket))
        })
    }

    /// Whether the pairs are ascending, without repeats or zero counts: what [`Sparse::merge`]
    /// and [`Sparse::quantile`] rely on when the pairs come from a file.
    pub fn is_well_formed(&self) -> bool {
        let highest = Sparse::bucket(MAX_MICROS);
        self.0
            .iter()
            .all(|&(bucket, count)| count > 0 && bucket <= highest)
            && self.0.windows(2).all(|w| w[0].0 < w[1].0)
    }
}

/// The time series in the JSON report.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TimeSeriesReport {
    /// Width of the points now; it doubles whenever the series reaches its bound.
    pub interval_s: f64,
    pub points: Vec<PointReport>,
}

/// One interval of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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

/// The latency of one chain or endpoint in one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointLatency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The distribution the percentiles come from.
    pub buckets: Sparse,
}

impl PointLatency {
    pub fn of(buckets: Sparse) -> PointLatency {
        let ms = |q| buckets.quantile(q).map_or(0.0, |us| us / 1000.0);
        PointLatency {
            p50_ms: ms(0.50),
            p99_ms: ms(0.99),
            buckets,
        }
    }
}

/// What a point counts, rather than its rates: what adds up when points merge.
#[derive(Debug, Clone, Default)]
struct Counts {
    width_s: f64,
    attackers: usize,
    chains_ok: f64,
    chains_failed: f64,
    requests: f64,
    chains: BTreeMap<String, Sparse>,
    requests_latency: BTreeMap<String, Sparse>,
}

impl Counts {
    fn of(p: &PointReport) -> Counts {
        Counts {
            width_s: p.width_s,
            attackers: p.attackers,
            chains_ok: (p.chains_ok_per_s * p.width_s).round(),
            chains_failed: (p.chains_failed_per_s * p.width_s).round(),
            requests: (p.requests_per_s * p.width_s).round(),
            chains: buckets(&p.chains),
            requests_latency: buckets(&p.requests),
        }
    }

    /// Adds what another run measured during the same interval: counts add, and so do
    /// attackers (the runs ran side by side).
    fn add(&mut self, other: &Counts) {
        self.attackers = self.attackers.saturating_add(other.attackers);
        self.add_latency_and_counts(other);
    }

    /// Adds the interval that follows: counts add, attackers are the most of either.
    fn append(&mut self, next: &Counts) {
        self.attackers = self.attackers.max(next.attackers);
        self.width_s += next.width_s;
        self.add_latency_and_counts(next);
    }

    fn add_latency_and_counts(&mut self, other: &Counts) {
        self.chains_ok += other.chains_ok;
        self.chains_failed += other.chains_failed;
        self.requests += other.requests;
        merge_into(&mut self.chains, &other.chains);
        merge_into(&mut self.requests_latency, &other.requests_latency);
    }

    fn report(&self, t_s: f64) -> PointReport {
        let secs = self.width_s.max(1e-9);
        let latency = |m: &BTreeMap<String, Sparse>| {
            m.iter()
                .map(|(name, s)| (name.clone(), PointLatency::of(s.clone())))
                .collect()
        };
        PointReport {
            t_s,
            width_s: self.width_s,
            attackers: self.attackers,
            chains_ok_per_s: self.chains_ok / secs,
            chains_failed_per_s: self.chains_failed / secs,
            requests_per_s: self.requests / secs,
            chains: latency(&self.chains),
            requests: latency(&self.requests_latency),
        }
    }
}

fn buckets(m: &BTreeMap<String, PointLatency>) -> BTreeMap<String, Sparse> {
    m.iter()
        .map(|(name, l)| (name.clone(), l.buckets.clone()))
        .collect()
}

fn merge_into(into: &mut BTreeMap<String, Sparse>, from: &BTreeMap<String, Sparse>) {
    for (name, sparse) in from {
        let merged = match into.get(name) {
            Some(mine) => mine.merge(sparse),
            None => sparse.clone(),
        };
        into.insert(name.clone(), merged);
    }
}

/// The series of runs that ran side by side, each given with its start in seconds after the
/// earliest run's start. A point joins the merged interval its start falls in; the merged
/// interval is the widest of the runs' (all are 1 s doubled a whole number of times, so each
/// is a multiple of the others), doubled again while more than [`MAX_POINTS`] would be
/// needed. The last interval ends where the last run's series ends.
pub fn merge(series: &[(f64, &TimeSeriesReport)]) -> TimeSeriesReport {
    let mut width = series.iter().map(|(_, s)| s.interval_s).fold(0.0, f64::max);
    let end = series
        .iter()
        .filter_map(|(offset, s)| s.points.last().map(|p| offset + p.t_s + p.width_s))
        .fold(0.0, f64::max);
    if width <= 0.0 || end <= 0.0 {
        return TimeSeriesReport::default();
    }
    while end / width > (MAX_POINTS + 1) as f64 {
        width *= 2.0;
    }
    let slots = ((end / width).ceil() as usize).max(1);
    let mut merged = vec![Counts::default(); slots];
    for (offset, s) in series {
        let mut mine = vec![Counts::default(); slots];
        for p in &s.points {
            // A start a rounding error short of a boundary belongs after it.
            let slot = (((offset + p.t_s) / width + 1e-9).floor() as usize).min(slots - 1);
            mine[slot].append(&Counts::of(p));
        }
        for (total, run) in merged.iter_mut().zip(&mine) {
            total.add(run);
        }
    }
    let points = merged
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let t_s = i as f64 * width;
            c.width_s = width.min(end - t_s);
            c.report(t_s)
        })
        .collect();
    TimeSeriesReport {
        interval_s: width,
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(m.is_well_formed());
        assert!(!Sparse(vec![(3, 1), (3, 1)]).is_well_formed());
        assert!(!Sparse(vec![(3, 0)]).is_well_formed());
        assert!(
            !Sparse(vec![(u16::MAX, 1)]).is_well_formed(),
            "beyond an hour"
        );
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

    fn point(t_s: f64, width_s: f64, attackers: usize, ok: f64, buckets: Sparse) -> PointReport {
        PointReport {
            t_s,
            width_s,
            attackers,
            chains_ok_per_s: ok / width_s,
            chains_failed_per_s: 0.0,
            requests_per_s: 2.0 * ok / width_s,
            chains: [("issue".to_owned(), PointLatency::of(buckets))].into(),
            requests: BTreeMap::new(),
        }
    }

    /// Two runs, the second started 1 s after the first: their points are aligned on the
    /// wall clock, counts and attackers add, distributions merge.
    #[test]
    fn runs_side_by_side_align_on_the_wall_clock() {
        let a = TimeSeriesReport {
            interval_s: 1.0,
            points: vec![
                point(0.0, 1.0, 2, 10.0, Sparse(vec![(100, 10)])),
                point(1.0, 1.0, 2, 10.0, Sparse(vec![(100, 10)])),
            ],
        };
        let b = TimeSeriesReport {
            interval_s: 1.0,
            points: vec![
                point(0.0, 1.0, 3, 4.0, Sparse(vec![(200, 4)])),
                point(1.0, 0.5, 3, 2.0, Sparse(vec![(200, 2)])),
            ],
        };
        let m = merge(&[(0.0, &a), (1.0, &b)]);
        assert_eq!(m.interval_s, 1.0);
        let shape: Vec<(f64, f64, usize, f64)> = m
            .points
            .iter()
            .map(|p| (p.t_s, p.width_s, p.attackers, p.chains_ok_per_s))
            .collect();
        assert_eq!(
            shape,
            vec![(0.0, 1.0, 2, 10.0), (1.0, 1.0, 5, 14.0), (2.0, 0.5, 3, 4.0)]
        );
        let second = &m.points[1].chains["issue"];
        assert_eq!(second.buckets, Sparse(vec![(100, 10), (200, 4)]));
        assert_eq!(second.p99_ms, Sparse::middle(200) / 1000.0);
        assert_eq!(m.points[1].requests_per_s, 28.0);
    }

    #[test]
    fn merged_series_stay_bounded() {
        let run = TimeSeriesReport {
            interval_s: 1.0,
            points: (0..200)
                .map(|s| point(f64::from(s), 1.0, 1, 1.0, Sparse(vec![(50, 1)])))
                .collect(),
        };
        // Started 200 s apart: 400 s of series at 1 s would be too many points.
        let m = merge(&[(0.0, &run), (200.0, &run)]);
        assert_eq!(m.interval_s, 2.0);
        assert_eq!(m.points.len(), 200);
        assert!(m.points.iter().all(|p| p.chains_ok_per_s == 1.0));
        assert_eq!(m.points[0].chains["issue"].buckets, Sparse(vec![(50, 2)]));
    }
}
