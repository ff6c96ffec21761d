//! Pre-initialisation: a plugin configured with its settings once per
//! policy-set version, not once per evaluation.
//!
//! Every evaluation runs in a fresh instance, so a plugin that parses its
//! settings does so on every call. Instead, when a policy set is loaded,
//! gavel instantiates the plugin once, calls `validate-settings` with the
//! entry's settings, snapshots the instance's memories and globals, and
//! rewrites the component with that state as its initial state (wasmtime's
//! Wizer). Every evaluation then starts from the snapshot through the same
//! copy-on-write memory image as before: a plugin that kept what
//! `validate-settings` parsed (gavel-sdk does) finds it already there.
//!
//! The WIT contract allows this: `validate-settings` is called before a
//! plugin is put in service, and `evaluate` still receives the settings text,
//! so a plugin that keeps nothing, or a guest whose state is not snapshotted,
//! behaves exactly as before. Only components gavel can safely snapshot are
//! pre-initialised ([`eligible`]); any other, or any failure, falls back to
//! the component as compiled.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use gavel_core::Limits;
use wasmtime::Store;
use wasmtime::component::{Instance, WasmList};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use crate::bindings::PluginBindings;
use crate::plugin::{Plugin, memory_bytes};
use crate::store::StoreState;

/// Pre-initialise components up to this size. SDK plugins are well under
/// 1 MiB; Python and JavaScript components (2–20 MB) arrive pre-initialised
/// by their own toolchains, and snapshotting one again would only cost
/// seconds of compilation.
pub(crate) const MAX_PREINIT_BYTES: usize = 4 << 20;

/// Snapshot instances whose memories total at most this after
/// `validate-settings`. A snapshot is compiled into the plugin's artifact, so
/// a plugin that fills a large memory while configuring itself would make
/// loading slow and the artifact large; it configures itself per
/// evaluation instead.
pub(crate) const MAX_SNAPSHOT_MEMORY: usize = 16 << 20;

/// Part of the compile-cache key of a pre-initialised plugin, so that a new
/// snapshot format never reuses an old artifact.
pub(crate) const SNAPSHOT_FORMAT: &str = "wizer-48.0";

/// Whether gavel pre-initialises a plugin: one compiled instrumented (small
/// components Wizer can instrument, [`Runtime::load_plugin`]) that is
/// WASI-free (what gavel-sdk builds). A WASI guest could read clocks or
/// randomness while configuring itself, and the snapshot would freeze them.
/// A snapshot is never instrumented, so it is not pre-initialised again.
///
/// [`Runtime::load_plugin`]: crate::Runtime::load_plugin
pub(crate) fn eligible(plugin: &Plugin) -> bool {
    plugin.instrumented && !plugin.uses_wasi()
}

/// `bytes` instrumented for snapshotting: the same component, exporting
/// Wizer's accessors of its memories and globals besides. Never panics.
pub(crate) fn instrument(bytes: &[u8]) -> Result<Vec<u8>, String> {
    unwinding("instrument", || {
        Wizer::new()
            .instrument_component(bytes)
            .map(|(_, instrumented)| instrumented)
            .map_err(|e| format!("cannot instrument the component: {e:#}"))
    })
}

/// Run `f`, turning a panic into an error: Wizer asserts on component shapes
/// it does not support, and such a panic is a reason to fall back like any
/// other. `what` names the step in the message.
fn unwinding<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        Err(format!("wizer cannot {what} this component ({message})"))
    })
}

/// Instantiate `plugin` (an [`eligible`] one, compiled instrumented from
/// `bytes`) once, configure it with `settings` under `limits`, and return
/// the component that starts where that instance stopped. Never panics.
pub(crate) fn preinitialize(
    plugin: &Plugin,
    bytes: &[u8],
    settings: &str,
    limits: &Limits,
) -> Result<Vec<u8>, String> {
    unwinding("snapshot", || snapshot(plugin, bytes, settings, limits))
}

