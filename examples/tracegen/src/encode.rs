//! OTLP encodings: binary protobuf and the OTLP JSON mapping.
//!
//! JSON comes from opentelemetry-proto's serde support, which follows the
//! OTLP/JSON rules that differ from the plain proto3 mapping: trace and span
//! ids are lower-case hex (not base64), enum fields are integers, 64-bit
//! integers are decimal strings, field names are lowerCamelCase. The test
//! `json_follows_the_otlp_mapping` pins that down.

use std::io::Write;

use flate2::Compression;
use flate2::write::{GzDecoder, GzEncoder};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

/// The body encoding of an export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Binary protobuf, `application/x-protobuf`.
    Protobuf,
    /// OTLP JSON, `application/json`.
    Json,
}

impl Format {
    /// The `Content-Type` OTLP/HTTP uses for this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// A body that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// serde_json refused the message (a non-finite double) or the text.
    #[error("OTLP JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The bytes are not a protobuf message of the expected type.
    #[error("OTLP protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// gzip failed.
    #[error("gzip: {0}")]
    Gzip(#[from] std::io::Error),
}

/// Encodes one export request.
pub fn encode(request: &ExportTraceServiceRequest, format: Format) -> Result<Vec<u8>, EncodeError> {
    Ok(match format {
        Format::Protobuf => request.encode_to_vec(),
        Format::Json => serde_json::to_vec(request)?,
    })
}

/// Decodes one export request.
pub fn decode(bytes: &[u8], format: Format) -> Result<ExportTraceServiceRequest, EncodeError> {
    Ok(match format {
        Format::Protobuf => ExportTraceServiceRequest::decode(bytes)?,
        Format::Json => serde_json::from_slice(bytes)?,
    })
}

/// Decodes an export response body; an empty body is a full success.
///
/// JSON is read by hand: OTLP/JSON writes the int64 `rejectedSpans` as a
/// decimal string (the Collector sends `"rejectedSpans":"2"`), which
/// opentelemetry-proto's derived `Deserialize` refuses, as it only takes a
/// number. Both forms are accepted here.
pub fn decode_response(
    bytes: &[u8],
    format: Format,
) -> Result<ExportTraceServiceResponse, EncodeError> {
    if bytes.is_empty() {
        return Ok(ExportTraceServiceResponse::default());
    }
    Ok(match format {
        Format::Protobuf => ExportTraceServiceResponse::decode(bytes)?,
        Format::Json => {
            let value: serde_json::Value = serde_json::from_slice(bytes)?;
            let partial = &value["partialSuccess"];
            if partial.is_null() {
                return Ok(ExportTraceServiceResponse::default());
            }
            let rejected = &partial["rejectedSpans"];
            let rejected_spans = rejected
                .as_i64()
                .or_else(|| rejected.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0);
            let error_message = partial["errorMessage"].as_str().unwrap_or("").to_owned();
            ExportTraceServiceResponse {
                partial_success: Some(ExportTracePartialSuccess {
                    rejected_spans,
                    error_message,
                }),
            }
        }
    })
}

/// gzip-compresses a body (`Content-Encoding: gzip`).
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut enc = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::fast());
    enc.write_all(bytes)?;
    Ok(enc.finish()?)
}

/// Reverses [`gzip`].
pub fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut dec = GzDecoder::new(Vec::new());
    dec.write_all(bytes)?;
    Ok(dec.finish()?)
}

