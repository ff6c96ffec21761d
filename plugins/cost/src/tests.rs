//! Native tests of the whole plugin through gavel-sdk's harness: settings,
//! pricing of each workload kind, budgets, labels, GPU checks and traces.

use gavel_sdk::prelude::*;
use gavel_sdk::testing::{Expect, admission, check, evaluate, gpu_sample, manifest, span, traces};
use serde_json::{Value, json};

use super::Cost;
use crate::settings::Settings;

const CPU: f64 = 0.031611;
const RAM: f64 = 0.004237;
const GPU: f64 = 0.95;

/// A Deployment of `replicas` pods, each one container with `resources`,
/// labelled team=nlp and cost-center=42, in namespace ml.
fn deployment(replicas: u64, resources: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "llm", "namespace": "ml", "labels": {"team": "nlp", "cost-center": "42"}},
        "spec": {"replicas": replicas, "template": {
            "metadata": {"labels": {"app": "llm"}},
            "spec": {"containers": [{"name": "server", "image": "vllm/vllm-openai:v0.6.0", "resources": resources}]}
        }}
    })
}

fn gpu_resources() -> Value {
    json!({"requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
           "limits": {"memory": "16Gi", "nvidia.com/gpu": 1}})
}

fn text(v: &Value) -> String {
    v.to_string()
}

const WORKLOAD: [(&str, &str); 4] = [
    ("kind", "Deployment"),
    ("name", "llm"),
    ("namespace", "ml"),
    ("team", "nlp"),
];

#[test]
fn prices_a_gpu_deployment_with_opencost_defaults() {
    let hourly = 2.0 * (4.0 * CPU + 16.0 * RAM + GPU);
    check::<Cost>(
        "gpu deployment",
        manifest("llm.yaml", &text(&deployment(2, gpu_resources()))),
        "",
        Expect::allow()
            .metric_with_labels("hourly_cost_usd", &WORKLOAD, hourly, 1e-9)
            .metric_with_labels("monthly_cost_usd", &WORKLOAD, hourly * 730.0, 1e-6)
            .metric_with_labels(
                "resource_hourly_cost_usd",
                &[("resource", "cpu")],
                8.0 * CPU,
                1e-12,
            )
            .metric_with_labels(
                "resource_hourly_cost_usd",
                &[("resource", "memory")],
                32.0 * RAM,
                1e-12,
            )
            .metric_with_labels(
                "resource_hourly_cost_usd",
                &[("resource", "nvidia.com/gpu"), ("product", "unspecified")],
                2.0 * GPU,
                1e-12,
            )
            .metric("requested_cpu_cores", 8.0, 0.0)
            .metric("requested_memory_gib", 32.0, 1e-12)
            .metric_with_labels(
                "requested_gpus",
                &[("resource", "nvidia.com/gpu"), ("product", "unspecified")],
                2.0,
                0.0,
            ),
    );
}

