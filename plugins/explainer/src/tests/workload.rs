use gavel_sdk::prelude::*;
use gavel_sdk::testing::{self, Expect, check};
use serde_json::{Value, json};

use super::{create, manifest, path_of, with};
use crate::Explainer;
use crate::codes::{MISSING, REFERENCE_INVALID, REFERENCE_NOT_PROPAGATED};

const RISK: &str = "/metadata/labels/gavel.dev~1eu-ai-act-risk";
const TEMPLATE_RISK: &str = "/spec/template/metadata/labels/gavel.dev~1eu-ai-act-risk";
const REFERENCE: &str = "/metadata/annotations/gavel.dev~1explainer";
const TEMPLATE_REFERENCE: &str = "/spec/template/metadata/annotations/gavel.dev~1explainer";

/// The multimodal-inference Deployment of the founding article, re-typed.
fn seed_deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "multimodal-inference"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "multimodal-inference"}},
            "template": {
                "metadata": {"labels": {"app": "multimodal-inference"}},
                "spec": {
                    "containers": [{
                        "name": "inference-engine",
                        "image": "apexlogic/multimodal-model:v2.1.0",
                        "resources": {
                            "limits": {"cpu": "4", "memory": "16Gi"},
                            "requests": {"cpu": "2", "memory": "8Gi"}
                        },
                        "env": [
                            {"name": "AI_ETHICS_POLICY_VERSION", "value": "v1.2"},
                            {"name": "DATA_PRIVACY_COMPLIANCE", "value": "GDPR_CCPA_2026"}
                        ]
                    }],
                    "nodeSelector": {"gpu-enabled": "true"}
                }
            }
        }
    })
}

fn high_risk() -> Value {
    with(seed_deployment(), RISK, json!("high"))
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "classifier-0", "namespace": "ai-prod",
                     "labels": {"gavel.dev/eu-ai-act-risk": "high"}},
        "spec": {"containers": [{"name": "model", "image": "apexlogic/classifier:v3"}]}
    })
}

fn inference_service() -> Value {
    json!({
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "image-classifier-service", "namespace": "ai-prod",
                     "labels": {"gavel.dev/eu-ai-act-risk": "high"}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "pytorch"},
                                         "storageUri": "s3://models/image-classifier/v3"}}}
    })
}

