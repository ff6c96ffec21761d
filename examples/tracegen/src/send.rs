//! A small OTLP/HTTP client: POSTs export requests and follows the OTLP/HTTP
//! retry rules.
//!
//! - 2xx: the body is an `ExportTraceServiceResponse`; its `partial_success`
//!   says how many spans the server rejected, and why.
//! - 429, 502, 503, 504 and transport errors are retryable. A `Retry-After`
//!   header (seconds or an HTTP date) is honoured exactly; without one the
//!   client backs off exponentially. A server that asks for a longer wait
//!   than `max_retry_wait` gets the batch counted as failed rather than
//!   hammered early.
//! - Any other status fails the batch.
//!
//! Plain `http://` only: for TLS, send through the OpenTelemetry Collector
//! (examples/otel-collector) or a port-forward. Built on hyper-util's client,
//! which the daemon's tests already compile.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, RETRY_AFTER, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::encode::{self, EncodeError, Format};

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct SendConfig {
    /// The full URL, for example `http://127.0.0.1:8080/v1/traces`. A URL
    /// with no path gets `/v1/traces`.
    pub endpoint: String,
    /// Body encoding.
    pub format: Format,
    /// gzip the bodies (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Retries of one batch after its first attempt.
    pub max_retries: u32,
    /// The longest single wait accepted, from `Retry-After` or backoff.
    pub max_retry_wait: Duration,
    /// First backoff when the server gives no `Retry-After`; doubles per retry.
    pub initial_backoff: Duration,
    /// Time limit of one attempt, response body included.
    pub timeout: Duration,
}

impl Default for SendConfig {
    fn default() -> Self {
        SendConfig {
            endpoint: "http://127.0.0.1:8080/v1/traces".to_owned(),
            format: Format::Protobuf,
            gzip: false,
            concurrency: 2,
            max_retries: 5,
            max_retry_wait: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        }
    }
}

/// What happened to the spans of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendReport {
    /// Export requests (batches) handled.
    pub requests: u64,
    /// HTTP requests made, retries included.
    pub attempts: u64,
    /// Retries after a retryable status or a transport error.
    pub retries: u64,
    /// Sum of the waits before retries, as decided (from `Retry-After` or the
    /// backoff), not as measured.
    pub retry_wait: Duration,
    /// Spans in batches the server answered with 2xx.
    pub spans_sent: u64,
    /// Spans sent minus those the server rejected.
    pub spans_accepted: u64,
    /// Spans the server rejected in `partial_success.rejected_spans`.
    pub spans_rejected: u64,
    /// Spans in batches that never got a 2xx.
    pub spans_failed: u64,
    /// Body bytes of the attempts the server answered, retries included.
    pub bytes_sent: u64,
    /// Responses by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Partial-success messages and failures, first occurrences only.
    pub messages: Vec<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

const MAX_MESSAGES: usize = 10;

impl SendReport {
    /// Accepted spans per second of wall time.
    pub fn spans_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.spans_accepted as f64 / secs
        } else {
            0.0
        }
    }

    fn note(&mut self, message: String) {
        if self.messages.len() < MAX_MESSAGES && !self.messages.contains(&message) {
            self.messages.push(message);
        }
    }

    fn merge(&mut self, other: SendReport) {
        self.requests += other.requests;
        self.attempts += other.attempts;
        self.retries += other.retries;
        self.retry_wait += other.retry_wait;
        self.spans_sent += other.spans_sent;
        self.spans_accepted += other.spans_accepted;
        self.spans_rejected += other.spans_rejected;
        self.spans_failed += other.spans_failed;
        self.bytes_sent += other.bytes_sent;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for m in other.messages {
            self.note(m);
        }
    }
}

