//! The plugin's settings: what they mean, their defaults, their checks and
//! their JSON Schema.

use serde::Deserialize;

use crate::scalar::Scalar;

/// Settings, camelCase in JSON. Every field has a default, so `{}` is valid;
/// a threshold set to `null` is not checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Settings {
    // ------------------------------------------------------------ traces
    /// Span attribute holding the sensitive group of the person a prediction is about.
    pub group_attribute: String,
    /// Span attribute holding the predicted outcome.
    pub prediction_attribute: String,
    /// Span attribute holding the ground-truth outcome; `""` reads no labels.
    pub label_attribute: String,
    /// The favourable outcome, compared with predictions (and labels, unless
    /// `label_positive_value` is set).
    pub positive_value: Scalar,
    /// The favourable ground-truth value, when labels use another vocabulary
    /// than predictions.
    pub label_positive_value: Option<Scalar>,
    /// Groups with fewer spans (or labelled spans) are reported, not judged.
    pub min_samples_per_group: u64,
    /// More distinct groups than this means the group attribute is not a
    /// sensitive feature (or leaks identifiers): nothing is judged.
    pub max_groups: usize,
    /// The privileged group that AIF360-style metrics compare every other group with.
    pub reference_group: Option<Scalar>,
    /// Fairlearn `demographic_parity_ratio` lower bound (four-fifths rule at 0.8).
    pub min_demographic_parity_ratio: Option<f64>,
    /// Fairlearn `demographic_parity_difference` upper bound.
    pub max_demographic_parity_difference: Option<f64>,
    /// Fairlearn `equalized_odds_ratio` lower bound.
    pub min_equalized_odds_ratio: Option<f64>,
    /// Fairlearn `equalized_odds_difference` upper bound.
    pub max_equalized_odds_difference: Option<f64>,
    /// Fairlearn `equal_opportunity_difference` upper bound.
    pub max_equal_opportunity_difference: Option<f64>,
    /// AIF360 `disparate_impact` lower bound, per group against the reference.
    pub min_disparate_impact: Option<f64>,
    /// AIF360 `disparate_impact` upper bound, per group against the reference.
    pub max_disparate_impact: Option<f64>,
    /// AIF360 `statistical_parity_difference` lower bound (it is signed).
    pub min_statistical_parity_difference: Option<f64>,
    /// AIF360 `statistical_parity_difference` upper bound.
    pub max_statistical_parity_difference: Option<f64>,
    /// What a violated threshold does to the decision.
    pub on_violation: Enforcement,
    /// What a violated threshold recommends.
    pub action: Remediation,
    /// The version to roll back to, for `action: rollback-to-version`.
    pub rollback_version: Option<String>,
    /// What to roll back; default `model/<the batch's most frequent model>`.
    pub rollback_target: Option<String>,

    // ------------------------------------------------------------ objects
    /// Label whose value `high_risk_value` marks a workload as high-risk; `""` disables it.
    pub high_risk_label: String,
    /// The value of `high_risk_label` that means high-risk.
    pub high_risk_value: String,
    /// Label naming an EU AI Act Annex III area; `""` disables it.
    #[serde(rename = "annexIIIAreaLabel")]
    pub annex_iii_area_label: String,
    /// Annotation a high-risk workload must carry, pointing at its fairness evaluation.
    pub fairness_evaluation_annotation: String,
    /// What a high-risk workload without an evaluation does to the decision.
    pub on_missing_evaluation: Enforcement,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            group_attribute: "gen_ai.fairness.group".to_owned(),
            prediction_attribute: "gen_ai.fairness.prediction".to_owned(),
            label_attribute: "gen_ai.fairness.label".to_owned(),
            positive_value: Scalar::Int(1),
            label_positive_value: None,
            min_samples_per_group: 30,
            max_groups: 50,
            reference_group: None,
            // The EEOC four-fifths rule (29 CFR 1607.4(D)): the one threshold
            // with a regulatory pedigree, so the only ones on by default.
            min_demographic_parity_ratio: Some(0.8),
            max_demographic_parity_difference: None,
            min_equalized_odds_ratio: None,
            max_equalized_odds_difference: None,
            max_equal_opportunity_difference: None,
            min_disparate_impact: Some(0.8),
            max_disparate_impact: None,
            min_statistical_parity_difference: None,
            max_statistical_parity_difference: None,
            on_violation: Enforcement::Warn,
            action: Remediation::Alert,
            rollback_version: None,
            rollback_target: None,
            high_risk_label: "gavel.dev/eu-ai-act-risk".to_owned(),
            high_risk_value: "high".to_owned(),
            annex_iii_area_label: "gavel.dev/annex-iii-area".to_owned(),
            fairness_evaluation_annotation: "gavel.dev/fairness-evaluation".to_owned(),
            on_missing_evaluation: Enforcement::Deny,
        }
    }
}

