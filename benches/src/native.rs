//! (a) The floor: each policy as plain Rust in the host process, no sandbox.
//!
//! `gpu-limits` is written here by hand over `serde_json::Value`, the way a
//! native webhook would do it. `cost` calls the cost plugin's own code
//! (`plugins/cost`, a path dependency that builds as an rlib too) through its
//! `gavel_sdk::Plugin` implementation, with its settings parsed once: the
//! same logic as (b), without the sandbox, the per-evaluation instance and
//! the per-evaluation settings parsing.

use std::collections::BTreeSet;

use anyhow::{Context, bail};
use gavel_sdk::Plugin as _;
use gavel_sdk::k8s::KSERVE_FRAMEWORKS;
use gavel_sdk::types as sdk;
use serde_json::Value;

use crate::{Answer, Engine, Policy};

/// The native engine of `policy`.
pub fn engine(policy: Policy) -> anyhow::Result<Box<dyn Engine>> {
    Ok(match policy {
        Policy::GpuLimits => Box::new(GpuLimits::new(policy.settings())?),
        Policy::Cost => Box::new(Cost::new(policy.settings())?),
    })
}

// ------------------------------------------------------------------ gpu-limits

/// Codes of `gpu-limits` findings; every one denies.
pub const GPU_LIMITS_CODES: [&str; 4] = [
    "gpu.limit-missing",
    "gpu.too-many",
    "gpu.invalid-quantity",
    "labels.missing",
];

const GPU: &str = "nvidia.com/gpu";

/// `gpu-limits` by hand.
#[derive(Debug)]
pub struct GpuLimits {
    max_gpus: u64,
    labels: Vec<String>,
}

impl GpuLimits {
    /// From the policy's settings JSON.
    pub fn new(settings: &str) -> anyhow::Result<Self> {
        let s: Value = serde_json::from_str(settings)?;
        Ok(GpuLimits {
            max_gpus: s["maxGpusPerContainer"]
                .as_u64()
                .context("maxGpusPerContainer")?,
            labels: serde_json::from_value(s["labels"].clone()).context("labels")?,
        })
    }
}

impl Engine for GpuLimits {
    fn label(&self) -> &'static str {
        "native"
    }

    fn evaluate(&mut self, body: &[u8]) -> anyhow::Result<Answer> {
        let review: Value = serde_json::from_slice(body)?;
        let Some(object) = judged_object(&review) else {
            return Ok(Answer::from_codes(BTreeSet::new(), &[], &[], None));
        };
        let mut codes = BTreeSet::new();
        for c in containers(object) {
            let resources = c.get("resources");
            let request = resources.and_then(|r| r.get("requests")?.get(GPU));
            let limit = resources.and_then(|r| r.get("limits")?.get(GPU));
            if request.is_some() && limit.is_none() {
                codes.insert("gpu.limit-missing".to_owned());
            }
            for value in [request, limit].into_iter().flatten() {
                match gpu_count(value) {
                    Some(n) if n > self.max_gpus => codes.insert("gpu.too-many".to_owned()),
                    Some(_) => false,
                    None => codes.insert("gpu.invalid-quantity".to_owned()),
                };
            }
        }
        let labels = object.pointer("/metadata/labels");
        if self
            .labels
            .iter()
            .any(|l| labels.and_then(|m| m.get(l)?.as_str()).is_none())
        {
            codes.insert("labels.missing".to_owned());
        }
        Ok(Answer::from_codes(codes, &GPU_LIMITS_CODES, &[], None))
    }
}

/// The object a workload policy judges: none for CONNECT, sub-resources and
/// requests without an object (DELETE), as `Subject::parse_object` decides.
fn judged_object(review: &Value) -> Option<&Value> {
    let request = review.get("request")?;
    if request.get("operation")?.as_str()? == "CONNECT"
        || request.get("subResource").is_some_and(|s| !s.is_null())
    {
        return None;
    }
    request.get("object").filter(|o| o.is_object())
}

