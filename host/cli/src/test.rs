//! `gavel test`: run plugin test suites (docs/test-suites.md).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::Args;
use gavel_core::suite::TestSuite;
use gavel_host::suite::SuiteReport;

#[derive(Args)]
pub(crate) struct TestArgs {
    /// Suite files, or directories searched for `suite.yaml` and `*.suite.yaml`.
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Also write the results as JUnit XML (for CI).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print the results as JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn is_suite(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == "suite.yaml" || n.ends_with(".suite.yaml"))
}

/// Every suite under `root` (or `root` itself), sorted.
fn find(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if root.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            if entry.file_type()?.is_dir() {
                // Build output, dependencies, and hidden directories (.git, .venv).
                let skip = name
                    .to_str()
                    .is_none_or(|n| n.starts_with('.') || n == "target" || n == "node_modules");
                if !skip {
                    stack.push(path);
                }
            } else if is_suite(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

struct Paint(bool);

impl Paint {
    fn detect() -> Paint {
        Paint(std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none())
    }

    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

pub(crate) fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let mut suites = Vec::new();
    for p in &args.paths {
        suites.extend(find(p)?);
    }
    if suites.is_empty() {
        bail!(
            "no test suites found under {}: a suite is a file named suite.yaml or *.suite.yaml (see docs/test-suites.md)",
            args.paths
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let runtime = crate::policy::runtime()?;
    let mut reports: Vec<(PathBuf, SuiteReport)> = Vec::new();
    for path in suites {
        let bar = crate::progress::spinner(format!("{}: building and compiling", path.display()));
        let report = runtime.run_suite(&path, &|dir, suite| resolve(dir, suite, &bar));
        bar.finish_and_clear();
        reports.push((path, report.map_err(anyhow::Error::msg)?));
    }
    let paint = Paint::detect();
    let (mut passed, mut failed) = (0, 0);
    if args.json {
        let json: Vec<_> = reports
            .iter()
            .map(|(p, r)| serde_json::json!({"suite": p, "plugin": r.plugin, "cases": r.cases}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    for (path, report) in &reports {
        if !args.json {
            println!("{} ({})", path.display(), report.plugin);
        }
        for case in &report.cases {
            if case.passed() {
                passed += 1;
            } else {
                failed += 1;
            }
            if args.json {
                continue;
            }
            if case.passed() {
                println!("  {} {}", paint.wrap("32", "✓"), case.name);
            } else {
                println!("  {} {}", paint.wrap("31", "✗"), case.name);
                for m in &case.mismatches {
                    println!("      {}", paint.wrap("33", m));
                }
            }
        }
    }
    if let Some(file) = &args.junit {
        std::fs::write(file, junit(&reports))
            .with_context(|| format!("cannot write `{}`", file.display()))?;
    }
    if !args.json {
        println!("{passed} passed, {failed} failed");
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The component a suite tests, for what gavel-host does not resolve itself
/// (`.wasm` paths): after the suite's `build` command, a Rust plugin crate
/// (built) or a plugin bundled with gavel.
fn resolve(
    dir: &Path,
    suite: &TestSuite,
    bar: &indicatif::ProgressBar,
) -> Result<Option<Vec<u8>>, String> {
    if let Some(argv) = &suite.build {
        bar.suspend(|| run_build(dir, argv))?;
    }
    let candidate = dir.join(&suite.plugin);
    if candidate.join("Cargo.toml").is_file() {
        let component = bar
            .suspend(|| {
                // The caller's CARGO_TARGET_DIR, as cargo itself would use it.
                let target_dir = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from);
                gavel_build::build_plugin_crate(&candidate, target_dir.as_deref())
            })
            .map_err(|e| format!("cannot build the plugin crate `{}`: {e:#}", suite.plugin))?;
        return std::fs::read(&component)
            .map(Some)
            .map_err(|e| format!("cannot read `{}`: {e}", component.display()));
    }
    Ok(gavel_artifacts::BUNDLED
        .iter()
        .find(|(n, _)| *n == suite.plugin)
        .map(|(_, bytes)| bytes.to_vec()))
}

/// Run a suite's `build` command in its directory. Its output goes to
/// stderr, so `--json` on stdout stays parseable.
fn run_build(dir: &Path, argv: &[String]) -> Result<(), String> {
    let shown = argv.join(" ");
    let (program, args) = argv.split_first().ok_or("build is empty")?;
    eprintln!("building: {shown} (in {})", dir.display());
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("the build command `{program}` was not found: install it, or fix the suite's `build`")
            } else {
                format!("cannot run the build command `{shown}`: {e}")
            }
        })?;
    if !status.success() {
        return Err(format!(
            "the build command `{shown}` failed ({status}): its output is above"
        ));
    }
    Ok(())
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn junit(reports: &[(PathBuf, SuiteReport)]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for (path, r) in reports {
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\">\n",
            xml(&path.display().to_string()),
            r.cases.len(),
            r.failed()
        ));
        for c in &r.cases {
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.6}\"",
                xml(&r.plugin),
                xml(&c.name),
                c.duration.as_secs_f64()
            ));
            if c.passed() {
                out.push_str("/>\n");
            } else {
                let text = c.mismatches.join("\n");
                out.push_str(&format!(
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml(c.mismatches.first().map(String::as_str).unwrap_or_default()),
                    xml(&text)
                ));
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
