//! Personal data in the message attributes of GenAI spans.
//!
//! The OpenTelemetry GenAI semantic conventions record prompts and completions
//! (opt-in) as `gen_ai.input.messages`, `gen_ai.output.messages` and
//! `gen_ai.system_instructions`, and older instrumentations as `gen_ai.prompt`,
//! `gen_ai.completion` and indexed keys such as `gen_ai.prompt.0.content`. A
//! value may be plain text, JSON text (the structured messages), an array of
//! strings, or a JSON attribute; JSON is walked so a position can be given as
//! a JSON pointer to the string that holds the entity.
//!
//! Findings say which span, which attribute, what type, how many and where
//! (pointer and byte range in that string); never what. One finding covers one
//! entity type in one attribute of one span, so a long conversation yields a
//! few findings, not one per match.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gavel_sdk::prelude::*;
use serde_json::Value;

use crate::glob;
use crate::pii::{self, Entity};
use crate::report::Report;
use crate::settings::{Settings, TraceSettings};

/// The finding code for personal data in a span.
pub const PII_IN_TRACE: &str = "privacy.pii-in-trace";

/// The attributes that hold message content. The `*.` forms catch a GenAI
/// event's attributes when the ingest flattens them under the event's name.
const MESSAGE_ATTRIBUTES: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "*.gen_ai.input.messages",
    "*.gen_ai.output.messages",
    "*.gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.prompt.*",
    "gen_ai.completion.*",
];

/// One entity found in an attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hit {
    entity: Entity,
    /// JSON pointer to the string inside the attribute value; empty when the
    /// value is the string.
    pointer: String,
    start: usize,
    len: usize,
}

/// Judge a batch of spans.
pub fn evaluate(spans: &[InferenceSpan], settings: &Settings) -> Verdict {
    let traces = &settings.traces;
    let mut report = Report::new(settings.max_findings);
    let mut totals: BTreeMap<Entity, usize> = traces.entities.iter().map(|&e| (e, 0)).collect();
    let (mut spans_with_pii, mut attributes_scanned) = (0, 0);
    let mut worst = Severity::Info;
    for span in spans.iter().filter(|_| traces.enabled) {
        let mut span_has_pii = false;
        for attribute in span
            .attributes
            .iter()
            .filter(|a| is_message_attribute(&a.key, traces))
        {
            attributes_scanned += 1;
            let hits = scan_value(&attribute.value, &traces.entities);
            for entity in Entity::ALL {
                let of_type: Vec<&Hit> = hits.iter().filter(|h| h.entity == entity).collect();
                if of_type.is_empty() {
                    continue;
                }
                span_has_pii = true;
                *totals.entry(entity).or_default() += of_type.len();
                worst = worst.max(severity(entity));
                let message = message(
                    &span.span_id,
                    &attribute.key,
                    entity,
                    &of_type,
                    traces.max_positions,
                );
                let found = finding(PII_IN_TRACE, message).severity(severity(entity));
                report.add(traces.decision.into(), found);
            }
        }
        spans_with_pii += usize::from(span_has_pii);
    }
    for (entity, count) in &totals {
        report.metric(
            "pii_entities_total",
            *count as f64,
            [("entity", entity.name())],
        );
    }
    let scanned = if traces.enabled { spans.len() } else { 0 };
    report.metric("spans_scanned_total", scanned as f64, []);
    report.metric("spans_with_pii_total", spans_with_pii as f64, []);
    report.metric(
        "message_attributes_scanned_total",
        attributes_scanned as f64,
        [],
    );
    if spans_with_pii > 0 {
        let counts: Vec<String> = totals
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(e, n)| format!("{} {n}", e.name()))
            .collect();
        let alert = format!(
            "personal data in the GenAI message attributes of {spans_with_pii} of {} spans ({}): redact it before export (for example with an OpenTelemetry Collector redaction or transform processor) and purge the stored traces",
            spans.len(),
            counts.join(", ")
        );
        report.action(Action::alert(worst, alert));
    }
    report.build()
}

/// Whether an attribute holds message content under these settings.
fn is_message_attribute(key: &str, traces: &TraceSettings) -> bool {
    let built_in = MESSAGE_ATTRIBUTES.iter().copied();
    let configured = traces.attributes.iter().map(String::as_str);
    built_in
        .chain(configured)
        .any(|p| glob::matches(p, key, false))
}

/// How serious one entity type is when found: identifiers that enable fraud
/// or identity theft (GDPR Art. 34 "high risk") above contact details, and
/// contact details above addresses that identify a device.
fn severity(entity: Entity) -> Severity {
    match entity {
        Entity::CreditCard | Entity::Iban | Entity::UsSsn => Severity::High,
        Entity::Email | Entity::Phone => Severity::Medium,
        Entity::IpAddress => Severity::Low,
    }
}

fn message(
    span_id: &str,
    key: &str,
    entity: Entity,
    hits: &[&Hit],
    max_positions: usize,
) -> String {
    let mut message = format!(
        "span {span_id} attribute `{key}`: {} {}",
        hits.len(),
        entity.noun(hits.len())
    );
    if max_positions > 0 {
        let positions: Vec<String> = hits
            .iter()
            .take(max_positions)
            .map(|h| match h.pointer.as_str() {
                "" => format!("bytes {}..{}", h.start, h.start + h.len),
                pointer => format!("{pointer} bytes {}..{}", h.start, h.start + h.len),
            })
            .collect();
        let _ = write!(message, " at {}", positions.join(", "));
        if hits.len() > max_positions {
            let _ = write!(message, " and {} more", hits.len() - max_positions);
        }
    }
    message.push_str(": redact personal data before spans are exported (for example with an OpenTelemetry Collector redaction processor), or stop recording message content");
    message
}

