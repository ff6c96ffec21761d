//! Benchmark 2: the webhook end to end. The release `gavel serve` (built-in
//! default policy set: cost, privacy, bias, explainer) on a loopback port,
//! driven over keep-alive HTTP/1.1 with a mix of AdmissionReviews, against
//! a floor webhook (the same hyper stack, parse and allow) in the same run.
//!
//! Run with: `cargo build --release -p gavel -p gavel-bench && target/release/load`
//!
//! Both servers run pinned to 1 core, then to 2 (`taskset -c 0`,
//! `taskset -c 0,1`); each mode gets a fresh server process:
//!
//! - closed loop: `--requests` requests over `--concurrency` connections as
//!   fast as the server answers: throughput and latency percentiles;
//! - open loop: `--rate` requests per second for `--seconds`, latency from
//!   each request's scheduled send time (no coordinated omission).
//!
//! Every answer must be a 200 AdmissionReview carrying its request's uid,
//! or it counts as an error. Peak RSS is the server's `VmHWM` at the end of
//! each run, with `VmRSS` sampled during it.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use gavel_bench::admission::{self, Review};
use gavel_bench::daemon::{self, Cpus, Daemon, RssSampler, mib};
use gavel_bench::load::{self, Run, client_runtime};
use gavel_bench::measure::{Latencies, ms};
use gavel_bench::prom::Scrape;

#[derive(Parser)]
#[command(about = "gavel serve's admission webhook under load, against a floor webhook")]
struct Args {
    /// The gavel binary (default: `gavel` beside this one, target/release/gavel).
    #[arg(long, value_name = "PATH")]
    gavel: Option<PathBuf>,
    /// Closed loop: requests per run.
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Closed loop: connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Open loop: requests per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Open loop: seconds per run.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Open loop: most connections (requests in flight at once).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Requests sent (closed loop) to each fresh server before measuring.
    #[arg(long, default_value_t = 1000)]
    warmup: u64,
    /// Core counts to pin the servers to: the first N CPUs this process may use.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    cores: Vec<usize>,
    /// Run one mode only.
    #[arg(long, value_enum)]
    only: Option<Mode>,
    /// AdmissionReview files to send in turn (default: benches/fixtures/*.json
    /// and examples/admission/*.json).
    #[arg(long = "input", value_name = "FILE")]
    inputs: Vec<PathBuf>,
    /// Pass `--audit-log PATH` to gavel (the default policy set writes with
    /// fsync durability). Every run appends to the same file.
    #[arg(long, value_name = "PATH")]
    audit_log: Option<PathBuf>,
    /// One more argument for `gavel serve`, e.g. `--daemon-arg=--max-concurrency=8`.
    #[arg(long = "daemon-arg", value_name = "ARG", allow_hyphen_values = true)]
    daemon_args: Vec<String>,
    /// A short smoke run: few requests, one second per open-loop run.
    #[arg(long)]
    quick: bool,
    /// Internal: serve the floor webhook on this loopback port and nothing else.
    #[arg(long, value_name = "PORT", hide = true)]
    floor_server: Option<u16>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Fixed requests and concurrency.
    Closed,
    /// Fixed arrival rate.
    Open,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Server {
    Gavel,
    Floor,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Gavel => "gavel",
            Server::Floor => "floor",
        }
    }
}

/// One server × cores × mode.
struct Measured {
    run: Run,
    hwm_kib: u64,
    rss_max_kib: u64,
    threads: u64,
    cpus_allowed: String,
    /// gavel's own timings from its `/metrics`, one line.
    own: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.floor_server {
        Some(port) => floor(port),
        None => bench(args),
    };
    gavel_bench::exit(result)
}

/// The floor server process: sized by its affinity mask, as gavel's runtime.
fn floor(port: u16) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("the floor server cannot listen on 127.0.0.1:{port}"))?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        // Exit cleanly on SIGTERM, as gavel does, so that a stop is not an error.
        tokio::select! {
            served = admission::serve_floor(listener) => served?,
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })
}