#[test]
fn gpu_products_and_mig_profiles() {
    let settings = r#"{"prices": {"gpuProducts": {"NVIDIA-A100-SXM4-80GB": 3.0, "NVIDIA-L4": 0.7}, "migProfiles": {"2g.20gb": 0.9}}}"#;
    let mut pinned = deployment(1, json!({"limits": {"nvidia.com/gpu": "2", "cpu": "0"}}));
    pinned["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"});
    let labels = [
        ("resource", "nvidia.com/gpu"),
        ("product", "NVIDIA-A100-SXM4-80GB"),
    ];
    check::<Cost>(
        "product from nodeSelector",
        manifest("a.yaml", &text(&pinned)),
        settings,
        Expect::allow()
            .metric_with_labels("hourly_cost_usd", &WORKLOAD, 6.0, 1e-12)
            .metric_with_labels("resource_hourly_cost_usd", &labels, 6.0, 1e-12),
    );

    let mut either = deployment(1, json!({"limits": {"nvidia.com/gpu": "1", "cpu": "0"}}));
    either["spec"]["template"]["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L4", "NVIDIA-A100-SXM4-80GB"]}]}]}}});
    check::<Cost>(
        "the dearest product of a required affinity",
        manifest("a.yaml", &text(&either)),
        settings,
        Expect::allow().metric_with_labels("hourly_cost_usd", &WORKLOAD, 3.0, 1e-12),
    );

    let mig = deployment(
        3,
        json!({"limits": {"nvidia.com/mig-1g.10gb": 1, "nvidia.com/mig-2g.20gb": "1", "cpu": "0"}}),
    );
    check::<Cost>(
        "mig slices by table and by fraction",
        manifest("a.yaml", &text(&mig)),
        settings,
        Expect::allow()
            .metric_with_labels("hourly_cost_usd", &WORKLOAD, 3.0 * (GPU / 7.0 + 0.9), 1e-12)
            .metric_with_labels(
                "requested_gpus",
                &[
                    ("resource", "nvidia.com/mig-1g.10gb"),
                    ("product", "unspecified"),
                ],
                3.0,
                0.0,
            ),
    );

    let mut single = deployment(1, json!({"limits": {"nvidia.com/gpu": "1", "cpu": "0"}}));
    single["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB-MIG-3g.40gb"});
    check::<Cost>(
        "single MIG strategy product",
        manifest("a.yaml", &text(&single)),
        settings,
        Expect::allow().metric_with_labels("hourly_cost_usd", &WORKLOAD, 3.0 * 3.0 / 7.0, 1e-12),
    );

    let shared = deployment(
        1,
        json!({"limits": {"nvidia.com/gpu.shared": "1", "cpu": "0"}}),
    );
    check::<Cost>(
        "an unconfigured shared GPU costs a whole GPU",
        manifest("a.yaml", &text(&shared)),
        "",
        Expect::allow().metric_with_labels("hourly_cost_usd", &WORKLOAD, GPU, 1e-12),
    );
    check::<Cost>(
        "time-sliced GPU",
        manifest("a.yaml", &text(&shared)),
        r#"{"timeSlicedResources": {"nvidia.com/gpu.shared": 4}}"#,
        Expect::allow().metric_with_labels("hourly_cost_usd", &WORKLOAD, GPU / 4.0, 1e-12),
    );
}

#[test]
fn budgets() {
    // 2 × (4 × 0.031611 + 16 × 0.004237 + 0.95) × 730 = 1670.58 USD a month.
    let object = text(&deployment(2, gpu_resources()));
    for (name, settings, expect) in [
        (
            "under both",
            r#"{"budgets": {"namespaces": {"ml": 5000}, "teams": {"nlp": 1700}}}"#,
            Expect::allow(),
        ),
        (
            "over the team budget",
            r#"{"budgets": {"namespaces": {"ml": 5000}, "teams": {"nlp": 1500}}}"#,
            Expect::deny(&["cost.budget-exceeded"]),
        ),
        (
            "over both",
            r#"{"budgets": {"namespaces": {"ml": 100}, "teams": {"nlp": 1500}}}"#,
            Expect::deny(&["cost.budget-exceeded", "cost.budget-exceeded"]),
        ),
        (
            "warn instead",
            r#"{"budgets": {"namespaces": {"ml": 100}}, "onBudgetExceeded": "warn"}"#,
            Expect::warn(&["cost.budget-exceeded"]),
        ),
        (
            "other namespaces' budgets",
            r#"{"budgets": {"namespaces": {"web": 1}}}"#,
            Expect::allow(),
        ),
        (
            "a zero budget",
            r#"{"budgets": {"teams": {"nlp": 0}}}"#,
            Expect::deny(&["cost.budget-exceeded"]),
        ),
    ] {
        check::<Cost>(
            name,
            admission(Operation::Create, &object),
            settings,
            expect,
        );
    }

    let outcome = evaluate::<Cost>(
        manifest("a.yaml", &object),
        r#"{"budgets": {"teams": {"nlp": 1500}}}"#,
    );
    let found = outcome.assert_finding("cost.budget-exceeded");
    assert_eq!(
        found.message,
        "this workload costs 1670.58 USD a month, over the 1500.00 USD monthly budget of team nlp: lower its replicas or resource requests, or raise budgets.teams.nlp"
    );
    assert_eq!(found.severity, Severity::High);
}

