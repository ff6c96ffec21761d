//! Continuous auditing of inference traces: `POST /v1/traces` (OTLP/HTTP)
//! into tumbling windows, each closed window judged by the trace plugins,
//! recorded in the audit trail, its actions sent to the action sink and its
//! metrics exported per model.
//!
//! Every span a request carries is accounted for on `/metrics`
//! (`gavel_otlp_spans_total`): *accepted* into a window, *ignored* (not a
//! GenAI span), *rejected* (malformed; the OTLP answer is a partial success
//! that says how many and why), or *refused*: the whole request is answered
//! 429 (buffers full) or 503 (no policy set, shutting down) with
//! `Retry-After`, and the exporter sends it again. Nothing is dropped
//! silently. Accepted spans stay counted in `gavel_trace_spans_buffered`
//! until their window's decision is in the audit trail.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use gavel_core::{Composed, Outcome, Subject};
use gavel_otlp::{Admission, ClosedWindow, DecodeError, Encoding, Windows};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore, mpsc};

use crate::actions::ActionSink;
use crate::audit::AuditLog;
use crate::metrics::Metrics;
use crate::state::{Active, PolicyState};

/// Largest OTLP request body accepted on the wire (compressed or not).
pub const MAX_OTLP_BODY_BYTES: usize = 16 << 20;
/// Largest OTLP request after decompression.
pub const MAX_OTLP_DECODED_BYTES: usize = 64 << 20;
/// Seconds an exporter is asked to wait when gavel's buffers are full.
pub const RETRY_AFTER_BUSY_SECS: u64 = 1;
/// Seconds an exporter is asked to wait when gavel is not ready.
pub const RETRY_AFTER_UNAVAILABLE_SECS: u64 = 5;
/// Windows judged at once.
pub const WINDOW_WORKERS: usize = 2;
/// Longest wait between checks for windows past their age.
const TICK: Duration = Duration::from_millis(50);

