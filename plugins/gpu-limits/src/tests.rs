use gavel_sdk::prelude::*;
use gavel_sdk::testing::{Expect, admission, check, evaluate, manifest};

use super::GpuLimits;

/// A Pod with labels `labels` and one container with `resources`.
fn pod(labels: &str, resources: &str) -> String {
    format!(
        r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "p", "labels": {labels}}},
            "spec": {{"containers": [{{"name": "c", "image": "vllm", "resources": {resources}}}]}}}}"#
    )
}

const LABELLED: &str = r#"{"team": "ml", "cost-center": "cc-1"}"#;

#[test]
fn cases() {
    let deny = |codes: &[&str]| Expect::deny(codes);
    for (name, subject, settings, expect) in [
        (
            "request equal to limit",
            admission(
                Operation::Create,
                &pod(
                    LABELLED,
                    r#"{"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}"#,
                ),
            ),
            "",
            Expect::allow(),
        ),
        (
            "limit only",
            admission(
                Operation::Create,
                &pod(LABELLED, r#"{"limits": {"nvidia.com/gpu": 2}}"#),
            ),
            "",
            Expect::allow(),
        ),
        (
            "no GPU at all",
            admission(
                Operation::Create,
                &pod(LABELLED, r#"{"requests": {"cpu": "1"}}"#),
            ),
            "",
            Expect::allow(),
        ),
        (
            "request without limit",
            admission(
                Operation::Create,
                &pod(LABELLED, r#"{"requests": {"nvidia.com/gpu": "1"}}"#),
            ),
            "",
            deny(&["gpu.limit-missing"]),
        ),
        (
            "over the default cap of 4",
            admission(
                Operation::Create,
                &pod(LABELLED, r#"{"limits": {"nvidia.com/gpu": "8"}}"#),
            ),
            "",
            deny(&["gpu.too-many"]),
        ),
        (
            "cap from settings",
            admission(
                Operation::Create,
                &pod(LABELLED, r#"{"limits": {"nvidia.com/gpu": "2"}}"#),
            ),
            r#"{"maxGpusPerContainer": 1}"#,
            deny(&["gpu.too-many"]),
        ),
        (
            "fractional GPU",
            admission(
                Operation::Create,
                &pod(LABELLED, r#"{"limits": {"nvidia.com/gpu": "0.5"}}"#),
            ),
            "",
            deny(&["gpu.invalid-quantity"]),
        ),
        (
            "missing cost-center",
            admission(Operation::Create, &pod(r#"{"team": "ml"}"#, "{}")),
            "",
            deny(&["labels.missing"]),
        ),
        (
            "labels from settings",
            admission(Operation::Create, &pod(r#"{"team": "ml"}"#, "{}")),
            r#"{"labels": ["team"]}"#,
            Expect::allow(),
        ),
        (
            "every problem at once",
            manifest(
                "p.yaml",
                &pod("{}", r#"{"requests": {"nvidia.com/gpu": "6"}}"#),
            ),
            "",
            deny(&["gpu.limit-missing", "gpu.too-many", "labels.missing"]),
        ),
        (
            "delete has no object",
            admission(Operation::Delete, &pod("{}", "{}")),
            "",
            Expect::allow(),
        ),
        (
            "misspelt setting",
            manifest("p.yaml", &pod(LABELLED, "{}")),
            r#"{"maxGpus": 1}"#,
            Expect::error("unknown field `maxGpus`"),
        ),
        (
            "empty label name",
            manifest("p.yaml", &pod(LABELLED, "{}")),
            r#"{"labels": [" "]}"#,
            Expect::error("labels: an entry is empty"),
        ),
    ] {
        check::<GpuLimits>(name, subject, settings, expect);
    }
}

const DEPLOYMENT: &str = r#"{"apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "d", "labels": {"team": "ml", "cost-center": "cc-1"}},
    "spec": {"template": {"spec": {
        "initContainers": [{"name": "fetch", "resources": {"requests": {"nvidia.com/gpu": 1}}}],
        "containers": [{"name": "ok", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}}}"#;

const ISVC: &str = r#"{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
    "metadata": {"name": "llm", "labels": {"team": "ml", "cost-center": "cc-1"}},
    "spec": {
        "predictor": {"model": {"modelFormat": {"name": "huggingface"},
            "resources": {"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": "2"}}}},
        "transformer": {"containers": [{"name": "t", "resources": {"limits": {"nvidia.com/gpu": "5"}}}]}}}"#;

#[test]
fn findings_point_at_the_container() {
    let outcome = evaluate::<GpuLimits>(manifest("d.yaml", DEPLOYMENT), "");
    let f = outcome.assert_finding("gpu.limit-missing");
    assert_eq!(
        f.path.as_deref(),
        Some("/spec/template/spec/initContainers/0/resources/limits")
    );

    let outcome = evaluate::<GpuLimits>(manifest("isvc.yaml", ISVC), "");
    outcome.assert_codes(&["gpu.too-many"]);
    let f = outcome.assert_finding("gpu.too-many");
    assert_eq!(f.path.as_deref(), Some("/spec/transformer/containers/0"));
    assert!(
        f.message.contains("asks for 5 GPUs, at most 4"),
        "{}",
        f.message
    );

    let outcome = evaluate::<GpuLimits>(
        manifest(
            "p.yaml",
            &pod(LABELLED, r#"{"limits": {"nvidia.com/gpu": "x"}}"#),
        ),
        "",
    );
    let f = outcome.assert_finding("gpu.invalid-quantity");
    assert_eq!(
        f.path.as_deref(),
        Some("/spec/containers/0/resources/limits/nvidia.com~1gpu")
    );
}

#[test]
fn kserve_model_container_is_checked() {
    let isvc = ISVC.replace(r#""limits": {"nvidia.com/gpu": "2"}"#, r#""limits": {}"#);
    let outcome = evaluate::<GpuLimits>(manifest("isvc.yaml", &isvc), "");
    let f = outcome.assert_finding("gpu.limit-missing");
    assert_eq!(
        f.path.as_deref(),
        Some("/spec/predictor/model/resources/limits")
    );
}

#[test]
fn metadata() {
    let metadata = gavel_sdk::testing::metadata::<GpuLimits>();
    assert_eq!(metadata.name, "gpu-limits");
    assert_eq!(metadata.subjects, SubjectKind::OBJECTS);
}