fn snapshot(
    plugin: &Plugin,
    bytes: &[u8],
    settings: &str,
    limits: &Limits,
) -> Result<Vec<u8>, String> {
    let inner = &plugin.runtime().inner;
    let wizer = Wizer::new();
    // Instrumentation is deterministic: `cx` describes the accessors of the
    // instrumented component `plugin` was compiled from.
    let (cx, _) = wizer
        .instrument_component(bytes)
        .map_err(|e| format!("cannot instrument the component: {e:#}"))?;
    let pre = plugin.instance_pre();
    let mut store = plugin
        .store(limits)
        .map_err(|f| format!("cannot make a store: {f}"))?;
    let instance = pre
        .instantiate(&mut store)
        .map_err(|e| format!("cannot instantiate the instrumented component: {e:#}"))?;
    let bindings = PluginBindings::new(&mut store, &instance)
        .map_err(|e| format!("the instrumented component lost its exports: {e:#}"))?;
    match bindings.call_validate_settings(&mut store, settings) {
        Ok(Ok(())) => {}
        Ok(Err(m)) => return Err(format!("the plugin rejected its settings: {m}")),
        Err(e) => return Err(format!("validate-settings failed: {e:#}")),
    }
    // The limiter counts every memory from its creation. Every evaluation
    // starts with the snapshot's memory and needs room to grow beyond it.
    let memory = store.data().limiter.total;
    let bound = MAX_SNAPSHOT_MEMORY.min(memory_bytes(limits) / 2);
    if memory > bound {
        return Err(format!(
            "its memory reached {} KiB while it validated its settings; gavel snapshots at most {} KiB (16 MiB, and half of limits.memoryMiB)",
            memory >> 10,
            bound >> 10
        ));
    }
    // Reading the state is gavel's work, not the plugin's: it must not fail
    // for want of fuel, time or memory the configuring call left over. Each
    // accessor call copies out at most one memory (plus its return area,
    // for which it grows memory by a page).
    if inner.fuel {
        store
            .set_fuel(u64::MAX >> 2)
            .map_err(|e| format!("cannot refuel: {e:#}"))?;
    }
    store.set_epoch_deadline(SNAPSHOT_DEADLINE_TICKS);
    store.data_mut().limiter.allow_more(ACCESSOR_HEADROOM);
    store.set_hostcall_fuel(MAX_SNAPSHOT_MEMORY + ACCESSOR_HEADROOM);
    let mut access = Access {
        store: &mut store,
        instance,
        lists: HashMap::new(),
        error: None,
    };
    let snapshot = run_ready(wizer.snapshot_component(&cx, &mut access))?
        .map_err(|e| format!("cannot snapshot the configured instance: {e:#}"))?;
    match access.error {
        Some(e) => Err(format!("cannot read the configured instance: {e}")),
        None => Ok(snapshot),
    }
}

/// Room the accessor calls get to grow memory for their return areas.
const ACCESSOR_HEADROOM: usize = 1 << 20;

/// Epoch ticks (ms) reading a configured instance may take.
const SNAPSHOT_DEADLINE_TICKS: u64 = 60_000;

/// Drive a future that never waits: wizer's snapshot is async only because
/// its trait allows async runtimes; [`Access`] answers every call at once.
fn run_ready<F: Future>(future: F) -> Result<F::Output, String> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => Err("the snapshot did not complete synchronously".into()),
    }
}

/// Wizer's view of a configured instance: it calls the accessor functions
/// the instrumentation exported. Calls are synchronous (gavel's fast path
/// has no async support); the first error is kept, and wizer is handed
/// zeroes until the caller reports it.
struct Access<'a> {
    store: &'a mut Store<StoreState>,
    instance: Instance,
    /// Each list read once, by (instance, function): wizer reads each
    /// memory twice, and must see the same bytes both times.
    lists: HashMap<(String, String), Vec<u8>>,
    error: Option<String>,
}

impl Access<'_> {
    fn call<R>(&mut self, instance: &str, func: &str, read: impl FnOnce(&Store<StoreState>, R))
    where
        R: wasmtime::component::Lift + wasmtime::component::ComponentType + Send + Sync + 'static,
    {
        if self.error.is_some() {
            return;
        }
        let result = (|| -> Result<(), String> {
            let (_, parent) = self
                .instance
                .get_export(&mut *self.store, None, instance)
                .ok_or_else(|| format!("no exported instance `{instance}`"))?;
            let (_, index) = self
                .instance
                .get_export(&mut *self.store, Some(&parent), func)
                .ok_or_else(|| format!("no function `{instance}#{func}`"))?;
            let f = self
                .instance
                .get_typed_func::<(), (R,)>(&mut *self.store, index)
                .map_err(|e| format!("`{instance}#{func}`: {e:#}"))?;
            let (value,) = f
                .call(&mut *self.store, ())
                .map_err(|e| format!("`{instance}#{func}`: {e:#}"))?;
            read(self.store, value);
            Ok(())
        })();
        if let Err(e) = result {
            self.error = Some(e);
        }
    }

    fn scalar<R>(&mut self, instance: &str, func: &str) -> R
    where
        R: wasmtime::component::Lift
            + wasmtime::component::ComponentType
            + Default
            + Copy
            + Send
            + Sync
            + 'static,
    {
        let mut out = R::default();
        self.call(instance, func, |_, v: R| out = v);
        out
    }
}

impl ComponentInstanceState for Access<'_> {
    fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) -> impl Future<Output = ()> + Send {
        let key = (instance.to_owned(), func.to_owned());
        if !self.lists.contains_key(&key) {
            let mut read = None;
            self.call(instance, func, |store, list: WasmList<u8>| {
                read = Some(list.as_le_slice(store).to_vec());
            });
            if let Some(bytes) = read {
                self.lists.insert(key.clone(), bytes);
            }
        }
        match self.lists.get(&key) {
            Some(bytes) => contents(bytes),
            // The read failed and `error` says why; the snapshot is thrown
            // away, but wizer must not index into too short a memory first.
            None => contents(&[0; 0]),
        }
        std::future::ready(())
    }

    fn call_func_ret_s32(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = i32> + Send {
        std::future::ready(self.scalar::<i32>(instance, func))
    }

    fn call_func_ret_s64(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = i64> + Send {
        std::future::ready(self.scalar::<i64>(instance, func))
    }

    fn call_func_ret_f32(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = u32> + Send {
        std::future::ready(self.scalar::<f32>(instance, func).to_bits())
    }

    fn call_func_ret_f64(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = u64> + Send {
        std::future::ready(self.scalar::<f64>(instance, func).to_bits())
    }
}
