use gavel_core::{Attribute, AttributeValue as A, GpuSample, SpanStatus};

use super::*;
use crate::proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use crate::proto::tonic::resource::v1::Resource;
use crate::proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span::Event};

// ---- building requests -------------------------------------------------

fn v(value: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(value) })
}

trait IntoAny {
    fn any(self) -> Value;
}
impl IntoAny for &str {
    fn any(self) -> Value {
        Value::StringValue(self.into())
    }
}
impl IntoAny for i64 {
    fn any(self) -> Value {
        Value::IntValue(self)
    }
}
impl IntoAny for f64 {
    fn any(self) -> Value {
        Value::DoubleValue(self)
    }
}
impl IntoAny for bool {
    fn any(self) -> Value {
        Value::BoolValue(self)
    }
}

fn kv(key: &str, value: impl IntoAny) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: v(value.any()),
        key_strindex: 0,
    }
}

fn event(name: &str, time: u64, attributes: Vec<KeyValue>) -> Event {
    Event {
        time_unix_nano: time,
        name: name.into(),
        attributes,
        dropped_attributes_count: 0,
    }
}

const START: u64 = 1_700_000_000_000_000_000;
const END: u64 = START + 250_000_000;

/// A valid span with these attributes.
fn span(attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: (1..=16).collect(),
        span_id: (1..=8).collect(),
        name: "chat llama".into(),
        start_time_unix_nano: START,
        end_time_unix_nano: END,
        attributes,
        ..Default::default()
    }
}

/// A valid inference span with these extra attributes.
fn chat(mut extra: Vec<KeyValue>) -> Span {
    let mut attributes = vec![kv("gen_ai.operation.name", "chat")];
    attributes.append(&mut extra);
    span(attributes)
}

fn request(resource: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// Maps one span under a resource; it must map.
fn one(resource: Vec<KeyValue>, s: Span) -> InferenceSpan {
    let mapped = map_request(&request(resource, vec![s]));
    assert_eq!(mapped.rejected, 0, "{:?}", mapped.first_rejection);
    assert_eq!(mapped.ignored, 0);
    mapped.spans.into_iter().next().unwrap()
}

fn attr<'s>(span: &'s InferenceSpan, key: &str) -> Option<&'s A> {
    let mut found = span.attributes.iter().filter(|a| a.key == key);
    let first = found.next().map(|a| &a.value);
    assert!(found.next().is_none(), "{key} appears twice");
    first
}

fn st(x: &str) -> A {
    A::Str(x.into())
}

// ---- which spans -------------------------------------------------------

#[test]
fn inference_spans_are_recognised_by_their_own_attributes() {
    let cases: &[(&[&str], bool)] = &[
        (&["gen_ai.operation.name"], true),
        (&["gen_ai.request.model"], true),
        (&["gen_ai.provider.name"], true),
        (&["gen_ai.system"], true),
        (&["http.request.method"], false),
        (&["gen_ai.usage.input_tokens"], false),
        (&["db.system.name", "server.address"], false),
        (&[], false),
    ];
    for (keys, inference) in cases {
        let s = span(keys.iter().map(|k| kv(k, "x")).collect());
        let mapped = map_request(&request(vec![], vec![s]));
        assert_eq!(mapped.spans.len() == 1, *inference, "{keys:?}");
        assert_eq!(mapped.ignored == 1, !*inference, "{keys:?}");
        assert_eq!(mapped.rejected, 0);
    }
    // A GenAI resource does not make its HTTP spans inference spans.
    let mapped = map_request(&request(
        vec![kv("gen_ai.system", "openai")],
        vec![span(vec![kv("http.request.method", "POST")])],
    ));
    assert_eq!((mapped.spans.len(), mapped.ignored), (0, 1));
}

#[test]
fn rejections() {
    let with = |f: fn(&mut Span)| {
        let mut s = chat(vec![]);
        f(&mut s);
        s
    };
    let cases: Vec<(Span, &str)> = vec![
        (
            with(|s| s.trace_id.truncate(8)),
            "trace id is 8 bytes, expected 16",
        ),
        (with(|s| s.trace_id = vec![0; 16]), "trace id is all zeros"),
        (with(|s| s.trace_id.clear()), "trace id is 0 bytes"),
        (
            with(|s| s.span_id = vec![1; 16]),
            "span id is 16 bytes, expected 8",
        ),
        (with(|s| s.span_id = vec![0; 8]), "span id is all zeros"),
        (
            with(|s| s.parent_span_id = vec![1; 4]),
            "parent span id is 4 bytes",
        ),
        (
            with(|s| s.start_time_unix_nano = 0),
            "start time is missing",
        ),
        (
            with(|s| s.end_time_unix_nano = START - 1),
            "is before start time",
        ),
    ];
    for (s, reason) in cases {
        let mapped = map_request(&request(vec![], vec![chat(vec![]), s, chat(vec![])]));
        assert_eq!(mapped.rejected, 1, "{reason}");
        assert_eq!(mapped.spans.len(), 2, "{reason}");
        let first = mapped.first_rejection.as_deref().unwrap();
        assert!(first.contains(reason), "{first}");
        assert!(first.starts_with("span \"chat llama\""), "{first}");
        let response = mapped.response();
        let partial = response.partial_success.unwrap();
        assert_eq!(partial.rejected_spans, 1);
        assert!(
            partial
                .error_message
                .starts_with("1 of 3 spans rejected; the first: span")
        );
    }
    // A malformed span that is not an inference span is ignored, not rejected.
    let mut http = span(vec![kv("http.request.method", "GET")]);
    http.trace_id.clear();
    let mapped = map_request(&request(vec![], vec![http]));
    assert_eq!((mapped.ignored, mapped.rejected), (1, 0));
    assert_eq!(mapped.response().partial_success, None);
}

