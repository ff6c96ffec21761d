//! Logging through the host.
//!
//! On `wasm32` each call is one call of the `gavel:policy/log` import; the host
//! tags the line with the plugin and evaluation, and bounds how many lines and
//! bytes one evaluation may log (past the bound, lines are counted and dropped).
//! Natively (under `cargo test`) lines go to stderr, where the test harness
//! captures them.
//!
//! Never log personal data: log lines leave the plugin's sandbox.

/// A log level, from the WIT contract.
pub use crate::bindings::gavel::policy::log::Level;

/// Write one log line at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::gavel::policy::log::log(level, message);

    // wit-bindgen's import stubs are `unreachable!()` off wasm.
    #[cfg(not(target_arch = "wasm32"))]
    {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        eprintln!("[gavel plugin {level}] {message}");
    }
}

/// Write one log line at [`Level::Trace`].
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Write one log line at [`Level::Debug`].
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Write one log line at [`Level::Info`].
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Write one log line at [`Level::Warn`].
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Write one log line at [`Level::Error`].
pub fn error(message: &str) {
    log(Level::Error, message);
}
