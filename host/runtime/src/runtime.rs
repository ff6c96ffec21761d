//! The engine every plugin of a process shares: one wasmtime `Engine` tuned
//! for the fresh-instance-per-evaluation pattern, the two linkers, the epoch
//! ticker and the compile cache.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings;
use crate::cache::CompileCache;
use crate::error::LoadError;
use crate::plugin::Plugin;
use crate::preinit;
use crate::store::StoreState;

/// How often the epoch advances: the granularity of plugin deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Configures a [`Runtime`].
///
/// The defaults are the fast path measured in `shared/TOOLCHAIN.md`: the
/// pooling allocator with copy-on-write memory images, memory kept resident
/// between instances and reset with one `pagemap_scan` ioctl where the kernel
/// has it.
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    max_concurrent_instances: u32,
    max_memory_mib: u64,
    cache_dir: Option<PathBuf>,
    pooling: bool,
    fuel: bool,
    preinitialize: bool,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            max_concurrent_instances: 128,
            max_memory_mib: 1024,
            cache_dir: None,
            pooling: true,
            fuel: true,
            preinitialize: true,
        }
    }
}

impl RuntimeBuilder {
    /// The default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many plugin instances may be alive at once (concurrent
    /// evaluations). Past it an evaluation fails with
    /// [`FailureKind::Instantiation`](gavel_core::FailureKind::Instantiation).
    /// Default 128.
    pub fn max_concurrent_instances(mut self, n: u32) -> Self {
        self.max_concurrent_instances = n.max(1);
        self
    }

    /// The largest linear memory any plugin may be granted, MiB. Default 1024.
    pub fn max_memory_mib(mut self, mib: u64) -> Self {
        self.max_memory_mib = mib.max(1);
        self
    }

    /// Keep precompiled plugins in `dir`, keyed by content hash and engine
    /// configuration, so that a restart loads them in milliseconds. The
    /// directory must be writable by this process only: gavel loads native
    /// code from it.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Use the on-demand allocator instead of the pooling allocator (for
    /// measurements, or hosts that cannot reserve the pool's address space).
    pub fn pooling(mut self, enabled: bool) -> Self {
        self.pooling = enabled;
        self
    }

    /// Meter plugins with fuel (the default). Without fuel, `limits.fuel` is
    /// not enforced and only the wall-clock deadline bounds a plugin's CPU
    /// time: evaluations run faster (fuel checks instrument every loop of
    /// the compiled guest), but a plugin that runs out of budget does so at
    /// a point that depends on the machine, so audit replay of such a
    /// decision is no longer exact. For measurements and embedders that
    /// trust their plugins.
    pub fn fuel(mut self, enabled: bool) -> Self {
        self.fuel = enabled;
        self
    }

    /// Pre-initialise plugins with their settings when a policy set is
    /// loaded (the default): each plugin entry's instance state after
    /// `validate-settings` becomes the state every evaluation starts from,
    /// so a plugin that keeps what it parsed (gavel-sdk plugins do) does not
    /// parse its settings per evaluation. Costs one more compilation per
    /// plugin and settings, kept in the compile cache. Only small WASI-free
    /// components are pre-initialised; see [`Plugin::preinitialized_with`].
    pub fn preinitialize(mut self, enabled: bool) -> Self {
        self.preinitialize = enabled;
        self
    }

    /// Build the runtime and start its epoch ticker.
    pub fn build(self) -> Result<Runtime, LoadError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(self.fuel)
            .epoch_interruption(true)
            .memory_init_cow(true)
            .parallel_compilation(true)
            // The same plugin on the same input must give the same verdict on
            // any machine, or audit replay means nothing.
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true);
        if self.pooling {
            let n = self.max_concurrent_instances;
            let mut pool = PoolingAllocationConfig::new();
            // Python and JS guests are made of many core instances with large
            // vmctx; these per-component bounds admit them (TOOLCHAIN.md).
            pool.total_component_instances(n)
                .total_core_instances(n.saturating_mul(16))
                .total_memories(n.saturating_mul(4))
                .total_tables(n.saturating_mul(4))
                .total_stacks(n)
                .max_core_instances_per_component(512)
                .max_memories_per_component(16)
                .max_tables_per_component(64)
                .max_core_instance_size(1 << 20)
                .max_component_instance_size(1 << 20)
                .table_elements(100_000)
                .max_memory_size(usize::try_from(self.max_memory_mib << 20).unwrap_or(usize::MAX))
                .linear_memory_keep_resident(4 << 20)
                .table_keep_resident(64 << 10)
                .pagemap_scan(Enabled::Auto);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;

        let mut pure = Linker::new(&engine);
        bindings::add_log_to_linker(&mut pure).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let mut wasi = pure.clone();
        wasmtime_wasi::p2::add_to_linker_sync(&mut wasi)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        crate::wasi::forbid_sleeping(&mut wasi).map_err(|e| LoadError::Engine(format!("{e:#}")))?;

        spawn_epoch_ticker(&engine);
        let cache = self.cache_dir.map(|dir| CompileCache::new(dir, &engine));
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                pure,
                wasi,
                cache,
                max_memory_mib: self.max_memory_mib,
                fuel: self.fuel,
                preinitialize: self.preinitialize,
                loaded: Mutex::new(HashMap::new()),
                preinit_failed: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// Advance the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("gavel-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        // Without a ticker deadlines never fire; fuel, when metered, still
        // bounds every evaluation. Say so loudly rather than refuse to start.
        tracing::error!(
            "cannot start the epoch ticker thread, plugin deadlines will not be enforced: {e}"
        );
    }
}