#[test]
fn rejection_messages_stay_short() {
    let mut s = chat(vec![]);
    s.name = "n".repeat(100_000);
    s.trace_id = vec![7; 100_000];
    let mapped = map_request(&request(vec![], vec![s]));
    assert!(mapped.first_rejection.unwrap().len() < 300);
}

#[test]
fn only_the_first_rejection_is_kept() {
    let mut a = chat(vec![]);
    a.span_id.clear();
    let mut b = chat(vec![]);
    b.start_time_unix_nano = 0;
    let mapped = map_request(&request(vec![], vec![a, b]));
    assert_eq!(mapped.rejected, 2);
    assert!(
        mapped
            .first_rejection
            .unwrap()
            .contains("span id is 0 bytes")
    );
}

// ---- fields ------------------------------------------------------------

#[test]
fn fields_from_current_conventions() {
    let mut s = chat(vec![
        kv("gen_ai.provider.name", "openai"),
        kv("gen_ai.request.model", "llama-3-70b"),
        kv("gen_ai.response.model", "llama-3-70b-0425"),
        kv("gen_ai.usage.input_tokens", 1200),
        kv("gen_ai.usage.output_tokens", 35),
        kv("server.address", "vllm.inference.svc"),
        kv("error.type", "timeout"),
    ]);
    s.parent_span_id = vec![9; 8];
    s.status = Some(Status {
        message: "upstream timeout".into(),
        code: 2,
    });
    let got = one(
        vec![
            kv("service.name", "chatbot"),
            kv("k8s.namespace.name", "inference"),
            kv("k8s.pod.name", "chatbot-7d9f"),
        ],
        s,
    );
    assert_eq!(got.trace_id, "0102030405060708090a0b0c0d0e0f10");
    assert_eq!(got.span_id, "0102030405060708");
    assert_eq!(got.parent_span_id.as_deref(), Some("0909090909090909"));
    assert_eq!(got.service, "chatbot");
    assert_eq!(got.namespace.as_deref(), Some("inference"));
    assert_eq!(got.model, "llama-3-70b");
    assert_eq!(got.operation, "chat");
    assert_eq!((got.start_unix_nano, got.end_unix_nano), (START, END));
    assert_eq!(
        (got.input_tokens, got.output_tokens),
        (Some(1200), Some(35))
    );
    assert_eq!(got.status, SpanStatus::Error);
    assert!(got.gpu_samples.is_empty());
    let keys: Vec<&str> = got.attributes.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "gen_ai.provider.name",
            "gen_ai.response.model",
            "server.address",
            "error.type",
            "k8s.pod.name"
        ],
        "typed fields are not repeated; span attributes first, then resource"
    );
}

#[test]
fn defaults() {
    let got = one(vec![], span(vec![kv("gen_ai.system", "openai")]));
    assert_eq!(got.service, "unknown_service");
    assert_eq!(got.namespace, None);
    assert_eq!(got.model, "unknown");
    assert_eq!(got.operation, "unknown");
    assert_eq!((got.input_tokens, got.output_tokens), (None, None));
    assert_eq!(got.status, SpanStatus::Unset);
    assert_eq!(got.parent_span_id, None);
    // Empty strings do not count.
    let got = one(
        vec![kv("service.name", "")],
        chat(vec![
            kv("gen_ai.request.model", ""),
            kv("gen_ai.response.model", "m2"),
        ]),
    );
    assert_eq!(got.service, "unknown_service");
    assert_eq!(got.model, "m2");
}

#[test]
fn model_falls_back_to_the_response_model() {
    let got = one(
        vec![],
        chat(vec![kv("gen_ai.response.model", "gpt-4o-2024-08-06")]),
    );
    assert_eq!(got.model, "gpt-4o-2024-08-06");
    assert_eq!(
        attr(&got, "gen_ai.response.model"),
        Some(&st("gpt-4o-2024-08-06"))
    );
    // A non-string model is not a model; it stays an attribute.
    let got = one(vec![], chat(vec![kv("gen_ai.request.model", 7)]));
    assert_eq!(got.model, "unknown");
    assert_eq!(attr(&got, "gen_ai.request.model"), Some(&A::Int(7)));
}

