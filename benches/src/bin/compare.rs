//! Benchmark 1: per-evaluation cost of one policy four ways (native Rust,
//! gavel, Rego/regorus, CEL/cel-rust) on the same AdmissionReview bodies.
//!
//! Run with: `cargo run --release -p gavel-bench --bin compare`
//!
//! Prints, per policy × input, the median and p99 per evaluation of each
//! engine and the ratios b/a, c/b and d/b, all measured in one run. Every
//! engine must give the same answer on every input first, or nothing is
//! measured. `--profile gavel` runs a single engine in a loop, for `perf` or
//! `valgrind --tool=callgrind`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use gavel_bench::measure::{self, Config, Stats};
use gavel_bench::{Policy, check_agreement, engines, fixtures};

#[derive(Parser)]
#[command(about = "gavel against native Rust, Rego (regorus) and CEL (cel-rust), per evaluation")]
struct Args {
    /// Only this policy (`gpu-limits` or `cost`).
    #[arg(long)]
    policy: Option<String>,
    /// Only this input (`pod-small`, `deployment-multi`, `inferenceservice-large`).
    #[arg(long)]
    input: Option<String>,
    /// Seconds to spend on each policy × input (all four engines together).
    #[arg(long, default_value_t = 4.0)]
    budget: f64,
    /// Fewest samples per engine and cell.
    #[arg(long, default_value_t = 2000)]
    min_samples: usize,
    /// Most samples per engine and cell.
    #[arg(long, default_value_t = 20_000)]
    max_samples: usize,
    /// Run only this engine (`native`, `gavel`, `rego`, `cel`) in a loop for
    /// `--seconds` on the first selected policy and input, for a profiler.
    #[arg(long, value_name = "ENGINE")]
    profile: Option<String>,
    /// How long `--profile` runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Pool size of gavel's runtime (default: gavel-host's). Under valgrind
    /// use 1 or 2: the default pool reserves more address space than
    /// valgrind can map.
    #[arg(long, value_name = "N")]
    pool_instances: Option<u32>,
    /// Show gavel's plugins the whole object, as a policy set with
    /// `input.omit: []` does, instead of the default grant (which leaves out
    /// `metadata.managedFields` and the last-applied-configuration annotation).
    #[arg(long)]
    full_input: bool,
    /// Run gavel's plugins without fuel metering (only the deadline bounds
    /// them), to measure what fuel costs.
    #[arg(long)]
    no_fuel: bool,
    /// Evaluate gavel's plugins without pre-initialising them with their
    /// settings: each evaluation parses the settings JSON.
    #[arg(long)]
    no_preinit: bool,
}

fn main() -> ExitCode {
    gavel_bench::exit(run(Args::parse()))
}

