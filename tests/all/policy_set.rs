//! Policy sets from a directory: loading errors and composed decisions.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use gavel_core::{Decision, FailureKind, Outcome};
use gavel_host::{Builtins, LoadError, PolicySetRuntime};
use serde_json::json;

use crate::{admission, pod, read, runtime};

/// A policy-set directory that removes itself.
struct PolicyDir(PathBuf);

impl PolicyDir {
    fn new(yaml: &str) -> PolicyDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gavel-policy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("plugins")).unwrap();
        std::fs::write(dir.join("policy-set.yaml"), yaml).unwrap();
        std::fs::copy(
            gavel_artifacts::REQUIRED_LABELS,
            dir.join("plugins/required-labels.wasm"),
        )
        .unwrap();
        std::fs::copy(gavel_artifacts::HOSTILE, dir.join("plugins/hostile.wasm")).unwrap();
        PolicyDir(dir)
    }

    fn load(&self) -> Result<PolicySetRuntime, LoadError> {
        runtime().load_policy_set_dir(&self.0, &builtins())
    }
}

impl Drop for PolicyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn builtins() -> Builtins {
    let mut b = Builtins::default();
    b.insert("required-labels", read(gavel_artifacts::REQUIRED_LABELS));
    b
}

const HEADER: &str = "apiVersion: gavel.dev/v1alpha1\nkind: PolicySet\nname: test\nplugins:\n";

fn labels_entry(extra: &str) -> String {
    format!(
        "  - name: labels\n    module: plugins/required-labels.wasm\n    settings: {{ labels: [team] }}\n{extra}"
    )
}

fn hostile_entry(attack: &str, extra: &str) -> String {
    format!(
        "  - name: hostile\n    module: plugins/hostile.wasm\n    settings: {{ attack: {attack} }}\n    limits: {{ fuel: 1000000 }}\n{extra}"
    )
}

#[track_caller]
fn load_err(yaml: &str) -> String {
    PolicyDir::new(yaml)
        .load()
        .expect_err("load must fail")
        .to_string()
}

#[test]
fn loads_and_denies_a_pod_without_labels() {
    let set = PolicyDir::new(&format!("{HEADER}{}", labels_entry("")))
        .load()
        .unwrap();
    assert_eq!(set.version().len(), 64);
    let c = set.evaluate(&admission(pod(json!({}))));
    assert_eq!(c.decision, Decision::Deny);
    assert_eq!(c.denials.len(), 1, "{c:?}");
    assert!(
        c.denials[0].starts_with("labels: labels.missing: "),
        "{c:?}"
    );
    assert_eq!(
        set.evaluate(&admission(pod(json!({"team": "a"})))).decision,
        Decision::Allow
    );
}

#[test]
fn builtin_modules_resolve() {
    let yaml = format!("{HEADER}  - name: labels\n    module: builtin:required-labels\n");
    let set = PolicyDir::new(&yaml).load().unwrap();
    assert_eq!(set.plugins()[0].plugin.metadata().name, "required-labels");
}

#[test]
fn version_changes_with_settings() {
    let a = PolicyDir::new(&format!("{HEADER}{}", labels_entry("")))
        .load()
        .unwrap();
    let b = PolicyDir::new(&format!(
        "{HEADER}{}",
        labels_entry("").replace("[team]", "[owner]")
    ))
    .load()
    .unwrap();
    assert_ne!(a.version(), b.version());
}

#[test]
fn load_errors_say_what_to_do() {
    let pin = "0".repeat(64);
    let cases: &[(String, &str)] = &[
        (
            format!("{HEADER}{}", labels_entry(&format!("    sha256: {pin}\n"))),
            "but the policy set pins",
        ),
        (
            format!("{HEADER}  - name: x\n    module: plugins/missing.wasm\n"),
            "cannot read `plugins/missing.wasm`",
        ),
        (
            format!("{HEADER}  - name: x\n    module: ../escape.wasm\n"),
            "without `..`",
        ),
        (
            format!("{HEADER}  - name: x\n    module: plugins/../../escape.wasm\n"),
            "without `..`",
        ),
        (
            format!("{HEADER}  - name: x\n    module: builtin:bias\n"),
            "embeds only: required-labels",
        ),
        (
            format!("{HEADER}{}", labels_entry("    subjects: [traces]\n")),
            "subscribed to `traces`, but it handles only",
        ),
        (
            format!("{HEADER}{}", labels_entry("").replace("[team]", "oops")),
            "rejected its settings",
        ),
        (
            format!(
                "{HEADER}{}",
                labels_entry("    limits: { memoryMiB: 2048 }\n")
            ),
            "grants at most 1024 MiB",
        ),
        (
            format!("{HEADER}  - name: x\n    modul: a.wasm\n"),
            "unknown field `modul`",
        ),
    ];
    for (yaml, expect) in cases {
        let err = load_err(yaml);
        assert!(err.contains(expect), "`{err}` lacks `{expect}` for\n{yaml}");
    }
}

