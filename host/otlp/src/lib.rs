//! gavel-otlp: OTLP/HTTP trace decoding, GenAI span mapping and tumbling
//! windows.
//!
//! The daemon's `POST /v1/traces` endpoint and `gavel eval --traces FILE` use
//! this crate to turn what an OpenTelemetry exporter sends into batches of
//! [`gavel_core::InferenceSpan`]s for trace plugins. It does no IO and no
//! async, and reads no clock: callers pass bytes, headers and `now`.
//!
//! Three steps, one module each:
//!
//! 1. [`mod@decode`]: an OTLP/HTTP body (`application/x-protobuf` or
//!    `application/json`, optionally gzip, size-bounded after decompression)
//!    → [`proto`]'s `ExportTraceServiceRequest`; and the answers
//!    (`ExportTraceServiceResponse` with partial success, `google.rpc.Status`)
//!    in the request's encoding.
//! 2. [`map`]: OTLP spans → inference spans, following the OpenTelemetry
//!    GenAI semantic conventions plus gavel's `gpu.*` namespace. Its module
//!    docs are the contract plugin authors rely on.
//! 3. [`windows`]: inference spans → tumbling windows per (namespace,
//!    service, model), closed by count, age, eviction, reconfiguration or
//!    shutdown, with all-or-nothing back-pressure.
//!
//! A server's request path, in order:
//!
//! ```
//! use std::time::Instant;
//! use gavel_otlp::{Admission, Encoding, Windows};
//!
//! # fn handle(body: &[u8], windows: &mut Windows, in_flight: usize) -> Result<Vec<u8>, u16> {
//! let encoding = gavel_otlp::encoding_from_content_type("application/x-protobuf")
//!     .map_err(|e| e.http_status())?;
//! let request = gavel_otlp::decode(body, encoding, false, gavel_otlp::DEFAULT_MAX_DECODED_BYTES)
//!     .map_err(|e| e.http_status())?;
//! let mapped = gavel_otlp::map_request(&request);
//! match windows.admit(mapped.spans.len(), in_flight) {
//!     Admission::Accept => {}
//!     Admission::Busy => return Err(429),
//!     Admission::TooLarge => return Err(413),
//! }
//! let mut closed = Vec::new();
//! let response = mapped.response();
//! windows.insert_all(mapped.spans, Instant::now(), &mut closed);
//! // ... hand `closed` to the trace plugins ...
//! Ok(gavel_otlp::encode_response(&response, encoding))
//! # }
//! # let mut windows = Windows::new(Default::default());
//! # let body = prost::Message::encode_to_vec(&gavel_otlp::proto::tonic::collector::trace::v1::ExportTraceServiceRequest::default());
//! # assert_eq!(handle(&body, &mut windows, 0), Ok(Vec::new()));
//! ```

pub mod decode;
mod gpu;
mod json;
pub mod map;
mod value;
pub mod windows;

/// The generated OTLP messages (`opentelemetry-proto`), so that callers use
/// the exact version this crate decodes into.
pub use opentelemetry_proto as proto;

pub use decode::{
    DEFAULT_MAX_DECODED_BYTES, DecodeError, Encoding, Status, decode, encode_response,
    encode_status, encoding_from_content_type, export_response, gzip_from_content_encoding,
};
pub use map::{
    INFERENCE_MARKERS, Limits, Mapped, RENAMES, count_spans, map_request, map_request_with,
};
pub use windows::{Admission, CloseReason, ClosedWindow, Stats, WindowKey, Windows};

/// gavel's GPU attribute namespace (see [`map`]'s module docs).
pub mod gpu_attributes {
    pub use crate::gpu::{
        ID, MEMORY_USED, MIG_PROFILE, MODEL, POWER_USAGE, SAMPLE_EVENT, UTILIZATION,
    };
}

/// The OTLP/JSON example of the OpenTelemetry proto repository, from the
/// shared corpus that sits beside the repository (as in CI). Read, never
/// copied in.
#[cfg(test)]
fn corpus_example() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/otlp/otel-proto-example-trace.json"
    );
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}: the shared corpus must sit beside the repository"))
}
