//! OTLP spans → gavel [`InferenceSpan`]s.
//!
//! This is the contract plugin authors rely on; docs/traces.md says the same
//! for users.
//!
//! # Which spans
//!
//! Every span of a request ends up in exactly one of three places
//! (**Architecture Invariant**: `spans.len() + ignored + rejected` equals the
//! number of spans in the request):
//!
//! - **ignored**: spans that are not inference spans. A span is an inference
//!   span when *its own* attributes (not the resource's) include
//!   `gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.provider.name`
//!   or the older `gen_ai.system`. HTTP, database and other spans are counted
//!   and left out, never rejected.
//! - **rejected**: inference spans that are malformed: a trace id that is not
//!   16 bytes or is all zeros, a span id that is not 8 bytes or is all zeros,
//!   a parent span id that is neither empty nor 8 bytes, a start time of 0,
//!   an end time before the start time, or a span that would take the
//!   request's mapped size past [`Limits::max_request_bytes`]. They are
//!   counted, and the first reason is kept for OTLP's partial success answer.
//! - **spans**: everything else, mapped as below.
//!
//! # Fields
//!
//! Attribute lookups see the span's attributes first, then (for keys the span
//! does not have) the resource's: **span attributes win over resource
//! attributes with the same key**. Within one list the first occurrence of a
//! key wins. Precisely, a lookup sees the sources listed under
//! [Attributes](#attributes) in their order of precedence.
//!
//! | field | from | default |
//! |---|---|---|
//! | `trace_id`, `span_id` | the span's ids, lower-case hex | — |
//! | `parent_span_id` | the parent id, lower-case hex | `None` when empty or all zeros |
//! | `service` | `service.name` | `"unknown_service"`, as OpenTelemetry SDKs do |
//! | `namespace` | `k8s.namespace.name` | `None` |
//! | `model` | `gen_ai.request.model`, else `gen_ai.response.model` | `"unknown"` |
//! | `operation` | `gen_ai.operation.name` | `"unknown"` |
//! | `start_unix_nano`, `end_unix_nano` | the span's times | — |
//! | `input_tokens` | `gen_ai.usage.input_tokens`, else `gen_ai.usage.prompt_tokens` | `None` |
//! | `output_tokens` | `gen_ai.usage.output_tokens`, else `gen_ai.usage.completion_tokens` | `None` |
//! | `status` | status code 0, 1, 2 → `Unset`, `Ok`, `Error`; any other code `Unset` | `Unset` |
//! | `gpu_samples` | see [GPU samples](#gpu-samples) | empty |
//! | `attributes` | every other attribute, see below | — |
//!
//! String fields must be non-empty strings to count. Token counts accept a
//! non-negative int, a non-negative double (its whole part) or a decimal
//! string; anything else leaves the field `None` and the attribute in place.
//! An attribute that became one of these fields is **not** repeated in
//! `attributes` (`gen_ai.response.model` always stays, since it says
//! something `model` may not). The old token names are removed too when
//! they hold a count.
//!
//! # Attributes
//!
//! `attributes` holds, in this order of precedence (a key appears once, from
//! the first source that has it):
//!
//! 1. the span's attributes, in their order;
//! 2. **renamed conventions**: for each old name in [`RENAMES`] present on the
//!    span, the same value under the current name (`gen_ai.system` →
//!    `gen_ai.provider.name`, …), so plugins only need current names. The old
//!    attribute stays as well;
//! 3. **old content events**: a `gen_ai.content.prompt` event's `gen_ai.prompt`
//!    attribute as `gen_ai.prompt`, and a `gen_ai.content.completion` event's
//!    `gen_ai.completion` as `gen_ai.completion`, when the span has no such
//!    attribute;
//! 4. **events**: every attribute of every span event other than `gpu.sample`,
//!    as `<event name>.<attribute key>`. The GenAI event
//!    `gen_ai.client.inference.operation.details` carrying
//!    `gen_ai.input.messages` becomes
//!    `gen_ai.client.inference.operation.details.gen_ai.input.messages`. When
//!    several events share a name, the first one's value wins;
//! 5. the resource's attributes (`k8s.pod.name`, `k8s.deployment.name`,
//!    `host.name`, …) and their renamed conventions.
//!
//! Values: `AnyValue` string, int, double and bool map to `Str`, `Int`,
//! `Float`, `Boolean`; a double that is NaN or infinite becomes `Str("NaN")`,
//! `Str("Infinity")` or `Str("-Infinity")` (JSON has no such numbers). Arrays
//! whose elements are all strings, all ints or all finite doubles map to
//! `StrArray`, `IntArray`, `FloatArray`; an empty array is an empty
//! `StrArray`. Maps (kvlist), mixed arrays and bytes become `Json`: JSON text
//! in which bytes are base64 strings (OpenTelemetry's representation of bytes
//! outside OTLP) and an empty value is `null`.
//!
//! # Bounds
//!
//! A hostile exporter must not blow memory through one span ([`Limits`],
//! defaults in parentheses). Each cut is counted in [`Mapped::truncated`]:
//!
//! - at most `max_attributes` (128) attributes per span, in the precedence
//!   order above; the rest are dropped;
//! - a string value is cut (at a character boundary) to `max_value_bytes`
//!   (64 KiB); an array keeps the elements that fit; JSON text keeps valid
//!   JSON, cutting strings and leaving out elements past the budget;
//! - all attributes of a span together hold at most `max_span_bytes`
//!   (256 KiB): later attributes are cut shorter or dropped;
//! - at most 4 × `max_attributes` attributes are considered from each of the
//!   span, its events (together) and its resource; typed fields and GPU
//!   fallbacks are looked up among those;
//! - attribute keys (an event key included) longer than `max_name_bytes`
//!   (1 KiB) are dropped; `service`, `namespace`, `model`, `operation` and
//!   GPU names are cut to that length;
//! - at most `max_gpu_samples` (1,024) samples per span;
//! - the mapped spans of one request hold at most `max_request_bytes`
//!   (64 MiB): resource attributes are copied into every span, so a small
//!   request could otherwise map to a huge batch. Spans past it are rejected.
//!
//! # GPU samples
//!
//! gavel's own namespace, with field meanings from NVIDIA DCGM:
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `gpu.id` | string (an int is accepted) | GPU UUID or index on its node |
//! | `gpu.model` | string | product name, `DCGM_FI_DEV_NAME`, e.g. `NVIDIA-A100-SXM4-80GB` |
//! | `gpu.mig.profile` | string, optional | MIG slice profile, e.g. `1g.10gb` |
//! | `gpu.utilization` | number, percent 0–100 | `DCGM_FI_DEV_GPU_UTIL` |
//! | `gpu.memory.used` | number, MiB | `DCGM_FI_DEV_FB_USED`; × 1,048,576 → `memory_used_bytes` |
//! | `gpu.power.usage` | number, watts | `DCGM_FI_DEV_POWER_USAGE` |
//!
//! Numbers may be ints or doubles. Each span event named `gpu.sample` is one
//! sample, taken at the event's time (the span's end time when the event's
//! is 0). A key the event lacks is looked up on the span, then the resource
//! (a node-level resource detector sets `gpu.id`, `gpu.model` and
//! `gpu.mig.profile` there). A span with no `gpu.sample` event but with
//! `gpu.utilization` among its (or its resource's) attributes yields one
//! sample at the span's end time. `gpu.*` attributes also stay in
//! `attributes`; `gpu.sample` events do not.
//!
//! Validation: a sample without `gpu.utilization`, or with any value NaN or
//! infinite, or a negative memory or power reading, is dropped and counted in
//! [`Mapped::gpu_samples_dropped`]. Utilisation outside 0–100 is clamped
//! (exporters round). A missing memory or power reading is 0. A missing
//! `gpu.id` or `gpu.model` is `"unknown"`.

