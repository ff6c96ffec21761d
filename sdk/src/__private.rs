//! What [`export_plugin!`](crate::export_plugin!) expands to calls. Not a
//! public API: names here change without notice.
//!
//! The native test harness calls the same functions, so `cargo test` exercises
//! the settings handling a component runs.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use crate::Plugin;
use crate::plugin::parse_settings;
use crate::types::{Error, PluginMetadata, Subject, Verdict};

thread_local! {
    /// The settings `validate-settings` last accepted, with their text.
    ///
    /// gavel pre-initialises a plugin: it calls `validate-settings` once per
    /// policy-set version and snapshots the instance, so every evaluation
    /// starts with this already filled in, and `evaluate` skips parsing when
    /// it is handed the same text. In an instance that was not
    /// pre-initialised it is empty and `evaluate` parses, as before.
    static CONFIGURED: RefCell<Option<(String, Rc<dyn Any>)>> = const { RefCell::new(None) };
}

/// The `metadata` export.
pub fn metadata<P: Plugin>() -> PluginMetadata {
    enter();
    P::metadata()
}

/// The `validate-settings` export: parse, then the plugin's own checks.
/// Settings that pass are kept for [`evaluate`], with their text (the
/// argument itself, not a copy: a snapshot keeps whatever this allocates).
pub fn validate_settings<P: Plugin>(settings: String) -> Result<(), String> {
    enter();
    let parsed = parse_settings::<P::Settings>(&settings)?;
    P::validate(&parsed)?;
    let kept: Rc<dyn Any> = Rc::new(parsed);
    CONFIGURED.with_borrow_mut(|c| *c = Some((settings, kept)));
    Ok(())
}

/// The settings `validate-settings` accepted, if they were given as
/// `text` and are of type `S`.
fn configured<S: 'static>(text: &str) -> Option<Rc<S>> {
    CONFIGURED.with_borrow(|c| match c {
        Some((kept, settings)) if same(kept, text) => settings.clone().downcast::<S>().ok(),
        _ => None,
    })
}

/// `a == b`, eight bytes at a time: on `wasm32-unknown-unknown`, `==`
/// calls compiler-builtins' `memcmp`, which compares byte by byte, and this
/// runs on every evaluation over settings that can be kilobytes long
/// (measured: a third of the fuel pre-initialisation saves on the cost
/// plugin's benchmark settings).
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    wa.remainder() == wb.remainder()
        && wa.zip(wb).all(|(x, y)| {
            u64::from_ne_bytes(x.try_into().unwrap_or_default())
                == u64::from_ne_bytes(y.try_into().unwrap_or_default())
        })
}

/// The `evaluate` export.
pub fn evaluate<P: Plugin>(subject: Subject, settings: &str) -> Result<Verdict, Error> {
    enter();
    if let Some(kept) = configured::<P::Settings>(settings) {
        return P::evaluate(subject, &kept);
    }
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

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn same_compares_every_byte() {
        let text = r#"{"prices":{"gpuHour":0.95},"labels":["team","cost-center"]}"#;
        assert!(same(text, text));
        assert!(same("", ""));
        assert!(!same(text, &text[1..]));
        for i in 0..text.len() {
            // One byte changed anywhere, in a word or in the tail.
            let mut other = text.as_bytes().to_vec();
            other[i] ^= 1;
            let other = String::from_utf8(other).unwrap();
            assert!(!same(text, &other), "byte {i}");
        }
    }
}
