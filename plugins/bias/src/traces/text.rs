//! Wording shared by the trace findings: numbers, group lists, remedies.

use crate::collect::Counts;

use super::Groups;

/// The lowest and highest `(group, value)`, the first by name on a tie.
pub(super) struct Spread<'b> {
    pub(super) min: (&'b str, f64),
    pub(super) max: (&'b str, f64),
}

impl<'b> Spread<'b> {
    pub(super) fn of(values: &[(&'b str, f64)]) -> Self {
        let mut spread = Spread {
            min: values[0],
            max: values[0],
        };
        for &v in &values[1..] {
            if v.1 < spread.min.1 {
                spread.min = v;
            }
            if v.1 > spread.max.1 {
                spread.max = v;
            }
        }
        spread
    }
}

/// What to do about a disparity that disadvantages `group`.
pub(super) fn remedy(group: &str) -> String {
    format!(
        "investigate the model for bias against group `{group}` and retrain, reweigh or recalibrate it, or roll back to a version that passed its fairness evaluation"
    )
}

/// "groups `a` (12 spans), `b` (3 spans) have" / "group `a` (12 spans) has".
pub(super) fn list_groups(
    groups: &Groups<'_>,
    count: impl Fn(&Counts) -> u64,
    unit: &str,
) -> String {
    let items: Vec<String> = groups
        .iter()
        .map(|(name, c)| format!("`{name}` ({} {unit})", count(c)))
        .collect();
    match items.as_slice() {
        [one] => format!("group {one} has"),
        _ => format!("groups {} have", items.join(", ")),
    }
}

/// A number for a message: at most four decimals, no trailing zeros.
pub(super) fn num(x: f64) -> String {
    if x.is_nan() {
        return "undefined".to_owned();
    }
    if x.is_infinite() {
        return "unbounded".to_owned();
    }
    let text = format!("{x:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" => "0".to_owned(),
        t => t.to_owned(),
    }
}
