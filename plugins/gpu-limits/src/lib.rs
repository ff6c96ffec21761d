//! # gpu-limits: GPU containers must be limited and capped, objects labelled
//!
//! Every container that requests `nvidia.com/gpu` must also set it in
//! `resources.limits`, no container may ask for more than
//! `maxGpusPerContainer` GPUs, and the object must carry every label in
//! `labels` (default `team` and `cost-center`). Containers are found in pods,
//! in the pod templates of workloads (see `gavel_sdk::k8s::pod_spec_pointer`)
//! and in KServe InferenceService components.
//!
//! It is the "simple" policy of gavel's benchmark against native Rust, Rego
//! and CEL (`benches/`), so it is small on purpose; the README lists what it
//! checks. [`check`] is the whole policy.

use gavel_sdk::k8s::KSERVE_FRAMEWORKS;
use gavel_sdk::prelude::*;
use serde_json::Value;

/// The GPU resource name the policy is about.
pub const GPU: &str = "nvidia.com/gpu";
/// Finding code: a container requests GPUs without a GPU limit.
pub const LIMIT_MISSING: &str = "gpu.limit-missing";
/// Finding code: a container asks for more GPUs than allowed.
pub const TOO_MANY: &str = "gpu.too-many";
/// Finding code: a GPU count that is not a whole number.
pub const INVALID_QUANTITY: &str = "gpu.invalid-quantity";
/// Finding code: a required label is missing.
pub const LABELS_MISSING: &str = "labels.missing";

/// KServe InferenceService components, each a pod spec of its own.
const KSERVE_COMPONENTS: [&str; 3] = ["predictor", "transformer", "explainer"];

/// The plugin's settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Most GPUs one container may request or be limited to.
    pub max_gpus_per_container: u64,
    /// Labels every object must carry.
    pub labels: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_gpus_per_container: 4,
            labels: vec!["team".into(), "cost-center".into()],
        }
    }
}

/// The plugin.
pub struct GpuLimits;

impl Plugin for GpuLimits {
    type Settings = Settings;

    fn metadata() -> PluginMetadata {
        plugin_metadata!()
            .category(Category::Cost)
            .subjects(SubjectKind::OBJECTS)
            .build()
    }

    fn validate(settings: &Settings) -> Result<(), String> {
        if settings.labels.iter().any(|l| l.trim().is_empty()) {
            return Err("labels: an entry is empty, remove it or name a label".into());
        }
        Ok(())
    }

    fn evaluate(subject: Subject, settings: &Settings) -> Result<Verdict, Error> {
        Ok(match subject.parse_object()? {
            Some(object) => check(&object, settings),
            None => allow(),
        })
    }
}

export_plugin!(GpuLimits);

/// Judge one object: the whole policy.
pub fn check(object: &Object, settings: &Settings) -> Verdict {
    let mut verdict = VerdictBuilder::new();
    for (pointer, container) in containers(object) {
        let resources = container.get("resources");
        let request = resources.and_then(|r| r.get("requests")?.get(GPU));
        let limit = resources.and_then(|r| r.get("limits")?.get(GPU));
        if request.is_some() && limit.is_none() {
            verdict.deny(
                finding(
                    LIMIT_MISSING,
                    format!("{GPU} is requested without a limit: set resources.limits.{GPU} to the same count"),
                )
                .severity(Severity::High)
                .path(format!("{pointer}/resources/limits")),
            );
        }
        let mut most = 0;
        for (field, value) in [("requests", request), ("limits", limit)] {
            let Some(value) = value else { continue };
            let at = format!("{pointer}/resources/{field}/nvidia.com~1gpu");
            match gpu_count(value) {
                Some(n) => most = most.max(n),
                None => {
                    verdict.deny(
                        finding(
                            INVALID_QUANTITY,
                            format!("{GPU} must be a whole number of GPUs, such as 1 or \"2\""),
                        )
                        .severity(Severity::High)
                        .path(at),
                    );
                }
            }
        }
        if most > settings.max_gpus_per_container {
            verdict.deny(
                finding(
                    TOO_MANY,
                    format!(
                        "this container asks for {most} GPUs, at most {} are allowed per container: split the work or lower the count",
                        settings.max_gpus_per_container
                    ),
                )
                .severity(Severity::High)
                .path(pointer),
            );
        }
    }
    let missing: Vec<&str> = settings
        .labels
        .iter()
        .map(String::as_str)
        .filter(|l| object.label(l).is_none())
        .collect();
    if !missing.is_empty() {
        verdict.deny(
            finding(
                LABELS_MISSING,
                format!("add labels: {}", missing.join(", ")),
            )
            .path("/metadata/labels"),
        );
    }
    verdict.build()
}

/// A GPU count: a JSON integer, or a string of decimal digits (`"2"`), as
/// Kubernetes writes whole extended resources.
fn gpu_count(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// Every container of the object with its JSON pointer: a pod spec's init,
/// app and ephemeral containers, and for a KServe InferenceService each
/// component's containers and model-server container.
fn containers(object: &Object) -> Vec<(String, &Value)> {
    let mut found: Vec<(String, &Value)> = object
        .containers()
        .into_iter()
        .map(|c| (c.pointer, c.spec))
        .collect();
    if object.kind() != Some("InferenceService") {
        return found;
    }
    for component in KSERVE_COMPONENTS {
        let Some(spec) = object.value().get("spec").and_then(|s| s.get(component)) else {
            continue;
        };
        let list = spec.get("containers").and_then(Value::as_array);
        for (i, c) in list.into_iter().flatten().enumerate() {
            found.push((format!("/spec/{component}/containers/{i}"), c));
        }
        for framework in KSERVE_FRAMEWORKS {
            if let Some(c) = spec.get(framework).filter(|c| c.is_object()) {
                found.push((format!("/spec/{component}/{framework}"), c));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests;
