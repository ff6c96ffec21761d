//! Loading: what gavel accepts as a plugin, and the errors for what it does not.

use gavel_host::LoadError;

use crate::{read, runtime};

#[track_caller]
fn load_err(bytes: &[u8]) -> LoadError {
    runtime()
        .load_plugin("fixture.wasm", bytes)
        .expect_err("load must fail")
}

#[test]
fn a_core_module_is_not_a_component() {
    let module = wat::parse_str("(module)").unwrap();
    let err = load_err(&module);
    assert!(matches!(err, LoadError::Compile { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("`fixture.wasm` is not a WebAssembly component"),
        "{err}"
    );
}

#[test]
fn garbage_is_refused_with_its_origin() {
    let err = load_err(b"not wasm at all");
    assert!(matches!(err, LoadError::Compile { .. }), "{err}");
}

#[test]
fn an_import_beyond_the_gavel_world_is_named() {
    let component =
        wat::parse_str(r#"(component (import "evil:net/socket@1.0.0" (instance)))"#).unwrap();
    let err = load_err(&component);
    assert!(
        matches!(&err, LoadError::ForbiddenImport { import, .. } if import == "evil:net/socket@1.0.0"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("imports `evil:net/socket@1.0.0`, which gavel does not provide"),
        "{err}"
    );
}

#[test]
fn wasi_outside_p2_is_refused() {
    let component =
        wat::parse_str(r#"(component (import "wasi:http/outgoing-handler@0.2.0" (instance)))"#)
            .unwrap();
    let err = load_err(&component);
    assert!(
        matches!(&err, LoadError::ForbiddenImport { import, .. } if import.starts_with("wasi:http")),
        "{err}"
    );
}

#[test]
fn a_component_without_the_exports_is_not_a_plugin() {
    let component = wat::parse_str("(component)").unwrap();
    let err = load_err(&component);
    assert!(matches!(err, LoadError::NotAPlugin { .. }), "{err}");
    assert!(err.to_string().contains("is not a gavel plugin"), "{err}");
}

#[test]
fn metadata_is_read_once_at_load() {
    let plugin = runtime()
        .load_plugin(
            "required-labels.wasm",
            &read(gavel_artifacts::REQUIRED_LABELS),
        )
        .unwrap();
    let m = plugin.metadata();
    assert_eq!(m.name, "required-labels");
    assert!(
        m.subjects.contains(&gavel_core::SubjectKind::Admission),
        "{m:?}"
    );
    assert!(!plugin.uses_wasi(), "SDK plugins are WASI-free");
    assert_eq!(plugin.sha256().len(), 64);
    let schema: serde_json::Value =
        serde_json::from_str(&m.settings_schema).expect("schema is JSON");
    assert!(schema.is_object(), "{schema}");
}

#[test]
fn same_bytes_are_compiled_once() {
    let bytes = read(gavel_artifacts::REQUIRED_LABELS);
    let a = runtime().load_plugin("a", &bytes).unwrap();
    let b = runtime().load_plugin("b", &bytes).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
}

#[test]
fn compile_cache_round_trips() {
    let dir = std::env::temp_dir().join(format!("gavel-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = read(gavel_artifacts::REQUIRED_LABELS);
    for round in 0..2 {
        // A new runtime each round: the second must load from disk.
        let rt = gavel_host::RuntimeBuilder::new()
            .max_concurrent_instances(4)
            .cache_dir(&dir)
            .build()
            .unwrap();
        let plugin = rt.load_plugin("required-labels.wasm", &bytes).unwrap();
        assert_eq!(plugin.metadata().name, "required-labels", "round {round}");
        let entries = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(entries, 1, "one artifact, round {round}");
    }
    // A corrupt entry is ignored and rewritten, not loaded.
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&entry, b"corrupt").unwrap();
    let rt = gavel_host::RuntimeBuilder::new()
        .max_concurrent_instances(4)
        .cache_dir(&dir)
        .build()
        .unwrap();
    rt.load_plugin("required-labels.wasm", &bytes).unwrap();
    assert_ne!(std::fs::read(&entry).unwrap(), b"corrupt");
    std::fs::remove_dir_all(&dir).unwrap();
}