fn run(args: Args) -> anyhow::Result<()> {
    if let Some(n) = args.pool_instances {
        gavel_bench::gavel::set_max_instances(n);
    }
    gavel_bench::gavel::set_full_input(args.full_input);
    gavel_bench::gavel::set_no_fuel(args.no_fuel);
    gavel_bench::gavel::set_no_preinit(args.no_preinit);
    let policies: Vec<Policy> = Policy::ALL
        .into_iter()
        .filter(|p| args.policy.as_deref().is_none_or(|n| n == p.name()))
        .collect();
    let inputs: Vec<fixtures::Input> = fixtures::load()?
        .into_iter()
        .filter(|i| args.input.as_deref().is_none_or(|n| n == i.name))
        .collect();
    if policies.is_empty() || inputs.is_empty() {
        bail!("no policy or input matches --policy/--input");
    }
    header(&inputs, &args);
    if let Some(label) = &args.profile {
        return profile(label, policies[0], &inputs[0], args.seconds);
    }
    let config = Config {
        budget: Duration::from_secs_f64(args.budget),
        min_samples: args.min_samples,
        max_samples: args.max_samples.max(args.min_samples),
        ..Config::default()
    };
    println!(
        "{:<11} {:<32} {:<6} | {:>15} | {:>15} | {:>15} | {:>15} | {:>6} {:>6} {:>6} | {:>7}",
        "policy",
        "input",
        "answer",
        "(a) native",
        "(b) gavel",
        "(c) rego",
        "(d) cel",
        "b/a",
        "c/b",
        "d/b",
        "b-a µs",
    );
    println!(
        "{:<11} {:<32} {:<6} | {:>15} | {:>15} | {:>15} | {:>15} | {:>20} | {:>7}",
        "",
        "",
        "",
        "median / p99 µs",
        "median / p99 µs",
        "median / p99 µs",
        "median / p99 µs",
        "medians",
        "medians"
    );
    for policy in policies {
        let mut engines = engines(policy)?;
        let answers = check_agreement(policy, &mut engines, &inputs)
            .context("the engines disagree: fix the policies before measuring")?;
        for (input, answer) in inputs.iter().zip(&answers) {
            let stats = measure::cell(&mut engines, &input.body, &config)?;
            row(policy, input, &answer.decision.to_string(), &stats);
        }
    }
    println!(
        "\nb/a: gavel's cost over native; c/b and d/b: how many times slower Rego and CEL are than gavel."
    );
    Ok(())
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn row(policy: Policy, input: &fixtures::Input, answer: &str, stats: &[Stats]) {
    let cell = |s: &Stats| format!("{:.1} / {:.1}", us(s.median), us(s.p99));
    let ratio = |x: &Stats, y: &Stats| us(x.median) / us(y.median);
    let (a, b, c, d) = (&stats[0], &stats[1], &stats[2], &stats[3]);
    println!(
        "{:<11} {:<32} {:<6} | {:>15} | {:>15} | {:>15} | {:>15} | {:>5.1}× {:>5.1}× {:>5.1}× | {:>7.1}",
        policy.name(),
        format!(
            "{} ({:.1} KB)",
            input.name,
            input.body.len() as f64 / 1024.0
        ),
        answer,
        cell(a),
        cell(b),
        cell(c),
        cell(d),
        ratio(b, a),
        ratio(c, b),
        ratio(d, b),
        us(b.median) - us(a.median),
    );
    let n: Vec<String> = stats.iter().map(|s| s.samples.to_string()).collect();
    println!("{:<51} | samples per engine: {}", "", n.join(" / "));
}

fn header(inputs: &[fixtures::Input], args: &Args) {
    let optimised = !cfg!(debug_assertions);
    println!("gavel-bench compare: per-evaluation cost, one policy four ways");
    println!("{}", gavel_bench::daemon::machine());
    if !optimised {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             WARNING: this is a debug build; the numbers below mean nothing.\n\
             Run: cargo run --release -p gavel-bench --bin compare\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
    }
    let sizes: Vec<String> = inputs
        .iter()
        .map(|i| format!("{} {} B", i.name, i.body.len()))
        .collect();
    println!(
        "inputs (compact AdmissionReview JSON): {}",
        sizes.join(", ")
    );
    println!(
        "each evaluation starts from the request body: (a) and (d) parse it with serde_json, (b) with gavel-core, (c) into regorus values;\n\
         (b) is a fresh wasm instance per evaluation (new store, instantiate, call, drop); (c) and (d) reuse one prepared engine."
    );
    if args.no_fuel {
        println!(
            "(b) runs without fuel metering (--no-fuel): only the deadline bounds the plugin."
        );
    }
    if args.no_preinit {
        println!(
            "(b) runs the plugin as compiled (--no-preinit): each evaluation parses the settings JSON."
        );
    } else {
        println!(
            "(b) starts each instance from the plugin pre-initialised with its settings, as a loaded policy set does."
        );
    }
    if args.full_input {
        println!("(b) shows the plugin the whole object (--full-input, as `input.omit: []`).\n");
    } else {
        println!(
            "(b) shows the plugin the object as the default policy-set grant does: without metadata.managedFields and the\n\
             last-applied-configuration annotation (the host drops them from the text; --full-input shows everything).\n"
        );
    }
}

fn profile(
    label: &str,
    policy: Policy,
    input: &fixtures::Input,
    seconds: f64,
) -> anyhow::Result<()> {
    let mut engines = engines(policy)?;
    check_agreement(policy, &mut engines, std::slice::from_ref(input))?;
    let engine = engines
        .iter_mut()
        .find(|e| e.label() == label)
        .with_context(|| format!("no engine `{label}`: native, gavel, rego or cel"))?;
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut samples = Vec::new();
    while start.elapsed() < budget {
        let t = Instant::now();
        std::hint::black_box(engine.evaluate(&input.body)?);
        samples.push(t.elapsed());
    }
    let stats = Stats::from_samples(samples);
    println!(
        "profile: {policy} / {} / {label}: {} evaluations, median {:.1} µs, p99 {:.1} µs",
        input.name,
        stats.samples,
        us(stats.median),
        us(stats.p99)
    );
    Ok(())
}
