//! Judging a batch of inference spans: GPU time and cost per service and
//! model, idle GPUs, and GPU time per request that rises while traffic stays
//! flat.
//!
//! **GPU time.** A span's GPU samples say which devices (a GPU, or a MIG
//! slice of one) served it. A device is busy for a service while any of the
//! service's spans it served is running, so its busy time is the length of
//! the union of those spans' intervals: concurrent requests batched on one
//! GPU are not counted twice. GPU-hours weigh a MIG slice by its share of the
//! GPU's compute slices. This is a lower bound of what the service holds: a
//! GPU idle between requests is reserved too, but no span shows it.

use std::collections::{BTreeMap, BTreeSet};

use gavel_sdk::prelude::*;

use crate::pricing;
use crate::settings::Settings;

/// Finding code: a service's GPUs are mostly idle.
pub const GPU_IDLE: &str = "cost.gpu-idle";
/// Finding code: GPU time per request rose while request counts stayed flat.
pub const GPU_ANOMALY: &str = "cost.gpu-hours-anomaly";

/// A device: GPU identifier and MIG profile.
type DeviceKey<'a> = (&'a str, Option<&'a str>);

/// A device's GPU product and the intervals (Unix nanoseconds) it was busy.
type Busy<'a> = (&'a str, Vec<(u64, u64)>);

/// Usage of a set of spans.
#[derive(Default)]
struct Usage<'a> {
    requests: usize,
    /// Distinct samples (device, time): concurrent spans carry the same ones.
    samples: BTreeSet<(DeviceKey<'a>, u64)>,
    utilization_sum: f64,
    /// Per device: its GPU product and the intervals it was busy.
    devices: BTreeMap<DeviceKey<'a>, Busy<'a>>,
    /// The most devices one span used: how many GPUs a replica holds.
    devices_per_span: usize,
}