struct Setup {
    gavel: PathBuf,
    cache: PathBuf,
    scratch: PathBuf,
    reviews: Arc<Vec<Review>>,
    gavel_args: Vec<OsString>,
    stream: u32,
}

fn bench(mut args: Args) -> anyhow::Result<()> {
    if args.quick {
        args.requests = args.requests.min(2000);
        args.warmup = args.warmup.min(200);
        args.seconds = args.seconds.min(1.0);
    }
    if !(args.rate > 0.0 && args.seconds > 0.0) {
        bail!("--rate and --seconds must be positive");
    }
    let gavel = daemon::gavel_path(args.gavel.clone())?;
    let version = daemon::gavel_version(&gavel)?;
    let inputs = if args.inputs.is_empty() {
        admission::default_inputs()?
    } else {
        args.inputs.clone()
    };
    let reviews = Arc::new(admission::load_reviews(&inputs)?);
    let allowed = daemon::allowed_cpus().context("cannot read this process's CPU affinity")?;
    for &k in &args.cores {
        if k == 0 || k > allowed.len() {
            bail!(
                "--cores {k}: this process may use {} CPUs ({allowed})",
                allowed.len()
            );
        }
    }
    let scratch = daemon::scratch_dir("load")?;
    let mut gavel_args: Vec<OsString> = Vec::new();
    if let Some(path) = &args.audit_log {
        gavel_args.push("--audit-log".into());
        gavel_args.push(path.into());
    }
    gavel_args.extend(args.daemon_args.iter().map(OsString::from));
    let mut setup = Setup {
        gavel,
        cache: scratch.join("cache"),
        scratch: scratch.clone(),
        reviews,
        gavel_args,
        stream: 0,
    };

    println!("gavel-bench load: the admission webhook end to end (issue #7, benchmark 2)");
    println!("{}", daemon::machine());
    println!("gavel: {} ({version})", setup.gavel.display());
    println!(
        "server: `gavel serve --listen 127.0.0.1:PORT --cache-dir DIR{}{}`, built-in default policy set \
         (cost, privacy, bias, explainer), plain HTTP on loopback",
        if args.audit_log.is_some() {
            " --audit-log PATH"
        } else {
            ""
        },
        args.daemon_args
            .iter()
            .map(|a| format!(" {a}"))
            .collect::<String>()
    );
    println!(
        "audit log: {}",
        match &args.audit_log {
            Some(p) => format!(
                "{} (fsync durability, from the default policy set)",
                p.display()
            ),
            None => "off (pass --audit-log PATH to measure with it)".into(),
        }
    );
    println!(
        "floor: this binary's own webhook (`load --floor-server PORT`): hyper's auto HTTP/1.1 server on tokio, \
         serde_json parse of the AdmissionReview, allowed=true with the uid; no policy, no audit"
    );
    println!(
        "load generator: this process, tokio + hyper HTTP/1.1 keep-alive connections, ON THE SAME {}-CPU MACHINE \
         (on the CPUs the server does not use when there are any, else sharing them)",
        allowed.len()
    );
    let sizes: Vec<String> = setup
        .reviews
        .iter()
        .map(|r| format!("{} {:.1} KB", r.name, r.len() as f64 / 1024.0))
        .collect();
    println!(
        "inputs, sent in turn with a fresh uid each: {}",
        sizes.join(", ")
    );
    println!(
        "every answer must be 200 and an AdmissionReview with the request's uid, else it is an error\n"
    );

    prime(&mut setup)?;

    let modes: Vec<Mode> = match args.only {
        Some(m) => vec![m],
        None => vec![Mode::Closed, Mode::Open],
    };
    let mut summary: Vec<(usize, Mode, Measured, Measured)> = Vec::new();
    for &k in &args.cores {
        let server_cpus = Cpus::new(allowed.list()[..k].to_vec());
        let client_cpus = (k < allowed.len()).then(|| Cpus::new(allowed.list()[k..].to_vec()));
        let client_threads = client_cpus.as_ref().map_or(allowed.len(), Cpus::len);
        println!(
            "── {k} core{}: servers pinned to CPU {server_cpus}; load generator {} ──",
            if k == 1 { "" } else { "s" },
            match &client_cpus {
                Some(c) => format!("pinned to CPU {c}, one tokio worker per CPU"),
                None => format!("on all {} CPUs, shared with the server", allowed.len()),
            }
        );
        for &mode in &modes {
            let mut pair = Vec::new();
            for server in [Server::Gavel, Server::Floor] {
                pair.push(measure(
                    &mut setup,
                    &args,
                    server,
                    mode,
                    &server_cpus,
                    client_cpus.clone(),
                    client_threads,
                )?);
            }
            let floor = pair.pop().context("no floor run")?;
            let gavel = pair.pop().context("no gavel run")?;
            print_pair(&args, mode, &setup.reviews, &gavel, &floor);
            summary.push((k, mode, gavel, floor));
        }
    }
    print_targets(&args, &summary);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn server_command(
    setup: &Setup,
    server: Server,
    port: u16,
) -> anyhow::Result<(PathBuf, Vec<OsString>)> {
    Ok(match server {
        Server::Gavel => {
            let mut a: Vec<OsString> = vec![
                "serve".into(),
                "--listen".into(),
                format!("127.0.0.1:{port}").into(),
                "--cache-dir".into(),
                setup.cache.clone().into(),
            ];
            a.extend(setup.gavel_args.iter().cloned());
            (setup.gavel.clone(), a)
        }
        Server::Floor => (
            std::env::current_exe().context("cannot find this binary to start the floor server")?,
            vec!["--floor-server".into(), port.to_string().into()],
        ),
    })
}

fn start(setup: &Setup, server: Server, cpus: Option<&Cpus>) -> anyhow::Result<Daemon> {
    let port = daemon::free_port()?;
    let (program, args) = server_command(setup, server, port)?;
    let log = setup.scratch.join(format!("{}-{port}.log", server.name()));
    let mut d = Daemon::spawn(&program, &args, port, cpus, &log)?;
    d.wait_ready(Duration::from_millis(5), Duration::from_secs(300))
        .with_context(|| format!("{} did not become ready", server.name()))?;
    Ok(d)
}

/// Fill the compile cache, and show what gavel answers to each input.
fn prime(setup: &mut Setup) -> anyhow::Result<()> {
    let d = start(setup, Server::Gavel, None)?;
    let rt = client_runtime(1, None)?;
    let reviews = setup.reviews.clone();
    let answers = rt.block_on(async {
        let mut conn = gavel_bench::client::Conn::connect(d.addr).await?;
        let mut answers = Vec::new();
        for (i, r) in reviews.iter().enumerate() {
            let id = admission::uid(u32::MAX, i as u64);
            let a = conn
                .post("/validate", "application/json", r.body_with_uid(&id))
                .await?;
            let allowed = admission::check_response(a.status, &a.body, &id)
                .map_err(|e| anyhow::anyhow!("gavel's answer to {}: {e}", r.name))?;
            answers.push(format!(
                "{} {}",
                r.name,
                if allowed { "allowed" } else { "denied" }
            ));
        }
        anyhow::Ok(answers)
    })?;
    d.stop(Duration::from_secs(30))?;
    println!(
        "compile cache primed ({:.1} MiB); gavel's decisions: {}\n",
        mib(daemon::dir_size(&setup.cache) / 1024),
        answers.join(", ")
    );
    Ok(())
}

fn measure(
    setup: &mut Setup,
    args: &Args,
    server: Server,
    mode: Mode,
    server_cpus: &Cpus,
    client_cpus: Option<Cpus>,
    client_threads: usize,
) -> anyhow::Result<Measured> {
    let d = start(setup, server, Some(server_cpus))?;
    let at_start = d.status()?;
    let rt = client_runtime(client_threads, client_cpus.clone())?;
    setup.stream += 1;
    let warm = rt.block_on(load::closed_loop(
        d.addr,
        setup.reviews.clone(),
        args.warmup,
        args.concurrency,
        setup.stream,
    ))?;
    if warm.errors > 0 {
        bail!(
            "{} answered {} of {} warm-up requests wrongly, e.g. {}; its log ends with:\n{}",
            server.name(),
            warm.errors,
            args.warmup,
            warm.error_examples.join(" | "),
            d.log_tail(20)
        );
    }
    setup.stream += 1;
    let sampler = RssSampler::start(d.pid(), Duration::from_millis(50));
    let run = match mode {
        Mode::Closed => rt.block_on(load::closed_loop(
            d.addr,
            setup.reviews.clone(),
            args.requests,
            args.concurrency,
            setup.stream,
        ))?,
        Mode::Open => rt.block_on(load::open_loop(
            d.addr,
            setup.reviews.clone(),
            args.rate,
            Duration::from_secs_f64(args.seconds),
            args.connections,
            setup.stream,
            client_cpus,
        ))?,
    };
    let rss = sampler.finish();
    let at_end = d.status()?;
    let own = match server {
        Server::Gavel => own_metrics(d.addr),
        Server::Floor => None,
    };
    let exit = d.stop(Duration::from_secs(30))?;
    if !exit.success() {
        eprintln!("note: {} exited with {exit} after SIGTERM", server.name());
    }
    Ok(Measured {
        run,
        hwm_kib: at_end.hwm_kib,
        rss_max_kib: rss.max_kib.max(at_end.rss_kib),
        threads: at_start.threads,
        cpus_allowed: at_start.cpus_allowed,
        own,
    })
}

/// What gavel's `/metrics` says a review and each plugin took (means since
/// start, warm-up included): where the time inside the daemon goes.
fn own_metrics(addr: std::net::SocketAddr) -> Option<String> {
    let (status, body) =
        gavel_bench::client::get(addr, "/metrics", Duration::from_secs(10)).ok()?;
    if status != 200 {
        return None;
    }
    let m = Scrape::parse(&String::from_utf8_lossy(&body)).ok()?;
    let review = m.histogram("gavel_admission_request_duration_seconds", &[])?;
    let plugins: BTreeSet<String> = m
        .by_label("gavel_plugin_evaluations_total", "plugin")
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let means: Vec<(String, f64)> = plugins
        .into_iter()
        .filter_map(|p| {
            let h = m.histogram(
                "gavel_plugin_evaluation_duration_seconds",
                &[("plugin", &p)],
            )?;
            Some((p, h.mean()? * 1e3))
        })
        .collect();
    let list: Vec<String> = means.iter().map(|(p, v)| format!("{p} {v:.3}")).collect();
    Some(format!(
        "review (parse, 4 plugins, compose) mean {:.3} ms over {} reviews; per plugin (fresh instance each) mean ms: {}, together {:.3}",
        review.mean()? * 1e3,
        review.count,
        list.join(", "),
        means.iter().map(|(_, v)| v).sum::<f64>()
    ))
}

fn lat(l: Option<Latencies>) -> (f64, f64, f64, f64) {
    l.map_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN), |l| {
        (ms(l.p50), ms(l.p99), ms(l.p999), ms(l.max))
    })
}

