//! `gavel audit verify` and `gavel audit replay`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use gavel_core::{Outcome, PluginReport};
use gavel_server::audit;
use gavel_server::webhook::subject_from_kept;
use serde_json::Value;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the hash chain and report the first bad record.
    ///
    /// Exit code 0 when the whole file verifies, 1 when a record was edited,
    /// deleted, reordered or truncated.
    Verify {
        /// The audit log (JSON Lines).
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-run a recorded decision and report whether it is identical.
    ///
    /// Needs the record's input, kept when the policy set sets
    /// `audit.keepInput: true`. Exit code 0 when identical, 1 when not.
    Replay {
        /// The audit log (JSON Lines).
        file: PathBuf,
        /// Sequence number of the record (`seq`).
        #[arg(long, value_name = "N")]
        record: u64,
        /// The policy-set directory to replay against (default: the
        /// built-in default policy set).
        #[arg(long, value_name = "DIR")]
        policy_set: Option<PathBuf>,
    },
}

pub(crate) fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify { file, json } => verify(file, json),
        AuditCommand::Replay {
            file,
            record,
            policy_set,
        } => replay(file, record, policy_set),
    }
}

fn verify(file: PathBuf, json: bool) -> anyhow::Result<ExitCode> {
    let v = audit::verify(&file)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        match &v.broken {
            None => println!(
                "ok: {} records verified; head seq {} hash {}",
                v.verified, v.head.seq, v.head.hash
            ),
            Some(b) => println!(
                "BROKEN at line {}: {}\n{} records before it verify (head seq {} hash {})",
                b.line, b.reason, v.verified, v.head.seq, v.head.hash
            ),
        }
    }
    Ok(if v.broken.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What a replay compares: each plugin's outcome, without timings.
fn comparable(plugins: &[Value]) -> Vec<Value> {
    plugins
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if let Some(m) = p.as_object_mut() {
                for volatile in ["duration", "module", "moduleSha256"] {
                    m.remove(volatile);
                }
            }
            p
        })
        .collect()
}

fn replay(file: PathBuf, seq: u64, policy_set: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let verification = audit::verify(&file)?;
    if let Some(b) = &verification.broken
        && b.line <= seq
    {
        bail!(
            "the audit chain is broken at line {} ({}), before record {seq}: run `gavel audit verify`",
            b.line,
            b.reason
        );
    }
    let record = audit::read_record(&file, seq)?
        .ok_or_else(|| anyhow!("no record with seq {seq} in {}", file.display()))?;
    let kept = record["subject"].get("input").ok_or_else(|| {
        anyhow!("record {seq} did not keep its input: set `audit.keepInput: true` in the policy set to make decisions replayable")
    })?;
    let subject = subject_from_kept(kept).map_err(|e| anyhow!(e))?;

    let runtime = crate::policy::runtime()?;
    let set = crate::policy::load(&runtime, policy_set.as_deref())?;
    let recorded_digest = record["config"]["digest"].as_str().unwrap_or_default();
    if recorded_digest != set.version() {
        eprintln!(
            "note: replaying against policy set version {}, the record was decided under {recorded_digest}",
            set.version()
        );
    }
    let composed = set.evaluate(&subject);
    let now: Vec<Value> = composed
        .plugins
        .iter()
        .map(|p: &PluginReport| serde_json::to_value(p))
        .collect::<Result<_, _>>()
        .context("cannot serialise the replayed outcome")?;
    let then = record["plugins"].as_array().cloned().unwrap_or_default();
    let same_decision = record["decision"] == serde_json::to_value(composed.decision)?;
    let same_plugins = comparable(&then) == comparable(&now);
    println!(
        "record {seq}: recorded {}, replayed {}",
        record["decision"], composed.decision
    );
    if same_decision && same_plugins {
        println!("identical");
        return Ok(ExitCode::SUCCESS);
    }
    println!("DIFFERENT");
    if !same_decision {
        println!(
            "  decision: recorded {}, replayed {}",
            record["decision"], composed.decision
        );
    }
    let by_name = |plugins: &[Value]| -> std::collections::BTreeMap<String, Value> {
        comparable(plugins)
            .into_iter()
            .map(|p| (p["name"].as_str().unwrap_or_default().to_owned(), p))
            .collect()
    };
    let (then, now) = (by_name(&then), by_name(&now));
    for name in then
        .keys()
        .chain(now.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (then.get(name), now.get(name)) {
            (Some(a), Some(b)) if a != b => {
                println!("  {name}:\n    recorded: {a}\n    replayed: {b}")
            }
            (Some(_), None) => {
                println!("  {name}: recorded, but not in the policy set replayed against")
            }
            (None, Some(_)) => {
                println!("  {name}: in the policy set replayed against, but not recorded")
            }
            _ => {}
        }
    }
    if composed
        .plugins
        .iter()
        .any(|p| matches!(p.outcome, Outcome::Failed(_)))
    {
        println!("  (a plugin failed on replay: check its limits and the policy set)");
    }
    Ok(ExitCode::from(1))
}
