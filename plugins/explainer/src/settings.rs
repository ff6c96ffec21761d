//! What an operator can tune, with defaults that need no tuning.
//!
//! Field names are camelCase, like every other key of a policy set. The JSON
//! Schema published in the plugin's metadata is [`SCHEMA`]; a test checks that
//! its defaults are the ones [`Settings::default`] returns.

use serde::Deserialize;

use crate::k8s_names;

/// JSON Schema of [`Settings`], published as the plugin's `settings-schema`.
pub const SCHEMA: &str = include_str!("settings.schema.json");

/// The plugin's settings. Every field is optional; see the README for why
/// each default is what it is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Label whose value is a workload's EU AI Act risk class.
    pub risk_label: String,
    /// Values of [`Settings::risk_label`] that make a workload high-risk,
    /// compared case-insensitively.
    pub high_risk_values: Vec<String>,
    /// Annotation naming the ExplainerConfiguration of a workload
    /// (`name` or `namespace/name`).
    pub explainer_annotation: String,
    /// Kinds other than the built-in ones (pod-running kinds and
    /// InferenceService) that count as workloads, for example `RayService`.
    pub extra_workload_kinds: Vec<String>,
    /// Explainer types an ExplainerConfiguration may use, compared
    /// case-insensitively and ignoring spaces, `-` and `_`.
    pub explainer_types: Vec<String>,
    /// Bounds of `spec.explainerConfig.numSamples`.
    pub num_samples: Bounds,
    /// Bounds of `spec.explainerConfig.backgroundDataSubsetSize`.
    pub background_data_subset_size: Bounds,
    /// Lowest acceptable explanation fidelity, in `[0, 1]`: the floor for an
    /// ExplainerConfiguration's `fidelityThreshold` and the level below which
    /// traces raise a drift alert.
    pub min_fidelity: f64,
    /// Label holding the model version when `spec.modelVersion` is absent.
    pub model_version_label: String,
    /// Annotation naming the MIG slice or time-sliced share of a fractional
    /// GPU, when `spec.resourceRequirements.gpuShare` is absent.
    pub gpu_share_annotation: String,
    /// Span attribute carrying an explanation's fidelity, a float in `[0, 1]`.
    pub fidelity_attribute: String,
}

/// An inclusive range of whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    /// Smallest value allowed.
    pub min: u64,
    /// Largest value allowed.
    pub max: u64,
}

impl Bounds {
    /// Whether `value` is within the bounds.
    pub fn contains(self, value: u64) -> bool {
        (self.min..=self.max).contains(&value)
    }
}

impl Default for Settings {
    fn default() -> Self {
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        Self {
            risk_label: "gavel.dev/eu-ai-act-risk".to_owned(),
            high_risk_values: strings(&["high"]),
            explainer_annotation: "gavel.dev/explainer".to_owned(),
            extra_workload_kinds: Vec::new(),
            explainer_types: strings(&[
                "SHAP",
                "LIME",
                "IntegratedGradients",
                "Anchors",
                "CounterfactualExplanations",
            ]),
            // Below ~100 perturbation samples KernelSHAP and LIME attributions
            // change from run to run; past 10 000 an explanation costs more
            // GPU time than most inferences it explains.
            num_samples: Bounds {
                min: 100,
                max: 10_000,
            },
            // The kernelshap reference implementation warns below 20
            // background rows; SHAP's KernelExplainer slows linearly with the
            // background size and suggests summarising large sets.
            background_data_subset_size: Bounds { min: 20, max: 1000 },
            min_fidelity: 0.8,
            model_version_label: "version".to_owned(),
            gpu_share_annotation: "gavel.dev/gpu-share".to_owned(),
            fidelity_attribute: "gen_ai.explanation.fidelity".to_owned(),
        }
    }
}

impl Settings {
    /// Check what parsing cannot: every problem, joined, each saying what to
    /// change.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        for (field, key) in [
            ("riskLabel", &self.risk_label),
            ("explainerAnnotation", &self.explainer_annotation),
            ("modelVersionLabel", &self.model_version_label),
            ("gpuShareAnnotation", &self.gpu_share_annotation),
        ] {
            if !k8s_names::is_qualified_name(key) {
                problems.push(format!(
                    "{field} `{key}` is not a Kubernetes label or annotation key: use an optional DNS prefix and `/`, then up to 63 letters, digits, `-`, `_` or `.`"
                ));
            }
        }
        if self.high_risk_values.is_empty() {
            problems.push(
                "highRiskValues is empty: list at least one label value, for example [\"high\"]"
                    .to_owned(),
            );
        }
        if self.explainer_types.iter().all(|t| t.trim().is_empty()) {
            problems.push(
                "explainerTypes is empty: list the explainer types you accept, for example [\"SHAP\", \"LIME\"]"
                    .to_owned(),
            );
        }
        if self
            .extra_workload_kinds
            .iter()
            .any(|k| k.trim().is_empty())
        {
            problems.push("extraWorkloadKinds has an empty kind: remove it".to_owned());
        }
        for (field, bounds) in [
            ("numSamples", self.num_samples),
            ("backgroundDataSubsetSize", self.background_data_subset_size),
        ] {
            if bounds.min == 0 || bounds.min > bounds.max {
                problems.push(format!(
                    "{field} is {}..={}: set 1 <= min <= max",
                    bounds.min, bounds.max
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.min_fidelity) {
            problems.push(format!(
                "minFidelity is {}: set a fidelity between 0 and 1, for example 0.8",
                self.min_fidelity
            ));
        }
        if self.fidelity_attribute.trim().is_empty() {
            problems.push(
                "fidelityAttribute is empty: name the span attribute, for example gen_ai.explanation.fidelity"
                    .to_owned(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Whether `value` of the risk label marks a workload high-risk.
    pub fn is_high_risk(&self, value: &str) -> bool {
        self.high_risk_values
            .iter()
            .any(|v| v.trim().eq_ignore_ascii_case(value.trim()))
    }

    /// The allowed explainer type `value` names, if any (see
    /// [`Settings::explainer_types`] for how names compare).
    pub fn explainer_type(&self, value: &str) -> Option<&str> {
        let wanted = normalize_type(value);
        self.explainer_types
            .iter()
            .find(|t| normalize_type(t) == wanted && !wanted.is_empty())
            .map(String::as_str)
    }
}

/// Lower case without separators, so `Integrated Gradients`,
/// `integrated-gradients` and `IntegratedGradients` compare equal.
fn normalize_type(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}
