//! AdmissionReviews on the wire, for the webhook load test (`load`): the
//! request bodies with a fresh `uid` each, the check of every answer, and
//! the floor server the daemon is compared with.
//!
//! Every request gets its own `uid` so that a response can be matched to
//! the request it answers, as the API server does. The bodies are compacted
//! once, with a placeholder `uid` of [`UID_LEN`] characters at a known
//! offset, so a request costs the client one copy and no JSON work.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Deserialize;
use serde_json::json;

/// Length of every `uid` the load generator sends (a UUID's).
pub const UID_LEN: usize = 36;
const PLACEHOLDER: &str = "gavel-bench-uid-placeholder-00000000";

/// The largest body the floor server reads, as gavel (the API server's 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 << 20;

/// One AdmissionReview, compacted, ready to be sent with any `uid`.
#[derive(Debug, Clone)]
pub struct Review {
    /// The file name without `.json`.
    pub name: String,
    body: Vec<u8>,
    uid_at: usize,
}

impl Review {
    /// From an AdmissionReview document: compacts it and marks where
    /// `request.uid` goes.
    pub fn from_json(name: &str, text: &[u8]) -> anyhow::Result<Review> {
        let mut value: serde_json::Value =
            serde_json::from_slice(text).with_context(|| format!("{name} is not JSON"))?;
        let uid = value
            .get_mut("request")
            .and_then(|r| r.get_mut("uid"))
            .with_context(|| format!("{name} is not an AdmissionReview: it has no request.uid"))?;
        *uid = json!(PLACEHOLDER);
        let body = serde_json::to_vec(&value)?;
        let needle = format!("\"{PLACEHOLDER}\"");
        let at = body
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .context("the placeholder uid was not written")?;
        Ok(Review {
            name: name.to_owned(),
            body,
            uid_at: at + 1,
        })
    }

    /// Read one file.
    pub fn load(path: &Path) -> anyhow::Result<Review> {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into(),
        );
        Review::from_json(&name, &text)
    }

    /// Compact size, bytes.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether the body is empty (never, for a loaded review).
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The body with `request.uid` set to `uid` ([`UID_LEN`] characters of
    /// JSON-safe text, as [`uid`] makes).
    pub fn body_with_uid(&self, uid: &str) -> Bytes {
        assert_eq!(uid.len(), UID_LEN, "uids are {UID_LEN} characters");
        let mut body = self.body.clone();
        body[self.uid_at..self.uid_at + UID_LEN].copy_from_slice(uid.as_bytes());
        Bytes::from(body)
    }
}

/// The `uid` of request `seq` of `stream` (one stream per run), shaped like
/// a UUID.
pub fn uid(stream: u32, seq: u64) -> String {
    format!(
        "{stream:08x}-0000-4000-8000-{:012x}",
        seq & 0xffff_ffff_ffff
    )
}

/// The inputs used when none are given: the bench fixtures (a 4 KB Pod, a
/// 9 KB Deployment, a 53 KB InferenceService) and `examples/admission/`.
pub fn default_inputs() -> anyhow::Result<Vec<PathBuf>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<PathBuf> = crate::fixtures::FILES
        .iter()
        .map(|f| crate::fixtures::dir().join(f))
        .collect();
    let examples = root.join("../examples/admission");
    let mut more: Vec<PathBuf> = std::fs::read_dir(&examples)
        .with_context(|| format!("cannot list {}", examples.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    more.sort();
    paths.extend(more);
    Ok(paths)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut {
    api_version: String,
    kind: String,
    response: Option<ResponseOut>,
}

#[derive(Deserialize)]
struct ResponseOut {
    uid: String,
    allowed: bool,
}

/// Check an answer to the request with `uid`: status 200 and an
/// AdmissionReview whose `response.uid` is `uid`. Returns `allowed`, or
/// what is wrong.
pub fn check_response(status: u16, body: &[u8], uid: &str) -> Result<bool, String> {
    if status != 200 {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!("status {status}: {}", text.trim()));
    }
    let out: ReviewOut = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not an AdmissionReview: {e}"))?;
    if out.kind != "AdmissionReview" || !out.api_version.starts_with("admission.k8s.io/") {
        return Err(format!(
            "the answer is a {} {}, not an admission.k8s.io AdmissionReview",
            out.api_version, out.kind
        ));
    }
    let response = out
        .response
        .ok_or_else(|| "the answer has no `response`".to_owned())?;
    if response.uid != uid {
        return Err(format!(
            "the answer's uid is {}, the request's {uid}",
            response.uid
        ));
    }
    Ok(response.allowed)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn {
    api_version: String,
    kind: String,
    request: Option<RequestIn>,
}

#[derive(Deserialize)]
struct RequestIn {
    uid: String,
}

/// The floor's answer to one AdmissionReview body: the whole document is
/// parsed (serde_json checks every byte, the fields a webhook does not need
/// included) and the request allowed, with its `uid`.
pub fn floor_answer(body: &[u8]) -> Result<Vec<u8>, String> {
    let review: ReviewIn =
        serde_json::from_slice(body).map_err(|e| format!("not an AdmissionReview: {e}"))?;
    if review.kind != "AdmissionReview" {
        return Err(format!("kind is `{}`, not AdmissionReview", review.kind));
    }
    let request = review
        .request
        .ok_or_else(|| "the AdmissionReview has no `request`".to_owned())?;
    let answer = json!({
        "apiVersion": review.api_version,
        "kind": "AdmissionReview",
        "response": { "uid": request.uid, "allowed": true },
    });
    serde_json::to_vec(&answer).map_err(|e| e.to_string())
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *response.status_mut() = status;
    response
}

async fn floor_route(req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/validate") => {
            let body = match Limited::new(req.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(e) => return text(StatusCode::BAD_REQUEST, &e.to_string()),
            };
            match floor_answer(&body) {
                Ok(answer) => {
                    let mut response = Response::new(Full::new(Bytes::from(answer)));
                    if let Ok(v) = "application/json".parse() {
                        response
                            .headers_mut()
                            .insert(hyper::header::CONTENT_TYPE, v);
                    }
                    response
                }
                Err(e) => text(StatusCode::BAD_REQUEST, &e),
            }
        }
        (&Method::GET, "/readyz" | "/healthz") => text(StatusCode::OK, "ready"),
        _ => text(
            StatusCode::NOT_FOUND,
            "the floor serves POST /validate and GET /readyz",
        ),
    }
}

