use gavel_sdk::prelude::*;
use gavel_sdk::testing::{self, Expect, check};
use serde_json::{Value, json};

use super::{create, manifest, path_of, with};
use crate::Explainer;
use crate::codes::*;

/// The `image-classifier-shap-explainer` of the founding article, re-typed
/// with the nesting its flattened listing implies.
fn seed() -> Value {
    json!({
        "apiVersion": "ai.apexlogic.com/v1alpha1",
        "kind": "ExplainerConfiguration",
        "metadata": {"name": "image-classifier-shap-explainer", "namespace": "ai-prod"},
        "spec": {
            "modelName": "multimodal-image-classifier-v3",
            "explainerType": "SHAP",
            "explainerConfig": {
                "method": "KernelSHAP",
                "numSamples": 500,
                "backgroundDataStrategy": "random_subset",
                "backgroundDataSubsetSize": 100
            },
            "integration": {
                "inferenceServiceRef": {"name": "image-classifier-service", "namespace": "ai-prod"},
                "explanationEndpoint": "/explain",
                "outputFormat": "json"
            },
            "storage": {
                "type": "s3",
                "bucket": "apexlogic-ai-explanations",
                "path": "multimodal-image-classifier/shap/{model_version}/{inference_id}.json"
            },
            "resourceRequirements": {"cpu": "200m", "memory": "512Mi", "gpu": "0.1"},
            "monitoring": {"enabled": true, "alertOnFidelityDrop": true, "fidelityThreshold": 0.85}
        }
    })
}

const SHARE: &str = "/metadata/annotations/gavel.dev~1gpu-share";

/// The article's configuration with its fractional GPU mapped to a MIG slice.
fn fixed() -> Value {
    with(seed(), SHARE, json!("nvidia.com/mig-1g.10gb"))
}

fn set(pointer: &str, value: Value) -> Value {
    with(fixed(), pointer, value)
}

fn unset(pointer: &str) -> Value {
    with(fixed(), pointer, Value::Null)
}

fn versioned(version_at: &str, version: Value, path: &str) -> Value {
    with(
        with(fixed(), version_at, version),
        "/spec/storage/path",
        json!(path),
    )
}

