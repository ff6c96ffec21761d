//! Admission requests and manifests through the native harness.

use gavel_sdk::prelude::*;
use gavel_sdk::testing::{Expect, admission, check, evaluate, manifest};
use serde_json::{Value, json};

use crate::Privacy;

// Fabricated values in real formats; none is a live credential.
const HF_TOKEN: &str = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz12345678";
const OPENAI_KEY: &str = "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12";
const RANDOM_PASSWORD: &str = "q8Zt2LwX9vRk4NpB7sYc";

const CREDENTIAL: &str = "privacy.credential-in-env";
const SECRET: &str = "privacy.secret-in-env";
const ARGS: &str = "privacy.credential-in-args";
const LOGGER: &str = "privacy.logger-external";
const RESIDENCY: &str = "privacy.residency-missing";
const OUTSIDE: &str = "privacy.residency-outside-allowed";
const RETENTION: &str = "privacy.retention-missing";
const RETENTION_INVALID: &str = "privacy.retention-invalid";
const RETENTION_LONG: &str = "privacy.retention-too-long";

/// A Deployment whose pod spec is `pod_spec`, with `labels` on the object.
fn deployment(labels: Value, pod_spec: Value) -> String {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "llm", "namespace": "inference", "labels": labels},
        "spec": {"template": {"metadata": {"labels": {"app": "llm"}}, "spec": pod_spec}}
    })
    .to_string()
}

fn env(vars: Value) -> Value {
    json!({"containers": [{"name": "server", "image": "vllm/vllm-openai:v0.6.3", "env": vars}]})
}

fn isvc(labels: Value, spec: Value) -> String {
    json!({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "credit", "labels": labels}, "spec": spec
    })
    .to_string()
}

fn personal() -> Value {
    json!({"gavel.dev/personal-data": "true", "gavel.dev/retention-days": "30"})
}

fn in_region(region: &str) -> Value {
    json!({"nodeSelector": {"topology.kubernetes.io/region": region}, "containers": [{"name": "app"}]})
}

fn affinity(terms: Value) -> Value {
    json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}})
}

fn region_in(values: &[&str]) -> Value {
    json!({"matchExpressions": [{"key": "topology.kubernetes.io/region", "operator": "In", "values": values}]})
}

