//! Native tests through gavel-sdk's harness, which validates settings as the
//! host does before each evaluation. One table of cases per rule.

use gavel_sdk::prelude::*;
use gavel_sdk::testing;
use serde_json::{Value, json};

use crate::Explainer;

mod config;
mod fidelity;
mod settings;
mod workload;

/// A manifest subject holding `object`.
fn manifest(object: &Value) -> Subject {
    testing::manifest("apps/explainer.yaml#0", &object.to_string())
}

/// A CREATE admission subject for `object`.
fn create(object: &Value) -> Subject {
    testing::admission(Operation::Create, &object.to_string())
}

/// `value` with the member at `pointer` set to `new`, creating parent
/// objects as needed, or removed when `new` is null.
fn with(mut value: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let key = key.replace("~1", "/").replace("~0", "~");
    let mut target = &mut value;
    for token in parent.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        target = target
            .as_object_mut()
            .expect("an object on the way")
            .entry(token)
            .or_insert_with(|| json!({}));
    }
    let map = target.as_object_mut().expect("an object at the parent");
    if new.is_null() {
        map.remove(&key);
    } else {
        map.insert(key, new);
    }
    value
}

/// Run the plugin; return the path of the only finding with `code`.
fn path_of(subject: Subject, settings: &str, code: &str) -> Option<String> {
    let outcome = testing::evaluate::<Explainer>(subject, settings);
    let paths: Vec<_> = outcome
        .verdict()
        .findings
        .iter()
        .filter(|f| f.code == code)
        .map(|f| f.path.clone())
        .collect();
    assert_eq!(paths.len(), 1, "one {code} finding: {outcome:#?}");
    paths.into_iter().next().flatten()
}

#[test]
fn findings_never_echo_object_text() {
    // A value that must never reach a finding, a metric or an action.
    const SECRET: &str = "alice@example.com";
    let config = json!({
        "apiVersion": "ai.apexlogic.com/v1alpha1",
        "kind": "ExplainerConfiguration",
        "metadata": {"name": "x", "annotations": {"gavel.dev/gpu-share": SECRET}},
        "spec": {
            "modelName": "", "modelVersion": SECRET, "explainerType": SECRET,
            "explainerConfig": {"method": "", "numSamples": SECRET, "backgroundDataSubsetSize": SECRET},
            "integration": {"explanationEndpoint": SECRET},
            "storage": {"path": SECRET},
            "resourceRequirements": {"cpu": "1", "memory": "1Gi", "gpu": "0.5"},
            "monitoring": {"enabled": SECRET, "fidelityThreshold": SECRET}
        }
    });
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"gavel.dev/eu-ai-act-risk": "high"},
                     "annotations": {"gavel.dev/explainer": SECRET}},
        "spec": {"template": {"metadata": {"labels": {"gavel.dev/eu-ai-act-risk": "high"}}}}
    });
    let mut span = testing::span("svc", "m");
    span.attributes.push(Attribute {
        key: "gen_ai.explanation.fidelity".into(),
        value: AttributeValue::Str(SECRET.into()),
    });
    for subject in [
        manifest(&config),
        manifest(&deployment),
        testing::traces([span]),
    ] {
        let outcome = testing::evaluate::<Explainer>(subject, "");
        let verdict = outcome.verdict();
        assert!(!verdict.findings.is_empty());
        let text = format!("{verdict:?}");
        assert!(!text.contains(SECRET), "{text}");
    }
}

#[test]
fn metadata() {
    let metadata = testing::metadata::<Explainer>();
    assert_eq!(metadata.name, "explainer");
    assert_eq!(metadata.category, Category::Explainer);
    assert_eq!(
        metadata.subjects,
        [
            SubjectKind::Admission,
            SubjectKind::Manifest,
            SubjectKind::Traces
        ]
    );
    assert_eq!(metadata.settings_schema, crate::settings::SCHEMA);
}
