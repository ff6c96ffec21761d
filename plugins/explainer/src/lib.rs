//! # explainer: explanations for high-risk AI workloads
//!
//! A gavel governance plugin (category `explainer`) with three rules:
//!
//! 1. [`workload`]: a workload labelled high-risk under the EU AI Act must
//!    have an explainer, inline (a KServe InferenceService's `spec.explainer`)
//!    or named in an annotation (an `ExplainerConfiguration`).
//! 2. [`config`]: an `ExplainerConfiguration` (`ai.apexlogic.com/v1alpha1`)
//!    must be complete: model, accepted explainer type, bounded sampling,
//!    integration, versioned storage, resources (with [`resources`] and
//!    [`gpu`] for fractional GPUs), and fidelity monitoring.
//! 3. [`fidelity`]: in traces, a model whose mean explanation fidelity falls
//!    below the minimum raises a drift finding and an alert.
//!
//! Start with the README for what each finding means and how to fix it;
//! [`settings`] holds every knob and its default.

use gavel_sdk::prelude::*;

pub mod codes;
pub mod config;
pub mod fidelity;
pub mod gpu;
pub mod k8s_names;
pub mod pointer;
pub mod resources;
pub mod settings;
pub mod workload;

use settings::Settings;

/// The plugin.
pub struct Explainer;

impl Plugin for Explainer {
    type Settings = Settings;

    fn metadata() -> PluginMetadata {
        plugin_metadata!()
            .category(Category::Explainer)
            .subjects([
                SubjectKind::Admission,
                SubjectKind::Manifest,
                SubjectKind::Traces,
            ])
            .settings_schema(settings::SCHEMA)
            .build()
    }

    fn validate(settings: &Settings) -> Result<(), String> {
        settings.validate()
    }

    fn evaluate(subject: Subject, settings: &Settings) -> Result<Verdict, Error> {
        // The host validates settings when it loads a plugin, but an embedder
        // or a test runner may evaluate with settings that never went through
        // `validate-settings`; judging with, say, a fidelity floor of 1.5
        // would be wrong, and checking costs a few comparisons.
        settings.validate().map_err(Error::InvalidSettings)?;
        if let Subject::Traces(spans) = &subject {
            return Ok(fidelity::check(spans, settings));
        }
        // DELETE, CONNECT and sub-resources (`status`, `scale`) carry no
        // resource to judge.
        let Some(object) = subject.parse_object()? else {
            return Ok(allow());
        };
        let mut verdict = VerdictBuilder::new();
        if config::is_explainer_configuration(&object) {
            config::check(&object, settings, &mut verdict);
        } else {
            workload::check(&object, settings, &mut verdict);
        }
        Ok(verdict.build())
    }
}

export_plugin!(Explainer);

#[cfg(test)]
mod tests;
