//! Behaviour of the generator as the plugins will see it.

use std::collections::{BTreeMap, BTreeSet};

use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::{Content, ExportTraceServiceRequest, Options, Scenario, generate};

/// A span with the attributes of its resource.
struct Flat<'a> {
    resource: &'a [KeyValue],
    span: &'a Span,
}

fn flatten(requests: &[ExportTraceServiceRequest]) -> Vec<Flat<'_>> {
    requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| {
            let resource = &rs.resource.as_ref().unwrap().attributes;
            rs.scope_spans
                .iter()
                .flat_map(move |ss| ss.spans.iter().map(move |span| Flat { resource, span }))
        })
        .collect()
}

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn string(attrs: &[KeyValue], key: &str) -> Option<String> {
    match get(attrs, key)? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match get(attrs, key)? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

fn double(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match get(attrs, key)? {
        Value::DoubleValue(d) => Some(*d),
        _ => None,
    }
}

fn run(scenario: Scenario, options: &Options) -> Vec<ExportTraceServiceRequest> {
    generate(scenario, options).unwrap()
}

/// Selection rate per group over `spans`.
fn selection_rates(spans: &[&Flat<'_>]) -> BTreeMap<String, f64> {
    let mut counts: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for f in spans {
        let a = &f.span.attributes;
        let group = string(a, "gen_ai.fairness.group").expect("every span is a decision");
        let c = counts.entry(group).or_default();
        c.0 += 1;
        c.1 += int(a, "gen_ai.fairness.prediction").unwrap() as u32;
    }
    counts
        .into_iter()
        .map(|(g, (n, pos))| (g, f64::from(pos) / f64::from(n)))
        .collect()
}

fn parity_ratio(rates: &BTreeMap<String, f64>) -> f64 {
    let min = rates.values().copied().fold(f64::INFINITY, f64::min);
    let max = rates.values().copied().fold(0.0, f64::max);
    min / max
}

/// Spans grouped as gavel windows them: (namespace, service, model) and a
/// tumbling window of `window_secs`.
fn windows<'a>(
    flat: &'a [Flat<'a>],
    window_secs: u64,
) -> BTreeMap<(String, String, String, u64), Vec<&'a Flat<'a>>> {
    let mut out: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for f in flat {
        let key = (
            string(f.resource, "k8s.namespace.name").unwrap(),
            string(f.resource, "service.name").unwrap(),
            string(&f.span.attributes, "gen_ai.request.model").unwrap(),
            f.span.start_time_unix_nano / (window_secs * 1_000_000_000),
        );
        out.entry(key).or_default().push(f);
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let options = Options {
        spans: 500,
        ..Options::default()
    };
    for scenario in Scenario::ALL {
        let a = run(scenario, &options);
        assert_eq!(a, run(scenario, &options), "{scenario}");
        let other = Options {
            seed: 2,
            ..options.clone()
        };
        assert_ne!(a, run(scenario, &other), "{scenario}");
    }
}

#[test]
fn counts_and_batches_follow_the_options() {
    let options = Options {
        spans: 1001,
        batch_size: 100,
        ..Options::default()
    };
    let requests = run(Scenario::Healthy, &options);
    assert_eq!(requests.len(), 11);
    assert_eq!(flatten(&requests).len(), 1001);
    assert_eq!(crate::encode::span_count(&requests[10]), 1);
}

#[test]
fn ids_are_valid_and_unique() {
    let requests = run(Scenario::Mixed, &Options::default());
    let flat = flatten(&requests);
    let mut span_ids = BTreeSet::new();
    let mut parents = 0;
    for f in &flat {
        let s = f.span;
        assert_eq!(s.trace_id.len(), 16);
        assert_eq!(s.span_id.len(), 8);
        assert!(s.trace_id.iter().any(|&b| b != 0) && s.span_id.iter().any(|&b| b != 0));
        assert!(s.parent_span_id.is_empty() || s.parent_span_id.len() == 8);
        parents += usize::from(!s.parent_span_id.is_empty());
        assert!(span_ids.insert(s.span_id.clone()), "duplicate span id");
        assert!(s.start_time_unix_nano < s.end_time_unix_nano);
    }
    // Some spans have a (remote) parent and some are roots.
    assert!(parents > 0 && parents < flat.len());
}

#[test]
fn spans_carry_the_genai_conventions() {
    let requests = run(Scenario::Healthy, &Options::default());
    let mut errors = 0;
    for f in flatten(&requests) {
        let a = &f.span.attributes;
        for key in [
            "service.name",
            "k8s.namespace.name",
            "k8s.deployment.name",
            "k8s.pod.name",
        ] {
            assert!(string(f.resource, key).is_some(), "{key}");
        }
        assert_eq!(string(a, "gen_ai.operation.name").as_deref(), Some("chat"));
        let model = string(a, "gen_ai.request.model").unwrap();
        assert_eq!(f.span.name, format!("chat {model}"));
        assert!(string(a, "gen_ai.provider.name").is_some());
        assert!(string(a, "server.address").is_some());
        assert!(int(a, "gen_ai.usage.input_tokens").unwrap() > 0);
        assert!(int(a, "gen_ai.usage.output_tokens").is_some());
        assert!(matches!(
            get(a, "gen_ai.response.finish_reasons"),
            Some(Value::ArrayValue(_))
        ));
        let failed = f.span.status.as_ref().is_some_and(|s| s.code == 2);
        assert_eq!(failed, string(a, "error.type").is_some());
        assert_eq!(failed, string(a, "gen_ai.response.model").is_none());
        errors += usize::from(failed);
        // Healthy traffic records no message content.
        assert!(get(a, "gen_ai.input.messages").is_none());
        for event in &f.span.events {
            assert_eq!(event.name, "gpu.sample");
            assert!(event.time_unix_nano >= f.span.start_time_unix_nano);
            assert!(event.time_unix_nano <= f.span.end_time_unix_nano);
            let e = &event.attributes;
            let id = string(e, "gpu.id").unwrap();
            assert!(id.starts_with("GPU-") || id.starts_with("MIG-"), "{id}");
            assert!(string(e, "gpu.model").unwrap().starts_with("NVIDIA-"));
            let util = double(e, "gpu.utilization").unwrap();
            assert!((0.0..=100.0).contains(&util));
            assert!(int(e, "gpu.memory.used").unwrap() > 0);
            assert!(double(e, "gpu.power.usage").unwrap() > 0.0);
        }
        assert!(!f.span.events.is_empty());
    }
    assert!(errors > 0, "the default error rate produces some errors");
}

#[test]
fn concurrent_spans_carry_identical_samples() {
    let requests = run(Scenario::Healthy, &Options::default());
    let mut seen: BTreeMap<(String, u64), Vec<KeyValue>> = BTreeMap::new();
    let mut shared = 0;
    for f in flatten(&requests) {
        for e in &f.span.events {
            let key = (string(&e.attributes, "gpu.id").unwrap(), e.time_unix_nano);
            match seen.get(&key) {
                Some(attrs) => {
                    assert_eq!(attrs, &e.attributes);
                    shared += 1;
                }
                None => {
                    seen.insert(key, e.attributes.clone());
                }
            }
        }
    }
    assert!(shared > 0, "busy GPUs serve concurrent spans");
}

#[test]
fn fairness_drift_opens_a_rate_gap_in_every_window() {
    // gavel windows per (namespace, service, model); check one-minute windows.
    let requests = run(Scenario::FairnessDrift, &Options::default());
    let flat = flatten(&requests);
    let all: Vec<_> = flat.iter().collect();
    let rates = selection_rates(&all);
    assert!(rates["under-25"] < 0.3, "{rates:?}");
    assert!(rates["25-60"] > 0.5, "{rates:?}");
    assert!(parity_ratio(&rates) < 0.8);
    for (key, spans) in windows(&flat, 60) {
        let rates = selection_rates(&spans);
        assert!(parity_ratio(&rates) < 0.6, "{key:?}: {rates:?}");
    }
}

#[test]
fn healthy_windows_pass_the_four_fifths_rule() {
    let requests = run(Scenario::Healthy, &Options::default());
    let flat = flatten(&requests);
    for (key, spans) in windows(&flat, 60) {
        let rates = selection_rates(&spans);
        assert_eq!(rates.len(), 3);
        assert!(parity_ratio(&rates) > 0.85, "{key:?}: {rates:?}");
    }
}

#[test]
fn drift_starts_at_the_onset() {
    let options = Options {
        onset: 0.5,
        ..Options::default()
    };
    let requests = run(Scenario::FairnessDrift, &options);
    let flat = flatten(&requests);
    let middle = options.start_unix_nano + options.duration.as_nanos() as u64 / 2;
    let (before, after): (Vec<_>, Vec<_>) = flat
        .iter()
        .partition(|f| f.span.start_time_unix_nano < middle);
    assert!(parity_ratio(&selection_rates(&before)) > 0.9);
    assert!(parity_ratio(&selection_rates(&after)) < 0.6);
}

/// Mean utilisation of distinct (device, time) samples per service, as the
/// cost plugin computes it.
fn utilisation(requests: &[ExportTraceServiceRequest]) -> BTreeMap<String, (usize, f64)> {
    let mut samples: BTreeMap<String, BTreeMap<(String, u64), f64>> = BTreeMap::new();
    for f in flatten(requests) {
        let service = string(f.resource, "service.name").unwrap();
        for e in &f.span.events {
            let key = (string(&e.attributes, "gpu.id").unwrap(), e.time_unix_nano);
            samples
                .entry(service.clone())
                .or_default()
                .insert(key, double(&e.attributes, "gpu.utilization").unwrap());
        }
    }
    samples
        .into_iter()
        .map(|(s, m)| (s, (m.len(), m.values().sum::<f64>() / m.len() as f64)))
        .collect()
}

#[test]
fn idle_gpus_stay_under_the_idle_threshold() {
    let requests = run(Scenario::IdleGpu, &Options::default());
    for (service, (n, mean)) in utilisation(&requests) {
        // Cost plugin defaults: idleGpu.minSamples 10, thresholdPercent 10.
        assert!(n >= 10 && mean < 5.0, "{service}: {n} samples, mean {mean}");
    }
    for (service, (_, mean)) in utilisation(&run(Scenario::Healthy, &Options::default())) {
        assert!(mean > 60.0, "{service}: mean {mean}");
    }
}

fn messages(f: &Flat<'_>) -> Option<String> {
    string(&f.span.attributes, "gen_ai.input.messages")
}

#[test]
fn pii_leak_records_structured_messages_with_pii_in_a_fraction() {
    let options = Options {
        pii_fraction: 0.3,
        ..Options::default()
    };
    let requests = run(Scenario::PiiLeak, &options);
    let flat = flatten(&requests);
    let mut with_pii = 0;
    for f in &flat {
        let text = messages(f).expect("pii-leak records content");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json[0]["role"], "user");
        assert_eq!(json[0]["parts"][0]["type"], "text");
        let content = json[0]["parts"][0]["content"].as_str().unwrap();
        with_pii += usize::from(content.contains(|c: char| c.is_ascii_digit() || c == '@'));
        if f.span.status.as_ref().is_some_and(|s| s.code == 0) {
            let out: serde_json::Value = serde_json::from_str(
                &string(&f.span.attributes, "gen_ai.output.messages").unwrap(),
            )
            .unwrap();
            assert_eq!(out[0]["role"], "assistant");
            assert!(out[0]["finish_reason"].is_string());
        }
    }
    let share = with_pii as f64 / flat.len() as f64;
    assert!((0.25..0.35).contains(&share), "{share}");
}

