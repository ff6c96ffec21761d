//! gavel's GPU attribute namespace: `gpu.*` span events and attributes →
//! [`GpuSample`]. The contract is in the [`crate::map`] module docs.

use gavel_core::GpuSample;

use crate::proto::tonic::common::v1::{AnyValue, any_value::Value};
use crate::value::as_f64;

/// The span event name that carries one GPU sample.
pub const SAMPLE_EVENT: &str = "gpu.sample";
/// GPU UUID or index on its node (string; an int is accepted).
pub const ID: &str = "gpu.id";
/// Product name, `DCGM_FI_DEV_NAME`.
pub const MODEL: &str = "gpu.model";
/// MIG profile of the slice, for example `1g.10gb`.
pub const MIG_PROFILE: &str = "gpu.mig.profile";
/// Utilisation in percent, `DCGM_FI_DEV_GPU_UTIL`.
pub const UTILIZATION: &str = "gpu.utilization";
/// Framebuffer used in MiB, `DCGM_FI_DEV_FB_USED`.
pub const MEMORY_USED: &str = "gpu.memory.used";
/// Power draw in watts, `DCGM_FI_DEV_POWER_USAGE`.
pub const POWER_USAGE: &str = "gpu.power.usage";

const MIB: f64 = 1024.0 * 1024.0;

/// Builds one sample. `own` looks a key up where the sample was found (the
/// event, or nothing for a span-level sample); `fallback` looks it up in the
/// span's attributes, then the resource's. `None`: the sample is invalid and
/// dropped.
pub(crate) fn sample<'a>(
    time_unix_nano: u64,
    own: impl Fn(&str) -> Option<&'a AnyValue>,
    fallback: impl Fn(&str) -> Option<&'a AnyValue>,
    max_name_bytes: usize,
    truncated: &mut bool,
) -> Option<GpuSample> {
    let get = |key| own(key).or_else(|| fallback(key));
    let utilization = as_f64(own(UTILIZATION).or_else(|| fallback(UTILIZATION)))?;
    let memory_mib = as_f64(get(MEMORY_USED)).unwrap_or(0.0);
    let power = as_f64(get(POWER_USAGE)).unwrap_or(0.0);
    if !(utilization.is_finite() && memory_mib.is_finite() && power.is_finite()) {
        return None;
    }
    if memory_mib < 0.0 || power < 0.0 {
        return None;
    }
    let mut label =
        |key| label(get(key)).map(|s| crate::value::clip(&s, max_name_bytes, truncated));
    Some(GpuSample {
        time_unix_nano,
        gpu: label(ID).unwrap_or_else(|| "unknown".to_owned()),
        model: label(MODEL).unwrap_or_else(|| "unknown".to_owned()),
        mig_profile: label(MIG_PROFILE),
        // A reading a little over 100 (or under 0) is a rounding artefact of
        // the exporter, not a reason to lose the sample.
        utilization_percent: utilization.clamp(0.0, 100.0),
        // `as` saturates: an absurd reading becomes u64::MAX, not a wrap.
        memory_used_bytes: (memory_mib * MIB) as u64,
        power_watts: power,
    })
}

/// A non-empty string, or an int (a GPU index) as text.
fn label(v: Option<&AnyValue>) -> Option<std::borrow::Cow<'_, str>> {
    match v?.value.as_ref()? {
        Value::StringValue(s) if !s.is_empty() => Some(s.into()),
        Value::IntValue(i) => Some(i.to_string().into()),
        _ => None,
    }
}
