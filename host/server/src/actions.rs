//! The action sink: where remediation actions that trace plugins recommend
//! (alert, scale-down, rollback-to-version) are delivered.
//!
//! Each action becomes one JSON record naming the window it was decided on
//! (namespace, service, model, spans, time range), the plugin, the findings
//! behind it and the audit record of the decision. A sink is a JSON Lines
//! file or an HTTP endpoint that receives each window's records as a JSON
//! array in one POST, retried with exponential backoff. Delivery runs on its
//! own task behind a bounded queue, so a slow receiver never stalls ingest;
//! what cannot be queued or delivered is counted on `/metrics`
//! (`gavel_actions_total{result=...}`) and logged. With an audit log, the
//! decision is appended before its actions are queued, and each action
//! carries the record's `auditSeq`; when that append fails (or there is no
//! audit log) the actions still go out, with `auditSeq: null`, and the
//! failure is logged and counted (`gavel_audit_errors_total`).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// Records waiting for delivery, in windows; past it a window's actions are
/// counted as dropped.
pub const QUEUE_WINDOWS: usize = 1024;

/// Where actions go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// Append one JSON record per line to this file (created 0600).
    File(PathBuf),
    /// POST each window's records as a JSON array to this `http://` URL.
    Http {
        /// The endpoint.
        url: hyper::Uri,
        /// Attempts after the first one fails (5xx, 429, connection errors).
        retries: u32,
        /// Deadline for each attempt.
        timeout: Duration,
    },
}

impl SinkConfig {
    /// Parse `--action-sink`: `file:PATH`, a plain path, or an `http://` URL.
    pub fn parse(spec: &str) -> Result<SinkConfig, String> {
        if spec.starts_with("https://") {
            return Err(format!(
                "action sink `{spec}`: https is not supported yet; use an http:// endpoint inside the cluster (or a sidecar that forwards over TLS), or a file"
            ));
        }
        if spec.starts_with("http://") {
            let url: hyper::Uri = spec
                .parse()
                .map_err(|e| format!("action sink `{spec}` is not a valid URL: {e}"))?;
            if url.host().is_none() {
                return Err(format!("action sink `{spec}` has no host"));
            }
            return Ok(SinkConfig::Http {
                url,
                retries: 5,
                timeout: Duration::from_secs(5),
            });
        }
        let path = spec.strip_prefix("file:").unwrap_or(spec);
        if path.is_empty() || spec.contains("://") {
            return Err(format!(
                "action sink `{spec}`: give a file path (`file:/var/lib/gavel/actions.jsonl`) or an http:// URL"
            ));
        }
        Ok(SinkConfig::File(PathBuf::from(path)))
    }
}

/// A running sink: queue records with [`ActionSink::send`].
#[derive(Clone)]
pub struct ActionSink {
    tx: mpsc::Sender<Vec<Value>>,
    metrics: Arc<Metrics>,
}

impl ActionSink {
    /// Open the sink (a file is opened now, so a bad path fails at start-up)
    /// and start its delivery task. Returns the sink and the task, which
    /// ends once every clone of the sink is dropped and the queue is drained.
    pub fn start(
        config: SinkConfig,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(ActionSink, tokio::task::JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE_WINDOWS);
        let task = match config {
            SinkConfig::File(path) => {
                let file = open_file(&path)?;
                tokio::spawn(deliver_file(rx, file, path, metrics.clone()))
            }
            SinkConfig::Http {
                url,
                retries,
                timeout,
            } => tokio::spawn(deliver_http(rx, url, retries, timeout, metrics.clone())),
        };
        Ok((ActionSink { tx, metrics }, task))
    }

    /// Queue one window's action records. Never waits: when the queue is
    /// full the records are counted as dropped and logged.
    pub fn send(&self, records: Vec<Value>) {
        if records.is_empty() {
            return;
        }
        let n = records.len();
        if let Err(e) = self.tx.try_send(records) {
            let records = match e {
                mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r) => r,
            };
            self.metrics.actions("dropped", n);
            tracing::error!(
                actions = n,
                first = %records.first().map(|v| v.to_string()).unwrap_or_default(),
                "action sink queue is full: actions dropped (they remain in the audit trail)"
            );
        }
    }
}

