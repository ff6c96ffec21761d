//! `gavel scan`: the GitOps pre-merge check over a directory of manifests.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use gavel_core::manifests::{self, Document};
use gavel_core::{Decision, Subject};

use crate::policy;

#[derive(Args)]
pub(crate) struct ScanArgs {
    /// Directory (searched recursively for .yaml, .yml and .json) or file.
    dir: PathBuf,
    /// Policy-set directory (default: the built-in default policy set).
    #[arg(long, value_name = "DIR")]
    policy_set: Option<PathBuf>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

fn files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if root.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    if !root.is_dir() {
        bail!("`{}` is neither a file nor a directory", root.display());
    }
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read `{}`", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "target" || name == "node_modules" {
                continue;
            }
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

pub(crate) fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let runtime = policy::runtime()?;
    let set = policy::load(&runtime, args.policy_set.as_deref())?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut worst = Decision::Allow;
    for file in files(&args.dir)? {
        let shown = file
            .strip_prefix(&args.dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        let shown = if shown.is_empty() {
            file.display().to_string()
        } else {
            shown
        };
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{shown}: cannot read: {e}"));
                continue;
            }
        };
        let docs = match manifests::documents(&text, &shown) {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("{shown}:{}: {}", e.line, e.message));
                continue;
            }
        };
        for doc in docs {
            let Document::Object {
                manifest,
                line,
                kind,
                name,
            } = doc
            else {
                continue;
            };
            let composed = set.evaluate(&Subject::Manifest(manifest));
            worst = worst.max(composed.decision);
            rows.push(serde_json::json!({
                "file": shown,
                "line": line,
                "kind": kind,
                "name": name,
                "decision": composed.decision,
                "denials": composed.denials,
                "warnings": composed.warnings,
            }));
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"documents": rows, "errors": errors})
            )?
        );
    } else {
        let width = rows
            .iter()
            .map(|r| format!("{}:{}", r["file"].as_str().unwrap_or(""), r["line"]).len())
            .max()
            .unwrap_or(8)
            .max(8);
        println!("{:<width$}  {:<32}  DECISION", "LOCATION", "OBJECT");
        for r in &rows {
            let location = format!("{}:{}", r["file"].as_str().unwrap_or(""), r["line"]);
            let object = format!(
                "{}/{}",
                r["kind"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("-")
            );
            println!(
                "{location:<width$}  {object:<32}  {}",
                r["decision"].as_str().unwrap_or("")
            );
            for reason in r["denials"]
                .as_array()
                .into_iter()
                .chain(r["warnings"].as_array())
                .flatten()
            {
                println!("{:width$}    {}", "", reason.as_str().unwrap_or(""));
            }
        }
        let count = |d: &str| rows.iter().filter(|r| r["decision"] == d).count();
        println!(
            "{} documents: {} allowed, {} warned, {} denied; {} files could not be read",
            rows.len(),
            count("allow"),
            count("warn"),
            count("deny"),
            errors.len()
        );
        for e in &errors {
            eprintln!("error: {e}");
        }
    }
    // A file that does not parse fails the check: a broken manifest must not merge.
    if !errors.is_empty() {
        return Ok(ExitCode::from(2));
    }
    Ok(policy::exit_code(worst))
}