#[test]
fn credentials() {
    let secret_ref = json!({"secretKeyRef": {"name": "hf", "key": "token"}});
    for (name, object, settings, expect) in [
        (
            "a token read from a Secret",
            deployment(json!({}), env(json!([{"name": "HF_TOKEN", "valueFrom": secret_ref}]))),
            "",
            Expect::allow().metric("literal_env_vars_total", 0.0, 0.0).metric("plaintext_credentials_total", 0.0, 0.0),
        ),
        (
            "a Hugging Face token in plain text",
            deployment(json!({}), env(json!([{"name": "HF_TOKEN", "value": HF_TOKEN}]))),
            "",
            Expect::deny(&[CREDENTIAL]).metric("plaintext_credentials_total", 1.0, 0.0),
        ),
        (
            "a known format under any name",
            deployment(json!({}), env(json!([{"name": "EXTRA_CONFIG", "value": format!("Bearer {OPENAI_KEY}")}]))),
            "",
            Expect::deny(&[CREDENTIAL]),
        ),
        (
            "a random literal under a secret-looking name",
            deployment(json!({}), env(json!([{"name": "db_password", "value": RANDOM_PASSWORD}]))),
            "",
            Expect::deny(&[SECRET]),
        ),
        (
            "ordinary settings, a short password, a low-entropy one, a reference, a path",
            deployment(json!({}), env(json!([
                {"name": "VLLM_USE_V1", "value": "1"},
                {"name": "MODEL_ID", "value": "meta-llama/Llama-3.1-8B-Instruct"},
                {"name": "ADMIN_PASSWORD", "value": "hunter2"},
                {"name": "API_TOKEN", "value": "changeme-changeme-changeme"},
                {"name": "API_TOKEN", "value": "$(HF_TOKEN_FROM_SECRET)"},
                {"name": "SA_TOKEN", "value": "/var/run/secrets/kubernetes.io/serviceaccount/token"},
                {"name": "TOKEN_URL", "value": "https://auth.example.com/oauth2/token?x=Zt2LwX9vRk4NpB7"}
            ]))),
            "",
            Expect::allow().metric("literal_env_vars_total", 7.0, 0.0),
        ),
        (
            "a lower threshold catches more",
            deployment(json!({}), env(json!([{"name": "ADMIN_PASSWORD", "value": "hunter2"}]))),
            r#"{"credentials": {"entropyThreshold": 2.0, "minLength": 6}}"#,
            Expect::deny(&[SECRET]),
        ),
        (
            "a warning when configured",
            deployment(json!({}), env(json!([{"name": "HF_TOKEN", "value": HF_TOKEN}]))),
            r#"{"credentials": {"decision": "warn"}}"#,
            Expect::warn(&[CREDENTIAL]),
        ),
        (
            "init and ephemeral containers",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
                "initContainers": [{"name": "fetch", "env": [{"name": "HF_TOKEN", "value": HF_TOKEN}]}],
                "containers": [{"name": "app"}],
                "ephemeralContainers": [{"name": "debug", "env": [{"name": "GITHUB_TOKEN", "value": format!("ghp_{}", "a1B2c3D4e5".repeat(4))}]}]
            }})
            .to_string(),
            "",
            Expect::deny(&[CREDENTIAL, CREDENTIAL]),
        ),
        (
            "a key on the command line",
            deployment(json!({}), json!({"containers": [{"name": "server", "args": ["--api-key", OPENAI_KEY]}]})),
            "",
            Expect::deny(&[ARGS]),
        ),
        (
            "command lines unchecked when configured",
            deployment(json!({}), json!({"containers": [{"name": "server", "command": ["serve", format!("--token={HF_TOKEN}")]}]})),
            r#"{"credentials": {"scanArgs": false}}"#,
            Expect::allow(),
        ),
        (
            "credential checks switched off",
            deployment(json!({}), env(json!([{"name": "HF_TOKEN", "value": HF_TOKEN}]))),
            r#"{"credentials": {"enabled": false}}"#,
            Expect::allow(),
        ),
        (
            "an InferenceService framework container",
            isvc(json!({}), json!({"predictor": {"sklearn": {"storageUri": "gs://models/iris", "env": [{"name": "HF_TOKEN", "value": HF_TOKEN}]}}})),
            "",
            Expect::deny(&[CREDENTIAL]),
        ),
        (
            "objects without containers",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"HF_TOKEN": HF_TOKEN}}).to_string(),
            "",
            Expect::allow(),
        ),
    ] {
        check::<Privacy>(name, manifest("deploy.yaml#0", &object), settings, expect);
    }
}

#[test]
fn credential_findings_point_at_the_env_var() {
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "sync"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "sync", "env": [{"name": "A", "value": "1"}, {"name": "HF_TOKEN", "value": HF_TOKEN}]}]
    }}}}}});
    let outcome = evaluate::<Privacy>(admission(Operation::Create, &cron.to_string()), "");
    let f = outcome.assert_finding(CREDENTIAL);
    assert_eq!(
        f.path.as_deref(),
        Some("/spec/jobTemplate/spec/template/spec/containers/0/env/1")
    );
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(
        f.message,
        "env var `HF_TOKEN` of container `sync` holds a Hugging Face token in plain text: store it in a Secret, reference it with valueFrom.secretKeyRef, and rotate it, since it is already in the object's history"
    );
    let args = deployment(
        json!({}),
        json!({"containers": [{"args": ["--api-key", OPENAI_KEY]}]}),
    );
    let outcome = evaluate::<Privacy>(manifest("a", &args), "");
    let f = outcome.assert_finding(ARGS);
    assert_eq!(
        f.path.as_deref(),
        Some("/spec/template/spec/containers/0/args/1")
    );
    assert!(f.message.starts_with("args[1] of the container at /spec/template/spec/containers/0 holds an OpenAI-style API key"), "{}", f.message);
    for f in &outcome.verdict().findings {
        assert!(!f.message.contains(OPENAI_KEY) && !f.message.contains("Ab12Cd34"));
    }
}

