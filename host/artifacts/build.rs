//! Builds gavel's wasm guests from source into components and writes
//! `$OUT_DIR/artifacts.rs`, which `src/lib.rs` includes.
//!
//! - `plugins/*` (the governance plugins) for `wasm32-unknown-unknown`,
//!   turned into components with `wit-component`: `<dir>.wasm`.
//! - `tests/programs/*` (hostile fixtures) for `wasm32-unknown-unknown` the
//!   same way (`<dir>.wasm`), and for `wasm32-wasip2`, whose outputs already
//!   are components (`<dir>-wasip2.wasm`).
//!
//! Each directory is its own cargo workspace, built by a nested `cargo build
//! --release` into `<target>/wasm-guests`: a target directory of its own, so
//! the nested cargo never waits for the lock the outer cargo holds, shared by
//! the outer debug, release and clippy builds.

use std::collections::BTreeSet;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use gavel_build::{
    Scope, UNKNOWN, WASIP2, cargo_build, componentize, ensure_target, package_name,
    write_if_changed,
};

fn main() -> Result<()> {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR is not set")?);
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .context("finding the repository root")?;
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR is not set")?);
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());

    watch_sources(&root)?;

    for target in [UNKNOWN, WASIP2] {
        ensure_target(&rustc, target)?;
    }

    let plugins_dir = root.join("plugins");
    let programs_dir = root.join("tests/programs");
    let plugins = discover(&root, "plugins")?;
    let programs = discover(&root, "tests/programs")?;

    let target_dir = guest_target_dir(&out_dir);
    cargo_build(&cargo, &plugins_dir, Scope::Workspace, UNKNOWN, &target_dir)?;
    cargo_build(
        &cargo,
        &programs_dir,
        Scope::Workspace,
        UNKNOWN,
        &target_dir,
    )?;
    cargo_build(&cargo, &programs_dir, Scope::Workspace, WASIP2, &target_dir)?;

    let component_dir = out_dir.join("components");
    fs::create_dir_all(&component_dir)
        .with_context(|| format!("creating {}", component_dir.display()))?;
    let mut components = Vec::new();
    for plugin in &plugins {
        let module = plugin.output(&target_dir, UNKNOWN)?;
        let path = component_dir.join(format!("{}.wasm", plugin.name));
        componentize(&module, &path)?;
        components.push(Component {
            guest: plugin,
            suffix: "",
            target: UNKNOWN,
            path,
        });
    }
    for program in &programs {
        let module = program.output(&target_dir, UNKNOWN)?;
        let path = component_dir.join(format!("{}.wasm", program.name));
        componentize(&module, &path)?;
        components.push(Component {
            guest: program,
            suffix: "",
            target: UNKNOWN,
            path,
        });

        let component = program.output(&target_dir, WASIP2)?;
        let path = component_dir.join(format!("{}-wasip2.wasm", program.name));
        write_if_changed(
            &path,
            &fs::read(&component).with_context(|| format!("reading {}", component.display()))?,
        )?;
        components.push(Component {
            guest: program,
            suffix: "_WASIP2",
            target: WASIP2,
            path,
        });
    }
    remove_stale(&component_dir, &components)?;

    let code = generate(&component_dir, &plugins, &components)?;
    write_if_changed(&out_dir.join("artifacts.rs"), code.as_bytes())
}

/// A crate in `plugins/` or `tests/programs/`.
struct Guest {
    /// The directory name, which names the component.
    name: String,
    /// The cargo package name, which names the compiled module.
    package: String,
    /// `plugins/<name>` or `tests/programs/<name>`, for messages and docs.
    relative: String,
}

impl Guest {
    /// The module or component cargo wrote for this guest.
    fn output(&self, target_dir: &Path, target: &str) -> Result<PathBuf> {
        let file = format!("{}.wasm", self.package.replace('-', "_"));
        let path = target_dir.join(target).join("release").join(file);
        ensure!(
            path.is_file(),
            "{}: the build produced no {}: check that the crate is a member of its workspace and has crate-type = [\"cdylib\"]",
            self.relative,
            path.display()
        );
        Ok(path)
    }
}

/// One component written to the component directory.
struct Component<'a> {
    guest: &'a Guest,
    /// Appended to the constant name.
    suffix: &'static str,
    target: &'static str,
    path: PathBuf,
}

impl Component<'_> {
    fn constant(&self) -> String {
        format!(
            "{}{}",
            self.guest.name.to_uppercase().replace('-', "_"),
            self.suffix
        )
    }
}

/// Every crate directly under `dir` (a directory with a `Cargo.toml` that
/// has a `[package]`), sorted by name. Discovered, not listed, so that a new
/// plugin crate is built and gets a constant without touching this file.
fn discover(root: &Path, relative: &str) -> Result<Vec<Guest>> {
    let dir = root.join(relative);
    let mut guests = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let manifest = path.join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = fs::read_to_string(&manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        let Some(package) = package_name(&text) else {
            bail!(
                "{}: no `name = \"...\"` in its [package] section",
                manifest.display()
            );
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{}: the directory name is not UTF-8", path.display()))?
            .to_owned();
        ensure!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{}: a guest directory name must be kebab-case (it names the component and its constant)",
            path.display()
        );
        let relative = format!("{relative}/{name}");
        guests.push(Guest {
            name,
            package,
            relative,
        });
    }
    guests.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(guests)
}

