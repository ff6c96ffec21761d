//! The finding codes: stable identifiers, each documented in the README's
//! table. Renaming one breaks users' suppressions and dashboards.

/// A high-risk workload has no explainer.
pub const MISSING: &str = "explainer.missing";
/// The explainer annotation does not name an object.
pub const REFERENCE_INVALID: &str = "explainer.reference-invalid";
/// A pod template is high-risk but the explainer annotation is not on it.
pub const REFERENCE_NOT_PROPAGATED: &str = "explainer.reference-not-propagated";

/// An ExplainerConfiguration of a version this plugin does not know.
pub const UNSUPPORTED_API_VERSION: &str = "explainer.unsupported-api-version";
/// `spec.modelName` is missing.
pub const MODEL_NAME_MISSING: &str = "explainer.model-name-missing";
/// `spec.explainerType` is missing or not allowed.
pub const TYPE_UNSUPPORTED: &str = "explainer.type-unsupported";
/// `spec.explainerConfig.method` is missing.
pub const METHOD_MISSING: &str = "explainer.method-missing";
/// `spec.explainerConfig.numSamples` is missing or out of bounds.
pub const NUM_SAMPLES_OUT_OF_RANGE: &str = "explainer.num-samples-out-of-range";
/// `spec.explainerConfig.backgroundDataStrategy` is missing.
pub const BACKGROUND_STRATEGY_MISSING: &str = "explainer.background-strategy-missing";
/// `spec.explainerConfig.backgroundDataSubsetSize` is missing or out of bounds.
pub const BACKGROUND_SIZE_OUT_OF_RANGE: &str = "explainer.background-size-out-of-range";
/// `spec.integration` lacks the inference service or the endpoint.
pub const INTEGRATION_INCOMPLETE: &str = "explainer.integration-incomplete";
/// `spec.storage.path` is missing.
pub const STORAGE_MISSING: &str = "explainer.storage-missing";
/// `spec.storage.path` does not carry the model version.
pub const STORAGE_PATH_UNVERSIONED: &str = "explainer.storage-path-unversioned";
/// CPU or memory requests are missing.
pub const RESOURCES_MISSING: &str = "explainer.resources-missing";
/// The GPU request is not a usable quantity.
pub const GPU_INVALID: &str = "explainer.gpu-invalid";
/// A fractional GPU names no MIG slice or time-sliced share.
pub const GPU_SHARE_MISSING: &str = "explainer.gpu-share-missing";
/// The GPU share is not a MIG profile or time-slicing share.
pub const GPU_SHARE_INVALID: &str = "explainer.gpu-share-invalid";
/// Fidelity monitoring is not enabled.
pub const MONITORING_DISABLED: &str = "explainer.monitoring-disabled";
/// No alert fires when fidelity drops.
pub const FIDELITY_ALERT_DISABLED: &str = "explainer.fidelity-alert-disabled";
/// The fidelity threshold is missing, below the minimum or above 1.
pub const FIDELITY_THRESHOLD_OUT_OF_RANGE: &str = "explainer.fidelity-threshold-out-of-range";

/// A model's mean explanation fidelity fell below the minimum.
pub const EXPLAINABILITY_DRIFT: &str = "explainer.explainability-drift";
/// Spans carry a fidelity attribute that is not a number in `[0, 1]`.
pub const FIDELITY_INVALID: &str = "explainer.fidelity-invalid";
