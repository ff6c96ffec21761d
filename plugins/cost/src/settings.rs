//! The plugin's settings, their defaults (OpenCost's default price table) and
//! their validation. `settings.schema.json` describes the same shape; a test
//! checks that its defaults are these.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Everything the operator can configure. Every field has a default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Unit prices.
    pub prices: Prices,
    /// Node labels that name the GPU product a pod is scheduled on.
    pub gpu_product_labels: Vec<String>,
    /// Time-sliced GPU resources: resource name → slots per physical GPU
    /// (the device plugin's `sharing.timeSlicing.resources[].replicas`).
    pub time_sliced_resources: BTreeMap<String, u32>,
    /// Monthly budgets in USD.
    pub budgets: Budgets,
    /// The label naming a workload's team.
    pub team_label: String,
    /// What a budget overrun does.
    pub on_budget_exceeded: Enforcement,
    /// Labels every priced workload must carry for cost allocation.
    pub required_labels: Vec<String>,
    /// What a missing cost-allocation label does.
    pub on_missing_labels: Enforcement,
    /// Idle-GPU detection in traces.
    pub idle_gpu: IdleGpu,
    /// GPU-hours anomaly detection in traces.
    pub anomaly: Anomaly,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prices: Prices::default(),
            gpu_product_labels: vec![
                "nvidia.com/gpu.product".into(),
                "cloud.google.com/gke-accelerator".into(),
            ],
            time_sliced_resources: BTreeMap::new(),
            budgets: Budgets::default(),
            team_label: "team".into(),
            on_budget_exceeded: Enforcement::Deny,
            required_labels: vec!["team".into(), "cost-center".into()],
            on_missing_labels: Enforcement::Warn,
            idle_gpu: IdleGpu::default(),
            anomaly: Anomaly::default(),
        }
    }
}

/// Unit prices in USD. The defaults are OpenCost's `configs/default.json`
/// ("Default prices based on GCP us-central1").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Prices {
    /// USD per CPU core-hour (OpenCost `CPU`).
    pub cpu_core_hour: f64,
    /// USD per GiB-hour of RAM (OpenCost `RAM`; OpenCost divides it by 2^30 per byte).
    #[serde(rename = "ramGiBHour")]
    pub ram_gib_hour: f64,
    /// USD per GPU-hour for products not in `gpu_products` (OpenCost `GPU`).
    pub gpu_hour: f64,
    /// USD per GPU-hour by product (`nvidia.com/gpu.product` value).
    pub gpu_products: BTreeMap<String, f64>,
    /// USD per slice-hour by MIG profile (`1g.5gb`); profiles not listed are
    /// priced as their share of compute slices of the whole GPU.
    pub mig_profiles: BTreeMap<String, f64>,
    /// Compute slices of a whole GPU (7 on A100 and H100).
    pub mig_compute_slices: u32,
}

impl Default for Prices {
    fn default() -> Self {
        Prices {
            cpu_core_hour: 0.031611,
            ram_gib_hour: 0.004237,
            gpu_hour: 0.95,
            gpu_products: BTreeMap::new(),
            mig_profiles: BTreeMap::new(),
            mig_compute_slices: 7,
        }
    }
}

/// Monthly budgets in USD.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Budgets {
    /// By namespace.
    pub namespaces: BTreeMap<String, f64>,
    /// By team (the value of the team label).
    pub teams: BTreeMap<String, f64>,
}

/// Whether a finding denies or warns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// Refuse the workload.
    Deny,
    /// Admit it and tell the user.
    Warn,
}

/// Idle-GPU detection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct IdleGpu {
    /// Mean utilisation below this (percent) is idle.
    pub threshold_percent: f64,
    /// Fewer distinct samples than this are not judged.
    pub min_samples: u32,
    /// Utilisation (percent) the recommended replica count aims for.
    pub target_utilization_percent: f64,
}

impl Default for IdleGpu {
    fn default() -> Self {
        IdleGpu {
            threshold_percent: 10.0,
            min_samples: 10,
            target_utilization_percent: 60.0,
        }
    }
}