#[test]
fn loggers() {
    let logged = |component: &str, logger: Value| {
        let mut spec = json!({"predictor": {"sklearn": {"storageUri": "gs://models/iris"}}});
        spec[component]["logger"] = logger;
        isvc(json!({}), spec)
    };
    for (name, object, settings, expect) in [
        (
            "no logger",
            logged("predictor", Value::Null),
            "",
            Expect::allow(),
        ),
        (
            "an in-cluster sink",
            logged(
                "predictor",
                json!({"mode": "all", "url": "http://message-dumper.default.svc.cluster.local/"}),
            ),
            "",
            Expect::allow(),
        ),
        (
            "the default sink",
            logged("predictor", json!({"mode": "all"})),
            "",
            Expect::allow(),
        ),
        (
            "an external collector",
            logged(
                "predictor",
                json!({"mode": "all", "url": "https://logs.example.com/ingest"}),
            ),
            "",
            Expect::deny(&[LOGGER]),
        ),
        (
            "a short in-cluster name is not trusted by default",
            logged(
                "predictor",
                json!({"mode": "request", "url": "http://message-dumper.default/"}),
            ),
            "",
            Expect::deny(&[LOGGER]),
        ),
        (
            "an allowed external host",
            logged(
                "transformer",
                json!({"mode": "response", "url": "https://logs.example.com/ingest"}),
            ),
            r#"{"logger": {"allowedHosts": ["*.svc.cluster.local", "logs.example.com"]}}"#,
            Expect::allow(),
        ),
        (
            "the explainer too, warn when configured",
            logged("explainer", json!({"url": "http://203.0.113.9:8080"})),
            r#"{"logger": {"decision": "warn"}}"#,
            Expect::warn(&[LOGGER]),
        ),
        (
            "a url without a host",
            logged("predictor", json!({"url": "http:///events"})),
            "",
            Expect::deny(&[LOGGER]),
        ),
        (
            "logger checks switched off",
            logged(
                "predictor",
                json!({"url": "https://logs.example.com/ingest"}),
            ),
            r#"{"logger": {"enabled": false}}"#,
            Expect::allow(),
        ),
    ] {
        check::<Privacy>(name, manifest("isvc.yaml", &object), settings, expect);
    }
    let outcome = evaluate::<Privacy>(
        manifest(
            "isvc.yaml",
            &logged(
                "predictor",
                json!({"mode": "all", "url": "https://u:p@Logs.Example.com:443/x"}),
            ),
        ),
        "",
    );
    let f = outcome.assert_finding(LOGGER);
    assert_eq!(f.path.as_deref(), Some("/spec/predictor/logger/url"));
    assert_eq!(
        f.message,
        "the predictor's payload logger (mode all) sends inference requests and responses to `logs.example.com`, outside logger.allowedHosts (*.svc, *.svc.cluster.local): send them to an in-cluster service by its full name (SERVICE.NAMESPACE.svc.cluster.local), or add the host to logger.allowedHosts once it is approved to receive personal data"
    );
}