use std::borrow::Cow;

use gavel_core::{Attribute, AttributeValue, InferenceSpan, SpanStatus};

use crate::decode::export_response;
use crate::gpu;
use crate::proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use crate::proto::tonic::common::v1::{AnyValue, KeyValue};
use crate::proto::tonic::trace::v1::Span;
use crate::value::{as_count, as_str, clip, convert};

/// Attribute names whose presence on a span makes it an inference span.
pub const INFERENCE_MARKERS: [&str; 4] = [
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.provider.name",
    "gen_ai.system",
];

/// Renamed GenAI conventions, `(old, current)`: a span or resource carrying
/// the old name also gets the value under the current name, unless it has
/// that too. From the semantic conventions' deprecated GenAI registry; the
/// token counts, renamed too, become typed fields instead.
pub const RENAMES: [(&str, &str); 6] = [
    ("gen_ai.system", "gen_ai.provider.name"),
    ("gen_ai.openai.request.seed", "gen_ai.request.seed"),
    (
        "gen_ai.openai.request.response_format",
        "gen_ai.output.type",
    ),
    (
        "gen_ai.openai.request.service_tier",
        "openai.request.service_tier",
    ),
    (
        "gen_ai.openai.response.service_tier",
        "openai.response.service_tier",
    ),
    (
        "gen_ai.openai.response.system_fingerprint",
        "openai.response.system_fingerprint",
    ),
];