/// The answer to one `/v1/traces` request, ready for the HTTP edge.
#[derive(Debug)]
pub struct OtlpAnswer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` of `body`.
    pub content_type: &'static str,
    /// An `ExportTraceServiceResponse` (200) or a `google.rpc.Status`.
    pub body: Vec<u8>,
    /// `Retry-After`, seconds (429 and 503).
    pub retry_after: Option<u64>,
}

impl OtlpAnswer {
    fn status(encoding: Option<Encoding>, http: u16, code: i32, message: String) -> OtlpAnswer {
        let retry_after = match http {
            429 => Some(RETRY_AFTER_BUSY_SECS),
            503 => Some(RETRY_AFTER_UNAVAILABLE_SECS),
            _ => None,
        };
        match encoding {
            Some(e) => OtlpAnswer {
                status: http,
                content_type: e.content_type(),
                body: gavel_otlp::encode_status(&gavel_otlp::Status::new(code, message), e),
                retry_after,
            },
            // The request's encoding is what is unsupported: answer in text.
            None => OtlpAnswer {
                status: http,
                content_type: "text/plain; charset=utf-8",
                body: format!("{message}\n").into_bytes(),
                retry_after,
            },
        }
    }
}

/// The trace pipeline of one daemon.
pub struct TracePipeline {
    policy: Arc<PolicyState>,
    audit: Option<Arc<AuditLog>>,
    metrics: Arc<Metrics>,
    sink: Option<ActionSink>,
    windows: Mutex<Windows>,
    /// Spans in closed windows not yet recorded.
    in_flight: AtomicUsize,
    closed_tx: Mutex<Option<mpsc::UnboundedSender<ClosedWindow>>>,
    accepting: AtomicBool,
    /// Wakes the ticker when the first window opens.
    opened: Notify,
}

impl TracePipeline {
    /// Start the pipeline: its window ticker and its evaluation task.
    /// Must be called inside a tokio runtime.
    pub fn start(
        policy: Arc<PolicyState>,
        audit: Option<Arc<AuditLog>>,
        metrics: Arc<Metrics>,
        sink: Option<ActionSink>,
    ) -> (Arc<TracePipeline>, tokio::task::JoinHandle<()>) {
        let initial = policy
            .active()
            .map(|a| a.set.policy_set().traces)
            .unwrap_or_default();
        let (tx, rx) = mpsc::unbounded_channel();
        let pipeline = Arc::new(TracePipeline {
            policy,
            audit,
            metrics,
            sink,
            windows: Mutex::new(Windows::new(initial)),
            in_flight: AtomicUsize::new(0),
            closed_tx: Mutex::new(Some(tx)),
            accepting: AtomicBool::new(true),
            opened: Notify::new(),
        });
        let evaluator = tokio::spawn(pipeline.clone().judge_windows(rx));
        tokio::spawn(pipeline.clone().tick());
        (pipeline, evaluator)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answer one OTLP/HTTP export request.
    pub async fn ingest(
        self: &Arc<Self>,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: bytes::Bytes,
    ) -> OtlpAnswer {
        use gavel_otlp::Status;
        let encoding = match gavel_otlp::encoding_from_content_type(content_type.unwrap_or("")) {
            Ok(e) => e,
            Err(e) => return OtlpAnswer::status(None, e.http_status(), 0, e.to_string()),
        };
        let gzip = match gavel_otlp::gzip_from_content_encoding(content_encoding) {
            Ok(g) => g,
            Err(e) => return decode_error(encoding, &e),
        };
        // Decoding and mapping are CPU work proportional to the body.
        let decoded = tokio::task::spawn_blocking(move || {
            gavel_otlp::decode(&body, encoding, gzip, MAX_OTLP_DECODED_BYTES)
                .map(|request| gavel_otlp::map_request(&request))
        })
        .await;
        let mapped = match decoded {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return decode_error(encoding, &e),
            Err(e) => {
                return OtlpAnswer::status(
                    Some(encoding),
                    500,
                    Status::INTERNAL,
                    format!("decoding task failed: {e}"),
                );
            }
        };
        let total = usize::try_from(mapped.total()).unwrap_or(usize::MAX);
        // Checked after decoding, so that the spans refused can be counted.
        let Some(active) = self.policy.active() else {
            let why = self
                .policy
                .last_error()
                .unwrap_or_else(|| "the policy set is still loading".into());
            self.metrics.otlp_spans("refused", total);
            return OtlpAnswer::status(
                Some(encoding),
                503,
                Status::UNAVAILABLE,
                format!("gavel is not ready: {why}"),
            );
        };
        if !self.accepting.load(Ordering::Acquire) {
            self.metrics.otlp_spans("refused", total);
            return OtlpAnswer::status(
                Some(encoding),
                503,
                Status::UNAVAILABLE,
                "gavel is shutting down: send to another replica".into(),
            );
        }
        let response = mapped.response();
        let (ignored, rejected) = (mapped.ignored, mapped.rejected);
        let accepted = mapped.spans.len();
        let mut closed = Vec::new();
        {
            let mut windows = self.lock();
            let wanted = active.set.policy_set().traces;
            if *windows.policy() != wanted {
                closed.extend(windows.reconfigure(wanted, Instant::now()));
            }
            match windows.admit(accepted, self.in_flight.load(Ordering::Acquire)) {
                Admission::Accept => {
                    let was_empty = windows.open_windows() == 0;
                    windows.insert_all(mapped.spans, Instant::now(), &mut closed);
                    if was_empty {
                        self.opened.notify_one();
                    }
                }
                refusal => {
                    let cap = windows.policy().max_buffered_spans;
                    let held = windows.buffered_spans() + self.in_flight.load(Ordering::Acquire);
                    drop(windows);
                    self.forward(closed);
                    return if refusal == Admission::TooLarge {
                        // Never fits: rejected for good, not to be retried.
                        self.metrics.otlp_spans("rejected", total);
                        OtlpAnswer::status(
                            Some(encoding),
                            413,
                            Status::RESOURCE_EXHAUSTED,
                            format!(
                                "{accepted} inference spans in one request is more than traces.maxBufferedSpans ({cap}): send smaller batches"
                            ),
                        )
                    } else {
                        self.metrics.otlp_spans("refused", total);
                        OtlpAnswer::status(
                            Some(encoding),
                            429,
                            Status::RESOURCE_EXHAUSTED,
                            format!(
                                "gavel holds {held} spans waiting for evaluation and {accepted} more would pass traces.maxBufferedSpans ({cap}): retry after {RETRY_AFTER_BUSY_SECS} s"
                            ),
                        )
                    };
                }
            }
            self.publish(&windows);
        }
        self.forward(closed);
        self.metrics.otlp_spans("accepted", accepted);
        self.metrics
            .otlp_spans("ignored", usize::try_from(ignored).unwrap_or(usize::MAX));
        self.metrics
            .otlp_spans("rejected", usize::try_from(rejected).unwrap_or(usize::MAX));
        OtlpAnswer {
            status: 200,
            content_type: encoding.content_type(),
            body: gavel_otlp::encode_response(&response, encoding),
            retry_after: None,
        }
    }

    /// Hand closed windows to the evaluation task.
    fn forward(&self, closed: Vec<ClosedWindow>) {
        if closed.is_empty() {
            return;
        }
        let tx = self.closed_tx.lock().unwrap_or_else(|p| p.into_inner());
        for window in closed {
            self.metrics.window_closed(window.reason.as_str());
            let n = window.spans.len();
            self.in_flight.fetch_add(n, Ordering::AcqRel);
            let sent = match tx.as_ref() {
                Some(tx) => tx.send(window).is_ok(),
                None => false,
            };
            if !sent {
                // Only after shutdown finished: nothing is left to judge it.
                self.in_flight.fetch_sub(n, Ordering::AcqRel);
                tracing::error!(
                    spans = n,
                    "a trace window closed after shutdown was not judged"
                );
            }
        }
    }

    /// Close windows past their age, until shutdown.
    async fn tick(self: Arc<Self>) {
        while self.accepting.load(Ordering::Acquire) {
            let wait = {
                let windows = self.lock();
                windows
                    .next_deadline()
                    .map(|d| d.saturating_duration_since(Instant::now()).min(TICK))
            };
            match wait {
                Some(w) => tokio::time::sleep(w).await,
                None => {
                    let _ = tokio::time::timeout(TICK, self.opened.notified()).await;
                }
            }
            let closed = {
                let mut windows = self.lock();
                let closed = windows.close_due(Instant::now());
                self.publish(&windows);
                closed
            };
            self.forward(closed);
        }
    }

    async fn judge_windows(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<ClosedWindow>) {
        let workers = Arc::new(Semaphore::new(WINDOW_WORKERS));
        let mut running = tokio::task::JoinSet::new();
        while let Some(window) = rx.recv().await {
            let Ok(permit) = workers.clone().acquire_owned().await else {
                break;
            };
            let this = self.clone();
            running.spawn(async move {
                let _permit = permit;
                this.judge(window).await;
            });
            while running.try_join_next().is_some() {}
        }
        while running.join_next().await.is_some() {}
    }

    /// Evaluate one window, record it, send its actions, export its metrics.
    async fn judge(&self, window: ClosedWindow) {
        let n = window.spans.len();
        let Some(active) = self.policy.active() else {
            // Spans are only accepted while a policy set serves, and a
            // reload never unloads one: this cannot happen, but say so if it does.
            tracing::error!(spans = n, "no policy set to judge a trace window with");
            self.in_flight.fetch_sub(n, Ordering::AcqRel);
            return;
        };
        let closed_at = window.closed_at;
        let key = window.key.clone();
        let meta = WindowMeta::of(&window);
        let subject = Arc::new(Subject::Traces(window.spans));
        let (a, s, m) = (active.clone(), subject.clone(), meta.clone());
        let audited = self.audit.is_some();
        // The audit record of a large window is real work (every span is
        // copied and hashed): build it on the blocking pool, and only when
        // there is an audit trail to write it to.
        let judged = tokio::task::spawn_blocking(move || {
            let composed = a.set.evaluate(&s);
            let body = audited.then(|| window_audit_body(&a, &s, &composed, &m));
            (composed, body)
        });
        let (composed, body) = match judged.await {
            Ok(judged) => judged,
            Err(e) => {
                tracing::error!("trace window evaluation task failed: {e}");
                self.in_flight.fetch_sub(n, Ordering::AcqRel);
                return;
            }
        };
        let seq = match (&self.audit, body) {
            (Some(audit), Some(body)) => {
                let durability = active.set.policy_set().audit.durability;
                match crate::webhook::append_audit(audit, &self.metrics, body, durability).await {
                    Ok(head) => Some(head.seq),
                    Err(e) => {
                        tracing::error!(namespace = ?key.namespace, service = %key.service, model = %key.model, "a trace window's decision could not be written to the audit trail: {e}");
                        None
                    }
                }
            }
            _ => None,
        };
        let namespace = key.namespace.as_deref().unwrap_or("");
        self.metrics.plugins(&composed, |p, m| {
            self.metrics
                .model_metric(&p.name, m, [namespace, &key.service, &key.model])
        });
        if let Some(sink) = &self.sink {
            sink.send(action_records(&meta, &composed, seq));
        }
        self.metrics
            .window_judged(composed.decision.as_str(), closed_at.elapsed());
        self.in_flight.fetch_sub(n, Ordering::AcqRel);
        self.publish(&self.lock());
    }

    /// Export the open windows and the spans held (open windows, plus closed
    /// windows not yet recorded).
    fn publish(&self, windows: &Windows) {
        self.metrics.windows_state(
            windows.open_windows(),
            windows.buffered_spans() + self.in_flight.load(Ordering::Acquire),
        );
    }

    /// Stop accepting spans, close every open window, and wait (at most
    /// `grace`) until every closed window is judged and recorded.
    pub async fn shutdown(&self, evaluator: tokio::task::JoinHandle<()>, grace: Duration) {
        self.accepting.store(false, Ordering::Release);
        let closed = self.lock().drain(Instant::now());
        self.forward(closed);
        // Closing the channel ends the evaluation task once it is empty.
        self.closed_tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if tokio::time::timeout(grace, evaluator).await.is_err() {
            tracing::error!(
                spans = self.in_flight.load(Ordering::Acquire),
                "trace windows still being judged at the end of the shutdown grace period"
            );
        }
    }

    /// Spans held now: in open windows, and closed but not yet recorded.
    pub fn buffered_spans(&self) -> usize {
        self.lock().buffered_spans() + self.in_flight.load(Ordering::Acquire)
    }
}

fn decode_error(encoding: Encoding, e: &DecodeError) -> OtlpAnswer {
    let status = e.to_status();
    OtlpAnswer::status(Some(encoding), e.http_status(), status.code, status.message)
}

/// What a window's records say about it.
#[derive(Debug, Clone)]
pub struct WindowMeta {
    /// `k8s.namespace.name`, when known.
    pub namespace: Option<String>,
    /// `service.name`.
    pub service: String,
    /// `gen_ai.request.model`.
    pub model: String,
    /// Spans in the window.
    pub spans: usize,
    /// Why it closed (`count`, `age`, `evicted`, `reconfigured`, `shutdown`,
    /// or `end-of-input` offline).
    pub reason: &'static str,
    /// Earliest span start and latest span end, Unix nanoseconds.
    pub span_range: (u64, u64),
    /// How long the window was open, milliseconds.
    pub open_ms: u64,
}

impl WindowMeta {
    /// Describe a closed window.
    pub fn of(w: &ClosedWindow) -> WindowMeta {
        let start = w.spans.iter().map(|s| s.start_unix_nano).min().unwrap_or(0);
        let end = w.spans.iter().map(|s| s.end_unix_nano).max().unwrap_or(0);
        WindowMeta {
            namespace: w.key.namespace.clone(),
            service: w.key.service.clone(),
            model: w.key.model.clone(),
            spans: w.spans.len(),
            reason: w.reason.as_str(),
            span_range: (start, end),
            open_ms: u64::try_from(w.closed_at.duration_since(w.opened_at).as_millis())
                .unwrap_or(u64::MAX),
        }
    }

    /// The window as audit records and action records show it.
    pub fn to_json(&self) -> Value {
        json!({
            "namespace": self.namespace,
            "service": self.service,
            "model": self.model,
            "spans": self.spans,
            "closedBy": self.reason,
            "firstSpanStartUnixNano": self.span_range.0,
            "lastSpanEndUnixNano": self.span_range.1,
            "openMs": self.open_ms,
        })
    }
}

/// The audit record of a window's decision: the admission record's shape,
/// with the window described under `subject.window`.
pub fn window_audit_body(
    active: &Active,
    subject: &Subject,
    composed: &Composed,
    meta: &WindowMeta,
) -> Value {
    let mut body = crate::webhook::audit_body(active, subject, composed, "traces");
    body["subject"]["window"] = meta.to_json();
    body
}

/// One record per action the window's verdicts recommend, for the sink.
///
/// Recommending an action is part of what a plugin may decide: a plugin in
/// `mode: audit` (whose verdict has no effect) has its actions recorded in
/// the audit trail only, not delivered.
pub fn action_records(
    meta: &WindowMeta,
    composed: &Composed,
    audit_seq: Option<u64>,
) -> Vec<Value> {
    let time = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
    let mut records = Vec::new();
    for p in &composed.plugins {
        let Outcome::Verdict(v) = &p.outcome else {
            continue;
        };
        if p.effect.is_none() {
            continue;
        }
        for action in &v.actions {
            records.push(json!({
                "time": time,
                "window": meta.to_json(),
                "plugin": p.name,
                "decision": v.decision,
                "action": action,
                "findings": v.findings.iter().map(|f| &f.code).collect::<Vec<_>>(),
                "auditSeq": audit_seq,
            }));
        }
    }
    records
}
