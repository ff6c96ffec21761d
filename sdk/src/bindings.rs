//! The guest bindings for the `gavel:policy/plugin` world.
//!
//! **Architecture Invariant**: this is the only `wit_bindgen::generate!` in gavel.
//! Plugin authors never name this module; they use [`crate::types`] and
//! [`crate::export_plugin!`].

#![allow(
    missing_docs,
    reason = "generated code; the WIT doc comments are carried over where wit-bindgen can"
)]

wit_bindgen::generate!({
    world: "plugin",
    path: "../wit",
    // Exported from this crate and invoked by `export_plugin!` in the plugin's crate.
    pub_export_macro: true,
    export_macro_name: "__export_gavel_plugin",
    default_bindings_module: "::gavel_sdk::bindings",
    // Tests compare verdicts and subjects.
    additional_derives: [PartialEq],
});
