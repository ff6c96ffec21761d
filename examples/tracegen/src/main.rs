//! Run with: `cargo run -p gavel-tracegen -- --scenario fairness-drift --endpoint http://127.0.0.1:8080/v1/traces`
//!
//! `tracegen` generates GenAI inference spans with GPU samples (OTLP) and
//! writes them to a file or POSTs them to an OTLP/HTTP endpoint such as
//! `gavel serve`'s `/v1/traces`. See examples/tracegen/README.md.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use gavel_tracegen::send::{SendConfig, SendReport, send};
use gavel_tracegen::{Content, Format, Generator, Options, Scenario, SpanKind, encode};

#[derive(Clone, Copy, ValueEnum)]
enum ScenarioArg {
    /// Balanced groups, busy GPUs, good explanations, no personal data.
    Healthy,
    /// One group's selection rate drops: demographic parity ratio ≈ 0.45.
    FairnessDrift,
    /// GPUs at 0–4 % utilisation on light traffic.
    IdleGpu,
    /// Message content with synthetic personal data in a fraction of prompts.
    PiiLeak,
    /// Mean explanation fidelity ≈ 0.69.
    ExplainabilityDrift,
    /// Every anomaly, each on its own service.
    Mixed,
}

impl From<ScenarioArg> for Scenario {
    fn from(s: ScenarioArg) -> Self {
        match s {
            ScenarioArg::Healthy => Scenario::Healthy,
            ScenarioArg::FairnessDrift => Scenario::FairnessDrift,
            ScenarioArg::IdleGpu => Scenario::IdleGpu,
            ScenarioArg::PiiLeak => Scenario::PiiLeak,
            ScenarioArg::ExplainabilityDrift => Scenario::ExplainabilityDrift,
            ScenarioArg::Mixed => Scenario::Mixed,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// OTLP JSON (application/json); files get one request per line.
    Json,
    /// Binary protobuf (application/x-protobuf); files get the concatenated requests.
    Protobuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum ContentArg {
    /// No message content.
    Off,
    /// gen_ai.input.messages / gen_ai.output.messages (structured JSON).
    Structured,
    /// The deprecated gen_ai.prompt / gen_ai.completion.
    Legacy,
}

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    /// Recorded by the model server (holds the GPU).
    Server,
    /// Recorded by the caller.
    Client,
}

/// Generate GenAI inference spans with GPU samples as OTLP, for gavel demos
/// and benchmarks.
#[derive(Parser)]
#[command(name = "tracegen", version)]
struct Cli {
    /// What the traffic shows.
    #[arg(long, value_enum, default_value = "healthy")]
    scenario: ScenarioArg,
    /// Seed of every random choice: the same arguments give the same spans
    /// (pin --start too).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of spans.
    #[arg(long, default_value_t = 3000)]
    spans: usize,
    /// Spans per export request.
    #[arg(long, default_value_t = 200)]
    batch_size: usize,
    /// Model-serving Deployments.
    #[arg(long, default_value_t = 3)]
    services: usize,
    /// Namespaces the services are spread over.
    #[arg(long, default_value_t = 2)]
    namespaces: usize,
    /// Models each service serves.
    #[arg(long, default_value_t = 1)]
    models: usize,
    /// Pods (each with one GPU or MIG slice) per service.
    #[arg(long, default_value_t = 2)]
    replicas: usize,
    /// Start of the time range (RFC 3339, e.g. 2026-01-01T00:00:00Z);
    /// default: --duration before now, so the newest spans end about now.
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    start: Option<SystemTime>,
    /// Length of the time range the spans are spread over (e.g. 90s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Fraction of the time range after which the anomaly starts (0–1).
    #[arg(long, default_value_t = 0.0)]
    onset: f64,
    /// Message content [default: structured for pii-leak and mixed, else off].
    #[arg(long, value_enum)]
    content: Option<ContentArg>,
    /// Fraction of a leaking service's prompts that carry personal data.
    #[arg(long, default_value_t = 0.1)]
    pii_fraction: f64,
    /// Fraction of spans that end in an error.
    #[arg(long, default_value_t = 0.01)]
    error_rate: f64,
    /// Span kind.
    #[arg(long, value_enum, default_value = "server")]
    span_kind: KindArg,

    /// Write to FILE ("-" for stdout) instead of sending.
    #[arg(long, value_name = "FILE", conflicts_with = "endpoint")]
    out: Option<PathBuf>,
    /// POST to this OTLP/HTTP traces URL (http:// only).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Body encoding [default: protobuf when sending, json when writing].
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// gzip bodies (Content-Encoding: gzip), or the output file.
    #[arg(long)]
    gzip: bool,
    /// Export requests in flight at once.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Retries per batch after 429/502/503/504 or a transport error.
    #[arg(long, default_value_t = 5)]
    max_retries: u32,
    /// Longest wait accepted before one retry; a longer Retry-After fails the batch.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    max_retry_wait: Duration,
    /// Time limit of one HTTP request.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

fn unix_nanos(t: SystemTime) -> anyhow::Result<u64> {
    let since = t
        .duration_since(UNIX_EPOCH)
        .context("--start is before 1970")?;
    u64::try_from(since.as_nanos()).context("--start is after the year 2554")
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let scenario = Scenario::from(cli.scenario);
    let start = match cli.start {
        Some(t) => t,
        None => SystemTime::now()
            .checked_sub(cli.duration)
            .context("--duration reaches back before 1970")?,
    };
    let options = Options {
        seed: cli.seed,
        spans: cli.spans,
        batch_size: cli.batch_size,
        services: cli.services,
        namespaces: cli.namespaces,
        models_per_service: cli.models,
        replicas: cli.replicas,
        start_unix_nano: unix_nanos(start)?,
        duration: cli.duration,
        onset: cli.onset,
        content: cli.content.map(|c| match c {
            ContentArg::Off => Content::Off,
            ContentArg::Structured => Content::Structured,
            ContentArg::Legacy => Content::Legacy,
        }),
        pii_fraction: cli.pii_fraction,
        error_rate: cli.error_rate,
        span_kind: match cli.span_kind {
            KindArg::Server => SpanKind::Server,
            KindArg::Client => SpanKind::Client,
        },
        ..Options::default()
    };
    let generator = Generator::new(scenario, &options)?;
    let spans = generator.spans();

    match (&cli.endpoint, &cli.out) {
        (Some(endpoint), _) => {
            gavel_tracegen::send::endpoint_uri(endpoint)?;
            let config = SendConfig {
                endpoint: endpoint.clone(),
                format: match cli.format {
                    Some(FormatArg::Json) => Format::Json,
                    _ => Format::Protobuf,
                },
                gzip: cli.gzip,
                concurrency: cli.concurrency,
                max_retries: cli.max_retries,
                max_retry_wait: cli.max_retry_wait,
                timeout: cli.timeout,
                ..SendConfig::default()
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            eprintln!(
                "tracegen: scenario {scenario}, {spans} spans in batches of {}, to {endpoint}",
                options.batch_size
            );
            let report = runtime.block_on(send(&config, generator))?;
            print_report(&report);
            Ok(if report.spans_failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        (None, out) => {
            let format = match cli.format {
                Some(FormatArg::Protobuf) => Format::Protobuf,
                _ => Format::Json,
            };
            let path = out.clone().unwrap_or_else(|| PathBuf::from("-"));
            let sink: Box<dyn Write> = if path.as_os_str() == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(
                    File::create(&path).with_context(|| format!("creating {}", path.display()))?,
                )
            };
            let mut sink = BufWriter::new(sink);
            if cli.gzip {
                let mut gz = flate2::write::GzEncoder::new(sink, flate2::Compression::default());
                encode::write_all(&mut gz, generator, format)?;
                gz.finish()?.flush()?;
            } else {
                encode::write_all(&mut sink, generator, format)?;
            }
            if path.as_os_str() != "-" {
                eprintln!(
                    "tracegen: scenario {scenario}: wrote {spans} spans to {}",
                    path.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_report(r: &SendReport) {
    let statuses: Vec<String> = r.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
    println!(
        "{} spans in {} export requests ({} HTTP attempts, {} retries, {:.1}s waited; responses: {})",
        r.spans_sent + r.spans_failed,
        r.requests,
        r.attempts,
        r.retries,
        r.retry_wait.as_secs_f64(),
        if statuses.is_empty() {
            "none".to_owned()
        } else {
            statuses.join(", ")
        },
    );
    println!(
        "accepted {}, rejected {} (partial success), failed {}",
        r.spans_accepted, r.spans_rejected, r.spans_failed
    );
    println!(
        "{:.0} spans/s accepted, {:.1} MiB of request bodies in {:.2}s",
        r.spans_per_second(),
        r.bytes_sent as f64 / (1024.0 * 1024.0),
        r.elapsed.as_secs_f64()
    );
    for m in &r.messages {
        println!("  {m}");
    }
    if r.spans_failed > 0 {
        eprintln!("tracegen: some spans were not delivered: see the messages above");
    }
}
