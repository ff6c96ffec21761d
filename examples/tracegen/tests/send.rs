//! The OTLP/HTTP client against a scripted server on a local TcpListener:
//! each case lists the server's answers and the report they must produce.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use gavel_tracegen::send::{SendConfig, SendReport, send};
use gavel_tracegen::{ExportTraceServiceResponse, Format, Options, Scenario, encode, generate};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;
use prost::Message;

/// One scripted answer.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

impl Reply {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, content_type: &str, body: Vec<u8>) -> Reply {
        self.headers.push(("content-type", content_type.to_owned()));
        self.body = body;
        self
    }
}

/// A request as the server saw it.
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &mut TcpStream) -> Seen {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).expect("read request");
        assert!(n > 0, "client closed before sending a request");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("a Content-Length");
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut chunk).expect("read body");
        body.extend_from_slice(&chunk[..n]);
    }
    Seen {
        request_line,
        headers,
        body,
    }
}

/// Answers one connection per reply, closing each, and returns what it saw.
fn serve(replies: Vec<Reply>) -> (String, JoinHandle<Vec<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for r in replies {
            let (mut stream, _) = listener.accept().unwrap();
            seen.push(read_request(&mut stream));
            let mut head = format!(
                "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                r.status,
                r.body.len()
            );
            for (n, v) in &r.headers {
                head.push_str(&format!("{n}: {v}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&r.body).unwrap();
        }
        seen
    });
    (url, handle)
}

/// The report fields a case checks.
#[derive(Debug, PartialEq)]
struct Expect {
    attempts: u64,
    retries: u64,
    retry_wait: Duration,
    accepted: u64,
    rejected: u64,
    failed: u64,
}

fn summary(r: &SendReport) -> Expect {
    Expect {
        attempts: r.attempts,
        retries: r.retries,
        retry_wait: r.retry_wait,
        accepted: r.spans_accepted,
        rejected: r.spans_rejected,
        failed: r.spans_failed,
    }
}

struct Case {
    name: &'static str,
    config: SendConfig,
    replies: Vec<Reply>,
    expect: Expect,
    /// A substring of one of the report's messages.
    message: Option<&'static str>,
}

const SPANS: u64 = 10;

fn config() -> SendConfig {
    SendConfig {
        concurrency: 1,
        max_retries: 3,
        max_retry_wait: Duration::from_secs(5),
        initial_backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(10),
        ..SendConfig::default()
    }
}

fn expect(attempts: u64, retry_wait_ms: u64, accepted: u64, rejected: u64, failed: u64) -> Expect {
    Expect {
        attempts,
        retries: attempts.saturating_sub(1),
        retry_wait: Duration::from_millis(retry_wait_ms),
        accepted,
        rejected,
        failed,
    }
}

fn partial(rejected: i64, message: &str) -> Vec<u8> {
    ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: rejected,
            error_message: message.to_owned(),
        }),
    }
    .encode_to_vec()
}

fn cases() -> Vec<Case> {
    let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(30));
    vec![
        Case {
            name: "429 with Retry-After seconds, then accepted",
            config: config(),
            replies: vec![reply(429).header("retry-after", "1"), reply(200)],
            expect: expect(2, 1000, SPANS, 0, 0),
            message: None,
        },
        Case {
            name: "503 with a Retry-After date in the past retries at once",
            config: config(),
            replies: vec![reply(503).header("retry-after", past), reply(200)],
            expect: expect(2, 0, SPANS, 0, 0),
            message: None,
        },
        Case {
            name: "503 without Retry-After backs off exponentially",
            config: config(),
            replies: vec![reply(503), reply(502), reply(200)],
            expect: expect(3, 10 + 20, SPANS, 0, 0),
            message: None,
        },
        Case {
            name: "partial success in protobuf",
            config: config(),
            replies: vec![reply(200).body(
                "application/x-protobuf",
                partial(3, "3 spans outside the window"),
            )],
            expect: expect(1, 0, SPANS - 3, 3, 0),
            message: Some("partial success: 3 spans outside the window"),
        },
        Case {
            name: "partial success in OTLP JSON (int64 as a string)",
            config: SendConfig {
                format: Format::Json,
                ..config()
            },
            replies: vec![reply(200).body(
                "application/json",
                br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"too old"}}"#.to_vec(),
            )],
            expect: expect(1, 0, SPANS - 2, 2, 0),
            message: Some("too old"),
        },
        Case {
            name: "400 is not retried",
            config: config(),
            replies: vec![reply(400).body("text/plain", b"malformed request".to_vec())],
            expect: expect(1, 0, 0, 0, SPANS),
            message: Some("HTTP 400: malformed request"),
        },
        Case {
            name: "a Retry-After beyond max_retry_wait fails the batch",
            config: config(),
            replies: vec![reply(429).header("retry-after", "3600")],
            expect: expect(1, 0, 0, 0, SPANS),
            message: Some("longer than the longest wait allowed"),
        },
        Case {
            name: "retries run out",
            config: SendConfig {
                max_retries: 2,
                ..config()
            },
            replies: vec![reply(503), reply(503), reply(503)],
            expect: expect(3, 10 + 20, 0, 0, SPANS),
            message: Some("gave up after 2 retries"),
        },
        Case {
            name: "gzip bodies",
            config: SendConfig {
                gzip: true,
                ..config()
            },
            replies: vec![reply(200)],
            expect: expect(1, 0, SPANS, 0, 0),
            message: None,
        },
    ]
}

