//! AIF360's comparison of every judged group with the reference
//! (privileged) group: statistical parity difference and disparate impact,
//! with their thresholds.

use gavel_sdk::prelude::*;

use super::text::num;
use super::{Audit, Groups};
use crate::collect::Batch;
use crate::fairness;

impl Audit<'_> {
    /// AIF360's statistical parity difference and disparate impact of every
    /// judged group against the reference (privileged) group.
    pub(super) fn reference(&mut self, batch: &Batch, judged: &Groups<'_>) {
        let s = self.settings;
        let Some(reference) = &s.reference_group else {
            return;
        };
        let reference = reference.group_name();
        let reference = reference.as_ref();
        let Some(privileged) = judged
            .iter()
            .find(|(name, _)| *name == reference)
            .and_then(|(_, c)| fairness::selection_rate(c))
        else {
            let seen = batch.groups.get(reference).map_or(0, |c| c.spans);
            let message = format!(
                "reference group `{reference}` has {seen} spans in this batch, fewer than minSamplesPerGroup {}: disparate impact and statistical parity difference were not computed; check referenceGroup against the values of `{}`, or widen the batch window",
                s.min_samples_per_group, s.group_attribute
            );
            self.verdict
                .finding(finding("bias.reference-group-missing", message).severity(Severity::Low));
            return;
        };
        let mut low_di = Vec::new();
        let mut high_di = Vec::new();
        let mut low_spd = Vec::new();
        let mut high_spd = Vec::new();
        for (name, counts) in judged.iter().filter(|(name, _)| *name != reference) {
            let rate = fairness::selection_rate(counts).expect("judged groups have spans");
            let c = fairness::compare(rate, privileged);
            let labels = [("group", *name), ("reference", reference)];
            self.verdict.metric_with_labels(
                "statistical_parity_difference",
                c.statistical_parity_difference,
                labels,
            );
            if c.disparate_impact.is_finite() {
                self.verdict.metric_with_labels(
                    "disparate_impact_ratio",
                    c.disparate_impact,
                    labels,
                );
            }
            let di = format!("group `{name}` ({})", num(c.disparate_impact));
            let spd = format!("group `{name}` ({})", num(c.statistical_parity_difference));
            // NaN (neither group is ever selected) is inside every range, as
            // it compares false both ways.
            if s.min_disparate_impact
                .is_some_and(|t| c.disparate_impact < t)
            {
                low_di.push(di.clone());
            }
            if s.max_disparate_impact
                .is_some_and(|t| c.disparate_impact > t)
            {
                high_di.push(di);
            }
            if s.min_statistical_parity_difference
                .is_some_and(|t| c.statistical_parity_difference < t)
            {
                low_spd.push(spd.clone());
            }
            if s.max_statistical_parity_difference
                .is_some_and(|t| c.statistical_parity_difference > t)
            {
                high_spd.push(spd);
            }
        }
        let context = format!(
            "against reference group `{reference}` (selection rate {})",
            num(privileged)
        );
        for (code, groups, what, bound, limit, fix) in [
            (
                "bias.disparate-impact-low",
                low_di,
                "disparate impact",
                "below minDisparateImpact",
                s.min_disparate_impact,
                "these groups are selected less than the reference: investigate the model for bias against them and retrain, reweigh or recalibrate it, or roll back to a version that passed its fairness evaluation",
            ),
            (
                "bias.disparate-impact-high",
                high_di,
                "disparate impact",
                "above maxDisparateImpact",
                s.max_disparate_impact,
                "these groups are selected more than the reference: check the model for bias against the reference group, or raise maxDisparateImpact",
            ),
            (
                "bias.statistical-parity-difference-low",
                low_spd,
                "statistical parity difference",
                "below minStatisticalParityDifference",
                s.min_statistical_parity_difference,
                "these groups are selected less than the reference: investigate the model for bias against them and retrain, reweigh or recalibrate it, or roll back to a version that passed its fairness evaluation",
            ),
            (
                "bias.statistical-parity-difference-high",
                high_spd,
                "statistical parity difference",
                "above maxStatisticalParityDifference",
                s.max_statistical_parity_difference,
                "these groups are selected more than the reference: check the model for bias against the reference group, or raise maxStatisticalParityDifference",
            ),
        ] {
            if let (false, Some(limit)) = (groups.is_empty(), limit) {
                self.violate(
                    code,
                    format!(
                        "{what} {context} is {bound} {}: {}; {fix}",
                        num(limit),
                        groups.join(", ")
                    ),
                );
            }
        }
    }
}
