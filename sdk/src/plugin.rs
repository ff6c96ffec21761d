//! The trait plugin authors implement, and the macro that exports it.

use serde::de::DeserializeOwned;

use crate::types::{Error, PluginMetadata, Subject, Verdict};

/// A governance plugin.
///
/// Implement it on a unit struct and export it with [`export_plugin!`](crate::export_plugin!). Every
/// function is associated (no `self`): each evaluation runs in a fresh
/// instance, so there is no state to keep between calls.
///
/// Settings arrive as JSON text from the host; the SDK parses them into
/// [`Plugin::Settings`] before calling [`validate`](Plugin::validate) or
/// [`evaluate`](Plugin::evaluate). Empty settings (`""`) and `null` mean
/// `Settings::default()`. Use `#[serde(default)]` so that omitted fields take
/// their default, and `#[serde(deny_unknown_fields)]` so that a misspelt field
/// is reported instead of ignored.
pub trait Plugin {
    /// The plugin's settings, parsed from JSON. `'static` because the SDK
    /// keeps the settings `validate` accepted for the evaluations that
    /// follow (see [`Plugin::validate`]).
    type Settings: DeserializeOwned + Default + 'static;

    /// Describe the plugin. Start from [`plugin_metadata!`](crate::plugin_metadata!).
    fn metadata() -> PluginMetadata;

    /// Check settings beyond what parsing checks, for example that a ratio is
    /// between 0 and 1. Return a message that says what is wrong and how to
    /// fix it. Called when the host loads the plugin, not per evaluation.
    ///
    /// Settings that pass are kept: gavel snapshots the plugin's instance
    /// after this call (pre-initialisation), so evaluations under the same
    /// settings start with them parsed and skip the JSON.
    fn validate(settings: &Self::Settings) -> Result<(), String> {
        let _ = settings;
        Ok(())
    }

    /// Judge one subject.
    ///
    /// Return [`Error::InvalidSubject`] for a subject the plugin cannot judge
    /// (malformed JSON, an unexpected kind), never a `deny` verdict: "the
    /// policy said no" and "the plugin could not decide" are reported apart.
    fn evaluate(subject: Subject, settings: &Self::Settings) -> Result<Verdict, Error>;
}

/// Parse settings the way every plugin does: empty text and `null` mean the
/// default; anything else must deserialize into `S`. Errors name the setting
/// (a path such as `limits.cpu`) and the line and column.
pub(crate) fn parse_settings<S: DeserializeOwned + Default>(json: &str) -> Result<S, String> {
    let json = json.trim();
    if json.is_empty() || json == "null" {
        return Ok(S::default());
    }
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let settings = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            // The document itself (or a part serde could not name), not one setting.
            "." | "?" => format!("invalid settings: {}", e.into_inner()),
            _ => format!("invalid settings: {path}: {}", e.into_inner()),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| format!("invalid settings: {e}"))?;
    Ok(settings)
}

/// Export a type implementing [`Plugin`] as the plugin's component exports.
///
/// Call it once, at the crate root of a `cdylib`:
///
/// ```
/// # use gavel_sdk::prelude::*;
/// # struct MyPlugin;
/// # impl Plugin for MyPlugin {
/// #     type Settings = ();
/// #     fn metadata() -> PluginMetadata { plugin_metadata!().build() }
/// #     fn evaluate(_: Subject, _: &()) -> Result<Verdict, Error> { Ok(allow()) }
/// # }
/// gavel_sdk::export_plugin!(MyPlugin);
/// ```
///
/// On `wasm32` it generates the component exports (`metadata`,
/// `validate-settings`, `evaluate`) and, on the first call into the instance,
/// installs a panic hook that sends the panic message to the host's log at
/// error level before the instance traps. Natively it only checks that the
/// type implements [`Plugin`]; tests call the plugin through
/// [`testing`](crate::testing).
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct GavelPluginExport;

            impl $crate::bindings::Guest for GavelPluginExport {
                fn metadata() -> $crate::types::PluginMetadata {
                    $crate::__private::metadata::<$plugin>()
                }

                fn validate_settings(
                    settings: ::std::string::String,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::validate_settings::<$plugin>(settings)
                }

                fn evaluate(
                    subject: $crate::types::Subject,
                    settings: ::std::string::String,
                ) -> ::core::result::Result<$crate::types::Verdict, $crate::types::Error> {
                    $crate::__private::evaluate::<$plugin>(subject, &settings)
                }
            }

            $crate::bindings::__export_gavel_plugin!(
                GavelPluginExport with_types_in $crate::bindings
            );
        };

        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() = $crate::__private::assert_plugin::<$plugin>;
    };
}

#[cfg(test)]
mod tests {
    use super::parse_settings;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Settings {
        limit: u32,
        tags: Vec<u32>,
    }

    impl Default for Settings {
        fn default() -> Self {
            Self {
                limit: 7,
                tags: vec![],
            }
        }
    }

    fn check(json: &str, expect: Result<Settings, &str>) {
        let got = parse_settings::<Settings>(json);
        match (&got, &expect) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "settings {json:?}"),
            (Err(got), Err(want)) => assert_eq!(got, want, "settings {json:?}"),
            _ => panic!("settings {json:?}: got {got:?}, want {expect:?}"),
        }
    }

    fn limit(limit: u32) -> Settings {
        Settings {
            limit,
            ..Settings::default()
        }
    }

    #[test]
    fn settings() {
        check("", Ok(Settings::default()));
        check("  \n", Ok(Settings::default()));
        check("null", Ok(Settings::default()));
        check("{}", Ok(Settings::default()));
        check(r#"{"limit": 3}"#, Ok(limit(3)));
        // serde accepts a struct as a sequence of its fields.
        check("[5]", Ok(limit(5)));
        check(
            r#"{"limit": "3"}"#,
            Err(
                r#"invalid settings: limit: invalid type: string "3", expected u32 at line 1 column 13"#,
            ),
        );
        check(
            r#"{"tags": [1, "x"]}"#,
            Err(
                r#"invalid settings: tags[1]: invalid type: string "x", expected u32 at line 1 column 16"#,
            ),
        );
        check(
            r#"{"limti": 3}"#,
            Err(
                "invalid settings: limti: unknown field `limti`, expected `limit` or `tags` at line 1 column 8",
            ),
        );
        check(
            "{",
            Err("invalid settings: EOF while parsing an object at line 1 column 1"),
        );
        check(
            "3",
            Err(
                "invalid settings: invalid type: integer `3`, expected struct Settings at line 1 column 1",
            ),
        );
        check(
            "{} {}",
            Err("invalid settings: trailing characters at line 1 column 4"),
        );
    }
}