#[test]
fn legacy_content_uses_gen_ai_prompt() {
    let options = Options {
        content: Some(Content::Legacy),
        spans: 200,
        ..Options::default()
    };
    let requests = run(Scenario::PiiLeak, &options);
    for f in flatten(&requests) {
        let prompt = string(&f.span.attributes, "gen_ai.prompt").unwrap();
        let json: serde_json::Value = serde_json::from_str(&prompt).unwrap();
        assert_eq!(json[0]["role"], "user");
        assert!(messages(&f).is_none());
    }
}

#[test]
fn explainability_drift_lowers_mean_fidelity() {
    let mean = |scenario| {
        let requests = run(scenario, &Options::default());
        let flat = flatten(&requests);
        let sum: f64 = flat
            .iter()
            .map(|f| double(&f.span.attributes, "gen_ai.explanation.fidelity").unwrap())
            .sum();
        sum / flat.len() as f64
    };
    // Explainer plugin default minFidelity: 0.8.
    assert!(mean(Scenario::ExplainabilityDrift) < 0.75);
    assert!(mean(Scenario::Healthy) > 0.85);
}

#[test]
fn mixed_puts_each_anomaly_on_its_own_service() {
    let options = Options {
        services: 4,
        ..Options::default()
    };
    let requests = run(Scenario::Mixed, &options);
    let flat = flatten(&requests);
    let by_service = |name: &str| -> Vec<&Flat<'_>> {
        flat.iter()
            .filter(|f| string(f.resource, "service.name").as_deref() == Some(name))
            .collect()
    };
    // Service order: support-chat, loan-advisor, doc-summarizer, claims-triage.
    assert!(parity_ratio(&selection_rates(&by_service("support-chat"))) < 0.6);
    assert!(parity_ratio(&selection_rates(&by_service("loan-advisor"))) > 0.85);
    let util = utilisation(&requests);
    assert!(util["loan-advisor"].1 < 5.0);
    assert!(util["support-chat"].1 > 60.0);
    let leaks = |name| {
        by_service(name)
            .iter()
            .filter(|f| messages(f).is_some_and(|m| m.contains('@')))
            .count()
    };
    assert!(leaks("doc-summarizer") > 0);
    assert_eq!(leaks("support-chat"), 0);
    let fidelity = |name| {
        let spans = by_service(name);
        spans
            .iter()
            .map(|f| double(&f.span.attributes, "gen_ai.explanation.fidelity").unwrap())
            .sum::<f64>()
            / spans.len() as f64
    };
    assert!(fidelity("claims-triage") < 0.75);
    assert!(fidelity("doc-summarizer") > 0.85);
}

