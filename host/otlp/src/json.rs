//! OTLP/JSON: normalisation before `opentelemetry-proto`'s serde.
//!
//! `opentelemetry-proto` (with `with-serde`) already reads the OTLP/JSON
//! specifics: hex `traceId`/`spanId`, 64-bit integers as numbers or decimal
//! strings, integer enums, unknown fields ignored. What it refuses, although
//! the proto3 JSON mapping that OTLP/JSON builds on allows it, is fixed here
//! on a `serde_json::Value` before the typed deserialisation:
//!
//! - `null` for any field (proto3: the field's default). Removed.
//! - `{"arrayValue": {}}` and `{"kvlistValue": {}}`: an empty array or map, as
//!   the Collector writes it (proto3 JSON leaves empty repeated fields out).
//!   `values: []` is filled in.
//! - A `KeyValue` without `key` (proto3: `""`). Filled in.
//! - `doubleValue` as a string: `"1.5"` becomes a number; `"NaN"`,
//!   `"Infinity"` and `"-Infinity"` cannot be held by a JSON number, so the
//!   value becomes empty (the mapping then treats it as missing).
//! - 32-bit integers as decimal strings (`droppedAttributesCount`, `flags`…).
//! - Enum names (`"SPAN_KIND_SERVER"`, `"STATUS_CODE_ERROR"`): OTLP says
//!   senders must use integers; receivers such as the Collector accept both.
//! - `resource.entityRefs`: its generated type requires every field, while
//!   senders leave empty ones out. Gavel does not use entity refs; removed.
//!
//! Ids that are not hex are refused with a message that names the field,
//! because the usual cause is an exporter using the plain protobuf JSON
//! mapping (base64 ids) instead of OTLP/JSON.

use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use serde_json::{Map, Value};

use crate::decode::DecodeError;
use crate::proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// Parses an OTLP/JSON `ExportTraceServiceRequest`.
///
/// Most bodies need none of the fixes, and parsing straight into the typed
/// messages is several times faster than going through a `Value` tree, so
/// that is tried first; only a body it refuses takes the normalising path,
/// which also words the error. The direct path is a little more lenient on
/// input no OTLP exporter produces (a message written as a JSON array is
/// read positionally, an id may carry a `0x` prefix); the request itself must
/// still be an object.
pub(crate) fn decode(bytes: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    let is_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if is_object && let Ok(request) = serde_json::from_slice(bytes) {
        return Ok(request);
    }
    decode_normalized(bytes)
}

fn decode_normalized(bytes: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    let mut value: Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::Json(e.to_string()))?;
    normalize(&mut value).map_err(DecodeError::Json)?;
    serde_json::from_value(value).map_err(|e| DecodeError::Json(e.to_string()))
}

type Fixed<T = ()> = Result<T, String>;

fn normalize(root: &mut Value) -> Fixed {
    let Some(root) = object(root, "the request")? else {
        return Err("the request is null: send a JSON object, `{}` when empty".to_owned());
    };
    for rs in array(root, "resourceSpans")? {
        let Some(rs) = object(rs, "resourceSpans")? else {
            continue;
        };
        if let Some(resource) = field(rs, "resource")? {
            resource.remove("entityRefs");
            uints(resource, &["droppedAttributesCount"]);
            attributes(resource)?;
        }
        for ss in array(rs, "scopeSpans")? {
            let Some(ss) = object(ss, "scopeSpans")? else {
                continue;
            };
            if let Some(scope) = field(ss, "scope")? {
                uints(scope, &["droppedAttributesCount"]);
                attributes(scope)?;
            }
            for span in array(ss, "spans")? {
                if let Some(span) = object(span, "spans")? {
                    self::span(span)?;
                }
            }
        }
    }
    Ok(())
}

fn span(span: &mut Map<String, Value>) -> Fixed {
    ids(span, &["traceId", "spanId", "parentSpanId"])?;
    uints(
        span,
        &[
            "flags",
            "droppedAttributesCount",
            "droppedEventsCount",
            "droppedLinksCount",
        ],
    );
    enumeration(span, "kind", |name| {
        SpanKind::from_str_name(name).map(|k| k as i32)
    });
    attributes(span)?;
    for event in array(span, "events")? {
        if let Some(event) = object(event, "events")? {
            uints(event, &["droppedAttributesCount"]);
            attributes(event)?;
        }
    }
    for link in array(span, "links")? {
        if let Some(link) = object(link, "links")? {
            ids(link, &["traceId", "spanId"])?;
            uints(link, &["flags", "droppedAttributesCount"]);
            attributes(link)?;
        }
    }
    if let Some(status) = field(span, "status")? {
        enumeration(status, "code", |name| {
            StatusCode::from_str_name(name).map(|c| c as i32)
        });
    }
    Ok(())
}