impl<'a> Usage<'a> {
    fn of(spans: &[&'a InferenceSpan]) -> Self {
        let mut usage = Usage::default();
        for span in spans {
            usage.requests += 1;
            let end = span.end_unix_nano.max(span.start_unix_nano);
            let mut in_span = BTreeSet::new();
            for s in &span.gpu_samples {
                let device = (s.gpu.as_str(), s.mig_profile.as_deref());
                if in_span.insert(device) {
                    let entry = usage
                        .devices
                        .entry(device)
                        .or_insert((s.model.as_str(), Vec::new()));
                    entry.1.push((span.start_unix_nano, end));
                }
                if usage.samples.insert((device, s.time_unix_nano))
                    && s.utilization_percent.is_finite()
                {
                    usage.utilization_sum += s.utilization_percent.clamp(0.0, 100.0);
                }
            }
            usage.devices_per_span = usage.devices_per_span.max(in_span.len());
        }
        usage
    }

    fn mean_utilization(&self) -> f64 {
        self.utilization_sum / self.samples.len().max(1) as f64
    }

    /// GPU-hours (MIG slices weighted) and their cost in USD.
    fn gpu_hours_and_cost(&self, settings: &Settings) -> (f64, f64) {
        let prices = &settings.prices;
        let mut hours = 0.0;
        let mut cost = 0.0;
        for ((_, profile), (model, intervals)) in &self.devices {
            let busy = union_nanos(intervals) as f64 / 3.6e12;
            let model = Some(*model).filter(|m| !m.is_empty());
            let (share, price) = match profile {
                Some(p) => (
                    pricing::mig_fraction(prices, p),
                    pricing::mig_slice_hour(prices, p, model),
                ),
                None => (1.0, pricing::gpu_hour(prices, model)),
            };
            hours += busy * share;
            cost += busy * price;
        }
        (hours, cost)
    }
}

/// Total length of the union of `intervals`, in nanoseconds.
fn union_nanos(intervals: &[(u64, u64)]) -> u64 {
    let mut sorted = intervals.to_vec();
    sorted.sort_unstable();
    let mut total = 0;
    let mut current: Option<(u64, u64)> = None;
    for (start, end) in sorted {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map_or(0, |(s, e)| e - s)
}

/// Judge a batch of spans.
pub fn evaluate(spans: &[InferenceSpan], settings: &Settings) -> Verdict {
    let mut verdict = VerdictBuilder::new();
    let mut by_model: BTreeMap<(&str, &str, &str), Vec<&InferenceSpan>> = BTreeMap::new();
    let mut by_service: BTreeMap<(&str, &str), Vec<&InferenceSpan>> = BTreeMap::new();
    for span in spans {
        let namespace = span.namespace.as_deref().unwrap_or("");
        by_model
            .entry((namespace, span.service.as_str(), span.model.as_str()))
            .or_default()
            .push(span);
        by_service
            .entry((namespace, span.service.as_str()))
            .or_default()
            .push(span);
    }

    for ((namespace, service, model), spans) in &by_model {
        let usage = Usage::of(spans);
        let labels = [
            ("namespace", *namespace),
            ("service", *service),
            ("model", *model),
        ];
        verdict.metric_with_labels("requests_total", usage.requests as f64, labels);
        if usage.samples.is_empty() {
            continue;
        }
        let (hours, cost) = usage.gpu_hours_and_cost(settings);
        verdict
            .metric_with_labels(
                "gpu_utilization_mean_percent",
                usage.mean_utilization(),
                labels,
            )
            .metric_with_labels("gpu_hours", hours, labels)
            .metric_with_labels("gpu_cost_usd", cost, labels);
    }

    for ((namespace, service), spans) in &by_service {
        idle(&mut verdict, namespace, service, spans, settings);
        anomaly(&mut verdict, namespace, service, spans, settings);
    }
    verdict.build()
}

/// Whom a scale-down targets: `namespace/service`, or the service alone.
fn target(namespace: &str, service: &str) -> String {
    if namespace.is_empty() {
        service.to_owned()
    } else {
        format!("{namespace}/{service}")
    }
}

/// Idle GPUs: mean utilisation of a service's distinct samples below the
/// threshold, over at least `minSamples`. Recommends the replica count that
/// would run the same work at the target utilisation, when that is fewer.
fn idle(
    verdict: &mut VerdictBuilder,
    namespace: &str,
    service: &str,
    spans: &[&InferenceSpan],
    settings: &Settings,
) {
    let config = &settings.idle_gpu;
    let usage = Usage::of(spans);
    let samples = usage.samples.len();
    let mean = usage.mean_utilization();
    if samples < config.min_samples as usize || mean >= config.threshold_percent {
        return;
    }
    let replicas = usage.devices.len().div_ceil(usage.devices_per_span.max(1));
    let needed = (replicas as f64 * mean / config.target_utilization_percent)
        .ceil()
        .max(1.0) as usize;
    let target = target(namespace, service);
    let advice = if needed < replicas {
        format!("scale {target} down from about {replicas} to {needed} replicas")
    } else {
        "move it to a MIG slice or a time-sliced GPU, or let it scale to zero when unused"
            .to_owned()
    };
    verdict.warn(
        finding(
            GPU_IDLE,
            format!(
                "the GPUs serving {target} averaged {mean:.1}% utilisation over {samples} samples, below the {}% idle threshold: {advice}",
                config.threshold_percent
            ),
        )
        .severity(Severity::Medium),
    );
    if needed < replicas {
        verdict.action(Action::scale_down(
            target,
            u32::try_from(needed).unwrap_or(u32::MAX),
            format!("GPUs averaged {mean:.1}% utilisation"),
        ));
    }
}

/// The anomaly: split the batch's time range `[first start, last end]` at its
/// midpoint, each span going to the half its start falls in. With `g` the
/// GPU-seconds and `r` the requests of a half, it is anomalous when both
/// halves have at least `minRequests`, `|r2 - r1| <= requestTolerance × r1`,
/// and `(g2 / r2) / (g1 / r1) > ratio`.
fn anomaly(
    verdict: &mut VerdictBuilder,
    namespace: &str,
    service: &str,
    spans: &[&InferenceSpan],
    settings: &Settings,
) {
    let config = &settings.anomaly;
    let (Some(first), Some(last)) = (
        spans.iter().map(|s| s.start_unix_nano).min(),
        spans
            .iter()
            .map(|s| s.end_unix_nano.max(s.start_unix_nano))
            .max(),
    ) else {
        return;
    };
    let middle = first + (last - first) / 2;
    let (early, late): (Vec<&InferenceSpan>, Vec<&InferenceSpan>) =
        spans.iter().partition(|s| s.start_unix_nano < middle);
    let (early, late) = (Usage::of(&early), Usage::of(&late));
    let min = config.min_requests as usize;
    if early.requests < min || late.requests < min {
        return;
    }
    let (g1, g2) = (
        early.gpu_hours_and_cost(settings).0,
        late.gpu_hours_and_cost(settings).0,
    );
    if g1 <= 0.0 {
        return;
    }
    let (r1, r2) = (early.requests as f64, late.requests as f64);
    let ratio = (g2 / r2) / (g1 / r1);
    verdict.metric_with_labels(
        "gpu_seconds_per_request_ratio",
        ratio,
        [("namespace", namespace), ("service", service)],
    );
    let flat = (r2 - r1).abs() <= config.request_tolerance * r1;
    if flat && ratio > config.ratio {
        let target = target(namespace, service);
        let message = format!(
            "GPU time per request of {target} rose {ratio:.2}x between the halves of the batch while requests stayed flat ({} then {}): check for a slower model version, lost batching, or replicas added without traffic",
            early.requests, late.requests
        );
        verdict.warn(finding(GPU_ANOMALY, message.clone()).severity(Severity::Medium));
        verdict.action(Action::alert(Severity::Medium, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_of_intervals() {
        assert_eq!(union_nanos(&[]), 0);
        assert_eq!(union_nanos(&[(0, 10)]), 10);
        assert_eq!(union_nanos(&[(0, 10), (5, 15)]), 15);
        assert_eq!(union_nanos(&[(20, 30), (0, 10)]), 20);
        assert_eq!(union_nanos(&[(0, 10), (10, 20)]), 20);
        assert_eq!(union_nanos(&[(0, 100), (10, 20), (30, 40)]), 100);
        assert_eq!(union_nanos(&[(5, 5)]), 0);
    }
}