fn gpu_count(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// Every container: the pod spec's init, app and ephemeral containers, and
/// for an InferenceService each component's containers and model server.
fn containers(object: &Value) -> Vec<&Value> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let mut found = Vec::new();
    let spec_pointer = match kind {
        "Pod" => Some("/spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Some("/spec/template/spec"),
        "PodTemplate" => Some("/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    };
    if let Some(spec) = spec_pointer.and_then(|p| object.pointer(p)) {
        for field in ["initContainers", "containers", "ephemeralContainers"] {
            found.extend(
                spec.get(field)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
        }
    }
    if kind == "InferenceService" {
        for component in ["predictor", "transformer", "explainer"] {
            let Some(spec) = object.get("spec").and_then(|s| s.get(component)) else {
                continue;
            };
            found.extend(
                spec.get("containers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
            found.extend(
                KSERVE_FRAMEWORKS
                    .iter()
                    .filter_map(|f| spec.get(*f).filter(|c| c.is_object())),
            );
        }
    }
    found
}

// ------------------------------------------------------------------ cost

/// The cost plugin's settings type.
type CostSettings = <cost::Cost as gavel_sdk::Plugin>::Settings;

/// Codes of `cost` findings that deny (with `onBudgetExceeded: deny`).
pub const COST_DENY: [&str; 4] = [
    "cost.budget-exceeded",
    "cost.gpu-fractional",
    "cost.gpu-request-limit-mismatch",
    "cost.invalid-quantity",
];
/// Codes of `cost` findings that warn (with `onMissingLabels: warn`).
pub const COST_WARN: [&str; 1] = ["cost.missing-allocation-labels"];

/// The cost plugin's code, called natively.
pub struct Cost {
    settings: CostSettings,
}

impl Cost {
    /// From the plugin's settings JSON, parsed (and validated) once.
    pub fn new(settings: &str) -> anyhow::Result<Self> {
        let settings: CostSettings = serde_json::from_str(settings)?;
        cost::Cost::validate(&settings).map_err(anyhow::Error::msg)?;
        Ok(Cost { settings })
    }
}

impl Engine for Cost {
    fn label(&self) -> &'static str {
        "native"
    }

    fn evaluate(&mut self, body: &[u8]) -> anyhow::Result<Answer> {
        // The same host-side parse as gavel's (b): the envelope typed, the
        // object kept as JSON text for the plugin to parse.
        let review = gavel_core::AdmissionReview::from_json(body)?;
        let subject = sdk::Subject::Admission(sdk_request(review.request));
        let verdict = match cost::Cost::evaluate(subject, &self.settings) {
            Ok(v) => v,
            Err(e) => bail!("the cost plugin failed: {e:?}"),
        };
        Ok(sdk_answer(&verdict))
    }
}

/// The answer a verdict of the SDK's types gives.
pub fn sdk_answer(verdict: &sdk::Verdict) -> Answer {
    Answer {
        decision: match verdict.decision {
            sdk::Decision::Allow => crate::Decision::Allow,
            sdk::Decision::Warn => crate::Decision::Warn,
            sdk::Decision::Deny => crate::Decision::Deny,
        },
        codes: verdict.findings.iter().map(|f| f.code.clone()).collect(),
        hourly_cost: verdict
            .metrics
            .iter()
            .find(|m| m.name == "hourly_cost_usd")
            .map(|m| m.value),
    }
}

/// gavel-core's request as the SDK's (WIT) type: what the host lowers into
/// the guest, minus the copy into linear memory.
fn sdk_request(r: gavel_core::AdmissionRequest) -> sdk::AdmissionRequest {
    sdk::AdmissionRequest {
        uid: r.uid,
        kind: sdk::GroupVersionKind {
            group: r.kind.group,
            version: r.kind.version,
            kind: r.kind.kind,
        },
        resource: sdk::GroupVersionResource {
            group: r.resource.group,
            version: r.resource.version,
            resource: r.resource.resource,
        },
        sub_resource: r.sub_resource,
        namespace: r.namespace,
        name: r.name,
        operation: match r.operation {
            gavel_core::Operation::Create => sdk::Operation::Create,
            gavel_core::Operation::Update => sdk::Operation::Update,
            gavel_core::Operation::Delete => sdk::Operation::Delete,
            gavel_core::Operation::Connect => sdk::Operation::Connect,
        },
        user_info: sdk::UserInfo {
            username: r.user_info.username,
            uid: r.user_info.uid,
            groups: r.user_info.groups,
            extra: r.user_info.extra,
        },
        dry_run: r.dry_run,
        object: r.object,
        old_object: r.old_object,
    }
}
