//! GPU quantities and shares.
//!
//! Kubernetes schedules `nvidia.com/gpu` as a whole-number extended resource:
//! the API server refuses `0.1` of it. A fractional GPU therefore only exists
//! as a slice the cluster advertises: a MIG instance (`nvidia.com/mig-1g.10gb`)
//! or a share of a time-sliced GPU (the NVIDIA device plugin's
//! `sharing.timeSlicing.replicas`). An ExplainerConfiguration that asks for
//! `gpu: "0.1"` must say which one it means, so its cost and isolation are
//! known.

use serde_json::Value;

/// A GPU count from a JSON number or a Kubernetes quantity string (`"0.5"`,
/// `"500m"`, `1`). `None` for anything else, including negative and
/// non-finite values.
pub fn count(value: &Value) -> Option<f64> {
    let n = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => {
            let s = s.trim();
            match s.strip_suffix('m').and_then(digits) {
                Some(milli) => f64::from(milli) / 1000.0,
                // Rust's float parser also accepts `inf` and `NaN`; the
                // finiteness check below turns those away.
                _ => s.parse::<f64>().ok()?,
            }
        }
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some(n)
}

/// Whether `share` names a GPU slice, in one of the two forms this plugin
/// defines (see the README):
///
/// - a MIG profile, `mig-<g>g.<m>gb` with an optional `nvidia.com/` prefix
///   and an optional `+<attribute>` suffix: `nvidia.com/mig-1g.10gb`,
///   `mig-3g.40gb`, `mig-1g.10gb+me`;
/// - a time-sliced share, `time-slicing:<replicas>` with at least 2 replicas
///   per GPU: `time-slicing:4`.
pub fn is_share(share: &str) -> bool {
    let share = share.trim();
    if let Some(replicas) = share.strip_prefix("time-slicing:") {
        return replicas.parse::<u32>().is_ok_and(|r| r >= 2);
    }
    let profile = share.strip_prefix("nvidia.com/").unwrap_or(share);
    profile.strip_prefix("mig-").is_some_and(is_mig_profile)
}

/// `<g>g.<m>gb[+attribute]`: g compute slices (1 to 7, what NVIDIA's GPUs
/// offer) and m GB of memory.
fn is_mig_profile(profile: &str) -> bool {
    let (profile, attribute) = match profile.split_once('+') {
        Some((p, a)) => (p, Some(a)),
        None => (profile, None),
    };
    let valid_attribute = attribute.is_none_or(|a| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.')
    });
    let Some((compute, memory)) = profile.split_once("g.") else {
        return false;
    };
    let compute_ok = digits(compute).is_some_and(|c| (1..=7).contains(&c));
    let memory_ok = memory
        .strip_suffix("gb")
        .and_then(digits)
        .is_some_and(|m| m > 0);
    valid_attribute && compute_ok && memory_ok
}

/// A number written in ASCII digits only (no sign, no spaces, unlike
/// `str::parse`).
fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn counts() {
        for (value, want) in [
            (json!("0.1"), Some(0.1)),
            (json!(0.5), Some(0.5)),
            (json!("500m"), Some(0.5)),
            (json!("1"), Some(1.0)),
            (json!(2), Some(2.0)),
            (json!(" 0.25 "), Some(0.25)),
            (json!("0"), Some(0.0)),
            (json!("-0.5"), None),
            (json!("half"), None),
            (json!("inf"), None),
            (json!("NaN"), None),
            (json!("m"), None),
            (json!("1.5m"), None),
            (json!(true), None),
            (json!(null), None),
        ] {
            assert_eq!(count(&value), want, "{value}");
        }
    }

    #[test]
    fn shares() {
        for (share, ok) in [
            ("nvidia.com/mig-1g.10gb", true),
            ("mig-1g.5gb", true),
            ("mig-3g.40gb", true),
            ("mig-7g.80gb", true),
            ("nvidia.com/mig-1g.10gb+me", true),
            ("time-slicing:4", true),
            ("time-slicing:2", true),
            ("time-slicing:1", false),
            ("time-slicing:", false),
            ("time-slicing:x", false),
            ("mig-0g.10gb", false),
            ("mig-8g.10gb", false),
            ("mig-1g.0gb", false),
            ("mig-1g.10GB", false),
            ("mig-1g.10gb+", false),
            ("mig-1g10gb", false),
            ("mig-g.10gb", false),
            ("nvidia.com/gpu", false),
            ("0.1", false),
            ("", false),
        ] {
            assert_eq!(is_share(share), ok, "{share:?}");
        }
    }
}
