//! Timing: per-evaluation timestamps, engines interleaved; percentiles.
//!
//! The four engines of one policy × input are measured in the same run and
//! interleaved in short chunks, so that a burst of noise from another
//! process (this machine has 2 cores, often shared with a compiler) lands
//! on all of them rather than on one, and the ratios stay honest.
//!
//! [`percentile`] and [`Latencies`] are shared by every benchmark: the
//! per-evaluation table here, and the request latencies of `load`, `ingest`
//! and `startup`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::Engine;

/// How long and how much to measure.
#[derive(Debug, Clone)]
pub struct Config {
    /// Warm-up per engine before any sample is kept.
    pub warm_up: Duration,
    /// Aim for the whole cell (all engines) to take about this long.
    pub budget: Duration,
    /// Fewest samples per engine, whatever the budget.
    pub min_samples: usize,
    /// Most samples per engine.
    pub max_samples: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            warm_up: Duration::from_millis(200),
            budget: Duration::from_secs(4),
            min_samples: 2000,
            max_samples: 20_000,
        }
    }
}

/// The distribution of one engine's per-evaluation times.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Samples kept.
    pub samples: usize,
    /// Median.
    pub median: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

impl Stats {
    /// From unsorted samples (at least one).
    pub fn from_samples(mut samples: Vec<Duration>) -> Stats {
        samples.sort_unstable();
        Stats {
            samples: samples.len(),
            median: percentile(&samples, 0.5),
            p99: percentile(&samples, 0.99),
        }
    }
}

/// The sample at quantile `q` (0 to 1) of `sorted` (ascending): the
/// nearest rank, index `round((n - 1) × q)`, so the median of an even
/// count is the upper middle sample. Zero for no samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let Some(last) = sorted.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    let i = (last as f64 * q.clamp(0.0, 1.0)).round() as usize;
    sorted[i.min(last)]
}

/// The distribution of a set of latencies, for the tables of `load`,
/// `ingest` and `startup`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latencies {
    /// Samples.
    pub count: usize,
    /// Fastest.
    pub min: Duration,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Slowest.
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

impl Latencies {
    /// From unsorted samples; `None` when there are none.
    pub fn from_samples(mut samples: Vec<Duration>) -> Option<Latencies> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let total: Duration = samples.iter().sum();
        Some(Latencies {
            count: samples.len(),
            min: samples[0],
            p50: percentile(&samples, 0.5),
            p99: percentile(&samples, 0.99),
            p999: percentile(&samples, 0.999),
            max: samples[samples.len() - 1],
            mean: total / u32::try_from(samples.len()).unwrap_or(u32::MAX),
        })
    }
}

/// A duration in milliseconds, for tables.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Measure every engine on `body`, interleaved; one [`Stats`] per engine,
/// in order.
pub fn cell(
    engines: &mut [Box<dyn Engine>],
    body: &[u8],
    config: &Config,
) -> anyhow::Result<Vec<Stats>> {
    // Warm up (caches, the pooling allocator's slots, lazy statics) and
    // estimate each engine's cost, to size the run to the budget.
    let mut round = Duration::ZERO;
    for engine in engines.iter_mut() {
        let start = Instant::now();
        let mut n = 0u32;
        while n < 50 || start.elapsed() < config.warm_up {
            black_box(engine.evaluate(black_box(body))?);
            n += 1;
        }
        round += start.elapsed() / n;
    }
    let per_engine = (config.budget.as_secs_f64() / round.as_secs_f64().max(1e-9)) as usize;
    let n = per_engine.clamp(config.min_samples, config.max_samples);
    let chunk = (n / 40).clamp(1, 200);

    let mut samples: Vec<Vec<Duration>> = engines.iter().map(|_| Vec::with_capacity(n)).collect();
    while samples[0].len() < n {
        let take = chunk.min(n - samples[0].len());
        for (engine, out) in engines.iter_mut().zip(&mut samples) {
            for _ in 0..take {
                let start = Instant::now();
                black_box(engine.evaluate(black_box(body))?);
                out.push(start.elapsed());
            }
        }
    }
    Ok(samples.into_iter().map(Stats::from_samples).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let samples = (1..=100).rev().map(Duration::from_micros).collect();
        let stats = Stats::from_samples(samples);
        assert_eq!(stats.samples, 100);
        assert_eq!(stats.median, Duration::from_micros(51));
        assert_eq!(stats.p99, Duration::from_micros(99));
    }

    #[test]
    fn latency_summary() {
        let samples: Vec<Duration> = (1..=1000).rev().map(Duration::from_micros).collect();
        let l = Latencies::from_samples(samples).unwrap();
        assert_eq!(l.count, 1000);
        assert_eq!(l.min, Duration::from_micros(1));
        // index round(999 × q): 500, 989, 998.
        assert_eq!(l.p50, Duration::from_micros(501));
        assert_eq!(l.p99, Duration::from_micros(990));
        assert_eq!(l.p999, Duration::from_micros(999));
        assert_eq!(l.max, Duration::from_micros(1000));
        assert_eq!(l.mean, Duration::from_nanos(500_500));
        assert_eq!(Latencies::from_samples(Vec::new()), None);
    }

    #[test]
    fn percentile_edges() {
        let one = [Duration::from_millis(7)];
        assert_eq!(percentile(&one, 0.0), one[0]);
        assert_eq!(percentile(&one, 0.999), one[0]);
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
        let two = [Duration::from_millis(1), Duration::from_millis(2)];
        assert_eq!(percentile(&two, 0.0), two[0]);
        assert_eq!(percentile(&two, 1.0), two[1]);
        assert_eq!(percentile(&two, 7.0), two[1], "q is clamped");
    }
}