#[test]
fn invalid_options_are_refused() {
    let cases = [
        Options {
            spans: 0,
            ..Options::default()
        },
        Options {
            batch_size: 0,
            ..Options::default()
        },
        Options {
            onset: 1.5,
            ..Options::default()
        },
        Options {
            pii_fraction: -0.1,
            ..Options::default()
        },
        Options {
            duration: std::time::Duration::ZERO,
            ..Options::default()
        },
        Options {
            start_unix_nano: u64::MAX - 10,
            ..Options::default()
        },
    ];
    for options in cases {
        assert!(
            generate(Scenario::Healthy, &options).is_err(),
            "{options:?}"
        );
    }
}

/// The cost plugin's GPU-hours anomaly rule on one window of one service:
/// GPU-seconds per request, second half over first, when requests are flat.
fn gpu_hours_anomaly(spans: &[&Flat<'_>]) -> Option<f64> {
    let start = spans.iter().map(|f| f.span.start_time_unix_nano).min()?;
    let end = spans.iter().map(|f| f.span.end_time_unix_nano).max()?;
    let mid = start + (end - start) / 2;
    let mut halves: [BTreeMap<String, Vec<(u64, u64)>>; 2] = Default::default();
    let mut requests = [0u64; 2];
    for f in spans {
        let half = usize::from(f.span.start_time_unix_nano >= mid);
        requests[half] += 1;
        let device = string(&f.span.events[0].attributes, "gpu.id").unwrap();
        let interval = (f.span.start_time_unix_nano, f.span.end_time_unix_nano);
        halves[half].entry(device).or_default().push(interval);
    }
    let busy = |devices: &BTreeMap<String, Vec<(u64, u64)>>| -> f64 {
        let mut total = 0;
        for intervals in devices.values() {
            let mut iv = intervals.clone();
            iv.sort();
            let (mut s, mut e) = iv[0];
            for &(a, b) in &iv[1..] {
                if a > e {
                    total += e - s;
                    (s, e) = (a, b);
                } else {
                    e = e.max(b);
                }
            }
            total += e - s;
        }
        total as f64
    };
    let [r1, r2] = requests;
    if r1 < 10 || r2 < 10 {
        return None;
    }
    let ratio = (busy(&halves[1]) / r2 as f64) / (busy(&halves[0]) / r1 as f64);
    let flat = r2.abs_diff(r1) as f64 <= 0.2 * r1 as f64;
    (flat && ratio > 1.5).then_some(ratio)
}

#[test]
fn healthy_windows_show_no_gpu_hours_anomaly() {
    for seed in 1..=5 {
        let options = Options {
            seed,
            ..Options::default()
        };
        for scenario in [Scenario::Healthy, Scenario::Mixed] {
            let requests = run(scenario, &options);
            let flat = flatten(&requests);
            let mut by_service: BTreeMap<_, Vec<&Flat<'_>>> = BTreeMap::new();
            for ((ns, service, _, window), spans) in windows(&flat, 60) {
                by_service
                    .entry((ns, service, window))
                    .or_default()
                    .extend(spans);
            }
            for (key, spans) in by_service {
                assert_eq!(
                    gpu_hours_anomaly(&spans),
                    None,
                    "seed {seed} {scenario} {key:?}"
                );
            }
        }
    }
}
