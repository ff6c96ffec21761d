//! One compiled plugin, and the fresh-instance-per-evaluation cycle.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gavel_core::{Failure, FailureKind, Limits, Outcome, PluginMetadata, Subject, Verdict};
use serde::Serialize;
use wasmtime::component::Component;
use wasmtime::{Store, Trap};

use crate::bindings::{self, PluginBindings, PluginBindingsPre};
use crate::error::LoadError;
use crate::runtime::{EPOCH_TICK, Runtime};
use crate::store::{LogLevel, StoreState};
use crate::{imports, wasi};

/// A plugin log line (from the `log` import, or captured stdout/stderr).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Level, or which stream it was captured from.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// The result of one evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// A verdict, or a failure of a named kind; never `Skipped`.
    pub outcome: Outcome,
    /// Wall-clock time, instantiation included.
    pub duration: Duration,
    /// Fuel the plugin used (0 when the runtime does not meter fuel).
    pub fuel_consumed: u64,
    /// What the plugin logged, within its log budget.
    pub logs: Vec<LogLine>,
    /// Log lines dropped for exceeding the budget.
    pub dropped_logs: u64,
}

/// A compiled plugin, ready to evaluate. `Send + Sync`: evaluate it from as
/// many threads as you like, each call gets its own instance.
pub struct Plugin {
    runtime: Runtime,
    origin: String,
    sha256: String,
    metadata: PluginMetadata,
    name: Arc<str>,
    pre: PluginBindingsPre<StoreState>,
    uses_wasi: bool,
    /// The sha256 of the settings the instance state was snapshotted with,
    /// when the plugin is pre-initialised ([`crate::preinit`]).
    preinitialized: Option<String>,
    /// Compiled from the component instrumented for snapshots (it exports
    /// Wizer's state accessors besides the plugin's own functions), so a
    /// snapshot needs no second compilation.
    pub(crate) instrumented: bool,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("origin", &self.origin)
            .field("sha256", &self.sha256)
            .field("metadata", &self.metadata)
            .field("uses_wasi", &self.uses_wasi)
            .field("preinitialized", &self.preinitialized)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Compile `bytes` (or load them from the compile cache under
    /// `cache_key`). `sha256` is the digest of the component as the policy
    /// set names it: for a pre-initialised plugin, of the component before
    /// the snapshot.
    pub(crate) fn compile(
        runtime: &Runtime,
        origin: &str,
        bytes: &[u8],
        sha256: String,
        cache_key: &str,
        preinitialized: Option<String>,
    ) -> Result<Plugin, LoadError> {
        let inner = &runtime.inner;
        let engine = &inner.engine;
        let compile_err = |e: wasmtime::Error| LoadError::Compile {
            origin: origin.to_owned(),
            reason: format!("{e:#}"),
        };
        let artifact = engine.precompile_component(bytes).map_err(compile_err)?;
        if let Some(cache) = &inner.cache {
            cache.store(cache_key, &artifact);
        }
        // SAFETY: `artifact` was produced just now, in this process, by this
        // engine's `precompile_component`.
        let component =
            unsafe { Component::deserialize(engine, &artifact) }.map_err(compile_err)?;
        Self::from_component(runtime, origin, component, sha256, preinitialized)
    }

    /// The plugin the compile cache holds under `cache_key`, if it holds one.
    pub(crate) fn cached(
        runtime: &Runtime,
        origin: &str,
        sha256: &str,
        cache_key: &str,
        preinitialized: Option<&str>,
    ) -> Option<Result<Plugin, LoadError>> {
        let inner = &runtime.inner;
        let component = inner.cache.as_ref()?.load(&inner.engine, cache_key)?;
        Some(Self::from_component(
            runtime,
            origin,
            component,
            sha256.to_owned(),
            preinitialized.map(str::to_owned),
        ))
    }

    /// Link a compiled component and ask it for its metadata.
    fn from_component(
        runtime: &Runtime,
        origin: &str,
        component: Component,
        sha256: String,
        preinitialized: Option<String>,
    ) -> Result<Plugin, LoadError> {
        let inner = &runtime.inner;
        let engine = &inner.engine;
        let uses_wasi = imports::check(engine, &component, origin)?;
        let linker = if uses_wasi { &inner.wasi } else { &inner.pure };
        let not_a_plugin = |e: wasmtime::Error| LoadError::NotAPlugin {
            origin: origin.to_owned(),
            reason: format!("{e:#}"),
        };
        let instance_pre = linker.instantiate_pre(&component).map_err(not_a_plugin)?;
        let pre = PluginBindingsPre::new(instance_pre).map_err(not_a_plugin)?;

        let mut plugin = Plugin {
            runtime: runtime.clone(),
            origin: origin.to_owned(),
            sha256,
            metadata: PluginMetadata {
                name: origin.to_owned(),
                version: String::new(),
                description: String::new(),
                category: gavel_core::Category::Other,
                subjects: Vec::new(),
                settings_schema: String::new(),
            },
            name: Arc::from(origin),
            pre,
            uses_wasi,
            preinitialized,
            instrumented: false,
        };
        let (result, _) = plugin.run(&Limits::default(), |b, store| b.call_metadata(store));
        let metadata = result.map_err(|f| LoadError::Metadata {
            origin: origin.to_owned(),
            reason: f.to_string(),
        })?;
        plugin.metadata = bindings::metadata(metadata);
        plugin.name = Arc::from(plugin.metadata.name.as_str());
        Ok(plugin)
    }

    /// What the plugin says about itself.
    pub fn metadata(&self) -> &PluginMetadata {
        &self.metadata
    }

    /// The sha256 of the component bytes, lower-case hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Where the bytes came from (a path or `builtin:name`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// True when the component imports WASI (and so runs with the
    /// locked-down WASI context, ~5 µs slower per evaluation).
    pub fn uses_wasi(&self) -> bool {
        self.uses_wasi
    }

    /// The sha256 (lower-case hex) of the settings text this plugin was
    /// pre-initialised with: its evaluations (and `metadata` and
    /// `validate-settings` calls) start from an instance that already ran
    /// `validate-settings` on them. `None` for a plugin as compiled from
    /// its bytes.
    pub fn preinitialized_with(&self) -> Option<&str> {
        self.preinitialized.as_deref()
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The linked component, for instantiating it other than through `run`.
    pub(crate) fn instance_pre(&self) -> &wasmtime::component::InstancePre<StoreState> {
        self.pre.instance_pre()
    }

    /// Ask the plugin whether `settings` (JSON text) are valid.
    pub fn validate_settings(&self, settings: &str, limits: &Limits) -> Result<(), Failure> {
        let (result, _) = self.run(limits, |b, store| b.call_validate_settings(store, settings));
        result?.map_err(|m| Failure::new(FailureKind::SettingsRejected, m))
    }

    /// Evaluate `subject` under `settings` (JSON text) in a fresh instance
    /// limited by `limits`. Never panics and never returns an error: a
    /// plugin that breaks yields [`Outcome::Failed`].
    pub fn evaluate(&self, subject: &Subject, settings: &str, limits: &Limits) -> Evaluation {
        let start = Instant::now();
        let size = subject.approximate_size();
        if size as u64 > limits.max_input_bytes {
            return Evaluation {
                outcome: Outcome::Failed(Failure::new(
                    FailureKind::InputTooLarge,
                    format!(
                        "subject is {size} bytes, the plugin is granted {} (raise limits.maxInputBytes)",
                        limits.max_input_bytes
                    ),
                )),
                duration: start.elapsed(),
                fuel_consumed: 0,
                logs: Vec::new(),
                dropped_logs: 0,
            };
        }
        let (result, run) = bindings::with_subject(subject, |wit_subject| {
            self.run(limits, |b, store| {
                b.call_evaluate(store, wit_subject, settings)
            })
        });
        let outcome = match result {
            Ok(Ok(verdict)) => match check_output(bindings::verdict(verdict), limits) {
                Ok(v) => Outcome::Verdict(v),
                Err(f) => Outcome::Failed(f),
            },
            Ok(Err(e)) => Outcome::Failed(bindings::plugin_error(e)),
            Err(f) => Outcome::Failed(f),
        };
        Evaluation {
            outcome,
            duration: start.elapsed(),
            fuel_consumed: run.fuel_consumed,
            logs: run.logs,
            dropped_logs: run.dropped_logs,
        }
    }

    /// A store for one instance of this plugin, armed with `limits`.
    pub(crate) fn store(&self, limits: &Limits) -> Result<Store<StoreState>, Failure> {
        let max_log = usize::try_from(limits.max_log_bytes).unwrap_or(usize::MAX);
        let mut state = StoreState::new(self.name.clone(), memory_bytes(limits), max_log);
        if self.uses_wasi {
            state.wasi = Some(wasi::locked_down(max_log));
        }
        let mut store = Store::new(&self.runtime.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Bounds the bytes wasmtime copies out of the guest per call (log
        // lines, and the verdict itself): without it a small plugin could
        // return a million findings aliasing one large string and make the
        // host allocate far more than the guest's memory.
        store.set_hostcall_fuel(hostcall_budget(limits));
        let ticks = limits.timeout_ms.div_ceil(EPOCH_TICK.as_millis() as u64) + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        if self.runtime.inner.fuel {
            store
                .set_fuel(limits.fuel)
                .map_err(|e| Failure::new(FailureKind::Instantiation, format!("{e:#}")))?;
        }
        Ok(store)
    }

    /// One fresh instance, one call, under `limits`.
    fn run<R>(
        &self,
        limits: &Limits,
        call: impl FnOnce(&PluginBindings, &mut Store<StoreState>) -> wasmtime::Result<R>,
    ) -> (Result<R, Failure>, RunStats) {
        let mut store = match self.store(limits) {
            Ok(store) => store,
            Err(f) => {
                let stats = RunStats {
                    fuel_consumed: 0,
                    logs: Vec::new(),
                    dropped_logs: 0,
                };
                return (Err(f), stats);
            }
        };
        let result = match self.pre.instantiate(&mut store) {
            Err(e) => Err(classify(
                e,
                store.data(),
                limits,
                FailureKind::Instantiation,
            )),
            Ok(bindings) => call(&bindings, &mut store)
                .map_err(|e| classify(e, store.data(), limits, FailureKind::Trap)),
        };
        let fuel_consumed = match self.runtime.inner.fuel {
            true => limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
            false => 0,
        };
        let mut state = store.into_data();
        state.drain_stdio();
        (
            result,
            RunStats {
                fuel_consumed,
                logs: state.logs,
                dropped_logs: state.dropped_logs,
            },
        )
    }
}

/// The memory grant of `limits`, bytes.
pub(crate) fn memory_bytes(limits: &Limits) -> usize {
    usize::try_from(limits.memory_mib << 20).unwrap_or(usize::MAX)
}

struct RunStats {
    fuel_consumed: u64,
    logs: Vec<LogLine>,
    dropped_logs: u64,
}

/// Bytes the host accepts from the guest in one call: the output grant plus
/// the records' own size (a finding record is 32 bytes in the canonical ABI).
fn hostcall_budget(limits: &Limits) -> usize {
    let bytes = limits
        .max_output_bytes
        .saturating_add(u64::from(limits.max_findings).saturating_mul(64))
        .saturating_add(limits.max_log_bytes)
        .saturating_add(64 << 10);
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// Name the failure behind a wasmtime error.
fn classify(
    err: wasmtime::Error,
    state: &StoreState,
    limits: &Limits,
    otherwise: FailureKind,
) -> Failure {
    let memory = || {
        Failure::new(
            FailureKind::MemoryLimit,
            format!(
                "plugin tried to grow its memory past its {} MiB grant",
                limits.memory_mib
            ),
        )
    };
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Failure::new(
            FailureKind::FuelExhausted,
            format!("plugin used all of its {} fuel", limits.fuel),
        ),
        Some(Trap::Interrupt) => Failure::new(
            FailureKind::Deadline,
            format!("plugin ran past its {} ms deadline", limits.timeout_ms),
        ),
        _ if state.limiter.memory_exceeded => memory(),
        Some(trap) => {
            // The SDK's panic hook logs the panic message at error level just
            // before the trap; it is the most useful thing to show.
            let why = state
                .logs
                .iter()
                .rev()
                .find(|l| l.level == LogLevel::Error)
                .map(|l| format!(" after logging: {}", l.message))
                .unwrap_or_default();
            Failure::new(FailureKind::Trap, format!("plugin trapped ({trap}){why}"))
        }
        None if format!("{err}").contains("fuel allocated for hostcalls has been exhausted") => {
            Failure::new(
                FailureKind::InvalidOutput,
                format!(
                    "plugin tried to hand the host more data than its output grant ({} findings, {} bytes of text)",
                    limits.max_findings, limits.max_output_bytes
                ),
            )
        }
        None => Failure::new(otherwise, format!("{err:#}")),
    }
}

/// Enforce the output grant on a verdict the plugin returned.
fn check_output(verdict: Verdict, limits: &Limits) -> Result<Verdict, Failure> {
    let invalid = |m: String| Err(Failure::new(FailureKind::InvalidOutput, m));
    if verdict.findings.len() > limits.max_findings as usize {
        return invalid(format!(
            "verdict has {} findings, the plugin is granted {} (raise limits.maxFindings or report fewer)",
            verdict.findings.len(),
            limits.max_findings
        ));
    }
    let size = verdict.text_size();
    if size as u64 > limits.max_output_bytes {
        return invalid(format!(
            "verdict carries {size} bytes of text, the plugin is granted {} (raise limits.maxOutputBytes)",
            limits.max_output_bytes
        ));
    }
    if let Some(m) = verdict.metrics.iter().find(|m| !m.value.is_finite()) {
        return invalid(format!(
            "metric `{}` is {}: omit a metric that has no value",
            m.name, m.value
        ));
    }
    Ok(verdict)
}