/// How many attributes per source (span, events, resource) are considered,
/// as a multiple of `max_attributes`; duplicates and typed fields leave room.
const SOURCE_FACTOR: usize = 4;

/// Old content events: `(event name, attribute)`; the attribute is copied to
/// the span under its own name.
const CONTENT_EVENTS: [(&str, &str); 2] = [
    ("gen_ai.content.prompt", "gen_ai.prompt"),
    ("gen_ai.content.completion", "gen_ai.completion"),
];

/// How much of a request is kept. The defaults suit any real exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Attributes kept per span.
    pub max_attributes: usize,
    /// Bytes of one attribute value.
    pub max_value_bytes: usize,
    /// Bytes of all attributes of one span.
    pub max_span_bytes: usize,
    /// Bytes of an attribute key, and of the name fields.
    pub max_name_bytes: usize,
    /// GPU samples per span.
    pub max_gpu_samples: usize,
    /// Approximate bytes of all mapped spans of one request.
    pub max_request_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_attributes: 128,
            max_value_bytes: 64 * 1024,
            max_span_bytes: 256 * 1024,
            max_name_bytes: 1024,
            max_gpu_samples: 1024,
            max_request_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The result of mapping one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    /// The inference spans, in request order. A span's window is
    /// [`WindowKey::of`](crate::WindowKey::of) the span: its key is not
    /// stored beside it, which would copy three strings per span.
    pub spans: Vec<InferenceSpan>,
    /// Spans that are not inference spans.
    pub ignored: u64,
    /// Inference spans refused as malformed.
    pub rejected: u64,
    /// Why the first rejected span was refused.
    pub first_rejection: Option<String>,
    /// Attributes dropped or values cut to fit [`Limits`].
    pub truncated: u64,
    /// GPU samples dropped as invalid or past the per-span cap.
    pub gpu_samples_dropped: u64,
}

impl Mapped {
    /// Every span the request held: `spans.len() + ignored + rejected`.
    pub fn total(&self) -> u64 {
        self.spans.len() as u64 + self.ignored + self.rejected
    }

    /// The OTLP answer: full success, or partial success naming the rejected
    /// count and the first reason.
    pub fn response(&self) -> ExportTraceServiceResponse {
        if self.rejected == 0 {
            return export_response(0, "");
        }
        let first = self.first_rejection.as_deref().unwrap_or("malformed span");
        let message = format!(
            "{} of {} spans rejected; the first: {first}",
            self.rejected,
            self.total()
        );
        export_response(self.rejected, &message)
    }
}

/// The number of spans in a request, for back-pressure before mapping.
pub fn count_spans(request: &ExportTraceServiceRequest) -> u64 {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum()
}

/// Maps a request with the default [`Limits`].
pub fn map_request(request: &ExportTraceServiceRequest) -> Mapped {
    map_request_with(request, &Limits::default())
}

/// Maps a request: see the module docs for the rules.
pub fn map_request_with(request: &ExportTraceServiceRequest, limits: &Limits) -> Mapped {
    let mut out = Mapped {
        // An upper bound (ignored spans count too), capped so that a request
        // of many tiny spans does not reserve ahead of the mapping.
        spans: Vec::with_capacity(usize::try_from(count_spans(request)).unwrap_or(0).min(8192)),
        ..Mapped::default()
    };
    let mut candidates = Vec::new();
    let mut request_bytes = 0usize;
    for rs in &request.resource_spans {
        let resource = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            if !is_inference(span) {
                out.ignored += 1;
                continue;
            }
            let mapped = check(span).map(|ids| {
                let mut mapper = SpanMapper {
                    limits,
                    candidates: &mut candidates,
                    truncated: 0,
                    gpu_dropped: 0,
                };
                let mapped = mapper.map(span, ids, resource);
                out.truncated += mapper.truncated;
                out.gpu_samples_dropped += mapper.gpu_dropped;
                mapped
            });
            let mapped = mapped.and_then(|m| {
                let size = approximate_size(&m);
                if request_bytes.saturating_add(size) > limits.max_request_bytes {
                    return Err(format!(
                        "the request's inference spans exceed {} bytes once mapped; send smaller batches",
                        limits.max_request_bytes
                    ));
                }
                request_bytes += size;
                Ok(m)
            });
            match mapped {
                Ok(m) => out.spans.push(m),
                Err(reason) => {
                    out.rejected += 1;
                    if out.first_rejection.is_none() {
                        out.first_rejection = Some(format!("span {}: {reason}", describe(span)));
                    }
                }
            }
        }
    }
    out
}

