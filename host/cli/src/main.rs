//! `gavel`: serve the admission webhook, verify and replay the audit trail,
//! and test, evaluate, scan, inspect and measure policies and plugins.
//!
//! Exit codes: 0 success; 1 the check failed (a broken audit chain, a replay
//! that differs); 2 gavel could not do what was asked (bad arguments,
//! unreadable files). See docs/cli.md.

mod audit;
mod bench;
mod eval;
mod inspect;
mod new;
mod policy;
mod progress;
mod scan;
mod serve;
mod test;
mod traces;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// gavel governs AI workloads with WebAssembly policy plugins.
#[derive(Parser)]
#[command(name = "gavel", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Kubernetes validating admission webhook.
    ///
    /// With no arguments, serves gavel's built-in default policy set over
    /// plain HTTP on 127.0.0.1:8080. In a cluster, give --policy-set,
    /// --tls-cert/--tls-key and --audit-log.
    Serve(serve::ServeArgs),
    /// Verify or replay the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Run plugin test suites (YAML; see docs/test-suites.md).
    ///
    /// Each case evaluates a subject file in the real component, with the
    /// suite's settings and limits, and compares the decision, finding codes,
    /// metrics and actions with what it expects. Exit code 0 when every case
    /// passes, 1 when one fails.
    Test(test::TestArgs),
    /// Evaluate one subject against a policy set and show every plugin's part.
    ///
    /// Exit code 0 when admitted (allow or warn), 1 when denied.
    Eval(eval::EvalArgs),
    /// Check every Kubernetes document under a directory (GitOps pre-merge).
    ///
    /// Reads .yaml, .yml and .json files, multi-document included. Exit code 0
    /// when nothing is denied, 1 when a document is denied, 2 when a file does
    /// not parse (its error names the file and line).
    Scan(scan::ScanArgs),
    /// Show a component's size, digest, imports, exports and gavel metadata.
    ///
    /// Exit code 0 for a valid gavel plugin, 1 (with the reason) otherwise.
    Inspect(inspect::InspectArgs),
    /// Measure one plugin: evaluations per second and latency percentiles.
    Bench(bench::BenchArgs),
    /// Create a plugin project (Rust, Python or JavaScript) with a passing test suite.
    ///
    /// The project implements an example policy (required labels), ships
    /// gavel's WIT contract and a test suite; `gavel test` in it builds the
    /// plugin and runs the suite.
    New(new::NewArgs),
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`gavel test --json
/// | head`) fails every `println!` with a panic. One-shot commands take the
/// default action instead, as Unix tools do: they end quietly. The daemon
/// keeps ignoring it: a client that hangs up must not kill it.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any other thread exists;
    // setting a signal's disposition to its default has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Shared policy-set resolution: a directory, or the built-in default.
pub(crate) mod defaults {
    use gavel_host::Builtins;

    /// The built-in default policy set (its modules are `builtin:`).
    pub const DEFAULT_POLICY_SET: &str = include_str!("default-policy-set.yaml");

    /// The plugins compiled into this binary.
    pub fn builtins() -> Builtins {
        let mut b = Builtins::default();
        for (name, bytes) in gavel_artifacts::BUNDLED {
            b.insert(*name, *bytes);
        }
        b
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        restore_sigpipe();
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("GAVEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Test(args) => test::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Bench(args) => bench::run(args),
        Command::New(args) => new::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
