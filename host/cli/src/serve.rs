//! `gavel serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use gavel_host::RuntimeBuilder;
use gavel_server::{Daemon, PolicySource, ServeOptions, TimeoutPolicy};

use crate::defaults;

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "GAVEL_LISTEN")]
    listen: SocketAddr,
    /// Policy-set directory (with policy-set.yaml), watched for changes.
    /// Without it, the built-in default policy set is served.
    #[arg(long, value_name = "DIR", env = "GAVEL_POLICY_SET")]
    policy_set: Option<PathBuf>,
    /// Append every decision to this hash-chained JSON Lines file.
    #[arg(long, value_name = "FILE", env = "GAVEL_AUDIT_LOG")]
    audit_log: Option<PathBuf>,
    /// TLS certificate chain (PEM); re-read when the file changes.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        env = "GAVEL_TLS_CERT"
    )]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        env = "GAVEL_TLS_KEY"
    )]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (only behind a TLS-terminating proxy).
    #[arg(long, env = "GAVEL_INSECURE_HTTP", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    insecure_http: bool,
    /// Deadline for one admission review, milliseconds; keep it below the
    /// webhook's timeoutSeconds.
    #[arg(
        long,
        default_value_t = 8000,
        value_name = "MS",
        env = "GAVEL_EVAL_TIMEOUT_MS"
    )]
    eval_timeout_ms: u64,
    /// What to answer when the deadline passes.
    #[arg(long, value_enum, default_value_t = OnTimeout::FailClosed, env = "GAVEL_ON_TIMEOUT")]
    on_timeout: OnTimeout,
    /// Most reviews evaluated at once. Default: twice the cores gavel may
    /// run on, at most 64 (more only stretches each plugin's wall-clock time).
    #[arg(long, value_name = "N", env = "GAVEL_MAX_CONCURRENCY", value_parser = clap::value_parser!(u64).range(1..=4096))]
    max_concurrency: Option<u64>,
    /// How often the policy directory and TLS files are checked, milliseconds.
    #[arg(
        long,
        default_value_t = 2000,
        value_name = "MS",
        env = "GAVEL_RELOAD_INTERVAL_MS"
    )]
    reload_interval_ms: u64,
    /// Cache compiled plugins here (must be private to gavel), so a restart
    /// is ready in milliseconds. Default: $XDG_CACHE_HOME/gavel or
    /// ~/.cache/gavel; an empty GAVEL_CACHE_DIR disables it.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Deliver the remediation actions trace plugins recommend: a JSON Lines
    /// file (`file:PATH` or a path) or an `http://` URL that receives each
    /// window's actions as a JSON array (retried with backoff).
    #[arg(long, value_name = "SINK", env = "GAVEL_ACTION_SINK")]
    action_sink: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum OnTimeout {
    /// Deny.
    FailClosed,
    /// Admit with a warning.
    FailOpen,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let tls = args.tls_cert.zip(args.tls_key);
    if tls.is_none() && !args.listen.ip().is_loopback() && !args.insecure_http {
        bail!(
            "refusing plain HTTP on {}: the API server only calls webhooks over HTTPS; give --tls-cert and --tls-key, \
             or --insecure-http if a proxy terminates TLS",
            args.listen
        );
    }
    let policy = match args.policy_set {
        Some(dir) => PolicySource::Dir(dir),
        None => PolicySource::Embedded(defaults::DEFAULT_POLICY_SET.to_owned()),
    };
    let mut options = ServeOptions::new(args.listen, policy);
    options.builtins = defaults::builtins();
    options.audit_log = args.audit_log;
    options.tls = tls;
    options.eval_timeout = Duration::from_millis(args.eval_timeout_ms);
    options.timeout_policy = match args.on_timeout {
        OnTimeout::FailClosed => TimeoutPolicy::FailClosed,
        OnTimeout::FailOpen => TimeoutPolicy::FailOpen,
    };
    if let Some(n) = args.max_concurrency {
        options.max_concurrency = usize::try_from(n).unwrap_or(usize::MAX);
    }
    options.reload_interval = Duration::from_millis(args.reload_interval_ms.max(100));
    options.action_sink = args
        .action_sink
        .as_deref()
        .map(gavel_server::actions::SinkConfig::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    // Room in the instance pool for every evaluation that can be alive at
    // once: the reviews, the extra parts of reviews spread over idle
    // cores, the trace windows, and loading a policy set.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let instances = options.max_concurrency + cores + gavel_server::traces::WINDOW_WORKERS + 8;
    let mut builder = RuntimeBuilder::new()
        .max_concurrent_instances(u32::try_from(instances.max(128)).unwrap_or(u32::MAX));
    if let Some(dir) = args.cache_dir.or_else(crate::policy::cache_dir) {
        builder = builder.cache_dir(dir);
    }
    let runtime = builder.build().context("cannot start the wasm runtime")?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let daemon = Daemon::bind(runtime, options).await?;
        let addr = daemon.local_addr()?;
        let scheme = if tls_enabled(&daemon) { "https" } else { "http" };
        match daemon.app().webhook.policy.active() {
            Some(active) => eprintln!(
                "gavel: serving policy set `{}` (version {}) on {scheme}://{addr}/validate\n\
                 traces (OTLP/HTTP): {scheme}://{addr}/v1/traces\n\
                 try:   curl -s -X POST {scheme}://{addr}/validate -H 'content-type: application/json' \
                 --data @examples/admission/gpu-pod-create.json",
                active.set.policy_set().name,
                active.version()
            ),
            None => eprintln!(
                "gavel: listening on {scheme}://{addr} but NOT READY: {}",
                daemon.app().webhook.policy.last_error().unwrap_or_default()
            ),
        }
        daemon.run(shutdown_signal()).await?;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn tls_enabled(daemon: &Daemon) -> bool {
    daemon.has_tls()
}

/// SIGTERM (Kubernetes) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
