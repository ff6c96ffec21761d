//! Decoding OTLP/HTTP trace export bodies and encoding the answers.
//!
//! An OpenTelemetry Collector's `otlphttp` exporter (or an SDK's OTLP/HTTP
//! exporter) POSTs an `ExportTraceServiceRequest` to `/v1/traces` as
//! `application/x-protobuf` (the default) or `application/json` (the OTLP/JSON
//! encoding), optionally with `Content-Encoding: gzip`. [`decode`] turns such a
//! body into the generated message; [`encode_response`] and [`encode_status`]
//! build the answer in the request's encoding, as the OTLP specification
//! requires.
//!
//! **API Boundary:** the messages are `opentelemetry-proto`'s prost types,
//! re-exported as [`crate::proto`]; protobuf is never decoded by hand here.
//! OTLP/JSON goes through that crate's serde support after a normalisation
//! pass (`json.rs`) that fills the gaps between it and the OTLP/JSON wire
//! format; see that module for the list.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use prost::Message;

use crate::proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// The body size limit the OTLP specification recommends (20 MiB), applied
/// after decompression.
pub const DEFAULT_MAX_DECODED_BYTES: usize = 20 * 1024 * 1024;

/// How an OTLP/HTTP body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Binary protobuf, `Content-Type: application/x-protobuf`.
    Protobuf,
    /// OTLP/JSON, `Content-Type: application/json`.
    Json,
}

impl Encoding {
    /// The `Content-Type` to answer with: OTLP requires the response to use
    /// the request's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Why a request body could not be decoded. Each variant maps to one HTTP
/// status ([`DecodeError::http_status`]); none of them is worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The `Content-Type` is neither OTLP encoding (HTTP 415).
    #[error(
        "unsupported content type `{0}`: send OTLP traces as `application/x-protobuf` or `application/json`"
    )]
    UnsupportedContentType(String),
    /// The `Content-Encoding` is not gzip or identity (HTTP 415).
    #[error(
        "unsupported content encoding `{0}`: send the body uncompressed or with `Content-Encoding: gzip`"
    )]
    UnsupportedContentEncoding(String),
    /// The body, after decompression, is larger than the limit (HTTP 413).
    #[error(
        "request body is larger than {limit} bytes after decompression: send smaller batches (lower the exporter's batch size)"
    )]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// The body is marked gzip but does not decompress (HTTP 400).
    #[error(
        "body is not valid gzip ({0}): compress the whole body with gzip, or drop the `Content-Encoding` header"
    )]
    Gzip(std::io::Error),
    /// The body is not a protobuf `ExportTraceServiceRequest` (HTTP 400).
    #[error(
        "body is not a protobuf ExportTraceServiceRequest ({0}): send OTLP trace exports to /v1/traces, or set `Content-Type: application/json` for OTLP/JSON"
    )]
    Protobuf(prost::DecodeError),
    /// The body is not an OTLP/JSON `ExportTraceServiceRequest` (HTTP 400).
    #[error(
        "body is not an OTLP/JSON ExportTraceServiceRequest ({0}): see the OTLP specification, section \"JSON Protobuf Encoding\""
    )]
    Json(String),
}

impl DecodeError {
    /// The HTTP status a server answers with: 400, 413 or 415.
    pub fn http_status(&self) -> u16 {
        match self {
            DecodeError::UnsupportedContentType(_) | DecodeError::UnsupportedContentEncoding(_) => {
                415
            }
            DecodeError::TooLarge { .. } => 413,
            DecodeError::Gzip(_) | DecodeError::Protobuf(_) | DecodeError::Json(_) => 400,
        }
    }

    /// The `google.rpc.Status` body OTLP asks for on 4xx responses.
    pub fn to_status(&self) -> Status {
        let code = match self.http_status() {
            413 => Status::RESOURCE_EXHAUSTED,
            415 => Status::UNIMPLEMENTED,
            _ => Status::INVALID_ARGUMENT,
        };
        Status::new(code, self.to_string())
    }
}

/// The encoding named by a `Content-Type` header value. Parameters such as
/// `; charset=utf-8` are ignored, and so is case.
pub fn encoding_from_content_type(content_type: &str) -> Result<Encoding, DecodeError> {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/x-protobuf") {
        Ok(Encoding::Protobuf)
    } else if essence.eq_ignore_ascii_case("application/json") {
        Ok(Encoding::Json)
    } else {
        Err(DecodeError::UnsupportedContentType(clip(content_type)))
    }
}

