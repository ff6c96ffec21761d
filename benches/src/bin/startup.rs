//! Benchmark 4: start-up. Time from spawning the release `gavel serve`
//! (built-in default policy set) to its first 200 on `GET /readyz`, polled
//! every millisecond over plain TCP, with a cold compile cache (a fresh
//! empty `--cache-dir`) and a warm one (the same directory again); the
//! baseline, in the same run, is spawn to exit of `gavel --version`: what
//! starting the process costs at all.
//!
//! Run with: `cargo build --release -p gavel -p gavel-bench && target/release/startup`

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use gavel_bench::daemon::{self, Daemon, mib};
use gavel_bench::measure::ms;

#[derive(Parser)]
#[command(about = "gavel serve's start-up: spawn to ready, cold and warm compile cache")]
struct Args {
    /// The gavel binary (default: `gavel` beside this one, target/release/gavel).
    #[arg(long, value_name = "PATH")]
    gavel: Option<PathBuf>,
    /// Runs with a warm compile cache (and of the `--version` baseline).
    #[arg(long, default_value_t = 10)]
    warm: usize,
    /// Runs with a cold compile cache, each in a fresh empty directory.
    #[arg(long, default_value_t = 3)]
    cold: usize,
    /// Serve this policy-set directory instead of the built-in default.
    #[arg(long, value_name = "DIR")]
    policy_set: Option<PathBuf>,
    /// How often `/readyz` is polled, microseconds.
    #[arg(long, default_value_t = 1000)]
    poll_us: u64,
    /// A short smoke run: 3 warm runs, 1 cold.
    #[arg(long)]
    quick: bool,
}

fn main() -> ExitCode {
    gavel_bench::exit(run(Args::parse()))
}

/// One start: spawn to ready, and the RSS once ready.
struct Start {
    ready: Duration,
    rss_kib: u64,
}

fn start_once(args: &Args, gavel: &Path, cache: &Path, log: &Path) -> anyhow::Result<Start> {
    let port = daemon::free_port()?;
    let mut a: Vec<OsString> = vec![
        "serve".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}").into(),
        "--cache-dir".into(),
        cache.into(),
    ];
    if let Some(dir) = &args.policy_set {
        a.push("--policy-set".into());
        a.push(dir.into());
    }
    let mut d = Daemon::spawn(gavel, &a, port, None, log)?;
    let ready_at = d.wait_ready(
        Duration::from_micros(args.poll_us),
        Duration::from_secs(300),
    )?;
    let ready = ready_at - d.spawned_at;
    let rss_kib = d.status().map(|s| s.rss_kib).unwrap_or(0);
    let exit = d.stop(Duration::from_secs(30))?;
    if !exit.success() {
        eprintln!("note: gavel exited with {exit} after SIGTERM");
    }
    Ok(Start { ready, rss_kib })
}

fn version_once(gavel: &Path) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let status = Command::new(gavel)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", gavel.display()))?;
    let took = t.elapsed();
    if !status.success() {
        bail!("`gavel --version` failed ({status})");
    }
    Ok(took)
}

/// Median (upper middle for an even count), min and max.
fn summary(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort_unstable();
    let median = gavel_bench::measure::percentile(&v, 0.5);
    (
        median,
        v.first().copied().unwrap_or_default(),
        v.last().copied().unwrap_or_default(),
    )
}

fn run(mut args: Args) -> anyhow::Result<()> {
    if args.quick {
        args.warm = args.warm.min(3);
        args.cold = args.cold.min(1);
    }
    if args.warm == 0 || args.cold == 0 {
        bail!("--warm and --cold must be at least 1");
    }
    let gavel = daemon::gavel_path(args.gavel.clone())?;
    let version = daemon::gavel_version(&gavel)?;
    let scratch = daemon::scratch_dir("startup")?;

    println!("gavel-bench startup: spawn to ready (issue #7, benchmark 4)");
    println!("{}", daemon::machine());
    println!("gavel: {} ({version})", gavel.display());
    println!(
        "daemon: `gavel serve --listen 127.0.0.1:PORT --cache-dir DIR{}`, not pinned; ready = first 200 on GET /readyz, \
         polled every {} µs over a new TCP connection; SIGTERM after each start",
        if args.policy_set.is_some() {
            " --policy-set DIR"
        } else {
            ""
        },
        args.poll_us
    );
    println!(
        "policy set: {}\n",
        match &args.policy_set {
            Some(d) => d.display().to_string(),
            None => "built-in default (cost, privacy, bias, explainer)".into(),
        }
    );

    let mut cold = Vec::new();
    let mut cache = scratch.join("cache-0");
    let mut cache_bytes = 0;
    for i in 0..args.cold {
        cache = scratch.join(format!("cache-{i}"));
        let s = start_once(
            &args,
            &gavel,
            &cache,
            &scratch.join(format!("cold-{i}.log")),
        )?;
        cache_bytes = daemon::dir_size(&cache);
        println!(
            "cold {}: ready in {:.1} ms, RSS {:.1} MiB",
            i + 1,
            ms(s.ready),
            mib(s.rss_kib)
        );
        cold.push(s);
    }
    let mut warm = Vec::new();
    let mut baseline = Vec::new();
    // Interleaved, so that noise from other processes falls on both.
    for i in 0..args.warm {
        let s = start_once(
            &args,
            &gavel,
            &cache,
            &scratch.join(format!("warm-{i}.log")),
        )?;
        let v = version_once(&gavel)?;
        println!(
            "warm {}: ready in {:.1} ms, RSS {:.1} MiB; gavel --version {:.1} ms",
            i + 1,
            ms(s.ready),
            mib(s.rss_kib),
            ms(v)
        );
        warm.push(s);
        baseline.push(v);
    }

    let row = |name: &str, runs: &[Start]| {
        let (med, min, max) = summary(runs.iter().map(|s| s.ready).collect());
        let rss: Vec<u64> = runs.iter().map(|s| s.rss_kib).collect();
        let rss_med = {
            let mut r = rss.clone();
            r.sort_unstable();
            r[r.len() / 2]
        };
        println!(
            "  {name:<22} {:>4} {:>9.1} {:>9.1} {:>9.1} {:>12.1}",
            runs.len(),
            ms(med),
            ms(min),
            ms(max),
            mib(rss_med)
        );
        med
    };
    println!(
        "\n  {:<22} {:>4} {:>9} {:>9} {:>9} {:>12}",
        "", "runs", "median ms", "min ms", "max ms", "RSS MiB med"
    );
    let cold_med = row("ready, cold cache", &cold);
    let warm_med = row("ready, warm cache", &warm);
    let (b_med, b_min, b_max) = summary(baseline.clone());
    println!(
        "  {:<22} {:>4} {:>9.1} {:>9.1} {:>9.1}",
        "gavel --version (exit)",
        baseline.len(),
        ms(b_med),
        ms(b_min),
        ms(b_max)
    );
    println!(
        "  ratios of medians: warm ÷ --version {:.1}×, cold ÷ warm {:.1}×; warm − --version {:.1} ms; \
         compile cache {:.1} MiB",
        ms(warm_med) / ms(b_med),
        ms(cold_med) / ms(warm_med),
        ms(warm_med) - ms(b_med),
        cache_bytes as f64 / 1048576.0
    );
    println!(
        "\nissue #7 target: ready ≤ 150 ms with a warm cache: median {:.1} ms, max {:.1} ms → {}",
        ms(warm_med),
        ms(summary(warm.iter().map(|s| s.ready).collect()).2),
        if ms(warm_med) <= 150.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    if args.quick {
        println!("  (--quick: a smoke run, not a measurement)");
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