/// Rerun when a guest's sources, the SDK or the WIT contract change.
///
/// Files are listed one by one rather than naming the directories: cargo
/// scans a directory recursively, so `plugins/` would include a
/// `plugins/target/` left by building that workspace on its own, and every
/// such build would rebuild the guests here. A new source file is picked up
/// once a listed file (its parent module, a `Cargo.toml`) is edited to use it.
fn watch_sources(root: &Path) -> Result<()> {
    let mut files = BTreeSet::new();
    for dir in ["wit", "sdk", "plugins", "tests/programs"] {
        list_files(&root.join(dir), &mut files)?;
    }
    // The SDK inherits its package fields, dependencies and lints from the
    // root manifest; cargo configuration applies to the nested builds too.
    for file in ["Cargo.toml", ".cargo/config.toml", ".cargo/config"] {
        let path = root.join(file);
        if path.is_file() {
            files.insert(path);
        }
    }
    for file in files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    Ok(())
}

fn list_files(dir: &Path, files: &mut BTreeSet<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if entry.file_type()?.is_dir() {
            // Build output, and VCS or editor state; `.cargo` holds configuration.
            if name == "target" || (name.to_string_lossy().starts_with('.') && name != ".cargo") {
                continue;
            }
            list_files(&path, files)?;
        } else {
            files.insert(path);
        }
    }
    Ok(())
}

/// `<target>/wasm-guests`, next to the outer build's profile directories.
///
/// OUT_DIR is `<target>[/<triple>]/<profile>/build/<package>-<hash>/out`. If
/// the layout is ever different, build inside OUT_DIR instead: correct, only
/// not shared between profiles.
fn guest_target_dir(out_dir: &Path) -> PathBuf {
    let triple = env::var_os("TARGET");
    let target_root = out_dir
        .ancestors()
        .nth(3)
        .filter(|_| {
            out_dir
                .ancestors()
                .nth(2)
                .and_then(Path::file_name)
                .is_some_and(|n| n == "build")
        })
        .and_then(Path::parent)
        .map(|dir| match (dir.file_name(), dir.parent()) {
            (Some(name), Some(parent)) if Some(name) == triple.as_deref() => parent,
            _ => dir,
        });
    match target_root {
        Some(root) => root.join("wasm-guests"),
        None => out_dir.join("wasm-guests"),
    }
}

/// Delete components of guests that no longer exist, so nothing that lists
/// the component directory loads them.
fn remove_stale(dir: &Path, components: &[Component<'_>]) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm")
            && !components.iter().any(|c| c.path == path)
        {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// The text of `artifacts.rs`.
fn generate(
    component_dir: &Path,
    plugins: &[Guest],
    components: &[Component<'_>],
) -> Result<String> {
    let path = |p: &Path| {
        p.to_str()
            .map(str::to_owned)
            .with_context(|| format!("{} is not UTF-8", p.display()))
    };
    let mut code = String::from("// @generated by host/artifacts/build.rs\n\n");
    writeln!(
        code,
        "/// The directory holding every component below, as `<name>.wasm`."
    )?;
    writeln!(
        code,
        "pub const COMPONENT_DIR: &str = {:?};",
        path(component_dir)?
    )?;
    for c in components {
        let kind = if plugins.iter().any(|p| std::ptr::eq(p, c.guest)) {
            "governance plugin"
        } else {
            "test program"
        };
        let wasi = if c.target == WASIP2 {
            "imports WASI"
        } else {
            "imports no WASI"
        };
        writeln!(code)?;
        writeln!(
            code,
            "/// The `{}` {kind} (`{}`), built for `{}`: {wasi}.",
            c.guest.name, c.guest.relative, c.target
        )?;
        writeln!(
            code,
            "pub const {}: &str = {:?};",
            c.constant(),
            path(&c.path)?
        )?;
    }

    let plugin_components: Vec<&Component<'_>> = components
        .iter()
        .filter(|c| plugins.iter().any(|p| std::ptr::eq(p, c.guest)))
        .collect();
    writeln!(code)?;
    writeln!(
        code,
        "/// Every governance plugin in `plugins/`, as (name, component path), sorted by name."
    )?;
    writeln!(code, "pub const PLUGINS: &[(&str, &str)] = &[")?;
    for c in &plugin_components {
        writeln!(code, "    ({:?}, {}),", c.guest.name, c.constant())?;
    }
    writeln!(code, "];")?;

    writeln!(code)?;
    writeln!(
        code,
        "/// Every governance plugin's component bytes, embedded, as (name, bytes):\n\
         /// what a binary serves as `builtin:<name>`."
    )?;
    writeln!(code, "pub const BUNDLED: &[(&str, &[u8])] = &[")?;
    for c in &plugin_components {
        writeln!(
            code,
            "    ({:?}, include_bytes!({:?})),",
            c.guest.name,
            path(&c.path)?
        )?;
    }
    writeln!(code, "];")?;

    writeln!(code)?;
    writeln!(
        code,
        "/// Invoke `$mac!(CONSTANT)` once for each governance plugin, with the name of its\n\
         /// path constant (for example `$mac!(REQUIRED_LABELS)`).\n\
         ///\n\
         /// A test suite that expands this into one test per plugin, or into\n\
         /// `use self::CONSTANT as _;` checks against its own test functions, fails to\n\
         /// build when a plugin is added without a test.\n\
         #[macro_export]\n\
         macro_rules! foreach_plugin {{\n    ($mac:ident) => {{"
    )?;
    for c in &plugin_components {
        writeln!(code, "        $mac!({});", c.constant())?;
    }
    writeln!(code, "    }};\n}}")?;
    Ok(code)
}
