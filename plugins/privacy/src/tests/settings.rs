//! Settings validation, metadata, and the settings schema.

use gavel_sdk::prelude::*;
use gavel_sdk::testing::{metadata, validate};
use serde_json::Value;

use crate::Privacy;
use crate::settings::Settings;

#[test]
fn valid_settings() {
    for settings in [
        "",
        "null",
        "{}",
        r#"{"maxFindings": 255}"#,
        r#"{"traces": {"decision": "deny", "entities": ["email", "iban"], "attributes": ["llm.*"], "maxPositions": 0}}"#,
        r#"{"traces": {"enabled": false, "entities": []}}"#,
        r#"{"credentials": {"entropyThreshold": 4.5, "minLength": 24, "secretNames": ["*_KEY"], "scanArgs": false}}"#,
        r#"{"logger": {"allowedHosts": ["collector.example.com"]}}"#,
        r#"{"personalData": {"allowedRegions": ["eu-west-2"], "maxRetentionDays": 90}}"#,
        r#"{"personalData": {"enabled": false, "allowedRegions": []}}"#,
    ] {
        assert_eq!(validate::<Privacy>(settings), Ok(()), "{settings}");
    }
}

#[test]
fn invalid_settings_say_what_to_fix() {
    for (settings, want) in [
        (
            r#"{"maxFindigs": 3}"#,
            "invalid settings: maxFindigs: unknown field `maxFindigs`",
        ),
        (
            r#"{"traces": {"decision": "block"}}"#,
            "invalid settings: traces.decision: unknown variant `block`, expected `warn` or `deny`",
        ),
        (
            r#"{"traces": {"entities": ["passport"]}}"#,
            "invalid settings: traces.entities[0]: unknown variant `passport`",
        ),
        (
            r#"{"maxFindings": 0}"#,
            "maxFindings must be between 1 and 255, got 0",
        ),
        (
            r#"{"maxFindings": 300}"#,
            "maxFindings must be between 1 and 255, got 300",
        ),
        (
            r#"{"traces": {"entities": []}}"#,
            "traces.entities is empty: list at least one entity type, or set traces.enabled to false",
        ),
        (
            r#"{"traces": {"attributes": [" "]}}"#,
            "traces.attributes[0] is empty: remove it or give a value",
        ),
        (
            r#"{"traces": {"maxPositions": 51}}"#,
            "traces.maxPositions must be at most 50, got 51",
        ),
        (
            r#"{"credentials": {"entropyThreshold": 0}}"#,
            "credentials.entropyThreshold must be above 0 and at most 8 bits per character, got 0",
        ),
        (
            r#"{"credentials": {"entropyThreshold": 9.5}}"#,
            "credentials.entropyThreshold must be above 0 and at most 8 bits per character, got 9.5",
        ),
        (
            r#"{"credentials": {"minLength": 0}}"#,
            "credentials.minLength must be at least 1",
        ),
        (
            r#"{"credentials": {"secretNames": [""]}}"#,
            "credentials.secretNames[0] is empty",
        ),
        (
            r#"{"logger": {"allowedHosts": ["*.svc", ""]}}"#,
            "logger.allowedHosts[1] is empty",
        ),
        (
            r#"{"personalData": {"allowedRegions": []}}"#,
            "personalData.allowedRegions is empty: list the regions",
        ),
        (
            r#"{"personalData": {"label": ""}}"#,
            "personalData.label is empty",
        ),
        (
            r#"{"personalData": {"maxRetentionDays": 0}}"#,
            "personalData.maxRetentionDays must be at least 1",
        ),
        (
            r#"{"personalData": {"maxRetentionDays": -1}}"#,
            "invalid settings: personalData.maxRetentionDays: invalid value",
        ),
    ] {
        let got = validate::<Privacy>(settings).expect_err(settings);
        assert!(
            got.starts_with(want),
            "{settings}: got {got:?}, want it to start with {want:?}"
        );
    }
}

#[test]
fn metadata_describes_the_plugin() {
    let m = metadata::<Privacy>();
    assert_eq!(m.name, "privacy");
    assert_eq!(m.category, Category::Privacy);
    assert_eq!(
        m.subjects,
        [
            SubjectKind::Admission,
            SubjectKind::Manifest,
            SubjectKind::Traces
        ]
    );
    assert!(!m.description.is_empty());
    let schema: Value =
        serde_json::from_str(&m.settings_schema).expect("the settings schema is JSON");
    assert_eq!(schema["type"], "object");
}

/// The schema lists exactly the fields `Settings` has, each group closed, with
/// the same defaults: the two are written by hand and must not drift apart.
#[test]
fn schema_matches_settings() {
    let schema: Value = serde_json::from_str(crate::SETTINGS_SCHEMA).unwrap();
    let defaults = serde_json::to_value(Settings::default()).unwrap();
    compare(&schema, &defaults, "");
}

fn compare(schema: &Value, defaults: &Value, path: &str) {
    assert_eq!(
        schema["additionalProperties"],
        Value::Bool(false),
        "{path}: additionalProperties"
    );
    let properties = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{path}: no properties"));
    let fields = defaults.as_object().unwrap();
    let mut in_schema: Vec<&String> = properties.keys().collect();
    let mut in_settings: Vec<&String> = fields.keys().collect();
    in_schema.sort();
    in_settings.sort();
    assert_eq!(in_schema, in_settings, "{path}: fields");
    for (name, property) in properties {
        let path = format!("{path}/{name}");
        assert!(property["description"].is_string(), "{path}: description");
        if property.get("properties").is_some() {
            compare(property, &fields[name], &path);
        } else {
            assert_eq!(property["default"], fields[name], "{path}: default");
        }
    }
}