fn print_pair(args: &Args, mode: Mode, reviews: &[Review], gavel: &Measured, floor: &Measured) {
    match mode {
        Mode::Closed => println!(
            "closed loop: {} requests over {} connections, one request in flight per connection",
            args.requests, args.concurrency
        ),
        Mode::Open => println!(
            "open loop: {} requests/s for {} s ({} requests), up to {} connections, latency from the scheduled send time",
            args.rate,
            args.seconds,
            (args.rate * args.seconds).round(),
            args.connections
        ),
    }
    println!(
        "  {:<6} {:>9} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>10} {:>10} {:>7} {:>5}",
        "server",
        "answered",
        "errors",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "lag p99",
        "VmHWM MiB",
        "VmRSS max",
        "threads",
        "cpus"
    );
    for (name, m) in [("gavel", gavel), ("floor", floor)] {
        let (p50, p99, p999, max) = lat(m.run.latencies());
        let lag = m.run.lags().map_or(f64::NAN, |l| ms(l.p99));
        println!(
            "  {:<6} {:>9} {:>6} {:>9.0} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>9} {:>10.1} {:>10.1} {:>7} {:>5}",
            name,
            m.run.samples.len(),
            m.run.errors,
            m.run.throughput(),
            p50,
            p99,
            p999,
            max,
            if mode == Mode::Open {
                format!("{lag:.3}")
            } else {
                "-".into()
            },
            mib(m.hwm_kib),
            mib(m.rss_max_kib),
            m.threads,
            m.cpus_allowed
        );
        for e in &m.run.error_examples {
            println!("         error: {e}");
        }
    }
    let (g, f) = (lat(gavel.run.latencies()), lat(floor.run.latencies()));
    println!(
        "  gavel ÷ floor: throughput {:.3}×; latency p50 {:.1}×, p99 {:.1}×, p99.9 {:.1}×; peak RSS {:.1}×",
        gavel.run.throughput() / floor.run.throughput(),
        g.0 / f.0,
        g.1 / f.1,
        g.2 / f.2,
        gavel.hwm_kib as f64 / floor.hwm_kib.max(1) as f64
    );
    let per_input: Vec<String> = reviews
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (p50, p99, _, _) = lat(gavel.run.latencies_of(i));
            format!("{} {p50:.2}/{p99:.2}", r.name)
        })
        .collect();
    println!(
        "  gavel per input, p50/p99 ms: {}; decisions: {} allowed, {} denied",
        per_input.join(", "),
        gavel.run.allowed,
        gavel.run.denied
    );
    if let Some(own) = &gavel.own {
        println!(
            "  gavel's /metrics since start (warm-up included; wall time, waits for a CPU included): {own}"
        );
    }
    println!();
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn print_targets(args: &Args, summary: &[(usize, Mode, Measured, Measured)]) {
    println!("issue #7 targets, gavel with the default policy set (4 plugins):");
    let closed: Vec<(usize, f64)> = summary
        .iter()
        .filter(|s| s.1 == Mode::Closed)
        .map(|s| (s.0, s.2.run.throughput()))
        .collect();
    if !closed.is_empty() {
        let best = closed.iter().map(|c| c.1).fold(0.0, f64::max);
        let list: Vec<String> = closed
            .iter()
            .map(|(k, t)| format!("{k} core{} {t:.0} req/s", if *k == 1 { "" } else { "s" }))
            .collect();
        println!(
            "  ≥ 5,000 requests/s sustained (closed loop):  {} → {}",
            list.join(", "),
            verdict(best >= 5000.0)
        );
    }
    let open: Vec<&(usize, Mode, Measured, Measured)> =
        summary.iter().filter(|s| s.1 == Mode::Open).collect();
    if !open.is_empty() {
        let at = |f: &dyn Fn(&Measured) -> f64, unit: &str| -> Vec<String> {
            open.iter()
                .map(|s| {
                    format!(
                        "{} core{} {:.2} {unit}",
                        s.0,
                        if s.0 == 1 { "" } else { "s" },
                        f(&s.2)
                    )
                })
                .collect()
        };
        let p99 = |m: &Measured| lat(m.run.latencies()).1;
        let hwm = |m: &Measured| mib(m.hwm_kib);
        let worst_p99 = open.iter().map(|s| p99(&s.2)).fold(0.0, f64::max);
        let worst_hwm = open.iter().map(|s| hwm(&s.2)).fold(0.0, f64::max);
        let all_ok = open.iter().all(|s| s.2.run.errors == 0);
        println!(
            "  p99 ≤ 2 ms at {:.0} requests/s (open loop):   {} → {}{}",
            args.rate,
            at(&p99, "ms").join(", "),
            verdict(worst_p99 <= 2.0 && all_ok),
            if all_ok { "" } else { " (with errors)" }
        );
        println!(
            "  RSS ≤ 100 MiB under that load (VmHWM):      {} → {}",
            at(&hwm, "MiB").join(", "),
            verdict(worst_hwm <= 100.0)
        );
    }
    if args.quick {
        println!("  (--quick: a smoke run, not a measurement)");
    }
}
