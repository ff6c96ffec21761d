//! {{name}}: a gavel policy plugin.
//!
//! Denies Kubernetes objects that lack any of the labels listed in its
//! settings (`{"labels": ["team"]}` by default). Start here: change
//! `evaluate`, add a case to tests/suite.yaml, run `gavel test`.

use gavel_sdk::prelude::*;

/// The settings a policy set gives this plugin (JSON), checked when the
/// policy set loads: unknown keys and wrong types are refused there.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Labels every object must carry.
    labels: Option<Vec<String>>,
}

struct Policy;

impl Plugin for Policy {
    type Settings = Settings;

    fn metadata() -> PluginMetadata {
        plugin_metadata!().subjects(SubjectKind::OBJECTS).build()
    }

    fn validate(settings: &Settings) -> Result<(), String> {
        match &settings.labels {
            Some(labels) if labels.iter().any(|l| l.trim().is_empty()) => {
                Err("labels: every label must be a non-empty string".into())
            }
            _ => Ok(()),
        }
    }

    fn evaluate(subject: Subject, settings: &Settings) -> Result<Verdict, Error> {
        // `None` for requests without an object to judge (DELETE, CONNECT).
        let Some(object) = subject.parse_object()? else {
            return Ok(allow());
        };
        let required = settings.labels.clone().unwrap_or_else(|| vec!["team".into()]);
        let missing: Vec<String> = required
            .into_iter()
            .filter(|l| object.label(l).is_none())
            .collect();
        if missing.is_empty() {
            return Ok(allow());
        }
        gavel_sdk::log::debug(&format!("missing labels: {}", missing.join(", ")));
        let message = format!("add labels: {}", missing.join(", "));
        Ok(finding("labels.missing", message)
            .path("/metadata/labels")
            .deny())
    }
}

export_plugin!(Policy);