/// Whether a `Content-Encoding` header value means gzip. An absent or empty
/// header and `identity` mean no compression; anything but gzip is refused
/// (OTLP servers must support only `none` and `gzip`).
pub fn gzip_from_content_encoding(content_encoding: Option<&str>) -> Result<bool, DecodeError> {
    match content_encoding.map(str::trim) {
        None | Some("") => Ok(false),
        Some(e) if e.eq_ignore_ascii_case("identity") => Ok(false),
        Some(e) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => Ok(true),
        Some(e) => Err(DecodeError::UnsupportedContentEncoding(clip(e))),
    }
}

/// Decodes an OTLP/HTTP trace export body.
///
/// `max_decoded_bytes` bounds the body after decompression: a gzip body is
/// inflated at most that far, so a decompression bomb fails with
/// [`DecodeError::TooLarge`] having allocated no more than the limit.
pub fn decode(
    body: &[u8],
    encoding: Encoding,
    gzip: bool,
    max_decoded_bytes: usize,
) -> Result<ExportTraceServiceRequest, DecodeError> {
    let inflated;
    let bytes = if gzip {
        inflated = gunzip(body, max_decoded_bytes)?;
        &inflated[..]
    } else if body.len() > max_decoded_bytes {
        return Err(DecodeError::TooLarge {
            limit: max_decoded_bytes,
        });
    } else {
        body
    };
    match encoding {
        Encoding::Protobuf => {
            ExportTraceServiceRequest::decode(bytes).map_err(DecodeError::Protobuf)
        }
        Encoding::Json => crate::json::decode(bytes),
    }
}

fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    // Reading one byte past the limit tells "exactly at the limit" from "over".
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    // Multi-member: gzip allows concatenated members and Go's reader (the
    // Collector's) reads them all.
    MultiGzDecoder::new(body)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(DecodeError::Gzip)?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

/// An `ExportTraceServiceResponse`: full success when `rejected_spans` is 0
/// and `error_message` is empty, otherwise with `partial_success` set (OTLP
/// also allows a warning: zero rejected spans and a message).
pub fn export_response(rejected_spans: u64, error_message: &str) -> ExportTraceServiceResponse {
    let partial_success =
        (rejected_spans > 0 || !error_message.is_empty()).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(rejected_spans).unwrap_or(i64::MAX),
            error_message: error_message.to_owned(),
        });
    ExportTraceServiceResponse { partial_success }
}

/// Encodes a response body in the request's encoding. OTLP/JSON follows the
/// proto3 JSON mapping: defaults are left out and `rejectedSpans` (an int64)
/// is a decimal string.
pub fn encode_response(response: &ExportTraceServiceResponse, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => {
            let mut root = serde_json::Map::new();
            if let Some(p) = &response.partial_success {
                let mut partial = serde_json::Map::new();
                if p.rejected_spans != 0 {
                    partial.insert("rejectedSpans".into(), p.rejected_spans.to_string().into());
                }
                if !p.error_message.is_empty() {
                    partial.insert("errorMessage".into(), p.error_message.clone().into());
                }
                root.insert("partialSuccess".into(), partial.into());
            }
            serde_json::Value::Object(root).to_string().into_bytes()
        }
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP 4xx and 5xx responses.
/// `opentelemetry-proto` does not ship it; this is its wire-compatible
/// subset (`details`, field 3, is left out: OTLP makes it optional).
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Status {
    /// A gRPC status code (OTLP clients do not act on it).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// A developer-facing message saying what was wrong.
    #[prost(string, tag = "2")]
    pub message: String,
}

impl Status {
    /// gRPC `INVALID_ARGUMENT`: bad data, do not retry.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// gRPC `RESOURCE_EXHAUSTED`: too large, or over a quota.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// gRPC `UNIMPLEMENTED`: an encoding the server does not speak.
    pub const UNIMPLEMENTED: i32 = 12;
    /// gRPC `INTERNAL`.
    pub const INTERNAL: i32 = 13;
    /// gRPC `UNAVAILABLE`: busy, retry later.
    pub const UNAVAILABLE: i32 = 14;

    /// A status with a code and a message.
    pub fn new(code: i32, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }
}

/// Encodes a [`Status`] in the request's encoding (JSON: `{"code":3,"message":"…"}`).
pub fn encode_status(status: &Status, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => status.encode_to_vec(),
        Encoding::Json => serde_json::json!({ "code": status.code, "message": status.message })
            .to_string()
            .into_bytes(),
    }
}

