//! Reading the daemon's `/metrics` (the Prometheus text format) back:
//! counters summed over their labels, and histograms with bucket-derived
//! quantiles, computed the way PromQL's `histogram_quantile` does.

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name, with any `_bucket`, `_sum` or `_count` suffix.
    pub name: String,
    /// Labels in the order written, values unescaped.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// Every sample line, in order.
    pub samples: Vec<Sample>,
}

/// A line that is not a sample, a comment or blank.
#[derive(Debug, thiserror::Error)]
#[error("line {line} of the metrics is not in the Prometheus text format: `{text}`")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// The line.
    pub text: String,
}

/// Parse the Prometheus text exposition format (the subset gavel writes:
/// no timestamps, no exemplars).
pub fn parse(text: &str) -> Result<Scrape, ParseError> {
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || ParseError {
            line: i + 1,
            text: line.to_owned(),
        };
        samples.push(parse_line(line).ok_or_else(bad)?);
    }
    Ok(Scrape { samples })
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            // `}` or `key="value"` followed by `,` or `}`.
            let (start, c) = *chars.peek()?;
            if c == '}' {
                rest = &after[start + 1..];
                break;
            }
            let eq = after[start..].find('=')? + start;
            let key = after[start..eq].trim().trim_start_matches(',').to_owned();
            while chars.peek()?.0 <= eq {
                chars.next();
            }
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            }
            labels.push((key, value));
            if chars.peek()?.1 == ',' {
                chars.next();
            }
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

impl Scrape {
    /// Parse `text` (see [`parse`]).
    pub fn parse(text: &str) -> Result<Scrape, ParseError> {
        parse(text)
    }

    /// The sum of every series of `name` (0 when there are none).
    pub fn sum(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .sum()
    }

    /// The series of `name` whose labels include all of `labels`, summed.
    pub fn sum_where(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && has_labels(s, labels))
            .map(|s| s.value)
            .sum()
    }

    /// `(value of label, sample value)` for each series of `name`, in order.
    pub fn by_label(&self, name: &str, label: &str) -> Vec<(String, f64)> {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| {
                let v = s
                    .labels
                    .iter()
                    .find(|(k, _)| k == label)
                    .map_or(String::new(), |(_, v)| v.clone());
                (v, s.value)
            })
            .collect()
    }

    /// The histogram `name` (without its `_bucket` suffix), its series whose
    /// labels include `labels` added together; `None` when it has no
    /// samples.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Option<Histogram> {
        let bucket = format!("{name}_bucket");
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for s in self
            .samples
            .iter()
            .filter(|s| s.name == bucket && has_labels(s, labels))
        {
            let le = s.labels.iter().find(|(k, _)| k == "le")?;
            let le = match le.1.as_str() {
                "+Inf" => f64::INFINITY,
                v => v.parse().ok()?,
            };
            match buckets.iter_mut().find(|(b, _)| *b == le) {
                Some((_, n)) => *n += s.value,
                None => buckets.push((le, s.value)),
            }
        }
        if buckets.is_empty() {
            return None;
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Histogram {
            buckets,
            count: self.sum_where(&format!("{name}_count"), labels),
            sum: self.sum_where(&format!("{name}_sum"), labels),
        })
    }
}

fn has_labels(s: &Sample, labels: &[(&str, &str)]) -> bool {
    labels
        .iter()
        .all(|(k, v)| s.labels.iter().any(|(k2, v2)| k2 == k && v2 == v))
}

/// A Prometheus histogram: cumulative bucket counts by upper bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(le, cumulative count)`, ascending; the last bound is `+Inf`.
    pub buckets: Vec<(f64, f64)>,
    /// Observations.
    pub count: f64,
    /// Sum of the observations.
    pub sum: f64,
}

impl Histogram {
    /// Mean observation; `None` without observations.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// Whether the `q` quantile lies past the largest finite bound (in the
    /// `+Inf` bucket), where [`Histogram::quantile`] can only say "at least
    /// the largest bound".
    pub fn beyond_last_bound(&self, q: f64) -> bool {
        let total = self.buckets.last().map_or(0.0, |b| b.1);
        let finite = self
            .buckets
            .iter()
            .rev()
            .find(|b| b.0.is_finite())
            .map_or(0.0, |b| b.1);
        total > 0.0 && q.clamp(0.0, 1.0) * total > finite
    }