/// The entities in an attribute value.
fn scan_value(value: &AttributeValue, entities: &[Entity]) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut scan = |pointer: &str, text: &str| {
        hits.extend(pii::scan(text, entities).into_iter().map(|m| Hit {
            entity: m.entity,
            pointer: pointer.to_owned(),
            start: m.start,
            len: m.len,
        }));
    };
    match value {
        AttributeValue::Str(text) => text_or_json(text, String::new(), &mut scan),
        AttributeValue::StrArray(items) => {
            for (i, text) in items.iter().enumerate() {
                text_or_json(text, format!("/{i}"), &mut scan);
            }
        }
        AttributeValue::Json(text) => text_or_json(text, String::new(), &mut scan),
        // Numbers and booleans are token counts and flags, not message content.
        AttributeValue::Int(_)
        | AttributeValue::Float(_)
        | AttributeValue::Boolean(_)
        | AttributeValue::IntArray(_)
        | AttributeValue::FloatArray(_) => {}
    }
    hits
}

/// Scan `text` as JSON when it is a JSON object or array (structured
/// messages are often recorded as JSON strings), and as plain text otherwise.
fn text_or_json(text: &str, mut pointer: String, scan: &mut dyn FnMut(&str, &str)) {
    let trimmed = text.trim_start();
    if trimmed.starts_with(['[', '{'])
        && let Ok(value) = serde_json::from_str::<Value>(text)
    {
        walk(&value, &mut pointer, scan);
        return;
    }
    scan(&pointer, text);
}

/// Call `scan` on every string (and integer, which may be a number written as
/// JSON) in `value`, with its JSON pointer.
fn walk(value: &Value, pointer: &mut String, scan: &mut dyn FnMut(&str, &str)) {
    let len = pointer.len();
    match value {
        Value::String(text) => scan(pointer, text),
        Value::Number(n) if n.is_u64() || n.is_i64() => scan(pointer, &n.to_string()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let _ = write!(pointer, "/{i}");
                walk(item, pointer, scan);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                pointer.push('/');
                pointer.push_str(&crate::workload::escape(key));
                walk(item, pointer, scan);
                pointer.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(value: AttributeValue) -> Vec<(Entity, String, usize, usize)> {
        scan_value(&value, &Entity::ALL)
            .into_iter()
            .map(|h| (h.entity, h.pointer, h.start, h.len))
            .collect()
    }

    #[test]
    fn plain_text_positions_are_byte_offsets() {
        let got = hits(AttributeValue::Str("Grüße, jane@example.org".to_owned()));
        assert_eq!(got, [(Entity::Email, String::new(), 9, 16)]);
    }

    #[test]
    fn structured_messages_are_walked() {
        let messages = r#"[{"role":"user","parts":[{"type":"text","content":"I am jane@example.org"}]},
                           {"role":"assistant","parts":[{"type":"text","content":"Noted."}]}]"#;
        let want = [(Entity::Email, "/0/parts/0/content".to_owned(), 5, 16)];
        assert_eq!(hits(AttributeValue::Str(messages.to_owned())), want);
        assert_eq!(hits(AttributeValue::Json(messages.to_owned())), want);
    }

    #[test]
    fn arrays_keys_and_numbers() {
        let got = hits(AttributeValue::StrArray(vec![
            "fine".into(),
            "call +1 415 555 0132".into(),
        ]));
        assert_eq!(got, [(Entity::Phone, "/1".to_owned(), 5, 15)]);
        let got = hits(AttributeValue::Json(
            r#"{"a/b~c": {"card": 4111111111111111}}"#.into(),
        ));
        assert_eq!(
            got,
            [(Entity::CreditCard, "/a~1b~0c/card".to_owned(), 0, 16)]
        );
    }

    #[test]
    fn broken_json_is_text() {
        let got = hits(AttributeValue::Str("[unclosed jane@example.org".to_owned()));
        assert_eq!(got, [(Entity::Email, String::new(), 10, 16)]);
        assert!(hits(AttributeValue::Int(4111111111111111)).is_empty());
    }

    #[test]
    fn message_attribute_keys() {
        let traces = TraceSettings {
            attributes: vec!["llm.input_messages.*".into()],
            ..TraceSettings::default()
        };
        for (key, want) in [
            ("gen_ai.input.messages", true),
            ("gen_ai.output.messages", true),
            ("gen_ai.system_instructions", true),
            (
                "gen_ai.client.inference.operation.details.gen_ai.input.messages",
                true,
            ),
            ("gen_ai.prompt", true),
            ("gen_ai.prompt.0.content", true),
            ("gen_ai.completion.0.content", true),
            ("llm.input_messages.0.message.content", true),
            ("gen_ai.request.model", false),
            ("gen_ai.usage.input_tokens", false),
            ("user.email", false),
        ] {
            assert_eq!(is_message_attribute(key, &traces), want, "{key}");
        }
    }
}
