//! The HTTP edge: routing, body limits, TLS, graceful shutdown. The one
//! place where outcomes and errors become status codes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;
use crate::state::PolicyState;
use crate::traces::{MAX_OTLP_BODY_BYTES, OtlpAnswer, TracePipeline};
use crate::webhook::{ApiError, Webhook};

/// The API server sends at most 3 MiB; so does gavel accept.
pub const MAX_BODY_BYTES: usize = 3 << 20;

/// The routes of the daemon, callable in-process (tests) or from a socket.
pub struct App {
    /// The admission webhook.
    pub webhook: Webhook,
    /// OTLP trace ingest.
    pub traces: Arc<TracePipeline>,
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut body = body.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            serde_json::to_vec(value).unwrap_or_default(),
        )))
        .unwrap_or_default()
}

impl App {
    fn metrics(&self) -> &Metrics {
        &self.webhook.metrics
    }

    fn policy(&self) -> &PolicyState {
        &self.webhook.policy
    }

    /// Answer one request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let path = req.uri().path().to_owned();
        let response = self.route(req).await;
        let label = match path.as_str() {
            "/validate" | "/v1/traces" | "/healthz" | "/readyz" | "/metrics" => path.as_str(),
            _ => "other",
        };
        self.metrics().http(label, response.status().as_u16());
        response
    }

    async fn route<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        match (req.method(), req.uri().path()) {
            (&Method::POST, "/validate") => match self.validate(req).await {
                Ok(value) => json(&value),
                Err(e) => {
                    let status = StatusCode::from_u16(e.status())
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    text(status, e.to_string())
                }
            },
            (&Method::POST, "/v1/traces") => self.traces(req).await,
            (&Method::GET, "/healthz") => text(StatusCode::OK, "ok"),
            (&Method::GET, "/readyz") => self.readyz(),
            (&Method::GET, "/metrics") => {
                let ready = self.policy().active().is_some();
                self.metrics().set_ready(ready);
                Response::builder()
                    .header("content-type", "text/plain; version=0.0.4")
                    .body(Full::new(Bytes::from(self.metrics().render())))
                    .unwrap_or_default()
            }
            (_, "/validate" | "/v1/traces" | "/healthz" | "/readyz" | "/metrics") => text(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: POST /validate and /v1/traces, GET the others",
            ),
            (_, other) => text(
                StatusCode::NOT_FOUND,
                format!(
                    "no route `{other}`: gavel serves POST /validate, POST /v1/traces, GET /healthz, /readyz, /metrics"
                ),
            ),
        }
    }

    async fn validate<B>(&self, req: Request<B>) -> Result<serde_json::Value, ApiError>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let body = read_body(req, MAX_BODY_BYTES).await?;
        self.webhook.review(&body).await
    }

    /// `POST /v1/traces`: OTLP/HTTP trace export.
    async fn traces<B>(&self, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(hyper::header::CONTENT_TYPE);
        let content_encoding = header(hyper::header::CONTENT_ENCODING);
        let body = match read_body(req, MAX_OTLP_BODY_BYTES).await {
            Ok(b) => b,
            Err(ApiError::TooLarge(max)) => {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "request body is larger than {max} bytes: send smaller batches (the exporter's batch size)"
                    ),
                );
            }
            Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
        };
        let answer: OtlpAnswer = self
            .traces
            .ingest(content_type.as_deref(), content_encoding.as_deref(), body)
            .await;
        let mut response = Response::builder()
            .status(
                StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            )
            .header("content-type", answer.content_type);
        if let Some(secs) = answer.retry_after {
            response = response.header("retry-after", secs.to_string());
        }
        response
            .body(Full::new(Bytes::from(answer.body)))
            .unwrap_or_default()
    }

    fn readyz(&self) -> Response<Full<Bytes>> {
        match (self.policy().active(), self.policy().last_error()) {
            (Some(active), None) => text(
                StatusCode::OK,
                format!("ready: policy set version {}", active.version()),
            ),
            // Still serving the last good version: ready, but say why the new one was refused.
            (Some(active), Some(err)) => text(
                StatusCode::OK,
                format!(
                    "ready: serving version {}; the newest policy set was rejected: {err}",
                    active.version()
                ),
            ),
            (None, Some(err)) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {err}")),
            (None, None) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the policy set is still loading",
            ),
        }
    }
}

/// Read a request's body, refusing one larger than `max` bytes: at once
/// when its `Content-Length` says so, else as soon as it passes `max`.
async fn read_body<B>(req: Request<B>, max: usize) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::TooLarge(max));
    }
    Limited::new(req.into_body(), max)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::TooLarge(max)
            } else {
                ApiError::BadRequest(format!("cannot read the request body: {e}"))
            }
        })
}

/// Serve `app` on `listener` (over TLS when `tls` is given) until `shutdown`
/// resolves; then stop accepting and let in-flight requests finish (at most
/// `grace`).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.handle(req).await) }
        });
        match &tls {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(
                        Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                });
            }
        }
    }
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight requests did not finish within {} s",
            grace.as_secs()
        );
    }
    Ok(())
}
