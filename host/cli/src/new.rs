//! `gavel new`: scaffold a plugin project that builds and passes its own
//! test suite out of the box, in Rust, Python or JavaScript.
//!
//! Every project gets gavel's WIT contract (`wit/`), the same example
//! policy (deny objects that lack required labels) and the same test suite
//! (`tests/suite.yaml` with its fixtures); what differs is the source and
//! how it is built. The templates live in `host/cli/templates/` and are
//! compiled into the binary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Lang {
    /// Rust with gavel-sdk, built for wasm32-unknown-unknown (no WASI): the fast path.
    Rust,
    /// Python with componentize-py (installed from PyPI by build.sh).
    Python,
    /// JavaScript with componentize-qjs (QuickJS; installed from npm by build.sh).
    Js,
}

#[derive(Args)]
pub(crate) struct NewArgs {
    /// The plugin's name: lower-case letters, digits and `-`, starting with a
    /// letter. Also the directory created, unless --dir is given.
    name: String,
    /// The language to write the plugin in.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// Where to create the project (default: ./NAME). Must not exist, or be empty.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// (Rust) the gavel-sdk crate to depend on, as a path. Default: the SDK
    /// next to the sources this gavel was built from, when they still exist.
    #[arg(long, value_name = "PATH")]
    sdk_path: Option<PathBuf>,
}

/// One file of a template: its path in the project and its text, with
/// `{{name}}` and the language's other placeholders still in it.
struct File {
    path: &'static str,
    text: &'static str,
}

macro_rules! files {
    ($($path:literal => $source:literal),* $(,)?) => {
        &[$(File { path: $path, text: include_str!($source) }),*]
    };
}

/// What every project has, whatever its language.
const COMMON: &[File] = files![
    "wit/types.wit" => "../../../wit/types.wit",
    "wit/host.wit" => "../../../wit/host.wit",
    "wit/world.wit" => "../../../wit/world.wit",
    "tests/suite.yaml" => "../templates/common/tests/suite.yaml",
    "tests/fixtures/pod-labelled.json" => "../templates/common/tests/fixtures/pod-labelled.json",
    "tests/fixtures/pod-unlabelled.json" => "../templates/common/tests/fixtures/pod-unlabelled.json",
    "tests/fixtures/pod-delete.json" => "../templates/common/tests/fixtures/pod-delete.json",
    "tests/fixtures/pod-exec.json" => "../templates/common/tests/fixtures/pod-exec.json",
    "tests/fixtures/deployment.yaml" => "../templates/common/tests/fixtures/deployment.yaml",
];

const RUST: &[File] = files![
    "Cargo.toml" => "../templates/rust/Cargo.toml",
    ".cargo/config.toml" => "../templates/rust/.cargo/config.toml",
    "src/lib.rs" => "../templates/rust/src/lib.rs",
    "README.md" => "../templates/rust/README.md",
    ".gitignore" => "../templates/rust/.gitignore",
];

const PYTHON: &[File] = files![
    "app.py" => "../templates/python/app.py",
    "build.sh" => "../templates/python/build.sh",
    "README.md" => "../templates/python/README.md",
    ".gitignore" => "../templates/python/.gitignore",
];

const JS: &[File] = files![
    "plugin.js" => "../templates/js/plugin.js",
    "package.json" => "../templates/js/package.json",
    "build.sh" => "../templates/js/build.sh",
    "README.md" => "../templates/js/README.md",
    ".gitignore" => "../templates/js/.gitignore",
];

impl Lang {
    fn files(self) -> &'static [File] {
        match self {
            Lang::Rust => RUST,
            Lang::Python => PYTHON,
            Lang::Js => JS,
        }
    }

    /// The suite's `plugin` and `build` lines, and a note on how the plugin
    /// is built. Every language runs under gavel's default limits, which are
    /// ample for the example (an interpreter's start-up runs in every
    /// evaluation: measure yours with `gavel bench` before lowering them).
    fn suite(self) -> [(&'static str, &'static str); 3] {
        match self {
            Lang::Rust => [
                ("{{plugin}}", ".."),
                ("{{build}}", ""),
                (
                    "{{build_note}}",
                    "`plugin: ..` is the crate: gavel test builds it first.",
                ),
            ],
            Lang::Python | Lang::Js => [
                ("{{plugin}}", "../plugin.wasm"),
                ("{{build}}", "build: [sh, ../build.sh]\n"),
                (
                    "{{build_note}}",
                    "`build` rebuilds plugin.wasm first, so the suite always tests the source as it is now.",
                ),
            ],
        }
    }
}

/// A plugin name: what cargo, npm and gavel's policy sets all accept.
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "`{name}` is not a valid plugin name: use lower-case letters, digits and `-`, start with a letter, at most 64 characters (for example `gpu-quota`)"
        );
    }
    Ok(())
}

/// The `gavel-sdk = ...` dependency line of a Rust project.
fn sdk_dependency(explicit: Option<&Path>) -> anyhow::Result<(String, Option<String>)> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk");
    let path = match explicit {
        Some(p) => {
            if !p.join("Cargo.toml").is_file() {
                bail!(
                    "--sdk-path `{}` has no Cargo.toml: give the directory of the gavel-sdk crate (`sdk/` in gavel's repository)",
                    p.display()
                );
            }
            p.to_owned()
        }
        None if built_from.join("Cargo.toml").is_file() => built_from,
        None => {
            return Ok((
                format!(
                    "gavel-sdk = {{ git = \"{}\" }}",
                    env!("CARGO_PKG_REPOSITORY")
                ),
                Some(
                    "the project depends on gavel-sdk from git: pass --sdk-path to use a local checkout instead".into(),
                ),
            ));
        }
    };
    let path = path
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", path.display()))?;
    let path = path
        .to_str()
        .with_context(|| format!("`{}` is not UTF-8", path.display()))?;
    Ok((format!("gavel-sdk = {{ path = {path:?} }}"), None))
}

pub(crate) fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("`{}` exists and cannot be read", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "`{}` already exists and is not empty: choose another name or --dir",
            dir.display()
        );
    }
    let (sdk, note) = if args.lang == Lang::Rust {
        sdk_dependency(args.sdk_path.as_deref())?
    } else {
        (String::new(), None)
    };
    let mut replacements: Vec<(&str, &str)> = vec![("{{name}}", &args.name), ("{{sdk}}", &sdk)];
    replacements.extend(args.lang.suite());
    for file in COMMON.iter().chain(args.lang.files()) {
        let mut text = file.text.to_owned();
        for (from, to) in &replacements {
            text = text.replace(from, to);
        }
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    println!(
        "created {} plugin `{}` in {}",
        match args.lang {
            Lang::Rust => "a Rust",
            Lang::Python => "a Python",
            Lang::Js => "a JavaScript",
        },
        args.name,
        dir.display()
    );
    if let Some(note) = note {
        println!("note: {note}");
    }
    println!("next: cd {} && gavel test", dir.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "gpu-quota", "p2", "required-labels"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Gpu",
            "2fast",
            "-x",
            "x-",
            "a_b",
            "a b",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_placeholder_is_replaced() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let mut keys: Vec<&str> = vec!["{{name}}", "{{sdk}}"];
            keys.extend(lang.suite().iter().map(|(k, _)| *k));
            for file in COMMON.iter().chain(lang.files()) {
                let mut text = file.text.to_owned();
                for k in &keys {
                    text = text.replace(k, "x");
                }
                assert!(
                    !text.contains("{{"),
                    "{lang:?} {}: a placeholder is left",
                    file.path
                );
            }
        }
    }
}
