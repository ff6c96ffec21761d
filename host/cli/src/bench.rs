//! `gavel bench`: evaluations per second and latency percentiles for one plugin.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use gavel_core::suite::SubjectFile;
use gavel_core::{Limits, Outcome};

use crate::policy;

#[derive(Args)]
#[command(group = clap::ArgGroup::new("subject").required(true).multiple(false))]
pub(crate) struct BenchArgs {
    /// The plugin: a .wasm file, or the name of a bundled plugin.
    plugin: String,
    /// An AdmissionReview (JSON) file.
    #[arg(long, value_name = "FILE", group = "subject")]
    admission: Option<PathBuf>,
    /// A file with one Kubernetes document (YAML or JSON).
    #[arg(long, value_name = "FILE", group = "subject")]
    manifest: Option<PathBuf>,
    /// A JSON array of inference spans.
    #[arg(long, value_name = "FILE", group = "subject")]
    traces: Option<PathBuf>,
    /// Plugin settings, as JSON.
    #[arg(long, default_value = "{}")]
    settings: String,
    /// How long to measure, seconds (after a warm-up of a tenth of that).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

fn utf8(p: &std::path::Path) -> anyhow::Result<&str> {
    p.to_str().context("the subject path is not UTF-8")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let file = match (&args.admission, &args.manifest, &args.traces) {
        (Some(p), _, _) => SubjectFile::Admission(utf8(p)?),
        (_, Some(p), _) => SubjectFile::Manifest(utf8(p)?),
        (_, _, Some(p)) => SubjectFile::Traces(utf8(p)?),
        _ => bail!("give one of --admission, --manifest, --traces"),
    };
    let subject = gavel_host::suite::load_subject(std::path::Path::new("."), file)
        .map_err(anyhow::Error::msg)?;
    let bytes = match gavel_artifacts::BUNDLED
        .iter()
        .find(|(n, _)| *n == args.plugin)
    {
        Some((_, b)) => b.to_vec(),
        None => std::fs::read(&args.plugin).with_context(|| {
            format!(
                "cannot read `{}` (and it is not a bundled plugin)",
                args.plugin
            )
        })?,
    };
    serde_json::from_str::<serde_json::Value>(&args.settings).context("--settings is not JSON")?;
    let runtime = policy::runtime()?;
    let plugin = runtime.load_plugin(&args.plugin, &bytes)?;
    let limits = Limits::default();
    // What a plugin entry with the default input grant is shown.
    let shown = subject.project(&gavel_core::Omit::default_set());
    let subject = shown.unwrap_or(subject);
    if let Outcome::Failed(f) = plugin.evaluate(&subject, &args.settings, &limits).outcome {
        bail!("the plugin fails on this subject, nothing to measure: {f}");
    }
    let measure = |budget: Duration| {
        let mut samples = Vec::new();
        let start = Instant::now();
        while start.elapsed() < budget {
            samples.push(plugin.evaluate(&subject, &args.settings, &limits).duration);
        }
        (samples, start.elapsed())
    };
    if !args.seconds.is_finite() || !(0.1..=3600.0).contains(&args.seconds) {
        bail!("--seconds must be between 0.1 and 3600");
    }
    let total = Duration::from_secs_f64(args.seconds);
    measure(total / 10);
    let (mut samples, elapsed) = measure(total);
    samples.sort_unstable();
    let rate = samples.len() as f64 / elapsed.as_secs_f64();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (p50, p90, p99, max) = (
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99),
        samples[samples.len() - 1],
    );
    if args.json {
        let json = serde_json::json!({
            "plugin": plugin.metadata().name,
            "evaluations": samples.len(),
            "perSecond": rate,
            "latencyMicros": {"p50": us(p50), "p90": us(p90), "p99": us(p99), "max": us(max)},
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!(
            "{}: {} evaluations in {:.2} s on one thread, {:.0}/s\nlatency µs: p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}\n\
             (each evaluation is a fresh instance: instantiate, call, drop)",
            plugin.metadata().name,
            samples.len(),
            elapsed.as_secs_f64(),
            rate,
            us(p50),
            us(p90),
            us(p99),
            us(max)
        );
    }
    Ok(ExitCode::SUCCESS)
}
