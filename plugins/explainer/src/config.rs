//! `ExplainerConfiguration` (`ai.apexlogic.com/v1alpha1`): "explainability as
//! code". Each problem is its own finding, located by a JSON pointer, so a
//! pull request shows every fix at once.
//!
//! Messages never echo text from the object (it could be anything, of any
//! length); they name the field and say what it must hold.

use gavel_sdk::prelude::*;
use serde_json::Value;

use crate::settings::{Bounds, Settings};
use crate::{codes, resources};

/// API group of the ExplainerConfiguration resource.
pub const GROUP: &str = "ai.apexlogic.com";
/// The one version whose schema this plugin knows.
pub const VERSION: &str = "v1alpha1";
/// Kind of the resource.
pub const KIND: &str = "ExplainerConfiguration";

/// Whether `object` is an ExplainerConfiguration of [`GROUP`], at any version.
pub fn is_explainer_configuration(object: &Object) -> bool {
    object.kind() == Some(KIND) && group_version(object).is_some_and(|(g, _)| g == GROUP)
}

fn group_version(object: &Object) -> Option<(&str, &str)> {
    object.api_version()?.split_once('/')
}

/// Check an ExplainerConfiguration; add findings to `verdict`.
pub fn check(object: &Object, settings: &Settings, verdict: &mut VerdictBuilder) {
    if group_version(object).is_some_and(|(_, v)| v != VERSION) {
        // Another version may have another schema: judging it by this one
        // would be wrong, and passing it silently would be a bypass.
        verdict.warn(
            finding(
                codes::UNSUPPORTED_API_VERSION,
                format!(
                    "this plugin validates {GROUP}/{VERSION} ExplainerConfigurations only: use apiVersion {GROUP}/{VERSION} or upgrade the plugin"
                ),
            )
            .severity(Severity::Low)
            .path("/apiVersion"),
        );
        return;
    }
    let spec = object.value().get("spec").unwrap_or(&Value::Null);
    model_and_type(spec, settings, verdict);
    explainer_config(spec, settings, verdict);
    integration(spec, verdict);
    storage(object, spec, settings, verdict);
    resources::check(object, spec, settings, verdict);
    monitoring(spec, settings, verdict);
}

fn model_and_type(spec: &Value, settings: &Settings, verdict: &mut VerdictBuilder) {
    if text(spec.get("modelName")).is_none() {
        verdict.deny(
            finding(
                codes::MODEL_NAME_MISSING,
                "set spec.modelName to the model this configuration explains: without it no explanation can be traced to a model",
            )
            .severity(Severity::High)
            .path("/spec/modelName"),
        );
    }
    let accepted = text(spec.get("explainerType")).and_then(|t| settings.explainer_type(t));
    if accepted.is_none() {
        verdict.deny(
            finding(
                codes::TYPE_UNSUPPORTED,
                format!(
                    "set spec.explainerType to one of the accepted explainer types: {}",
                    settings.explainer_types.join(", ")
                ),
            )
            .severity(Severity::High)
            .path("/spec/explainerType"),
        );
    }
}

fn explainer_config(spec: &Value, settings: &Settings, verdict: &mut VerdictBuilder) {
    let config = spec.get("explainerConfig").unwrap_or(&Value::Null);
    if text(config.get("method")).is_none() {
        verdict.deny(
            finding(
                codes::METHOD_MISSING,
                "set spec.explainerConfig.method to the algorithm variant, for example KernelSHAP: results are only reproducible when it is pinned",
            )
            .path("/spec/explainerConfig/method"),
        );
    }
    bounded(
        config.get("numSamples"),
        settings.num_samples,
        Field {
            code: codes::NUM_SAMPLES_OUT_OF_RANGE,
            name: "spec.explainerConfig.numSamples",
            pointer: "/spec/explainerConfig/numSamples",
            why: "fewer samples give attributions that change from run to run, more cost GPU time per explanation",
        },
        verdict,
    );
    if text(config.get("backgroundDataStrategy")).is_none() {
        verdict.deny(
            finding(
                codes::BACKGROUND_STRATEGY_MISSING,
                "set spec.explainerConfig.backgroundDataStrategy (for example random_subset or kmeans): attributions are relative to the background data, so how it is drawn must be recorded",
            )
            .path("/spec/explainerConfig/backgroundDataStrategy"),
        );
    }
    bounded(
        config.get("backgroundDataSubsetSize"),
        settings.background_data_subset_size,
        Field {
            code: codes::BACKGROUND_SIZE_OUT_OF_RANGE,
            name: "spec.explainerConfig.backgroundDataSubsetSize",
            pointer: "/spec/explainerConfig/backgroundDataSubsetSize",
            why: "a small background gives a noisy baseline, a large one makes every explanation slower",
        },
        verdict,
    );
}

/// A whole-number field with bounds, and how to report it.
struct Field {
    code: &'static str,
    name: &'static str,
    pointer: &'static str,
    why: &'static str,
}

fn bounded(value: Option<&Value>, bounds: Bounds, field: Field, verdict: &mut VerdictBuilder) {
    let Bounds { min, max } = bounds;
    let message = match value.map(whole) {
        Some(Some(n)) if bounds.contains(n) => return,
        Some(Some(n)) => format!(
            "{} is {n}: set it between {min} and {max}; {}",
            field.name, field.why
        ),
        Some(None) => format!(
            "{} must be a whole number: set it between {min} and {max}",
            field.name
        ),
        None => format!("set {} between {min} and {max}", field.name),
    };
    verdict.deny(finding(field.code, message).path(field.pointer));
}

