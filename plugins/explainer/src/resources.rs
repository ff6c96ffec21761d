//! `spec.resourceRequirements` of an ExplainerConfiguration: what the
//! explainer needs (EU AI Act Art. 13(3)(e) asks for the computational
//! resources a high-risk system needs; FinOps needs requests to allocate the
//! explainer's cost), and a GPU share that can actually be scheduled.
//!
//! Two shapes are accepted: the founding article's flat one
//! (`resourceRequirements: {cpu, memory, gpu}`) and Kubernetes'
//! (`resourceRequirements: {requests: {cpu, memory, nvidia.com/gpu}}`).

use gavel_sdk::prelude::*;
use serde_json::Value;

use crate::settings::Settings;
use crate::{codes, gpu, pointer};

const BASE: &str = "/spec/resourceRequirements";

/// Check the resource requirements of an ExplainerConfiguration's `spec`.
pub fn check(object: &Object, spec: &Value, settings: &Settings, verdict: &mut VerdictBuilder) {
    let Some(requirements) = spec.get("resourceRequirements").filter(|v| v.is_object()) else {
        verdict.deny(
            finding(
                codes::RESOURCES_MISSING,
                "set spec.resourceRequirements with cpu and memory requests: the explainer's cost cannot be allocated or bounded without them",
            )
            .path(BASE),
        );
        return;
    };
    let (requests, requests_pointer) = match requirements.get("requests") {
        Some(r) if r.is_object() => (r, format!("{BASE}/requests")),
        _ => (requirements, BASE.to_owned()),
    };
    for resource in ["cpu", "memory"] {
        if !is_quantity(requests.get(resource)) {
            verdict.deny(
                finding(
                    codes::RESOURCES_MISSING,
                    format!("request {resource} for the explainer, for example cpu: 200m and memory: 512Mi"),
                )
                .path(format!("{requests_pointer}/{resource}")),
            );
        }
    }
    let Some((key, value)) = ["gpu", "nvidia.com/gpu"]
        .into_iter()
        .find_map(|k| Some((k, requests.get(k)?)))
    else {
        return;
    };
    let gpu_pointer = pointer::child(&requests_pointer, key);
    let fraction = match gpu::count(value) {
        Some(n) if n.fract() == 0.0 => return,
        Some(n) if n < 1.0 => n,
        Some(_) => {
            verdict.deny(
                finding(
                    codes::GPU_INVALID,
                    "a GPU request above 1 must be a whole number: a MIG slice or time-sliced share is at most one GPU",
                )
                .path(gpu_pointer),
            );
            return;
        }
        None => {
            verdict.deny(
                finding(
                    codes::GPU_INVALID,
                    "the GPU request must be a non-negative number or quantity, for example \"1\", \"0.5\" or \"500m\"",
                )
                .path(gpu_pointer),
            );
            return;
        }
    };
    share(
        object,
        requirements,
        fraction,
        &gpu_pointer,
        settings,
        verdict,
    );
}

/// A fractional GPU must name its slice: `gpuShare` beside the requests, or
/// the GPU-share annotation.
fn share(
    object: &Object,
    requirements: &Value,
    fraction: f64,
    gpu_pointer: &str,
    settings: &Settings,
    verdict: &mut VerdictBuilder,
) {
    let annotation = &settings.gpu_share_annotation;
    let (share, share_pointer) = match requirements.get("gpuShare") {
        Some(v) => (v.as_str(), format!("{BASE}/gpuShare")),
        None => match object
            .value()
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(annotation))
        {
            Some(v) => (
                v.as_str(),
                pointer::child("/metadata/annotations", annotation),
            ),
            None => {
                verdict.deny(
                    finding(
                        codes::GPU_SHARE_MISSING,
                        format!(
                            "a fractional GPU ({fraction}) cannot be scheduled as nvidia.com/gpu: name its MIG slice or time-sliced share in spec.resourceRequirements.gpuShare or annotation `{annotation}`, for example nvidia.com/mig-1g.10gb or time-slicing:4"
                        ),
                    )
                    .path(gpu_pointer),
                );
                return;
            }
        },
    };
    if !share.is_some_and(gpu::is_share) {
        verdict.deny(
            finding(
                codes::GPU_SHARE_INVALID,
                "the GPU share must be a MIG profile (nvidia.com/mig-<g>g.<m>gb, for example nvidia.com/mig-1g.10gb) or a time-sliced share (time-slicing:<replicas per GPU>, at least 2)",
            )
            .path(share_pointer),
        );
    }
}

/// A request that says something: a non-empty string or a number. The API
/// server parses quantities; this plugin only asks that they are there.
fn is_quantity(value: Option<&Value>) -> bool {
    match value {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    }
}