/// A gavel runtime: compiles plugins and runs them. Cheap to clone, `Send +
/// Sync`; share one per process.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    /// Linker for plugins that import only `gavel:policy/log`: the fast path.
    pub(crate) pure: Linker<StoreState>,
    /// Linker that adds a locked-down WASI p2, for guests whose toolchain imports it.
    pub(crate) wasi: Linker<StoreState>,
    pub(crate) cache: Option<CompileCache>,
    pub(crate) max_memory_mib: u64,
    /// Whether the engine meters fuel.
    pub(crate) fuel: bool,
    /// Whether policy-set plugins are pre-initialised with their settings.
    pub(crate) preinitialize: bool,
    /// Plugins already compiled, by cache key (the sha256 of the component,
    /// or of component and settings when pre-initialised), so that
    /// reloading a policy set does not recompile unchanged plugins.
    pub(crate) loaded: Mutex<HashMap<String, Weak<Plugin>>>,
    /// Pre-initialisations that failed, by key, with the reason: not tried
    /// again on every reload (the attempt compiles the component).
    pub(crate) preinit_failed: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("max_memory_mib", &self.inner.max_memory_mib)
            .field("cache", &self.inner.cache.as_ref().map(|c| c.dir()))
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// The largest memory grant this runtime accepts, MiB.
    pub fn max_memory_mib(&self) -> u64 {
        self.inner.max_memory_mib
    }

    /// Compile (or fetch from the caches) a plugin from component bytes.
    /// `origin` names the bytes in error messages (a path or `builtin:x`).
    ///
    /// When the runtime pre-initialises plugins and the component is one it
    /// may snapshot, what is compiled is the component instrumented for
    /// snapshots ([`Runtime::preinitialize`]): it behaves the same and
    /// exports Wizer's state accessors besides, and a snapshot of it then
    /// costs one compilation instead of two.
    pub fn load_plugin(&self, origin: &str, bytes: &[u8]) -> Result<Arc<Plugin>, LoadError> {
        let sha256 = gavel_core::digest::sha256_hex(bytes);
        if !self.inner.preinitialize || bytes.len() > preinit::MAX_PREINIT_BYTES {
            return self.load_keyed(&sha256, || {
                self.cached_or_compile(origin, bytes, &sha256, &sha256, None)
            });
        }
        let key = gavel_core::digest::sha256_hex(
            format!("{sha256}\ninstrumented\n{}", preinit::SNAPSHOT_FORMAT).as_bytes(),
        );
        self.load_keyed(&key, || {
            let mut instrumented = match Plugin::cached(self, origin, &sha256, &key, None) {
                Some(cached) => cached?,
                None => match preinit::instrument(bytes) {
                    Ok(instrumented) => {
                        Plugin::compile(self, origin, &instrumented, sha256.clone(), &key, None)?
                    }
                    Err(reason) => {
                        tracing::warn!(
                            plugin = %origin,
                            "compiling the component as it is, it will not be pre-initialised with its settings: {reason}"
                        );
                        return self.cached_or_compile(origin, bytes, &sha256, &sha256, None);
                    }
                },
            };
            instrumented.instrumented = true;
            Ok(instrumented)
        })
    }

    /// The plugin the compile cache holds under `key`, or `bytes` compiled.
    fn cached_or_compile(
        &self,
        origin: &str,
        bytes: &[u8],
        sha256: &str,
        key: &str,
        preinitialized: Option<&str>,
    ) -> Result<Plugin, LoadError> {
        match Plugin::cached(self, origin, sha256, key, preinitialized) {
            Some(plugin) => plugin,
            None => Plugin::compile(
                self,
                origin,
                bytes,
                sha256.to_owned(),
                key,
                preinitialized.map(str::to_owned),
            ),
        }
    }

    /// `plugin` (compiled from `bytes`) pre-initialised with `settings`,
    /// which it has accepted, under `limits`: every evaluation of the plugin
    /// returned starts from the state its instance had after
    /// `validate-settings(settings)`. Returns `plugin` itself when
    /// pre-initialisation is turned off, when the component is not one gavel
    /// pre-initialises (WASI guests, or larger than 4 MiB), when `bytes` are
    /// not the plugin's, or when it fails (logged as a warning once per
    /// plugin, settings and limits; the plugin then configures itself per
    /// evaluation, as the WIT contract allows).
    pub fn preinitialize(
        &self,
        plugin: &Arc<Plugin>,
        bytes: &[u8],
        settings: &str,
        limits: &gavel_core::Limits,
    ) -> Arc<Plugin> {
        if !self.inner.preinitialize || !preinit::eligible(plugin) {
            return plugin.clone();
        }
        let origin = plugin.origin();
        if gavel_core::digest::sha256_hex(bytes) != plugin.sha256() {
            tracing::warn!(
                plugin = %origin,
                "not pre-initialising: the bytes given are not the plugin's (its sha256 differs)"
            );
            return plugin.clone();
        }
        let settings_sha = gavel_core::digest::sha256_hex(settings.as_bytes());
        // The snapshot's memory is every evaluation's starting memory, so
        // the memory grant is part of what it was made for.
        let key = gavel_core::digest::sha256_hex(
            format!(
                "{}\n{settings_sha}\n{}\n{}",
                plugin.sha256(),
                limits.memory_mib,
                preinit::SNAPSHOT_FORMAT
            )
            .as_bytes(),
        );
        if let Some(reason) = self.failed_preinit(&key) {
            tracing::debug!(plugin = %origin, "not pre-initialising again: {reason}");
            return plugin.clone();
        }
        let loaded = self.load_keyed(&key, || {
            if let Some(cached) =
                Plugin::cached(self, origin, plugin.sha256(), &key, Some(&settings_sha))
            {
                return cached.map_err(|e| e.to_string());
            }
            let snapshot = preinit::preinitialize(plugin, bytes, settings, limits)?;
            Plugin::compile(
                self,
                origin,
                &snapshot,
                plugin.sha256().to_owned(),
                &key,
                Some(settings_sha.clone()),
            )
            .map_err(|e| format!("the snapshot does not load: {e}"))
        });
        match loaded {
            Ok(configured) => configured,
            Err(reason) => {
                tracing::warn!(
                    plugin = %origin,
                    "cannot pre-initialise the plugin with its settings, it will parse them on every evaluation: {reason}"
                );
                let mut failed = self
                    .inner
                    .preinit_failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                failed.insert(key, reason);
                plugin.clone()
            }
        }
    }

    /// Why pre-initialising under `key` failed before, if it did.
    fn failed_preinit(&self, key: &str) -> Option<String> {
        let failed = self
            .inner
            .preinit_failed
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        failed.get(key).cloned()
    }

    /// The plugin `loaded` holds under `key`, or the one `make` builds.
    fn load_keyed<E>(
        &self,
        key: &str,
        make: impl FnOnce() -> Result<Plugin, E>,
    ) -> Result<Arc<Plugin>, E> {
        let mut loaded = self.inner.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(plugin) = loaded.get(key).and_then(Weak::upgrade) {
            return Ok(plugin);
        }
        let plugin = Arc::new(make()?);
        loaded.retain(|_, w| w.strong_count() > 0);
        loaded.insert(key.to_owned(), Arc::downgrade(&plugin));
        Ok(plugin)
    }
}

/// What a component imports and exports, read without instantiating it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentShape {
    /// Import names (interfaces or functions).
    pub imports: Vec<String>,
    /// Export names (interfaces or functions).
    pub exports: Vec<String>,
}

impl Runtime {
    /// Compile `bytes` and list its imports and exports, whether or not it
    /// is a gavel plugin (for `gavel inspect`).
    pub fn shape(&self, origin: &str, bytes: &[u8]) -> Result<ComponentShape, LoadError> {
        let engine = &self.inner.engine;
        let component =
            wasmtime::component::Component::new(engine, bytes).map_err(|e| LoadError::Compile {
                origin: origin.to_owned(),
                reason: format!("{e:#}"),
            })?;
        let ty = component.component_type();
        Ok(ComponentShape {
            imports: ty.imports(engine).map(|(n, _)| n.to_owned()).collect(),
            exports: ty.exports(engine).map(|(n, _)| n.to_owned()).collect(),
        })
    }
}