fn attributes(message: &mut Map<String, Value>) -> Fixed {
    for kv in array(message, "attributes")? {
        key_value(kv)?;
    }
    Ok(())
}

fn key_value(kv: &mut Value) -> Fixed {
    let Some(kv) = object(kv, "attributes")? else {
        return Ok(());
    };
    kv.entry("key")
        .or_insert_with(|| Value::String(String::new()));
    if let Some(value) = kv.get_mut("value") {
        any_value(value)?;
    }
    Ok(())
}

fn any_value(value: &mut Value) -> Fixed {
    let Some(value) = object(value, "value")? else {
        return Ok(());
    };
    if let Some(array) = field(value, "arrayValue")? {
        array
            .entry("values")
            .or_insert_with(|| Value::Array(Vec::new()));
        for element in self::array(array, "values")? {
            any_value(element)?;
        }
    }
    if let Some(kvlist) = field(value, "kvlistValue")? {
        kvlist
            .entry("values")
            .or_insert_with(|| Value::Array(Vec::new()));
        for kv in array(kvlist, "values")? {
            key_value(kv)?;
        }
    }
    if let Some(Value::String(s)) = value.get("doubleValue") {
        match s.trim().parse::<f64>() {
            Ok(d) if d.is_finite() => {
                let n = serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number);
                value.insert("doubleValue".into(), n);
            }
            // NaN, ±Infinity (and their spellings): no JSON number holds them.
            Ok(_) => {
                value.remove("doubleValue");
            }
            Err(_) => {} // serde reports it
        }
    }
    Ok(())
}

/// The message in `v`, with its `null` fields removed (proto3 JSON: a null
/// field is the default value); `None` for `null`. Anything else is refused
/// here, because serde would read an array positionally as a struct.
fn object<'a>(v: &'a mut Value, what: &str) -> Fixed<Option<&'a mut Map<String, Value>>> {
    match v {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            Ok(Some(map))
        }
        Value::Null => Ok(None),
        other => Err(format!(
            "`{what}` must be a JSON object, got {}",
            kind(other)
        )),
    }
}

/// The message in field `key` of `m`, if present.
fn field<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> Fixed<Option<&'a mut Map<String, Value>>> {
    match m.get_mut(key) {
        Some(v) => object(v, key),
        None => Ok(None),
    }
}

/// The elements of the repeated field `key` of `m` (none when absent).
fn array<'a>(m: &'a mut Map<String, Value>, key: &str) -> Fixed<std::slice::IterMut<'a, Value>> {
    match m.get_mut(key) {
        Some(Value::Array(a)) => Ok(a.iter_mut()),
        Some(other) => Err(format!("`{key}` must be a JSON array, got {}", kind(other))),
        None => Ok([].iter_mut()),
    }
}

/// 32-bit integer fields given as decimal strings become numbers.
fn uints(m: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(v) = m.get_mut(*key)
            && let Some(n) = v.as_str().and_then(|s| s.trim().parse::<u32>().ok())
        {
            *v = Value::from(n);
        }
    }
}

fn enumeration(m: &mut Map<String, Value>, key: &str, by_name: impl Fn(&str) -> Option<i32>) {
    if let Some(v) = m.get_mut(key)
        && let Some(s) = v.as_str()
        && let Some(n) = s.trim().parse::<i32>().ok().or_else(|| by_name(s))
    {
        *v = Value::from(n);
    }
}