fn integration(spec: &Value, verdict: &mut VerdictBuilder) {
    let integration = spec.get("integration").unwrap_or(&Value::Null);
    if text(integration.pointer("/inferenceServiceRef/name")).is_none() {
        verdict.deny(
            finding(
                codes::INTEGRATION_INCOMPLETE,
                "set spec.integration.inferenceServiceRef.name to the inference service whose predictions are explained",
            )
            .path("/spec/integration/inferenceServiceRef/name"),
        );
    }
    if !text(integration.get("explanationEndpoint")).is_some_and(|e| e.starts_with('/')) {
        verdict.deny(
            finding(
                codes::INTEGRATION_INCOMPLETE,
                "set spec.integration.explanationEndpoint to the HTTP path that serves explanations, starting with `/`, for example /explain",
            )
            .path("/spec/integration/explanationEndpoint"),
        );
    }
}

/// The placeholder an explainer replaces with the serving model's version
/// when it writes an explanation (the spelling of the founding article).
const VERSION_PLACEHOLDER: &str = "{model_version}";

fn storage(object: &Object, spec: &Value, settings: &Settings, verdict: &mut VerdictBuilder) {
    let Some(path) = text(spec.pointer("/storage/path")) else {
        verdict.deny(
            finding(
                codes::STORAGE_MISSING,
                "set spec.storage.path to where explanations are kept: EU AI Act Art. 12 and 86 need them on record",
            )
            .path("/spec/storage/path"),
        );
        return;
    };
    if path.contains(VERSION_PLACEHOLDER) {
        return;
    }
    let version = model_version(object, spec, settings);
    if version
        .as_deref()
        .is_some_and(|v| path.split('/').any(|segment| segment == v))
    {
        return;
    }
    let message = match version {
        Some(_) => format!(
            "spec.storage.path does not contain the model version: put it in a path segment of its own, or use the {VERSION_PLACEHOLDER} placeholder, so every explanation stays traceable to the model that produced it"
        ),
        None => format!(
            "spec.storage.path has no {VERSION_PLACEHOLDER} placeholder and the model version is unknown: use the placeholder, or set spec.modelVersion (or label `{}`) and put it in a path segment",
            settings.model_version_label
        ),
    };
    verdict.deny(finding(codes::STORAGE_PATH_UNVERSIONED, message).path("/spec/storage/path"));
}

/// `spec.modelVersion` (a string, or a number as YAML writes `3`), else the
/// model-version label.
fn model_version(object: &Object, spec: &Value, settings: &Settings) -> Option<String> {
    match spec.get("modelVersion") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(v) => text(Some(v)).map(str::to_owned),
        None => None,
    }
    .or_else(|| {
        object
            .label(&settings.model_version_label)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    })
}

fn monitoring(spec: &Value, settings: &Settings, verdict: &mut VerdictBuilder) {
    let monitoring = spec.get("monitoring").unwrap_or(&Value::Null);
    if monitoring.get("enabled").and_then(Value::as_bool) != Some(true) {
        verdict.deny(
            finding(
                codes::MONITORING_DISABLED,
                "set spec.monitoring.enabled to true: explanation fidelity of a high-risk system must be monitored after deployment (EU AI Act Art. 72)",
            )
            .severity(Severity::High)
            .path("/spec/monitoring/enabled"),
        );
    }
    if monitoring
        .get("alertOnFidelityDrop")
        .and_then(Value::as_bool)
        != Some(true)
    {
        verdict.deny(
            finding(
                codes::FIDELITY_ALERT_DISABLED,
                "set spec.monitoring.alertOnFidelityDrop to true so that someone is told when explanations stop matching the model",
            )
            .path("/spec/monitoring/alertOnFidelityDrop"),
        );
    }
    let min = settings.min_fidelity;
    let message = match monitoring.get("fidelityThreshold").map(Value::as_f64) {
        Some(Some(t)) if (min..=1.0).contains(&t) => return,
        Some(Some(t)) if t > 1.0 => format!(
            "spec.monitoring.fidelityThreshold is {t}, but fidelity is at most 1: set it between {min} and 1"
        ),
        Some(Some(t)) => format!(
            "spec.monitoring.fidelityThreshold is {t}: raise it to at least {min}, the lowest fidelity this cluster accepts"
        ),
        Some(None) => {
            format!(
                "spec.monitoring.fidelityThreshold must be a number: set it between {min} and 1"
            )
        }
        None => format!("set spec.monitoring.fidelityThreshold between {min} and 1"),
    };
    verdict.deny(
        finding(codes::FIDELITY_THRESHOLD_OUT_OF_RANGE, message)
            .path("/spec/monitoring/fidelityThreshold"),
    );
}

/// A string with something in it.
pub fn text(value: Option<&Value>) -> Option<&str> {
    value?.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// A JSON number that is a whole, non-negative value (`500` or `500.0`).
fn whole(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let f = value.as_f64()?;
        // Exactly representable, so the cast below is lossless.
        (f.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&f)).then_some(f as u64)
    })
}
