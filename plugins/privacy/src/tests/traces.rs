//! Trace batches through the native harness.

use gavel_sdk::prelude::*;
use gavel_sdk::testing::{Expect, check, evaluate, span, traces};

use crate::Privacy;

const EMAIL: &str = "jane.doe@example.org";
const CARD: &str = "4111 1111 1111 1111";
const MESSAGES: &str = r#"[{"role":"user","parts":[{"type":"text","content":"I am jane.doe@example.org, card 4111 1111 1111 1111"}]}]"#;

fn attribute(key: &str, value: &str) -> Attribute {
    Attribute {
        key: key.to_owned(),
        value: AttributeValue::Str(value.to_owned()),
    }
}

/// A span with these attributes and a distinct span id.
fn with(id: u8, attributes: Vec<Attribute>) -> InferenceSpan {
    let mut s = span("chat-api", "llama-3-8b");
    s.span_id = format!("00f067aa0ba902{id:02x}");
    s.attributes = attributes;
    s
}

fn pii(entity: &str, count: f64) -> (String, f64) {
    (entity.to_owned(), count)
}

/// Expect these `pii_entities_total` values (other types zero) and counts.
fn counted(expect: Expect, entities: &[(String, f64)], scanned: f64, with_pii: f64) -> Expect {
    let mut expect = expect.metric("spans_scanned_total", scanned, 0.0).metric(
        "spans_with_pii_total",
        with_pii,
        0.0,
    );
    for name in [
        "email",
        "phone",
        "credit-card",
        "iban",
        "us-ssn",
        "ip-address",
    ] {
        let value = entities
            .iter()
            .find(|(e, _)| e == name)
            .map_or(0.0, |(_, v)| *v);
        expect = expect.metric_with_labels("pii_entities_total", &[("entity", name)], value, 0.0);
    }
    expect
}

#[test]
fn cases() {
    let found = |n: usize| vec!["privacy.pii-in-trace"; n];
    for (name, subject, settings, expect) in [
        (
            "empty batch",
            traces([]),
            "",
            counted(Expect::allow(), &[], 0.0, 0.0),
        ),
        (
            "no message attributes",
            traces([with(1, vec![attribute("gen_ai.request.model", "x")])]),
            "",
            counted(Expect::allow(), &[], 1.0, 0.0).metric(
                "message_attributes_scanned_total",
                0.0,
                0.0,
            ),
        ),
        (
            "clean messages",
            traces([with(
                1,
                vec![attribute(
                    "gen_ai.input.messages",
                    r#"[{"role":"user","parts":[{"type":"text","content":"What is 2+2?"}]}]"#,
                )],
            )]),
            "",
            counted(Expect::allow(), &[], 1.0, 0.0).metric(
                "message_attributes_scanned_total",
                1.0,
                0.0,
            ),
        ),
        (
            "an e-mail address and a card in structured input",
            traces([with(1, vec![attribute("gen_ai.input.messages", MESSAGES)])]),
            "",
            counted(
                Expect::warn(&found(2)),
                &[pii("email", 1.0), pii("credit-card", 1.0)],
                1.0,
                1.0,
            ),
        ),
        (
            "deny when configured",
            traces([with(1, vec![attribute("gen_ai.output.messages", EMAIL)])]),
            r#"{"traces": {"decision": "deny"}}"#,
            Expect::deny(&found(1)),
        ),
        (
            "legacy indexed keys",
            traces([with(
                1,
                vec![
                    attribute("gen_ai.prompt.0.content", EMAIL),
                    attribute("gen_ai.completion.0.content", "call +44 20 7946 0958"),
                ],
            )]),
            "",
            counted(
                Expect::warn(&found(2)),
                &[pii("email", 1.0), pii("phone", 1.0)],
                1.0,
                1.0,
            ),
        ),
        (
            "system instructions",
            traces([with(
                1,
                vec![attribute(
                    "gen_ai.system_instructions",
                    "escalate to 203.0.113.7",
                )],
            )]),
            "",
            counted(Expect::warn(&found(1)), &[pii("ip-address", 1.0)], 1.0, 1.0),
        ),
        (
            "attributes outside the message keys are not scanned",
            traces([with(1, vec![attribute("enduser.email", EMAIL)])]),
            "",
            counted(Expect::allow(), &[], 1.0, 0.0),
        ),
        (
            "extra attribute patterns",
            traces([with(
                1,
                vec![attribute("llm.input_messages.0.message.content", EMAIL)],
            )]),
            r#"{"traces": {"attributes": ["llm.input_messages.*"]}}"#,
            Expect::warn(&found(1)),
        ),
        (
            "only the listed entity types",
            traces([with(1, vec![attribute("gen_ai.input.messages", MESSAGES)])]),
            r#"{"traces": {"entities": ["credit-card"]}}"#,
            Expect::warn(&found(1)).metric_with_labels(
                "pii_entities_total",
                &[("entity", "credit-card")],
                1.0,
                0.0,
            ),
        ),
        (
            "scanning switched off",
            traces([with(1, vec![attribute("gen_ai.input.messages", MESSAGES)])]),
            r#"{"traces": {"enabled": false}}"#,
            Expect::allow().metric("spans_scanned_total", 0.0, 0.0),
        ),
        (
            "checksums decide: a Luhn failure, a lower-case IBAN, an unissued SSN",
            traces([with(
                1,
                vec![attribute(
                    "gen_ai.input.messages",
                    "card 4111 1111 1111 1112, iban gb82west12345698765432, ssn 666-12-3456",
                )],
            )]),
            "",
            counted(Expect::allow(), &[], 1.0, 0.0),
        ),
        (
            "one finding per type per attribute, counts per batch",
            traces([
                with(
                    1,
                    vec![attribute(
                        "gen_ai.input.messages",
                        "a@example.org b@example.org",
                    )],
                ),
                with(2, vec![attribute("gen_ai.input.messages", "c@example.org")]),
                with(3, vec![]),
            ]),
            "",
            counted(Expect::warn(&found(2)), &[pii("email", 3.0)], 3.0, 2.0),
        ),
        (
            "past maxFindings the rest is counted",
            traces((1..=4).map(|i| with(i, vec![attribute("gen_ai.input.messages", EMAIL)]))),
            r#"{"maxFindings": 2}"#,
            counted(
                Expect::warn(&[
                    "privacy.pii-in-trace",
                    "privacy.pii-in-trace",
                    "privacy.findings-truncated",
                ]),
                &[pii("email", 4.0)],
                4.0,
                4.0,
            ),
        ),
    ] {
        check::<Privacy>(name, subject, settings, expect);
    }
}