#[test]
fn cases() {
    let named = |v: Value| with(v, REFERENCE, json!("image-classifier-shap-explainer"));
    let cron = json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "nightly-scoring", "annotations": {"gavel.dev/explainer": "scoring-shap"}},
        "spec": {"jobTemplate": {"spec": {"template": {
            "metadata": {"labels": {"gavel.dev/eu-ai-act-risk": "high"}},
            "spec": {"containers": [{"name": "score", "image": "scoring:v1"}]}}}}}
    });
    let ray = json!({
        "apiVersion": "ray.io/v1", "kind": "RayService",
        "metadata": {"name": "llm", "labels": {"gavel.dev/eu-ai-act-risk": "high"}}
    });
    let config_map = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"gavel.dev/eu-ai-act-risk": "high"}}
    });
    let deny = |code| Expect::deny(&[code]);
    for (name, subject, settings, expect) in [
        (
            "the article's Deployment is not high-risk",
            manifest(&seed_deployment()),
            "",
            Expect::allow(),
        ),
        (
            "high-risk without an explainer",
            manifest(&high_risk()),
            "",
            deny(MISSING),
        ),
        (
            "high-risk, admitted",
            create(&high_risk()),
            "",
            deny(MISSING),
        ),
        (
            "label values compare case-insensitively",
            manifest(&with(seed_deployment(), RISK, json!("High"))),
            "",
            deny(MISSING),
        ),
        (
            "limited risk needs no explainer",
            manifest(&with(seed_deployment(), RISK, json!("limited"))),
            "",
            Expect::allow(),
        ),
        (
            "named explainer",
            manifest(&named(high_risk())),
            "",
            Expect::allow(),
        ),
        (
            "named across namespaces",
            manifest(&with(
                high_risk(),
                REFERENCE,
                json!("ai-prod/image-classifier-shap-explainer"),
            )),
            "",
            Expect::allow(),
        ),
        (
            "not a name",
            manifest(&with(high_risk(), REFERENCE, json!("Image Classifier!"))),
            "",
            deny(REFERENCE_INVALID),
        ),
        (
            "empty name",
            manifest(&with(high_risk(), REFERENCE, json!(""))),
            "",
            deny(REFERENCE_INVALID),
        ),
        (
            "not a string",
            manifest(&with(high_risk(), REFERENCE, json!(3))),
            "",
            deny(REFERENCE_INVALID),
        ),
        (
            "template labelled, reference only on the Deployment",
            manifest(&named(with(
                seed_deployment(),
                TEMPLATE_RISK,
                json!("high"),
            ))),
            "",
            Expect::warn(&[REFERENCE_NOT_PROPAGATED]),
        ),
        (
            "template labelled and named",
            manifest(&with(
                with(seed_deployment(), TEMPLATE_RISK, json!("high")),
                TEMPLATE_REFERENCE,
                json!("shap"),
            )),
            "",
            Expect::allow(),
        ),
        (
            "Deployment labelled, template named",
            manifest(&with(high_risk(), TEMPLATE_REFERENCE, json!("shap"))),
            "",
            Expect::allow(),
        ),
        (
            "both references invalid",
            manifest(&with(
                with(high_risk(), REFERENCE, json!("A")),
                TEMPLATE_REFERENCE,
                json!("B"),
            )),
            "",
            Expect::deny(&[REFERENCE_INVALID, REFERENCE_INVALID]),
        ),
        (
            "CronJob template labelled",
            manifest(&cron),
            "",
            Expect::warn(&[REFERENCE_NOT_PROPAGATED]),
        ),
        (
            "Pod without an explainer",
            create(&pod()),
            "",
            deny(MISSING),
        ),
        (
            "Pod with an explainer",
            create(&named(pod())),
            "",
            Expect::allow(),
        ),
        (
            "InferenceService without an explainer",
            manifest(&inference_service()),
            "",
            deny(MISSING),
        ),
        (
            "InferenceService with an Alibi explainer",
            manifest(&with(
                inference_service(),
                "/spec/explainer",
                json!({"alibi": {"type": "AnchorImages"}}),
            )),
            "",
            Expect::allow(),
        ),
        (
            "InferenceService with an explainer container",
            manifest(&with(
                inference_service(),
                "/spec/explainer",
                json!({"containers": [{"name": "explainer", "image": "aifserver:v1"}]}),
            )),
            "",
            Expect::allow(),
        ),
        (
            "InferenceService with an empty explainer",
            manifest(&with(
                inference_service(),
                "/spec/explainer",
                json!({"minReplicas": 1}),
            )),
            "",
            deny(MISSING),
        ),
        (
            "InferenceService naming its ExplainerConfiguration",
            manifest(&named(inference_service())),
            "",
            Expect::allow(),
        ),
        (
            "a labelled ConfigMap is not a workload",
            manifest(&config_map),
            "",
            Expect::allow(),
        ),
        (
            "RayService is not a workload by default",
            manifest(&ray),
            "",
            Expect::allow(),
        ),
        (
            "RayService as an extra workload kind",
            manifest(&ray),
            r#"{"extraWorkloadKinds": ["RayService"]}"#,
            deny(MISSING),
        ),
        (
            "another risk label",
            manifest(&with(
                seed_deployment(),
                "/metadata/labels/risk",
                json!("critical"),
            )),
            r#"{"riskLabel": "risk", "highRiskValues": ["critical"]}"#,
            deny(MISSING),
        ),
        (
            "another annotation",
            manifest(&with(
                high_risk(),
                "/metadata/annotations/xai",
                json!("shap"),
            )),
            r#"{"explainerAnnotation": "xai"}"#,
            Expect::allow(),
        ),
        (
            "update judges the new object",
            testing::admission_update(&seed_deployment().to_string(), &high_risk().to_string()),
            "",
            deny(MISSING),
        ),
        (
            "delete has no object",
            testing::admission(Operation::Delete, &high_risk().to_string()),
            "",
            Expect::allow(),
        ),
        (
            "bad settings",
            manifest(&high_risk()),
            r#"{"highRiskValues": []}"#,
            Expect::error("highRiskValues is empty"),
        ),
        (
            "not JSON",
            testing::manifest("a.yaml", "{"),
            "",
            Expect::error("InvalidSubject"),
        ),
        (
            "not an object",
            testing::manifest("a.yaml", "[1, 2]"),
            "",
            Expect::allow(),
        ),
    ] {
        check::<Explainer>(name, subject, settings, expect);
    }
}

#[test]
fn paths_point_where_to_fix() {
    let path = |object: Value, code| path_of(manifest(&object), "", code);
    assert_eq!(
        path(high_risk(), MISSING).as_deref(),
        Some("/metadata/annotations")
    );
    assert_eq!(
        path(with(high_risk(), REFERENCE, json!("A")), REFERENCE_INVALID).as_deref(),
        Some(REFERENCE)
    );
    assert_eq!(
        path(
            with(
                with(high_risk(), TEMPLATE_RISK, json!("high")),
                REFERENCE,
                json!("x")
            ),
            REFERENCE_NOT_PROPAGATED
        )
        .as_deref(),
        Some("/spec/template/metadata/annotations")
    );
    assert_eq!(
        path(
            with(inference_service(), "/spec/explainer", json!({})),
            MISSING
        )
        .as_deref(),
        Some("/spec/explainer")
    );
    let status = {
        let Subject::Admission(mut request) = create(&high_risk()) else {
            unreachable!()
        };
        request.sub_resource = Some("status".into());
        Subject::Admission(request)
    };
    check::<Explainer>("status sub-resource", status, "", Expect::allow());
}

#[test]
fn messages_say_what_to_do() {
    let outcome = testing::evaluate::<Explainer>(manifest(&high_risk()), "");
    let finding = outcome.assert_finding(MISSING);
    assert_eq!(finding.severity, Severity::High);
    assert_eq!(
        finding.message,
        "this Deployment is labelled gavel.dev/eu-ai-act-risk=high (high-risk under the EU AI Act) but has no explainer: set annotation `gavel.dev/explainer` to the ExplainerConfiguration (`name` or `namespace/name`) that explains its model"
    );
    let outcome = testing::evaluate::<Explainer>(manifest(&inference_service()), "");
    assert!(outcome.assert_finding(MISSING).message.contains(
        "add spec.explainer (alibi, art or containers) or set annotation `gavel.dev/explainer`"
    ));
}
