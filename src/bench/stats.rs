//! Order statistics of timed samples: the minimum, the median, the 99th and 99.9th percentiles
//! (nearest rank) and the mean, and when a percentile means more than "the slowest sample".

#![forbid(unsafe_code)]

/// Order statistics of timed samples, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Stats {
    pub min: f64,
    pub median: f64,
    pub p99: f64,
    pub p999: f64,
    pub mean: f64,
    /// How many samples they come from.
    pub samples: usize,
}

impl Stats {
    /// From samples in nanoseconds (sorted here); None when there are none.
    pub fn of(samples: &mut [f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_by(f64::total_cmp);
        // The nearest-rank percentile: the smallest sample with at least p% at or below it.
        let rank = |p: f64| {
            let n = samples.len();
            // (less a hair: 0.999 * 1000 is 999.0000000000001 in binary floating point)
            let k = ((p / 100.0) * n as f64 - 1e-9).ceil() as usize;
            samples[k.clamp(1, n) - 1]
        };
        Some(Stats {
            min: samples[0],
            median: rank(50.0),
            p99: rank(99.0),
            p999: rank(99.9),
            mean: samples.iter().sum::<f64>() / samples.len() as f64,
            samples: samples.len(),
        })
    }

    /// The 99th percentile, if it means more than "the slowest sample": from 100 samples on.
    pub(crate) fn p99_shown(&self) -> Option<f64> {
        (self.samples >= 100).then_some(self.p99)
    }

    /// The 99.9th percentile, from 1000 samples on.
    pub(crate) fn p999_shown(&self) -> Option<f64> {
        (self.samples >= 1000).then_some(self.p999)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut xs: Vec<f64> = (1..=1000).map(f64::from).collect();
        xs.reverse();
        let s = Stats::of(&mut xs).unwrap();
        assert_eq!((s.min, s.median, s.p99, s.p999), (1.0, 500.0, 990.0, 999.0));
        assert_eq!(s.mean, 500.5);
        let one = Stats::of(&mut [7.0]).unwrap();
        assert_eq!(
            (one.min, one.median, one.p99, one.p999, one.mean),
            (7.0, 7.0, 7.0, 7.0, 7.0)
        );
        assert!(Stats::of(&mut []).is_none());
    }
}