#[test]
fn namespace_comes_from_the_request_when_the_object_has_none() {
    let mut object = deployment(1, gpu_resources());
    object["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    let Subject::Admission(mut request) = admission(Operation::Create, &text(&object)) else {
        unreachable!()
    };
    request.namespace = Some("ml".into());
    check::<Cost>(
        "request namespace",
        Subject::Admission(request),
        r#"{"budgets": {"namespaces": {"ml": 10}}}"#,
        Expect::deny(&["cost.budget-exceeded"]),
    );
}

#[test]
fn allocation_labels() {
    let mut bare = deployment(1, json!({"requests": {"cpu": "1", "memory": "1Gi"}}));
    bare["metadata"]["labels"] = json!({"team": "nlp"});
    check::<Cost>(
        "cost-center missing warns by default",
        manifest("a.yaml", &text(&bare)),
        "",
        Expect::warn(&["cost.missing-allocation-labels"]),
    );
    check::<Cost>(
        "or denies",
        manifest("a.yaml", &text(&bare)),
        r#"{"onMissingLabels": "deny"}"#,
        Expect::deny(&["cost.missing-allocation-labels"]),
    );
    check::<Cost>(
        "none required",
        manifest("a.yaml", &text(&bare)),
        r#"{"requiredLabels": []}"#,
        Expect::allow(),
    );
    bare["spec"]["template"]["metadata"]["labels"]["cost-center"] = json!("42");
    check::<Cost>(
        "a pod template label counts",
        manifest("a.yaml", &text(&bare)),
        "",
        Expect::allow(),
    );
    let outcome = evaluate::<Cost>(
        manifest("a.yaml", &text(&deployment(1, json!({})))),
        r#"{"requiredLabels": ["owner", "team"]}"#,
    );
    let found = outcome.assert_finding("cost.missing-allocation-labels");
    assert_eq!(found.path.as_deref(), Some("/metadata/labels"));
    assert!(
        found
            .message
            .starts_with("add the cost-allocation labels owner to"),
        "{}",
        found.message
    );
}

#[test]
fn team_from_pod_template_labels_selects_the_budget() {
    let mut object = deployment(1, gpu_resources());
    object["metadata"]["labels"] = json!({"cost-center": "42"});
    object["spec"]["template"]["metadata"]["labels"]["squad"] = json!("vision");
    check::<Cost>(
        "custom team label",
        manifest("a.yaml", &text(&object)),
        r#"{"teamLabel": "squad", "requiredLabels": [], "budgets": {"teams": {"vision": 100}}}"#,
        Expect::deny(&["cost.budget-exceeded"]).metric_with_labels(
            "hourly_cost_usd",
            &[
                ("kind", "Deployment"),
                ("name", "llm"),
                ("namespace", "ml"),
                ("team", "vision"),
            ],
            4.0 * CPU + 16.0 * RAM + GPU,
            1e-12,
        ),
    );
}

