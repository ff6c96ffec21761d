use gavel_sdk::testing::validate;
use serde_json::Value;

use crate::Explainer;
use crate::settings::{SCHEMA, Settings};

fn check(settings: &str, expect: Result<(), &str>) {
    match (validate::<Explainer>(settings), expect) {
        (Ok(()), Ok(())) => {}
        (Err(got), Err(want)) => assert!(
            got.contains(want),
            "settings {settings}: error {got:?} lacks {want:?}"
        ),
        (got, want) => panic!("settings {settings}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn validation() {
    for (settings, expect) in [
        ("", Ok(())),
        ("null", Ok(())),
        ("{}", Ok(())),
        (r#"{"highRiskValues": ["high", "unacceptable"]}"#, Ok(())),
        (
            r#"{"riskLabel": "risk", "modelVersionLabel": "app.kubernetes.io/version"}"#,
            Ok(()),
        ),
        (r#"{"numSamples": {"min": 1, "max": 1}}"#, Ok(())),
        (r#"{"minFidelity": 0}"#, Ok(())),
        (r#"{"minFidelity": 1}"#, Ok(())),
        (r#"{"extraWorkloadKinds": ["RayService"]}"#, Ok(())),
        (r#"{"riskLevel": "x"}"#, Err("unknown field `riskLevel`")),
        (
            r#"{"riskLabel": ""}"#,
            Err("riskLabel `` is not a Kubernetes label"),
        ),
        (
            r#"{"explainerAnnotation": "a b"}"#,
            Err("explainerAnnotation `a b`"),
        ),
        (
            r#"{"gpuShareAnnotation": "/x"}"#,
            Err("gpuShareAnnotation `/x`"),
        ),
        (
            r#"{"modelVersionLabel": "x/"}"#,
            Err("modelVersionLabel `x/`"),
        ),
        (r#"{"highRiskValues": []}"#, Err("highRiskValues is empty")),
        (r#"{"explainerTypes": []}"#, Err("explainerTypes is empty")),
        (
            r#"{"explainerTypes": [" "]}"#,
            Err("explainerTypes is empty"),
        ),
        (
            r#"{"extraWorkloadKinds": [""]}"#,
            Err("extraWorkloadKinds has an empty kind"),
        ),
        (
            r#"{"numSamples": {"min": 0, "max": 5}}"#,
            Err("numSamples is 0..=5: set 1 <= min <= max"),
        ),
        (
            r#"{"backgroundDataSubsetSize": {"min": 10, "max": 5}}"#,
            Err("backgroundDataSubsetSize is 10..=5"),
        ),
        (
            r#"{"numSamples": {"min": 10}}"#,
            Err("numSamples: missing field `max`"),
        ),
        (
            r#"{"numSamples": {"min": -1, "max": 5}}"#,
            Err("numSamples.min: invalid value"),
        ),
        (
            r#"{"minFidelity": 1.5}"#,
            Err("minFidelity is 1.5: set a fidelity between 0 and 1"),
        ),
        (r#"{"minFidelity": -0.1}"#, Err("minFidelity is -0.1")),
        (
            r#"{"fidelityAttribute": " "}"#,
            Err("fidelityAttribute is empty"),
        ),
        (
            r#"{"highRiskValues": "high"}"#,
            Err("highRiskValues: invalid type"),
        ),
        // Every problem at once, so one edit fixes them all.
        (
            r#"{"riskLabel": "", "minFidelity": 2}"#,
            Err(
                "is not a Kubernetes label or annotation key: use an optional DNS prefix and `/`, then up to 63 letters, digits, `-`, `_` or `.`; minFidelity is 2",
            ),
        ),
    ] {
        check(settings, expect);
    }
}

/// The schema in the metadata documents the defaults the code uses.
#[test]
fn schema_defaults_match_the_code() {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    let properties = schema["properties"].as_object().expect("properties");
    let defaults = serde_json::to_value(Settings::default()).expect("settings serialise");
    let defaults = defaults.as_object().expect("an object");
    // Sorted: the order of a `serde_json::Map` depends on its features.
    let mut documented: Vec<_> = properties.keys().collect();
    let mut actual: Vec<_> = defaults.keys().collect();
    documented.sort_unstable();
    actual.sort_unstable();
    assert_eq!(documented, actual, "the schema lists every setting");
    for (name, default) in defaults {
        assert_eq!(
            &properties[name]["default"], default,
            "default of `{name}` in settings.schema.json"
        );
    }
    assert_eq!(schema["additionalProperties"], false);
}

/// Settings that skipped `validate-settings` (an embedder, a test runner)
/// are still refused, not judged with.
#[test]
fn evaluate_refuses_unvalidated_settings() {
    use gavel_sdk::prelude::*;

    let settings = Settings {
        min_fidelity: 1.5,
        ..Settings::default()
    };
    let result = <Explainer as Plugin>::evaluate(gavel_sdk::testing::traces([]), &settings);
    assert!(
        matches!(&result, Err(Error::InvalidSettings(m)) if m.starts_with("minFidelity is 1.5")),
        "{result:?}"
    );
}