    /// The `q` quantile (0 to 1) estimated from the buckets as PromQL's
    /// `histogram_quantile` does: find the bucket holding rank `q × count`
    /// and interpolate linearly inside it (from 0 for the first bucket). A
    /// rank in the `+Inf` bucket gives the largest finite bound: the
    /// estimate is only as fine as the buckets. `None` without
    /// observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total;
        let (mut lower, mut below) = (0.0, 0.0);
        for &(le, count) in &self.buckets {
            if count >= rank {
                if le.is_infinite() {
                    return Some(lower);
                }
                if count == below {
                    return Some(le);
                }
                return Some(lower + (le - lower) * (rank - below) / (count - below));
            }
            lower = le;
            below = count;
        }
        Some(lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What gavel's `Metrics::render` writes.
    const GAVEL: &str = r#"# HELP gavel_otlp_spans_total Spans in decodable /v1/traces requests.
# TYPE gavel_otlp_spans_total counter
gavel_otlp_spans_total{result="accepted"} 3000
gavel_otlp_spans_total{result="ignored"} 12
# TYPE gavel_trace_windows_closed_total counter
gavel_trace_windows_closed_total{reason="age"} 3
gavel_trace_windows_closed_total{reason="count"} 2
gavel_policy_set_info{version="abc\"1",name="a,b=c"} 1
gavel_trace_spans_buffered 0
# TYPE gavel_trace_window_evaluation_duration_seconds histogram
gavel_trace_window_evaluation_duration_seconds_bucket{le="0.0001"} 0
gavel_trace_window_evaluation_duration_seconds_bucket{le="0.01"} 0
gavel_trace_window_evaluation_duration_seconds_bucket{le="0.025"} 1
gavel_trace_window_evaluation_duration_seconds_bucket{le="0.05"} 3
gavel_trace_window_evaluation_duration_seconds_bucket{le="0.1"} 4
gavel_trace_window_evaluation_duration_seconds_bucket{le="+Inf"} 5
gavel_trace_window_evaluation_duration_seconds_sum 0.5
gavel_trace_window_evaluation_duration_seconds_count 5
"#;

    #[test]
    fn parses_gavel_metrics() {
        let m = parse(GAVEL).unwrap();
        assert_eq!(m.sum("gavel_otlp_spans_total"), 3012.0);
        assert_eq!(
            m.sum_where("gavel_otlp_spans_total", &[("result", "accepted")]),
            3000.0
        );
        assert_eq!(m.sum("gavel_trace_windows_closed_total"), 5.0);
        assert_eq!(
            m.by_label("gavel_trace_windows_closed_total", "reason"),
            vec![("age".to_owned(), 3.0), ("count".to_owned(), 2.0)]
        );
        assert_eq!(
            m.by_label("gavel_policy_set_info", "version"),
            vec![("abc\"1".to_owned(), 1.0)]
        );
        assert_eq!(
            m.by_label("gavel_policy_set_info", "name"),
            vec![("a,b=c".to_owned(), 1.0)]
        );
        assert_eq!(m.sum("gavel_trace_spans_buffered"), 0.0);
        assert_eq!(m.sum("no_such_metric"), 0.0);

        let h = m
            .histogram("gavel_trace_window_evaluation_duration_seconds", &[])
            .unwrap();
        assert_eq!(h.count, 5.0);
        assert_eq!(h.mean(), Some(0.1));
        assert_eq!(h.buckets.len(), 6);
        assert!(m.histogram("gavel_nothing", &[]).is_none());
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let h = Histogram {
            buckets: vec![
                (0.01, 0.0),
                (0.025, 1.0),
                (0.05, 3.0),
                (0.1, 4.0),
                (f64::INFINITY, 5.0),
            ],
            count: 5.0,
            sum: 0.5,
        };
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-12;
        // rank 2.5: in (0.025, 0.05], 1.5 of its 2 observations.
        assert!(close(h.quantile(0.5), 0.025 + 0.025 * 0.75));
        // rank 0.5: half-way into (0.01, 0.025].
        assert!(close(h.quantile(0.1), 0.0175));
        // rank 4.95: in the +Inf bucket: the largest finite bound.
        assert!(close(h.quantile(0.99), 0.1));
        assert!(h.beyond_last_bound(0.99));
        assert!(!h.beyond_last_bound(0.8), "rank 4: in the bucket at 0.1");
        // rank 0 falls in an empty first bucket: its bound.
        assert!(close(h.quantile(0.0), 0.01));
        // From 0 in the first bucket.
        let first = Histogram {
            buckets: vec![(0.1, 4.0), (f64::INFINITY, 4.0)],
            count: 4.0,
            sum: 0.2,
        };
        assert!(close(first.quantile(0.5), 0.05));
        let empty = Histogram {
            buckets: vec![(0.1, 0.0), (f64::INFINITY, 0.0)],
            count: 0.0,
            sum: 0.0,
        };
        assert_eq!(empty.quantile(0.5), None);
        assert!(!empty.beyond_last_bound(0.99));
        assert_eq!(empty.mean(), None);
    }

    #[test]
    fn refuses_lines_that_are_not_samples() {
        for bad in [
            "gavel_x",
            "gavel_x{le=\"1\" 2",
            "gavel_x{le=1} 2",
            "gavel_x abc",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