/// Writes requests to a file the way other OTLP tools read them: JSON as one
/// request per line (JSON Lines, as the collector's `file` exporter writes
/// and its `otlpjsonfile` receiver reads), protobuf as the concatenated
/// messages, which protobuf parses as one request holding every batch's
/// resource spans (so `curl --data-binary @file` posts all of them).
pub fn write_all(
    out: &mut dyn Write,
    requests: impl IntoIterator<Item = ExportTraceServiceRequest>,
    format: Format,
) -> Result<usize, EncodeError> {
    let mut spans = 0;
    for request in requests {
        spans += span_count(&request);
        out.write_all(&encode(&request, format)?)?;
        if format == Format::Json {
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(spans)
}

/// Number of spans in a request.
pub fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, Scenario, generate};
    use serde_json::Value;

    fn small() -> Vec<ExportTraceServiceRequest> {
        let options = Options {
            spans: 60,
            batch_size: 25,
            ..Options::default()
        };
        generate(Scenario::Mixed, &options).unwrap()
    }

    #[test]
    fn both_encodings_round_trip() {
        for request in small() {
            for format in [Format::Json, Format::Protobuf] {
                let bytes = encode(&request, format).unwrap();
                assert_eq!(decode(&bytes, format).unwrap(), request, "{format:?}");
                let zipped = gzip(&bytes).unwrap();
                assert_eq!(gunzip(&zipped).unwrap(), bytes);
            }
        }
    }

    #[test]
    fn concatenated_protobuf_is_one_request() {
        let requests = small();
        let mut file = Vec::new();
        let spans = write_all(&mut file, requests.clone(), Format::Protobuf).unwrap();
        let merged = decode(&file, Format::Protobuf).unwrap();
        assert_eq!(spans, 60);
        assert_eq!(span_count(&merged), 60);
        let all: Vec<_> = requests
            .into_iter()
            .flat_map(|r| r.resource_spans)
            .collect();
        assert_eq!(merged.resource_spans, all);
    }

    #[test]
    fn json_lines_hold_one_request_each() {
        let requests = small();
        let mut file = Vec::new();
        write_all(&mut file, requests.clone(), Format::Json).unwrap();
        let lines: Vec<_> = file
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), requests.len());
        for (line, request) in lines.iter().zip(&requests) {
            assert_eq!(&decode(line, Format::Json).unwrap(), request);
        }
    }

    #[test]
    fn responses_in_every_form() {
        // Body, its encoding, and the (rejected, message) expected.
        type Case<'a> = (&'a [u8], Format, Option<(i64, &'a str)>);
        let cases: &[Case<'_>] = &[
            (b"", Format::Json, None),
            (b"{}", Format::Json, None),
            (br#"{"partialSuccess":{}}"#, Format::Json, Some((0, ""))),
            (
                br#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"too old"}}"#,
                Format::Json,
                Some((2, "too old")),
            ),
            (
                br#"{"partialSuccess":{"rejectedSpans":3}}"#,
                Format::Json,
                Some((3, "")),
            ),
            (b"", Format::Protobuf, None),
        ];
        for &(body, format, want) in cases {
            let got = decode_response(body, format).unwrap().partial_success;
            let got = got
                .as_ref()
                .map(|p| (p.rejected_spans, p.error_message.as_str()));
            assert_eq!(got, want, "{}", String::from_utf8_lossy(body));
        }
        // What the derived Deserialize does with the spec's string form.
        let derived: Result<ExportTraceServiceResponse, _> =
            serde_json::from_slice(br#"{"partialSuccess":{"rejectedSpans":"2"}}"#);
        assert!(derived.is_err());
        let proto = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 4,
                error_message: "x".into(),
            }),
        };
        assert_eq!(
            decode_response(&proto.encode_to_vec(), Format::Protobuf).unwrap(),
            proto
        );
    }

    fn is_hex(s: &str, len: usize) -> bool {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    /// The OTLP/JSON rules (OTLP specification, "JSON Protobuf Encoding"),
    /// checked on the encoder's actual output.
    #[test]
    fn json_follows_the_otlp_mapping() {
        let request = &small()[0];
        let json: Value = serde_json::from_slice(&encode(request, Format::Json).unwrap()).unwrap();
        let rs = &json["resourceSpans"][0];
        assert!(rs["resource"]["attributes"][0]["value"]["stringValue"].is_string());
        let ss = &rs["scopeSpans"][0];
        assert_eq!(ss["scope"]["name"], "gavel-tracegen");
        let span = &ss["spans"][0];
        // Ids are hex, not base64.
        assert!(is_hex(span["traceId"].as_str().unwrap(), 32), "{span}");
        assert!(is_hex(span["spanId"].as_str().unwrap(), 16), "{span}");
        // Enums are integers.
        assert_eq!(span["kind"], 2);
        assert!(span["status"]["code"].is_u64());
        // No nulls: receivers accept them, but SDKs omit absent fields.
        assert!(
            !String::from_utf8(encode(request, Format::Json).unwrap())
                .unwrap()
                .contains("null")
        );
        // 64-bit integers are decimal strings.
        let start = span["startTimeUnixNano"].as_str().unwrap();
        assert_eq!(
            start.parse::<u64>().unwrap(),
            request.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano
        );
        assert!(span["endTimeUnixNano"].is_string());
        let event = &span["events"][0];
        assert!(event["timeUnixNano"].is_string());
        assert_eq!(event["name"], "gpu.sample");
        let attr = |key: &str| {
            span["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|kv| kv["key"] == key)
                .unwrap_or_else(|| panic!("no {key} in {span}"))["value"]
                .clone()
        };
        assert!(attr("gen_ai.usage.input_tokens")["intValue"].is_string());
        assert!(attr("gen_ai.request.temperature")["doubleValue"].is_number());
        assert!(
            attr("gen_ai.response.finish_reasons")["arrayValue"]["values"][0]["stringValue"]
                .is_string()
        );
        // No snake_case field name anywhere.
        fn keys(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, v) in m {
                        out.push(k.clone());
                        keys(v, out);
                    }
                }
                Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
                _ => {}
            }
        }
        let mut names = Vec::new();
        keys(&json, &mut names);
        assert!(names.iter().all(|k| !k.contains('_')), "{names:?}");
    }
}