/// Why a run could not start or continue. Per-batch failures are counted in
/// the [`SendReport`] instead.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The endpoint is not an `http://host[:port]/path` URL.
    #[error("endpoint `{endpoint}`: {reason}")]
    Endpoint {
        /// The endpoint given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A batch could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A sending task panicked or was cancelled.
    #[error("a sending task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Checks and completes an endpoint URL.
pub fn endpoint_uri(endpoint: &str) -> Result<Uri, SendError> {
    let bad = |reason: &str| SendError::Endpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = endpoint
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "https is not supported by tracegen: post to an http:// endpoint (for example through `kubectl port-forward`), or send through the OpenTelemetry Collector in examples/otel-collector",
            ));
        }
        _ => {
            return Err(bad(
                "use an http:// URL such as http://127.0.0.1:8080/v1/traces",
            ));
        }
    }
    let authority = uri
        .authority()
        .ok_or_else(|| bad("the URL has no host"))?
        .clone();
    let path = match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("/") | Some("") => "/v1/traces".to_owned(),
        Some(p) => p.to_owned(),
    };
    Uri::builder()
        .scheme("http")
        .authority(authority)
        .path_and_query(path)
        .build()
        .map_err(|e| bad(&e.to_string()))
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (RFC 9110
/// §10.2.3). A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The outcome of one attempt.
enum Attempt {
    Done {
        status: u16,
        headers: HeaderMap,
        body: Bytes,
    },
    Transport(String),
}

async fn attempt(client: &HttpClient, uri: &Uri, config: &SendConfig, body: Bytes) -> Attempt {
    let mut request = Request::post(uri.clone())
        .header(CONTENT_TYPE, config.format.content_type())
        .header(
            USER_AGENT,
            concat!("gavel-tracegen/", env!("CARGO_PKG_VERSION")),
        );
    if config.gzip {
        request = request.header(CONTENT_ENCODING, "gzip");
    }
    let request = match request.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => return Attempt::Transport(e.to_string()),
    };
    let exchange = async {
        let response = client.request(request).await.map_err(|e| {
            // hyper-util's error hides the cause behind "client error (Connect)".
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the response: {e}"))?
            .to_bytes();
        Ok::<_, String>(Attempt::Done {
            status,
            headers,
            body,
        })
    };
    match tokio::time::timeout(config.timeout, exchange).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => Attempt::Transport(e),
        Err(_) => Attempt::Transport(format!("no response within {:?}", config.timeout)),
    }
}

/// How a batch ended, as far as the rest of the run is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// The server answered (accepted, rejected or refused the batch).
    Done,
    /// Only transport errors, retries exhausted: the endpoint is unreachable.
    Unreachable,
}

/// Sends one batch, retrying as the server allows; records the outcome.
async fn export(
    client: &HttpClient,
    uri: &Uri,
    config: &SendConfig,
    body: Bytes,
    spans: u64,
    report: &mut SendReport,
) -> Delivery {
    report.requests += 1;
    let mut retries = 0u32;
    loop {
        report.attempts += 1;
        // (Retry-After asked for, why to retry, whether the server answered)
        let (asked, why, answered) = match attempt(client, uri, config, body.clone()).await {
            Attempt::Done {
                status,
                headers,
                body: response,
            } => {
                report.bytes_sent += body.len() as u64;
                *report.statuses.entry(status).or_default() += 1;
                let code =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if code.is_success() {
                    record_success(&headers, &response, config.format, spans, report);
                    return Delivery::Done;
                }
                if !retryable(code) {
                    report.spans_failed += spans;
                    report.note(format!("HTTP {status}: {}", body_text(&headers, &response)));
                    return Delivery::Done;
                }
                let asked = headers
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                (asked, format!("HTTP {status}"), true)
            }
            Attempt::Transport(e) => (None, e, false),
        };
        if retries >= config.max_retries {
            report.spans_failed += spans;
            report.note(format!("{why}: gave up after {retries} retries"));
            return if answered {
                Delivery::Done
            } else {
                Delivery::Unreachable
            };
        }
        let wait = match asked {
            Some(wait) if wait > config.max_retry_wait => {
                report.spans_failed += spans;
                report.note(format!(
                    "{why}: the server asked to retry after {wait:?}, longer than the longest wait allowed ({:?})",
                    config.max_retry_wait
                ));
                return Delivery::Done;
            }
            Some(wait) => wait,
            None => config
                .initial_backoff
                .saturating_mul(1 << retries.min(16))
                .min(config.max_retry_wait),
        };
        if asked.is_none() {
            // Say why, once per reason: a 429 with Retry-After is routine,
            // a transport error is worth a line.
            report.note(format!("retried after: {why}"));
        }
        retries += 1;
        report.retries += 1;
        report.retry_wait += wait;
        tokio::time::sleep(wait).await;
    }
}

