//! # gavel-build: Rust plugin crates into WebAssembly components
//!
//! What both gavel's own build (host/artifacts/build.rs, which builds every
//! plugin in `plugins/`) and `gavel test` (which builds a plugin crate a test
//! suite names) need:
//!
//! - [`ensure_target`]: install a wasm target's standard library with rustup
//!   when it is missing (a `rust-toolchain.toml` does not do it on its own);
//! - [`cargo_build`]: a nested `cargo build --release` for a wasm target,
//!   isolated from the calling cargo's environment;
//! - [`componentize`]: a wit-bindgen core module into a component with
//!   `wit-component` (the library behind `wasm-tools component new`), so no
//!   cargo tool has to be installed;
//! - [`build_plugin_crate`]: all three for one plugin crate.
//!
//! SDK plugins are built for `wasm32-unknown-unknown`: they import no WASI,
//! so gavel-host instantiates them with its WASI-free linker (the fast path).

use std::env;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use wit_component::ComponentEncoder;

/// The target SDK plugins are built for: no WASI imports.
pub const UNKNOWN: &str = "wasm32-unknown-unknown";
/// The WASI preview 2 target, whose output already is a component.
pub const WASIP2: &str = "wasm32-wasip2";

/// Make sure the standard library for `target` is installed for the
/// toolchain `rustc` belongs to, adding it with rustup if not.
///
/// A `rust-toolchain.toml` listing the target does not install it when the
/// toolchain itself is already there, so a fresh machine needs this.
/// rustup's output goes to stderr.
pub fn ensure_target(rustc: &OsStr, target: &str) -> Result<()> {
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| format!("running `{} --print sysroot`", rustc.to_string_lossy()))?;
    ensure!(
        output.status.success(),
        "`{} --print sysroot` failed",
        rustc.to_string_lossy()
    );
    let sysroot = PathBuf::from(
        String::from_utf8(output.stdout)
            .context("the sysroot path is not UTF-8")?
            .trim(),
    );
    let installed = sysroot.join("lib/rustlib").join(target);
    if installed.is_dir() {
        return Ok(());
    }

    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add"]);
    // Add to the toolchain that is compiling, which need not be the default one.
    if sysroot
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d == "toolchains")
        && let Some(toolchain) = sysroot.file_name()
    {
        rustup.arg("--toolchain").arg(toolchain);
    }
    rustup.arg(target).stdout(io::stderr());
    eprintln!("running: {rustup:?}");
    match rustup.status() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "the Rust standard library for {target} is not installed in {} and rustup is not available to add it: \
             install the {target} target with your toolchain manager",
            sysroot.display()
        ),
        Err(e) => return Err(e).context("running rustup"),
        Ok(status) => ensure!(
            status.success(),
            "`rustup target add {target}` failed: run it by hand to see why"
        ),
    }
    ensure!(
        installed.is_dir(),
        "rustup added {target}, but not to the toolchain at {}: install the target for that toolchain",
        sysroot.display()
    );
    Ok(())
}

/// What [`cargo_build`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Every member of the workspace.
    Workspace,
    /// One package.
    Package(&'a str),
}

