//! Benchmark 3: trace ingest. OTLP batches from `gavel-tracegen`, encoded
//! before any clock starts, POSTed to the release `gavel serve`'s
//! `/v1/traces` over keep-alive connections (429 and 503 honoured: wait
//! for `Retry-After`, send again), against the daemon's own decode + map
//! (`gavel-otlp`) run in-process on one thread, in the same run.
//!
//! Run with: `cargo build --release -p gavel -p gavel-bench && target/release/ingest`
//!
//! Reports spans/s accepted (first send until every span is answered 200),
//! spans/s through evaluation (until every window closed by count has its
//! verdict recorded), and window-close latency from the daemon's
//! `gavel_trace_window_evaluation_duration_seconds` histogram, after
//! waiting until every window (the last ones close by age) is judged. Two
//! policy sets by default: the built-in default (cost, privacy, bias,
//! explainer on traces) and bias + privacy + cost, issue #7's configuration.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use gavel_bench::daemon::{self, Cpus, Daemon, RssSampler, mib};
use gavel_bench::ingest::{self, Baseline, Batch, Sent};
use gavel_bench::measure::{Latencies, ms};
use gavel_bench::prom::Scrape;
use gavel_tracegen::Scenario;

#[derive(Parser)]
#[command(about = "gavel serve's OTLP trace ingest, against decoding and mapping in-process")]
struct Args {
    /// The gavel binary (default: `gavel` beside this one, target/release/gavel).
    #[arg(long, value_name = "PATH")]
    gavel: Option<PathBuf>,
    /// Spans to send (all distinct, generated up front).
    #[arg(long, default_value_t = 100_000)]
    spans: usize,
    /// Spans per export request (the OpenTelemetry SDKs' default batch is 512).
    #[arg(long, default_value_t = 512)]
    batch_size: usize,
    /// Concurrent connections, one request in flight each.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// tracegen scenario: healthy, fairness-drift, idle-gpu, pii-leak,
    /// explainability-drift, mixed (every anomaly, message content recorded).
    #[arg(long, default_value = "mixed")]
    scenario: Scenario,
    /// Serve this policy-set directory instead of the two default configurations.
    #[arg(long, value_name = "DIR")]
    policy_set: Option<PathBuf>,
    /// traces.maxSpans for the policy sets the bench derives from the default.
    #[arg(long, value_name = "N")]
    max_spans: Option<u32>,
    /// Pin the daemon to these CPUs (default: not pinned, sharing the
    /// machine with this load generator).
    #[arg(long, value_name = "LIST")]
    cpus: Option<Cpus>,
    /// Seconds the in-process baseline runs (at least one pass).
    #[arg(long, default_value_t = 2.0)]
    baseline_seconds: f64,
    /// Longest wait for every window to be judged, seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// A short smoke run: 10,000 spans, one configuration.
    #[arg(long)]
    quick: bool,
}

fn main() -> ExitCode {
    gavel_bench::exit(run(Args::parse()))
}

/// A policy set to run: a label, and the directory (none: the built-in one).
struct Config {
    label: String,
    dir: Option<PathBuf>,
}

fn configs(args: &Args, scratch: &std::path::Path) -> anyhow::Result<Vec<Config>> {
    if let Some(dir) = &args.policy_set {
        return Ok(vec![Config {
            label: format!("--policy-set {}", dir.display()),
            dir: Some(dir.clone()),
        }]);
    }
    let derive = |name: &str, plugins: Option<&[&str]>| -> anyhow::Result<PathBuf> {
        let dir = scratch.join(name);
        std::fs::create_dir_all(&dir)?;
        let text = ingest::derived_policy_set(plugins, args.max_spans)?;
        std::fs::write(dir.join("policy-set.yaml"), text)
            .with_context(|| format!("cannot write a policy set in {}", dir.display()))?;
        Ok(dir)
    };
    let spans = match args.max_spans {
        Some(n) => format!("traces.maxSpans {n}"),
        None => "traces.maxSpans 1000 (default)".into(),
    };
    let mut out = vec![Config {
        label: format!("built-in default set: cost, privacy, bias, explainer on traces; {spans}"),
        dir: match args.max_spans {
            Some(_) => Some(derive("default", None)?),
            None => None,
        },
    }];
    if !args.quick {
        out.push(Config {
            label: format!("bias, privacy, cost (issue #7's configuration, the default set without explainer); {spans}"),
            dir: Some(derive("bias-privacy-cost", Some(&["bias", "privacy", "cost"]))?),
        });
    }
    Ok(out)
}

