//! Explainability drift in traces.
//!
//! An explainer that emits a fidelity score with each explanation (LIME's
//! `score`, the R² of its local surrogate; Anchors' precision; for SHAP, how
//! well the attributions plus the base value reproduce the prediction) puts it
//! on the inference span in the fidelity attribute. Per model, this module
//! reports the mean and minimum over the batch, and raises a drift finding
//! with an alert when the mean falls below the minimum the operator accepts.
//! The mean, not single spans, decides: one hard input gives one poor
//! explanation, while a falling mean means the explainer no longer matches
//! the model or its data.

use std::collections::BTreeMap;

use gavel_sdk::prelude::*;

use crate::codes;
use crate::settings::Settings;

/// What a batch says about one model's explanations.
#[derive(Debug, Default)]
struct Stats {
    sum: f64,
    min: f64,
    count: u32,
    invalid: u32,
}

impl Stats {
    fn add(&mut self, fidelity: f64) {
        self.min = if self.count == 0 {
            fidelity
        } else {
            self.min.min(fidelity)
        };
        self.sum += fidelity;
        self.count += 1;
    }
}

/// Judge a batch of spans.
pub fn check(spans: &[InferenceSpan], settings: &Settings) -> Verdict {
    let mut models: BTreeMap<&str, Stats> = BTreeMap::new();
    for span in spans {
        let Some(attribute) = span
            .attributes
            .iter()
            .find(|a| a.key == settings.fidelity_attribute)
        else {
            continue;
        };
        let model = if span.model.is_empty() {
            "unknown"
        } else {
            span.model.as_str()
        };
        let stats = models.entry(model).or_default();
        match value(&attribute.value) {
            Some(fidelity) => stats.add(fidelity),
            None => stats.invalid += 1,
        }
    }

    let mut verdict = VerdictBuilder::new();
    let attribute = &settings.fidelity_attribute;
    let min_fidelity = settings.min_fidelity;
    for (model, stats) in &models {
        let labels = [("model", *model)];
        if stats.count > 0 {
            let mean = stats.sum / f64::from(stats.count);
            verdict
                .metric_with_labels("explanation_fidelity_mean", mean, labels)
                .metric_with_labels("explanation_fidelity_min", stats.min, labels)
                .metric_with_labels("explanation_fidelity_spans", f64::from(stats.count), labels);
            if mean < min_fidelity {
                let message = format!(
                    "explanations of model `{model}` drifted: mean fidelity {mean:.3} over {} is below {min_fidelity}; recalibrate or retrain its explainer and check the model's input data for drift",
                    count_of_spans(stats.count)
                );
                verdict
                    .warn(
                        finding(codes::EXPLAINABILITY_DRIFT, message.clone())
                            .severity(Severity::High),
                    )
                    .action(Action::alert(Severity::High, message));
            }
        }
        if stats.invalid > 0 {
            verdict.warn(
                finding(
                    codes::FIDELITY_INVALID,
                    format!(
                        "{} of model `{model}` {} a `{attribute}` that is not a number between 0 and 1: emit it as a float in [0, 1] (clamp a negative R² to 0), or drift goes unseen",
                        count_of_spans(stats.invalid),
                        if stats.invalid == 1 { "carries" } else { "carry" },
                    ),
                )
                .severity(Severity::Low),
            );
        }
    }
    verdict.build()
}

/// `n span` or `n spans`.
fn count_of_spans(n: u32) -> String {
    if n == 1 {
        "1 span".to_owned()
    } else {
        format!("{n} spans")
    }
}

/// A fidelity in `[0, 1]` from a float or an integer (0 and 1 arrive as
/// integers from some exporters).
fn value(value: &AttributeValue) -> Option<f64> {
    let fidelity = match value {
        AttributeValue::Float(f) => *f,
        // Integers outside 0..=1 are caught by the range check below.
        AttributeValue::Int(i) => *i as f64,
        _ => return None,
    };
    (0.0..=1.0).contains(&fidelity).then_some(fidelity)
}
