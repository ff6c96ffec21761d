//! Timing: per-evaluation timestamps, engines interleaved.
//!
//! The four engines of one policy × input are measured in the same run and
//! interleaved in short chunks, so that a burst of noise from another
//! process (this machine has 2 cores, often shared with a compiler) lands
//! on all of them rather than on one, and the ratios stay honest.

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
        let at = |p: f64| {
            let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
            samples[i.min(samples.len() - 1)]
        };
        Stats {
            samples: samples.len(),
            median: at(0.5),
            p99: at(0.99),
        }
    }
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
}
