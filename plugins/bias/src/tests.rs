//! Native tests, through gavel-sdk's harness. The exact numbers against
//! Fairlearn and AIF360 live in `tests/suite.yaml` (checked by
//! `tests/reference.py`); these tests pin the behaviour around them.

use gavel_sdk::prelude::*;
use gavel_sdk::testing::{
    self, Expect, admission, admission_update, check, evaluate, manifest, span,
};

use super::Bias;
use crate::collect::Counts;
use crate::fairness::{self, Disparity};
use crate::settings::Settings;

// ------------------------------------------------------------------ helpers

const GROUP: &str = "gen_ai.fairness.group";
const PREDICTION: &str = "gen_ai.fairness.prediction";
const LABEL: &str = "gen_ai.fairness.label";

fn attr(key: &str, value: AttributeValue) -> Attribute {
    Attribute {
        key: key.to_owned(),
        value,
    }
}

/// `n` spans of `group` predicted `prediction`, labelled `label` when given.
fn rows(group: &str, prediction: i64, label: Option<i64>, n: usize) -> Vec<InferenceSpan> {
    (0..n)
        .map(|_| {
            let mut s = span("credit-scoring", "scorer-v2");
            s.attributes
                .push(attr(GROUP, AttributeValue::Str(group.to_owned())));
            s.attributes
                .push(attr(PREDICTION, AttributeValue::Int(prediction)));
            if let Some(label) = label {
                s.attributes.push(attr(LABEL, AttributeValue::Int(label)));
            }
            s
        })
        .collect()
}

/// A batch from `(group, prediction, label, count)` rows.
fn batch(table: &[(&str, i64, Option<i64>, usize)]) -> Subject {
    testing::traces(
        table
            .iter()
            .flat_map(|&(g, p, l, n)| rows(g, p, l, n))
            .collect::<Vec<_>>(),
    )
}

/// Group `a` selected 20 of 40, group `b` 10 of 40: ratio 0.5.
fn biased() -> Subject {
    batch(&[
        ("a", 1, None, 20),
        ("a", 0, None, 20),
        ("b", 1, None, 10),
        ("b", 0, None, 30),
    ])
}

/// Both groups selected 20 of 40.
fn fair() -> Subject {
    batch(&[
        ("a", 1, None, 20),
        ("a", 0, None, 20),
        ("b", 1, None, 20),
        ("b", 0, None, 20),
    ])
}

fn actions(subject: Subject, settings: &str) -> Vec<Action> {
    evaluate::<Bias>(subject, settings)
        .verdict()
        .actions
        .clone()
}

fn group(name: &str) -> [(&str, &str); 1] {
    [("group", name)]
}

// ------------------------------------------------------------------ the math

fn counts(spans: u64, selected: u64, positives: u64, tp: u64, negatives: u64, fp: u64) -> Counts {
    Counts {
        spans,
        selected,
        labelled: positives + negatives,
        positives,
        true_positives: tp,
        false_positives: fp,
    }
}

#[test]
fn rates_divide_by_zero_as_scikit_learn_does() {
    let none_labelled = counts(4, 2, 0, 0, 0, 0);
    assert_eq!(fairness::selection_rate(&none_labelled), Some(0.5));
    assert_eq!(fairness::true_positive_rate(&none_labelled), 0.0);
    assert_eq!(fairness::false_positive_rate(&none_labelled), 0.0);
    assert_eq!(fairness::selection_rate(&Counts::default()), None);
    let c = counts(10, 5, 4, 3, 6, 2);
    assert_eq!(fairness::true_positive_rate(&c), 0.75);
    assert_eq!(fairness::false_positive_rate(&c), 2.0 / 6.0);
}

#[test]
fn between_groups_is_max_minus_min_and_min_over_max() {
    let d = fairness::between_groups([0.5, 0.25, 0.4]).unwrap();
    assert_eq!(
        d,
        Disparity {
            difference: 0.25,
            ratio: 0.5
        }
    );
    let zero = fairness::between_groups([0.0, 0.0]).unwrap();
    assert_eq!(zero.difference, 0.0);
    assert!(zero.ratio.is_nan(), "pandas: 0 / 0 is NaN");
    assert_eq!(fairness::between_groups([]), None);
}