#[test]
fn personal_data() {
    let pinned = in_region("eu-west-1");
    for (name, object, settings, expect) in [
        ("unlabelled workloads are not judged", deployment(json!({}), json!({"containers": [{"name": "app"}]})), "", Expect::allow()),
        (
            "labelled false",
            deployment(json!({"gavel.dev/personal-data": "false"}), json!({"containers": [{"name": "app"}]})),
            "",
            Expect::allow(),
        ),
        ("pinned to an EU region with a retention", deployment(personal(), pinned.clone()), "", Expect::allow()),
        (
            "no region, no retention",
            deployment(json!({"gavel.dev/personal-data": "True"}), json!({"containers": [{"name": "app"}]})),
            "",
            Expect::deny(&[RESIDENCY, RETENTION]),
        ),
        ("a region outside the allowed set", deployment(personal(), in_region("us-east-1")), "", Expect::deny(&[OUTSIDE])),
        (
            "allowed regions from settings",
            deployment(personal(), in_region("us-east-1")),
            r#"{"personalData": {"allowedRegions": ["us-east-1"]}}"#,
            Expect::allow(),
        ),
        (
            "required affinity, every term pinned",
            deployment(personal(), affinity(json!([region_in(&["eu-central-1", "europe-west4"]), region_in(&["westeurope"])]))),
            "",
            Expect::allow(),
        ),
        (
            "required affinity with a term that allows any region",
            deployment(personal(), affinity(json!([region_in(&["eu-central-1"]), {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}]))),
            "",
            Expect::deny(&[RESIDENCY]),
        ),
        (
            "required affinity naming a region outside the set",
            deployment(personal(), affinity(json!([region_in(&["eu-central-1", "us-west-2"])]))),
            "",
            Expect::deny(&[OUTSIDE]),
        ),
        (
            "NotIn pins nothing",
            deployment(personal(), affinity(json!([{"matchExpressions": [{"key": "topology.kubernetes.io/region", "operator": "NotIn", "values": ["us-east-1"]}]}]))),
            "",
            Expect::deny(&[RESIDENCY]),
        ),
        (
            "preferred affinity pins nothing",
            deployment(personal(), json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": region_in(&["eu-west-1"])}]}}})),
            "",
            Expect::deny(&[RESIDENCY]),
        ),
        (
            "labels on the pod template count",
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"}, "spec": {"template": {
                "metadata": {"labels": {"gavel.dev/personal-data": "true", "gavel.dev/retention-days": "7"}}, "spec": pinned.clone()
            }}})
            .to_string(),
            "",
            Expect::allow(),
        ),
        (
            "retention that is not a positive number",
            deployment(json!({"gavel.dev/personal-data": "true", "gavel.dev/retention-days": "0"}), pinned.clone()),
            "",
            Expect::deny(&[RETENTION_INVALID]),
        ),
        (
            "retention in words",
            deployment(json!({"gavel.dev/personal-data": "true", "gavel.dev/retention-days": "thirty"}), pinned.clone()),
            "",
            Expect::deny(&[RETENTION_INVALID]),
        ),
        (
            "retention over the maximum",
            deployment(json!({"gavel.dev/personal-data": "true", "gavel.dev/retention-days": "400"}), pinned.clone()),
            r#"{"personalData": {"maxRetentionDays": 365}}"#,
            Expect::deny(&[RETENTION_LONG]),
        ),
        (
            "custom labels",
            deployment(json!({"example.com/pii": "yes", "example.com/keep-days": "14"}), pinned.clone()),
            r#"{"personalData": {"label": "example.com/pii", "labelValue": "yes", "retentionLabel": "example.com/keep-days"}}"#,
            Expect::allow(),
        ),
        (
            "a labelled InferenceService checks each component",
            isvc(personal(), json!({"predictor": {"nodeSelector": {"topology.kubernetes.io/region": "europe-west4"}, "sklearn": {}}, "transformer": {"containers": [{"name": "t"}]}})),
            "",
            Expect::deny(&[RESIDENCY]),
        ),
        (
            "labelled objects that run no pods",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "d", "labels": personal()}}).to_string(),
            "",
            Expect::allow(),
        ),
        (
            "warn when configured",
            deployment(json!({"gavel.dev/personal-data": "true"}), pinned.clone()),
            r#"{"personalData": {"decision": "warn"}}"#,
            Expect::warn(&[RETENTION]),
        ),
        (
            "personal-data checks switched off",
            deployment(json!({"gavel.dev/personal-data": "true"}), json!({})),
            r#"{"personalData": {"enabled": false}}"#,
            Expect::allow(),
        ),
    ] {
        check::<Privacy>(name, manifest("apps/llm.yaml#0", &object), settings, expect);
    }
}

