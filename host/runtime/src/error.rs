//! Errors from loading plugins and policy sets.

use gavel_core::PolicyError;

/// A plugin or policy set could not be loaded. Evaluation never returns this:
/// a plugin that breaks while evaluating yields a
/// [`Failure`](gavel_core::Failure) instead.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The wasm engine could not be configured.
    #[error("cannot configure the wasm engine: {0}")]
    Engine(String),
    /// A file could not be read.
    #[error("cannot read `{path}`: {cause}")]
    Io {
        /// The path, relative to the policy-set directory when there is one.
        path: String,
        /// The IO error (in the message, so not also a `source`).
        cause: std::io::Error,
    },
    /// The bytes do not match the sha256 pinned in the policy set.
    #[error(
        "plugin `{plugin}` has sha256 {actual}, but the policy set pins {expected}: update the pin if the new module is trusted"
    )]
    DigestMismatch {
        /// Plugin name.
        plugin: String,
        /// The pinned digest.
        expected: String,
        /// The digest of the bytes read.
        actual: String,
    },
    /// The bytes are not a valid component.
    #[error("`{origin}` is not a WebAssembly component gavel can compile: {reason}")]
    Compile {
        /// Where the bytes came from.
        origin: String,
        /// What wasmtime said.
        reason: String,
    },
    /// The component imports something gavel does not grant.
    #[error(
        "`{origin}` imports `{import}`, which gavel does not provide: plugins may import only `gavel:policy/log` and WASI p2 (which gavel locks down); remove that dependency from the plugin"
    )]
    ForbiddenImport {
        /// Where the bytes came from.
        origin: String,
        /// The offending import.
        import: String,
    },
    /// The component does not implement the `gavel:policy/plugin` world.
    #[error(
        "`{origin}` is not a gavel plugin: {reason}; build it against the `gavel:policy@0.1.0` world (for example with gavel-sdk)"
    )]
    NotAPlugin {
        /// Where the bytes came from.
        origin: String,
        /// What is missing or mismatched.
        reason: String,
    },
    /// Calling the plugin's `metadata` export failed.
    #[error("`{origin}` failed while describing itself: {reason}")]
    Metadata {
        /// Where the bytes came from.
        origin: String,
        /// The failure.
        reason: String,
    },
    /// The policy set is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A `builtin:` module that this program does not embed.
    #[error("plugin `{plugin}` uses `builtin:{name}`, but this program embeds only: {available}")]
    UnknownBuiltin {
        /// Plugin name.
        plugin: String,
        /// The builtin asked for.
        name: String,
        /// The builtins available.
        available: String,
    },
    /// A path module in a policy set that was not loaded from a directory.
    #[error(
        "plugin `{plugin}` refers to the file `{path}`, but the policy set was not loaded from a directory"
    )]
    NoDirectory {
        /// Plugin name.
        plugin: String,
        /// The path.
        path: String,
    },
    /// The policy set asks for more than this runtime can grant.
    #[error("plugin `{plugin}`: {reason}")]
    Grant {
        /// Plugin name.
        plugin: String,
        /// What is out of range.
        reason: String,
    },
    /// The plugin rejected its settings.
    #[error("plugin `{plugin}` rejected its settings: {reason}")]
    Settings {
        /// Plugin name.
        plugin: String,
        /// The plugin's explanation.
        reason: String,
    },
    /// The policy set subscribes a plugin to subjects it does not handle.
    #[error("plugin `{plugin}` is subscribed to `{subject}`, but it handles only: {handles}")]
    Subjects {
        /// Plugin name.
        plugin: String,
        /// The subject kind.
        subject: String,
        /// What it declares.
        handles: String,
    },
}
