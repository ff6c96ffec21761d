//! Prometheus metrics, in the text exposition format.
//!
//! A handful of counters and histograms keyed by small label sets; a mutex
//! per update is far below the cost of an evaluation, and keeping it local
//! avoids a registry dependency for ~150 lines.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Most series kept for each of `gavel_plugin_metric` and
/// `gavel_model_metric`: plugins choose their metric names and labels, so
/// without a bound one plugin could grow `/metrics` (and the daemon's memory)
/// without end. Values for further series are counted as dropped.
pub const MAX_PLUGIN_SERIES: usize = 2000;

/// Histogram buckets, seconds: 100 µs to 10 s.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += s;
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Inner {
    counters: BTreeMap<&'static str, BTreeMap<Labels, f64>>,
    gauges: BTreeMap<&'static str, BTreeMap<Labels, f64>>,
    histograms: BTreeMap<&'static str, BTreeMap<Labels, Histogram>>,
}

/// The daemon's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

const HELP: &[(&str, &str, &str)] = &[
    (
        "gavel_admission_requests_total",
        "counter",
        "Admission reviews answered, by decision.",
    ),
    (
        "gavel_admission_request_duration_seconds",
        "histogram",
        "Time to answer an admission review, by decision.",
    ),
    (
        "gavel_plugin_evaluations_total",
        "counter",
        "Plugin evaluations, by plugin and outcome (allow, warn, deny, or a failure kind).",
    ),
    (
        "gavel_plugin_evaluation_duration_seconds",
        "histogram",
        "Time per plugin evaluation, instantiation included.",
    ),
    (
        "gavel_plugin_failures_total",
        "counter",
        "Plugin failures, by plugin and failure kind.",
    ),
    (
        "gavel_http_requests_total",
        "counter",
        "HTTP requests, by path and status code.",
    ),
    (
        "gavel_policy_reloads_total",
        "counter",
        "Policy-set reload attempts that changed something, by result.",
    ),
    (
        "gavel_policy_set_info",
        "gauge",
        "The policy set serving now (value 1), by version and name.",
    ),
    (
        "gavel_policy_set_ready",
        "gauge",
        "1 when a valid policy set is serving.",
    ),
    (
        "gavel_audit_records_total",
        "counter",
        "Audit records written.",
    ),
    (
        "gavel_audit_errors_total",
        "counter",
        "Audit records that could not be written.",
    ),
    (
        "gavel_plugin_metric",
        "gauge",
        "The last value of each metric a plugin reported, by plugin and metric name.",
    ),
    (
        "gavel_plugin_metric_series_dropped_total",
        "counter",
        "Plugin metric values not kept because gavel_plugin_metric already has its maximum number of series.",
    ),
    (
        "gavel_otlp_spans_total",
        "counter",
        "Spans in decodable /v1/traces requests, by result: accepted into a window, ignored (not a GenAI span), rejected (malformed spans, reported in OTLP partial success, or a request with more spans than traces.maxBufferedSpans, answered 413), refused (the request was answered 429 or 503 for the exporter to retry). Bodies that cannot be decoded hold no countable spans: see gavel_http_requests_total{path=\"/v1/traces\"}.",
    ),
    (
        "gavel_trace_windows_closed_total",
        "counter",
        "Trace windows closed, by reason: count, age, evicted (at maxOpenWindows), reconfigured, shutdown.",
    ),
    (
        "gavel_trace_windows_open",
        "gauge",
        "Trace windows open now.",
    ),
    (
        "gavel_trace_spans_buffered",
        "gauge",
        "Spans held now: in open windows, and in closed windows waiting for evaluation.",
    ),
    (
        "gavel_trace_window_evaluation_duration_seconds",
        "histogram",
        "From a window closing to its verdict being recorded.",
    ),
    (
        "gavel_trace_window_decisions_total",
        "counter",
        "Trace windows judged, by composed decision.",
    ),
    (
        "gavel_model_metric",
        "gauge",
        "The last value of each metric a trace plugin reported for a model, by plugin, metric, namespace, service and model.",
    ),
    (
        "gavel_model_metric_series_dropped_total",
        "counter",
        "Per-model metric values not kept because gavel_model_metric already has its maximum number of series.",
    ),
    (
        "gavel_actions_total",
        "counter",
        "Remediation actions handed to the action sink, by result: delivered, retried, failed, dropped (queue full).",
    ),
];

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn inc(&self, name: &'static str, labels: Labels) {
        self.with(|m| {
            *m.counters
                .entry(name)
                .or_default()
                .entry(labels)
                .or_default() += 1.0
        });
    }

    fn observe(&self, name: &'static str, labels: Labels, d: Duration) {
        self.with(|m| {
            m.histograms
                .entry(name)
                .or_default()
                .entry(labels)
                .or_default()
                .observe(d)
        });
    }

    /// An admission review answered.
    pub fn admission(&self, decision: &str, d: Duration) {
        let l = vec![("decision", decision.to_owned())];
        self.inc("gavel_admission_requests_total", l.clone());
        self.observe("gavel_admission_request_duration_seconds", l, d);
    }

    /// A plugin evaluated; `outcome` is a decision or a failure kind.
    pub fn plugin(&self, plugin: &str, outcome: &str, failed: bool, d: Duration) {
        let l = vec![("plugin", plugin.to_owned())];
        let mut lo = l.clone();
        lo.push(("outcome", outcome.to_owned()));
        self.inc("gavel_plugin_evaluations_total", lo);
        if failed {
            let mut lk = l.clone();
            lk.push(("kind", outcome.to_owned()));
            self.inc("gavel_plugin_failures_total", lk);
        }
        self.observe("gavel_plugin_evaluation_duration_seconds", l, d);
    }

    /// Every plugin's part in a composed decision: its outcome and timing,
    /// and each metric it reported, handed to `metric` to be kept.
    pub fn plugins(
        &self,
        composed: &gavel_core::Composed,
        mut metric: impl FnMut(&gavel_core::PluginReport, &gavel_core::Metric),
    ) {
        for p in &composed.plugins {
            let (outcome, failed) = match &p.outcome {
                gavel_core::Outcome::Verdict(v) => (v.decision.as_str(), false),
                gavel_core::Outcome::Failed(f) => (f.kind.as_str(), true),
                gavel_core::Outcome::Skipped => continue,
            };
            self.plugin(&p.name, outcome, failed, p.duration);
            if let gavel_core::Outcome::Verdict(v) = &p.outcome {
                for m in &v.metrics {
                    metric(p, m);
                }
            }
        }
    }

    /// A metric a plugin reported.
    pub fn plugin_metric(
        &self,
        plugin: &str,
        metric: &str,
        labels: &[(String, String)],
        value: f64,
    ) {
        let mut l: Labels = vec![("plugin", plugin.to_owned()), ("metric", metric.to_owned())];
        // Plugin labels are free-form: fold them into one label to keep the
        // label names fixed.
        if !labels.is_empty() {
            l.push(("labels", fold_labels(labels)));
        }
        self.bounded_gauge(
            "gavel_plugin_metric",
            "gavel_plugin_metric_series_dropped_total",
            l,
            value,
        );
    }

    /// Set a series of a gauge whose label values plugins choose, unless the
    /// gauge already has [`MAX_PLUGIN_SERIES`] others: then count the value
    /// in `dropped`.
    fn bounded_gauge(&self, name: &'static str, dropped: &'static str, l: Labels, value: f64) {
        let kept = self.with(|m| {
            let series = m.gauges.entry(name).or_default();
            if series.len() >= MAX_PLUGIN_SERIES && !series.contains_key(&l) {
                return false;
            }
            series.insert(l, value);
            true
        });
        if !kept {
            self.inc(dropped, Vec::new());
        }
    }

    fn add(&self, name: &'static str, labels: Labels, n: f64) {
        self.with(|m| {
            *m.counters
                .entry(name)
                .or_default()
                .entry(labels)
                .or_default() += n
        });
    }

    fn gauge(&self, name: &'static str, labels: Labels, value: f64) {
        self.with(|m| {
            m.gauges.entry(name).or_default().insert(labels, value);
        });
    }

    /// Spans received on `/v1/traces` with this `result`.
    pub fn otlp_spans(&self, result: &str, n: usize) {
        if n > 0 {
            self.add(
                "gavel_otlp_spans_total",
                vec![("result", result.to_owned())],
                n as f64,
            );
        }
    }

    /// A trace window closed for `reason`.
    pub fn window_closed(&self, reason: &str) {
        self.inc(
            "gavel_trace_windows_closed_total",
            vec![("reason", reason.to_owned())],
        );
    }

    /// The windows open and spans held now.
    pub fn windows_state(&self, open: usize, buffered: usize) {
        self.gauge("gavel_trace_windows_open", Vec::new(), open as f64);
        self.gauge("gavel_trace_spans_buffered", Vec::new(), buffered as f64);
    }

    /// A window judged: its decision and the time since it closed.
    pub fn window_judged(&self, decision: &str, since_close: Duration) {
        self.inc(
            "gavel_trace_window_decisions_total",
            vec![("decision", decision.to_owned())],
        );
        self.observe(
            "gavel_trace_window_evaluation_duration_seconds",
            Vec::new(),
            since_close,
        );
    }

    /// A metric a trace plugin reported for one (namespace, service, model).
    /// The plugin's own labels (`group`, `entity`, ...) are folded into one
    /// `labels` label, as for `gavel_plugin_metric`.
    pub fn model_metric(&self, plugin: &str, metric: &gavel_core::Metric, key: [&str; 3]) {
        let [namespace, service, model] = key;
        let mut l: Labels = vec![
            ("plugin", plugin.to_owned()),
            ("metric", metric.name.clone()),
            ("namespace", namespace.to_owned()),
            ("service", service.to_owned()),
            ("model", model.to_owned()),
        ];
        if !metric.labels.is_empty() {
            l.push(("labels", fold_labels(&metric.labels)));
        }
        self.bounded_gauge(
            "gavel_model_metric",
            "gavel_model_metric_series_dropped_total",
            l,
            metric.value,
        );
    }

    /// Actions handed to the sink with this `result`.
    pub fn actions(&self, result: &str, n: usize) {
        self.add(
            "gavel_actions_total",
            vec![("result", result.to_owned())],
            n as f64,
        );
    }

    /// The current value of a counter or gauge series (tests, `gavel eval`).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.with(|m| {
            let series = m.counters.get(name).or_else(|| m.gauges.get(name))?;
            series
                .iter()
                .find(|(l, _)| {
                    l.len() == labels.len()
                        && l.iter()
                            .zip(labels)
                            .all(|((k, v), (k2, v2))| k == k2 && v == v2)
                })
                .map(|(_, v)| *v)
        })
    }

    /// An HTTP request answered.
    pub fn http(&self, path: &str, status: u16) {
        self.inc(
            "gavel_http_requests_total",
            vec![("path", path.to_owned()), ("code", status.to_string())],
        );
    }

    /// A reload attempt that changed something.
    pub fn reloaded(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.inc(
            "gavel_policy_reloads_total",
            vec![("result", result.to_owned())],
        );
    }

    /// The policy set serving now.
    pub fn set_config(&self, version: &str, name: &str) {
        self.with(|m| {
            let info = m.gauges.entry("gavel_policy_set_info").or_default();
            info.clear();
            info.insert(
                vec![("version", version.to_owned()), ("name", name.to_owned())],
                1.0,
            );
        });
    }

    /// Whether a policy set is serving.
    pub fn set_ready(&self, ready: bool) {
        self.with(|m| {
            m.gauges
                .entry("gavel_policy_set_ready")
                .or_default()
                .insert(Vec::new(), if ready { 1.0 } else { 0.0 });
        });
    }

    /// An audit record written, or not.
    pub fn audit(&self, ok: bool) {
        let name = if ok {
            "gavel_audit_records_total"
        } else {
            "gavel_audit_errors_total"
        };
        self.inc(name, Vec::new());
    }

    /// Render every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        self.with(|m| {
            let mut out = String::new();
            for (name, kind, help) in HELP {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                if let Some(series) = m.counters.get(name).or_else(|| m.gauges.get(name)) {
                    for (labels, v) in series {
                        let _ = writeln!(out, "{name}{} {v}", fmt_labels(labels, None));
                    }
                }
                if let Some(series) = m.histograms.get(name) {
                    for (labels, h) in series {
                        for (b, c) in BUCKETS.iter().zip(h.counts) {
                            let _ = writeln!(
                                out,
                                "{name}_bucket{} {c}",
                                fmt_labels(labels, Some(&b.to_string()))
                            );
                        }
                        let _ = writeln!(
                            out,
                            "{name}_bucket{} {}",
                            fmt_labels(labels, Some("+Inf")),
                            h.count
                        );
                        let _ = writeln!(out, "{name}_sum{} {}", fmt_labels(labels, None), h.sum);
                        let _ =
                            writeln!(out, "{name}_count{} {}", fmt_labels(labels, None), h.count);
                    }
                }
            }
            out
        })
    }
}

