//! # cost: price AI workloads, enforce budgets, find wasted GPU spend
//!
//! A gavel plugin for the FinOps side of AI governance. For Kubernetes
//! objects (admission requests and GitOps manifests) it prices what the
//! workload reserves the way OpenCost does (core-hours, GiB-hours of RAM,
//! GPU-hours by product and MIG profile, with OpenCost's default price
//! table), checks the monthly cost against namespace and team budgets,
//! requires cost-allocation labels, and rejects GPU requests Kubernetes would
//! reject. For batches of inference spans it measures GPU time and cost per
//! service and model, flags idle GPUs with a scale-down recommendation, and
//! flags GPU time per request that rises while traffic stays flat.
//!
//! Where to start: `Cost::evaluate` dispatches to `objects` and `traces`;
//! `quantity` parses Kubernetes quantities, `pod` combines container
//! requests, `workload` finds the pods an object runs, `pricing` holds the
//! unit prices. The README documents every setting, finding and metric.

use gavel_sdk::prelude::*;

mod objects;
mod pod;
mod pricing;
mod quantity;
mod settings;
mod traces;
mod workload;

use settings::Settings;

/// The JSON Schema of [`Settings`], shown by tools.
const SETTINGS_SCHEMA: &str = include_str!("settings.schema.json");

/// The plugin.
pub struct Cost;

impl Plugin for Cost {
    type Settings = Settings;

    fn metadata() -> PluginMetadata {
        plugin_metadata!()
            .category(Category::Cost)
            .subjects([
                SubjectKind::Admission,
                SubjectKind::Manifest,
                SubjectKind::Traces,
            ])
            .settings_schema(SETTINGS_SCHEMA)
            .build()
    }

    fn validate(settings: &Settings) -> Result<(), String> {
        settings::validate(settings)
    }

    fn evaluate(subject: Subject, settings: &Settings) -> Result<Verdict, Error> {
        if let Subject::Traces(spans) = &subject {
            return Ok(traces::evaluate(spans, settings));
        }
        let Some(object) = subject.parse_object()? else {
            return Ok(allow());
        };
        let context = match &subject {
            Subject::Admission(request) => objects::Context {
                namespace: request.namespace.as_deref(),
                group_kind: Some((&request.kind.group, &request.kind.kind)),
            },
            _ => objects::Context::default(),
        };
        objects::evaluate(&object, context, settings)
    }
}

export_plugin!(Cost);

#[cfg(test)]
mod tests;
