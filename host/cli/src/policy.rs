//! Loading the policy set a command evaluates with, and printing decisions.

use std::path::Path;

use anyhow::Context;
use gavel_core::{Composed, Decision, Outcome, PolicySet};
use gavel_host::{LoadProgress, PolicySetRuntime, Runtime, RuntimeBuilder};

use crate::defaults;

/// A runtime sized for one-shot commands, with the user's compile cache.
pub(crate) fn runtime() -> anyhow::Result<Runtime> {
    let mut builder = RuntimeBuilder::new().max_concurrent_instances(8);
    if let Some(dir) = cache_dir() {
        builder = builder.cache_dir(dir);
    }
    builder.build().context("cannot start the wasm runtime")
}

/// Where one-shot commands keep compiled plugins, so that a second run does
/// not compile them again (a Python plugin takes seconds): `GAVEL_CACHE_DIR`
/// (empty: no cache), else `$XDG_CACHE_HOME/gavel`, else `~/.cache/gavel`.
pub(crate) fn cache_dir() -> Option<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("GAVEL_CACHE_DIR") {
        return (!dir.is_empty()).then(|| dir.into());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(base.join("gavel"))
}

/// The policy set in `dir`, or the built-in default.
pub(crate) fn load(runtime: &Runtime, dir: Option<&Path>) -> anyhow::Result<PolicySetRuntime> {
    let builtins = defaults::builtins();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let mut progress = |p: LoadProgress<'_>| {
        let bar = bar.get_or_insert_with(|| crate::progress::plugins(p.total));
        bar.set_position(u64::try_from(p.index).unwrap_or(u64::MAX));
        bar.set_message(p.plugin.to_owned());
    };
    let loaded = match dir {
        Some(dir) => runtime.load_policy_set_dir_observed(dir, &builtins, &mut progress),
        None => runtime.load_policy_set_observed(
            PolicySet::from_yaml(defaults::DEFAULT_POLICY_SET)?,
            None,
            &builtins,
            &mut progress,
        ),
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(loaded?)
}

/// Print a composed decision for people: the decision, then each plugin's
/// verdict or failure with its findings, metrics, actions and timing.
pub(crate) fn print(composed: &Composed) {
    println!("decision: {}", composed.decision);
    for p in &composed.plugins {
        let micros = p.duration.as_micros();
        match &p.outcome {
            Outcome::Skipped => println!("  {}: skipped (not subscribed to this subject)", p.name),
            Outcome::Failed(f) => {
                let effect = p
                    .effect
                    .map_or("no effect".to_owned(), |d| format!("counts as {d}"));
                println!("  {}: FAILED {} ({effect}, {micros} µs)", p.name, f);
            }
            Outcome::Verdict(v) => {
                let note = match p.effect {
                    Some(e) if e != v.decision => format!(", counts as {e}"),
                    None => ", audit only".to_owned(),
                    _ => String::new(),
                };
                println!("  {}: {}{note} ({micros} µs)", p.name, v.decision);
                for f in &v.findings {
                    let at = f
                        .path
                        .as_deref()
                        .map(|p| format!(" at {p}"))
                        .unwrap_or_default();
                    println!("    - {} [{:?}]{at}: {}", f.code, f.severity, f.message);
                }
                for m in &v.metrics {
                    let labels: Vec<String> =
                        m.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let labels = if labels.is_empty() {
                        String::new()
                    } else {
                        format!("{{{}}}", labels.join(","))
                    };
                    println!("    = {}{labels} {}", m.name, m.value);
                }
                for a in &v.actions {
                    println!("    ! {}", serde_json::to_string(a).unwrap_or_default());
                }
            }
        }
    }
}

/// The exit code for a decision: 1 when denied, so pipelines stop.
pub(crate) fn exit_code(decision: Decision) -> std::process::ExitCode {
    if decision == Decision::Deny {
        std::process::ExitCode::from(1)
    } else {
        std::process::ExitCode::SUCCESS
    }
}