fn is_inference(span: &Span) -> bool {
    span.attributes
        .iter()
        .any(|kv| INFERENCE_MARKERS.contains(&kv.key.as_str()))
}

struct Ids {
    trace: String,
    span: String,
    parent: Option<String>,
}

/// The checks that reject a span.
fn check(span: &Span) -> Result<Ids, String> {
    let id = |bytes: &[u8], what: &str, len: usize| {
        if bytes.len() != len {
            Err(format!("{what} is {} bytes, expected {len}", bytes.len()))
        } else if bytes.iter().all(|&b| b == 0) {
            Err(format!(
                "{what} is all zeros, which OpenTelemetry defines as invalid"
            ))
        } else {
            Ok(lower_hex(bytes))
        }
    };
    let trace = id(&span.trace_id, "trace id", 16)?;
    let span_id = id(&span.span_id, "span id", 8)?;
    let parent = match span.parent_span_id.len() {
        0 => None,
        8 if span.parent_span_id.iter().all(|&b| b == 0) => None,
        8 => Some(lower_hex(&span.parent_span_id)),
        n => return Err(format!("parent span id is {n} bytes, expected 8 or none")),
    };
    if span.start_time_unix_nano == 0 {
        return Err("start time is missing (startTimeUnixNano is 0)".to_owned());
    }
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Err(format!(
            "end time {} is before start time {}",
            span.end_time_unix_nano, span.start_time_unix_nano
        ));
    }
    Ok(Ids {
        trace,
        span: span_id,
        parent,
    })
}

/// Lower-case hex; `hex::encode` goes through a char iterator, and ids are
/// encoded three times per span.
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// A short, bounded description of a span for messages: its name and ids.
fn describe(span: &Span) -> String {
    let mut cut = false;
    let name = clip(&span.name, 64, &mut cut);
    let ellipsis = if cut { "…" } else { "" };
    let short = |b: &[u8]| lower_hex(&b[..b.len().min(16)]);
    format!(
        "\"{name}{ellipsis}\" (trace {}, span {})",
        short(&span.trace_id),
        short(&span.span_id)
    )
}

/// Precedence of an attribute's source; lower wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Span,
    SpanRenamed,
    ContentEvent,
    Event,
    Resource,
    ResourceRenamed,
}

struct Candidate<'a> {
    key: Cow<'a, str>,
    value: Option<&'a AnyValue>,
    source: Source,
    /// Order of appearance, for precedence within one source.
    seq: usize,
    consumed: bool,
}

fn push<'a>(
    c: &mut Vec<Candidate<'a>>,
    key: Cow<'a, str>,
    value: Option<&'a AnyValue>,
    source: Source,
) {
    let seq = c.len();
    c.push(Candidate {
        key,
        value,
        source,
        seq,
        consumed: false,
    });
}

/// A list's attributes (at most `limit`), then the current names of its
/// renamed ones. Returns how many were left out.
fn push_attributes<'a>(
    c: &mut Vec<Candidate<'a>>,
    kvs: &'a [KeyValue],
    own: Source,
    renamed: Source,
    limit: usize,
) -> u64 {
    let kept = &kvs[..kvs.len().min(limit)];
    for kv in kept {
        push(c, Cow::Borrowed(&kv.key), kv.value.as_ref(), own);
    }
    for kv in kept.iter().filter(|kv| kv.key.starts_with("gen_ai.")) {
        if let Some((_, current)) = RENAMES.iter().find(|(old, _)| *old == kv.key) {
            push(c, Cow::Borrowed(current), kv.value.as_ref(), renamed);
        }
    }
    (kvs.len() - kept.len()) as u64
}

struct SpanMapper<'m, 'a> {
    limits: &'m Limits,
    /// Reused across the spans of a request.
    candidates: &'m mut Vec<Candidate<'a>>,
    truncated: u64,
    gpu_dropped: u64,
}