/// Serve the floor webhook on `listener` until the process ends: the
/// daemon's HTTP stack (hyper's auto HTTP/1.1 + HTTP/2 server on tokio,
/// TCP_NODELAY, one task per connection) answering [`floor_answer`] on
/// `POST /validate` and 200 on `GET /readyz`. No policy, no audit.
pub async fn serve_floor(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(a) => a,
            Err(_) => {
                // Out of descriptors: back off, as the daemon does.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service =
            hyper::service::service_fn(
                |req| async move { Ok::<_, Infallible>(floor_route(req).await) },
            );
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

/// Load `paths`, failing on an empty list.
pub fn load_reviews(paths: &[PathBuf]) -> anyhow::Result<Vec<Review>> {
    if paths.is_empty() {
        bail!("no AdmissionReview inputs: give --input FILE");
    }
    paths.iter().map(|p| Review::load(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reviews() -> Vec<Review> {
        load_reviews(&default_inputs().unwrap()).unwrap()
    }

    #[test]
    fn uids_are_uuid_shaped_and_distinct() {
        let a = uid(7, 1);
        assert_eq!(a, "00000007-0000-4000-8000-000000000001");
        assert_eq!(a.len(), UID_LEN);
        assert_ne!(uid(7, 2), a);
        assert_ne!(uid(8, 1), a);
        assert_eq!(uid(u32::MAX, u64::MAX).len(), UID_LEN);
    }

    #[test]
    fn every_input_carries_the_uid_it_is_given() {
        let all = reviews();
        assert!(all.len() >= 4, "3 fixtures and examples/admission");
        for r in &all {
            let id = uid(1, 42);
            let body = r.body_with_uid(&id);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["request"]["uid"], json!(id), "{}", r.name);
            assert_eq!(body.len(), r.len());
        }
    }

    #[test]
    fn floor_answers_with_the_request_uid() {
        for r in reviews() {
            let id = uid(3, 9);
            let answer = floor_answer(&r.body_with_uid(&id)).unwrap();
            assert_eq!(check_response(200, &answer, &id), Ok(true), "{}", r.name);
            assert!(check_response(200, &answer, &uid(3, 10)).is_err());
        }
        assert!(floor_answer(b"{\"kind\":\"Pod\"}").is_err());
        assert!(floor_answer(b"{").is_err());
    }

    #[test]
    fn checks_refuse_wrong_answers() {
        let id = uid(0, 0);
        let ok = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{{"uid":"{id}","allowed":false}}}}"#
        );
        assert_eq!(check_response(200, ok.as_bytes(), &id), Ok(false));
        assert!(check_response(503, ok.as_bytes(), &id).is_err());
        assert!(check_response(200, b"not json", &id).is_err());
        let no_response = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#;
        assert!(check_response(200, no_response.as_bytes(), &id).is_err());
        let wrong_kind = ok.replace("AdmissionReview", "Status");
        assert!(check_response(200, wrong_kind.as_bytes(), &id).is_err());
    }

    /// The floor server over a real socket, through the bench's own clients.
    #[test]
    fn floor_server_answers_over_http() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(serve_floor(listener));
        let (status, body) =
            crate::client::get(addr, "/readyz", std::time::Duration::from_secs(5)).unwrap();
        assert_eq!((status, body.as_slice()), (200, b"ready\n".as_slice()));
        rt.block_on(async {
            let mut conn = crate::client::Conn::connect(addr).await.unwrap();
            for (seq, r) in reviews().iter().enumerate() {
                let id = uid(5, seq as u64);
                let answer = conn
                    .post("/validate", "application/json", r.body_with_uid(&id))
                    .await
                    .unwrap();
                assert_eq!(
                    check_response(answer.status, &answer.body, &id),
                    Ok(true),
                    "{}",
                    r.name
                );
            }
            let bad = conn
                .post("/validate", "application/json", Bytes::from_static(b"{}"))
                .await
                .unwrap();
            assert_eq!(bad.status, 400);
        });
    }
}
