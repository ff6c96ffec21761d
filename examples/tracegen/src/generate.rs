//! Turns a scenario and options into OTLP export requests.
//!
//! The generator first plans every span (service, pod, times, token counts)
//! with one seeded RNG, sorts the plans by start time, and then builds spans
//! batch by batch as the caller pulls them, so a million spans can be
//! streamed without holding them all as protobuf messages.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value::Value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::fleet::{self, Device, Service};
use crate::pii;
use crate::scenario::Scenario;

/// Whether and how spans record message content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// No message content (the conventions' default: capturing it is opt-in).
    Off,
    /// `gen_ai.input.messages` and `gen_ai.output.messages` as JSON text in
    /// the GenAI structured-message format.
    Structured,
    /// The deprecated `gen_ai.prompt` and `gen_ai.completion` attributes, as
    /// JSON arrays of `{role, content}` objects.
    Legacy,
}

/// The kind of the generated spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// Spans recorded by the model server, whose pod holds the GPU.
    Server,
    /// Spans recorded by a client of the model server (the conventions'
    /// recommended kind for inference spans).
    Client,
}

/// Everything a run needs besides the scenario. `Options::default()` is a
/// small, fixed run: 3000 spans over five minutes from 2026-01-01T00:00:00Z.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seeds every random choice: the same options give the same bytes.
    pub seed: u64,
    /// Number of spans in all.
    pub spans: usize,
    /// Spans per export request.
    pub batch_size: usize,
    /// Number of model-serving Deployments.
    pub services: usize,
    /// Number of namespaces the services are spread over (round robin).
    pub namespaces: usize,
    /// Models each service serves.
    pub models_per_service: usize,
    /// Pods per service; each holds one GPU or MIG slice.
    pub replicas: usize,
    /// Start of the time range, in Unix nanoseconds.
    pub start_unix_nano: u64,
    /// Length of the time range the spans are spread over, evenly.
    pub duration: Duration,
    /// Fraction of the time range after which the scenario's anomalies begin
    /// (0 means from the start): `0.5` shows a healthy half, then the drift.
    pub onset: f64,
    /// Message content; `None` lets the scenario decide (on for `pii-leak`
    /// and `mixed`, off otherwise).
    pub content: Option<Content>,
    /// Fraction of the prompts of a leaking service that carry personal data.
    pub pii_fraction: f64,
    /// Fraction of spans that end in an error.
    pub error_rate: f64,
    /// The kind of every span.
    pub span_kind: SpanKind,
    /// Period of the GPU sampler (DCGM's collection interval).
    pub sample_interval: Duration,
}

/// 2026-01-01T00:00:00Z.
const DEFAULT_START_UNIX_NANO: u64 = 1_767_225_600 * 1_000_000_000;

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: 1,
            spans: 3000,
            batch_size: 200,
            services: 3,
            namespaces: 2,
            models_per_service: 1,
            replicas: 2,
            start_unix_nano: DEFAULT_START_UNIX_NANO,
            duration: Duration::from_secs(300),
            onset: 0.0,
            content: None,
            pii_fraction: 0.1,
            error_rate: 0.01,
            span_kind: SpanKind::Server,
            sample_interval: Duration::from_secs(1),
        }
    }
}

/// Options the generator cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// A count that must be at least one is zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// A fraction outside [0, 1].
    #[error("{name} must be between 0 and 1, got {value}")]
    Fraction {
        /// The option's name.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A duration of zero.
    #[error("{0} must be longer than zero")]
    ZeroDuration(&'static str),
    /// The time range does not fit in 64-bit Unix nanoseconds.
    #[error(
        "the time range ends after the year 2554: choose an earlier start or a shorter duration"
    )]
    TimeOverflow,
}

impl Options {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptionsError> {
        for (name, v) in [
            ("spans", self.spans),
            ("batch size", self.batch_size),
            ("services", self.services),
            ("namespaces", self.namespaces),
            ("models per service", self.models_per_service),
            ("replicas", self.replicas),
        ] {
            if v == 0 {
                return Err(OptionsError::Zero(name));
            }
        }
        for (name, value) in [
            ("onset", self.onset),
            ("pii fraction", self.pii_fraction),
            ("error rate", self.error_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(OptionsError::Fraction { name, value });
            }
        }
        if self.duration.is_zero() {
            return Err(OptionsError::ZeroDuration("duration"));
        }
        if self.sample_interval.is_zero() {
            return Err(OptionsError::ZeroDuration("sample interval"));
        }
        u64::try_from(self.duration.as_nanos())
            .ok()
            .and_then(|d| self.start_unix_nano.checked_add(d))
            .and_then(|end| end.checked_add(120 * 1_000_000_000))
            .ok_or(OptionsError::TimeOverflow)?;
        Ok(())
    }
}