/// `cargo build --release --target <target>` for `scope` of the cargo project
/// in `dir`, into `target_dir`. Cargo runs from `dir`, so the project's own
/// `.cargo/config.toml` applies. Cargo's output goes to stderr.
pub fn cargo_build(
    cargo: &OsStr,
    dir: &Path,
    scope: Scope<'_>,
    target: &str,
    target_dir: &Path,
) -> Result<()> {
    let mut cmd = Command::new(cargo);
    cmd.arg("build").arg("--release");
    match scope {
        Scope::Workspace => cmd.arg("--workspace"),
        Scope::Package(p) => cmd.args(["--package", p]),
    };
    cmd.args(["--target", target])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        // Configuration is found from the working directory: the project's own.
        .current_dir(dir)
        // A build script's stdout is read by cargo for `cargo:` lines; keep
        // the nested output out of it.
        .stdout(io::stderr());
    isolate_env(&mut cmd);
    eprintln!("running: {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("running {}", cargo.to_string_lossy()))?;
    ensure!(
        status.success(),
        "building {} for {target} failed: cargo's errors are above",
        dir.display()
    );
    Ok(())
}

/// Remove what an outer cargo passes to build scripts (or its own caller
/// set) that would change or break a nested build.
///
/// Removed:
/// - `RUSTFLAGS`, `CARGO_ENCODED_RUSTFLAGS`, `CARGO_BUILD_RUSTFLAGS`: flags for
///   the host build (coverage, `-C target-cpu=native`, ...) that would apply
///   to the wasm build or invalidate its cache.
/// - `CARGO_BUILD_TARGET`, `CARGO_TARGET_DIR`, `CARGO_BUILD_TARGET_DIR`,
///   `CARGO_BUILD_BUILD_DIR`: the target and target directory are passed
///   explicitly; the outer ones would point the nested cargo at the outer
///   cargo's locked directory.
/// - `RUSTC_WORKSPACE_WRAPPER`, `CLIPPY_ARGS`, `CLIPPY_CONF_DIR`: set by
///   `cargo clippy`; the guests would be linted with the host's lint flags
///   instead of built.
/// - What cargo sets for a build script only (`CARGO_PKG_*`, `CARGO_CFG_*`,
///   `CARGO_FEATURE_*`, `CARGO_MANIFEST_*`, `CARGO_PRIMARY_PACKAGE`,
///   `OUT_DIR`, `TARGET`, `HOST`, `PROFILE`, `OPT_LEVEL`, `DEBUG`, `NUM_JOBS`,
///   `RUSTC_LINKER`, `__CARGO_*`): the nested cargo sets its own for its
///   build scripts, and stale values must not leak into crates that read the
///   environment.
///
/// Kept on purpose:
/// - `CARGO_MAKEFLAGS`: the outer cargo's jobserver. The nested cargo then
///   shares the outer `-j` budget instead of starting as many jobs again on
///   top of it (a build script holds a token, so it always makes progress).
/// - `RUSTC`, `RUSTC_WRAPPER`: the same compiler (whose sysroot was checked
///   for the targets) and the same caching wrapper.
/// - `CARGO_HOME`, registry, network, terminal and `CARGO_PROFILE_*` settings:
///   the caller's choices for every build.
pub fn isolate_env(cmd: &mut Command) {
    const EXACT: &[&str] = &[
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_BUILD_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "CARGO_PRIMARY_PACKAGE",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "RUSTC_LINKER",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_PKG_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_MANIFEST_",
        "__CARGO",
    ];
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
}

/// Turn a core module built with wit-bindgen into component bytes.
pub fn componentize_bytes(module: &[u8]) -> Result<Vec<u8>> {
    ComponentEncoder::default()
        .module(module)
        .and_then(|encoder| encoder.validate(true).encode())
}

/// Turn the core module at `module` into a component at `component`
/// (written only if it changed).
pub fn componentize(module: &Path, component: &Path) -> Result<()> {
    let bytes = fs::read(module).with_context(|| format!("reading {}", module.display()))?;
    let encoded = componentize_bytes(&bytes)
        .with_context(|| format!("turning {} into a component", module.display()))?;
    write_if_changed(component, &encoded)
}

/// Write unless the file already holds `bytes`, so unchanged components keep
/// their modification time (and whatever caches key on it stay valid).
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The `name` of the `[package]` section of a manifest's text. A line-based
/// reading, enough for manifests that keep the usual `name = "..."` form.
pub fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name").map(str::trim_start) {
            let value = value.strip_prefix('=')?.trim();
            return Some(value.strip_prefix('"')?.split('"').next()?.to_owned());
        }
    }
    None
}

/// Build the plugin crate in `dir` (a directory with a `Cargo.toml` whose
/// package is a wit-bindgen `cdylib`, as `gavel new --lang rust` writes it)
/// for [`UNKNOWN`] into `target_dir` (default `<dir>/target`) and return the
/// path of its component, `<target_dir>/gavel/<package>.wasm`.
///
/// Uses the `cargo` and `rustc` named by the `CARGO` and `RUSTC` environment
/// variables, or the ones on `PATH`.
pub fn build_plugin_crate(dir: &Path, target_dir: Option<&Path>) -> Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    let text =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let Some(package) = package_name(&text) else {
        bail!(
            "{}: no `name = \"...\"` in a [package] section: a plugin crate is one package (crate-type = [\"cdylib\"]), not a workspace",
            manifest.display()
        );
    };
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    ensure_target(&rustc, UNKNOWN)?;
    let target_dir = target_dir.map_or_else(|| dir.join("target"), Path::to_owned);
    cargo_build(&cargo, dir, Scope::Package(&package), UNKNOWN, &target_dir)?;
    let module = target_dir
        .join(UNKNOWN)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    ensure!(
        module.is_file(),
        "{}: the build produced no {}: the crate needs `[lib] crate-type = [\"cdylib\"]`",
        dir.display(),
        module.display()
    );
    let out = target_dir.join("gavel");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let component = out.join(format!("{package}.wasm"));
    componentize(&module, &component)?;
    Ok(component)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_name_reads_the_package_section_only() {
        let manifest =
            "[workspace]\nname = \"no\"\n\n[package]\nversion = \"1\"\nname = \"my-plugin\" # c\n";
        assert_eq!(package_name(manifest).as_deref(), Some("my-plugin"));
        assert_eq!(package_name("[workspace]\nmembers = []\n"), None);
    }

    #[test]
    fn componentize_refuses_bytes_that_are_not_a_module() {
        assert!(componentize_bytes(b"not wasm").is_err());
        // A module without wit-bindgen's type section is an empty component.
        assert!(componentize_bytes(&wat::parse_str("(module)").unwrap()).is_ok());
    }
}