impl<'a> SpanMapper<'_, 'a> {
    fn map(&mut self, span: &'a Span, ids: Ids, resource: &'a [KeyValue]) -> InferenceSpan {
        self.collect(span, resource);
        // Sorted by key with the winner first: one entry per key, found by
        // binary search.
        self.candidates.sort_unstable_by(|a, b| {
            (a.key.as_ref(), a.source, a.seq).cmp(&(b.key.as_ref(), b.source, b.seq))
        });
        self.candidates
            .dedup_by(|later, first| later.key == first.key);

        let service = self.take_name("service.name");
        let namespace = self.take_name("k8s.namespace.name");
        let operation = self.take_name("gen_ai.operation.name");
        let model = self
            .take_name("gen_ai.request.model")
            .or_else(|| self.name("gen_ai.response.model"));
        let input_tokens =
            self.take_count("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens");
        let output_tokens = self.take_count(
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
        );
        let gpu_samples = self.gpu_samples(span);

        self.candidates.sort_unstable_by_key(|c| (c.source, c.seq));
        let attributes = self.attributes();

        InferenceSpan {
            trace_id: ids.trace,
            span_id: ids.span,
            parent_span_id: ids.parent,
            service: service.unwrap_or_else(|| "unknown_service".to_owned()),
            namespace,
            model: model.unwrap_or_else(|| "unknown".to_owned()),
            operation: operation.unwrap_or_else(|| "unknown".to_owned()),
            start_unix_nano: span.start_time_unix_nano,
            end_unix_nano: span.end_time_unix_nano,
            input_tokens,
            output_tokens,
            status: match span.status.as_ref().map_or(0, |s| s.code) {
                1 => SpanStatus::Ok,
                2 => SpanStatus::Error,
                _ => SpanStatus::Unset,
            },
            gpu_samples,
            attributes,
        }
    }

    /// Gathers every source of attributes, borrowing where it can. At most
    /// [`SOURCE_FACTOR`] × `max_attributes` are taken from each of the span,
    /// its events and the resource: only `max_attributes` can be kept, and a
    /// hostile span must not make this list (or the event keys it formats)
    /// huge first.
    fn collect(&mut self, span: &'a Span, resource: &'a [KeyValue]) {
        let max_name_bytes = self.limits.max_name_bytes;
        let per_source = self.limits.max_attributes.saturating_mul(SOURCE_FACTOR);
        let c = &mut *self.candidates;
        c.clear();
        self.truncated += push_attributes(
            c,
            &span.attributes,
            Source::Span,
            Source::SpanRenamed,
            per_source,
        );
        let mut from_events = 0usize;
        for event in &span.events {
            if event.name == gpu::SAMPLE_EVENT {
                continue;
            }
            for (name, attribute) in CONTENT_EVENTS {
                if event.name == name
                    && let Some(kv) = event.attributes.iter().find(|kv| kv.key == attribute)
                {
                    push(
                        c,
                        Cow::Borrowed(attribute),
                        kv.value.as_ref(),
                        Source::ContentEvent,
                    );
                }
            }
            for kv in &event.attributes {
                // Checked before formatting, so that nothing is allocated for
                // what the caps would drop anyway.
                if from_events >= per_source || event.name.len() + 1 + kv.key.len() > max_name_bytes
                {
                    self.truncated += 1;
                    continue;
                }
                from_events += 1;
                let key = format!("{}.{}", event.name, kv.key);
                push(c, Cow::Owned(key), kv.value.as_ref(), Source::Event);
            }
        }
        self.truncated += push_attributes(
            c,
            resource,
            Source::Resource,
            Source::ResourceRenamed,
            per_source,
        );
    }

    fn find(&self, key: &str) -> Option<usize> {
        self.candidates
            .binary_search_by(|c| c.key.as_ref().cmp(key))
            .ok()
    }

    fn get(&self, key: &str) -> Option<&'a AnyValue> {
        self.find(key).and_then(|i| self.candidates[i].value)
    }

    /// A non-empty string attribute, cut to `max_name_bytes`.
    fn name(&mut self, key: &str) -> Option<String> {
        let s = as_str(self.get(key)).filter(|s| !s.is_empty())?;
        let mut cut = false;
        let s = clip(s, self.limits.max_name_bytes, &mut cut);
        self.truncated += u64::from(cut);
        Some(s)
    }

    /// [`Self::name`], and the attribute is not repeated in `attributes`.
    fn take_name(&mut self, key: &str) -> Option<String> {
        let name = self.name(key)?;
        self.consume(key);
        Some(name)
    }

    /// A token count under its current name, else its old one; whichever
    /// holds a count is not repeated in `attributes`.
    fn take_count(&mut self, current: &str, old: &str) -> Option<u64> {
        let mut take = |key: &str| {
            let count = as_count(self.get(key))?;
            self.consume(key);
            Some(count)
        };
        let current = take(current);
        let old = take(old);
        current.or(old)
    }

    fn consume(&mut self, key: &str) {
        if let Some(i) = self.find(key) {
            self.candidates[i].consumed = true;
        }
    }

    fn gpu_samples(&mut self, span: &'a Span) -> Vec<gavel_core::GpuSample> {
        let mut samples = Vec::new();
        let mut any_event = false;
        let mut cut = false;
        for event in span.events.iter().filter(|e| e.name == gpu::SAMPLE_EVENT) {
            any_event = true;
            if samples.len() >= self.limits.max_gpu_samples {
                self.gpu_dropped += 1;
                continue;
            }
            let time = match event.time_unix_nano {
                0 => span.end_time_unix_nano,
                t => t,
            };
            let own = |key: &str| {
                event
                    .attributes
                    .iter()
                    .find(|kv| kv.key == key)
                    .and_then(|kv| kv.value.as_ref())
            };
            match gpu::sample(
                time,
                own,
                |k| self.get(k),
                self.limits.max_name_bytes,
                &mut cut,
            ) {
                Some(s) => samples.push(s),
                None => self.gpu_dropped += 1,
            }
        }
        if !any_event && self.get(gpu::UTILIZATION).is_some() {
            let time = span.end_time_unix_nano;
            match gpu::sample(
                time,
                |_| None,
                |k| self.get(k),
                self.limits.max_name_bytes,
                &mut cut,
            ) {
                Some(s) => samples.push(s),
                None => self.gpu_dropped += 1,
            }
        }
        self.truncated += u64::from(cut);
        samples
    }

    /// Converts the candidates, in precedence order, within the limits.
    fn attributes(&mut self) -> Vec<Attribute> {
        let limits = self.limits;
        let mut out = Vec::with_capacity(self.candidates.len().min(limits.max_attributes));
        let mut used = 0usize;
        for c in self.candidates.drain(..) {
            if c.consumed {
                continue;
            }
            let room = limits.max_span_bytes.saturating_sub(used + c.key.len());
            if out.len() >= limits.max_attributes
                || c.key.len() > limits.max_name_bytes
                || room == 0
            {
                self.truncated += 1;
                continue;
            }
            let converted = convert(c.value, limits.max_value_bytes.min(room));
            self.truncated += u64::from(converted.truncated);
            used += c.key.len() + value_size(&converted.value);
            out.push(Attribute {
                key: c.key.into_owned(),
                value: converted.value,
            });
        }
        out
    }
}

