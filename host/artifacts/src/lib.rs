//! # gavel-artifacts: gavel's wasm guests, built from source
//!
//! Test-support crate (`publish = false`) for gavel's own tests, benchmarks
//! and examples. Its build script compiles every governance plugin in
//! `plugins/` and every hostile fixture in `tests/programs/` into a
//! WebAssembly component and exposes their paths as constants, so no `.wasm`
//! file is ever checked in. It follows wasmtime's
//! `crates/test-programs/artifacts`.
//!
//! ## Where to start
//!
//! - [`PLUGINS`] lists the governance plugins as (name, path); [`COMPONENT_DIR`]
//!   is the directory that holds every component.
//! - One constant per component: `REQUIRED_LABELS` for `plugins/required-labels`,
//!   `HOSTILE` and `HOSTILE_WASIP2` for `tests/programs/hostile`.
//! - [`foreach_plugin!`] expands a macro once per plugin, so a test suite can
//!   fail to build when a plugin has no test.
//!
//! ## How the components are built
//!
//! - `plugins/*` and `tests/programs/*` are cargo workspaces of their own,
//!   built with `cargo build --release` (their `[profile.release]`: size
//!   optimised, LTO, `panic = "abort"`) into `target/wasm-guests/`.
//! - For `wasm32-unknown-unknown` the output is a core module with
//!   wit-bindgen's type information; `wit-component` turns it into a
//!   component that imports nothing but `gavel:policy/log`. The component is
//!   named after the crate's directory: `<dir>.wasm`.
//! - The test programs are also built for `wasm32-wasip2`, where rustc
//!   already emits a component that imports WASI: `<dir>-wasip2.wasm`.
//! - Missing wasm targets are added with `rustup target add` for the
//!   toolchain that is building. A new crate in `plugins/` (a member of
//!   `plugins/Cargo.toml`, named after its directory) gets a constant and an
//!   entry in [`PLUGINS`] without touching this crate.
//! - The build script reruns when anything in `wit/`, `sdk/`, `plugins/` or
//!   `tests/programs/` changes, and only then.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));

#[cfg(test)]
mod tests {
    use wit_component::DecodedWasm;

    use super::*;

    /// The imports (interface ids such as `gavel:policy/log@0.1.0`) and the
    /// exports of the component at `path`.
    fn world(path: &str) -> (Vec<String>, Vec<String>) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        let decoded =
            wit_component::decode(&bytes).unwrap_or_else(|e| panic!("decoding {path}: {e:?}"));
        let DecodedWasm::Component(resolve, world) = decoded else {
            panic!("{path} is a WIT package, not a component");
        };
        let world = &resolve.worlds[world];
        let imports = world
            .imports
            .keys()
            .map(|k| resolve.name_world_key(k))
            .collect();
        let exports = world
            .exports
            .keys()
            .map(|k| resolve.name_world_key(k))
            .collect();
        (imports, exports)
    }

    const EXPORTS: [&str; 3] = ["metadata", "validate-settings", "evaluate"];

    #[test]
    fn plugins_are_wasi_free_components_of_the_plugin_world() {
        assert!(!PLUGINS.is_empty());
        for (name, path) in PLUGINS.iter().copied().chain([("hostile", HOSTILE)]) {
            let (imports, exports) = world(path);
            assert_eq!(exports, EXPORTS, "{name}: exports");
            // Interfaces are `namespace:package/name`; the world's `use`d types are bare names.
            let foreign: Vec<_> = imports
                .iter()
                .filter(|i| i.contains(':') && !i.starts_with("gavel:policy/"))
                .collect();
            assert!(
                foreign.is_empty(),
                "{name}: imports beyond gavel's own: {foreign:?}"
            );
            assert!(
                imports.iter().any(|i| i == "gavel:policy/log@0.1.0"),
                "{name}: {imports:?}"
            );
        }
    }

    #[test]
    fn wasip2_program_imports_wasi() {
        let (imports, exports) = world(HOSTILE_WASIP2);
        assert_eq!(exports, EXPORTS);
        assert!(
            imports.iter().any(|i| i.starts_with("wasi:")),
            "{imports:?}"
        );
    }

    #[test]
    fn plugins_are_listed_once_by_name_and_live_in_the_component_dir() {
        let mut names: Vec<&str> = PLUGINS.iter().map(|(name, _)| *name).collect();
        names.dedup();
        assert_eq!(names.len(), PLUGINS.len());
        assert!(names.is_sorted());
        for (name, path) in PLUGINS {
            assert_eq!(*path, format!("{COMPONENT_DIR}/{name}.wasm"));
        }
        assert!(PLUGINS.contains(&("required-labels", REQUIRED_LABELS)));
    }

    #[test]
    fn foreach_plugin_names_every_plugin() {
        let mut seen = Vec::new();
        macro_rules! collect {
            ($constant:ident) => {
                seen.push($constant)
            };
        }
        foreach_plugin!(collect);
        assert_eq!(
            seen,
            PLUGINS.iter().map(|(_, path)| *path).collect::<Vec<_>>()
        );
    }
}