/// Header values are echoed in error messages; a hostile one stays short.
fn clip(s: &str) -> String {
    const MAX: usize = 100;
    if s.len() <= MAX {
        s.to_owned()
    } else {
        format!("{}…", &s[..s.floor_char_boundary(MAX)])
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, write::GzEncoder};

    use super::*;
    use crate::proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    use crate::proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn request() -> ExportTraceServiceRequest {
        let span = Span {
            trace_id: vec![0x5b; 16],
            span_id: vec![0xee; 8],
            name: "chat llama".into(),
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 2_000,
            attributes: vec![KeyValue {
                key: "gen_ai.operation.name".into(),
                value: Some(AnyValue {
                    value: Some(Value::StringValue("chat".into())),
                }),
                key_strindex: 0,
            }],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![span],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn content_types() {
        let ok = [
            ("application/x-protobuf", Encoding::Protobuf),
            ("Application/X-Protobuf", Encoding::Protobuf),
            ("application/json", Encoding::Json),
            ("application/json; charset=utf-8", Encoding::Json),
            (" application/json ;charset=UTF-8", Encoding::Json),
        ];
        for (ct, want) in ok {
            assert_eq!(encoding_from_content_type(ct).unwrap(), want, "{ct}");
        }
        for ct in ["text/plain", "", "application/grpc", "application/jsonx"] {
            let err = encoding_from_content_type(ct).unwrap_err();
            assert_eq!(err.http_status(), 415, "{ct}");
            assert!(err.to_string().contains("application/x-protobuf"), "{err}");
        }
        let long = "x".repeat(10_000);
        assert!(
            encoding_from_content_type(&long)
                .unwrap_err()
                .to_string()
                .len()
                < 300
        );
    }

    #[test]
    fn content_encodings() {
        assert!(!gzip_from_content_encoding(None).unwrap());
        assert!(!gzip_from_content_encoding(Some("")).unwrap());
        assert!(!gzip_from_content_encoding(Some("identity")).unwrap());
        assert!(gzip_from_content_encoding(Some("gzip")).unwrap());
        assert!(gzip_from_content_encoding(Some("GZIP ")).unwrap());
        for ce in ["zstd", "deflate", "br", "gzip, br"] {
            let err = gzip_from_content_encoding(Some(ce)).unwrap_err();
            assert_eq!(err.http_status(), 415, "{ce}");
            assert!(err.to_string().contains("gzip"), "{err}");
        }
    }

    #[test]
    fn protobuf_round_trip() {
        let req = request();
        let body = req.encode_to_vec();
        assert_eq!(
            decode(&body, Encoding::Protobuf, false, 1 << 20).unwrap(),
            req
        );
        assert_eq!(
            decode(&gzip(&body), Encoding::Protobuf, true, 1 << 20).unwrap(),
            req
        );
    }

    #[test]
    fn empty_protobuf_body_is_an_empty_request() {
        let req = decode(&[], Encoding::Protobuf, false, 10).unwrap();
        assert!(req.resource_spans.is_empty());
    }

    #[test]
    fn gzip_json() {
        let json = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b","spanId":"eeeeeeeeeeeeeeee","name":"chat llama","startTimeUnixNano":"1000","endTimeUnixNano":"2000","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}}]}]}]}]}"#;
        assert_eq!(
            decode(&gzip(json), Encoding::Json, true, 1 << 20).unwrap(),
            request()
        );
    }

    #[test]
    fn concatenated_gzip_members_are_read() {
        let body = request().encode_to_vec();
        let (a, b) = body.split_at(body.len() / 2);
        let mut two = gzip(a);
        two.extend(gzip(b));
        assert_eq!(
            decode(&two, Encoding::Protobuf, true, 1 << 20).unwrap(),
            request()
        );
    }

    #[test]
    fn gzip_bomb_is_bounded() {
        // 64 MiB of zeros compresses to ~64 KiB; the limit is 1 MiB.
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        let err = decode(&bomb, Encoding::Protobuf, true, 1 << 20).unwrap_err();
        assert!(
            matches!(err, DecodeError::TooLarge { limit } if limit == 1 << 20),
            "{err}"
        );
        assert_eq!(err.http_status(), 413);
        assert!(err.to_string().contains("smaller batches"), "{err}");
    }

    #[test]
    fn limit_is_inclusive() {
        let body = request().encode_to_vec();
        let n = body.len();
        assert!(decode(&body, Encoding::Protobuf, false, n).is_ok());
        assert!(decode(&gzip(&body), Encoding::Protobuf, true, n).is_ok());
        let err = decode(&body, Encoding::Protobuf, false, n - 1).unwrap_err();
        assert_eq!(err.http_status(), 413);
        let err = decode(&gzip(&body), Encoding::Protobuf, true, n - 1).unwrap_err();
        assert_eq!(err.http_status(), 413);
    }

    #[test]
    fn bad_gzip() {
        let err = decode(b"not gzip at all", Encoding::Protobuf, true, 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Gzip(_)), "{err}");
        assert_eq!(err.http_status(), 400);
        let mut truncated = gzip(&request().encode_to_vec());
        truncated.truncate(truncated.len() - 6);
        let err = decode(&truncated, Encoding::Protobuf, true, 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Gzip(_)), "{err}");
    }

    #[test]
    fn malformed_protobuf() {
        let mut body = request().encode_to_vec();
        body.truncate(body.len() - 3);
        let err = decode(&body, Encoding::Protobuf, false, 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::Protobuf(_)), "{err}");
        assert_eq!(err.http_status(), 400);
        // JSON sent with the protobuf content type.
        let err = decode(
            br#"{"resourceSpans":[]}"#,
            Encoding::Protobuf,
            false,
            1 << 20,
        )
        .unwrap_err();
        assert!(err.to_string().contains("application/json"), "{err}");
    }

    #[test]
    fn status_maps_http_codes() {
        let err = DecodeError::TooLarge { limit: 1 };
        assert_eq!(err.to_status().code, Status::RESOURCE_EXHAUSTED);
        let err = DecodeError::UnsupportedContentType("text/plain".into());
        assert_eq!(err.to_status().code, Status::UNIMPLEMENTED);
        let err = DecodeError::Json("x".into());
        assert_eq!(err.to_status().code, Status::INVALID_ARGUMENT);
        assert_eq!(err.to_status().message, err.to_string());
    }

    #[test]
    fn status_bodies() {
        let status = Status::new(Status::INVALID_ARGUMENT, "bad \"span\"");
        let pb = encode_status(&status, Encoding::Protobuf);
        assert_eq!(Status::decode(&pb[..]).unwrap(), status);
        // Field numbers of google.rpc.Status: code = 1 (varint), message = 2.
        assert_eq!(&pb[..2], &[0x08, 3]);
        assert_eq!(pb[2], 0x12);
        let json: serde_json::Value =
            serde_json::from_slice(&encode_status(&status, Encoding::Json)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": 3, "message": "bad \"span\""})
        );
    }

    #[test]
    fn responses() {
        let full = export_response(0, "");
        assert_eq!(full.partial_success, None);
        assert!(encode_response(&full, Encoding::Protobuf).is_empty());
        assert_eq!(encode_response(&full, Encoding::Json), b"{}");

        let partial = export_response(3, "3 spans rejected");
        let pb = encode_response(&partial, Encoding::Protobuf);
        assert_eq!(
            ExportTraceServiceResponse::decode(&pb[..]).unwrap(),
            partial
        );
        let json: serde_json::Value =
            serde_json::from_slice(&encode_response(&partial, Encoding::Json)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"partialSuccess": {"rejectedSpans": "3", "errorMessage": "3 spans rejected"}})
        );
        // The JSON answer reads back with the same generated types.
        let back: ExportTraceServiceResponse = serde_json::from_value(serde_json::json!({
            "partialSuccess": {"rejectedSpans": 3, "errorMessage": "3 spans rejected"}
        }))
        .unwrap();
        assert_eq!(back, partial);

        let warning = export_response(0, "attributes truncated");
        let json: serde_json::Value =
            serde_json::from_slice(&encode_response(&warning, Encoding::Json)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"partialSuccess": {"errorMessage": "attributes truncated"}})
        );
    }

    #[test]
    fn content_type_of_encoding() {
        for enc in [Encoding::Protobuf, Encoding::Json] {
            assert_eq!(encoding_from_content_type(enc.content_type()).unwrap(), enc);
        }
    }
}
