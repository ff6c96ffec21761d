use gavel_sdk::prelude::*;
use gavel_sdk::testing::{self, Expect, check, traces};

use crate::Explainer;
use crate::codes::{EXPLAINABILITY_DRIFT, FIDELITY_INVALID};

const ATTRIBUTE: &str = "gen_ai.explanation.fidelity";

fn span(model: &str, key: &str, value: AttributeValue) -> InferenceSpan {
    let mut span = testing::span("image-classifier-service", model);
    span.attributes.push(Attribute {
        key: key.to_owned(),
        value,
    });
    span
}

/// Spans of `model` with these fidelities.
fn spans(model: &str, fidelities: &[f64]) -> Vec<InferenceSpan> {
    fidelities
        .iter()
        .map(|f| span(model, ATTRIBUTE, AttributeValue::Float(*f)))
        .collect()
}

/// The three metrics of one model.
fn stats(expect: Expect, model: &str, mean: f64, min: f64, count: f64) -> Expect {
    let labels = [("model", model)];
    expect
        .metric_with_labels("explanation_fidelity_mean", &labels, mean, 1e-9)
        .metric_with_labels("explanation_fidelity_min", &labels, min, 1e-9)
        .metric_with_labels("explanation_fidelity_spans", &labels, count, 0.0)
}

const M: &str = "multimodal-image-classifier-v3";

#[test]
fn cases() {
    let drift = || Expect::warn(&[EXPLAINABILITY_DRIFT]);
    let mixed = {
        let mut s = spans(M, &[0.9, 0.6]);
        s.push(span(M, ATTRIBUTE, AttributeValue::Str("0.9".into())));
        s.push(span(M, ATTRIBUTE, AttributeValue::Float(1.5)));
        s.push(span(M, ATTRIBUTE, AttributeValue::Float(-0.1)));
        s.push(span(M, ATTRIBUTE, AttributeValue::Float(f64::NAN)));
        s.push(span(M, ATTRIBUTE, AttributeValue::Int(2)));
        s
    };
    let two_models = {
        let mut s = spans(M, &[0.95, 0.9]);
        s.extend(spans("resnet-50", &[0.7, 0.72]));
        s
    };
    let unrelated = vec![
        testing::span("chat", "llama-3-8b"),
        span(
            M,
            "gen_ai.explanation.stability",
            AttributeValue::Float(0.1),
        ),
    ];
    for (name, subject, settings, expect) in [
        ("no spans", traces([]), "", Expect::allow()),
        (
            "spans without fidelity",
            traces(unrelated),
            "",
            Expect::allow(),
        ),
        (
            "faithful explanations",
            traces(spans(M, &[0.9, 0.95])),
            "",
            stats(Expect::allow(), M, 0.925, 0.9, 2.0),
        ),
        (
            "mean at the minimum",
            traces(spans(M, &[0.8, 0.8])),
            "",
            stats(Expect::allow(), M, 0.8, 0.8, 2.0),
        ),
        (
            "one poor explanation is not drift",
            traces(spans(M, &[0.5, 0.95, 0.99, 0.99])),
            "",
            stats(Expect::allow(), M, 0.8575, 0.5, 4.0),
        ),
        (
            "drift",
            traces(spans(M, &[0.7, 0.75, 0.9])),
            "",
            stats(drift(), M, 0.7833333333333333, 0.7, 3.0),
        ),
        (
            "one model of two drifts",
            traces(two_models.clone()),
            "",
            stats(
                stats(drift(), M, 0.925, 0.9, 2.0),
                "resnet-50",
                0.71,
                0.7,
                2.0,
            ),
        ),
        (
            "the operator's stricter minimum",
            traces(spans(M, &[0.9, 0.95])),
            r#"{"minFidelity": 0.95}"#,
            drift(),
        ),
        (
            "integers 0 and 1 count",
            traces([
                span(M, ATTRIBUTE, AttributeValue::Int(1)),
                span(M, ATTRIBUTE, AttributeValue::Int(0)),
            ]),
            "",
            stats(drift(), M, 0.5, 0.0, 2.0),
        ),
        (
            "invalid values are reported, valid ones measured",
            traces(mixed),
            "",
            stats(
                Expect::warn(&[EXPLAINABILITY_DRIFT, FIDELITY_INVALID]),
                M,
                0.75,
                0.6,
                2.0,
            ),
        ),
        (
            "only invalid values",
            traces([span(M, ATTRIBUTE, AttributeValue::Json("{}".into()))]),
            "",
            Expect::warn(&[FIDELITY_INVALID]),
        ),
        (
            "another attribute",
            traces([span(M, "xai.fidelity", AttributeValue::Float(0.2))]),
            r#"{"fidelityAttribute": "xai.fidelity"}"#,
            stats(drift(), M, 0.2, 0.2, 1.0),
        ),
        (
            "a span without a model",
            traces(spans("", &[0.9])),
            "",
            stats(Expect::allow(), "unknown", 0.9, 0.9, 1.0),
        ),
        (
            "bad settings",
            traces(spans(M, &[0.9])),
            r#"{"minFidelity": 2}"#,
            Expect::error("minFidelity is 2"),
        ),
    ] {
        check::<Explainer>(name, subject, settings, expect);
    }
}

#[test]
fn drift_alerts() {
    let outcome = testing::evaluate::<Explainer>(traces(spans(M, &[0.7, 0.75, 0.9])), "");
    let finding = outcome.assert_finding(EXPLAINABILITY_DRIFT);
    let message = "explanations of model `multimodal-image-classifier-v3` drifted: mean fidelity 0.783 over 3 spans is below 0.8; recalibrate or retrain its explainer and check the model's input data for drift";
    assert_eq!(finding.message, message);
    assert_eq!(finding.severity, Severity::High);
    assert_eq!(finding.path, None);
    assert_eq!(
        outcome.verdict().actions,
        [Action::alert(Severity::High, message)]
    );

    let outcome = testing::evaluate::<Explainer>(
        traces([span(M, ATTRIBUTE, AttributeValue::Float(7.0))]),
        "",
    );
    let finding = outcome.assert_finding(FIDELITY_INVALID);
    assert_eq!(finding.severity, Severity::Low);
    assert!(finding.message.starts_with("1 span of model `multimodal-image-classifier-v3` carries a `gen_ai.explanation.fidelity` that is not a number between 0 and 1"));
    assert!(outcome.verdict().actions.is_empty());
}