#[test]
fn status_codes() {
    for (code, want) in [
        (0, SpanStatus::Unset),
        (1, SpanStatus::Ok),
        (2, SpanStatus::Error),
        (7, SpanStatus::Unset),
        (-1, SpanStatus::Unset),
    ] {
        let mut s = chat(vec![]);
        s.status = Some(Status {
            message: String::new(),
            code,
        });
        assert_eq!(one(vec![], s).status, want, "{code}");
    }
}

#[test]
fn parent_ids() {
    for (parent, want) in [
        (vec![], None),
        (vec![0; 8], None),
        (vec![0xab; 8], Some("abababababababab")),
    ] {
        let mut s = chat(vec![]);
        s.parent_span_id = parent;
        assert_eq!(one(vec![], s).parent_span_id.as_deref(), want);
    }
}

#[test]
fn ids_are_lower_case_hex() {
    let mut s = chat(vec![]);
    s.trace_id = vec![0xAB; 16];
    s.span_id = vec![0xCD; 8];
    let got = one(vec![], s);
    assert_eq!(got.trace_id, "ab".repeat(16));
    assert_eq!(got.span_id, "cd".repeat(8));
}

// ---- old and new conventions -------------------------------------------

#[test]
fn old_token_names() {
    let got = one(
        vec![],
        chat(vec![
            kv("gen_ai.usage.prompt_tokens", 10),
            kv("gen_ai.usage.completion_tokens", 20),
        ]),
    );
    assert_eq!((got.input_tokens, got.output_tokens), (Some(10), Some(20)));
    assert!(got.attributes.is_empty(), "{:?}", got.attributes);
    // Both: the current name wins and neither is repeated.
    let got = one(
        vec![],
        chat(vec![
            kv("gen_ai.usage.prompt_tokens", 10),
            kv("gen_ai.usage.input_tokens", 11),
        ]),
    );
    assert_eq!(got.input_tokens, Some(11));
    assert!(got.attributes.is_empty(), "{:?}", got.attributes);
}

#[test]
fn token_counts_accept_numbers_and_decimal_strings() {
    for (value, want) in [
        (v(Value::IntValue(5)), Some(5)),
        (v(Value::DoubleValue(5.0)), Some(5)),
        (v(Value::StringValue("5".into())), Some(5)),
        (v(Value::IntValue(-5)), None),
        (v(Value::StringValue("five".into())), None),
        (v(Value::BoolValue(true)), None),
    ] {
        let mut s = chat(vec![]);
        s.attributes.push(KeyValue {
            key: "gen_ai.usage.input_tokens".into(),
            value: value.clone(),
            key_strindex: 0,
        });
        let got = one(vec![], s);
        assert_eq!(got.input_tokens, want, "{value:?}");
        // Not a count: the attribute stays for plugins to see.
        assert_eq!(
            attr(&got, "gen_ai.usage.input_tokens").is_some(),
            want.is_none()
        );
    }
}

#[test]
fn old_names_are_also_exposed_under_current_names() {
    let got = one(
        vec![],
        span(vec![
            kv("gen_ai.system", "openai"),
            kv("gen_ai.openai.request.seed", 42),
            kv("gen_ai.openai.request.response_format", "json_object"),
            kv("gen_ai.openai.response.system_fingerprint", "fp_1"),
        ]),
    );
    assert_eq!(attr(&got, "gen_ai.system"), Some(&st("openai")));
    assert_eq!(attr(&got, "gen_ai.provider.name"), Some(&st("openai")));
    assert_eq!(attr(&got, "gen_ai.request.seed"), Some(&A::Int(42)));
    assert_eq!(attr(&got, "gen_ai.output.type"), Some(&st("json_object")));
    assert_eq!(
        attr(&got, "openai.response.system_fingerprint"),
        Some(&st("fp_1"))
    );
    // When both are present, the current name keeps its own value.
    let got = one(
        vec![],
        span(vec![
            kv("gen_ai.system", "az.ai.openai"),
            kv("gen_ai.provider.name", "azure.ai.openai"),
        ]),
    );
    assert_eq!(
        attr(&got, "gen_ai.provider.name"),
        Some(&st("azure.ai.openai"))
    );
    assert_eq!(attr(&got, "gen_ai.system"), Some(&st("az.ai.openai")));
}

// ---- resource and span precedence --------------------------------------

#[test]
fn span_attributes_win_over_resource_attributes() {
    let got = one(
        vec![
            kv("service.name", "from-resource"),
            kv("deployment.environment.name", "prod"),
            kv("k8s.namespace.name", "team-a"),
            kv("gen_ai.provider.name", "resource-provider"),
            kv("k8s.deployment.name", "chatbot"),
        ],
        chat(vec![
            kv("deployment.environment.name", "canary"),
            kv("service.name", "from-span"),
            kv("gen_ai.system", "span-system"),
        ]),
    );
    assert_eq!(got.service, "from-span");
    assert_eq!(got.namespace.as_deref(), Some("team-a"));
    assert_eq!(
        attr(&got, "deployment.environment.name"),
        Some(&st("canary"))
    );
    // The span's old name, renamed, outranks the resource's current name.
    assert_eq!(attr(&got, "gen_ai.provider.name"), Some(&st("span-system")));
    assert_eq!(attr(&got, "k8s.deployment.name"), Some(&st("chatbot")));
    assert_eq!(attr(&got, "service.name"), None);
}