#[test]
fn gpu_requests_must_be_whole_and_equal_to_limits() {
    let fractional = deployment(1, json!({"limits": {"nvidia.com/gpu": 0.5, "cpu": "1"}}));
    let outcome = evaluate::<Cost>(manifest("a.yaml", &text(&fractional)), "");
    outcome
        .assert_decision(Decision::Deny)
        .assert_codes(&["cost.gpu-fractional"]);
    let found = outcome.assert_finding("cost.gpu-fractional");
    assert_eq!(
        found.path.as_deref(),
        Some("/spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu")
    );
    assert_eq!(
        found.message,
        "nvidia.com/gpu is 0.5, but GPUs are allocated whole: request a whole number, or share a GPU through a MIG slice such as nvidia.com/mig-1g.5gb, or a time-sliced GPU resource (configure timeSlicedResources)"
    );
    let outcome = evaluate::<Cost>(
        manifest("a.yaml", &text(&fractional)),
        r#"{"timeSlicedResources": {"nvidia.com/gpu.shared": 4}}"#,
    );
    assert!(
        outcome
            .assert_finding("cost.gpu-fractional")
            .message
            .ends_with("or the time-sliced resource nvidia.com/gpu.shared")
    );

    for (name, resources, codes) in [
        (
            "request below limit",
            json!({"requests": {"cpu": "1", "nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "2"}}),
            &["cost.gpu-request-limit-mismatch"][..],
        ),
        (
            "request without limit",
            json!({"requests": {"cpu": "1", "nvidia.com/gpu": "1"}}),
            &["cost.gpu-request-limit-mismatch"],
        ),
        (
            "fractional mig",
            json!({"limits": {"cpu": "1", "nvidia.com/mig-1g.5gb": "1.5"}}),
            &["cost.gpu-fractional"],
        ),
        (
            "fractional request and different limit",
            json!({"requests": {"cpu": "1", "nvidia.com/gpu": "500m"}, "limits": {"nvidia.com/gpu": "1"}}),
            &["cost.gpu-fractional", "cost.gpu-request-limit-mismatch"],
        ),
    ] {
        check::<Cost>(
            name,
            manifest("a.yaml", &text(&deployment(1, resources))),
            "",
            Expect::deny(codes),
        );
    }
    check::<Cost>(
        "equal spelled differently",
        manifest(
            "a.yaml",
            &text(&deployment(
                1,
                json!({"requests": {"cpu": "1", "nvidia.com/gpu": "1000m"}, "limits": {"nvidia.com/gpu": 1}}),
            )),
        ),
        "",
        Expect::allow(),
    );
}

#[test]
fn invalid_quantities_and_counts() {
    let outcome = evaluate::<Cost>(
        manifest(
            "a.yaml",
            &text(&deployment(
                1,
                json!({"requests": {"cpu": "1", "memory": "2GB"}}),
            )),
        ),
        "",
    );
    outcome
        .assert_decision(Decision::Deny)
        .assert_codes(&["cost.invalid-quantity"]);
    let found = outcome.assert_finding("cost.invalid-quantity");
    assert_eq!(
        found.path.as_deref(),
        Some("/spec/template/spec/containers/0/resources/requests/memory")
    );
    assert_eq!(
        found.message,
        "the quantity of memory is not valid because `GB` is not a Kubernetes suffix (use m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or e<n>): write a number with an optional suffix, such as 500m, 2, 4Gi or 20G"
    );
    // The valid CPU is still priced.
    outcome.assert_metric("requested_cpu_cores", 1.0, 0.0);

    let mut object = deployment(1, json!({"requests": {"cpu": "1", "memory": "1Gi"}}));
    object["spec"]["replicas"] = json!("3");
    let outcome = evaluate::<Cost>(manifest("a.yaml", &text(&object)), "");
    outcome.assert_codes(&["cost.invalid-quantity"]);
    assert_eq!(
        outcome
            .assert_finding("cost.invalid-quantity")
            .path
            .as_deref(),
        Some("/spec/replicas")
    );
}

#[test]
fn containers_without_requests() {
    let outcome = evaluate::<Cost>(manifest("a.yaml", &text(&deployment(1, json!({})))), "");
    outcome
        .assert_decision(Decision::Allow)
        .assert_codes(&["cost.missing-requests"])
        .assert_metric_with_labels("hourly_cost_usd", &WORKLOAD, 0.0, 0.0);
    let found = outcome.assert_finding("cost.missing-requests");
    assert_eq!(
        found.path.as_deref(),
        Some("/spec/template/spec/containers/0")
    );
    assert_eq!(found.severity, Severity::Low);
}

#[test]
fn kinds() {
    let labels = json!({"team": "a", "cost-center": "1"});
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": labels},
        "spec": {"containers": [{"resources": {"requests": {"cpu": 0.1, "memory": "512Mi"}}}]}});
    let pod_labels = [
        ("kind", "Pod"),
        ("name", "p"),
        ("namespace", ""),
        ("team", "a"),
    ];
    check::<Cost>(
        "pod with a numeric cpu",
        admission(Operation::Create, &text(&pod)),
        "",
        Expect::allow().metric_with_labels(
            "hourly_cost_usd",
            &pod_labels,
            0.1 * CPU + 0.5 * RAM,
            1e-12,
        ),
    );

    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train", "labels": labels},
        "spec": {"parallelism": 4, "activeDeadlineSeconds": 36000, "template": {"spec": {
            "containers": [{"resources": {"limits": {"nvidia.com/gpu": 2, "memory": "0"}}}]}}}});
    let job_labels = [
        ("kind", "Job"),
        ("name", "train"),
        ("namespace", ""),
        ("team", "a"),
    ];
    check::<Cost>(
        "job: parallelism, and monthly capped by its deadline",
        manifest("job.yaml", &text(&job)),
        "",
        Expect::allow()
            .metric_with_labels("hourly_cost_usd", &job_labels, 8.0 * GPU, 1e-12)
            .metric_with_labels("monthly_cost_usd", &job_labels, 80.0 * GPU, 1e-9),
    );

    let isvc = json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
    "metadata": {"name": "llama", "namespace": "serving", "labels": labels},
    "spec": {
        "predictor": {"minReplicas": 2, "model": {"modelFormat": {"name": "huggingface"},
            "resources": {"requests": {"cpu": "6", "memory": "24Gi", "nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}}},
        "transformer": {"containers": [{"name": "t", "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}}]},
        "explainer": {"minReplicas": 0, "containers": [{"name": "e", "resources": {"requests": {"cpu": "8"}}}]}
    }});
    let isvc_labels = [
        ("kind", "InferenceService"),
        ("name", "llama"),
        ("namespace", "serving"),
        ("team", "a"),
    ];
    let predictor = 6.0 * CPU + 24.0 * RAM + GPU;
    check::<Cost>(
        "kserve components with minReplicas",
        manifest("isvc.yaml", &text(&isvc)),
        "",
        Expect::allow().metric_with_labels(
            "hourly_cost_usd",
            &isvc_labels,
            2.0 * predictor + CPU + 2.0 * RAM,
            1e-12,
        ),
    );

    let ray = json!({"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": {"name": "r", "labels": labels},
        "spec": {"headGroupSpec": {"template": {"spec": {"containers": [{"resources": {"requests": {"cpu": "2"}}}]}}},
                 "workerGroupSpecs": [{"replicas": 2, "numOfHosts": 2, "template": {"spec": {"containers": [
                     {"resources": {"limits": {"nvidia.com/gpu": "4", "cpu": "0"}}}]}}}]}});
    let ray_labels = [
        ("kind", "RayCluster"),
        ("name", "r"),
        ("namespace", ""),
        ("team", "a"),
    ];
    check::<Cost>(
        "kuberay head and workers",
        manifest("ray.yaml", &text(&ray)),
        "",
        Expect::allow().metric_with_labels(
            "hourly_cost_usd",
            &ray_labels,
            2.0 * CPU + 16.0 * GPU,
            1e-12,
        ),
    );

    for (name, object) in [
        (
            "configmap",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
        ),
        (
            "unknown custom resource",
            json!({"apiVersion": "example.com/v1", "kind": "Model", "spec": {"resources": {"cpu": "lots"}}}),
        ),
        ("not an object", json!([1, 2])),
    ] {
        let outcome = evaluate::<Cost>(manifest("x.yaml", &text(&object)), "");
        outcome.assert_decision(Decision::Allow).assert_codes(&[]);
        assert!(
            outcome.verdict().metrics.is_empty(),
            "{name}: {:?}",
            outcome.verdict().metrics
        );
    }
}

#[test]
fn subjects_that_are_not_judged() {
    let object = text(&deployment(1, json!({"limits": {"nvidia.com/gpu": 0.5}})));
    check::<Cost>(
        "delete",
        admission(Operation::Delete, &object),
        "",
        Expect::allow(),
    );
    let Subject::Admission(mut scale) = admission(Operation::Update, &object) else {
        unreachable!()
    };
    scale.sub_resource = Some("scale".into());
    check::<Cost>(
        "scale sub-resource",
        Subject::Admission(scale),
        "",
        Expect::allow(),
    );
    check::<Cost>("empty traces", traces([]), "", Expect::allow());
    check::<Cost>(
        "malformed manifest",
        manifest("a.yaml", "{"),
        "",
        Expect::error("InvalidSubject"),
    );
}

// ------------------------------------------------------------------ traces

const SECOND: u64 = 1_000_000_000;
const T0: u64 = 1_704_067_200 * SECOND;

/// A span of `service` starting `start_s` seconds after T0, lasting
/// `duration_s`, with one sample of `gpu` at `util` percent at its start.
fn gpu_span(service: &str, start_s: u64, duration_s: u64, gpu: &str, util: f64) -> InferenceSpan {
    let mut s = span(service, "llama-3-8b");
    s.namespace = Some("inference".into());
    s.start_unix_nano = T0 + start_s * SECOND;
    s.end_unix_nano = s.start_unix_nano + duration_s * SECOND;
    let mut sample = gpu_sample(gpu, "NVIDIA-L4", util);
    sample.time_unix_nano = s.start_unix_nano;
    s.gpu_samples.push(sample);
    s
}

const SERIES: [(&str, &str); 3] = [
    ("namespace", "inference"),
    ("service", "chat"),
    ("model", "llama-3-8b"),
];

#[test]
fn idle_gpus_recommend_scaling_down() {
    // Three GPUs, one per replica, 12 one-second requests at 3 % utilisation.
    let spans: Vec<_> = (0..12)
        .map(|i| gpu_span("chat", i * 2, 1, &(i % 3).to_string(), 3.0))
        .collect();
    let outcome = evaluate::<Cost>(traces(spans), "");
    outcome
        .assert_decision(Decision::Warn)
        .assert_codes(&["cost.gpu-idle"])
        .assert_metric_with_labels("gpu_utilization_mean_percent", &SERIES, 3.0, 1e-12)
        .assert_metric_with_labels("requests_total", &SERIES, 12.0, 0.0)
        .assert_metric_with_labels("gpu_hours", &SERIES, 12.0 / 3600.0, 1e-12)
        .assert_metric_with_labels("gpu_cost_usd", &SERIES, 12.0 / 3600.0 * GPU, 1e-12);
    let actions = &outcome.verdict().actions;
    assert!(
        matches!(&actions[..], [Action::ScaleDown(s)] if s.target == "inference/chat" && s.replicas == 1),
        "{actions:?}"
    );
    assert_eq!(
        outcome.assert_finding("cost.gpu-idle").message,
        "the GPUs serving inference/chat averaged 3.0% utilisation over 12 samples, below the 10% idle threshold: scale inference/chat down from about 3 to 1 replicas"
    );

    // One GPU: nothing to scale down, the finding says what to do instead.
    let spans: Vec<_> = (0..12)
        .map(|i| gpu_span("chat", i * 2, 1, "0", 3.0))
        .collect();
    let outcome = evaluate::<Cost>(traces(spans.clone()), "");
    outcome.assert_codes(&["cost.gpu-idle"]);
    assert!(outcome.verdict().actions.is_empty());
    check::<Cost>(
        "too few samples",
        traces(spans[..9].to_vec()),
        "",
        Expect::allow(),
    );
    check::<Cost>(
        "lower threshold",
        traces(spans),
        r#"{"idleGpu": {"thresholdPercent": 2}}"#,
        Expect::allow(),
    );
}

#[test]
fn concurrent_spans_share_samples_and_gpu_time() {
    // Two requests batched on one GPU over the same second, sharing a sample.
    let spans = vec![
        gpu_span("chat", 0, 1, "0", 90.0),
        gpu_span("chat", 0, 1, "0", 90.0),
    ];
    check::<Cost>(
        "batched",
        traces(spans),
        "",
        Expect::allow()
            .metric_with_labels("requests_total", &SERIES, 2.0, 0.0)
            .metric_with_labels("gpu_hours", &SERIES, 1.0 / 3600.0, 1e-15)
            .metric_with_labels("gpu_utilization_mean_percent", &SERIES, 90.0, 0.0),
    );
    // A MIG slice counts as its share of a GPU, priced from the table.
    let mut s = gpu_span("chat", 0, 3600, "0", 90.0);
    s.gpu_samples[0].mig_profile = Some("1g.10gb".into());
    s.gpu_samples[0].model = "NVIDIA-A100-SXM4-80GB".into();
    check::<Cost>(
        "mig sample",
        traces([s]),
        r#"{"prices": {"gpuProducts": {"NVIDIA-A100-SXM4-80GB": 3.5}}}"#,
        Expect::allow()
            .metric_with_labels("gpu_hours", &SERIES, 1.0 / 7.0, 1e-12)
            .metric_with_labels("gpu_cost_usd", &SERIES, 0.5, 1e-12),
    );
    // Spans without samples still count as requests.
    check::<Cost>(
        "no samples",
        traces([span("chat", "m")]),
        "",
        Expect::allow().metric_with_labels(
            "requests_total",
            &[("namespace", ""), ("service", "chat"), ("model", "m")],
            1.0,
            0.0,
        ),
    );
}

/// 20 requests in the first minute lasting `early_s`, then `late_n` spread
/// over the second lasting `late_s`, all on GPU 0 at 80 %.
fn halves(early_s: u64, late_n: u64, late_s: u64) -> Vec<InferenceSpan> {
    let early = (0..20).map(|i| gpu_span("chat", i * 3, early_s, "0", 80.0));
    let late = (0..late_n).map(|i| gpu_span("chat", 60 + i * 60 / late_n, late_s, "0", 80.0));
    early.chain(late).collect()
}

#[test]
fn gpu_time_per_request_anomaly() {
    let ratio = |v: f64| {
        Expect::decision(if v > 1.5 {
            Decision::Warn
        } else {
            Decision::Allow
        })
        .metric_with_labels(
            "gpu_seconds_per_request_ratio",
            &[("namespace", "inference"), ("service", "chat")],
            v,
            1e-12,
        )
    };
    check::<Cost>(
        "doubled",
        traces(halves(1, 20, 2)),
        "",
        ratio(2.0).codes(&["cost.gpu-hours-anomaly"]),
    );
    check::<Cost>("flat", traces(halves(1, 20, 1)), "", ratio(1.0).codes(&[]));
    check::<Cost>(
        "below the ratio",
        traces(halves(2, 20, 3)),
        "",
        ratio(1.5).codes(&[]),
    );
    // Traffic fell by 25 %: not flat, so not the anomaly.
    check::<Cost>(
        "traffic changed",
        traces(halves(1, 15, 2)),
        "",
        Expect::allow(),
    );
    check::<Cost>(
        "too few requests",
        traces(halves(1, 20, 2)),
        r#"{"anomaly": {"minRequests": 21}}"#,
        Expect::allow(),
    );
    let outcome = evaluate::<Cost>(traces(halves(1, 20, 2)), "");
    assert!(
        matches!(&outcome.verdict().actions[..], [Action::Alert(a)] if a.severity == Severity::Medium)
    );
}

// ------------------------------------------------------------------ settings

/// The defaults a JSON Schema declares, as a settings document.
fn schema_defaults(schema: &Value) -> Value {
    match schema.get("properties").and_then(Value::as_object) {
        Some(properties) => Value::Object(
            properties
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.get("default")
                            .cloned()
                            .unwrap_or_else(|| schema_defaults(v)),
                    )
                })
                .collect(),
        ),
        None => schema.get("default").cloned().unwrap_or(Value::Null),
    }
}

#[test]
fn metadata_and_schema() {
    let metadata = gavel_sdk::testing::metadata::<Cost>();
    assert_eq!(metadata.name, "cost");
    assert_eq!(metadata.category, Category::Cost);
    assert_eq!(
        metadata.subjects,
        [
            SubjectKind::Admission,
            SubjectKind::Manifest,
            SubjectKind::Traces
        ]
    );
    let schema: Value = serde_json::from_str(&metadata.settings_schema).unwrap();
    let defaults = schema_defaults(&schema);
    let parsed: Settings =
        serde_json::from_value(defaults.clone()).unwrap_or_else(|e| panic!("{defaults}: {e}"));
    assert_eq!(
        parsed,
        Settings::default(),
        "the schema's defaults are the settings' defaults"
    );
    assert_eq!(
        gavel_sdk::testing::validate::<Cost>(&defaults.to_string()),
        Ok(())
    );
}

#[test]
fn settings_validation() {
    let validate = gavel_sdk::testing::validate::<Cost>;
    assert_eq!(validate(""), Ok(()));
    assert_eq!(validate("{}"), Ok(()));
    for (settings, want) in [
        (
            r#"{"prices": {"cpuCoreHour": -1}}"#,
            "prices.cpuCoreHour must be a non-negative number of USD, got -1",
        ),
        (
            r#"{"prices": {"gpuProducts": {"A100": -3}}}"#,
            "prices.gpuProducts.A100 must be a non-negative number of USD",
        ),
        (
            r#"{"prices": {"migComputeSlices": 0}}"#,
            "prices.migComputeSlices must be at least 1",
        ),
        (r#"{"prices": {"cpuHour": 1}}"#, "unknown field `cpuHour`"),
        (
            r#"{"timeSlicedResources": {"nvidia.com/gpu.shared": 0}}"#,
            "timeSlicedResources.nvidia.com/gpu.shared must be at least 1",
        ),
        (
            r#"{"timeSlicedResources": {"cpu": 2}}"#,
            "name the time-sliced GPU resource",
        ),
        (
            r#"{"budgets": {"teams": {"nlp": -5}}}"#,
            "budgets.teams.nlp must be a non-negative number",
        ),
        (r#"{"budgets": {"team": {}}}"#, "unknown field `team`"),
        (r#"{"teamLabel": ""}"#, "teamLabel is empty"),
        (
            r#"{"requiredLabels": [" "]}"#,
            "an entry of requiredLabels is empty",
        ),
        (
            r#"{"onBudgetExceeded": "block"}"#,
            "unknown variant `block`, expected `deny` or `warn`",
        ),
        (
            r#"{"idleGpu": {"thresholdPercent": 120}}"#,
            "idleGpu.thresholdPercent must be between 0 and 100, got 120",
        ),
        (
            r#"{"idleGpu": {"minSamples": 0}}"#,
            "idleGpu.minSamples must be at least 1",
        ),
        (
            r#"{"idleGpu": {"targetUtilizationPercent": 0}}"#,
            "idleGpu.targetUtilizationPercent must be above 0",
        ),
        (
            r#"{"anomaly": {"ratio": 1}}"#,
            "anomaly.ratio must be a number above 1, got 1",
        ),
        (
            r#"{"anomaly": {"requestTolerance": 1}}"#,
            "anomaly.requestTolerance must be at least 0 and below 1",
        ),
        (
            r#"{"anomaly": {"minRequests": 0}}"#,
            "anomaly.minRequests must be at least 1",
        ),
        (
            r#"{"gpuProductLabels": [""]}"#,
            "an entry of gpuProductLabels is empty",
        ),
    ] {
        let got = validate(settings).expect_err(settings);
        assert!(
            got.contains(want),
            "{settings}: {got:?} does not contain {want:?}"
        );
    }
}