#[test]
fn symlinks_out_of_the_directory_are_refused() {
    let dir = PolicyDir::new(&format!(
        "{HEADER}  - name: x\n    module: plugins/link.wasm\n"
    ));
    std::os::unix::fs::symlink(
        gavel_artifacts::REQUIRED_LABELS,
        dir.0.join("plugins/link.wasm"),
    )
    .unwrap();
    let err = dir.load().unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }), "{err}");
}

#[test]
fn a_correct_pin_loads() {
    let pin = gavel_core::digest::sha256_hex(&read(gavel_artifacts::REQUIRED_LABELS));
    PolicyDir::new(&format!(
        "{HEADER}{}",
        labels_entry(&format!("    sha256: {pin}\n"))
    ))
    .load()
    .unwrap();
}

#[track_caller]
fn decide(entries: &str, labels: serde_json::Value) -> gavel_core::Composed {
    let set = PolicyDir::new(&format!("{HEADER}{entries}"))
        .load()
        .unwrap();
    set.evaluate(&admission(pod(labels)))
}

#[test]
fn composition_through_real_plugins() {
    // (entries, pod labels, decision, denials, warnings)
    let cases: &[(String, serde_json::Value, Decision, usize, usize)] = &[
        (labels_entry(""), json!({}), Decision::Deny, 1, 0),
        (
            labels_entry("    mode: warn\n"),
            json!({}),
            Decision::Warn,
            0,
            1,
        ),
        (
            labels_entry("    mode: audit\n"),
            json!({}),
            Decision::Allow,
            0,
            0,
        ),
        (
            labels_entry("    authority: advisory\n"),
            json!({}),
            Decision::Warn,
            0,
            1,
        ),
        (
            hostile_entry("infinite-loop", ""),
            json!({}),
            Decision::Deny,
            1,
            0,
        ),
        (
            hostile_entry("infinite-loop", "    failurePolicy: fail-open\n"),
            json!({}),
            Decision::Warn,
            0,
            1,
        ),
        (
            format!("{}{}", labels_entry(""), hostile_entry("none", "")),
            json!({"team": "a"}),
            Decision::Allow,
            0,
            0,
        ),
        (
            format!(
                "{}{}",
                labels_entry("    mode: warn\n"),
                hostile_entry("panic", "    failurePolicy: fail-open\n")
            ),
            json!({}),
            Decision::Warn,
            0,
            2,
        ),
    ];
    for (entries, labels, decision, denials, warnings) in cases {
        let c = decide(entries, labels.clone());
        assert_eq!(
            (c.decision, c.denials.len(), c.warnings.len()),
            (*decision, *denials, *warnings),
            "{entries}\n{c:#?}"
        );
    }
}

#[test]
fn failures_are_reported_per_plugin() {
    let c = decide(
        &format!("{}{}", labels_entry(""), hostile_entry("infinite-loop", "")),
        json!({"team": "a"}),
    );
    assert_eq!(c.plugins.len(), 2);
    assert!(matches!(c.plugins[0].outcome, Outcome::Verdict(_)));
    match &c.plugins[1].outcome {
        Outcome::Failed(f) => assert_eq!(f.kind, FailureKind::FuelExhausted),
        other => panic!("{other:?}"),
    }
    assert!(
        c.denials[0].starts_with("hostile: plugin failed (fuel-exhausted"),
        "{c:?}"
    );
}

#[test]
fn plugins_not_subscribed_are_skipped() {
    let set = PolicyDir::new(&format!(
        "{HEADER}{}",
        labels_entry("    subjects: [manifest]\n")
    ))
    .load()
    .unwrap();
    let c = set.evaluate(&admission(pod(json!({}))));
    assert_eq!(c.decision, Decision::Allow);
    assert_eq!(c.plugins[0].outcome, Outcome::Skipped);
}