/// Generates every export request of a run.
pub fn generate(
    scenario: Scenario,
    options: &Options,
) -> Result<Vec<ExportTraceServiceRequest>, OptionsError> {
    Ok(Generator::new(scenario, options)?.collect())
}

/// The sensitive groups, their share of the traffic and their healthy
/// selection rates. Names follow the bias plugin's README.
const GROUPS: &[(&str, f64, f64)] = &[
    ("under-25", 0.3, 0.54),
    ("25-60", 0.4, 0.56),
    ("over-60", 0.3, 0.55),
];
/// The group whose selection rate drops in `fairness-drift`, and to what.
const DRIFT_GROUP: usize = 0;
const DRIFT_RATE: f64 = 0.25;
/// Base rate of favourable ground truth, the same in every group.
const LABEL_BASE_RATE: f64 = 0.55;
/// P(label favourable | prediction favourable).
const PRECISION: f64 = 0.88;
/// Share of spans whose ground truth is known.
const LABELLED: f64 = 0.8;

const MAX_SAMPLES_PER_SPAN: u64 = 10;
const SERVER_PORT: i64 = 8000;

const ERRORS: &[(&str, &str)] = &[
    ("timeout", "request exceeded its deadline"),
    ("500", "internal server error"),
    ("cancelled", "client closed the connection"),
];

/// Everything decided about a span before it is built.
#[derive(Debug, Clone)]
struct Plan {
    service: usize,
    model: usize,
    pod: usize,
    start: u64,
    end: u64,
    input_tokens: i64,
    output_tokens: i64,
    max_tokens: i64,
    temperature: f64,
    finish_reason: &'static str,
    error: Option<usize>,
    has_parent: bool,
}

/// An iterator over a run's export requests, built lazily.
pub struct Generator {
    seed: u64,
    services: Vec<Service>,
    plans: Vec<Plan>,
    next: usize,
    batch_size: usize,
    rng: StdRng,
    content: Content,
    pii_fraction: f64,
    span_kind: SpanKind,
    sample_interval: u64,
    onset_unix_nano: u64,
    /// Error-diffusion accumulators of the selection rate, per
    /// (service, model, group): every stretch of a group's spans has the
    /// target rate to within one span, so a window of any length shows it.
    selection: HashMap<(usize, usize, usize), f64>,
}

/// `u` in [0, 1) spread logarithmically over [lo, hi].
fn log_uniform(u: f64, lo: f64, hi: f64) -> f64 {
    (lo.ln() + u * (hi.ln() - lo.ln())).exp()
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        // Profiles only.
        key_strindex: 0,
    }
}

fn kv_str(key: &str, v: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(v.into()))
}

