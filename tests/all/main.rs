//! gavel's integration tests: real plugins, built from source by
//! `gavel-artifacts`, run through `gavel-host`.

mod hostile;
mod loading;
mod plugins;
mod policy_set;
mod preinit;
mod server;
mod suites;
mod traces;

use std::sync::OnceLock;

use gavel_core::{AdmissionReview, Limits, Manifest, Outcome, Subject, Verdict};
use gavel_host::{Runtime, RuntimeBuilder};

/// One runtime for the whole test binary, as a daemon has one per process.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| RuntimeBuilder::new().build().expect("runtime builds"))
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// An admission subject for `object` (JSON), created in namespace `ml`.
fn admission(object: serde_json::Value) -> Subject {
    let kind = object["kind"].as_str().unwrap_or("Pod").to_owned();
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0c9f3e4a-1111-4f00-9a8e-5e7d1c0b2a10",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "ml",
            "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": object,
        }
    });
    let review = AdmissionReview::from_json(review.to_string().as_bytes()).expect("valid review");
    Subject::Admission(review.request)
}

fn manifest(document: serde_json::Value) -> Subject {
    Subject::Manifest(Manifest {
        path: "deploy.yaml#0".into(),
        document: document.to_string(),
    })
}

fn pod(labels: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "llm", "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "vllm/vllm-openai:v0.6.0"}]}
    })
}

#[track_caller]
fn expect_verdict(outcome: &Outcome) -> &Verdict {
    match outcome {
        Outcome::Verdict(v) => v,
        other => panic!("expected a verdict, got {other:?}"),
    }
}

fn limits() -> Limits {
    Limits::default()
}
