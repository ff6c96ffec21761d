//! OTLP `AnyValue` → gavel `AttributeValue`, bounded.

use base64::Engine;
use gavel_core::AttributeValue;

use crate::proto::tonic::common::v1::{AnyValue, any_value::Value};

/// A converted value and whether anything was cut to fit the budget.
pub(crate) struct Converted {
    pub value: AttributeValue,
    pub truncated: bool,
}

/// Converts `v` so that its content (string bytes, 8 per number) stays within
/// `max_bytes`.
pub(crate) fn convert(v: Option<&AnyValue>, max_bytes: usize) -> Converted {
    let mut truncated = false;
    let value = match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => AttributeValue::Str(clip(s, max_bytes, &mut truncated)),
        Some(Value::BoolValue(b)) => AttributeValue::Boolean(*b),
        Some(Value::IntValue(i)) => AttributeValue::Int(*i),
        Some(Value::DoubleValue(d)) if d.is_finite() => AttributeValue::Float(*d),
        // NaN and infinities do not survive JSON (the audit trail, `--json`);
        // they travel as their proto3 JSON spelling.
        Some(Value::DoubleValue(d)) => AttributeValue::Str(non_finite(*d).to_owned()),
        Some(Value::ArrayValue(a)) => array(&a.values, max_bytes, &mut truncated),
        Some(other) => {
            let mut out = Vec::new();
            let mut budget = max_bytes;
            json(Some(other), &mut out, &mut budget, &mut truncated);
            AttributeValue::Json(into_string(out))
        }
        None => AttributeValue::Json("null".to_owned()),
    };
    Converted { value, truncated }
}