fn record_success(
    headers: &HeaderMap,
    body: &[u8],
    sent: Format,
    spans: u64,
    report: &mut SendReport,
) {
    report.spans_sent += spans;
    // The response uses the request's encoding; trust its Content-Type if set.
    let format = match headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(ct) if ct.starts_with("application/json") => Format::Json,
        Some(ct) if ct.starts_with("application/x-protobuf") => Format::Protobuf,
        _ => sent,
    };
    let rejected = match encode::decode_response(body, format) {
        Ok(response) => match response.partial_success {
            Some(partial) => {
                if !partial.error_message.is_empty() {
                    report.note(format!("partial success: {}", partial.error_message));
                }
                u64::try_from(partial.rejected_spans)
                    .unwrap_or(0)
                    .min(spans)
            }
            None => 0,
        },
        Err(e) => {
            report.note(format!("unreadable export response: {e}"));
            0
        }
    };
    report.spans_rejected += rejected;
    report.spans_accepted += spans - rejected;
}

/// A short, printable form of an error body.
fn body_text(headers: &HeaderMap, body: &[u8]) -> String {
    let textual = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/") || ct.starts_with("application/json"));
    if body.is_empty() {
        return "(empty body)".to_owned();
    }
    if !textual {
        return format!("({} byte body)", body.len());
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Sends every request from `requests`, `config.concurrency` at a time.
pub async fn send<I>(config: &SendConfig, requests: I) -> Result<SendReport, SendError>
where
    I: Iterator<Item = ExportTraceServiceRequest> + Send + 'static,
{
    let uri = endpoint_uri(&config.endpoint)?;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let source = Arc::new(Mutex::new(requests));
    // Set when a batch found the endpoint unreachable: the remaining batches
    // are counted as failed without each waiting through its own retries.
    let unreachable = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..config.concurrency.max(1) {
        let (client, uri, config, source, unreachable) = (
            client.clone(),
            uri.clone(),
            config.clone(),
            source.clone(),
            unreachable.clone(),
        );
        workers.spawn(async move {
            let mut report = SendReport::default();
            loop {
                let next = source.lock().expect("no worker panics holding it").next();
                let Some(request) = next else { break };
                let spans = encode::span_count(&request) as u64;
                if unreachable.load(Ordering::Relaxed) {
                    report.requests += 1;
                    report.spans_failed += spans;
                    continue;
                }
                let mut body = encode::encode(&request, config.format)?;
                if config.gzip {
                    body = encode::gzip(&body)?;
                }
                let delivery = export(
                    &client,
                    &uri,
                    &config,
                    Bytes::from(body),
                    spans,
                    &mut report,
                )
                .await;
                if delivery == Delivery::Unreachable {
                    unreachable.store(true, Ordering::Relaxed);
                    report.note(
                        "the endpoint is unreachable: the remaining batches were not sent"
                            .to_owned(),
                    );
                }
            }
            Ok::<_, SendError>(report)
        });
    }
    let mut report = SendReport::default();
    while let Some(done) = workers.join_next().await {
        report.merge(done??);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("7", Some(7)),
            (" 120 ", Some(120)),
            ("Sun, 06 Nov 1994 08:49:47 GMT", Some(10)),
            ("Sun, 06 Nov 1994 08:49:00 GMT", Some(0)),
            ("soon", None),
            ("-1", None),
        ];
        for &(value, want) in cases {
            assert_eq!(
                parse_retry_after(value, now),
                want.map(Duration::from_secs),
                "{value}"
            );
        }
    }

    #[test]
    fn endpoints() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "http://127.0.0.1:8080/v1/traces",
                Some("http://127.0.0.1:8080/v1/traces"),
            ),
            (
                "http://127.0.0.1:8080",
                Some("http://127.0.0.1:8080/v1/traces"),
            ),
            ("http://gavel:8080/", Some("http://gavel:8080/v1/traces")),
            ("https://gavel.gavel-system.svc/v1/traces", None),
            ("127.0.0.1:8080", None),
        ];
        for &(given, want) in cases {
            let got = endpoint_uri(given).ok().map(|u| u.to_string());
            assert_eq!(got.as_deref(), want, "{given}");
        }
    }
}
