//! What [`export_plugin!`](crate::export_plugin!) expands to calls. Not a
//! public API: names here change without notice.
//!
//! The native test harness calls the same functions, so `cargo test` exercises
//! the settings handling a component runs.

use crate::Plugin;
use crate::plugin::parse_settings;
use crate::types::{Error, PluginMetadata, Subject, Verdict};

/// The `metadata` export.
pub fn metadata<P: Plugin>() -> PluginMetadata {
    enter();
    P::metadata()
}

/// The `validate-settings` export: parse, then the plugin's own checks.
pub fn validate_settings<P: Plugin>(settings: &str) -> Result<(), String> {
    enter();
    let settings = parse_settings::<P::Settings>(settings)?;
    P::validate(&settings)
}

/// The `evaluate` export.
pub fn evaluate<P: Plugin>(subject: Subject, settings: &str) -> Result<Verdict, Error> {
    enter();
    // The host validated these settings when it loaded the plugin, so they
    // parse: go straight to serde_json, and only on the (unexpected) failure
    // take the slower path that names the bad setting.
    let text = settings.trim();
    let fast = match text {
        "" | "null" => Some(P::Settings::default()),
        _ => serde_json::from_str(text).ok(),
    };
    let settings = match fast {
        Some(settings) => settings,
        None => parse_settings::<P::Settings>(settings).map_err(Error::InvalidSettings)?,
    };
    P::evaluate(subject, &settings)
}

/// Named by `export_plugin!` on native targets so that a type that does not
/// implement [`Plugin`] fails there too, not only in the wasm build.
pub fn assert_plugin<P: Plugin>() {}

/// Runs at the top of every export.
fn enter() {
    #[cfg(target_arch = "wasm32")]
    {
        // A trap alone tells the host nothing; the hook sends the message first.
        // With `panic = "abort"` the hook still runs, then the instance traps.
        static PANIC_HOOK: std::sync::Once = std::sync::Once::new();
        PANIC_HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                crate::log::error(&format!("plugin panicked: {info}"));
            }));
        });
    }
}