#[test]
fn equalized_odds_follows_pythons_min_and_max_with_nan() {
    let d = |difference, ratio| Disparity { difference, ratio };
    let eo = fairness::equalized_odds(d(0.2, 0.5), d(0.3, f64::NAN));
    assert_eq!(
        (eo.difference, eo.ratio),
        (0.3, 0.5),
        "NaN second: kept first"
    );
    let eo = fairness::equalized_odds(d(0.2, f64::NAN), d(0.1, 0.5));
    assert_eq!(eo.difference, 0.2);
    assert!(eo.ratio.is_nan(), "NaN first: min keeps it");
    let eo = fairness::equalized_odds(d(0.2, 0.9), d(0.1, 0.4));
    assert_eq!((eo.difference, eo.ratio), (0.2, 0.4));
}

#[test]
fn aif360_comparison_is_signed_unprivileged_over_privileged() {
    let c = fairness::compare(0.3, 0.6);
    assert!((c.statistical_parity_difference + 0.3).abs() < 1e-15);
    assert_eq!(c.disparate_impact, 0.5);
    assert!(fairness::compare(0.3, 0.0).disparate_impact.is_infinite());
    assert!(fairness::compare(0.0, 0.0).disparate_impact.is_nan());
}

/// Fairlearn 0.15 on y_true = [0,0,0,1,1,1], y_pred = [1,0,0,1,0,1],
/// groups a,a,a,b,b,b: equalized_odds_difference 0.6666…, equalized_odds_ratio
/// 0.0 (group a has no positives, so its TPR is 0; b has no negatives).
#[test]
fn matches_fairlearn_when_groups_lack_positives_or_negatives() {
    let subject = batch(&[
        ("a", 1, Some(0), 1),
        ("a", 0, Some(0), 2),
        ("b", 1, Some(1), 2),
        ("b", 0, Some(1), 1),
    ]);
    let settings = r#"{"minSamplesPerGroup": 1, "minDemographicParityRatio": null}"#;
    check::<Bias>(
        "fairlearn toy",
        subject,
        settings,
        Expect::allow()
            .metric("equalized_odds_difference", 2.0 / 3.0, 1e-12)
            .metric("equalized_odds_ratio", 0.0, 0.0)
            .metric("equal_opportunity_difference", 2.0 / 3.0, 1e-12)
            .metric_with_labels("true_positive_rate", &group("a"), 0.0, 0.0)
            .metric_with_labels("false_positive_rate", &group("b"), 0.0, 0.0)
            .metric_with_labels("false_positive_rate", &group("a"), 1.0 / 3.0, 1e-12),
    );
}

// ------------------------------------------------------------------ traces

#[test]
fn traces() {
    for (name, subject, settings, expect) in [
        (
            "no fairness attributes",
            testing::traces([span("chat", "llama")]),
            "",
            Expect::allow(),
        ),
        ("empty batch", testing::traces([]), "", Expect::allow()),
        (
            "fair",
            fair(),
            "",
            Expect::allow()
                .metric("demographic_parity_ratio", 1.0, 0.0)
                .metric("demographic_parity_difference", 0.0, 0.0)
                .metric("selection_rate", 0.5, 0.0)
                .metric("spans_evaluated_count", 80.0, 0.0)
                .metric_with_labels("group_sample_count", &group("b"), 40.0, 0.0),
        ),
        (
            "four-fifths rule",
            biased(),
            "",
            Expect::warn(&["bias.demographic-parity-ratio-low"])
                .metric("demographic_parity_ratio", 0.5, 0.0)
                .metric("demographic_parity_difference", 0.25, 0.0)
                .metric_with_labels("selection_rate", &group("a"), 0.5, 0.0)
                .metric_with_labels("selection_rate", &group("b"), 0.25, 0.0)
                .metric("selection_rate", 0.375, 0.0),
        ),
        (
            "deny on violation",
            biased(),
            r#"{"onViolation": "deny"}"#,
            Expect::deny(&["bias.demographic-parity-ratio-low"]),
        ),
        (
            "threshold off",
            biased(),
            r#"{"minDemographicParityRatio": null}"#,
            Expect::allow(),
        ),
        (
            "difference threshold",
            biased(),
            r#"{"minDemographicParityRatio": null, "maxDemographicParityDifference": 0.2}"#,
            Expect::warn(&["bias.demographic-parity-difference-high"]),
        ),
        (
            "difference at the threshold passes",
            biased(),
            r#"{"minDemographicParityRatio": 0.5, "maxDemographicParityDifference": 0.25}"#,
            Expect::allow(),
        ),
        (
            "small group is reported, not judged",
            batch(&[
                ("a", 1, None, 20),
                ("a", 0, None, 20),
                ("b", 1, None, 22),
                ("b", 0, None, 18),
                ("c", 0, None, 29),
            ]),
            "",
            Expect::allow()
                .codes(&["bias.group-too-small"])
                .metric_with_labels("group_sample_count", &group("c"), 29.0, 0.0)
                .metric("demographic_parity_ratio", 0.5 / 0.55, 1e-15),
        ),
        (
            "one judged group",
            batch(&[("a", 1, None, 40), ("b", 0, None, 3)]),
            "",
            Expect::allow()
                .codes(&["bias.group-too-small", "bias.not-enough-groups"])
                .metric("selection_rate", 1.0, 0.0),
        ),
        (
            "too many groups",
            batch(&[("a", 1, None, 1), ("b", 1, None, 1), ("c", 0, None, 1)]),
            r#"{"maxGroups": 2}"#,
            Expect::warn(&["bias.too-many-groups"]).metric("group_count", 3.0, 0.0),
        ),
        (
            "never selected: ratio undefined, not judged",
            batch(&[("a", 0, None, 30), ("b", 0, None, 30)]),
            "",
            Expect::allow()
                .codes(&["bias.no-favourable-outcomes"])
                .metric("demographic_parity_difference", 0.0, 0.0),
        ),
        (
            "labels in another vocabulary",
            batch(&[("a", 1, Some(0), 30), ("b", 1, Some(0), 30)]),
            "",
            Expect::allow()
                .codes(&["bias.no-favourable-outcomes"])
                .metric("true_positive_rate", 0.0, 0.0),
        ),
    ] {
        check::<Bias>(name, subject, settings, expect);
    }
}

