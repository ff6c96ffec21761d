//! The daemon over a real socket: TLS, AdmissionReview field by field for
//! each operation, error answers, and GitOps reload under load.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use gavel_server::{Daemon, PolicySource, ServeOptions};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::runtime;

/// A directory that removes itself.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gavel-server-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost.
fn certificate(dir: &Path) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k, cert.der().clone())
}

/// Write the policy set atomically, as a GitOps sync does.
pub(crate) fn write_policy(dir: &Path, yaml: &str) {
    let tmp = dir.join(".policy-set.yaml.tmp");
    std::fs::write(&tmp, yaml).unwrap();
    std::fs::rename(&tmp, dir.join("policy-set.yaml")).unwrap();
}

fn labels_policy(labels: &str) -> String {
    format!(
        "apiVersion: gavel.dev/v1alpha1\nkind: PolicySet\nname: test\nplugins:\n  - name: labels\n    module: builtin:required-labels\n    settings: {{ labels: [{labels}] }}\naudit:\n  keepInput: true\n  durability: write\n"
    )
}

/// The daemon's global evaluation deadline in these tests.
const EVAL_TIMEOUT_MS: u64 = 1500;

/// A policy set whose only plugin loops until its own deadline.
fn slow_policy(plugin_timeout_ms: u64) -> String {
    format!(
        "apiVersion: gavel.dev/v1alpha1\nkind: PolicySet\nname: slow\nplugins:\n  - name: slow\n    module: builtin:hostile\n    settings: {{ attack: infinite-loop }}\n    failurePolicy: fail-open\n    limits: {{ fuel: 1000000000000000, timeoutMs: {plugin_timeout_ms} }}\n"
    )
}

/// How to reach a running daemon.
#[derive(Clone)]
struct Client {
    addr: std::net::SocketAddr,
    ca: Option<CertificateDer<'static>>,
}