#[test]
fn residency_findings_point_at_the_constraint() {
    let outcome = evaluate::<Privacy>(
        manifest("a", &deployment(personal(), in_region("us-east-1"))),
        "",
    );
    let f = outcome.assert_finding(OUTSIDE);
    assert_eq!(
        f.path.as_deref(),
        Some("/spec/template/spec/nodeSelector/topology.kubernetes.io~1region")
    );
    assert!(
        f.message.contains("region `us-east-1`") && f.message.contains("GDPR Art. 44"),
        "{}",
        f.message
    );

    let terms = affinity(json!([
        region_in(&["eu-west-1"]),
        region_in(&["eu-west-1", "ap-south-1"])
    ]));
    let outcome = evaluate::<Privacy>(manifest("a", &deployment(personal(), terms)), "");
    assert_eq!(
        outcome.assert_finding(OUTSIDE).path.as_deref(),
        Some(
            "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/1/matchExpressions/0"
        )
    );

    let outcome = evaluate::<Privacy>(
        manifest(
            "a",
            &deployment(json!({"gavel.dev/personal-data": "true"}), json!({})),
        ),
        "",
    );
    assert_eq!(
        outcome.assert_finding(RESIDENCY).path.as_deref(),
        Some("/spec/template/spec")
    );
    let retention = outcome.assert_finding(RETENTION);
    assert_eq!(retention.path.as_deref(), Some("/metadata/labels"));
    assert!(
        retention.message.contains("GDPR Art. 5(1)(e)"),
        "{}",
        retention.message
    );
}

/// A CronJob review whose object, as in many hand-written reviews, has no
/// `kind` or `apiVersion`.
fn kindless() -> Subject {
    let object = json!({"metadata": {"name": "sync"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "sync", "env": [{"name": "HF_TOKEN", "value": HF_TOKEN}]}]
    }}}}}});
    let review = json!({"request": {
        "uid": "u", "operation": "CREATE", "kind": {"group": "batch", "version": "v1", "kind": "CronJob"},
        "resource": {"group": "batch", "version": "v1", "resource": "cronjobs"}, "object": object
    }});
    gavel_sdk::testing::admission_review(&review.to_string())
}

#[test]
fn subjects_without_an_object() {
    let pod = deployment(
        json!({}),
        env(json!([{"name": "HF_TOKEN", "value": HF_TOKEN}])),
    );
    for (name, subject, expect) in [
        (
            "create is judged",
            admission(Operation::Create, &pod),
            Expect::deny(&[CREDENTIAL]),
        ),
        (
            "update judges the new object",
            admission(Operation::Update, &pod),
            Expect::deny(&[CREDENTIAL]),
        ),
        (
            "delete has no object",
            admission(Operation::Delete, &pod),
            Expect::allow(),
        ),
        (
            "connect options are not a resource",
            admission(
                Operation::Connect,
                r#"{"kind":"PodExecOptions","command":["sh"]}"#,
            ),
            Expect::allow(),
        ),
        (
            "a malformed manifest",
            manifest("broken.yaml", "{"),
            Expect::error("InvalidSubject"),
        ),
        (
            "an admitted object without a kind takes the request's",
            kindless(),
            Expect::deny(&[CREDENTIAL]),
        ),
    ] {
        check::<Privacy>(name, subject, "", expect);
    }
}

#[test]
fn findings_are_bounded() {
    let vars: Vec<Value> = (0..10)
        .map(|i| json!({"name": format!("HF_TOKEN_{i}"), "value": HF_TOKEN}))
        .collect();
    let outcome = evaluate::<Privacy>(
        manifest("a", &deployment(json!({}), env(Value::Array(vars)))),
        r#"{"maxFindings": 3}"#,
    );
    outcome
        .assert_decision(Decision::Deny)
        .assert_codes(&[
            CREDENTIAL,
            CREDENTIAL,
            CREDENTIAL,
            "privacy.findings-truncated",
        ])
        .assert_metric("plaintext_credentials_total", 10.0, 0.0);
    assert!(
        outcome
            .assert_finding("privacy.findings-truncated")
            .message
            .starts_with("7 more findings")
    );
}
