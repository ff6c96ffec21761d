//! High-risk workloads must have an explainer (EU AI Act Art. 13 and 86).
//!
//! A plugin sees one object at a time, so it cannot look up the
//! ExplainerConfiguration that explains a Deployment's model. The workload
//! names it instead, in an annotation; a KServe InferenceService may carry its
//! explainer inline in `spec.explainer`.

use gavel_sdk::k8s::{Object, pod_spec_pointer};
use gavel_sdk::prelude::*;
use serde_json::Value;

use crate::settings::Settings;
use crate::{codes, k8s_names, pointer};

/// The KServe kind whose spec can hold an explainer.
const INFERENCE_SERVICE: &str = "InferenceService";

/// The `spec.explainer` keys that select an explainer implementation in
/// KServe's `ExplainerSpec` (`serving.kserve.io/v1beta1`): the built-in
/// explainers, or a custom container (`containers`, checked apart).
const KSERVE_EXPLAINERS: [&str; 3] = ["alibi", "aix", "art"];

/// Where a workload's metadata lives: the object's own, and its pod
/// template's (which the Pods it creates copy).
struct Metadata<'a> {
    pointer: &'static str,
    value: Option<&'a Value>,
}

impl<'a> Metadata<'a> {
    fn labelled_high_risk(&self, settings: &Settings) -> bool {
        self.value
            .and_then(|m| m.get("labels")?.get(&settings.risk_label)?.as_str())
            .is_some_and(|v| settings.is_high_risk(v))
    }

    fn annotation(&self, key: &str) -> Option<&'a Value> {
        self.value?.get("annotations")?.get(key)
    }

    fn annotations_pointer(&self) -> String {
        format!("{}/metadata/annotations", self.pointer)
    }
}

/// Check `object` if it is a workload; add findings to `verdict`.
pub fn check(object: &Object, settings: &Settings, verdict: &mut VerdictBuilder) {
    let Some(kind) = object.kind() else {
        return;
    };
    let is_inference_service = kind == INFERENCE_SERVICE;
    let is_workload = is_inference_service
        || pod_spec_pointer(kind).is_some()
        || settings.extra_workload_kinds.iter().any(|k| k == kind);
    if !is_workload {
        return;
    }
    let own = Metadata {
        pointer: "",
        value: object.value().get("metadata"),
    };
    // A Pod's spec is its own; other kinds run Pods from a template whose
    // pointer is the pod spec's without the trailing `/spec`.
    let template = pod_spec_pointer(kind)
        .and_then(|p| p.strip_suffix("/spec"))
        .filter(|p| !p.is_empty())
        .map(|p| Metadata {
            pointer: p,
            value: object.value().pointer(&format!("{p}/metadata")),
        });
    let template_high_risk = template
        .as_ref()
        .is_some_and(|t| t.labelled_high_risk(settings));
    if !own.labelled_high_risk(settings) && !template_high_risk {
        return;
    }
    let inline = object.value().pointer("/spec/explainer");
    if is_inference_service && inline.is_some_and(configures_explainer) {
        return;
    }

    let key = &settings.explainer_annotation;
    let own_reference = own.annotation(key);
    let template_reference = template.as_ref().and_then(|t| t.annotation(key));
    if own_reference.is_none() && template_reference.is_none() {
        let (path, fix) = match (is_inference_service, inline) {
            (true, Some(_)) => (
                "/spec/explainer".to_owned(),
                "configure spec.explainer (alibi, art or containers) or set annotation",
            ),
            (true, None) => (
                own.annotations_pointer(),
                "add spec.explainer (alibi, art or containers) or set annotation",
            ),
            (false, _) => (own.annotations_pointer(), "set annotation"),
        };
        verdict.deny(
            finding(
                codes::MISSING,
                format!(
                    "this {kind} is labelled {}={} (high-risk under the EU AI Act) but has no explainer: {fix} `{key}` to the ExplainerConfiguration (`name` or `namespace/name`) that explains its model",
                    settings.risk_label,
                    settings.high_risk_values.join("|"),
                ),
            )
            .severity(Severity::High)
            .path(path),
        );
        return;
    }

    for (metadata, reference) in [
        (Some(&own), own_reference),
        (template.as_ref(), template_reference),
    ] {
        let (Some(metadata), Some(reference)) = (metadata, reference) else {
            continue;
        };
        if !reference
            .as_str()
            .is_some_and(k8s_names::is_object_reference)
        {
            verdict.deny(
                finding(
                    codes::REFERENCE_INVALID,
                    format!(
                        "annotation `{key}` must name an ExplainerConfiguration as `name` or `namespace/name` in lower-case DNS syntax: fix its value"
                    ),
                )
                .path(pointer::child(&metadata.annotations_pointer(), key)),
            );
        }
    }

    if let Some(template) = template.filter(|_| template_high_risk && template_reference.is_none())
    {
        verdict.warn(
            finding(
                codes::REFERENCE_NOT_PROPAGATED,
                format!(
                    "the pod template is labelled high-risk but annotation `{key}` is only on the {kind}: copy it to the template's annotations so the Pods it creates name their explainer too"
                ),
            )
            .path(template.annotations_pointer()),
        );
    }
}

/// Whether a KServe `spec.explainer` selects an explainer: a built-in one or
/// at least one container. An empty `spec.explainer: {}` explains nothing.
fn configures_explainer(explainer: &Value) -> bool {
    KSERVE_EXPLAINERS
        .iter()
        .any(|k| explainer.get(k).is_some_and(Value::is_object))
        || explainer
            .get("containers")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty())
}