/// Content bytes of a value, as the limits count them.
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::Str(s) | AttributeValue::Json(s) => s.len(),
        AttributeValue::Int(_) | AttributeValue::Float(_) | AttributeValue::Boolean(_) => 8,
        AttributeValue::StrArray(v) => v.iter().map(|s| s.len() + 1).sum(),
        AttributeValue::IntArray(v) => v.len() * 8,
        AttributeValue::FloatArray(v) => v.len() * 8,
    }
}

/// Roughly the heap a mapped span holds (strings, samples, attributes).
fn approximate_size(span: &InferenceSpan) -> usize {
    const FIXED: usize = std::mem::size_of::<InferenceSpan>();
    const SAMPLE: usize = std::mem::size_of::<gavel_core::GpuSample>();
    const ATTRIBUTE: usize = std::mem::size_of::<Attribute>();
    FIXED
        + span.trace_id.len()
        + span.span_id.len()
        + span.parent_span_id.as_ref().map_or(0, String::len)
        + span.service.len()
        + span.namespace.as_ref().map_or(0, String::len)
        + span.model.len()
        + span.operation.len()
        + span
            .gpu_samples
            .iter()
            .map(|s| {
                SAMPLE + s.gpu.len() + s.model.len() + s.mig_profile.as_ref().map_or(0, String::len)
            })
            .sum::<usize>()
        + span
            .attributes
            .iter()
            .map(|a| ATTRIBUTE + a.key.len() + value_size(&a.value))
            .sum::<usize>()
}

#[cfg(test)]
mod tests;