#[test]
fn cases() {
    let deny = |codes: &[&str]| Expect::deny(codes);
    let no_monitoring = &[
        MONITORING_DISABLED,
        FIDELITY_ALERT_DISABLED,
        FIDELITY_THRESHOLD_OUT_OF_RANGE,
    ];
    for (name, object, settings, expect) in [
        (
            "the article's configuration: fractional GPU without a share",
            seed(),
            "",
            deny(&[GPU_SHARE_MISSING]),
        ),
        (
            "the article's configuration on a MIG slice",
            fixed(),
            "",
            Expect::allow(),
        ),
        (
            "time-sliced share in the spec",
            with(
                seed(),
                "/spec/resourceRequirements/gpuShare",
                json!("time-slicing:10"),
            ),
            "",
            Expect::allow(),
        ),
        (
            "share that is neither",
            with(
                seed(),
                "/spec/resourceRequirements/gpuShare",
                json!("half a GPU"),
            ),
            "",
            deny(&[GPU_SHARE_INVALID]),
        ),
        (
            "share annotation that is neither",
            with(seed(), SHARE, json!("mig-1g")),
            "",
            deny(&[GPU_SHARE_INVALID]),
        ),
        (
            "share that is not a string",
            with(seed(), "/spec/resourceRequirements/gpuShare", json!(4)),
            "",
            deny(&[GPU_SHARE_INVALID]),
        ),
        (
            "another share annotation",
            with(seed(), "/metadata/annotations/share", json!("mig-1g.5gb")),
            r#"{"gpuShareAnnotation": "share"}"#,
            Expect::allow(),
        ),
        (
            "a whole GPU needs no share",
            set("/spec/resourceRequirements/gpu", json!("1")),
            "",
            Expect::allow(),
        ),
        (
            "two GPUs as a number",
            with(seed(), "/spec/resourceRequirements/gpu", json!(2)),
            "",
            Expect::allow(),
        ),
        (
            "no GPU",
            with(seed(), "/spec/resourceRequirements/gpu", json!("0")),
            "",
            Expect::allow(),
        ),
        (
            "milli-GPU quantity",
            with(seed(), "/spec/resourceRequirements/gpu", json!("500m")),
            "",
            deny(&[GPU_SHARE_MISSING]),
        ),
        (
            "fractional GPU as a number",
            with(seed(), "/spec/resourceRequirements/gpu", json!(0.5)),
            "",
            deny(&[GPU_SHARE_MISSING]),
        ),
        (
            "more than one fractional GPU",
            set("/spec/resourceRequirements/gpu", json!("1.5")),
            "",
            deny(&[GPU_INVALID]),
        ),
        (
            "GPU that is not a quantity",
            set("/spec/resourceRequirements/gpu", json!("lots")),
            "",
            deny(&[GPU_INVALID]),
        ),
        (
            "negative GPU",
            set("/spec/resourceRequirements/gpu", json!(-1)),
            "",
            deny(&[GPU_INVALID]),
        ),
        (
            "Kubernetes-shaped requests",
            set(
                "/spec/resourceRequirements",
                json!({"requests": {"cpu": "200m", "memory": "512Mi", "nvidia.com/gpu": "0.5"}, "limits": {"memory": "1Gi"}}),
            ),
            "",
            Expect::allow(),
        ),
        (
            "Kubernetes-shaped requests without memory and share",
            with(
                seed(),
                "/spec/resourceRequirements",
                json!({"requests": {"cpu": 0.2, "nvidia.com/gpu": "0.5"}}),
            ),
            "",
            deny(&[RESOURCES_MISSING, GPU_SHARE_MISSING]),
        ),
        (
            "no resource requirements",
            unset("/spec/resourceRequirements"),
            "",
            deny(&[RESOURCES_MISSING]),
        ),
        (
            "no memory request",
            unset("/spec/resourceRequirements/memory"),
            "",
            deny(&[RESOURCES_MISSING]),
        ),
        (
            "empty cpu request",
            set("/spec/resourceRequirements/cpu", json!(" ")),
            "",
            deny(&[RESOURCES_MISSING]),
        ),
        (
            "no model name",
            unset("/spec/modelName"),
            "",
            deny(&[MODEL_NAME_MISSING]),
        ),
        (
            "empty model name",
            set("/spec/modelName", json!("")),
            "",
            deny(&[MODEL_NAME_MISSING]),
        ),
        (
            "lower-case type",
            set("/spec/explainerType", json!("shap")),
            "",
            Expect::allow(),
        ),
        (
            "type with spaces",
            set("/spec/explainerType", json!("Integrated Gradients")),
            "",
            Expect::allow(),
        ),
        (
            "type with underscores",
            set("/spec/explainerType", json!("counterfactual_explanations")),
            "",
            Expect::allow(),
        ),
        (
            "type not accepted",
            set("/spec/explainerType", json!("Captum")),
            "",
            deny(&[TYPE_UNSUPPORTED]),
        ),
        (
            "no type",
            unset("/spec/explainerType"),
            "",
            deny(&[TYPE_UNSUPPORTED]),
        ),
        (
            "type not a string",
            set("/spec/explainerType", json!(5)),
            "",
            deny(&[TYPE_UNSUPPORTED]),
        ),
        (
            "type not in the operator's list",
            fixed(),
            r#"{"explainerTypes": ["LIME"]}"#,
            deny(&[TYPE_UNSUPPORTED]),
        ),
        (
            "no method",
            unset("/spec/explainerConfig/method"),
            "",
            deny(&[METHOD_MISSING]),
        ),
        (
            "fewest samples",
            set("/spec/explainerConfig/numSamples", json!(100)),
            "",
            Expect::allow(),
        ),
        (
            "most samples",
            set("/spec/explainerConfig/numSamples", json!(10000)),
            "",
            Expect::allow(),
        ),
        (
            "samples as a whole float",
            set("/spec/explainerConfig/numSamples", json!(500.0)),
            "",
            Expect::allow(),
        ),
        (
            "too few samples",
            set("/spec/explainerConfig/numSamples", json!(99)),
            "",
            deny(&[NUM_SAMPLES_OUT_OF_RANGE]),
        ),
        (
            "too many samples",
            set("/spec/explainerConfig/numSamples", json!(10001)),
            "",
            deny(&[NUM_SAMPLES_OUT_OF_RANGE]),
        ),
        (
            "negative samples",
            set("/spec/explainerConfig/numSamples", json!(-5)),
            "",
            deny(&[NUM_SAMPLES_OUT_OF_RANGE]),
        ),
        (
            "samples as a string",
            set("/spec/explainerConfig/numSamples", json!("500")),
            "",
            deny(&[NUM_SAMPLES_OUT_OF_RANGE]),
        ),
        (
            "fractional samples",
            set("/spec/explainerConfig/numSamples", json!(500.5)),
            "",
            deny(&[NUM_SAMPLES_OUT_OF_RANGE]),
        ),
        (
            "no samples",
            unset("/spec/explainerConfig/numSamples"),
            "",
            deny(&[NUM_SAMPLES_OUT_OF_RANGE]),
        ),
        (
            "the operator's sample bounds",
            fixed(),
            r#"{"numSamples": {"min": 1000, "max": 2000}}"#,
            deny(&[NUM_SAMPLES_OUT_OF_RANGE]),
        ),
        (
            "no background strategy",
            unset("/spec/explainerConfig/backgroundDataStrategy"),
            "",
            deny(&[BACKGROUND_STRATEGY_MISSING]),
        ),
        (
            "background too small",
            set("/spec/explainerConfig/backgroundDataSubsetSize", json!(19)),
            "",
            deny(&[BACKGROUND_SIZE_OUT_OF_RANGE]),
        ),
        (
            "background too large",
            set(
                "/spec/explainerConfig/backgroundDataSubsetSize",
                json!(1001),
            ),
            "",
            deny(&[BACKGROUND_SIZE_OUT_OF_RANGE]),
        ),
        (
            "no background size",
            unset("/spec/explainerConfig/backgroundDataSubsetSize"),
            "",
            deny(&[BACKGROUND_SIZE_OUT_OF_RANGE]),
        ),
        (
            "no explainer config",
            unset("/spec/explainerConfig"),
            "",
            deny(&[
                METHOD_MISSING,
                NUM_SAMPLES_OUT_OF_RANGE,
                BACKGROUND_STRATEGY_MISSING,
                BACKGROUND_SIZE_OUT_OF_RANGE,
            ]),
        ),
        (
            "no integration",
            unset("/spec/integration"),
            "",
            deny(&[INTEGRATION_INCOMPLETE, INTEGRATION_INCOMPLETE]),
        ),
        (
            "endpoint without a slash",
            set("/spec/integration/explanationEndpoint", json!("explain")),
            "",
            deny(&[INTEGRATION_INCOMPLETE]),
        ),
        (
            "no inference service",
            unset("/spec/integration/inferenceServiceRef"),
            "",
            deny(&[INTEGRATION_INCOMPLETE]),
        ),
        (
            "no storage",
            unset("/spec/storage"),
            "",
            deny(&[STORAGE_MISSING]),
        ),
        (
            "storage without the version",
            set("/spec/storage/path", json!("classifier/shap/latest.json")),
            "",
            deny(&[STORAGE_PATH_UNVERSIONED]),
        ),
        (
            "modelVersion in the path",
            versioned(
                "/spec/modelVersion",
                json!("v3"),
                "classifier/shap/v3/out.json",
            ),
            "",
            Expect::allow(),
        ),
        (
            "numeric modelVersion in the path",
            versioned("/spec/modelVersion", json!(3), "classifier/3/out.json"),
            "",
            Expect::allow(),
        ),
        (
            "version label in the path",
            versioned(
                "/metadata/labels/version",
                json!("2.1.0"),
                "classifier/2.1.0/out.json",
            ),
            "",
            Expect::allow(),
        ),
        (
            "another version label",
            versioned(
                "/metadata/labels/app.kubernetes.io~1version",
                json!("v3"),
                "v3/out.json",
            ),
            r#"{"modelVersionLabel": "app.kubernetes.io/version"}"#,
            Expect::allow(),
        ),
        (
            "modelVersion wins over the label",
            with(
                versioned("/spec/modelVersion", json!("v4"), "classifier/v3/out.json"),
                "/metadata/labels/version",
                json!("v3"),
            ),
            "",
            deny(&[STORAGE_PATH_UNVERSIONED]),
        ),
        (
            "version only inside a segment",
            versioned(
                "/spec/modelVersion",
                json!("v3"),
                "classifier/shap-v3/out.json",
            ),
            "",
            deny(&[STORAGE_PATH_UNVERSIONED]),
        ),
        (
            "monitoring disabled",
            set("/spec/monitoring/enabled", json!(false)),
            "",
            deny(&[MONITORING_DISABLED]),
        ),
        (
            "monitoring enabled as a string",
            set("/spec/monitoring/enabled", json!("true")),
            "",
            deny(&[MONITORING_DISABLED]),
        ),
        (
            "no fidelity alert",
            set("/spec/monitoring/alertOnFidelityDrop", json!(false)),
            "",
            deny(&[FIDELITY_ALERT_DISABLED]),
        ),
        (
            "threshold at the minimum",
            set("/spec/monitoring/fidelityThreshold", json!(0.8)),
            "",
            Expect::allow(),
        ),
        (
            "threshold of 1",
            set("/spec/monitoring/fidelityThreshold", json!(1)),
            "",
            Expect::allow(),
        ),
        (
            "threshold too low",
            set("/spec/monitoring/fidelityThreshold", json!(0.7)),
            "",
            deny(&[FIDELITY_THRESHOLD_OUT_OF_RANGE]),
        ),
        (
            "threshold above 1",
            set("/spec/monitoring/fidelityThreshold", json!(1.2)),
            "",
            deny(&[FIDELITY_THRESHOLD_OUT_OF_RANGE]),
        ),
        (
            "threshold as a string",
            set("/spec/monitoring/fidelityThreshold", json!("0.9")),
            "",
            deny(&[FIDELITY_THRESHOLD_OUT_OF_RANGE]),
        ),
        (
            "the operator's stricter minimum",
            fixed(),
            r#"{"minFidelity": 0.9}"#,
            deny(&[FIDELITY_THRESHOLD_OUT_OF_RANGE]),
        ),
        (
            "no monitoring",
            unset("/spec/monitoring"),
            "",
            deny(no_monitoring),
        ),
        (
            "empty spec: every problem at once",
            with(fixed(), "/spec", json!({})),
            "",
            deny(&[
                MODEL_NAME_MISSING,
                TYPE_UNSUPPORTED,
                METHOD_MISSING,
                NUM_SAMPLES_OUT_OF_RANGE,
                BACKGROUND_STRATEGY_MISSING,
                BACKGROUND_SIZE_OUT_OF_RANGE,
                INTEGRATION_INCOMPLETE,
                INTEGRATION_INCOMPLETE,
                STORAGE_MISSING,
                RESOURCES_MISSING,
                MONITORING_DISABLED,
                FIDELITY_ALERT_DISABLED,
                FIDELITY_THRESHOLD_OUT_OF_RANGE,
            ]),
        ),
        (
            "spec that is not an object",
            with(fixed(), "/spec", json!("nope")),
            "",
            Expect::decision(Decision::Deny),
        ),
        (
            "another version",
            set("/apiVersion", json!("ai.apexlogic.com/v1beta1")),
            "",
            Expect::warn(&[UNSUPPORTED_API_VERSION]),
        ),
        (
            "another group is not ours",
            with(seed(), "/apiVersion", json!("example.com/v1")),
            "",
            Expect::allow(),
        ),
    ] {
        check::<Explainer>(name, manifest(&object), settings, expect.clone());
        check::<Explainer>(name, create(&object), settings, expect);
    }
}

