//! # privacy: data protection checks for AI workloads
//!
//! A gavel plugin (category `privacy`) that judges three kinds of subject:
//!
//! - **traces**: personal data (e-mail addresses, phone numbers, payment
//!   cards, IBANs, US SSNs, IP addresses) in the GenAI message attributes of
//!   inference spans (`traces`, recognisers in `pii`);
//! - **admission requests and manifests**: credentials written into
//!   containers in plain text (`plaintext`, formats in `credentials`),
//!   KServe payload loggers that send inference traffic out of the cluster
//!   (`logger`), and workloads labelled as processing personal data that do
//!   not pin their region or state their retention (`residency`).
//!
//! Findings and metrics carry entity types, counts, positions and JSON
//! pointers, never the data found: the audit trail must not become a second
//! copy of what it reports. Start with [`Privacy::evaluate`]; the settings are
//! in `settings`, and the README lists every finding code and metric.

mod credentials;
mod glob;
mod logger;
mod pii;
mod plaintext;
mod report;
mod residency;
mod settings;
mod traces;
mod workload;

use gavel_sdk::k8s::Object;
use gavel_sdk::prelude::*;

use crate::report::Report;
use crate::settings::Settings;

/// The JSON Schema of [`Settings`]; `tests.rs` checks that the two agree.
const SETTINGS_SCHEMA: &str = include_str!("settings.schema.json");

/// The plugin.
pub struct Privacy;

impl Plugin for Privacy {
    type Settings = Settings;

    fn metadata() -> PluginMetadata {
        plugin_metadata!()
            .category(Category::Privacy)
            .subjects([
                SubjectKind::Admission,
                SubjectKind::Manifest,
                SubjectKind::Traces,
            ])
            .settings_schema(SETTINGS_SCHEMA)
            .build()
    }

    fn validate(settings: &Settings) -> Result<(), String> {
        settings.validate()
    }

    /// Traces are scanned for personal data; objects (an admission request's
    /// object, a manifest) for credentials, loggers and residency. Admission
    /// requests without a resource to judge (DELETE, CONNECT, sub-resources)
    /// are allowed.
    fn evaluate(subject: Subject, settings: &Settings) -> Result<Verdict, Error> {
        if let Subject::Traces(spans) = &subject {
            return Ok(traces::evaluate(spans, settings));
        }
        let Some(object) = subject.parse_object()? else {
            return Ok(allow());
        };
        let object = match &subject {
            Subject::Admission(request) => with_envelope_kind(object, &request.kind),
            _ => object,
        };
        Ok(evaluate_object(&object, settings))
    }
}

/// Give an admitted object the kind and apiVersion of its request when it
/// lacks them. The API server always sends both, but hand-written reviews
/// (test fixtures, replays) often leave them out of `object`, and without a
/// kind no pod spec can be found.
fn with_envelope_kind(object: Object, kind: &GroupVersionKind) -> Object {
    if object.kind().is_some() || kind.kind.is_empty() {
        return object;
    }
    let mut value = object.into_value();
    if let Some(map) = value.as_object_mut() {
        let api_version = match kind.group.as_str() {
            "" => kind.version.clone(),
            group => format!("{group}/{}", kind.version),
        };
        map.insert("kind".to_owned(), kind.kind.clone().into());
        map.entry("apiVersion").or_insert(api_version.into());
    }
    Object::from_value(value)
}

/// Judge one Kubernetes object.
fn evaluate_object(object: &Object, settings: &Settings) -> Verdict {
    let mut report = Report::new(settings.max_findings);
    let containers = workload::containers(object);
    if settings.credentials.enabled && !containers.is_empty() {
        let counts = plaintext::check(&containers, &settings.credentials, &mut report);
        report.metric("literal_env_vars_total", counts.literal_env_vars as f64, []);
        report.metric("plaintext_credentials_total", counts.credentials as f64, []);
    }
    if settings.logger.enabled {
        logger::check(object, &settings.logger, &mut report);
    }
    if settings.personal_data.enabled {
        residency::check(object, &settings.personal_data, &mut report);
    }
    report.build()
}

export_plugin!(Privacy);

#[cfg(test)]
mod tests;
