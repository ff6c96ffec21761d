//! # bias: group fairness of inference traffic, and fairness evaluations for
//! high-risk workloads
//!
//! A gavel governance plugin with two jobs:
//!
//! - **Traces** (`traces.rs`): on a batch of inference spans whose attributes
//!   carry a sensitive group, a predicted outcome and optionally the true
//!   outcome, it measures per-group selection, true positive and false
//!   positive rates, the between-group metrics of Fairlearn (demographic
//!   parity, equalized odds, equal opportunity) and the reference-group
//!   metrics of AIF360 (statistical parity difference, disparate impact),
//!   judges them against thresholds, and recommends an alert or a rollback
//!   when fairness drifts.
//! - **Objects** (`workload.rs`): a workload labelled as EU AI Act high-risk
//!   must carry an annotation that points at its fairness evaluation.
//!
//! Start with the README for what is checked and why; the numbers follow
//! `fairness.rs`, which says how each matches its reference library.

use gavel_sdk::prelude::*;

mod collect;
mod fairness;
mod scalar;
mod settings;
mod traces;
mod workload;

use settings::Settings;

/// The plugin.
struct Bias;

impl Plugin for Bias {
    type Settings = Settings;

    fn metadata() -> PluginMetadata {
        plugin_metadata!()
            .category(Category::Bias)
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
        // The host validates settings when it loads the plugin; checking again
        // costs microseconds and keeps a bad setting (from a test runner or
        // an embedder that skips validation) from becoming a wrong verdict.
        settings.validate().map_err(Error::InvalidSettings)?;
        match &subject {
            Subject::Traces(spans) => Ok(traces::evaluate(spans, settings)),
            Subject::Admission(_) | Subject::Manifest(_) => workload::evaluate(&subject, settings),
        }
    }
}

export_plugin!(Bias);

#[cfg(test)]
mod tests;
