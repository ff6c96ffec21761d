//! Continuous auditing of inference traces through a real daemon: OTLP/HTTP
//! in (protobuf, JSON, gzip, partial success, errors), windows closed by
//! count and by time, fairness drift and idle GPUs reaching the action sink,
//! and back-pressure at the cap with every span accounted for.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use gavel_server::actions::SinkConfig;
use gavel_server::{Daemon, PolicySource, ServeOptions};
use gavel_tracegen::encode::{self, Format};
use gavel_tracegen::{ExportTraceServiceRequest, Options, Scenario, generate};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::runtime;
use crate::server::{TempDir, write_policy};

/// A policy set with the trace plugins and the given `traces:` settings.
fn policy(traces: &str) -> String {
    format!(
        "apiVersion: gavel.dev/v1alpha1\nkind: PolicySet\nname: traces\nplugins:\n  - name: bias\n    module: builtin:bias\n  - name: cost\n    module: builtin:cost\ntraces: {traces}\naudit:\n  durability: write\n"
    )
}

struct Daemonised {
    addr: std::net::SocketAddr,
    audit: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

impl Daemonised {
    async fn start(traces: &str, sink: Option<SinkConfig>) -> Daemonised {
        let dir = TempDir::new("traces");
        let policy_dir = dir.0.join("policy");
        std::fs::create_dir_all(&policy_dir).unwrap();
        write_policy(&policy_dir, &policy(traces));
        let audit = dir.0.join("audit.jsonl");
        let mut options = ServeOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            PolicySource::Dir(policy_dir),
        );
        let mut builtins = gavel_host::Builtins::default();
        builtins.insert("bias", crate::read(gavel_artifacts::BIAS));
        builtins.insert("cost", crate::read(gavel_artifacts::COST));
        options.builtins = builtins;
        options.audit_log = Some(audit.clone());
        options.action_sink = sink;
        let daemon = Daemon::bind(runtime().clone(), options).await.unwrap();
        assert!(
            daemon.app().webhook.policy.active().is_some(),
            "policy set loads"
        );
        let addr = daemon.local_addr().unwrap();
        let (stop, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            daemon
                .run(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Daemonised {
            addr,
            audit,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    /// Stop the daemon: open windows are judged and recorded first.
    async fn stop(mut self) -> Vec<Value> {
        let _ = self.stop.take().map(|s| s.send(()));
        tokio::time::timeout(Duration::from_secs(60), &mut self.task)
            .await
            .unwrap()
            .unwrap();
        audit_records(&self.audit)
    }

    async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, Option<String>, Vec<u8>) {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method("POST")
            .uri(path)
            .header("host", "localhost");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = sender
            .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, retry_after, body.to_vec())
    }

    /// POST one export request; returns status, Retry-After and body.
    async fn export(
        &self,
        request: &ExportTraceServiceRequest,
        format: Format,
        gzip: bool,
    ) -> (u16, Option<String>, Vec<u8>) {
        let mut body = encode::encode(request, format).unwrap();
        let mut headers = vec![("content-type", format.content_type())];
        if gzip {
            body = encode::gzip(&body).unwrap();
            headers.push(("content-encoding", "gzip"));
        }
        self.post("/v1/traces", &headers, body).await
    }

    async fn metrics(&self) -> String {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = Request::get("/metrics")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = sender.send_request(req).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }
}

/// The value of one series in a Prometheus text page (0 when absent).
fn metric(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// The message of a protobuf `google.rpc.Status` body.
fn status_message(body: &[u8]) -> String {
    <gavel_otlp::Status as prost::Message>::decode(body)
        .expect("a google.rpc.Status body")
        .message
}

fn audit_records(path: &Path) -> Vec<Value> {
    assert!(
        gavel_server::audit::verify(path).unwrap().broken.is_none(),
        "the audit chain verifies"
    );
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The windows recorded in an audit trail.
fn windows(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["subject"]["kind"] == "traces")
        .map(|r| &r["subject"]["window"])
        .collect()
}

/// One service, one namespace, one model: every span in one window key.
fn one_group(
    scenario: Scenario,
    spans: usize,
    batch: usize,
    seed: u64,
) -> Vec<ExportTraceServiceRequest> {
    let options = Options {
        spans,
        batch_size: batch,
        services: 1,
        namespaces: 1,
        seed,
        ..Options::default()
    };
    generate(scenario, &options).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_protobuf_json_gzip_partial_success_and_errors() {
    let d = Daemonised::start("{ maxSpans: 1000, maxAgeMs: 60000 }", None).await;
    let batches = one_group(Scenario::Healthy, 120, 40, 7);

    let (status, _, body) = d.export(&batches[0], Format::Protobuf, false).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let response = encode::decode_response(&body, Format::Protobuf).unwrap();
    assert!(
        response
            .partial_success
            .is_none_or(|p| p.rejected_spans == 0)
    );

    let (status, _, body) = d.export(&batches[1], Format::Json, true).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let json: Value = serde_json::from_slice(&body).expect("a JSON request gets a JSON answer");
    assert!(
        json.get("partialSuccess")
            .is_none_or(|p| p["rejectedSpans"].as_i64().unwrap_or(0) == 0),
        "{json}"
    );

    // Two malformed spans among good ones: a partial success that says why.
    let mut broken = batches[2].clone();
    let spans = &mut broken.resource_spans[0].scope_spans[0].spans;
    spans[0].trace_id = vec![1, 2, 3];
    spans[1].span_id = vec![0; 8];
    let (status, _, body) = d.export(&broken, Format::Json, false).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let json: Value = serde_json::from_slice(&body).unwrap();
    // OTLP/JSON writes 64-bit integers as strings; accept a number too.
    let rejected = &json["partialSuccess"]["rejectedSpans"];
    let rejected = rejected
        .as_i64()
        .or_else(|| rejected.as_str().and_then(|s| s.parse().ok()));
    assert_eq!(rejected, Some(2), "{json}");
    let message = json["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("2 of 40 spans rejected"), "{message}");

    // Malformed bodies and unsupported formats.
    let (status, _, body) = d
        .post(
            "/v1/traces",
            &[("content-type", "application/x-protobuf")],
            b"\xff\xff\xff not protobuf".to_vec(),
        )
        .await;
    assert_eq!(status, 400);
    let s = status_message(&body);
    assert!(
        s.contains("not a protobuf ExportTraceServiceRequest"),
        "{s}"
    );
    let (status, _, body) = d
        .post(
            "/v1/traces",
            &[("content-type", "application/json")],
            b"{\"resourceSpans\": 7}".to_vec(),
        )
        .await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = d
        .post(
            "/v1/traces",
            &[("content-type", "text/csv")],
            b"a,b".to_vec(),
        )
        .await;
    assert_eq!(status, 415);
    assert!(String::from_utf8_lossy(&body).contains("application/x-protobuf"));
    let (status, _, _) = d
        .post(
            "/v1/traces",
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            b"not gzip".to_vec(),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _, _) = d
        .post(
            "/v1/traces",
            &[
                ("content-type", "application/json"),
                ("content-encoding", "br"),
            ],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(status, 415);

    let page = d.metrics().await;
    assert_eq!(
        metric(&page, "gavel_otlp_spans_total{result=\"accepted\"}"),
        118.0,
        "{page}"
    );
    assert_eq!(
        metric(&page, "gavel_otlp_spans_total{result=\"rejected\"}"),
        2.0,
        "{page}"
    );

    // Everything accepted is judged at shutdown and recorded.
    let records = d.stop().await;
    let recorded: u64 = windows(&records)
        .iter()
        .map(|w| w["spans"].as_u64().unwrap())
        .sum();
    assert_eq!(recorded, 118);
    assert!(
        windows(&records)
            .iter()
            .all(|w| w["closedBy"] == "shutdown")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_close_by_count_and_by_time() {
    let d = Daemonised::start(
        "{ maxSpans: 100, maxAgeMs: 300, maxBufferedSpans: 10000 }",
        None,
    )
    .await;
    // 250 spans of one group in one request: two full windows at once, and
    // 50 spans that wait for the window's age.
    let batch = one_group(Scenario::Healthy, 250, 250, 11);
    let (status, _, _) = d.export(&batch[0], Format::Protobuf, false).await;
    assert_eq!(status, 200);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let page = d.metrics().await;
        let decided = metric(
            &page,
            "gavel_trace_window_decisions_total{decision=\"allow\"}",
        ) + metric(
            &page,
            "gavel_trace_window_decisions_total{decision=\"warn\"}",
        ) + metric(
            &page,
            "gavel_trace_window_decisions_total{decision=\"deny\"}",
        );
        if decided >= 3.0 {
            assert_eq!(
                metric(&page, "gavel_trace_windows_closed_total{reason=\"count\"}"),
                2.0,
                "{page}"
            );
            assert_eq!(
                metric(&page, "gavel_trace_windows_closed_total{reason=\"age\"}"),
                1.0,
                "{page}"
            );
            assert_eq!(metric(&page, "gavel_trace_spans_buffered"), 0.0, "{page}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "windows did not close: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let records = d.stop().await;
    let mut seen: Vec<(String, u64)> = windows(&records)
        .iter()
        .map(|w| {
            (
                w["closedBy"].as_str().unwrap().to_owned(),
                w["spans"].as_u64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("age".to_owned(), 50),
            ("count".to_owned(), 100),
            ("count".to_owned(), 100)
        ]
    );
    // The age-closed window waited for its age, not longer than a few ticks.
    let aged = windows(&records)
        .into_iter()
        .find(|w| w["closedBy"] == "age")
        .unwrap();
    let open_ms = aged["openMs"].as_u64().unwrap();
    assert!((300..5000).contains(&open_ms), "{open_ms}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fairness_drift_and_an_idle_gpu_reach_the_action_sink() {
    let dir = TempDir::new("sink");
    let sink = dir.0.join("actions.jsonl");
    let d = Daemonised::start(
        "{ maxSpans: 400, maxAgeMs: 200 }",
        Some(SinkConfig::File(sink.clone())),
    )
    .await;
    for request in one_group(Scenario::FairnessDrift, 400, 200, 3)
        .iter()
        .chain(&one_group(Scenario::IdleGpu, 400, 200, 4))
    {
        let (status, _, body) = d.export(request, Format::Protobuf, true).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let actions: Vec<Value> = loop {
        let lines: Vec<Value> = std::fs::read_to_string(&sink)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let has = |plugin: &str, kind: &str| {
            lines
                .iter()
                .any(|a| a["plugin"] == plugin && a["action"]["type"] == kind)
        };
        if has("bias", "alert") && has("cost", "scale-down") {
            break lines;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "actions so far: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let alert = actions.iter().find(|a| a["plugin"] == "bias").unwrap();
    assert!(
        alert["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "bias.demographic-parity-ratio-low"),
        "{alert}"
    );
    assert!(alert["auditSeq"].as_u64().is_some(), "{alert}");
    let scale = actions.iter().find(|a| a["plugin"] == "cost").unwrap();
    assert!(
        scale["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "cost.gpu-idle"),
        "{scale}"
    );
    assert!(scale["action"]["replicas"].as_u64().is_some(), "{scale}");
    assert_eq!(scale["window"]["spans"], 400, "{scale}");

    let page = d.metrics().await;
    assert!(
        page.lines()
            .any(|l| l.starts_with("gavel_model_metric{plugin=\"bias\",metric=\"")),
        "{page}"
    );
    assert!(
        metric(&page, "gavel_actions_total{result=\"delivered\"}") >= 2.0,
        "{page}"
    );

    // Each action names the audit record of the decision behind it.
    let records = d.stop().await;
    let seq = alert["auditSeq"].as_u64().unwrap();
    let record = records.iter().find(|r| r["seq"] == seq).unwrap();
    assert_eq!(
        record["subject"]["window"]["model"],
        alert["window"]["model"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_pressure_at_the_cap_loses_no_span() {
    // Windows hold up to 300 spans for a minute; the daemon holds at most
    // 300. Four services share each request, so no window fills: after three
    // requests the buffer is full and the fourth is refused, whole.
    let d = Daemonised::start(
        "{ maxSpans: 300, maxAgeMs: 60000, maxBufferedSpans: 300 }",
        None,
    )
    .await;
    let options = Options {
        spans: 400,
        batch_size: 100,
        services: 4,
        seed: 5,
        ..Options::default()
    };
    let batches = generate(Scenario::Healthy, &options).unwrap();
    let mut answers = Vec::new();
    for b in &batches {
        answers.push(d.export(b, Format::Protobuf, false).await);
    }
    let codes: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(codes, [200, 200, 200, 429]);
    let (_, retry_after, body) = &answers[3];
    assert_eq!(retry_after.as_deref(), Some("1"));
    let s = status_message(body);
    assert!(
        s.contains("gavel holds 300 spans waiting for evaluation and 100 more would pass traces.maxBufferedSpans (300)"),
        "{s}"
    );
    // One request larger than the whole buffer can never fit: 413, not 429.
    let huge = one_group(Scenario::Healthy, 301, 301, 6);
    let (status, retry_after, _) = d.export(&huge[0], Format::Protobuf, false).await;
    assert_eq!((status, retry_after), (413, None));

    // Every span is counted once: 300 accepted, 100 refused (to be
    // retried), 301 rejected for good (413).
    let page = d.metrics().await;
    let count = |result: &str| {
        metric(
            &page,
            &format!("gavel_otlp_spans_total{{result=\"{result}\"}}"),
        ) as usize
    };
    assert_eq!(
        (count("accepted"), count("refused"), count("rejected")),
        (300, 100, 301),
        "{page}"
    );
    let accepted = count("accepted");
    assert_eq!(metric(&page, "gavel_trace_spans_buffered"), 300.0, "{page}");

    let records = d.stop().await;
    let recorded: usize = windows(&records)
        .iter()
        .map(|w| w["spans"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(
        recorded, accepted,
        "every accepted span is in a recorded window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_sink_gets_actions_after_retries() {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A receiver that answers 503 twice, then 200, recording what it got.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/actions", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = got.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            n += 1;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            // Read headers and a body of Content-Length bytes.
            loop {
                let r = s.read(&mut chunk).await.unwrap();
                if r == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..r]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        seen.lock().unwrap().push(text[end + 4..].to_owned());
                        break;
                    }
                }
            }
            let answer = if n <= 2 {
                "HTTP/1.1 503 Service Unavailable\r\nretry-after: 0\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            };
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    let sink = SinkConfig::parse(&url).unwrap();
    let d = Daemonised::start("{ maxSpans: 300, maxAgeMs: 100 }", Some(sink)).await;
    let batch = one_group(Scenario::IdleGpu, 300, 300, 9);
    assert_eq!(d.export(&batch[0], Format::Protobuf, false).await.0, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let page = d.metrics().await;
        if metric(&page, "gavel_actions_total{result=\"delivered\"}") >= 1.0 {
            assert!(
                metric(&page, "gavel_actions_total{result=\"retried\"}") >= 2.0,
                "{page}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3, "two refusals and one delivery");
    let delivered: Value = serde_json::from_str(bodies.last().unwrap()).unwrap();
    assert_eq!(delivered[0]["action"]["type"], "scale-down", "{delivered}");
    d.stop().await;
}