#[test]
fn findings_locate_without_quoting() {
    let outcome = evaluate::<Privacy>(
        traces([with(7, vec![attribute("gen_ai.input.messages", MESSAGES)])]),
        "",
    );
    let verdict = outcome.verdict();
    let messages: Vec<&str> = verdict
        .findings
        .iter()
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        messages[0],
        "span 00f067aa0ba90207 attribute `gen_ai.input.messages`: 1 e-mail address at /0/parts/0/content bytes 5..25: redact personal data before spans are exported (for example with an OpenTelemetry Collector redaction processor), or stop recording message content"
    );
    assert!(
        messages[1].contains("1 payment card number at /0/parts/0/content bytes 32..51"),
        "{}",
        messages[1]
    );
    assert_eq!(verdict.findings[0].severity, Severity::Medium);
    assert_eq!(verdict.findings[1].severity, Severity::High);
    assert!(verdict.findings.iter().all(|f| f.path.is_none()));
    let [Action::Alert(alert)] = verdict.actions.as_slice() else {
        panic!("expected one alert, got {:?}", verdict.actions);
    };
    assert_eq!(alert.severity, Severity::High);
    assert!(alert.message.starts_with(
        "personal data in the GenAI message attributes of 1 of 1 spans (email 1, credit-card 1)"
    ));
}

#[test]
fn positions_are_capped() {
    let many = (0..8)
        .map(|i| format!("u{i}@example.org"))
        .collect::<Vec<_>>()
        .join(" ");
    let outcome = evaluate::<Privacy>(
        traces([with(1, vec![attribute("gen_ai.input.messages", &many)])]),
        r#"{"traces": {"maxPositions": 2}}"#,
    );
    let message = &outcome.assert_finding("privacy.pii-in-trace").message;
    assert!(
        message.contains(": 8 e-mail addresses at bytes 0..14, bytes 15..29 and 6 more: "),
        "{message}"
    );
    let outcome = evaluate::<Privacy>(
        traces([with(1, vec![attribute("gen_ai.input.messages", &many)])]),
        r#"{"traces": {"maxPositions": 0}}"#,
    );
    let message = &outcome.assert_finding("privacy.pii-in-trace").message;
    assert!(
        message.contains(": 8 e-mail addresses: redact"),
        "{message}"
    );
}

/// Nothing the verdict carries may repeat what was found.
#[test]
fn never_copies_personal_data() {
    let secrets = [
        EMAIL,
        CARD,
        "+44 20 7946 0958",
        "GB82 WEST 1234 5698 7654 32",
        "536-22-1234",
        "2001:db8::7",
    ];
    let text = secrets.join(" and ");
    let batch = traces([
        with(1, vec![attribute("gen_ai.input.messages", &text)]),
        with(
            2,
            vec![Attribute {
                key: "gen_ai.output.messages".into(),
                value: AttributeValue::StrArray(secrets.iter().map(|s| (*s).to_owned()).collect()),
            }],
        ),
    ]);
    let outcome = evaluate::<Privacy>(batch, r#"{"traces": {"maxPositions": 50}}"#);
    let verdict = outcome.verdict();
    assert_eq!(verdict.findings.len(), 12, "{verdict:#?}");
    let mut carried: Vec<String> = Vec::new();
    for f in &verdict.findings {
        carried.extend([
            f.code.clone(),
            f.message.clone(),
            f.path.clone().unwrap_or_default(),
        ]);
    }
    for m in &verdict.metrics {
        carried.push(m.name.clone());
        carried.extend(m.labels.iter().flat_map(|(k, v)| [k.clone(), v.clone()]));
    }
    for a in &verdict.actions {
        if let Action::Alert(alert) = a {
            carried.push(alert.message.clone());
        }
    }
    for secret in secrets {
        let digits: String = secret.chars().filter(char::is_ascii_alphanumeric).collect();
        for text in &carried {
            assert!(
                !text.contains(secret) && !text.contains(&digits),
                "{text:?} repeats {secret:?}"
            );
        }
    }
}