fn ids(m: &Map<String, Value>, keys: &[&str]) -> Fixed {
    for key in keys {
        let Some(v) = m.get(*key) else { continue };
        let Some(s) = v.as_str() else {
            return Err(format!("`{key}` must be a hex string, got {}", kind(v)));
        };
        if s.len() % 2 != 0 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            let shown: String = s.chars().take(64).collect();
            return Err(format!(
                "`{key}` \"{shown}\" is not hex: OTLP/JSON encodes trace and span ids as hex strings, not base64 (use an OTLP exporter, not a generic protobuf JSON encoder)"
            ));
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tonic::common::v1::any_value::Value as Any;
    use crate::proto::tonic::trace::v1::Span;

    /// Decodes a request holding one span whose JSON fields are `fields`.
    fn one_span(fields: &str) -> std::result::Result<Span, DecodeError> {
        let body = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174"{fields}}}]}}]}}]}}"#
        );
        let mut req = decode(body.as_bytes())?;
        Ok(req
            .resource_spans
            .remove(0)
            .scope_spans
            .remove(0)
            .spans
            .remove(0))
    }

    fn attr(fields: &str) -> Option<Any> {
        let span = one_span(&format!(
            r#","attributes":[{{"key":"a","value":{fields}}}]"#
        ))
        .unwrap_or_else(|e| panic!("{fields}: {e}"));
        span.attributes[0].value.clone().and_then(|v| v.value)
    }

    #[test]
    fn corpus_example() {
        // The example from opentelemetry-proto (examples/trace.json), as
        // shared/corpus/otlp/otel-proto-example-trace.json holds it.
        let body = &crate::corpus_example();
        let req = decode(body.as_bytes()).unwrap();
        let rs = &req.resource_spans[0];
        let service = &rs.resource.as_ref().unwrap().attributes[0];
        assert_eq!(service.key, "service.name");
        let scope = &rs.scope_spans[0];
        assert_eq!(scope.scope.as_ref().unwrap().name, "my.library");
        let span = &scope.spans[0];
        // Upper-case hex in the example; bytes are bytes.
        assert_eq!(
            hex::encode(&span.trace_id),
            "5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(hex::encode(&span.span_id), "eee19b7ec3c1b174");
        assert_eq!(hex::encode(&span.parent_span_id), "eee19b7ec3c1b173");
        assert_eq!(span.kind, 2);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.name, "I'm a server span");
        assert_eq!(
            span.attributes[0].value.as_ref().unwrap().value,
            Some(Any::StringValue("some value".into()))
        );
    }

    #[test]
    fn both_paths_agree_on_bodies_that_need_no_fixes() {
        let example = crate::corpus_example();
        let bodies = [
            example.as_str(),
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","kind":3,"startTimeUnixNano":"1","endTimeUnixNano":2,"attributes":[{"key":"i","value":{"intValue":"7"}},{"key":"d","value":{"doubleValue":0.5}},{"key":"b","value":{"bytesValue":"AQID"}},{"key":"a","value":{"arrayValue":{"values":[{"stringValue":"x"}]}}},{"key":"m","value":{"kvlistValue":{"values":[{"key":"k","value":{"boolValue":true}}]}}}],"events":[{"timeUnixNano":"3","name":"e"}],"links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}],"status":{"code":2,"message":"m"}}]}]}]}"#,
            "{}",
            " \n{\"resourceSpans\":[]}",
        ];
        for body in bodies {
            let direct: ExportTraceServiceRequest = serde_json::from_str(body).unwrap();
            assert_eq!(
                decode_normalized(body.as_bytes()).unwrap(),
                direct,
                "{body}"
            );
            assert_eq!(decode(body.as_bytes()).unwrap(), direct, "{body}");
        }
    }

    #[test]
    fn wire_format_values() {
        let cases: &[(&str, Option<Any>)] = &[
            (r#"{"stringValue":"x"}"#, Some(Any::StringValue("x".into()))),
            (r#"{"intValue":"42"}"#, Some(Any::IntValue(42))),
            (r#"{"intValue":42}"#, Some(Any::IntValue(42))),
            (
                r#"{"intValue":"-9223372036854775808"}"#,
                Some(Any::IntValue(i64::MIN)),
            ),
            (r#"{"doubleValue":1.5}"#, Some(Any::DoubleValue(1.5))),
            (r#"{"doubleValue":3}"#, Some(Any::DoubleValue(3.0))),
            (r#"{"doubleValue":"1.5"}"#, Some(Any::DoubleValue(1.5))),
            (r#"{"doubleValue":"NaN"}"#, None),
            (r#"{"doubleValue":"-Infinity"}"#, None),
            (r#"{"boolValue":true}"#, Some(Any::BoolValue(true))),
            // Bytes in AnyValue are base64 (only ids are hex).
            (
                r#"{"bytesValue":"AQID"}"#,
                Some(Any::BytesValue(vec![1, 2, 3])),
            ),
            (r#"{}"#, None),
            (r#"{"stringValue":null}"#, None),
        ];
        for (json, want) in cases {
            assert_eq!(&attr(json), want, "{json}");
        }
    }

    #[test]
    fn empty_arrays_and_maps_as_the_collector_writes_them() {
        let Some(Any::ArrayValue(a)) = attr(r#"{"arrayValue":{}}"#) else {
            panic!("not an array")
        };
        assert!(a.values.is_empty());
        let Some(Any::KvlistValue(m)) = attr(r#"{"kvlistValue":{}}"#) else {
            panic!("not a map")
        };
        assert!(m.values.is_empty());
        // Nested: fixes apply at every depth.
        let Some(Any::KvlistValue(m)) = attr(
            r#"{"kvlistValue":{"values":[{"key":"k","value":{"arrayValue":{"values":[{"arrayValue":{}},{"doubleValue":"2"}]}}},{"value":{"intValue":"1"}}]}}"#,
        ) else {
            panic!("not a map")
        };
        assert_eq!(m.values[1].key, "");
        let Some(Any::ArrayValue(inner)) = &m.values[0].value.as_ref().unwrap().value else {
            panic!("not an array")
        };
        assert_eq!(inner.values[1].value, Some(Any::DoubleValue(2.0)));
    }

    #[test]
    fn nulls_are_defaults() {
        let span = one_span(
            r#","parentSpanId":null,"attributes":null,"events":null,"status":null,"name":null"#,
        )
        .unwrap();
        assert!(span.parent_span_id.is_empty());
        assert!(span.attributes.is_empty());
        assert!(span.status.is_none());
        let req = decode(
            br#"{"resourceSpans":[{"resource":null,"scopeSpans":[{"scope":null,"spans":null}]}]}"#,
        )
        .unwrap();
        assert!(req.resource_spans[0].scope_spans[0].spans.is_empty());
    }

    #[test]
    fn enums_and_small_ints() {
        let span = one_span(
            r#","kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR","message":"boom"},"droppedAttributesCount":"3","flags":"256""#,
        )
        .unwrap();
        assert_eq!(span.kind, 3);
        assert_eq!(span.status.as_ref().unwrap().code, 2);
        assert_eq!(span.dropped_attributes_count, 3);
        assert_eq!(span.flags, 256);
        let span = one_span(r#","kind":"3","status":{"code":1}"#).unwrap();
        assert_eq!(span.kind, 3);
        assert_eq!(span.status.unwrap().code, 1);
        assert!(one_span(r#","kind":"SPAN_KIND_NOPE""#).is_err());
    }

    #[test]
    fn unknown_fields_and_entity_refs_are_ignored() {
        let span = one_span(r#","someFutureField":{"x":[1,2]},"events":[{"name":"e","timeUnixNano":"5","future":1}]"#).unwrap();
        assert_eq!(span.events[0].time_unix_nano, 5);
        let req = decode(
            br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"x"}}],"entityRefs":[{"type":"k8s.pod","idKeys":["k8s.pod.uid"]}]}}]}"#,
        )
        .unwrap();
        assert_eq!(
            req.resource_spans[0]
                .resource
                .as_ref()
                .unwrap()
                .attributes
                .len(),
            1
        );
    }

    #[test]
    fn ids() {
        let span = one_span(r#","parentSpanId":"""#).unwrap();
        assert!(span.parent_span_id.is_empty());
        // Wrong length but hex: decoded; the mapping rejects the span.
        let span = one_span(r#","parentSpanId":"abcd""#).unwrap();
        assert_eq!(span.parent_span_id, vec![0xab, 0xcd]);
        // Base64 ids, as a generic protobuf JSON encoder writes them.
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ="}]}]}]}"#;
        let err = decode(body).unwrap_err();
        assert_eq!(err.http_status(), 400);
        let msg = err.to_string();
        assert!(msg.contains("`traceId`") && msg.contains("base64"), "{msg}");
        let err = one_span(r#","parentSpanId":12"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("`parentSpanId` must be a hex string"),
            "{err}"
        );
        let err = one_span(r#","links":[{"traceId":"xyz"}]"#).unwrap_err();
        assert!(err.to_string().contains("`traceId`"), "{err}");
    }

    #[test]
    fn malformed_json() {
        for (body, needle) in [
            (&b"{"[..], "EOF"),
            (b"", "EOF"),
            (b"[]", "must be a JSON object"),
            (b"null", "send a JSON object"),
            (br#"{"resourceSpans":{}}"#, "must be a JSON array"),
            (br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"status":[2]}]}]}]}"#, "`status` must be a JSON object"),
            (br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"arrayValue":[]}}]}]}]}]}"#, "`arrayValue` must be a JSON object"),
            (br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#, "invalid"),
            (br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"intValue":"1.5"}}]}]}]}]}"#, "invalid"),
        ] {
            let err = decode(body).unwrap_err();
            assert!(matches!(err, DecodeError::Json(_)), "{err}");
            assert_eq!(err.http_status(), 400);
            let msg = err.to_string();
            assert!(msg.contains(needle), "{msg}");
            assert!(msg.contains("JSON Protobuf Encoding"), "{msg}");
        }
    }

    #[test]
    fn messages_as_arrays() {
        // Read positionally by the direct path (serde's struct-as-sequence);
        // the normalising path, which words errors, refuses them.
        let body = br#"{"resourceSpans":[[]]}"#;
        assert_eq!(decode(body).unwrap().resource_spans.len(), 1);
        let err = decode_normalized(body).unwrap_err();
        assert!(
            err.to_string()
                .contains("`resourceSpans` must be a JSON object"),
            "{err}"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let depth = 10_000;
        let mut body = String::from(
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":"#,
        );
        body.push_str(&r#"{"arrayValue":{"values":["#.repeat(depth));
        body.push_str(&"]}}".repeat(depth));
        body.push_str("}]}]}]}]}");
        assert!(decode(body.as_bytes()).is_err());
    }
}
