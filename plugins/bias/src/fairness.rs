//! The fairness metrics, as Fairlearn and AIF360 define them, computed from
//! per-group [`Counts`]. Pure functions, so the numbers can be checked
//! against the reference libraries (`tests/reference.py`) without a runtime.
//!
//! Where a definition divides by zero the result is what the reference
//! library returns, and the caller omits a metric that is not finite (the
//! host refuses NaN and infinity):
//!
//! - Fairlearn's `true_positive_rate` and `false_positive_rate` come from
//!   scikit-learn's `confusion_matrix(normalize="true")`, which turns an
//!   empty row into zeros: a group with no positive labels has a TPR of 0, a
//!   group with no negative labels an FPR of 0.
//! - Fairlearn's between-group ratio is `group_min / group_max`, a pandas
//!   division: NaN when every group's rate is 0.
//! - AIF360's ratios are NumPy divisions: infinity for `x / 0` and NaN for
//!   `0 / 0`.

use crate::collect::Counts;

/// Fairlearn `selection_rate`: the share of predictions that are favourable.
/// `None` for a group without spans, where Fairlearn raises.
pub(crate) fn selection_rate(c: &Counts) -> Option<f64> {
    (c.spans > 0).then(|| c.selected as f64 / c.spans as f64)
}

/// Fairlearn `true_positive_rate`, `P(ŷ = 1 | y = 1)`: 0 without positives.
pub(crate) fn true_positive_rate(c: &Counts) -> f64 {
    rate_or_zero(c.true_positives, c.positives)
}

/// Fairlearn `false_positive_rate`, `P(ŷ = 1 | y = 0)`: 0 without negatives.
pub(crate) fn false_positive_rate(c: &Counts) -> f64 {
    rate_or_zero(c.false_positives, c.negatives())
}

/// scikit-learn's `normalize="true"`: a row that sums to 0 becomes 0, not NaN.
fn rate_or_zero(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The sum of several groups' counts: Fairlearn's `MetricFrame.overall`
/// is the metric over all rows, which is the metric of the summed counts.
pub(crate) fn total<'a>(groups: impl IntoIterator<Item = &'a Counts>) -> Counts {
    groups.into_iter().fold(Counts::default(), |t, c| Counts {
        spans: t.spans + c.spans,
        selected: t.selected + c.selected,
        labelled: t.labelled + c.labelled,
        positives: t.positives + c.positives,
        true_positives: t.true_positives + c.true_positives,
        false_positives: t.false_positives + c.false_positives,
    })
}

/// A metric aggregated between groups, Fairlearn's `method="between_groups"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Disparity {
    /// `MetricFrame.difference()`: largest minus smallest group value.
    pub difference: f64,
    /// `MetricFrame.ratio()`: smallest over largest group value; NaN when
    /// the largest is 0.
    pub ratio: f64,
}

/// Aggregate per-group values between groups. `None` for no values, where
/// Fairlearn has no groups to compare.
pub(crate) fn between_groups(values: impl IntoIterator<Item = f64>) -> Option<Disparity> {
    let mut values = values.into_iter();
    let first = values.next()?;
    let (min, max) = values.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v)));
    Some(Disparity {
        difference: max - min,
        ratio: min / max,
    })
}

/// Fairlearn's `equalized_odds_difference` and `equalized_odds_ratio` with
/// the default `agg="worst_case"`: Python's built-in `max` of the TPR and FPR
/// differences and `min` of their ratios, in that order.
///
/// The order matters when a ratio is NaN: Python's `min(a, b)` keeps `a`
/// unless `b < a`, and every comparison with NaN is false. So a NaN TPR
/// ratio makes the result NaN, while a NaN FPR ratio (no group has a false
/// positive, which a good model achieves) leaves the TPR ratio.
pub(crate) fn equalized_odds(tpr: Disparity, fpr: Disparity) -> Disparity {
    Disparity {
        difference: python_max(tpr.difference, fpr.difference),
        ratio: python_min(tpr.ratio, fpr.ratio),
    }
}

/// Python's `max(a, b)`: `b` only when `b > a`.
fn python_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// Python's `min(a, b)`: `b` only when `b < a`.
fn python_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// AIF360's comparison of one unprivileged group with the privileged one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Comparison {
    /// `statistical_parity_difference`: `P(ŷ fav | unprivileged) − P(ŷ fav | privileged)`.
    /// Negative when the unprivileged group is selected less.
    pub statistical_parity_difference: f64,
    /// `disparate_impact`: `P(ŷ fav | unprivileged) / P(ŷ fav | privileged)`;
    /// infinite or NaN when the privileged group is never selected.
    pub disparate_impact: f64,
}

/// Compare the selection rates of an unprivileged and the privileged group.
pub(crate) fn compare(unprivileged: f64, privileged: f64) -> Comparison {
    Comparison {
        statistical_parity_difference: unprivileged - privileged,
        disparate_impact: unprivileged / privileged,
    }
}