#[test]
fn plugins_see_the_object_their_input_grant_shows() {
    let entry = |name: &str, extra: &str| {
        hostile_entry("show-input", extra).replacen("name: hostile", &format!("name: {name}"), 1)
    };
    let set = PolicyDir::new(&format!(
        "{HEADER}{}{}{}{}",
        entry("default", ""),
        entry("also-default", ""),
        entry("everything", "    input: { omit: [] }\n"),
        entry(
            "no-spec",
            "    input: { omit: [/spec, /metadata/annotations/*] }\n"
        ),
    ))
    .load()
    .unwrap();
    let mut object = pod(json!({"team": "a"}));
    object["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Update"}]);
    object["metadata"]["annotations"] = json!({
        "kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"Pod\"}",
        "note": "kept",
    });
    let c = set.evaluate(&admission(object.clone()));
    let shown: Vec<serde_json::Value> = c
        .plugins
        .iter()
        .map(|p| match &p.outcome {
            Outcome::Verdict(v) => {
                let text = v.findings[0].message.strip_prefix("show-input: ").unwrap();
                serde_json::from_str(text).unwrap()
            }
            other => panic!("{}: {other:?}", p.name),
        })
        .collect();
    let mut bare = object.clone();
    bare["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    bare["metadata"]["annotations"] = json!({"note": "kept"});
    assert_eq!(shown[0], bare);
    assert_eq!(shown[1], bare);
    assert_eq!(shown[2], object);
    let mut no_spec = object.clone();
    no_spec.as_object_mut().unwrap().remove("spec");
    no_spec["metadata"]["annotations"] = json!({});
    assert_eq!(shown[3], no_spec);
}

#[test]
fn span_attributes_reach_the_plugin_intact() {
    use gavel_core::{Attribute, AttributeValue, InferenceSpan, SpanStatus, Subject};
    let set = PolicyDir::new(&format!("{HEADER}{}", hostile_entry("show-input", "")))
        .load()
        .unwrap();
    let span = |id: &str, attributes: Vec<Attribute>| InferenceSpan {
        trace_id: "0".repeat(32),
        span_id: id.into(),
        parent_span_id: None,
        service: "chat".into(),
        namespace: None,
        model: "m".into(),
        operation: "chat".into(),
        start_unix_nano: 1,
        end_unix_nano: 2,
        input_tokens: None,
        output_tokens: None,
        status: SpanStatus::Ok,
        gpu_samples: Vec::new(),
        attributes,
    };
    let attr = |key: &str, value| Attribute {
        key: key.into(),
        value,
    };
    let strs = |v: &[&str]| AttributeValue::StrArray(v.iter().map(|s| s.to_string()).collect());
    // String arrays in several spans and attributes: the host lowers them
    // from one list built in span order, so order mistakes would show.
    let spans = vec![
        span(
            "a",
            vec![
                attr("r", strs(&["stop"])),
                attr("i", AttributeValue::IntArray(vec![1, 2])),
                attr("s", strs(&[])),
            ],
        ),
        span("b", vec![attr("f", AttributeValue::FloatArray(vec![0.5]))]),
        span(
            "c",
            vec![
                attr("r", strs(&["length", "stop"])),
                attr("j", AttributeValue::Json("{\"k\":1}".into())),
            ],
        ),
    ];
    let c = set.evaluate(&Subject::Traces(spans));
    let Outcome::Verdict(v) = &c.plugins[0].outcome else {
        panic!("{:?}", c.plugins[0].outcome)
    };
    let shown = &v.findings[0].message;
    for expected in [
        r#"a: [Attribute { key: "r", value: AttributeValue::StrArray(["stop"]) }, Attribute { key: "i", value: AttributeValue::IntArray([1, 2]) }, Attribute { key: "s", value: AttributeValue::StrArray([]) }]"#,
        r#"b: [Attribute { key: "f", value: AttributeValue::FloatArray([0.5]) }]"#,
        r#"c: [Attribute { key: "r", value: AttributeValue::StrArray(["length", "stop"]) }, Attribute { key: "j", value: AttributeValue::Json("{\"k\":1}") }]"#,
    ] {
        assert!(shown.contains(expected), "{expected}\nnot in\n{shown}");
    }
}
