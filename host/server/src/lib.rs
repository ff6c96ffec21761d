//! gavel-server: the gavel daemon.
//!
//! A Kubernetes validating admission webhook (`POST /validate`,
//! AdmissionReview v1) over HTTPS, with health, readiness and Prometheus
//! metrics; GitOps reload of the policy set from a watched directory; and a
//! tamper-evident, hash-chained audit trail of every decision.
//!
//! Start with [`Daemon::bind`] and [`Daemon::run`]; tests drive [`http::App`]
//! in-process or through a socket. Embedders who only evaluate policies
//! depend on `gavel-host` instead and never compile hyper.
//!
//! **Architecture Invariant:** evaluation runs on tokio's blocking pool
//! (wasmtime's sync API is ~14 µs cheaper per evaluation than its async
//! one), bounded by a semaphore and a global deadline below the webhook's
//! `timeoutSeconds`; a decision is returned only after its audit record is
//! written.

pub mod actions;
pub mod audit;
pub mod http;
pub mod metrics;
pub mod state;
pub mod tls;
pub mod traces;
pub mod webhook;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gavel_host::{Builtins, Runtime};
use tokio::net::TcpListener;

pub use state::{PolicySource, PolicyState};
pub use webhook::TimeoutPolicy;

/// How to run the daemon.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The policy set.
    pub policy: PolicySource,
    /// Plugins available as `builtin:<name>`.
    pub builtins: Builtins,
    /// Append decisions to this JSON Lines file.
    pub audit_log: Option<PathBuf>,
    /// TLS certificate and key (PEM); plain HTTP when absent.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Deadline for one admission review; keep it below the webhook's `timeoutSeconds`.
    pub eval_timeout: Duration,
    /// What to answer past the deadline.
    pub timeout_policy: TimeoutPolicy,
    /// Most reviews evaluated at once. Default: twice the cores this
    /// process may run on, at most 64. Evaluation is CPU-bound, so more at once adds no
    /// throughput; it only stretches every plugin's wall-clock time towards
    /// its deadline (`timeoutMs`) while reviews share the cores.
    pub max_concurrency: usize,
    /// How often the policy directory and TLS files are checked for changes.
    pub reload_interval: Duration,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Where trace plugins' remediation actions go; none when absent.
    pub action_sink: Option<actions::SinkConfig>,
}

impl ServeOptions {
    /// Defaults for `listen` and `policy`: no audit log, no TLS, an 8 s
    /// deadline (the webhook example sets `timeoutSeconds: 10`), fail-closed.
    pub fn new(listen: SocketAddr, policy: PolicySource) -> Self {
        ServeOptions {
            listen,
            policy,
            builtins: Builtins::default(),
            audit_log: None,
            tls: None,
            eval_timeout: Duration::from_secs(8),
            timeout_policy: TimeoutPolicy::FailClosed,
            max_concurrency: (2 * std::thread::available_parallelism().map_or(1, |n| n.get()))
                .min(64),
            reload_interval: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(20),
            action_sink: None,
        }
    }
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address is unavailable.
    #[error("cannot listen on {addr}: {cause}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The IO error (in the message, so not also a `source`).
        cause: std::io::Error,
    },
    /// The audit log cannot be opened.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    /// The TLS pair is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The action sink cannot be opened.
    #[error("{0}")]
    ActionSink(std::io::Error),
}

/// A bound, ready-to-run daemon.
pub struct Daemon {
    app: Arc<http::App>,
    evaluator: tokio::task::JoinHandle<()>,
    sink_task: Option<tokio::task::JoinHandle<()>>,
    listener: TcpListener,
    cert: Option<Arc<tls::ReloadingCert>>,
    options: ServeOptions,
}