/// What a failed check does to the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Enforcement {
    /// Admit, but tell.
    Warn,
    /// Refuse.
    Deny,
}

/// The action a fairness violation recommends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Remediation {
    /// Raise an alert.
    Alert,
    /// Roll the model back to `rollbackVersion`.
    RollbackToVersion,
}

/// Most groups a verdict may report on: each adds about seven labelled
/// metrics, and the host caps a verdict's text (`maxOutputBytes`, 256 KiB by default).
const MAX_GROUPS: usize = 200;

/// Longest label or annotation key Kubernetes accepts: a 253-byte DNS prefix,
/// `/`, and a 63-byte name.
const MAX_KEY_BYTES: usize = 253 + 1 + 63;

impl Settings {
    /// The checks serde cannot express. Each message names the setting and
    /// says how to fix it.
    pub(crate) fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("groupAttribute", &self.group_attribute),
            ("predictionAttribute", &self.prediction_attribute),
        ] {
            if value.trim().is_empty() {
                return Err(format!(
                    "{name} is empty: name the span attribute that carries it"
                ));
            }
        }
        let attributes = [
            ("groupAttribute", &self.group_attribute),
            ("predictionAttribute", &self.prediction_attribute),
            ("labelAttribute", &self.label_attribute),
        ];
        for (i, (a, x)) in attributes.iter().enumerate() {
            for (b, y) in &attributes[i + 1..] {
                if x == y {
                    return Err(format!(
                        "{a} and {b} are both `{x}`: each must name a different span attribute"
                    ));
                }
            }
        }
        if self.min_samples_per_group == 0 {
            return Err(
                "minSamplesPerGroup must be at least 1 (30 is a common floor for a stable rate)"
                    .to_owned(),
            );
        }
        if !(2..=MAX_GROUPS).contains(&self.max_groups) {
            return Err(format!(
                "maxGroups is {}: it must be between 2 (fairness compares groups) and {MAX_GROUPS} (each group adds metrics to the verdict)",
                self.max_groups
            ));
        }
        if let Some(group) = &self.reference_group
            && group.group_name().is_empty()
        {
            return Err(
                "referenceGroup is empty: give the privileged group's value, or remove it"
                    .to_owned(),
            );
        }
        for (name, value) in [
            (
                "minDemographicParityRatio",
                self.min_demographic_parity_ratio,
            ),
            (
                "maxDemographicParityDifference",
                self.max_demographic_parity_difference,
            ),
            ("minEqualizedOddsRatio", self.min_equalized_odds_ratio),
            (
                "maxEqualizedOddsDifference",
                self.max_equalized_odds_difference,
            ),
            (
                "maxEqualOpportunityDifference",
                self.max_equal_opportunity_difference,
            ),
        ] {
            check_range(name, value, 0.0, 1.0)?;
        }
        for (name, value) in [
            ("minDisparateImpact", self.min_disparate_impact),
            ("maxDisparateImpact", self.max_disparate_impact),
        ] {
            check_range(name, value, 0.0, f64::MAX)?;
        }
        for (name, value) in [
            (
                "minStatisticalParityDifference",
                self.min_statistical_parity_difference,
            ),
            (
                "maxStatisticalParityDifference",
                self.max_statistical_parity_difference,
            ),
        ] {
            check_range(name, value, -1.0, 1.0)?;
        }
        check_order(
            ("minDisparateImpact", self.min_disparate_impact),
            ("maxDisparateImpact", self.max_disparate_impact),
        )?;
        check_order(
            (
                "minStatisticalParityDifference",
                self.min_statistical_parity_difference,
            ),
            (
                "maxStatisticalParityDifference",
                self.max_statistical_parity_difference,
            ),
        )?;
        if self.label_attribute.is_empty() {
            for (name, value) in [
                ("minEqualizedOddsRatio", self.min_equalized_odds_ratio),
                (
                    "maxEqualizedOddsDifference",
                    self.max_equalized_odds_difference,
                ),
                (
                    "maxEqualOpportunityDifference",
                    self.max_equal_opportunity_difference,
                ),
            ] {
                if value.is_some() {
                    return Err(format!(
                        "{name} needs ground-truth labels but labelAttribute is empty: name the label attribute, or set {name} to null"
                    ));
                }
            }
        }
        let version = self.rollback_version.as_deref().map(str::trim);
        match (self.action, version) {
            (Remediation::RollbackToVersion, None | Some("")) => {
                return Err(
                    "action is rollback-to-version but rollbackVersion is not set: name the version to roll back to"
                        .to_owned(),
                );
            }
            (Remediation::Alert, Some(_)) => {
                return Err(
                    "rollbackVersion is set but action is alert: set action to rollback-to-version, or remove rollbackVersion"
                        .to_owned(),
                );
            }
            _ => {}
        }
        if self
            .rollback_target
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(
                "rollbackTarget is empty: name the workload or model to roll back, or remove it"
                    .to_owned(),
            );
        }
        for (name, key) in [
            ("highRiskLabel", &self.high_risk_label),
            ("annexIIIAreaLabel", &self.annex_iii_area_label),
            (
                "fairnessEvaluationAnnotation",
                &self.fairness_evaluation_annotation,
            ),
        ] {
            if key.len() > MAX_KEY_BYTES || key.chars().any(char::is_whitespace) {
                return Err(format!(
                    "{name} `{key}` is not a Kubernetes label or annotation key: use `prefix/name` without spaces, at most {MAX_KEY_BYTES} bytes"
                ));
            }
        }
        if self.fairness_evaluation_annotation.is_empty() {
            return Err(
                "fairnessEvaluationAnnotation is empty: name the annotation that points at the fairness evaluation"
                    .to_owned(),
            );
        }
        if !self.high_risk_label.is_empty() && self.high_risk_value.is_empty() {
            return Err(
                "highRiskValue is empty: give the value of highRiskLabel that marks a workload as high-risk (for example `high`)"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

fn check_range(name: &str, value: Option<f64>, min: f64, max: f64) -> Result<(), String> {
    match value {
        Some(v) if !(min..=max).contains(&v) => {
            let range = if max == f64::MAX {
                format!("at least {min}")
            } else {
                format!("between {min} and {max}")
            };
            Err(format!(
                "{name} is {v}: it must be {range}, or null to turn the check off"
            ))
        }
        _ => Ok(()),
    }
}

fn check_order(min: (&str, Option<f64>), max: (&str, Option<f64>)) -> Result<(), String> {
    match (min.1, max.1) {
        (Some(lo), Some(hi)) if lo > hi => Err(format!(
            "{} ({lo}) is greater than {} ({hi}): no value could pass, swap them",
            min.0, max.0
        )),
        _ => Ok(()),
    }
}

/// The JSON Schema (draft 2020-12) of [`Settings`], shown by tools. Kept by
/// hand next to the struct; a test checks the two agree on names and defaults.
pub(crate) const SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "bias plugin settings",
  "type": "object",
  "additionalProperties": false,
  "$defs": {
    "scalar": {"type": ["string", "integer", "boolean"]},
    "ratio": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "enforcement": {"enum": ["warn", "deny"]}
  },
  "properties": {
    "groupAttribute": {"type": "string", "minLength": 1, "default": "gen_ai.fairness.group",
      "description": "Span attribute holding the sensitive group (string, integer or boolean)"},
    "predictionAttribute": {"type": "string", "minLength": 1, "default": "gen_ai.fairness.prediction",
      "description": "Span attribute holding the predicted outcome (string, integer or boolean)"},
    "labelAttribute": {"type": "string", "default": "gen_ai.fairness.label",
      "description": "Span attribute holding the ground-truth outcome; empty reads no labels"},
    "positiveValue": {"$ref": "#/$defs/scalar", "default": 1,
      "description": "The favourable outcome; values compare as text, booleans as 1 and 0"},
    "labelPositiveValue": {"anyOf": [{"$ref": "#/$defs/scalar"}, {"type": "null"}], "default": null,
      "description": "The favourable ground-truth value; null means positiveValue"},
    "minSamplesPerGroup": {"type": "integer", "minimum": 1, "default": 30,
      "description": "Groups with fewer spans (or labelled spans) are reported but not judged"},
    "maxGroups": {"type": "integer", "minimum": 2, "maximum": 200, "default": 50,
      "description": "More distinct groups than this and nothing is judged"},
    "referenceGroup": {"anyOf": [{"$ref": "#/$defs/scalar"}, {"type": "null"}], "default": null,
      "description": "The privileged group for AIF360 disparate impact and statistical parity difference"},
    "minDemographicParityRatio": {"$ref": "#/$defs/ratio", "default": 0.8,
      "description": "Fairlearn demographic_parity_ratio lower bound (four-fifths rule)"},
    "maxDemographicParityDifference": {"$ref": "#/$defs/ratio", "default": null,
      "description": "Fairlearn demographic_parity_difference upper bound"},
    "minEqualizedOddsRatio": {"$ref": "#/$defs/ratio", "default": null,
      "description": "Fairlearn equalized_odds_ratio lower bound"},
    "maxEqualizedOddsDifference": {"$ref": "#/$defs/ratio", "default": null,
      "description": "Fairlearn equalized_odds_difference upper bound"},
    "maxEqualOpportunityDifference": {"$ref": "#/$defs/ratio", "default": null,
      "description": "Fairlearn equal_opportunity_difference upper bound"},
    "minDisparateImpact": {"type": ["number", "null"], "minimum": 0, "default": 0.8,
      "description": "AIF360 disparate_impact lower bound, per group against referenceGroup"},
    "maxDisparateImpact": {"type": ["number", "null"], "minimum": 0, "default": null,
      "description": "AIF360 disparate_impact upper bound, per group against referenceGroup"},
    "minStatisticalParityDifference": {"type": ["number", "null"], "minimum": -1, "maximum": 1, "default": null,
      "description": "AIF360 statistical_parity_difference lower bound, per group against referenceGroup"},
    "maxStatisticalParityDifference": {"type": ["number", "null"], "minimum": -1, "maximum": 1, "default": null,
      "description": "AIF360 statistical_parity_difference upper bound, per group against referenceGroup"},
    "onViolation": {"$ref": "#/$defs/enforcement", "default": "warn",
      "description": "Decision when a fairness threshold is violated"},
    "action": {"enum": ["alert", "rollback-to-version"], "default": "alert",
      "description": "Action recommended when a fairness threshold is violated"},
    "rollbackVersion": {"type": ["string", "null"], "default": null,
      "description": "Version to roll back to; required by action rollback-to-version"},
    "rollbackTarget": {"type": ["string", "null"], "default": null,
      "description": "What to roll back; null means model/<most frequent model in the batch>"},
    "highRiskLabel": {"type": "string", "default": "gavel.dev/eu-ai-act-risk",
      "description": "Label marking a workload as EU AI Act high-risk; empty disables it"},
    "highRiskValue": {"type": "string", "default": "high",
      "description": "Value of highRiskLabel meaning high-risk"},
    "annexIIIAreaLabel": {"type": "string", "default": "gavel.dev/annex-iii-area",
      "description": "Label naming an EU AI Act Annex III area; empty disables it"},
    "fairnessEvaluationAnnotation": {"type": "string", "minLength": 1, "default": "gavel.dev/fairness-evaluation",
      "description": "Annotation a high-risk workload must carry: the URL or id of its fairness evaluation"},
    "onMissingEvaluation": {"$ref": "#/$defs/enforcement", "default": "deny",
      "description": "Decision for a high-risk workload without a fairness evaluation"}
  }
}"##;
