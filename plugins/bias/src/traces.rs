//! Judging a batch of inference spans: per-group rates, the between-group
//! metrics, the comparison with a reference group, thresholds, and the
//! action a fairness drift recommends.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gavel_sdk::prelude::*;

use crate::collect::{self, Batch, Counts};
use crate::fairness::{self, Disparity};
use crate::settings::{Enforcement, Remediation, Settings};

mod reference;
mod text;

use text::{Spread, list_groups, num, remedy};

/// Judge `spans`. A batch in which no span carries the group attribute is
/// allowed without metrics: it is not fairness traffic.
pub(crate) fn evaluate(spans: &[InferenceSpan], settings: &Settings) -> Verdict {
    let batch = collect::collect(spans, settings);
    if batch.is_empty() {
        return allow();
    }
    let mut audit = Audit {
        settings,
        verdict: VerdictBuilder::new(),
        violations: Vec::new(),
    };
    audit.run(&batch);
    audit.finish(&batch)
}

/// A threshold that was crossed.
struct Violation {
    code: &'static str,
    message: String,
}

/// One batch being judged: metrics and data findings go straight into the
/// verdict; crossed thresholds are collected first, because together they
/// decide the decision and the one action they recommend.
struct Audit<'a> {
    settings: &'a Settings,
    verdict: VerdictBuilder,
    violations: Vec<Violation>,
}

/// Groups by name with their counts.
type Groups<'b> = Vec<(&'b str, &'b Counts)>;