#[test]
fn undefined_ratios_are_omitted() {
    let outcome = evaluate::<Bias>(batch(&[("a", 0, None, 30), ("b", 0, None, 30)]), "");
    assert_eq!(
        outcome
            .assert_finding("bias.no-favourable-outcomes")
            .message,
        "no `gen_ai.fairness.prediction` equals positiveValue `1`, so every selection rate is 0; if the model records its favourable outcome differently, set positiveValue to that value"
    );
    let names: Vec<&str> = outcome
        .verdict()
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert!(!names.contains(&"demographic_parity_ratio"), "{names:?}");
    assert!(
        outcome
            .verdict()
            .metrics
            .iter()
            .all(|m| m.value.is_finite()),
        "the host rejects NaN and infinity"
    );
}

#[test]
fn error_rates() {
    // a: 30 positives (TP 24), 30 negatives (FP 6); b: 30 positives (TP 12), 30 negatives (FP 3).
    let labelled = || {
        batch(&[
            ("a", 1, Some(1), 24),
            ("a", 0, Some(1), 6),
            ("a", 1, Some(0), 6),
            ("a", 0, Some(0), 24),
            ("b", 1, Some(1), 12),
            ("b", 0, Some(1), 18),
            ("b", 1, Some(0), 3),
            ("b", 0, Some(0), 27),
        ])
    };
    let off = r#""minDemographicParityRatio": null"#;
    for (name, subject, settings, expect) in [
        (
            "rates",
            labelled(),
            format!("{{{off}}}"),
            Expect::allow()
                .metric_with_labels("true_positive_rate", &group("a"), 0.8, 1e-15)
                .metric_with_labels("true_positive_rate", &group("b"), 0.4, 1e-15)
                .metric_with_labels("false_positive_rate", &group("a"), 0.2, 1e-15)
                .metric_with_labels("false_positive_rate", &group("b"), 0.1, 1e-15)
                .metric("true_positive_rate", 0.6, 1e-15)
                .metric("false_positive_rate", 0.15, 1e-15)
                .metric("equalized_odds_difference", 0.4, 1e-15)
                .metric("equalized_odds_ratio", 0.5, 1e-15)
                .metric("equal_opportunity_difference", 0.4, 1e-15)
                .metric("equal_opportunity_ratio", 0.5, 1e-15)
                .metric_with_labels("group_labelled_sample_count", &group("a"), 60.0, 0.0),
        ),
        (
            "equalized odds ratio",
            labelled(),
            format!(r#"{{{off}, "minEqualizedOddsRatio": 0.6}}"#),
            Expect::warn(&["bias.equalized-odds-ratio-low"]),
        ),
        (
            "equalized odds difference",
            labelled(),
            format!(r#"{{{off}, "maxEqualizedOddsDifference": 0.3}}"#),
            Expect::warn(&["bias.equalized-odds-difference-high"]),
        ),
        (
            "equal opportunity difference",
            labelled(),
            format!(r#"{{{off}, "maxEqualOpportunityDifference": 0.39}}"#),
            Expect::warn(&["bias.equal-opportunity-difference-high"]),
        ),
        (
            "no labels with a label threshold",
            biased(),
            r#"{"minEqualizedOddsRatio": 0.8, "minDemographicParityRatio": null}"#.to_owned(),
            Expect::allow().codes(&["bias.no-labels"]),
        ),
        (
            "no labels without a label threshold",
            biased(),
            format!("{{{off}}}"),
            Expect::allow(),
        ),
        (
            "too few labels",
            batch(&[
                ("a", 1, Some(1), 30),
                ("a", 0, Some(0), 30),
                ("b", 1, Some(1), 5),
                ("b", 0, None, 35),
            ]),
            format!("{{{off}}}"),
            Expect::allow()
                .codes(&["bias.group-too-few-labels"])
                .metric_with_labels("true_positive_rate", &group("a"), 1.0, 0.0),
        ),
    ] {
        check::<Bias>(name, subject, &settings, expect);
    }
}

#[test]
fn reference_group() {
    let aif = |extra: &str| {
        format!(r#"{{"referenceGroup": "a", "minDemographicParityRatio": null{extra}}}"#)
    };
    let three = || {
        batch(&[
            ("a", 1, None, 30),
            ("a", 0, None, 10),
            ("b", 1, None, 15),
            ("b", 0, None, 25),
            ("c", 1, None, 35),
            ("c", 0, None, 5),
        ])
    };
    let pair = |g: &'static str| [("group", g), ("reference", "a")];
    for (name, subject, settings, expect) in [
        (
            "disparate impact per unprivileged group",
            three(),
            aif(""),
            Expect::warn(&["bias.disparate-impact-low"])
                .metric_with_labels("disparate_impact_ratio", &pair("b"), 0.5, 1e-15)
                .metric_with_labels("disparate_impact_ratio", &pair("c"), 35.0 / 30.0, 1e-15)
                .metric_with_labels("statistical_parity_difference", &pair("b"), -0.375, 1e-15)
                .metric_with_labels("statistical_parity_difference", &pair("c"), 0.125, 1e-15),
        ),
        (
            "upper bounds",
            three(),
            aif(
                r#", "minDisparateImpact": null, "maxDisparateImpact": 1.1, "maxStatisticalParityDifference": 0.1"#,
            ),
            Expect::warn(&[
                "bias.disparate-impact-high",
                "bias.statistical-parity-difference-high",
            ]),
        ),
        (
            "signed lower bound",
            three(),
            aif(r#", "minDisparateImpact": null, "minStatisticalParityDifference": -0.1"#),
            Expect::warn(&["bias.statistical-parity-difference-low"]),
        ),
        (
            "reference absent",
            three(),
            r#"{"referenceGroup": "z", "minDemographicParityRatio": null}"#.to_owned(),
            Expect::allow().codes(&["bias.reference-group-missing"]),
        ),
        (
            "reference never selected: disparate impact unbounded",
            batch(&[("a", 0, None, 30), ("b", 1, None, 30)]),
            aif(r#", "maxDisparateImpact": 1.25"#),
            Expect::warn(&["bias.disparate-impact-high"]).metric_with_labels(
                "statistical_parity_difference",
                &pair("b"),
                1.0,
                0.0,
            ),
        ),
    ] {
        check::<Bias>(name, subject, &settings, expect);
    }
    let outcome = evaluate::<Bias>(batch(&[("a", 0, None, 30), ("b", 1, None, 30)]), &aif(""));
    assert!(
        !outcome
            .verdict()
            .metrics
            .iter()
            .any(|m| m.name == "disparate_impact_ratio"),
        "an infinite disparate impact is omitted"
    );
}

#[test]
fn attribute_types() {
    let typed = |group: AttributeValue, prediction: AttributeValue| {
        let mut s = span("svc", "m");
        s.attributes.push(attr(GROUP, group));
        s.attributes.push(attr(PREDICTION, prediction));
        s
    };
    let mut spans = Vec::new();
    for i in 0..40 {
        // Group `true`: approvals as booleans, 3 of 4; group `7`: as strings, 1 of 4.
        spans.push(typed(
            AttributeValue::Boolean(true),
            AttributeValue::Boolean(i % 4 != 0),
        ));
        spans.push(typed(
            AttributeValue::Int(7),
            AttributeValue::Str(if i % 4 == 0 { "1" } else { "0" }.to_owned()),
        ));
    }
    // Unusable: a float prediction, an array group, an over-long group, no prediction.
    spans.push(typed(
        AttributeValue::Str("x".into()),
        AttributeValue::Float(1.0),
    ));
    spans.push(typed(
        AttributeValue::StrArray(vec![]),
        AttributeValue::Int(1),
    ));
    spans.push(typed(
        AttributeValue::Str("g".repeat(65)),
        AttributeValue::Int(1),
    ));
    let mut lone = span("svc", "m");
    lone.attributes
        .push(attr(GROUP, AttributeValue::Str("x".into())));
    spans.push(lone);
    check::<Bias>(
        "types",
        testing::traces(spans.clone()),
        r#"{"positiveValue": true}"#,
        Expect::warn(&["bias.demographic-parity-ratio-low", "bias.spans-skipped"])
            .metric_with_labels("selection_rate", &group("true"), 0.75, 0.0)
            .metric_with_labels("selection_rate", &group("7"), 0.25, 0.0)
            .metric("spans_skipped_count", 4.0, 0.0),
    );
    check::<Bias>(
        "string positive value",
        testing::traces(spans),
        r#"{"positiveValue": "0", "referenceGroup": 7, "minDemographicParityRatio": null}"#,
        Expect::warn(&["bias.disparate-impact-low", "bias.spans-skipped"]).metric_with_labels(
            "disparate_impact_ratio",
            &[("group", "true"), ("reference", "7")],
            0.25 / 0.75,
            1e-15,
        ),
    );
}

#[test]
fn labels_can_use_their_own_vocabulary() {
    let mut spans = Vec::new();
    for (group, approved, repaid, n) in [
        ("a", "approve", true, 30),
        ("a", "reject", false, 10),
        ("b", "approve", false, 20),
        ("b", "reject", true, 20),
    ] {
        for _ in 0..n {
            let mut s = span("svc", "m");
            s.attributes
                .push(attr(GROUP, AttributeValue::Str(group.into())));
            s.attributes
                .push(attr(PREDICTION, AttributeValue::Str(approved.into())));
            s.attributes
                .push(attr(LABEL, AttributeValue::Boolean(repaid)));
            s.attributes
                .push(attr("unrelated", AttributeValue::Json("{}".into())));
            spans.push(s);
        }
    }
    // A float label counts as unlabelled and is reported.
    let mut odd = span("svc", "m");
    odd.attributes
        .push(attr(GROUP, AttributeValue::Str("a".into())));
    odd.attributes
        .push(attr(PREDICTION, AttributeValue::Str("reject".into())));
    odd.attributes.push(attr(LABEL, AttributeValue::Float(0.5)));
    spans.push(odd);
    check::<Bias>(
        "vocabularies",
        testing::traces(spans),
        r#"{"positiveValue": "approve", "labelPositiveValue": true, "minDemographicParityRatio": null}"#,
        Expect::allow()
            .codes(&["bias.spans-skipped"])
            .metric_with_labels("true_positive_rate", &group("a"), 1.0, 0.0)
            .metric_with_labels("false_positive_rate", &group("b"), 1.0, 0.0)
            .metric_with_labels("true_positive_rate", &group("b"), 0.0, 0.0)
            .metric_with_labels("group_labelled_sample_count", &group("a"), 40.0, 0.0)
            .metric_with_labels("group_sample_count", &group("a"), 41.0, 0.0)
            .metric("spans_skipped_count", 0.0, 0.0),
    );
}

#[test]
fn drift_recommends_an_action() {
    let alert = actions(biased(), "");
    assert!(
        matches!(alert.as_slice(), [Action::Alert(a)] if a.severity == Severity::Medium
            && a.message.contains("bias.demographic-parity-ratio-low")),
        "{alert:?}"
    );
    let deny = actions(biased(), r#"{"onViolation": "deny"}"#);
    assert!(matches!(deny.as_slice(), [Action::Alert(a)] if a.severity == Severity::High));
    let rollback = actions(
        biased(),
        r#"{"action": "rollback-to-version", "rollbackVersion": "scorer-v1"}"#,
    );
    assert!(
        matches!(rollback.as_slice(), [Action::RollbackToVersion(r)]
            if r.target == "model/scorer-v2" && r.version == "scorer-v1"),
        "{rollback:?}"
    );
    let target = actions(
        biased(),
        r#"{"action": "rollback-to-version", "rollbackVersion": "3", "rollbackTarget": "inferenceservice/credit"}"#,
    );
    assert!(
        matches!(target.as_slice(), [Action::RollbackToVersion(r)] if r.target == "inferenceservice/credit")
    );
    assert!(actions(fair(), "").is_empty());
    assert!(
        actions(batch(&[("a", 1, None, 40), ("b", 0, None, 3)]), "").is_empty(),
        "data findings are not drift"
    );
}

#[test]
fn messages_say_what_to_change_and_carry_no_span_data() {
    let outcome = evaluate::<Bias>(biased(), "");
    let f = outcome.assert_finding("bias.demographic-parity-ratio-low");
    assert_eq!(
        f.message,
        "demographic parity ratio is 0.5 (selection rates range from 0.25 (group `b`) to 0.5 (group `a`)), below minDemographicParityRatio 0.8, the four-fifths rule: investigate the model for bias against group `b` and retrain, reweigh or recalibrate it, or roll back to a version that passed its fairness evaluation"
    );
    assert_eq!((f.severity, f.path.as_deref()), (Severity::Medium, None));
    let small = evaluate::<Bias>(batch(&[("a", 1, None, 40), ("b", 0, None, 3)]), "");
    assert_eq!(
        small.assert_finding("bias.group-too-small").message,
        "group `b` (3 spans) has fewer than minSamplesPerGroup 30 spans, too few to judge: widen the batch window, or lower minSamplesPerGroup"
    );
}

// ------------------------------------------------------------------ objects

fn deployment(labels: &str, annotations: &str) -> String {
    format!(
        r#"{{"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {{"name": "credit-scorer", "labels": {{{labels}}}, "annotations": {{{annotations}}}}},
            "spec": {{"template": {{"spec": {{"containers": [{{"name": "m", "image": "scorer:2"}}]}}}}}}}}"#
    )
}

#[test]
fn objects() {
    let high = r#""gavel.dev/eu-ai-act-risk": "high""#;
    let hiring = r#""gavel.dev/annex-iii-area": "employment""#;
    let evaluated = r#""gavel.dev/fairness-evaluation": "https://reports.example/fairness/42""#;
    let missing = || Expect::deny(&["bias.fairness-evaluation-missing"]);
    for (name, subject, settings, expect) in [
        (
            "not high-risk",
            admission(Operation::Create, &deployment("", "")),
            "",
            Expect::allow(),
        ),
        (
            "high-risk label without evaluation",
            admission(Operation::Create, &deployment(high, "")),
            "",
            missing(),
        ),
        (
            "Annex III area without evaluation",
            manifest("apps/hiring.yaml#0", &deployment(hiring, "")),
            "",
            missing(),
        ),
        (
            "high-risk with evaluation",
            admission(Operation::Create, &deployment(high, evaluated)),
            "",
            Expect::allow(),
        ),
        (
            "blank evaluation",
            admission(
                Operation::Create,
                &deployment(high, r#""gavel.dev/fairness-evaluation": "  ""#),
            ),
            "",
            missing(),
        ),
        (
            "limited risk",
            admission(
                Operation::Create,
                &deployment(r#""gavel.dev/eu-ai-act-risk": "limited""#, ""),
            ),
            "",
            Expect::allow(),
        ),
        (
            "unknown area",
            admission(
                Operation::Create,
                &deployment(r#""gavel.dev/annex-iii-area": "astrology""#, ""),
            ),
            "",
            Expect::warn(&["bias.annex-iii-area-unknown"]),
        ),
        (
            "unknown area on a high-risk workload",
            admission(
                Operation::Create,
                &deployment(
                    &format!(r#"{high}, "gavel.dev/annex-iii-area": "astrology""#),
                    "",
                ),
            ),
            "",
            Expect::deny(&[
                "bias.annex-iii-area-unknown",
                "bias.fairness-evaluation-missing",
            ]),
        ),
        (
            "warn instead",
            admission(Operation::Create, &deployment(high, "")),
            r#"{"onMissingEvaluation": "warn"}"#,
            Expect::warn(&["bias.fairness-evaluation-missing"]),
        ),
        (
            "update checks the new object",
            admission_update(&deployment(high, evaluated), &deployment(high, "")),
            "",
            missing(),
        ),
        (
            "delete",
            admission(Operation::Delete, &deployment(high, "")),
            "",
            Expect::allow(),
        ),
        (
            "custom keys",
            admission(
                Operation::Create,
                &deployment(
                    r#""risk": "yes""#,
                    r#""gavel.dev/fairness-evaluation": "r1""#,
                ),
            ),
            r#"{"highRiskLabel": "risk", "highRiskValue": "yes", "fairnessEvaluationAnnotation": "audit/report"}"#,
            missing(),
        ),
        (
            "area label disabled",
            admission(Operation::Create, &deployment(hiring, "")),
            r#"{"annexIIIAreaLabel": ""}"#,
            Expect::allow(),
        ),
        (
            "malformed manifest",
            manifest("a.yaml", "{"),
            "",
            Expect::error("InvalidSubject"),
        ),
    ] {
        check::<Bias>(name, subject, settings, expect);
    }
}

#[test]
fn object_findings_point_at_the_metadata() {
    let labels = r#""gavel.dev/eu-ai-act-risk": "high", "gavel.dev/annex-iii-area": "Employment""#;
    let outcome = evaluate::<Bias>(admission(Operation::Create, &deployment(labels, "")), "");
    let missing = outcome.assert_finding("bias.fairness-evaluation-missing");
    assert_eq!(missing.path.as_deref(), Some("/metadata/annotations"));
    assert_eq!(missing.severity, Severity::High);
    assert_eq!(
        missing.message,
        "this workload is high-risk under the EU AI Act (label `gavel.dev/eu-ai-act-risk: high`) and references no fairness evaluation: add annotation `gavel.dev/fairness-evaluation` with the URL or id of its bias evaluation (Article 10(2)(f) and (g))"
    );
    let unknown = outcome.assert_finding("bias.annex-iii-area-unknown");
    assert_eq!(
        unknown.path.as_deref(),
        Some("/metadata/labels/gavel.dev~1annex-iii-area")
    );
    assert!(
        !unknown.message.contains("Employment"),
        "the value is not echoed"
    );
}

// ------------------------------------------------------------------ settings

#[test]
fn settings_are_checked_with_messages_that_say_what_to_fix() {
    let bad = |settings: &str, want: &str| {
        let got = testing::validate::<Bias>(settings).unwrap_err();
        assert!(got.contains(want), "{settings}: {got:?} lacks {want:?}");
        // Evaluating checks them too, so a runner that skips validation
        // gets an error, not a verdict.
        testing::evaluate::<Bias>(fair(), settings).assert_error("InvalidSettings");
    };
    bad(r#"{"groupAttribute": " "}"#, "groupAttribute is empty");
    bad(
        r#"{"labelAttribute": "gen_ai.fairness.group"}"#,
        "groupAttribute and labelAttribute are both",
    );
    bad(
        r#"{"minSamplesPerGroup": 0}"#,
        "minSamplesPerGroup must be at least 1",
    );
    bad(
        r#"{"maxGroups": 1}"#,
        "maxGroups is 1: it must be between 2",
    );
    bad(r#"{"maxGroups": 201}"#, "and 200");
    bad(r#"{"referenceGroup": ""}"#, "referenceGroup is empty");
    bad(
        r#"{"minDemographicParityRatio": 80}"#,
        "minDemographicParityRatio is 80: it must be between 0 and 1, or null",
    );
    bad(r#"{"minDisparateImpact": -1}"#, "it must be at least 0");
    bad(
        r#"{"minDisparateImpact": 1.3, "maxDisparateImpact": 1.2}"#,
        "minDisparateImpact (1.3) is greater than maxDisparateImpact (1.2)",
    );
    bad(
        r#"{"minStatisticalParityDifference": 0.2, "maxStatisticalParityDifference": 0.1}"#,
        "is greater than maxStatisticalParityDifference",
    );
    bad(
        r#"{"action": "rollback-to-version"}"#,
        "rollbackVersion is not set",
    );
    bad(r#"{"rollbackVersion": "v1"}"#, "but action is alert");
    bad(
        r#"{"action": "rollback-to-version", "rollbackVersion": "v1", "rollbackTarget": ""}"#,
        "rollbackTarget is empty",
    );
    bad(
        r#"{"labelAttribute": "", "maxEqualOpportunityDifference": 0.1}"#,
        "maxEqualOpportunityDifference needs ground-truth labels",
    );
    bad(
        r#"{"highRiskLabel": "a b"}"#,
        "highRiskLabel `a b` is not a Kubernetes",
    );
    bad(
        r#"{"fairnessEvaluationAnnotation": ""}"#,
        "fairnessEvaluationAnnotation is empty",
    );
    bad(r#"{"highRiskValue": ""}"#, "highRiskValue is empty");
    bad(r#"{"onViolation": "block"}"#, "unknown variant `block`");
    bad(
        r#"{"positiveValue": 0.5}"#,
        "positiveValue: invalid type: floating point `0.5`, expected a string, an integer or a boolean",
    );
    bad(r#"{"minRatio": 0.8}"#, "unknown field `minRatio`");
    for good in [
        "",
        "{}",
        r#"{"labelAttribute": "", "highRiskLabel": "", "annexIIIAreaLabel": ""}"#,
        r#"{"action": "rollback-to-version", "rollbackVersion": "v1", "onViolation": "deny"}"#,
        r#"{"referenceGroup": true, "positiveValue": "approved", "labelPositiveValue": 1}"#,
    ] {
        assert_eq!(testing::validate::<Bias>(good), Ok(()), "{good}");
    }
}

#[test]
fn metadata_and_schema_agree_with_the_settings() {
    let metadata = testing::metadata::<Bias>();
    assert_eq!(metadata.name, "bias");
    assert_eq!(metadata.category, Category::Bias);
    assert_eq!(
        metadata.subjects,
        [
            SubjectKind::Admission,
            SubjectKind::Manifest,
            SubjectKind::Traces
        ]
    );
    let schema: serde_json::Value = serde_json::from_str(&metadata.settings_schema).unwrap();
    // The schema's defaults, read as settings, are the settings' defaults:
    // names and default values agree (an unknown name would fail to parse).
    let defaults: serde_json::Map<String, serde_json::Value> = schema["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, p)| (name.clone(), p["default"].clone()))
        .collect();
    let parsed: Settings = serde_json::from_value(defaults.clone().into()).unwrap();
    assert_eq!(parsed, Settings::default());
    // Serde does not list a struct's fields, so the count stands in for
    // "every field has a schema property".
    assert_eq!(defaults.len(), 26, "one schema property per settings field");
}

/// The verdict shown in the README, on the counts of `tests/fixtures/credit-drift.json`.
#[test]
fn readme_example() {
    let mut spans = Vec::new();
    for (group, approved, n) in [
        ("under-25", true, 15),
        ("under-25", false, 46),
        ("25-60", true, 42),
        ("25-60", false, 32),
        ("over-60", true, 29),
        ("over-60", false, 20),
    ] {
        for _ in 0..n {
            let mut s = span("decision-api", "credit-scorer-v4");
            s.attributes
                .push(attr(GROUP, AttributeValue::Str(group.into())));
            let decision = if approved { "approved" } else { "declined" };
            s.attributes
                .push(attr(PREDICTION, AttributeValue::Str(decision.into())));
            spans.push(s);
        }
    }
    let settings = r#"{"positiveValue": "approved", "referenceGroup": "25-60", "minDemographicParityRatio": null}"#;
    let outcome = evaluate::<Bias>(testing::traces(spans), settings);
    outcome
        .assert(&Expect::warn(&["bias.disparate-impact-low"]))
        .assert_metric_with_labels(
            "disparate_impact_ratio",
            &[("group", "under-25"), ("reference", "25-60")],
            0.43325526932084313,
            1e-15,
        );
    assert_eq!(
        outcome.assert_finding("bias.disparate-impact-low").message,
        "disparate impact against reference group `25-60` (selection rate 0.5676) is below minDisparateImpact 0.8: group `under-25` (0.4333); these groups are selected less than the reference: investigate the model for bias against them and retrain, reweigh or recalibrate it, or roll back to a version that passed its fairness evaluation"
    );
    assert!(matches!(
        outcome.verdict().actions.as_slice(),
        [Action::Alert(a)] if a.message == "fairness drift in inference traffic: bias.disparate-impact-low: review the model before it keeps deciding"
    ));
}
