//! Per-evaluation store state: resource limiter, log buffer, and (only for
//! guests that import it) the locked-down WASI context.

use std::sync::Arc;

use serde::Serialize;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::plugin::LogLine;

/// Level of a plugin log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something is wrong (the SDK reports panics at this level).
    Error,
    /// Captured from the guest's stdout.
    Stdout,
    /// Captured from the guest's stderr.
    Stderr,
}

/// What one log line costs against the log budget besides its text.
pub(crate) const LOG_LINE_OVERHEAD: usize = 32;

/// Everything a store owns for one evaluation.
pub(crate) struct StoreState {
    pub(crate) plugin: Arc<str>,
    pub(crate) limiter: Limiter,
    pub(crate) logs: Vec<LogLine>,
    log_bytes: usize,
    max_log_bytes: usize,
    pub(crate) dropped_logs: u64,
    /// `Some` exactly when the plugin is instantiated through the WASI linker.
    pub(crate) wasi: Option<WasiState>,
}

pub(crate) struct WasiState {
    pub(crate) ctx: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) stdout: wasmtime_wasi::p2::pipe::MemoryOutputPipe,
    pub(crate) stderr: wasmtime_wasi::p2::pipe::MemoryOutputPipe,
}

impl StoreState {
    pub(crate) fn new(plugin: Arc<str>, memory_bytes: usize, max_log_bytes: usize) -> Self {
        StoreState {
            plugin,
            limiter: Limiter {
                memory_bytes,
                total: 0,
                memory_exceeded: false,
            },
            logs: Vec::new(),
            log_bytes: 0,
            max_log_bytes,
            dropped_logs: 0,
            wasi: None,
        }
    }

    /// Record a log line, within the byte budget; past it lines are counted
    /// and dropped so that a chatty plugin cannot exhaust host memory.
    pub(crate) fn log(&mut self, level: LogLevel, message: String) {
        // Each line costs its bytes plus a fixed overhead, so a flood of
        // empty lines is bounded too.
        let cost = message.len() + LOG_LINE_OVERHEAD;
        if self.log_bytes + cost > self.max_log_bytes {
            self.dropped_logs += 1;
            return;
        }
        let plugin = &*self.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Info | LogLevel::Stdout => tracing::info!(plugin, "{message}"),
            LogLevel::Warn | LogLevel::Stderr => tracing::warn!(plugin, "{message}"),
            LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
        self.log_bytes += cost;
        self.logs.push(LogLine { level, message });
    }

    /// Move captured stdout/stderr into the log, once the evaluation is over.
    pub(crate) fn drain_stdio(&mut self) {
        let Some(wasi) = self.wasi.take() else { return };
        for (level, pipe) in [
            (LogLevel::Stdout, &wasi.stdout),
            (LogLevel::Stderr, &wasi.stderr),
        ] {
            let bytes = pipe.contents();
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.is_empty()) {
                self.log(level, line.to_owned());
            }
        }
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // Architecture Invariant: the WASI linker is only used for plugins
        // whose store was given a WasiState (see `Plugin::instantiate`).
        let wasi = self
            .wasi
            .as_mut()
            .expect("WASI linked without a WASI context: gavel-host bug");
        WasiCtxView {
            ctx: &mut wasi.ctx,
            table: &mut wasi.table,
        }
    }
}

/// Memory and table ceilings; remembers whether the plugin hit one, so that
/// the trap that follows a failed `memory.grow` is reported as a memory limit.
///
/// The memory ceiling is for the plugin as a whole: a component may have
/// several linear memories (multi-memory, or several core modules), and
/// wasmtime asks about each one, so the limiter keeps the running total.
pub(crate) struct Limiter {
    memory_bytes: usize,
    pub(crate) total: usize,
    pub(crate) memory_exceeded: bool,
}

/// Most table elements one table may hold (function tables of big guests).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl Limiter {
    /// Let memories grow `bytes` more than the grant: for gavel's own calls
    /// into an instance (reading it for a snapshot), never the plugin's.
    pub(crate) fn allow_more(&mut self, bytes: usize) {
        self.memory_bytes = self.memory_bytes.saturating_add(bytes);
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total.saturating_add(desired.saturating_sub(current));
        if total > self.memory_bytes {
            self.memory_exceeded = true;
            return Ok(false);
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