impl Audit<'_> {
    fn run(&mut self, batch: &Batch) {
        let s = self.settings;
        let evaluated: u64 = batch.groups.values().map(|c| c.spans).sum();
        self.verdict
            .metric("spans_evaluated_count", evaluated as f64)
            .metric("spans_skipped_count", batch.skipped as f64)
            .metric("group_count", batch.groups.len() as f64);
        self.skipped(batch);
        self.never_favourable(batch);
        if batch.groups.len() > s.max_groups {
            let message = format!(
                "{} distinct values of `{}` in this batch, more than maxGroups {}: nothing was judged; point groupAttribute at a sensitive feature with few categories (a value per person would be an identifier), or raise maxGroups",
                batch.groups.len(),
                s.group_attribute,
                s.max_groups
            );
            self.verdict
                .warn(finding("bias.too-many-groups", message).severity(Severity::Medium));
            return;
        }
        for (name, counts) in &batch.groups {
            let group = [("group", name.as_str())];
            self.verdict
                .metric_with_labels("group_sample_count", counts.spans as f64, group);
            if !s.label_attribute.is_empty() {
                self.verdict.metric_with_labels(
                    "group_labelled_sample_count",
                    counts.labelled as f64,
                    group,
                );
            }
        }
        let min = s.min_samples_per_group;
        let (judged, small): (Groups<'_>, Groups<'_>) = batch
            .groups
            .iter()
            .map(|(name, counts)| (name.as_str(), counts))
            .partition(|(_, c)| c.spans >= min);
        if !small.is_empty() {
            let list = list_groups(&small, |c| c.spans, "spans");
            self.verdict.finding(
                finding(
                    "bias.group-too-small",
                    format!(
                        "{list} fewer than minSamplesPerGroup {min} spans, too few to judge: widen the batch window, or lower minSamplesPerGroup"
                    ),
                )
                .severity(Severity::Info),
            );
        }
        self.selection(&judged);
        self.error_rates(&judged);
        self.reference(batch, &judged);
    }

    /// Spans that carried the group attribute but could not be used.
    fn skipped(&mut self, batch: &Batch) {
        let s = self.settings;
        let mut problems = Vec::new();
        if batch.skipped > 0 {
            problems.push(format!(
                "{} spans carry `{}` without a usable group (a string, integer or boolean of 1 to {} bytes) or `{}` (a string, integer or boolean) and were skipped",
                batch.skipped,
                s.group_attribute,
                crate::scalar::MAX_GROUP_NAME_BYTES,
                s.prediction_attribute
            ));
        }
        if batch.invalid_labels > 0 {
            problems.push(format!(
                "{} spans have a `{}` that is not a string, integer or boolean and count as unlabelled",
                batch.invalid_labels, s.label_attribute
            ));
        }
        if !problems.is_empty() {
            let message = format!(
                "{}: fix the instrumentation that records them",
                problems.join("; ")
            );
            self.verdict
                .finding(finding("bias.spans-skipped", message).severity(Severity::Info));
        }
    }

    /// A batch in which no prediction (or no label) is favourable is most
    /// likely a vocabulary mismatch (`approved` against `1`): every rate is 0
    /// and Fairlearn would agree, so nothing else would say so.
    fn never_favourable(&mut self, batch: &Batch) {
        let s = self.settings;
        let all = fairness::total(batch.groups.values());
        let mut problems = Vec::new();
        if all.spans > 0 && all.selected == 0 {
            problems.push(format!(
                "no `{}` equals positiveValue `{}`, so every selection rate is 0; if the model records its favourable outcome differently, set positiveValue to that value",
                s.prediction_attribute,
                s.positive_value.outcome_key()
            ));
        }
        if all.labelled > 0 && all.positives == 0 {
            let expected = s.label_positive_value.as_ref().unwrap_or(&s.positive_value);
            problems.push(format!(
                "no `{}` equals {} `{}`, so every true positive rate is 0; if labels record the favourable outcome differently (for example `1` for repaid), set labelPositiveValue",
                s.label_attribute,
                if s.label_positive_value.is_some() { "labelPositiveValue" } else { "positiveValue" },
                expected.outcome_key()
            ));
        }
        if !problems.is_empty() {
            self.verdict.finding(
                finding("bias.no-favourable-outcomes", problems.join("; "))
                    .severity(Severity::Info),
            );
        }
    }

    /// Selection rates and demographic parity (Fairlearn).
    fn selection(&mut self, judged: &Groups<'_>) {
        let s = self.settings;
        if judged.is_empty() {
            return;
        }
        let overall = fairness::total(judged.iter().map(|(_, c)| *c));
        let mut rates = Vec::with_capacity(judged.len());
        for (name, counts) in judged {
            let rate = fairness::selection_rate(counts).expect("judged groups have spans");
            self.verdict
                .metric_with_labels("selection_rate", rate, [("group", *name)]);
            rates.push((*name, rate));
        }
        if let Some(rate) = fairness::selection_rate(&overall) {
            self.verdict.metric("selection_rate", rate);
        }
        if judged.len() < 2 {
            let message = format!(
                "only {} group has at least minSamplesPerGroup {} spans: between-group metrics need two; widen the batch window, or lower minSamplesPerGroup",
                judged.len(),
                s.min_samples_per_group
            );
            self.verdict
                .finding(finding("bias.not-enough-groups", message).severity(Severity::Info));
            return;
        }
        let dp = fairness::between_groups(rates.iter().map(|(_, r)| *r)).expect("two groups");
        self.emit_disparity("demographic_parity", dp);
        let spread = Spread::of(&rates);
        let detail = format!(
            "selection rates range from {} (group `{}`) to {} (group `{}`)",
            num(spread.min.1),
            spread.min.0,
            num(spread.max.1),
            spread.max.0
        );
        let remedy = remedy(spread.min.0);
        if let Some(t) = s.min_demographic_parity_ratio
            && dp.ratio < t
        {
            self.violate(
                "bias.demographic-parity-ratio-low",
                format!(
                    "demographic parity ratio is {} ({detail}), below minDemographicParityRatio {}{}: {remedy}",
                    num(dp.ratio),
                    num(t),
                    if t == 0.8 { ", the four-fifths rule" } else { "" }
                ),
            );
        }
        if let Some(t) = s.max_demographic_parity_difference
            && dp.difference > t
        {
            self.violate(
                "bias.demographic-parity-difference-high",
                format!(
                    "demographic parity difference is {} ({detail}), above maxDemographicParityDifference {}: {remedy}",
                    num(dp.difference),
                    num(t)
                ),
            );
        }
    }

    /// True and false positive rates, equalized odds and equal opportunity
    /// (Fairlearn), over the labelled spans of groups with enough of them.
    fn error_rates(&mut self, judged: &Groups<'_>) {
        let s = self.settings;
        if s.label_attribute.is_empty() || judged.is_empty() {
            return;
        }
        let min = s.min_samples_per_group;
        let any_labels = judged.iter().any(|(_, c)| c.labelled > 0);
        if !any_labels {
            if s.min_equalized_odds_ratio.is_some()
                || s.max_equalized_odds_difference.is_some()
                || s.max_equal_opportunity_difference.is_some()
            {
                let message = format!(
                    "no span carries `{}`: equalized odds and equal opportunity cannot be checked; record ground-truth outcomes on the spans, or remove those thresholds",
                    s.label_attribute
                );
                self.verdict
                    .finding(finding("bias.no-labels", message).severity(Severity::Info));
            }
            return;
        }
        let (labelled, few): (Groups<'_>, Groups<'_>) =
            judged.iter().copied().partition(|(_, c)| c.labelled >= min);
        if !few.is_empty() {
            let list = list_groups(&few, |c| c.labelled, "labelled spans");
            self.verdict.finding(
                finding(
                    "bias.group-too-few-labels",
                    format!(
                        "{list} fewer than minSamplesPerGroup {min} labelled spans, too few for equalized odds and equal opportunity: record more ground-truth outcomes, or lower minSamplesPerGroup"
                    ),
                )
                .severity(Severity::Info),
            );
        }
        if labelled.is_empty() {
            return;
        }
        let mut tprs = Vec::with_capacity(labelled.len());
        let mut fprs = Vec::with_capacity(labelled.len());
        for (name, counts) in &labelled {
            let (tpr, fpr) = (
                fairness::true_positive_rate(counts),
                fairness::false_positive_rate(counts),
            );
            self.verdict
                .metric_with_labels("true_positive_rate", tpr, [("group", *name)])
                .metric_with_labels("false_positive_rate", fpr, [("group", *name)]);
            tprs.push((*name, tpr));
            fprs.push((*name, fpr));
        }
        let overall = fairness::total(labelled.iter().map(|(_, c)| *c));
        self.verdict
            .metric("true_positive_rate", fairness::true_positive_rate(&overall))
            .metric(
                "false_positive_rate",
                fairness::false_positive_rate(&overall),
            );
        if labelled.len() < 2 {
            return;
        }
        let tpr = fairness::between_groups(tprs.iter().map(|(_, r)| *r)).expect("two groups");
        let fpr = fairness::between_groups(fprs.iter().map(|(_, r)| *r)).expect("two groups");
        let eo = fairness::equalized_odds(tpr, fpr);
        self.emit_disparity("equalized_odds", eo);
        self.emit_disparity("equal_opportunity", tpr);
        let (t, f) = (Spread::of(&tprs), Spread::of(&fprs));
        let detail = format!(
            "true positive rates range from {} (group `{}`) to {} (group `{}`), false positive rates from {} (group `{}`) to {} (group `{}`)",
            num(t.min.1),
            t.min.0,
            num(t.max.1),
            t.max.0,
            num(f.min.1),
            f.min.0,
            num(f.max.1),
            f.max.0
        );
        if let Some(limit) = s.min_equalized_odds_ratio
            && eo.ratio < limit
        {
            self.violate(
                "bias.equalized-odds-ratio-low",
                format!(
                    "equalized odds ratio is {} ({detail}), below minEqualizedOddsRatio {}: {}",
                    num(eo.ratio),
                    num(limit),
                    remedy(t.min.0)
                ),
            );
        }
        if let Some(limit) = s.max_equalized_odds_difference
            && eo.difference > limit
        {
            self.violate(
                "bias.equalized-odds-difference-high",
                format!(
                    "equalized odds difference is {} ({detail}), above maxEqualizedOddsDifference {}: {}",
                    num(eo.difference),
                    num(limit),
                    remedy(t.min.0)
                ),
            );
        }
        if let Some(limit) = s.max_equal_opportunity_difference
            && tpr.difference > limit
        {
            self.violate(
                "bias.equal-opportunity-difference-high",
                format!(
                    "equal opportunity difference is {} (true positive rates range from {} in group `{}` to {} in group `{}`), above maxEqualOpportunityDifference {}: {}",
                    num(tpr.difference),
                    num(t.min.1),
                    t.min.0,
                    num(t.max.1),
                    t.max.0,
                    num(limit),
                    remedy(t.min.0)
                ),
            );
        }
    }

    /// `<prefix>_difference` and, when defined, `<prefix>_ratio`.
    fn emit_disparity(&mut self, prefix: &str, d: Disparity) {
        self.verdict
            .metric(format!("{prefix}_difference"), d.difference);
        if d.ratio.is_finite() {
            self.verdict.metric(format!("{prefix}_ratio"), d.ratio);
        }
    }

    fn violate(&mut self, code: &'static str, message: String) {
        self.violations.push(Violation { code, message });
    }

    /// Turn violations into findings, the decision and the recommended action.
    fn finish(mut self, batch: &Batch) -> Verdict {
        let s = self.settings;
        if self.violations.is_empty() {
            return self.verdict.build();
        }
        let severity = match s.on_violation {
            Enforcement::Warn => Severity::Medium,
            Enforcement::Deny => Severity::High,
        };
        let mut codes = String::new();
        for v in &self.violations {
            let _ = write!(
                codes,
                "{}{}",
                if codes.is_empty() { "" } else { ", " },
                v.code
            );
        }
        for v in self.violations.drain(..) {
            let f = finding(v.code, v.message).severity(severity);
            match s.on_violation {
                Enforcement::Warn => self.verdict.warn(f),
                Enforcement::Deny => self.verdict.deny(f),
            };
        }
        let reason = format!("fairness drift in inference traffic: {codes}");
        let action = match s.action {
            Remediation::Alert => Action::alert(
                severity,
                format!("{reason}: review the model before it keeps deciding"),
            ),
            Remediation::RollbackToVersion => Action::rollback(
                rollback_target(s, &batch.models),
                s.rollback_version.clone().unwrap_or_default(),
                reason,
            ),
        };
        self.verdict.action(action).build()
    }
}

/// `rollbackTarget`, or `model/<name>` of the model that served most of the
/// counted spans (the first by name on a tie).
fn rollback_target(s: &Settings, models: &BTreeMap<String, u64>) -> String {
    if let Some(target) = &s.rollback_target {
        return target.clone();
    }
    let mut best: Option<(&str, u64)> = None;
    for (name, &count) in models.iter().filter(|(name, _)| !name.is_empty()) {
        if best.is_none_or(|(_, n)| count > n) {
            best = Some((name, count));
        }
    }
    format!("model/{}", best.map_or("unknown", |(name, _)| name))
}