/// The value as a string, when it is a string.
pub(crate) fn as_str(v: Option<&AnyValue>) -> Option<&str> {
    match v?.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// The value as a number, when it is an int or a double.
pub(crate) fn as_f64(v: Option<&AnyValue>) -> Option<f64> {
    match v?.value.as_ref()? {
        Value::IntValue(i) => Some(*i as f64),
        Value::DoubleValue(d) => Some(*d),
        _ => None,
    }
}

/// A token count: a non-negative int, a non-negative finite double (whole
/// part), or a decimal string.
pub(crate) fn as_count(v: Option<&AnyValue>) -> Option<u64> {
    match v?.value.as_ref()? {
        Value::IntValue(i) => u64::try_from(*i).ok(),
        Value::DoubleValue(d) if d.is_finite() && *d >= 0.0 && *d < u64::MAX as f64 => {
            Some(*d as u64)
        }
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Homogeneous arrays become typed arrays; anything else JSON text. An empty
/// array is an empty `StrArray`.
fn array(values: &[AnyValue], max_bytes: usize, truncated: &mut bool) -> AttributeValue {
    let all = |f: fn(&Value) -> bool| values.iter().all(|v| v.value.as_ref().is_some_and(f));
    if all(|v| matches!(v, Value::StringValue(_))) {
        let mut budget = max_bytes;
        let mut out = Vec::new();
        for v in values {
            let Some(Value::StringValue(s)) = &v.value else {
                continue;
            };
            if budget == 0 {
                *truncated = true;
                break;
            }
            let s = clip(s, budget, truncated);
            // One byte per element as well, so that a million empty strings
            // are not free.
            budget = budget.saturating_sub(s.len() + 1);
            out.push(s);
        }
        AttributeValue::StrArray(out)
    } else if all(|v| matches!(v, Value::IntValue(_))) {
        let keep = values.len().min(max_bytes / 8);
        *truncated |= keep < values.len();
        let ints = values[..keep].iter().filter_map(|v| match v.value {
            Some(Value::IntValue(i)) => Some(i),
            _ => None,
        });
        AttributeValue::IntArray(ints.collect())
    } else if all(|v| matches!(v, Value::DoubleValue(d) if d.is_finite())) {
        let keep = values.len().min(max_bytes / 8);
        *truncated |= keep < values.len();
        let floats = values[..keep].iter().filter_map(|v| match v.value {
            Some(Value::DoubleValue(d)) => Some(d),
            _ => None,
        });
        AttributeValue::FloatArray(floats.collect())
    } else {
        let mut out = Vec::new();
        let mut budget = max_bytes;
        json_array(values, &mut out, &mut budget, truncated);
        AttributeValue::Json(into_string(out))
    }
}

/// Writes `v` as JSON. Every string and number takes from `budget`, and every
/// element or entry one byte more; a string is cut to what is left, and
/// array elements and map entries past the budget are left out, so the text
/// stays valid JSON of bounded size.
/// Bytes become a base64 string; an empty value `null`.
fn json(v: Option<&Value>, out: &mut Vec<u8>, budget: &mut usize, truncated: &mut bool) {
    match v {
        None | Some(Value::StringValueStrindex(_)) => out.extend_from_slice(b"null"),
        Some(Value::StringValue(s)) => json_str(s, out, budget, truncated),
        Some(Value::BoolValue(b)) => {
            *budget = budget.saturating_sub(8);
            out.extend_from_slice(if *b { b"true" } else { b"false" });
        }
        Some(Value::IntValue(i)) => {
            *budget = budget.saturating_sub(8);
            out.extend_from_slice(i.to_string().as_bytes());
        }
        Some(Value::DoubleValue(d)) => {
            *budget = budget.saturating_sub(8);
            if d.is_finite() {
                // serde_json writes the shortest text that reads back exactly.
                let text = serde_json::to_string(d).unwrap_or_else(|_| "null".to_owned());
                out.extend_from_slice(text.as_bytes());
            } else {
                out.push(b'"');
                out.extend_from_slice(non_finite(*d).as_bytes());
                out.push(b'"');
            }
        }
        Some(Value::BytesValue(b)) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(b);
            json_str(&encoded, out, budget, truncated);
        }
        Some(Value::ArrayValue(a)) => json_array(&a.values, out, budget, truncated),
        Some(Value::KvlistValue(kvs)) => {
            out.push(b'{');
            let mut first = true;
            for kv in &kvs.values {
                if *budget == 0 {
                    *truncated = true;
                    break;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                json_str(&kv.key, out, budget, truncated);
                out.push(b':');
                json(
                    kv.value.as_ref().and_then(|v| v.value.as_ref()),
                    out,
                    budget,
                    truncated,
                );
                *budget = budget.saturating_sub(1);
            }
            out.push(b'}');
        }
    }
}

fn json_array(values: &[AnyValue], out: &mut Vec<u8>, budget: &mut usize, truncated: &mut bool) {
    out.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if *budget == 0 {
            *truncated = true;
            break;
        }
        if i > 0 {
            out.push(b',');
        }
        json(v.value.as_ref(), out, budget, truncated);
        *budget = budget.saturating_sub(1);
    }
    out.push(b']');
}

fn json_str(s: &str, out: &mut Vec<u8>, budget: &mut usize, truncated: &mut bool) {
    let cut = &s[..s.floor_char_boundary((*budget).min(s.len()))];
    *truncated |= cut.len() < s.len();
    *budget -= cut.len();
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, cut);
}

/// `s`, cut at a character boundary to at most `max` bytes.
pub(crate) fn clip(s: &str, max: usize, truncated: &mut bool) -> String {
    if s.len() <= max {
        s.to_owned()
    } else {
        *truncated = true;
        s[..s.floor_char_boundary(max)].to_owned()
    }
}

fn non_finite(d: f64) -> &'static str {
    if d.is_nan() {
        "NaN"
    } else if d > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

fn into_string(bytes: Vec<u8>) -> String {
    // Only valid UTF-8 (whole strings, characters cut at boundaries, ASCII
    // punctuation) is ever written.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tonic::common::v1::{ArrayValue, KeyValue, KeyValueList};

    fn any(v: Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }
    fn s(x: &str) -> AnyValue {
        any(Value::StringValue(x.into()))
    }
    fn arr(values: Vec<AnyValue>) -> AnyValue {
        any(Value::ArrayValue(ArrayValue { values }))
    }
    fn kv(key: &str, value: AnyValue) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(value),
            key_strindex: 0,
        }
    }

    fn check(v: AnyValue, max: usize, want: AttributeValue, want_truncated: bool) {
        let got = convert(Some(&v), max);
        assert_eq!(got.value, want, "{v:?}");
        assert_eq!(got.truncated, want_truncated, "{v:?}");
        if let AttributeValue::Json(text) = &got.value {
            serde_json::from_str::<serde_json::Value>(text)
                .unwrap_or_else(|e| panic!("not JSON: {text}: {e}"));
        }
    }

    #[test]
    fn scalars() {
        use AttributeValue as A;
        check(s("x"), 10, A::Str("x".into()), false);
        check(any(Value::IntValue(-3)), 10, A::Int(-3), false);
        check(any(Value::DoubleValue(0.5)), 10, A::Float(0.5), false);
        check(any(Value::BoolValue(true)), 10, A::Boolean(true), false);
        check(
            any(Value::DoubleValue(f64::NAN)),
            10,
            A::Str("NaN".into()),
            false,
        );
        check(
            any(Value::DoubleValue(f64::NEG_INFINITY)),
            10,
            A::Str("-Infinity".into()),
            false,
        );
        check(AnyValue { value: None }, 10, A::Json("null".into()), false);
        check(
            any(Value::BytesValue(vec![1, 2, 3])),
            10,
            A::Json("\"AQID\"".into()),
            false,
        );
        assert_eq!(convert(None, 10).value, A::Json("null".into()));
    }

    #[test]
    fn strings_are_cut_at_char_boundaries() {
        use AttributeValue as A;
        check(s("abcdef"), 4, A::Str("abcd".into()), true);
        // 'é' is two bytes: cutting at 3 would split it.
        check(s("aéé"), 4, A::Str("aé".into()), true);
        check(s("abcd"), 4, A::Str("abcd".into()), false);
    }

    #[test]
    fn arrays() {
        use AttributeValue as A;
        check(
            arr(vec![s("stop"), s("length")]),
            100,
            A::StrArray(vec!["stop".into(), "length".into()]),
            false,
        );
        check(arr(vec![]), 100, A::StrArray(vec![]), false);
        check(
            arr(vec![any(Value::IntValue(1)), any(Value::IntValue(2))]),
            100,
            A::IntArray(vec![1, 2]),
            false,
        );
        check(
            arr(vec![any(Value::DoubleValue(1.5))]),
            100,
            A::FloatArray(vec![1.5]),
            false,
        );
        // Mixed int and double: not homogeneous.
        check(
            arr(vec![any(Value::IntValue(1)), any(Value::DoubleValue(1.5))]),
            100,
            A::Json("[1,1.5]".into()),
            false,
        );
        check(
            arr(vec![s("a"), any(Value::BoolValue(false))]),
            100,
            A::Json(r#"["a",false]"#.into()),
            false,
        );
        check(
            arr(vec![
                any(Value::DoubleValue(1.0)),
                any(Value::DoubleValue(f64::NAN)),
            ]),
            100,
            A::Json(r#"[1.0,"NaN"]"#.into()),
            false,
        );
        check(
            arr(vec![s("x"), AnyValue { value: None }]),
            100,
            A::Json(r#"["x",null]"#.into()),
            false,
        );
    }

    #[test]
    fn arrays_are_bounded() {
        use AttributeValue as A;
        // Each element costs its bytes plus one.
        check(
            arr(vec![s("abc"), s("def"), s("ghi")]),
            5,
            A::StrArray(vec!["abc".into(), "d".into()]),
            true,
        );
        let empties = arr((0..100_000).map(|_| s("")).collect());
        let AttributeValue::StrArray(kept) = convert(Some(&empties), 1000).value else {
            panic!("not a string array")
        };
        assert_eq!(kept.len(), 1000);
        let ints = arr((0..10).map(|i| any(Value::IntValue(i))).collect());
        check(ints, 24, A::IntArray(vec![0, 1, 2]), true);
    }

    #[test]
    fn maps_and_bytes_are_json() {
        use AttributeValue as A;
        let map = any(Value::KvlistValue(KeyValueList {
            values: vec![
                kv("role", s("user")),
                kv("n", any(Value::IntValue(2))),
                kv("raw", any(Value::BytesValue(b"\xff\x00".to_vec()))),
                kv("nested", arr(vec![s("a\"b")])),
            ],
        }));
        check(
            map,
            1000,
            A::Json(r#"{"role":"user","n":2,"raw":"/wA=","nested":["a\"b"]}"#.into()),
            false,
        );
    }

    #[test]
    fn json_is_bounded_and_stays_valid() {
        let long = "x".repeat(1000);
        let map = any(Value::KvlistValue(KeyValueList {
            values: (0..100).map(|i| kv(&format!("k{i}"), s(&long))).collect(),
        }));
        let got = convert(Some(&map), 2500);
        assert!(got.truncated);
        let AttributeValue::Json(text) = got.value else {
            panic!("not json")
        };
        assert!(text.len() < 2600, "{}", text.len());
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(parsed.as_object().unwrap().len() < 5);
        // Empty entries are not free either.
        let empties = arr((0..100_000).map(|_| AnyValue { value: None }).collect());
        let AttributeValue::Json(text) = convert(Some(&empties), 1000).value else {
            panic!("not json")
        };
        assert!(text.len() < 6000, "{}", text.len());
    }

    #[test]
    fn counts() {
        assert_eq!(as_count(Some(&any(Value::IntValue(12)))), Some(12));
        assert_eq!(as_count(Some(&any(Value::IntValue(-1)))), None);
        assert_eq!(as_count(Some(&any(Value::DoubleValue(12.9)))), Some(12));
        assert_eq!(as_count(Some(&any(Value::DoubleValue(f64::NAN)))), None);
        assert_eq!(as_count(Some(&s(" 7 "))), Some(7));
        assert_eq!(as_count(Some(&s("lots"))), None);
        assert_eq!(as_count(None), None);
    }
}