#[test]
fn duplicate_keys_keep_the_first() {
    let got = one(vec![], chat(vec![kv("a", "first"), kv("a", "second")]));
    assert_eq!(attr(&got, "a"), Some(&st("first")));
}

#[test]
fn each_resource_applies_to_its_own_spans() {
    let mut req = request(vec![kv("service.name", "a")], vec![chat(vec![])]);
    req.resource_spans.push(ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv("service.name", "b")],
            ..Default::default()
        }),
        scope_spans: vec![
            ScopeSpans {
                spans: vec![chat(vec![])],
                ..Default::default()
            },
            ScopeSpans {
                spans: vec![chat(vec![])],
                ..Default::default()
            },
        ],
        schema_url: String::new(),
    });
    req.resource_spans.push(ResourceSpans {
        resource: None,
        scope_spans: vec![ScopeSpans {
            spans: vec![chat(vec![])],
            ..Default::default()
        }],
        schema_url: String::new(),
    });
    let services: Vec<String> = map_request(&req)
        .spans
        .into_iter()
        .map(|s| s.service)
        .collect();
    assert_eq!(services, ["a", "b", "b", "unknown_service"]);
}

// ---- events ------------------------------------------------------------

#[test]
fn event_attributes_are_flattened() {
    let mut s = chat(vec![]);
    s.events = vec![
        event(
            "gen_ai.client.inference.operation.details",
            START + 1,
            vec![
                kv("gen_ai.input.messages", r#"[{"role":"user"}]"#),
                kv("gen_ai.output.messages", r#"[{"role":"assistant"}]"#),
            ],
        ),
        event(
            "exception",
            START + 2,
            vec![kv("exception.type", "Timeout")],
        ),
        event("exception", START + 3, vec![kv("exception.type", "Second")]),
        event("empty", START + 4, vec![]),
    ];
    let got = one(vec![], s);
    assert_eq!(
        attr(
            &got,
            "gen_ai.client.inference.operation.details.gen_ai.input.messages"
        ),
        Some(&st(r#"[{"role":"user"}]"#))
    );
    assert_eq!(
        attr(
            &got,
            "gen_ai.client.inference.operation.details.gen_ai.output.messages"
        ),
        Some(&st(r#"[{"role":"assistant"}]"#))
    );
    assert_eq!(attr(&got, "exception.exception.type"), Some(&st("Timeout")));
    assert_eq!(got.attributes.len(), 3);
}

#[test]
fn old_content_events_set_prompt_and_completion() {
    let mut s = chat(vec![]);
    s.events = vec![
        event(
            "gen_ai.content.prompt",
            START,
            vec![kv("gen_ai.prompt", "hi")],
        ),
        event(
            "gen_ai.content.completion",
            END,
            vec![kv("gen_ai.completion", "hello")],
        ),
    ];
    let got = one(vec![], s);
    assert_eq!(attr(&got, "gen_ai.prompt"), Some(&st("hi")));
    assert_eq!(attr(&got, "gen_ai.completion"), Some(&st("hello")));
    assert_eq!(
        attr(&got, "gen_ai.content.prompt.gen_ai.prompt"),
        Some(&st("hi"))
    );
    assert_eq!(
        attr(&got, "gen_ai.content.completion.gen_ai.completion"),
        Some(&st("hello"))
    );
    // The span's own attribute wins.
    let mut s = chat(vec![kv("gen_ai.prompt", "own")]);
    s.events = vec![event(
        "gen_ai.content.prompt",
        START,
        vec![kv("gen_ai.prompt", "event")],
    )];
    let got = one(vec![], s);
    assert_eq!(attr(&got, "gen_ai.prompt"), Some(&st("own")));
}

#[test]
fn attribute_value_types() {
    use crate::proto::tonic::common::v1::{ArrayValue, KeyValueList};
    let array = |values: Vec<Value>| {
        Value::ArrayValue(ArrayValue {
            values: values
                .into_iter()
                .map(|v| AnyValue { value: Some(v) })
                .collect(),
        })
    };
    let mut s = chat(vec![
        kv("str", "x"),
        kv("int", 3),
        kv("float", 0.25),
        kv("bool", true),
    ]);
    let mut push = |key: &str, value: Value| {
        s.attributes.push(KeyValue {
            key: key.into(),
            value: v(value),
            key_strindex: 0,
        })
    };
    push(
        "gen_ai.response.finish_reasons",
        array(vec!["stop".any(), "length".any()]),
    );
    push("ints", array(vec![1.any(), 2.any()]));
    push("floats", array(vec![0.5.any()]));
    push("mixed", array(vec![1.any(), "a".any()]));
    push("bytes", Value::BytesValue(vec![0xde, 0xad]));
    push(
        "map",
        Value::KvlistValue(KeyValueList {
            values: vec![kv("k", "v")],
        }),
    );
    let got = one(vec![], s);
    let want: Vec<(&str, A)> = vec![
        ("str", st("x")),
        ("int", A::Int(3)),
        ("float", A::Float(0.25)),
        ("bool", A::Boolean(true)),
        (
            "gen_ai.response.finish_reasons",
            A::StrArray(vec!["stop".into(), "length".into()]),
        ),
        ("ints", A::IntArray(vec![1, 2])),
        ("floats", A::FloatArray(vec![0.5])),
        ("mixed", A::Json(r#"[1,"a"]"#.into())),
        ("bytes", A::Json(r#""3q0=""#.into())),
        ("map", A::Json(r#"{"k":"v"}"#.into())),
    ];
    let got: Vec<(&str, A)> = got
        .attributes
        .iter()
        .map(|a| (a.key.as_str(), a.value.clone()))
        .collect();
    assert_eq!(got, want);
}

// ---- GPU samples -------------------------------------------------------

fn gpu_event(time: u64, attributes: Vec<KeyValue>) -> Event {
    event("gpu.sample", time, attributes)
}

#[test]
fn gpu_sample_events() {
    let mut s = chat(vec![]);
    s.events = vec![
        gpu_event(
            START + 10,
            vec![
                kv("gpu.id", "GPU-3f2a"),
                kv("gpu.model", "NVIDIA-A100-SXM4-80GB"),
                kv("gpu.mig.profile", "1g.10gb"),
                kv("gpu.utilization", 87.5),
                kv("gpu.memory.used", 40_960),
                kv("gpu.power.usage", 312.25),
            ],
        ),
        // Ints and doubles alike; fractional MiB.
        gpu_event(
            START + 20,
            vec![
                kv("gpu.id", 0),
                kv("gpu.model", "NVIDIA-H100-80GB-HBM3"),
                kv("gpu.utilization", 90),
                kv("gpu.memory.used", 0.5),
                kv("gpu.power.usage", 400),
            ],
        ),
    ];
    let got = one(vec![], s);
    assert_eq!(
        got.gpu_samples,
        [
            GpuSample {
                time_unix_nano: START + 10,
                gpu: "GPU-3f2a".into(),
                model: "NVIDIA-A100-SXM4-80GB".into(),
                mig_profile: Some("1g.10gb".into()),
                utilization_percent: 87.5,
                memory_used_bytes: 40_960 * 1024 * 1024,
                power_watts: 312.25,
            },
            GpuSample {
                time_unix_nano: START + 20,
                gpu: "0".into(),
                model: "NVIDIA-H100-80GB-HBM3".into(),
                mig_profile: None,
                utilization_percent: 90.0,
                memory_used_bytes: 512 * 1024,
                power_watts: 400.0,
            },
        ]
    );
    // gpu.sample events are samples, not flattened attributes.
    assert!(got.attributes.is_empty(), "{:?}", got.attributes);
}

#[test]
fn gpu_identity_falls_back_to_the_span_then_the_resource() {
    let resource = vec![
        kv("gpu.id", "GPU-node"),
        kv("gpu.model", "NVIDIA-L4"),
        kv("gpu.mig.profile", "node-profile"),
    ];
    let mut s = chat(vec![kv("gpu.model", "NVIDIA-A10G")]);
    s.events = vec![
        gpu_event(START, vec![kv("gpu.utilization", 10)]),
        gpu_event(
            START,
            vec![kv("gpu.utilization", 20), kv("gpu.id", "GPU-own")],
        ),
    ];
    let got = one(resource, s);
    let ids: Vec<(&str, &str, Option<&str>)> = got
        .gpu_samples
        .iter()
        .map(|g| (g.gpu.as_str(), g.model.as_str(), g.mig_profile.as_deref()))
        .collect();
    assert_eq!(
        ids,
        [
            ("GPU-node", "NVIDIA-A10G", Some("node-profile")),
            ("GPU-own", "NVIDIA-A10G", Some("node-profile")),
        ]
    );
    // The node's identity stays visible as attributes too.
    assert_eq!(attr(&got, "gpu.id"), Some(&st("GPU-node")));
    // Nothing anywhere: "unknown".
    let mut s = chat(vec![]);
    s.events = vec![gpu_event(START, vec![kv("gpu.utilization", 1)])];
    let g = &one(vec![], s).gpu_samples[0];
    assert_eq!(
        (g.gpu.as_str(), g.model.as_str(), g.mig_profile.as_deref()),
        ("unknown", "unknown", None)
    );
}

#[test]
fn span_level_gpu_sample() {
    let got = one(
        vec![kv("gpu.id", "GPU-node"), kv("gpu.model", "NVIDIA-L4")],
        chat(vec![
            kv("gpu.utilization", 55),
            kv("gpu.memory.used", 1024),
            kv("gpu.power.usage", 70.5),
        ]),
    );
    assert_eq!(
        got.gpu_samples,
        [GpuSample {
            time_unix_nano: END,
            gpu: "GPU-node".into(),
            model: "NVIDIA-L4".into(),
            mig_profile: None,
            utilization_percent: 55.0,
            memory_used_bytes: 1 << 30,
            power_watts: 70.5,
        }]
    );
    assert_eq!(attr(&got, "gpu.utilization"), Some(&A::Int(55)));
    // With gpu.sample events, span attributes only fill in.
    let mut s = chat(vec![kv("gpu.utilization", 55), kv("gpu.power.usage", 70.0)]);
    s.events = vec![gpu_event(START, vec![kv("gpu.utilization", 1)])];
    let got = one(vec![], s);
    assert_eq!(got.gpu_samples.len(), 1);
    assert_eq!(got.gpu_samples[0].utilization_percent, 1.0);
    assert_eq!(got.gpu_samples[0].power_watts, 70.0);
}

#[test]
fn gpu_event_time_zero_is_the_span_end() {
    let mut s = chat(vec![]);
    s.events = vec![gpu_event(0, vec![kv("gpu.utilization", 1)])];
    assert_eq!(one(vec![], s).gpu_samples[0].time_unix_nano, END);
}

#[test]
fn gpu_values_out_of_range() {
    // (attributes, utilisation kept, or None when the sample is dropped)
    let cases: Vec<(Vec<KeyValue>, Option<f64>)> = vec![
        (vec![kv("gpu.utilization", 100.4)], Some(100.0)),
        (vec![kv("gpu.utilization", 250)], Some(100.0)),
        (vec![kv("gpu.utilization", -3)], Some(0.0)),
        (vec![kv("gpu.utilization", f64::NAN)], None),
        (vec![kv("gpu.utilization", f64::INFINITY)], None),
        (vec![kv("gpu.utilization", "87")], None),
        (vec![], None),
        (
            vec![kv("gpu.utilization", 5), kv("gpu.power.usage", -1.0)],
            None,
        ),
        (
            vec![kv("gpu.utilization", 5), kv("gpu.power.usage", f64::NAN)],
            None,
        ),
        (
            vec![kv("gpu.utilization", 5), kv("gpu.memory.used", -1)],
            None,
        ),
        (
            vec![
                kv("gpu.utilization", 5),
                kv("gpu.memory.used", f64::NEG_INFINITY),
            ],
            None,
        ),
    ];
    for (attributes, want) in cases {
        let mut s = chat(vec![]);
        let label = format!("{attributes:?}");
        s.events = vec![gpu_event(START, attributes)];
        let mapped = map_request(&request(vec![], vec![s]));
        let got = &mapped.spans[0].gpu_samples;
        assert_eq!(got.first().map(|g| g.utilization_percent), want, "{label}");
        assert_eq!(
            mapped.gpu_samples_dropped,
            u64::from(want.is_none()),
            "{label}"
        );
    }
    // Missing memory and power are 0; absurd memory saturates.
    let mut s = chat(vec![]);
    s.events = vec![
        gpu_event(START, vec![kv("gpu.utilization", 5)]),
        gpu_event(
            START,
            vec![kv("gpu.utilization", 5), kv("gpu.memory.used", 1e300)],
        ),
    ];
    let got = one(vec![], s);
    assert_eq!(
        (
            got.gpu_samples[0].memory_used_bytes,
            got.gpu_samples[0].power_watts
        ),
        (0, 0.0)
    );
    assert_eq!(got.gpu_samples[1].memory_used_bytes, u64::MAX);
}

#[test]
fn gpu_samples_per_span_are_capped() {
    let mut s = chat(vec![]);
    s.events = (0..10)
        .map(|i| gpu_event(START + i, vec![kv("gpu.utilization", 1)]))
        .collect();
    let limits = Limits {
        max_gpu_samples: 4,
        ..Limits::default()
    };
    let mapped = map_request_with(&request(vec![], vec![s]), &limits);
    assert_eq!(mapped.spans[0].gpu_samples.len(), 4);
    assert_eq!(mapped.gpu_samples_dropped, 6);
}

// ---- bounds ------------------------------------------------------------

#[test]
fn attributes_per_span_are_capped_in_precedence_order() {
    let mut attrs: Vec<KeyValue> = (0..200).map(|i| kv(&format!("span.{i:03}"), i)).collect();
    attrs.push(kv("gen_ai.request.model", "m"));
    let resource = vec![kv("k8s.pod.name", "p")];
    let mapped = map_request(&request(resource, vec![chat(attrs)]));
    let got = &mapped.spans[0];
    assert_eq!(got.model, "m", "typed fields are extracted past the cap");
    assert_eq!(got.attributes.len(), 128);
    assert_eq!(got.attributes[0].key, "span.000");
    assert_eq!(got.attributes[127].key, "span.127");
    // 72 span attributes and the resource's pod name did not fit.
    assert_eq!(mapped.truncated, 73);
}

#[test]
fn long_values_are_cut() {
    let long = "é".repeat(40 * 1024); // 80 KiB
    let mapped = map_request(&request(
        vec![],
        vec![chat(vec![kv("gen_ai.input.messages", long.as_str())])],
    ));
    let Some(A::Str(v)) = attr(&mapped.spans[0], "gen_ai.input.messages") else {
        panic!("not a string")
    };
    assert_eq!(v.len(), 64 * 1024);
    assert_eq!(mapped.truncated, 1);
}

#[test]
fn attributes_per_span_are_bounded_in_bytes() {
    let big = "x".repeat(60 * 1024);
    let attrs: Vec<KeyValue> = (0..10)
        .map(|i| kv(&format!("a{i}"), big.as_str()))
        .collect();
    let mapped = map_request(&request(vec![], vec![chat(attrs)]));
    let span = &mapped.spans[0];
    let bytes: usize = span
        .attributes
        .iter()
        .map(|a| a.key.len() + value_size(&a.value))
        .sum();
    assert!(bytes <= 256 * 1024, "{bytes}");
    assert!(span.attributes.len() >= 4);
    assert!(mapped.truncated >= 5);
}

#[test]
fn long_keys_and_names_are_bounded() {
    let long = "k".repeat(5000);
    let mut s = chat(vec![
        kv(&long, 1),
        kv("gen_ai.request.model", long.as_str()),
    ]);
    s.events = vec![event(
        &long,
        START,
        (0..10_000).map(|i| kv(&format!("a{i}"), 1)).collect(),
    )];
    let mapped = map_request(&request(vec![kv("service.name", long.as_str())], vec![s]));
    let span = &mapped.spans[0];
    assert_eq!(span.model.len(), 1024);
    assert_eq!(span.service.len(), 1024);
    assert!(span.attributes.is_empty(), "{:?}", span.attributes.len());
    // Key, model, service, and 10,000 event attributes.
    assert_eq!(mapped.truncated, 3 + 10_000);
}

#[test]
fn hostile_attribute_counts_are_bounded_before_mapping() {
    // 100,000 event attributes under a 1,000-byte event name would be 100 MB
    // of formatted keys; only 4 × 128 are considered.
    let name = "e".repeat(1000);
    let mut s = chat((0..100_000).map(|i| kv(&format!("s{i}"), 1)).collect());
    s.events = vec![event(
        &name,
        START,
        (0..100_000).map(|i| kv(&format!("{i}"), 1)).collect(),
    )];
    let mapped = map_request(&request(vec![], vec![s]));
    let span = &mapped.spans[0];
    assert_eq!(span.attributes.len(), 128);
    assert_eq!(span.operation, "chat");
    // Every attribute but the 128 kept and the operation is counted.
    assert_eq!(mapped.truncated, 200_001 - 128 - 1);
}

#[test]
fn a_requests_mapped_size_is_bounded() {
    // Resource attributes are copied into every span: 100 spans sharing
    // 50 KiB of resource attributes would map to 5 MB.
    let resource: Vec<KeyValue> = (0..50)
        .map(|i| kv(&format!("r{i}"), "x".repeat(1024).as_str()))
        .collect();
    let spans: Vec<Span> = (0..100).map(|_| chat(vec![])).collect();
    let limits = Limits {
        max_request_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let mapped = map_request_with(&request(resource, spans), &limits);
    assert!(mapped.spans.len() < 25, "{}", mapped.spans.len());
    assert_eq!(mapped.spans.len() as u64 + mapped.rejected, 100);
    assert!(
        mapped
            .first_rejection
            .unwrap()
            .contains("send smaller batches")
    );
}

// ---- accounting --------------------------------------------------------

/// A small deterministic generator (xorshift), so that failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default, Debug, PartialEq)]
struct Expected {
    spans: u64,
    ignored: u64,
    rejected: u64,
}

fn random_span(rng: &mut Rng, expected: &mut Expected) -> Span {
    let kind = rng.below(10);
    let mut s = match kind {
        0..=2 => span(vec![kv("http.request.method", "GET")]),
        3 => span(vec![]),
        _ => chat(vec![kv("gen_ai.request.model", "m")]),
    };
    for _ in 0..rng.below(4) {
        s.events.push(gpu_event(
            START,
            vec![kv("gpu.utilization", rng.below(150) as i64)],
        ));
    }
    let broken = rng.below(4) == 0;
    if broken {
        match rng.below(6) {
            0 => s.trace_id.truncate(rng.below(16) as usize),
            1 => s.span_id = vec![0; 8],
            2 => s.parent_span_id = vec![1; 1 + rng.below(7) as usize],
            3 => s.start_time_unix_nano = 0,
            4 => s.end_time_unix_nano = s.start_time_unix_nano - 1,
            _ => s.trace_id = vec![0; 16],
        }
    }
    match (kind >= 4, broken) {
        (false, _) => expected.ignored += 1,
        (true, true) => expected.rejected += 1,
        (true, false) => expected.spans += 1,
    }
    s
}

#[test]
fn every_span_is_mapped_ignored_or_rejected() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut expected = Expected::default();
        let mut req = ExportTraceServiceRequest::default();
        for _ in 0..rng.below(4) {
            let mut rs = ResourceSpans::default();
            if rng.below(2) == 0 {
                rs.resource = Some(Resource {
                    attributes: vec![kv("service.name", "svc")],
                    ..Default::default()
                });
            }
            for _ in 0..rng.below(4) {
                let mut ss = ScopeSpans::default();
                for _ in 0..rng.below(20) {
                    ss.spans.push(random_span(&mut rng, &mut expected));
                }
                rs.scope_spans.push(ss);
            }
            req.resource_spans.push(rs);
        }
        let mapped = map_request(&req);
        let got = Expected {
            spans: mapped.spans.len() as u64,
            ignored: mapped.ignored,
            rejected: mapped.rejected,
        };
        assert_eq!(got, expected, "seed {seed}");
        assert_eq!(mapped.total(), count_spans(&req), "seed {seed}");
        assert_eq!(
            mapped.first_rejection.is_some(),
            mapped.rejected > 0,
            "seed {seed}"
        );
    }
}

#[test]
fn the_corpus_example_is_not_an_inference_span() {
    let body = &crate::corpus_example();
    let req = crate::decode(body.as_bytes(), crate::Encoding::Json, false, 1 << 20).unwrap();
    let mapped = map_request(&req);
    assert_eq!(
        (mapped.spans.len(), mapped.ignored, mapped.rejected),
        (0, 1, 0)
    );
}

#[test]
fn otlp_json_end_to_end() {
    // As an OpenTelemetry Collector's otlphttp exporter writes it: int64 as
    // strings, an empty array without `values`, upper-case ids.
    let body = br#"{"resourceSpans":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"chatbot"}},
        {"key":"k8s.namespace.name","value":{"stringValue":"inference"}},
        {"key":"gpu.model","value":{"stringValue":"NVIDIA-A100-SXM4-80GB"}}]},
      "scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.openai_v2"},"spans":[
        {"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","parentSpanId":"",
         "name":"chat llama-3","kind":3,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000",
         "attributes":[
           {"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
           {"key":"gen_ai.system","value":{"stringValue":"openai"}},
           {"key":"gen_ai.request.model","value":{"stringValue":"llama-3"}},
           {"key":"gen_ai.usage.input_tokens","value":{"intValue":"1200"}},
           {"key":"gen_ai.usage.output_tokens","value":{"intValue":35}},
           {"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{"values":[{"stringValue":"stop"}]}}},
           {"key":"gen_ai.request.stop_sequences","value":{"arrayValue":{}}}],
         "events":[{"timeUnixNano":"1700000000100000000","name":"gpu.sample","attributes":[
           {"key":"gpu.id","value":{"stringValue":"GPU-1"}},
           {"key":"gpu.utilization","value":{"doubleValue":87.5}},
           {"key":"gpu.memory.used","value":{"intValue":"2048"}},
           {"key":"gpu.power.usage","value":{"doubleValue":"300"}}]}],
         "status":{"code":1}}]}]}]}"#;
    let req = crate::decode(body, crate::Encoding::Json, false, 1 << 20).unwrap();
    let mapped = map_request(&req);
    let span = &mapped.spans[0];
    assert_eq!(span.trace_id, "5b8efff798038103d269b633813fc60c");
    assert_eq!(span.parent_span_id, None);
    assert_eq!(
        (span.service.as_str(), span.namespace.as_deref()),
        ("chatbot", Some("inference"))
    );
    assert_eq!(
        (span.model.as_str(), span.operation.as_str()),
        ("llama-3", "chat")
    );
    assert_eq!(
        (span.input_tokens, span.output_tokens),
        (Some(1200), Some(35))
    );
    assert_eq!(span.status, SpanStatus::Ok);
    assert_eq!(
        span.gpu_samples,
        [GpuSample {
            time_unix_nano: 1_700_000_000_100_000_000,
            gpu: "GPU-1".into(),
            model: "NVIDIA-A100-SXM4-80GB".into(),
            mig_profile: None,
            utilization_percent: 87.5,
            memory_used_bytes: 2048 << 20,
            power_watts: 300.0,
        }]
    );
    let want = [
        Attribute {
            key: "gen_ai.system".into(),
            value: st("openai"),
        },
        Attribute {
            key: "gen_ai.response.finish_reasons".into(),
            value: A::StrArray(vec!["stop".into()]),
        },
        Attribute {
            key: "gen_ai.request.stop_sequences".into(),
            value: A::StrArray(vec![]),
        },
        Attribute {
            key: "gen_ai.provider.name".into(),
            value: st("openai"),
        },
        Attribute {
            key: "gpu.model".into(),
            value: st("NVIDIA-A100-SXM4-80GB"),
        },
    ];
    assert_eq!(span.attributes, want);
}