fn open_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot open the action sink `{}`: {e}", path.display()),
        )
    })
}

async fn deliver_file(
    mut rx: mpsc::Receiver<Vec<Value>>,
    file: std::fs::File,
    path: PathBuf,
    metrics: Arc<Metrics>,
) {
    let file = Arc::new(std::sync::Mutex::new(file));
    while let Some(records) = rx.recv().await {
        let n = records.len();
        let file = file.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut lines = Vec::new();
            for r in &records {
                serde_json::to_writer(&mut lines, r)?;
                lines.push(b'\n');
            }
            let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
            // One write per window: a reader never sees half a window.
            f.write_all(&lines)?;
            f.flush()
        })
        .await;
        match written {
            Ok(Ok(())) => metrics.actions("delivered", n),
            Ok(Err(e)) => {
                metrics.actions("failed", n);
                tracing::error!(path = %path.display(), "cannot write actions: {e}");
            }
            Err(e) => {
                metrics.actions("failed", n);
                tracing::error!("action writer task failed: {e}");
            }
        }
    }
}

async fn deliver_http(
    mut rx: mpsc::Receiver<Vec<Value>>,
    url: hyper::Uri,
    retries: u32,
    timeout: Duration,
    metrics: Arc<Metrics>,
) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    while let Some(records) = rx.recv().await {
        let n = records.len();
        let body = Bytes::from(serde_json::to_vec(&records).unwrap_or_default());
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            let result = post(&client, &url, body.clone(), timeout).await;
            match result {
                Ok(()) => {
                    metrics.actions("delivered", n);
                    break;
                }
                Err(Failure::Permanent(e)) => {
                    metrics.actions("failed", n);
                    tracing::error!(%url, "action sink refused {n} actions: {e}");
                    break;
                }
                Err(Failure::Retry(e, after)) if attempt < retries => {
                    attempt += 1;
                    let wait = after.unwrap_or(backoff).min(Duration::from_secs(30));
                    tracing::warn!(%url, attempt, "action delivery failed, retrying in {wait:?}: {e}");
                    metrics.actions("retried", n);
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                Err(Failure::Retry(e, _)) => {
                    metrics.actions("failed", n);
                    tracing::error!(%url, "action delivery failed after {} attempts, {n} actions not delivered (they remain in the audit trail): {e}", attempt + 1);
                    break;
                }
            }
        }
    }
}

enum Failure {
    /// Worth retrying, maybe after the server's `Retry-After`.
    Retry(String, Option<Duration>),
    /// The receiver rejected the records (4xx other than 408/429).
    Permanent(String),
}

async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &hyper::Uri,
    body: Bytes,
    timeout: Duration,
) -> Result<(), Failure> {
    let request = Request::post(url.clone())
        .header("content-type", "application/json")
        .header("user-agent", concat!("gavel/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(body))
        .map_err(|e| Failure::Permanent(e.to_string()))?;
    let response = match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => {
            return Err(Failure::Retry(
                format!("no answer within {timeout:?}"),
                None,
            ));
        }
        Ok(Err(e)) => return Err(Failure::Retry(e.to_string(), None)),
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // Drain the body so the connection can be reused.
    let _ = tokio::time::timeout(timeout, response.into_body().collect()).await;
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(Failure::Retry(format!("HTTP {status}"), retry_after))
    } else {
        Err(Failure::Permanent(format!("HTTP {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_specs() {
        assert_eq!(
            SinkConfig::parse("file:/tmp/a.jsonl").unwrap(),
            SinkConfig::File("/tmp/a.jsonl".into())
        );
        assert_eq!(
            SinkConfig::parse("actions.jsonl").unwrap(),
            SinkConfig::File("actions.jsonl".into())
        );
        assert!(matches!(
            SinkConfig::parse("http://127.0.0.1:9/hook").unwrap(),
            SinkConfig::Http { retries: 5, .. }
        ));
        for bad in ["", "file:", "ftp://x/y"] {
            assert!(SinkConfig::parse(bad).is_err(), "{bad}");
        }
        assert!(
            SinkConfig::parse("https://x/y")
                .unwrap_err()
                .contains("https is not supported yet")
        );
    }
}
