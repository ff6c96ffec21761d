//! The bundled plugins, through gavel-host, on data-driven cases.

use gavel_core::{Decision, Subject};
use serde_json::json;

use crate::{admission, expect_verdict, limits, manifest, pod, read, runtime};

/// Every governance plugin in plugins/ must have a case here: adding a plugin
/// crate without a test fails the build.
macro_rules! assert_plugin_is_tested {
    ($($name:ident)*) => {
        $(#[allow(non_snake_case, reason = "named after the artifact constant")] mod $name {
            #[test]
            fn loads_and_describes_itself() {
                let plugin = crate::runtime()
                    .load_plugin(stringify!($name), &crate::read(gavel_artifacts::$name))
                    .expect("plugin loads");
                assert!(!plugin.metadata().subjects.is_empty());
                assert!(!plugin.uses_wasi(), "governance plugins are WASI-free");
            }
        })*
    };
}
gavel_artifacts::foreach_plugin!(assert_plugin_is_tested);

#[track_caller]
fn check(subject: Subject, settings: serde_json::Value, decision: Decision, codes: &[&str]) {
    let plugin = runtime()
        .load_plugin("required-labels", &read(gavel_artifacts::REQUIRED_LABELS))
        .unwrap();
    let e = plugin.evaluate(&subject, &settings.to_string(), &limits());
    let v = expect_verdict(&e.outcome);
    assert_eq!(v.decision, decision, "{v:?}");
    let got: Vec<&str> = v.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(got, codes, "{v:?}");
}

#[test]
fn required_labels_cases() {
    let team = json!({"labels": ["team"]});
    let both = json!({"labels": ["team", "cost-center"]});
    check(
        admission(pod(json!({"team": "ml"}))),
        team.clone(),
        Decision::Allow,
        &[],
    );
    check(
        admission(pod(json!({}))),
        team.clone(),
        Decision::Deny,
        &["labels.missing"],
    );
    check(
        admission(pod(json!({"team": "ml"}))),
        both.clone(),
        Decision::Deny,
        &["labels.missing"],
    );
    check(
        admission(pod(json!({"team": "ml", "cost-center": "42"}))),
        both,
        Decision::Allow,
        &[],
    );
    check(
        manifest(pod(json!({}))),
        team.clone(),
        Decision::Deny,
        &["labels.missing"],
    );
    check(
        manifest(pod(json!({"team": "x"}))),
        json!({}),
        Decision::Allow,
        &[],
    );
}

#[test]
fn required_labels_finding_points_at_the_labels() {
    let plugin = runtime()
        .load_plugin("required-labels", &read(gavel_artifacts::REQUIRED_LABELS))
        .unwrap();
    let e = plugin.evaluate(&admission(pod(json!({}))), "{}", &limits());
    let v = expect_verdict(&e.outcome);
    assert_eq!(v.findings[0].path.as_deref(), Some("/metadata/labels"));
    assert!(v.findings[0].message.contains("team"), "{v:?}");
}

#[test]
fn required_labels_rejects_bad_settings() {
    let plugin = runtime()
        .load_plugin("required-labels", &read(gavel_artifacts::REQUIRED_LABELS))
        .unwrap();
    let err = plugin
        .validate_settings(r#"{"labels": "team"}"#, &limits())
        .unwrap_err();
    assert_eq!(err.kind, gavel_core::FailureKind::SettingsRejected);
    assert!(err.message.contains("labels"), "{err}");
    plugin
        .validate_settings(r#"{"labels": ["team"]}"#, &limits())
        .unwrap();
}