/// A plugin's free-form labels as one value: `k=v,k2=v2`.
fn fold_labels(labels: &[(String, String)]) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_escapes() {
        let m = Metrics::default();
        m.admission("deny", Duration::from_micros(300));
        m.plugin("cost", "fuel-exhausted", true, Duration::from_millis(2));
        m.set_config("abc\"1", "prod");
        let text = m.render();
        assert!(
            text.contains("gavel_admission_requests_total{decision=\"deny\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("gavel_admission_request_duration_seconds_bucket{decision=\"deny\",le=\"0.0005\"} 1\n"), "{text}");
        assert!(text.contains("gavel_admission_request_duration_seconds_bucket{decision=\"deny\",le=\"0.00025\"} 0\n"), "{text}");
        assert!(
            text.contains(
                "gavel_plugin_failures_total{plugin=\"cost\",kind=\"fuel-exhausted\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("gavel_policy_set_info{version=\"abc\\\"1\",name=\"prod\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE gavel_admission_request_duration_seconds histogram"),
            "{text}"
        );
    }

    #[test]
    fn plugin_chosen_series_are_bounded() {
        let m = Metrics::default();
        let labels = vec![("entity".to_owned(), "a".to_owned())];
        for i in 0..MAX_PLUGIN_SERIES + 5 {
            m.plugin_metric("chatty", &format!("m{i}"), &labels, 1.0);
        }
        // An existing series is still updated at the bound.
        m.plugin_metric("chatty", "m0", &labels, 7.0);
        let text = m.render();
        let kept = text
            .lines()
            .filter(|l| l.starts_with("gavel_plugin_metric{"))
            .count();
        assert_eq!(kept, MAX_PLUGIN_SERIES);
        assert!(
            text.contains("gavel_plugin_metric_series_dropped_total 5\n"),
            "{}",
            &text[text.len().saturating_sub(2000)..]
        );
        assert!(
            text.contains(
                "gavel_plugin_metric{plugin=\"chatty\",metric=\"m0\",labels=\"entity=a\"} 7\n"
            ),
            "the kept series is updated"
        );
    }
}