impl Daemon {
    /// Open the audit log, load TLS, bind the socket and load the policy set
    /// once (a broken policy set still starts the daemon, not ready, with
    /// the reason on `/readyz`).
    pub async fn bind(runtime: Runtime, options: ServeOptions) -> Result<Daemon, ServeError> {
        let audit = match &options.audit_log {
            Some(path) => {
                let (log, recovery) = audit::AuditLog::open(path)?;
                tracing::info!(path = %path.display(), seq = recovery.head.seq, head = %recovery.head.hash, "audit log open");
                Some(Arc::new(log))
            }
            None => None,
        };
        let cert = match &options.tls {
            Some((c, k)) => Some(tls::ReloadingCert::new(c, k)?),
            None => None,
        };
        let listener =
            TcpListener::bind(options.listen)
                .await
                .map_err(|source| ServeError::Listen {
                    addr: options.listen,
                    cause: source,
                })?;
        let policy = Arc::new(PolicyState::new(
            runtime,
            options.builtins.clone(),
            options.policy.clone(),
        ));
        let p = policy.clone();
        let _ = tokio::task::spawn_blocking(move || p.reload()).await;
        let metrics = Arc::new(metrics::Metrics::default());
        if let Some(active) = policy.active() {
            metrics.set_config(active.version(), &active.set.policy_set().name);
        }
        let (sink, sink_task) = match &options.action_sink {
            Some(config) => {
                let (sink, task) = actions::ActionSink::start(config.clone(), metrics.clone())
                    .map_err(ServeError::ActionSink)?;
                (Some(sink), Some(task))
            }
            None => (None, None),
        };
        let (traces, evaluator) =
            traces::TracePipeline::start(policy.clone(), audit.clone(), metrics.clone(), sink);
        let webhook = webhook::Webhook {
            policy,
            audit,
            metrics,
            eval_timeout: options.eval_timeout,
            timeout_policy: options.timeout_policy,
            permits: Arc::new(tokio::sync::Semaphore::new(options.max_concurrency.max(1))),
            fan_out: webhook::FanOut::for_this_machine(),
        };
        Ok(Daemon {
            app: Arc::new(http::App { webhook, traces }),
            evaluator,
            sink_task,
            listener,
            cert,
            options,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// True when the daemon serves HTTPS.
    pub fn has_tls(&self) -> bool {
        self.cert.is_some()
    }

    /// The routes, for in-process use.
    pub fn app(&self) -> Arc<http::App> {
        self.app.clone()
    }

    /// Serve until `shutdown` resolves, reloading the policy set and TLS
    /// files in the background.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let interval = self.options.reload_interval;
        let mut tasks = Vec::new();
        if matches!(self.options.policy, PolicySource::Dir(_)) {
            let w = &self.app.webhook;
            tasks.push(tokio::spawn(state::watch(
                w.policy.clone(),
                interval,
                w.metrics.clone(),
            )));
        }
        let acceptor = match &self.cert {
            Some(cert) => {
                tasks.push(tokio::spawn(cert.clone().watch(interval)));
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(
                    cert.server_config()?,
                )))
            }
            None => None,
        };
        let addr = self.listener.local_addr().ok();
        tracing::info!(addr = ?addr, tls = acceptor.is_some(), "gavel serving");
        let result = http::serve(
            self.listener,
            self.app.clone(),
            acceptor,
            shutdown,
            self.options.shutdown_grace,
        )
        .await;
        // Requests are done: judge and record every window still open, then
        // let the sink deliver what they recommend.
        let traces = self.app.traces.clone();
        drop(self.app);
        traces
            .shutdown(self.evaluator, self.options.shutdown_grace)
            .await;
        drop(traces);
        if let Some(task) = self.sink_task
            && tokio::time::timeout(self.options.shutdown_grace, task)
                .await
                .is_err()
        {
            tracing::error!(
                "the action sink did not finish delivering within the shutdown grace period"
            );
        }
        for t in tasks {
            t.abort();
        }
        result.map_err(|source| ServeError::Listen {
            addr: self.options.listen,
            cause: source,
        })
    }
}
