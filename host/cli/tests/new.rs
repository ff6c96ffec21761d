//! `gavel new` end to end: a project in each language is created, builds,
//! and passes its own `gavel test`; its errors say what to do.
//!
//! The Python and JavaScript projects install their toolchains from PyPI
//! and npm (build.sh does it), so these tests need python3 and node, as the
//! machine CI runs on has.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GAVEL: &str = env!("CARGO_BIN_EXE_gavel");

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh directory under the build's own temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("gavel-new-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `gavel <args>` in `dir`. Rust plugins build into the directory where
/// gavel's own plugins are built (same SDK, same profile), so the SDK's
/// dependencies are compiled once for every test and for the repository.
fn gavel_in(dir: &Path, args: &[&str]) -> Output {
    let guests = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../wasm-guests");
    Command::new(GAVEL)
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", guests)
        .output()
        .unwrap()
}

/// Create a project and run its suite; every case must pass.
fn new_project_passes(lang: &str) -> PathBuf {
    let root = scratch(lang);
    let name = format!("demo-{lang}");
    let created = gavel_in(&root, &["new", &name, "--lang", lang]);
    assert_eq!(created.status.code(), Some(0), "{}", text(&created));
    assert!(
        text(&created).contains(&format!("cd {name} && gavel test")),
        "{}",
        text(&created)
    );
    let project = root.join(&name);
    for file in ["wit/world.wit", "tests/suite.yaml", "README.md"] {
        assert!(project.join(file).is_file(), "{lang}: no {file}");
    }
    let tested = gavel_in(&project, &["test"]);
    let out = text(&tested);
    assert_eq!(tested.status.code(), Some(0), "{lang}: {out}");
    assert!(out.contains("11 passed, 0 failed"), "{lang}: {out}");
    assert!(out.contains(&format!("({name})")), "{lang}: {out}");
    project
}

#[test]
fn rust_project_builds_passes_and_reports_what_breaks() {
    let project = new_project_passes("rust");

    // A behaviour change shows up as a failing case with its diff.
    let lib = project.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        source.replace(r#"vec!["team".into()]"#, r#"vec!["owner".into()]"#),
    )
    .unwrap();
    let changed = gavel_in(&project, &["test"]);
    let out = text(&changed);
    assert_eq!(changed.status.code(), Some(1), "{out}");
    assert!(
        out.contains("✗ a Pod with a team label is allowed"),
        "{out}"
    );
    assert!(out.contains("decision: expected allow, got deny"), "{out}");

    // Code that does not compile is an error naming the crate, with cargo's output.
    std::fs::write(&lib, "this is not rust").unwrap();
    let broken = gavel_in(&project, &["test"]);
    let out = text(&broken);
    assert_eq!(broken.status.code(), Some(2), "{out}");
    assert!(out.contains("cannot build the plugin crate `..`"), "{out}");
    assert!(out.contains("error"), "{out}");
}

#[test]
fn python_project_builds_and_passes() {
    new_project_passes("python");
}

#[test]
fn js_project_builds_and_passes() {
    new_project_passes("js");
}

#[test]
fn new_refuses_bad_names_and_existing_directories() {
    let root = scratch("errors");
    let bad = gavel_in(&root, &["new", "My_Plugin"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("not a valid plugin name: use lower-case letters"),
        "{}",
        text(&bad)
    );

    std::fs::create_dir_all(root.join("taken")).unwrap();
    std::fs::write(root.join("taken/file"), "x").unwrap();
    let taken = gavel_in(&root, &["new", "taken"]);
    assert_eq!(taken.status.code(), Some(2), "{}", text(&taken));
    assert!(
        text(&taken).contains("already exists and is not empty"),
        "{}",
        text(&taken)
    );

    let lang = gavel_in(&root, &["new", "x", "--lang", "cobol"]);
    assert_eq!(lang.status.code(), Some(2), "{}", text(&lang));
    assert!(text(&lang).contains("rust, python, js"), "{}", text(&lang));

    let sdk = gavel_in(&root, &["new", "y", "--sdk-path", "/nonexistent"]);
    assert_eq!(sdk.status.code(), Some(2), "{}", text(&sdk));
    assert!(text(&sdk).contains("has no Cargo.toml"), "{}", text(&sdk));
}

#[test]
fn a_failing_build_command_is_reported() {
    let root = scratch("build-fails");
    std::fs::write(
        root.join("suite.yaml"),
        "apiVersion: gavel.dev/v1alpha1\nkind: TestSuite\nplugin: plugin.wasm\nbuild: [sh, -c, 'echo compiler says no >&2; exit 3']\ncases: []\n",
    )
    .unwrap();
    // Named without a directory part, the suite's directory is the current one.
    let out = gavel_in(&root, &["test", "suite.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("compiler says no"), "{t}");
    assert!(
        t.contains(
            "the build command `sh -c echo compiler says no >&2; exit 3` failed (exit status: 3)"
        ),
        "{t}"
    );

    std::fs::write(
        root.join("suite.yaml"),
        "apiVersion: gavel.dev/v1alpha1\nkind: TestSuite\nplugin: plugin.wasm\nbuild: [no-such-compiler]\ncases: []\n",
    )
    .unwrap();
    let out = gavel_in(&root, &["test"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("the build command `no-such-compiler` was not found"),
        "{}",
        text(&out)
    );
}