/// SplitMix64: the sample values of a device at a tick are a pure function of
/// (seed, device, tick), so concurrent spans carry identical samples.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(z: u64) -> f64 {
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl Generator {
    /// Plans a run. Building the spans happens as the iterator is pulled.
    pub fn new(scenario: Scenario, options: &Options) -> Result<Generator, OptionsError> {
        options.validate()?;
        let mut rng = StdRng::seed_from_u64(options.seed);
        let services = fleet::build(
            &mut rng,
            scenario,
            options.services,
            options.namespaces,
            options.models_per_service,
            options.replicas,
        );
        let duration = u64::try_from(options.duration.as_nanos()).expect("validated");
        let start = options.start_unix_nano;
        let end = start + duration;
        let total_weight: f64 = services.iter().map(|s| s.weight).sum();

        let mut plans = Vec::with_capacity(options.spans);
        for i in 0..options.spans {
            // Arrivals are spread evenly, so each service's request rate is
            // flat (the cost plugin's anomaly rule compares halves).
            let at = start
                + (duration as f64 * (i as f64 + rng.random::<f64>()) / options.spans as f64)
                    as u64;
            let mut pick = rng.random::<f64>() * total_weight;
            let service = services
                .iter()
                .position(|s| {
                    pick -= s.weight;
                    pick < 0.0
                })
                .unwrap_or(services.len() - 1);
            let svc = &services[service];
            let model = rng.random_range(0..svc.models.len());
            let pod = rng.random_range(0..svc.pods.len());
            let max_tokens = [512i64, 1024][rng.random_range(0..2)];
            let input_tokens = log_uniform(rng.random(), 24.0, 3000.0) as i64;
            // Answers of 40–400 tokens, a few cut at max_tokens. A wider
            // spread would make GPU-seconds per request noisy enough for
            // healthy windows to cross the cost plugin's anomaly ratio.
            let (mut output_tokens, mut finish_reason) = if rng.random_bool(0.04) {
                (max_tokens, "length")
            } else {
                (log_uniform(rng.random(), 40.0, 400.0) as i64, "stop")
            };
            let error = rng
                .random_bool(options.error_rate)
                .then(|| rng.random_range(0..ERRORS.len()));
            if let Some(e) = error {
                finish_reason = "error";
                if ERRORS[e].0 == "500" {
                    output_tokens = 0;
                }
            }
            let ttft_ms = 25.0 + input_tokens as f64 * 0.08 + rng.random::<f64>() * 40.0;
            let tpot_ms = svc.models[model].tpot_ms * (0.8 + 0.4 * rng.random::<f64>());
            let span_ns = ((ttft_ms + output_tokens as f64 * tpot_ms) * 1e6) as u64;
            // Keep the span inside the range when it fits.
            let span_start = at.min(end.saturating_sub(span_ns)).max(start);
            plans.push(Plan {
                service,
                model,
                pod,
                start: span_start,
                end: span_start + span_ns,
                input_tokens,
                output_tokens,
                max_tokens,
                temperature: [0.0, 0.2, 0.7, 1.0][rng.random_range(0..4)],
                finish_reason,
                error,
                has_parent: rng.random_bool(0.7),
            });
        }
        plans.sort_by_key(|p| p.start);

        let mut selection = HashMap::new();
        for (s, svc) in services.iter().enumerate() {
            for m in 0..svc.models.len() {
                for g in 0..GROUPS.len() {
                    selection.insert((s, m, g), rng.random::<f64>());
                }
            }
        }
        let content = options.content.unwrap_or(if scenario.records_content() {
            Content::Structured
        } else {
            Content::Off
        });
        Ok(Generator {
            seed: options.seed,
            services,
            plans,
            next: 0,
            batch_size: options.batch_size,
            rng,
            content,
            pii_fraction: options.pii_fraction,
            span_kind: options.span_kind,
            sample_interval: u64::try_from(options.sample_interval.as_nanos()).unwrap_or(u64::MAX),
            onset_unix_nano: start + (duration as f64 * options.onset) as u64,
            selection,
        })
    }

    /// Number of spans the run produces.
    pub fn spans(&self) -> usize {
        self.plans.len()
    }

    fn active(&self, at: u64) -> bool {
        at >= self.onset_unix_nano
    }

    fn random_id<const N: usize>(&mut self) -> Vec<u8> {
        loop {
            let id: [u8; N] = self.rng.random();
            if id.iter().any(|&b| b != 0) {
                return id.to_vec();
            }
        }
    }

    fn resource(&self, service: usize, pod: usize) -> Resource {
        let svc = &self.services[service];
        Resource {
            attributes: vec![
                kv_str("service.name", &svc.name),
                kv_str("k8s.namespace.name", &svc.namespace),
                kv_str("k8s.deployment.name", &svc.name),
                kv_str("k8s.pod.name", &svc.pods[pod].name),
            ],
            dropped_attributes_count: 0,
            entity_refs: Vec::new(),
        }
    }

    /// The sample of `device` at `time`, as a `gpu.sample` event.
    fn gpu_sample(&self, device: &Device, idle_service: bool, time: u64) -> span::Event {
        let tick = time / self.sample_interval;
        let h = mix(self.seed ^ mix(device.key ^ mix(tick)));
        let (u1, u2, u3) = (unit(h), unit(mix(h)), unit(mix(mix(h))));
        let p = device.product;
        // DCGM reports utilisation in whole percent.
        let utilization = if idle_service && self.active(time) {
            (u1 * 4.0).floor()
        } else {
            (55.0 + u1 * 40.0).floor()
        };
        let power =
            p.idle_watts + (p.max_watts - p.idle_watts) * utilization / 100.0 * (0.85 + 0.15 * u2);
        // Inference servers reserve ~90% of the framebuffer at start, busy or not.
        let memory_mib = (p.framebuffer_mib * (0.88 + 0.02 * u3)) as i64;
        let mut attributes = vec![kv_str("gpu.id", &device.id), kv_str("gpu.model", p.name)];
        if let Some(profile) = p.mig_profile {
            attributes.push(kv_str("gpu.mig.profile", profile));
        }
        attributes.extend([
            kv("gpu.utilization", Value::DoubleValue(utilization)),
            kv("gpu.memory.used", Value::IntValue(memory_mib)),
            kv(
                "gpu.power.usage",
                Value::DoubleValue((power * 100.0).round() / 100.0),
            ),
        ]);
        span::Event {
            time_unix_nano: time,
            name: "gpu.sample".to_owned(),
            attributes,
            dropped_attributes_count: 0,
        }
    }

    /// Sampler ticks inside [start, end], at most ten, evenly thinned; a span
    /// shorter than one period gets the sample taken as it ended.
    fn sample_times(&self, start: u64, end: u64) -> Vec<u64> {
        let iv = self.sample_interval;
        let first = start.div_ceil(iv).saturating_mul(iv);
        let last = end / iv * iv;
        if first > last {
            return vec![end];
        }
        let count = (last - first) / iv + 1;
        if count <= MAX_SAMPLES_PER_SPAN {
            return (0..count).map(|k| first + k * iv).collect();
        }
        (0..MAX_SAMPLES_PER_SPAN)
            .map(|k| first + k * (count - 1) / (MAX_SAMPLES_PER_SPAN - 1) * iv)
            .collect()
    }

    fn build(&mut self, plan: &Plan) -> Span {
        let svc = &self.services[plan.service];
        let model = svc.models[plan.model].name;
        let anomalies = svc.anomalies;
        let active = self.active(plan.start);
        let device = svc.pods[plan.pod].device.clone();
        let server = format!("{}.{}.svc.cluster.local", svc.name, svc.namespace);
        let provider = svc.provider;

        let trace_id = self.random_id::<16>();
        let span_id = self.random_id::<8>();
        let parent_span_id = if plan.has_parent {
            self.random_id::<8>()
        } else {
            Vec::new()
        };

        let mut attributes = vec![
            kv_str("gen_ai.operation.name", "chat"),
            kv_str("gen_ai.provider.name", provider),
            kv_str("gen_ai.request.model", model),
            kv(
                "gen_ai.request.max_tokens",
                Value::IntValue(plan.max_tokens),
            ),
            kv(
                "gen_ai.request.temperature",
                Value::DoubleValue(plan.temperature),
            ),
            kv_str("server.address", &server),
            kv("server.port", Value::IntValue(SERVER_PORT)),
            kv(
                "gen_ai.usage.input_tokens",
                Value::IntValue(plan.input_tokens),
            ),
            kv(
                "gen_ai.usage.output_tokens",
                Value::IntValue(plan.output_tokens),
            ),
            kv(
                "gen_ai.response.finish_reasons",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::StringValue(plan.finish_reason.to_owned())),
                    }],
                }),
            ),
        ];
        if plan.error.is_none() {
            let id: [u8; 12] = self.rng.random();
            attributes.push(kv_str("gen_ai.response.model", model));
            attributes.push(kv_str(
                "gen_ai.response.id",
                format!("chatcmpl-{}", hex::encode(id)),
            ));
        }

        // Fairness: one decision about one person.
        let group = {
            let mut u = self.rng.random::<f64>();
            GROUPS
                .iter()
                .position(|&(_, share, _)| {
                    u -= share;
                    u < 0.0
                })
                .unwrap_or(GROUPS.len() - 1)
        };
        let rate = if anomalies.fairness_drift && active && group == DRIFT_GROUP {
            DRIFT_RATE
        } else {
            GROUPS[group].2
        };
        let acc = self
            .selection
            .get_mut(&(plan.service, plan.model, group))
            .expect("every key is seeded");
        *acc += rate;
        let prediction = *acc >= 1.0;
        if prediction {
            *acc -= 1.0;
        }
        attributes.push(kv_str("gen_ai.fairness.group", GROUPS[group].0));
        attributes.push(kv(
            "gen_ai.fairness.prediction",
            Value::IntValue(i64::from(prediction)),
        ));
        if self.rng.random_bool(LABELLED) {
            // Ground truth has the same base rate in every group; a drifted
            // group's declines are then wrong more often.
            let p_label = if prediction {
                PRECISION
            } else {
                ((LABEL_BASE_RATE - PRECISION * rate) / (1.0 - rate)).clamp(0.0, 1.0)
            };
            let label = self.rng.random_bool(p_label);
            attributes.push(kv(
                "gen_ai.fairness.label",
                Value::IntValue(i64::from(label)),
            ));
        }

        // Explanation quality, as the explainer sidecar scores it.
        let (fidelity, stability) = if anomalies.fidelity_drift && active {
            (
                0.58 + 0.22 * self.rng.random::<f64>(),
                0.55 + 0.3 * self.rng.random::<f64>(),
            )
        } else {
            (
                0.84 + 0.14 * self.rng.random::<f64>(),
                0.85 + 0.14 * self.rng.random::<f64>(),
            )
        };
        let round3 = |v: f64| (v * 1000.0).round() / 1000.0;
        attributes.push(kv(
            "gen_ai.explanation.fidelity",
            Value::DoubleValue(round3(fidelity)),
        ));
        attributes.push(kv(
            "gen_ai.explanation.stability",
            Value::DoubleValue(round3(stability)),
        ));

        if self.content != Content::Off {
            let leak = anomalies.pii && active && self.rng.random_bool(self.pii_fraction);
            let exchange = if leak {
                pii::pii_exchange(&mut self.rng)
            } else {
                pii::clean_exchange(&mut self.rng)
            };
            let answered = plan.error.is_none();
            match self.content {
                Content::Structured => {
                    let input = serde_json::json!([{
                        "role": "user",
                        "parts": [{"type": "text", "content": exchange.prompt}],
                    }]);
                    attributes.push(kv_str("gen_ai.input.messages", input.to_string()));
                    if answered {
                        let output = serde_json::json!([{
                            "role": "assistant",
                            "parts": [{"type": "text", "content": exchange.answer}],
                            "finish_reason": plan.finish_reason,
                        }]);
                        attributes.push(kv_str("gen_ai.output.messages", output.to_string()));
                    }
                }
                Content::Legacy => {
                    let prompt = serde_json::json!([{"role": "user", "content": exchange.prompt}]);
                    attributes.push(kv_str("gen_ai.prompt", prompt.to_string()));
                    if answered {
                        let completion =
                            serde_json::json!([{"role": "assistant", "content": exchange.answer}]);
                        attributes.push(kv_str("gen_ai.completion", completion.to_string()));
                    }
                }
                Content::Off => {}
            }
        }

        let status = match plan.error {
            Some(e) => {
                attributes.push(kv_str("error.type", ERRORS[e].0));
                Some(Status {
                    message: ERRORS[e].1.to_owned(),
                    code: status::StatusCode::Error as i32,
                })
            }
            // Unset, written out: opentelemetry-proto's serde would print
            // an absent status as `"status": null`, which OTLP/JSON receivers
            // accept (proto3 JSON reads null as the default) but no SDK emits.
            None => Some(Status::default()),
        };

        let events = self
            .sample_times(plan.start, plan.end)
            .into_iter()
            .map(|t| self.gpu_sample(&device, anomalies.idle_gpu, t))
            .collect();

        // W3C sampled flag, plus "has is-remote" and, for a server span with
        // a parent, "parent is remote".
        let kind = match self.span_kind {
            SpanKind::Server => span::SpanKind::Server,
            SpanKind::Client => span::SpanKind::Client,
        };
        let remote_parent = plan.has_parent && self.span_kind == SpanKind::Server;
        let flags = 0x01 | 0x100 | if remote_parent { 0x200 } else { 0 };

        Span {
            trace_id,
            span_id,
            trace_state: String::new(),
            parent_span_id,
            flags,
            name: format!("chat {model}"),
            kind: kind as i32,
            start_time_unix_nano: plan.start,
            end_time_unix_nano: plan.end,
            attributes,
            dropped_attributes_count: 0,
            events,
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status,
        }
    }
}

impl Iterator for Generator {
    type Item = ExportTraceServiceRequest;

    fn next(&mut self) -> Option<ExportTraceServiceRequest> {
        if self.next >= self.plans.len() {
            return None;
        }
        let end = (self.next + self.batch_size).min(self.plans.len());
        let plans = std::mem::take(&mut self.plans);
        // One ResourceSpans per pod, in order of first appearance.
        let mut resources: Vec<((usize, usize), Vec<Span>)> = Vec::new();
        for plan in &plans[self.next..end] {
            let span = self.build(plan);
            let key = (plan.service, plan.pod);
            match resources.iter_mut().find(|(k, _)| *k == key) {
                Some((_, spans)) => spans.push(span),
                None => resources.push((key, vec![span])),
            }
        }
        self.plans = plans;
        self.next = end;
        let scope = InstrumentationScope {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        };
        Some(ExportTraceServiceRequest {
            resource_spans: resources
                .into_iter()
                .map(|((service, pod), spans)| ResourceSpans {
                    resource: Some(self.resource(service, pod)),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(scope.clone()),
                        spans,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.plans.len() - self.next).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Generator {}
