//! Workloads labelled as processing personal data must say where they run and
//! how long they keep it.
//!
//! - **Residency** (GDPR Art. 44: transfers outside the EU/EEA need a legal
//!   basis under Chapter V). Every pod spec must be pinned to allowed regions:
//!   a `nodeSelector` on the region key with an allowed value, or a required
//!   node affinity whose every term (terms are alternatives) has an `In`
//!   expression on the region key with only allowed values. Preferred
//!   affinity, `NotIn` and `Exists` do not pin anything.
//! - **Retention** (GDPR Art. 5(1)(e), storage limitation). The workload must
//!   carry the retention label with a positive whole number of days, at most
//!   the configured maximum when there is one.
//!
//! A workload counts as labelled when the object or its pod template carries
//! the personal-data label with the configured value.

use gavel_sdk::k8s::Object;
use gavel_sdk::prelude::*;
use serde_json::Value;

use crate::report::Report;
use crate::settings::PersonalDataSettings;
use crate::workload::{PodSpec, escape, pod_specs};

/// Pods may be scheduled in any region.
pub const RESIDENCY_MISSING: &str = "privacy.residency-missing";
/// Pods may be scheduled in a region that is not allowed.
pub const RESIDENCY_OUTSIDE: &str = "privacy.residency-outside-allowed";
/// No retention label.
pub const RETENTION_MISSING: &str = "privacy.retention-missing";
/// A retention label that is not a positive whole number of days.
pub const RETENTION_INVALID: &str = "privacy.retention-invalid";
/// A retention longer than allowed.
pub const RETENTION_TOO_LONG: &str = "privacy.retention-too-long";

/// How a pod spec constrains its region.
#[derive(Debug, PartialEq)]
enum Residency {
    /// Only allowed regions.
    Pinned,
    /// Not at all (or not in every alternative).
    Unconstrained,
    /// To a region that is not allowed, named at `pointer`.
    Outside { pointer: String, region: String },
}

/// Check a labelled workload; add findings to `report`.
pub fn check(object: &Object, settings: &PersonalDataSettings, report: &mut Report) {
    let specs = pod_specs(object);
    if specs.is_empty() || !labelled(object, &specs, settings) {
        return;
    }
    let decision = Decision::from(settings.decision);
    let marker = format!("{}={}", settings.label, settings.label_value);
    for spec in &specs {
        let found = match residency(spec, settings) {
            Residency::Pinned => continue,
            Residency::Unconstrained => finding(
                RESIDENCY_MISSING,
                format!(
                    "the workload is labelled {marker} but its pods at {} may run in any region: add a nodeSelector or a required node affinity on {} with values from personalData.allowedRegions (GDPR Art. 44: transfers outside the EU/EEA need a legal basis)",
                    spec.pointer, settings.region_key
                ),
            )
            .path(spec.pointer),
            Residency::Outside { pointer, region } => finding(
                RESIDENCY_OUTSIDE,
                format!(
                    "the workload is labelled {marker} but its pods may run in region `{region}`, which is not in personalData.allowedRegions: constrain {} to allowed regions, or add the region once transfers to it have a legal basis (GDPR Art. 44-46)",
                    settings.region_key
                ),
            )
            .path(pointer),
        };
        report.add(decision, found.severity(Severity::High));
    }
    retention(object, &specs, settings, &marker, report);
}

/// Whether the object or a pod template carries the personal-data label.
fn labelled(object: &Object, specs: &[PodSpec<'_>], settings: &PersonalDataSettings) -> bool {
    let marks = |value: Option<&str>| {
        value.is_some_and(|v| v.trim().eq_ignore_ascii_case(&settings.label_value))
    };
    marks(object.label(&settings.label))
        || specs.iter().any(|s| {
            marks(
                s.template_labels
                    .and_then(|l| l.get(&settings.label))
                    .and_then(Value::as_str),
            )
        })
}

fn residency(spec: &PodSpec<'_>, settings: &PersonalDataSettings) -> Residency {
    let key = settings.region_key.as_str();
    let allowed = |region: &str| {
        settings
            .allowed_regions
            .iter()
            .any(|r| r.eq_ignore_ascii_case(region))
    };
    // nodeSelector and node affinity must both hold, so an allowed
    // nodeSelector pins the pods whatever the affinity says.
    if let Some(region) = spec
        .spec
        .get("nodeSelector")
        .and_then(|s| s.get(key))
        .and_then(Value::as_str)
    {
        if allowed(region) {
            return Residency::Pinned;
        }
        return Residency::Outside {
            pointer: format!("{}/nodeSelector/{}", spec.pointer, escape(key)),
            region: region.to_owned(),
        };
    }
    let terms_pointer =
        "/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms";
    let terms = spec
        .spec
        .pointer(terms_pointer)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if terms.is_empty() {
        return Residency::Unconstrained;
    }
    for (t, term) in terms.iter().enumerate() {
        let expressions = term
            .get("matchExpressions")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let pinning = expressions.iter().enumerate().find_map(|(e, expression)| {
            let is_region_in = expression.get("key").and_then(Value::as_str) == Some(key)
                && expression.get("operator").and_then(Value::as_str) == Some("In");
            let values: Vec<&str> = expression
                .get("values")?
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            (is_region_in && !values.is_empty()).then_some((e, values))
        });
        let Some((e, values)) = pinning else {
            // This alternative lets pods run in any region.
            return Residency::Unconstrained;
        };
        if let Some(region) = values.iter().find(|v| !allowed(v)) {
            return Residency::Outside {
                pointer: format!("{}{terms_pointer}/{t}/matchExpressions/{e}", spec.pointer),
                region: (*region).to_owned(),
            };
        }
    }
    Residency::Pinned
}

fn retention(
    object: &Object,
    specs: &[PodSpec<'_>],
    settings: &PersonalDataSettings,
    marker: &str,
    report: &mut Report,
) {
    let label = settings.retention_label.as_str();
    let value = object.label(label).or_else(|| {
        specs.iter().find_map(|s| {
            s.template_labels
                .and_then(|l| l.get(label))
                .and_then(Value::as_str)
        })
    });
    let decision = Decision::from(settings.decision);
    let found = match value.map(|v| v.trim().parse::<u64>()) {
        None => finding(
            RETENTION_MISSING,
            format!(
                "the workload is labelled {marker} but has no {label} label: state how many days it keeps personal data, as a positive whole number (GDPR Art. 5(1)(e): storage limitation)"
            ),
        ),
        Some(Ok(days)) if days > 0 => match settings.max_retention_days {
            Some(max) if days > max => finding(
                RETENTION_TOO_LONG,
                format!(
                    "the workload keeps personal data for {days} days ({label}), more than personalData.maxRetentionDays ({max}): shorten the retention (GDPR Art. 5(1)(e): storage limitation)"
                ),
            ),
            _ => return,
        },
        Some(_) => finding(
            RETENTION_INVALID,
            format!(
                "label {label} must be a positive whole number of days, such as 30: fix its value (GDPR Art. 5(1)(e): storage limitation)"
            ),
        ),
    };
    report.add(
        decision,
        found.severity(Severity::Medium).path("/metadata/labels"),
    );
}