fn run(mut args: Args) -> anyhow::Result<()> {
    if args.quick {
        args.spans = args.spans.min(10_000);
        args.baseline_seconds = args.baseline_seconds.min(0.5);
    }
    let gavel = daemon::gavel_path(args.gavel.clone())?;
    let version = daemon::gavel_version(&gavel)?;
    if let Some(cpus) = &args.cpus {
        cpus.check_available()?;
    }
    let scratch = daemon::scratch_dir("ingest")?;
    let cache = scratch.join("cache");

    println!("gavel-bench ingest: OTLP trace ingest end to end (issue #7, benchmark 3)");
    println!("{}", daemon::machine());
    println!("gavel: {} ({version})", gavel.display());
    println!(
        "daemon: `gavel serve --listen 127.0.0.1:PORT --cache-dir DIR [--policy-set DIR]`, no audit log, no action sink, {}",
        match &args.cpus {
            Some(c) => format!("pinned to CPU {c}"),
            None => "not pinned".into(),
        }
    );
    println!(
        "load generator: this process, {} keep-alive HTTP/1.1 connections, ON THE SAME MACHINE as the daemon",
        args.connections
    );

    let t = Instant::now();
    let batches = ingest::generate(args.scenario, args.spans, args.batch_size)?;
    let bytes: usize = batches.iter().map(|b| b.body.len()).sum();
    let spans: usize = batches.iter().map(|b| b.spans).sum();
    println!(
        "traffic: tracegen `{}`, {spans} spans in {} requests of up to {} (protobuf, {:.1} MiB, {:.0} B/span), \
         generated and encoded in {:.1} s before any clock started",
        args.scenario,
        batches.len(),
        args.batch_size,
        bytes as f64 / 1048576.0,
        bytes as f64 / spans.max(1) as f64,
        t.elapsed().as_secs_f64()
    );
    println!(
        "baseline: gavel-otlp decode + map of the same requests in-process, one thread, \
         measured just before each daemon starts\n"
    );

    let batches = Arc::new(batches);
    let mut results = Vec::new();
    for config in configs(&args, &scratch)? {
        println!("── {} ──", config.label);
        let baseline =
            ingest::decode_and_map(&batches, Duration::from_secs_f64(args.baseline_seconds))?;
        println!(
            "baseline: {:.0} spans/s decoded and mapped ({} pass{} in {:.2} s; {} of {spans} spans are inference spans)",
            baseline.spans_per_second(),
            baseline.passes,
            if baseline.passes == 1 { "" } else { "es" },
            baseline.elapsed.as_secs_f64(),
            baseline.inference_spans_per_pass
        );
        let r = measure(
            &args,
            &gavel,
            &cache,
            &scratch,
            &config,
            batches.clone(),
            &baseline,
        )?;
        results.push((config.label, r));
        println!();
    }
    println!("issue #7 target: ≥ 200,000 spans/s with bias, privacy and cost subscribed");
    for (label, (accepted, judged)) in &results {
        let short = label.split(';').next().unwrap_or(label);
        println!(
            "  {short}: accepted {accepted:.0} spans/s → {}; through evaluation {} → {}",
            verdict(*accepted >= 200_000.0),
            judged.map_or("n/a".into(), |j| format!("{j:.0} spans/s")),
            judged.map_or("n/a", |j| verdict(j >= 200_000.0)),
        );
    }
    if args.quick {
        println!("  (--quick: a smoke run, not a measurement)");
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn scrape(addr: SocketAddr) -> anyhow::Result<Scrape> {
    let (status, body) = gavel_bench::client::get(addr, "/metrics", Duration::from_secs(10))
        .context("cannot scrape /metrics")?;
    if status != 200 {
        bail!("/metrics answered {status}");
    }
    Ok(Scrape::parse(&String::from_utf8_lossy(&body))?)
}

/// Windows closed, windows judged, spans held, windows open.
fn progress(m: &Scrape) -> (f64, f64, f64, f64) {
    (
        m.sum("gavel_trace_windows_closed_total"),
        m.sum("gavel_trace_window_decisions_total"),
        m.sum("gavel_trace_spans_buffered"),
        m.sum("gavel_trace_windows_open"),
    )
}

fn counts(m: &Scrape, name: &str, label: &str) -> String {
    let v = m.by_label(name, label);
    if v.is_empty() {
        return "none".into();
    }
    v.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Accepted spans/s, and spans/s through evaluation when measurable.
fn measure(
    args: &Args,
    gavel: &std::path::Path,
    cache: &std::path::Path,
    scratch: &std::path::Path,
    config: &Config,
    batches: Arc<Vec<Batch>>,
    baseline: &Baseline,
) -> anyhow::Result<(f64, Option<f64>)> {
    let port = daemon::free_port()?;
    let mut a: Vec<OsString> = vec![
        "serve".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}").into(),
        "--cache-dir".into(),
        cache.into(),
    ];
    if let Some(dir) = &config.dir {
        a.push("--policy-set".into());
        a.push(dir.into());
    }
    let log = scratch.join(format!("gavel-{port}.log"));
    let mut d = Daemon::spawn(gavel, &a, port, args.cpus.as_ref(), &log)?;
    d.wait_ready(Duration::from_millis(5), Duration::from_secs(300))
        .context("gavel did not become ready")?;
    let before = scrape(d.addr)?;
    if progress(&before).0 > 0.0 {
        bail!("the daemon had closed windows before the run");
    }
    let sampler = RssSampler::start(d.pid(), Duration::from_millis(50));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = gavel_bench::load::client_runtime(threads, None)?;
    let sent: Sent = rt.block_on(ingest::send_all(d.addr, batches.clone(), args.connections))?;
    let start = sent.started.context("nothing was sent")?;
    let total: usize = batches.iter().map(|b| b.spans).sum();
    let statuses: Vec<String> = sent
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}×{n}"))
        .collect();
    println!(
        "sent: {total} spans in {} requests ({} HTTP attempts) in {:.2} s: {:.0} spans/s accepted \
         (gavel ÷ in-process baseline {:.2}×)",
        sent.batches,
        sent.attempts,
        sent.elapsed.as_secs_f64(),
        sent.spans_per_second(),
        sent.spans_per_second() / baseline.spans_per_second()
    );
    println!(
        "  answers: {}; retries after 429/503: {} ({:.1} s of Retry-After waits over all connections); \
         broken connections: {}; spans rejected {}, failed {}",
        statuses.join(", "),
        sent.retries,
        sent.retry_wait.as_secs_f64(),
        sent.transport_errors,
        sent.rejected,
        sent.failed
    );
    if let Some(l) = Latencies::from_samples(sent.latencies.clone()) {
        println!(
            "  POST /v1/traces round trip: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(l.p50),
            ms(l.p99),
            ms(l.max)
        );
    }
    for m in &sent.messages {
        println!("  problem: {m}");
    }

    // Windows closed by count are closed by the time their spans are
    // answered; wait until each has its verdict, then for the rest (closed
    // by age) too.
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut judged_rate = None;
    let mut count_closed_at = None;
    let final_scrape = loop {
        let m = scrape(d.addr)?;
        let (closed, judged, buffered, open) = progress(&m);
        if count_closed_at.is_none() && closed == judged {
            // The buffered gauge is published just after the verdict is
            // counted: read it again once it is settled.
            std::thread::sleep(Duration::from_millis(5));
            let again = scrape(d.addr)?;
            let (closed2, judged2, buffered2, _) = progress(&again);
            if closed2 == judged2 && judged2 == judged {
                let at = start.elapsed();
                let accepted = again.sum_where("gavel_otlp_spans_total", &[("result", "accepted")]);
                let through = accepted - buffered2;
                count_closed_at = Some((at, through, judged2));
                if through > 0.0 {
                    judged_rate = Some(through / at.as_secs_f64());
                }
            }
        }
        if count_closed_at.is_some() && closed == judged && buffered == 0.0 && open == 0.0 {
            break m;
        }
        if Instant::now() > deadline {
            bail!(
                "windows still not judged after {} s: {closed} closed, {judged} judged, {buffered} spans held, {open} open",
                args.timeout
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let all_judged = start.elapsed();
    let rss = sampler.finish();
    let status = d.status()?;

    if let Some((at, through, windows)) = count_closed_at {
        match judged_rate {
            Some(rate) => println!(
                "through evaluation: {through:.0} spans in {windows} windows judged {:.2} s after the first send: \
                 {rate:.0} spans/s (gavel ÷ in-process baseline {:.3}×)",
                at.as_secs_f64(),
                rate / baseline.spans_per_second()
            ),
            None => println!(
                "through evaluation: no window filled up (fewer than traces.maxSpans spans per model): n/a"
            ),
        }
    }
    println!(
        "all windows judged {:.2} s after the first send (the last ones close traces.maxAgeMs after their first span)",
        all_judged.as_secs_f64()
    );
    let m = &final_scrape;
    if let Some(h) = m.histogram("gavel_trace_window_evaluation_duration_seconds", &[]) {
        let q = |q: f64| match h.quantile(q) {
            None => "n/a".into(),
            Some(v) if h.beyond_last_bound(q) => {
                format!("> {:.0} ms (past the last bucket)", v * 1e3)
            }
            Some(v) => format!("{:.1} ms", v * 1e3),
        };
        println!(
            "window-close latency (gavel_trace_window_evaluation_duration_seconds: window closed → verdict recorded): \
             {} windows, mean {}, p50 ≈ {}, p99 ≈ {} (bucket-derived; buckets …, 100, 250, 1000, 2500, 10000 ms)",
            h.count,
            h.mean()
                .map_or("n/a".into(), |v| format!("{:.1} ms", v * 1e3)),
            q(0.5),
            q(0.99)
        );
    }
    println!(
        "windows closed by: {}; decisions: {}",
        counts(m, "gavel_trace_windows_closed_total", "reason"),
        counts(m, "gavel_trace_window_decisions_total", "decision")
    );
    println!(
        "daemon's span counts: {}",
        counts(m, "gavel_otlp_spans_total", "result")
    );
    let plugins: BTreeSet<String> = m
        .by_label("gavel_plugin_evaluations_total", "plugin")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let means: Vec<(&String, f64)> = plugins
        .iter()
        .filter_map(|p| {
            let h = m.histogram("gavel_plugin_evaluation_duration_seconds", &[("plugin", p)])?;
            Some((p, h.mean()? * 1e3))
        })
        .collect();
    let mut per_plugin: Vec<String> = means
        .iter()
        .map(|(p, mean)| format!("{p} {mean:.1} ms"))
        .collect();
    per_plugin.push(format!(
        "together {:.1} ms",
        means.iter().map(|(_, m)| m).sum::<f64>()
    ));
    let failures: Vec<String> = m
        .samples
        .iter()
        .filter(|s| s.name == "gavel_plugin_failures_total")
        .map(|s| {
            let label = |k: &str| {
                s.labels
                    .iter()
                    .find(|(n, _)| n == k)
                    .map_or("", |(_, v)| v.as_str())
            };
            format!("{} {} ×{}", label("plugin"), label("kind"), s.value)
        })
        .collect();
    println!(
        "mean plugin evaluation per window (gavel_plugin_evaluation_duration_seconds): {}; plugin failures: {}",
        per_plugin.join(", "),
        if failures.is_empty() {
            "none".into()
        } else {
            failures.join(", ")
        }
    );
    println!(
        "daemon memory: peak RSS (VmHWM) {:.1} MiB, VmRSS max sampled {:.1} MiB; {} threads",
        mib(status.hwm_kib),
        mib(rss.max_kib.max(status.rss_kib)),
        status.threads
    );
    let exit = d.stop(Duration::from_secs(60))?;
    if !exit.success() {
        println!("note: gavel exited with {exit} after SIGTERM");
    }
    Ok((sent.spans_per_second(), judged_rate))
}