/// GPU-hours anomaly detection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Anomaly {
    /// GPU-seconds per request, second half over first half, above this is anomalous.
    pub ratio: f64,
    /// Request counts of the halves must differ by at most this fraction of the first.
    pub request_tolerance: f64,
    /// Each half needs at least this many requests.
    pub min_requests: u32,
}

impl Default for Anomaly {
    fn default() -> Self {
        Anomaly {
            ratio: 1.5,
            request_tolerance: 0.2,
            min_requests: 10,
        }
    }
}

/// Check what parsing cannot: ranges and non-empty names. The message names
/// the setting and says what to change.
pub fn validate(s: &Settings) -> Result<(), String> {
    let p = &s.prices;
    price("prices.cpuCoreHour", p.cpu_core_hour)?;
    price("prices.ramGiBHour", p.ram_gib_hour)?;
    price("prices.gpuHour", p.gpu_hour)?;
    for (product, v) in &p.gpu_products {
        non_empty("a prices.gpuProducts key", product)?;
        price(&format!("prices.gpuProducts.{product}"), *v)?;
    }
    for (profile, v) in &p.mig_profiles {
        non_empty("a prices.migProfiles key", profile)?;
        price(&format!("prices.migProfiles.{profile}"), *v)?;
    }
    if p.mig_compute_slices == 0 {
        return Err("prices.migComputeSlices must be at least 1 (7 on A100 and H100)".into());
    }
    for label in &s.gpu_product_labels {
        non_empty("an entry of gpuProductLabels", label)?;
    }
    for (resource, slots) in &s.time_sliced_resources {
        non_empty("a timeSlicedResources key", resource)?;
        if matches!(resource.as_str(), "cpu" | "memory") {
            return Err(format!(
                "timeSlicedResources.{resource}: name the time-sliced GPU resource (for example nvidia.com/gpu.shared), not {resource}"
            ));
        }
        if *slots == 0 {
            return Err(format!(
                "timeSlicedResources.{resource} must be at least 1: the number of slots each GPU is shared into"
            ));
        }
    }
    for (ns, v) in &s.budgets.namespaces {
        price(&format!("budgets.namespaces.{ns}"), *v)?;
    }
    for (team, v) in &s.budgets.teams {
        price(&format!("budgets.teams.{team}"), *v)?;
    }
    non_empty("teamLabel", &s.team_label)?;
    for label in &s.required_labels {
        non_empty("an entry of requiredLabels", label)?;
    }
    let idle = &s.idle_gpu;
    if !(0.0..=100.0).contains(&idle.threshold_percent) {
        return Err(format!(
            "idleGpu.thresholdPercent must be between 0 and 100, got {}",
            idle.threshold_percent
        ));
    }
    if idle.min_samples == 0 {
        return Err("idleGpu.minSamples must be at least 1".into());
    }
    if !(idle.target_utilization_percent > 0.0 && idle.target_utilization_percent <= 100.0) {
        return Err(format!(
            "idleGpu.targetUtilizationPercent must be above 0 and at most 100, got {}",
            idle.target_utilization_percent
        ));
    }
    let a = &s.anomaly;
    if !(a.ratio.is_finite() && a.ratio > 1.0) {
        return Err(format!(
            "anomaly.ratio must be a number above 1, got {}: it is how many times more GPU time per request the second half may use",
            a.ratio
        ));
    }
    if !(0.0..1.0).contains(&a.request_tolerance) {
        return Err(format!(
            "anomaly.requestTolerance must be at least 0 and below 1, got {}",
            a.request_tolerance
        ));
    }
    if a.min_requests == 0 {
        return Err("anomaly.minRequests must be at least 1".into());
    }
    Ok(())
}

fn price(name: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{name} must be a non-negative number of USD, got {value}"
        ))
    }
}

fn non_empty(what: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{what} is empty: remove it or give a name"))
    } else {
        Ok(())
    }
}