#[test]
fn paths() {
    let path = |object: Value, code| path_of(manifest(&object), "", code);
    for (object, code, want) in [
        (seed(), GPU_SHARE_MISSING, "/spec/resourceRequirements/gpu"),
        (
            with(
                with(seed(), SHARE, json!("bad")),
                "/spec/resourceRequirements",
                json!({"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "0.5"}}),
            ),
            GPU_SHARE_INVALID,
            SHARE,
        ),
        (
            with(
                seed(),
                "/spec/resourceRequirements",
                json!({"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "0.5"}}),
            ),
            GPU_SHARE_MISSING,
            "/spec/resourceRequirements/requests/nvidia.com~1gpu",
        ),
        (
            with(seed(), "/spec/resourceRequirements/gpuShare", json!("x")),
            GPU_SHARE_INVALID,
            "/spec/resourceRequirements/gpuShare",
        ),
        (
            set("/spec/resourceRequirements/gpu", json!("2.5")),
            GPU_INVALID,
            "/spec/resourceRequirements/gpu",
        ),
        (
            unset("/spec/resourceRequirements/memory"),
            RESOURCES_MISSING,
            "/spec/resourceRequirements/memory",
        ),
        (
            unset("/spec/resourceRequirements"),
            RESOURCES_MISSING,
            "/spec/resourceRequirements",
        ),
        (
            unset("/spec/modelName"),
            MODEL_NAME_MISSING,
            "/spec/modelName",
        ),
        (
            unset("/spec/explainerType"),
            TYPE_UNSUPPORTED,
            "/spec/explainerType",
        ),
        (
            unset("/spec/explainerConfig/method"),
            METHOD_MISSING,
            "/spec/explainerConfig/method",
        ),
        (
            set("/spec/explainerConfig/numSamples", json!(1)),
            NUM_SAMPLES_OUT_OF_RANGE,
            "/spec/explainerConfig/numSamples",
        ),
        (
            unset("/spec/explainerConfig/backgroundDataStrategy"),
            BACKGROUND_STRATEGY_MISSING,
            "/spec/explainerConfig/backgroundDataStrategy",
        ),
        (
            unset("/spec/explainerConfig/backgroundDataSubsetSize"),
            BACKGROUND_SIZE_OUT_OF_RANGE,
            "/spec/explainerConfig/backgroundDataSubsetSize",
        ),
        (
            unset("/spec/integration/explanationEndpoint"),
            INTEGRATION_INCOMPLETE,
            "/spec/integration/explanationEndpoint",
        ),
        (
            unset("/spec/integration/inferenceServiceRef/name"),
            INTEGRATION_INCOMPLETE,
            "/spec/integration/inferenceServiceRef/name",
        ),
        (
            unset("/spec/storage/path"),
            STORAGE_MISSING,
            "/spec/storage/path",
        ),
        (
            set("/spec/storage/path", json!("x.json")),
            STORAGE_PATH_UNVERSIONED,
            "/spec/storage/path",
        ),
        (
            unset("/spec/monitoring/enabled"),
            MONITORING_DISABLED,
            "/spec/monitoring/enabled",
        ),
        (
            unset("/spec/monitoring/alertOnFidelityDrop"),
            FIDELITY_ALERT_DISABLED,
            "/spec/monitoring/alertOnFidelityDrop",
        ),
        (
            unset("/spec/monitoring/fidelityThreshold"),
            FIDELITY_THRESHOLD_OUT_OF_RANGE,
            "/spec/monitoring/fidelityThreshold",
        ),
        (
            set("/apiVersion", json!("ai.apexlogic.com/v2")),
            UNSUPPORTED_API_VERSION,
            "/apiVersion",
        ),
    ] {
        assert_eq!(path(object, code).as_deref(), Some(want), "{code}");
    }
}

#[test]
fn messages() {
    let message = |object: Value, settings: &str, code: &str| {
        testing::evaluate::<Explainer>(manifest(&object), settings)
            .assert_finding(code)
            .message
            .clone()
    };
    assert_eq!(
        message(seed(), "", GPU_SHARE_MISSING),
        "a fractional GPU (0.1) cannot be scheduled as nvidia.com/gpu: name its MIG slice or time-sliced share in spec.resourceRequirements.gpuShare or annotation `gavel.dev/gpu-share`, for example nvidia.com/mig-1g.10gb or time-slicing:4"
    );
    assert_eq!(
        message(
            set("/spec/explainerConfig/numSamples", json!(50)),
            "",
            NUM_SAMPLES_OUT_OF_RANGE
        ),
        "spec.explainerConfig.numSamples is 50: set it between 100 and 10000; fewer samples give attributions that change from run to run, more cost GPU time per explanation"
    );
    assert_eq!(
        message(
            set("/spec/explainerType", json!("Captum")),
            r#"{"explainerTypes": ["SHAP", "LIME"]}"#,
            TYPE_UNSUPPORTED
        ),
        "set spec.explainerType to one of the accepted explainer types: SHAP, LIME"
    );
    assert_eq!(
        message(
            set("/spec/monitoring/fidelityThreshold", json!(0.5)),
            "",
            FIDELITY_THRESHOLD_OUT_OF_RANGE
        ),
        "spec.monitoring.fidelityThreshold is 0.5: raise it to at least 0.8, the lowest fidelity this cluster accepts"
    );
    assert!(
        message(set("/spec/storage/path", json!("x.json")), "", STORAGE_PATH_UNVERSIONED)
            .contains("the model version is unknown: use the placeholder, or set spec.modelVersion (or label `version`)")
    );
    let outcome = testing::evaluate::<Explainer>(manifest(&unset("/spec/monitoring")), "");
    assert_eq!(
        outcome.assert_finding(MONITORING_DISABLED).severity,
        Severity::High
    );
    assert_eq!(
        outcome.assert_finding(FIDELITY_ALERT_DISABLED).severity,
        Severity::Medium
    );
}