struct Running {
    client: Client,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for Running {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Running {
    async fn start(policy_dir: &Path, tls_dir: Option<&Path>, audit: Option<PathBuf>) -> Running {
        let mut options = ServeOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            PolicySource::Dir(policy_dir.to_owned()),
        );
        let mut builtins = gavel_host::Builtins::default();
        builtins.insert(
            "required-labels",
            crate::read(gavel_artifacts::REQUIRED_LABELS),
        );
        builtins.insert("hostile", crate::read(gavel_artifacts::HOSTILE));
        options.builtins = builtins;
        options.reload_interval = Duration::from_millis(100);
        options.eval_timeout = Duration::from_millis(EVAL_TIMEOUT_MS);
        options.audit_log = audit;
        let mut ca = None;
        if let Some(dir) = tls_dir {
            let (c, k, der) = certificate(dir);
            options.tls = Some((c, k));
            ca = Some(der);
        }
        let daemon = Daemon::bind(runtime().clone(), options).await.unwrap();
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
        Running {
            client: Client { addr, ca },
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

impl Client {
    /// One request on a fresh connection; returns status and body.
    async fn request(&self, method: &str, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let response = match &self.ca {
            None => {
                let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .unwrap();
                tokio::spawn(conn);
                sender.send_request(req).await.unwrap()
            }
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.clone()).unwrap();
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .unwrap()
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
                let tls = connector
                    .connect(ServerName::try_from("localhost").unwrap(), tcp)
                    .await
                    .expect("TLS handshake with gavel");
                let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                    .await
                    .unwrap();
                tokio::spawn(conn);
                sender.send_request(req).await.unwrap()
            }
        };
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, body)
    }

    async fn review(&self, body: Vec<u8>) -> Value {
        let (status, body) = self.request("POST", "/validate", body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// (fixture, allowed, status message substring, dry run)
const CASES: &[(&str, bool, Option<&str>)] = &[
    (
        "pod-create-unlabelled.json",
        false,
        Some("gavel denied the request: labels: labels.missing: add labels: team, cost-center"),
    ),
    ("pod-create-labelled-dryrun.json", true, None),
    ("deployment-create-labelled.json", true, None),
    (
        "deployment-update-drops-label.json",
        false,
        Some("labels.missing: add labels: cost-center"),
    ),
    ("pod-delete.json", true, None),
    ("pod-connect-exec.json", true, None),
    ("inferenceservice-create.json", true, None),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_reviews_over_tls_field_by_field() {
    let policy = TempDir::new("policy");
    write_policy(&policy.0, &labels_policy("team, cost-center"));
    let tls = TempDir::new("tls");
    let audit = policy.0.join("audit.jsonl");
    let server = Running::start(&policy.0, Some(&tls.0), Some(audit.clone())).await;
    for (name, allowed, message) in CASES {
        let request: Value = serde_json::from_slice(&fixture(name)).unwrap();
        let r = server.review(fixture(name)).await;
        assert_eq!(r["apiVersion"], "admission.k8s.io/v1", "{name}");
        assert_eq!(r["kind"], "AdmissionReview", "{name}");
        assert_eq!(
            r["response"]["uid"], request["request"]["uid"],
            "{name}: uid echoed"
        );
        assert_eq!(r["response"]["allowed"], *allowed, "{name}: {r}");
        match message {
            Some(m) => {
                assert_eq!(r["response"]["status"]["code"], 403, "{name}");
                let got = r["response"]["status"]["message"].as_str().unwrap();
                assert!(got.contains(m), "{name}: `{got}` lacks `{m}`");
            }
            None => assert!(r["response"].get("status").is_none(), "{name}: {r}"),
        }
        let annotations = &r["response"]["auditAnnotations"];
        assert_eq!(
            annotations["decision"],
            if *allowed { "allow" } else { "deny" },
            "{name}"
        );
        assert_eq!(
            annotations["config-version"].as_str().unwrap().len(),
            64,
            "{name}"
        );
    }
    server.stop().await;

    // Every decision is in the audit trail, in order, and the chain verifies.
    let v = gavel_server::audit::verify(&audit).unwrap();
    assert_eq!((v.verified, v.broken), (CASES.len() as u64, None));
    let dry = gavel_server::audit::read_record(&audit, 2)
        .unwrap()
        .unwrap();
    assert_eq!(dry["subject"]["dryRun"], true);
    assert_eq!(
        dry["subject"]["uid"],
        "5b0c4a4e-7d7e-4f0e-9c55-0b9a3c1e2d02"
    );
    assert_eq!(
        dry["plugins"][0]["moduleSha256"].as_str().unwrap().len(),
        64
    );
    let update = gavel_server::audit::read_record(&audit, 4)
        .unwrap()
        .unwrap();
    assert_eq!(update["subject"]["operation"], "UPDATE");
    assert!(
        update["subject"]["input"]["value"]["oldObject"].is_object(),
        "{update}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_answers() {
    let policy = TempDir::new("policy");
    write_policy(&policy.0, &labels_policy("team"));
    let server = Running::start(&policy.0, None, None).await;
    let cases: &[(&str, &str, Vec<u8>, u16, &str)] = &[
        ("POST", "/validate", b"{not json".to_vec(), 400, "malformed AdmissionReview"),
        ("POST", "/validate", br#"{"apiVersion":"v1","kind":"AdmissionReview"}"#.to_vec(), 400, "unsupported AdmissionReview apiVersion `v1`"),
        ("POST", "/validate", br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#.to_vec(), 400, "kind is `Pod`"),
        ("POST", "/validate", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"#.to_vec(), 400, "has no uid"),
        ("GET", "/validate", vec![], 405, "method not allowed"),
        ("GET", "/nope", vec![], 404, "no route `/nope`"),
        ("GET", "/healthz", vec![], 200, "ok"),
        ("GET", "/readyz", vec![], 200, "ready: policy set version"),
    ];
    for (method, path, body, status, text) in cases {
        let (got, body) = server.request(method, path, body.clone()).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(got, *status, "{method} {path}: {body}");
        assert!(
            body.contains(text),
            "{method} {path}: `{body}` lacks `{text}`"
        );
    }
    // An oversized body is refused from its declared length, before it is read.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: g\r\ncontent-length: {}\r\n\r\n",
        (3 << 20) + 1
    );
    tokio::io::AsyncWriteExt::write_all(&mut tcp, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0; 512];
    let n = tokio::io::AsyncReadExt::read(&mut tcp, &mut answer)
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than 3145728 bytes"), "{answer}");
    let (_, metrics) = server.request("GET", "/metrics", vec![]).await;
    let metrics = String::from_utf8(metrics).unwrap();
    for series in [
        "gavel_http_requests_total{path=\"/validate\",code=\"400\"} 4",
        "gavel_http_requests_total{path=\"/validate\",code=\"413\"} 1",
    ] {
        assert!(metrics.contains(series), "{metrics}");
    }
    assert!(metrics.contains("gavel_policy_set_ready 1"), "{metrics}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_policy_set_is_not_ready_with_the_reason() {
    let policy = TempDir::new("policy");
    write_policy(
        &policy.0,
        "apiVersion: gavel.dev/v1alpha1\nkind: PolicySet\nname: t\nplugins:\n  - name: x\n    module: missing.wasm\n",
    );
    let server = Running::start(&policy.0, None, None).await;
    let (status, body) = server.request("GET", "/readyz", vec![]).await;
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&body).contains("not ready: cannot read `missing.wasm`"));
    let (status, body) = server
        .request("POST", "/validate", fixture("pod-delete.json"))
        .await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_good_and_broken_versions_under_load_without_a_failed_request() {
    let policy = TempDir::new("policy");
    write_policy(&policy.0, &labels_policy("team"));
    let server = Arc::new(Running::start(&policy.0, None, None).await);
    // A Deployment labelled team only: allowed under v1 (requires team),
    // denied under v2 (requires owner).
    let body = fixture("deployment-update-drops-label.json");
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (server, body, stop, answered, failed) = (
            server.clone(),
            body.clone(),
            stop.clone(),
            answered.clone(),
            failed.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = server.request("POST", "/validate", body.clone()).await;
                let ok = status == 200
                    && serde_json::from_slice::<Value>(&body)
                        .is_ok_and(|v| v["response"]["allowed"].is_boolean());
                if ok { &answered } else { &failed }.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let allowed = |r: &Value| r["response"]["allowed"].as_bool().unwrap();
    let readyz = || async {
        let (_, b) = server.request("GET", "/readyz", vec![]).await;
        String::from_utf8(b).unwrap()
    };
    let wait_for = |what: &'static str| {
        let readyz = &readyz;
        async move {
            for _ in 0..200 {
                if readyz().await.contains(what) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("readyz never said `{what}`: {}", readyz().await);
        }
    };
    assert!(allowed(&server.review(body.clone()).await));
    let v1 = readyz().await;

    // A broken version: rejected, the last good one keeps serving.
    write_policy(
        &policy.0,
        "apiVersion: gavel.dev/v1alpha1\nkind: PolicySet\nname: [broken\n",
    );
    wait_for("the newest policy set was rejected").await;
    assert!(
        readyz().await.starts_with(
            &v1.trim_end()
                .replace("ready: policy set version", "ready: serving version")
        )
    );
    assert!(
        allowed(&server.review(body.clone()).await),
        "still the last good version"
    );

    // A good version: swapped in.
    write_policy(&policy.0, &labels_policy("owner"));
    wait_for("ready: policy set version").await;
    assert_ne!(readyz().await, v1);
    assert!(
        !allowed(&server.review(body.clone()).await),
        "the new version decides"
    );

    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no request failed during reloads"
    );
    assert!(answered.load(Ordering::Relaxed) > 0);
    let (_, metrics) = server.request("GET", "/metrics", vec![]).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("gavel_policy_reloads_total{result=\"failure\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gavel_policy_reloads_total{result=\"success\"} 1"),
        "{metrics}"
    );
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificates_are_served_without_restart() {
    let policy = TempDir::new("policy");
    write_policy(&policy.0, &labels_policy("team"));
    let tls = TempDir::new("tls");
    let mut server = Running::start(&policy.0, Some(&tls.0), None).await;
    assert_eq!(server.request("GET", "/healthz", vec![]).await.0, 200);
    // cert-manager writes a new pair in place.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (_, _, new_ca) = certificate(&tls.0);
    let old_ca = server.ca.replace(new_ca);
    for _ in 0..100 {
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(server.ca.clone().unwrap()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let ok = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .is_ok();
        if ok {
            assert_eq!(server.request("GET", "/healthz", vec![]).await.0, 200);
            assert_ne!(old_ca, server.ca);
            server.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the rotated certificate was never served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_plugin_cannot_outlast_the_global_deadline() {
    let policy = TempDir::new("policy");
    // The plugin may run 4 s; the daemon answers after 1.5 s, fail-closed.
    write_policy(&policy.0, &slow_policy(4_000));
    let server = Running::start(&policy.0, None, None).await;
    let r = server.review(fixture("pod-create-unlabelled.json")).await;
    assert_eq!(r["response"]["allowed"], false, "{r}");
    let message = r["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "evaluation did not finish within {EVAL_TIMEOUT_MS} ms; denied (fail-closed)"
        )),
        "{message}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests() {
    let policy = TempDir::new("policy");
    // Each review takes ~400 ms (the plugin's deadline), then fails open.
    write_policy(&policy.0, &slow_policy(400));
    let mut server = Running::start(&policy.0, None, None).await;
    let client = server.client.clone();
    let addr = client.addr;
    let in_flight =
        tokio::spawn(async move { client.review(fixture("pod-create-unlabelled.json")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = server.stop.take().map(|s| s.send(()));
    let r = in_flight.await.unwrap();
    assert_eq!(
        r["response"]["allowed"], true,
        "fail-open after the plugin deadline: {r}"
    );
    assert!(
        r["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("plugin failed (deadline"),
        "{r}"
    );
    tokio::time::timeout(Duration::from_secs(30), server.task)
        .await
        .unwrap()
        .unwrap();
    // And it no longer accepts connections.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
