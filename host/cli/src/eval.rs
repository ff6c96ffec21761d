//! `gavel eval`: evaluate one subject against a policy set.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use gavel_core::suite::SubjectFile;

use crate::policy;

#[derive(Args)]
#[command(group = clap::ArgGroup::new("subject").required(true).multiple(false))]
pub(crate) struct EvalArgs {
    /// An AdmissionReview (JSON) file.
    #[arg(long, value_name = "FILE", group = "subject")]
    admission: Option<PathBuf>,
    /// A file with one Kubernetes document (YAML or JSON); use `gavel scan` for many.
    #[arg(long, value_name = "FILE", group = "subject")]
    manifest: Option<PathBuf>,
    /// Traces: an OTLP export (OTLP/JSON, one request or JSON Lines as the
    /// Collector's file exporter writes them, or binary protobuf), run through
    /// the daemon's pipeline (mapping, windows per namespace/service/model,
    /// actions); or a JSON array of gavel inference spans, judged as one batch.
    #[arg(long, value_name = "FILE", group = "subject")]
    traces: Option<PathBuf>,
    /// Policy-set directory (default: the built-in default policy set).
    #[arg(long, value_name = "DIR")]
    policy_set: Option<PathBuf>,
    /// Print the composed decision as JSON.
    #[arg(long)]
    json: bool,
}

fn utf8(p: &std::path::Path) -> anyhow::Result<&str> {
    p.to_str().context("the subject path is not UTF-8")
}

pub(crate) fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.traces {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        if !bytes.trim_ascii_start().starts_with(b"[") {
            return crate::traces::run(path, &bytes, args.policy_set.as_deref(), args.json);
        }
    }
    let file = match (&args.admission, &args.manifest, &args.traces) {
        (Some(p), _, _) => SubjectFile::Admission(utf8(p)?),
        (_, Some(p), _) => SubjectFile::Manifest(utf8(p)?),
        (_, _, Some(p)) => SubjectFile::Traces(utf8(p)?),
        _ => bail!("give one of --admission, --manifest, --traces"),
    };
    let subject = gavel_host::suite::load_subject(std::path::Path::new("."), file)
        .map_err(anyhow::Error::msg)?;
    let runtime = policy::runtime()?;
    let set = policy::load(&runtime, args.policy_set.as_deref())?;
    let composed = set.evaluate(&subject);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&composed)?);
    } else {
        policy::print(&composed);
    }
    Ok(policy::exit_code(composed.decision))
}
