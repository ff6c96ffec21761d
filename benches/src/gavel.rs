//! (b) The policy as a gavel plugin through gavel-host: the production path.
//!
//! Per evaluation, as `gavel serve` does it for one plugin: parse the
//! AdmissionReview (`AdmissionReview::from_json`), then `Plugin::evaluate`,
//! which lowers the subject, creates a fresh store and instance from the
//! pooling allocator, arms fuel, the epoch deadline and the memory limit,
//! calls `evaluate` (the guest parses its settings and the object), checks
//! the verdict against the output grant and drops the instance.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, bail};
use gavel_core::{AdmissionReview, Limits, Omit, Outcome, Subject};
use gavel_host::{Plugin, Runtime, RuntimeBuilder};

use crate::{Answer, Engine, Policy};

/// `RuntimeBuilder::max_concurrent_instances` for [`runtime`]; 0 keeps the
/// default.
static MAX_INSTANCES: AtomicU32 = AtomicU32::new(0);

/// Size the pool of the runtime [`runtime`] builds, before its first call.
/// Only for running under valgrind, whose address space cannot hold the
/// default pool's reservation (about 2 TiB of virtual memory); the pool's
/// size made no per-evaluation difference when measured (TOOLCHAIN.md).
pub fn set_max_instances(n: u32) {
    MAX_INSTANCES.store(n, Ordering::Relaxed);
}

/// Whether (b) shows plugins the whole object instead of the default grant.
static FULL_INPUT: AtomicBool = AtomicBool::new(false);

/// Show plugins the whole object (`input.omit: []`) instead of what a
/// default policy-set grant shows them (without `metadata.managedFields` and
/// the last-applied-configuration annotation, `gavel_core::project`).
pub fn set_full_input(full: bool) {
    FULL_INPUT.store(full, Ordering::Relaxed);
}

/// Whether [`runtime`] meters fuel.
static NO_FUEL: AtomicBool = AtomicBool::new(false);

/// Build [`runtime`] without fuel metering (`RuntimeBuilder::fuel(false)`),
/// before its first call: measures what fuel costs.
pub fn set_no_fuel(no_fuel: bool) {
    NO_FUEL.store(no_fuel, Ordering::Relaxed);
}

/// Whether [`Gavel::new`] pre-initialises the plugin with its settings.
static NO_PREINIT: AtomicBool = AtomicBool::new(false);

/// Evaluate plugins as compiled, without pre-initialising them with their
/// settings (`RuntimeBuilder::preinitialize(false)`): each evaluation then
/// parses the settings JSON, as before pre-initialisation existed.
pub fn set_no_preinit(no_preinit: bool) {
    NO_PREINIT.store(no_preinit, Ordering::Relaxed);
}

/// The process's one runtime, as an embedder shares one (default
/// configuration: pooling allocator, copy-on-write images, keep-resident
/// memory, `pagemap_scan`).
pub fn runtime() -> anyhow::Result<Runtime> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    if let Some(r) = RUNTIME.get() {
        return Ok(r.clone());
    }
    let mut builder = RuntimeBuilder::new()
        .fuel(!NO_FUEL.load(Ordering::Relaxed))
        .preinitialize(!NO_PREINIT.load(Ordering::Relaxed));
    match MAX_INSTANCES.load(Ordering::Relaxed) {
        0 => {}
        n => builder = builder.max_concurrent_instances(n).max_memory_mib(64),
    }
    let built = builder.build().context("cannot start the wasm runtime")?;
    Ok(RUNTIME.get_or_init(|| built).clone())
}

/// The bytes of the bundled plugin `name`, built by gavel-artifacts.
pub fn component(name: &str) -> anyhow::Result<Vec<u8>> {
    let (_, path) = gavel_artifacts::PLUGINS
        .iter()
        .find(|(n, _)| *n == name)
        .with_context(|| format!("no plugin `{name}` in plugins/"))?;
    std::fs::read(path).with_context(|| format!("reading {path}"))
}

/// A compiled plugin with its settings and the default limits.
pub struct Gavel {
    plugin: Arc<Plugin>,
    policy: Policy,
    settings: String,
    limits: Limits,
    omit: Omit,
}

impl Gavel {
    /// Load the plugin of `policy`, check its settings and pre-initialise it
    /// with them, as loading a policy set does.
    pub fn new(policy: Policy) -> anyhow::Result<Self> {
        let runtime = runtime()?;
        let bytes = component(policy.name())?;
        let plugin = runtime.load_plugin(policy.name(), &bytes)?;
        // A policy set hands plugins compact JSON (converted from YAML).
        let value: serde_json::Value = serde_json::from_str(policy.settings())?;
        let settings = value.to_string();
        let limits = Limits::default();
        plugin
            .validate_settings(&settings, &limits)
            .map_err(|f| anyhow::anyhow!("{policy}: settings rejected: {f}"))?;
        let plugin = runtime.preinitialize(&plugin, &bytes, &settings, &limits);
        let omit = match FULL_INPUT.load(Ordering::Relaxed) {
            true => Omit::default(),
            false => Omit::default_set(),
        };
        Ok(Gavel {
            plugin,
            policy,
            settings,
            limits,
            omit,
        })
    }

    /// The plugin (for profiling its evaluation alone).
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// The settings text the plugin receives.
    pub fn settings(&self) -> &str {
        &self.settings
    }

    /// The limits it runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl Engine for Gavel {
    fn label(&self) -> &'static str {
        "gavel"
    }

    fn evaluate(&mut self, body: &[u8]) -> anyhow::Result<Answer> {
        let review = AdmissionReview::from_json(body)?;
        let subject = Subject::Admission(review.request);
        // As a policy set's `input` grant does (`LoadedPlugin::evaluate`).
        let shown = subject.project(&self.omit);
        let shown = shown.as_ref().unwrap_or(&subject);
        let evaluation = self.plugin.evaluate(shown, &self.settings, &self.limits);
        let verdict = match evaluation.outcome {
            Outcome::Verdict(v) => v,
            other => bail!("{}: the plugin did not answer: {other:?}", self.policy),
        };
        Ok(Answer {
            decision: verdict.decision,
            codes: verdict.findings.into_iter().map(|f| f.code).collect(),
            hourly_cost: verdict
                .metrics
                .iter()
                .find(|m| m.name == "hourly_cost_usd")
                .map(|m| m.value),
        })
    }
}