fn requests() -> Vec<gavel_tracegen::ExportTraceServiceRequest> {
    let options = Options {
        spans: SPANS as usize,
        batch_size: SPANS as usize,
        ..Options::default()
    };
    generate(Scenario::Mixed, &options).unwrap()
}

#[tokio::test]
async fn retries_and_partial_success() {
    let sent = requests();
    for case in cases() {
        let replies = case.replies.len();
        let (url, server) = serve(case.replies);
        let config = SendConfig {
            endpoint: url,
            ..case.config.clone()
        };
        let report = send(&config, sent.clone().into_iter()).await.unwrap();
        let seen = tokio::task::spawn_blocking(move || server.join().unwrap())
            .await
            .unwrap();

        assert_eq!(summary(&report), case.expect, "{}", case.name);
        assert_eq!(seen.len(), replies, "{}", case.name);
        if let Some(m) = case.message {
            assert!(
                report.messages.iter().any(|x| x.contains(m)),
                "{}: {:?}",
                case.name,
                report.messages
            );
        }
        // Every attempt carries the same, complete export request.
        for s in &seen {
            assert_eq!(s.request_line, "POST /v1/traces HTTP/1.1", "{}", case.name);
            assert_eq!(s.header("content-type"), Some(config.format.content_type()));
            assert_eq!(s.header("content-encoding"), config.gzip.then_some("gzip"));
            let body = if config.gzip {
                encode::gunzip(&s.body).unwrap()
            } else {
                s.body.clone()
            };
            assert_eq!(
                encode::decode(&body, config.format).unwrap(),
                sent[0],
                "{}",
                case.name
            );
        }
    }
}

#[tokio::test]
async fn connection_refused_is_retried_then_counted_failed() {
    // A port nobody listens on any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = SendConfig {
        endpoint: format!("http://127.0.0.1:{port}/v1/traces"),
        max_retries: 1,
        ..config()
    };
    let report = send(&config, requests().into_iter()).await.unwrap();
    assert_eq!(summary(&report), expect(2, 10, 0, 0, SPANS));
    assert!(report.statuses.is_empty());
    // Once one batch finds nobody there, the rest are not tried.
    let options = Options {
        spans: 50,
        batch_size: 10,
        ..Options::default()
    };
    let batches = generate(Scenario::Healthy, &options).unwrap();
    let config = SendConfig {
        concurrency: 1,
        ..config
    };
    let report = send(&config, batches.into_iter()).await.unwrap();
    assert_eq!(
        (report.requests, report.attempts, report.spans_failed),
        (5, 2, 50)
    );
    assert!(report.messages.iter().any(|m| m.contains("unreachable")));
}

#[tokio::test]
async fn concurrent_batches_are_all_delivered() {
    let options = Options {
        spans: 50,
        batch_size: 10,
        ..Options::default()
    };
    let batches = generate(Scenario::Healthy, &options).unwrap();
    let (url, server) = serve((0..5).map(|_| reply(200)).collect());
    let config = SendConfig {
        endpoint: url,
        concurrency: 3,
        ..config()
    };
    let report = send(&config, batches.into_iter()).await.unwrap();
    let seen = tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
    assert_eq!(seen.len(), 5);
    assert_eq!(
        (report.requests, report.spans_accepted, report.spans_failed),
        (5, 50, 0)
    );
}
