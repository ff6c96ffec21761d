//! Judging Kubernetes objects (admission requests and manifests): a workload
//! marked as high-risk under the EU AI Act must point at its fairness
//! evaluation.
//!
//! Article 6(2) makes the AI systems of the areas listed in Annex III
//! high-risk; Article 10(2)(f)–(g) requires their data to be examined for
//! possible biases and those biases to be mitigated, and Article 11 with
//! Annex IV asks for that to be documented. An annotation that names the
//! evaluation is the cheapest evidence a deployment can carry, and checking
//! it at admission keeps an unevaluated high-risk model out of the cluster.

use gavel_sdk::prelude::*;

use crate::settings::{Enforcement, Settings};

/// The areas of EU AI Act Annex III (points 1 to 8), as label values.
pub(crate) const ANNEX_III_AREAS: [&str; 8] = [
    "biometrics",
    "critical-infrastructure",
    "education",
    "employment",
    "essential-services",
    "law-enforcement",
    "migration",
    "justice-democracy",
];

/// Judge the object of `subject`; subjects without an object to judge
/// (DELETE, CONNECT, sub-resources) are allowed.
pub(crate) fn evaluate(subject: &Subject, settings: &Settings) -> Result<Verdict, Error> {
    let Some(object) = subject.parse_object()? else {
        return Ok(allow());
    };
    let mut verdict = VerdictBuilder::new();
    let marked_high = !settings.high_risk_label.is_empty()
        && object.label(&settings.high_risk_label) == Some(settings.high_risk_value.as_str());
    let area_label = &settings.annex_iii_area_label;
    let area = match object.label(area_label).filter(|_| !area_label.is_empty()) {
        None => None,
        Some(value) => match ANNEX_III_AREAS.iter().find(|a| **a == value) {
            Some(area) => Some(*area),
            None => {
                // The value is not echoed: it is free text on someone's object.
                let message = format!(
                    "label `{area_label}` is not an EU AI Act Annex III area: use one of {}, or remove the label if the workload is not in an Annex III area",
                    ANNEX_III_AREAS.join(", ")
                );
                verdict.warn(
                    finding("bias.annex-iii-area-unknown", message)
                        .severity(Severity::Medium)
                        .path(format!("/metadata/labels/{}", pointer_token(area_label))),
                );
                None
            }
        },
    };
    if !marked_high && area.is_none() {
        return Ok(verdict.build());
    }
    let annotation = &settings.fairness_evaluation_annotation;
    if object
        .annotation(annotation)
        .is_some_and(|v| !v.trim().is_empty())
    {
        return Ok(verdict.build());
    }
    let why = match (marked_high, area) {
        (true, Some(area)) => format!(
            "label `{}: {}` and Annex III area `{area}`",
            settings.high_risk_label, settings.high_risk_value
        ),
        (true, None) => format!(
            "label `{}: {}`",
            settings.high_risk_label, settings.high_risk_value
        ),
        (false, Some(area)) => format!("Annex III area `{area}`"),
        (false, None) => unreachable!("returned above"),
    };
    let message = format!(
        "this workload is high-risk under the EU AI Act ({why}) and references no fairness evaluation: add annotation `{annotation}` with the URL or id of its bias evaluation (Article 10(2)(f) and (g))"
    );
    let f = finding("bias.fairness-evaluation-missing", message)
        .severity(Severity::High)
        .path("/metadata/annotations");
    match settings.on_missing_evaluation {
        Enforcement::Warn => verdict.warn(f),
        Enforcement::Deny => verdict.deny(f),
    };
    Ok(verdict.build())
}

/// `key` escaped as one JSON pointer token (RFC 6901): `~` → `~0`, `/` → `~1`.
fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
