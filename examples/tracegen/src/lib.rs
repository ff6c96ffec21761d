//! Realistic OTLP traces of GPU inference for gavel: GenAI spans with GPU
//! samples, fairness decisions, explanation scores and, optionally, chat
//! content with synthetic personal data.
//!
//! The `tracegen` binary writes them to a file or POSTs them to gavel's
//! `/v1/traces`; this library is what gavel's benchmarks and tests reuse.
//! Start at [`generate`] (or [`Generator`] to stream large runs), pick a
//! [`Scenario`], and encode with [`encode`] or send with [`send::send`]:
//!
//! ```
//! use gavel_tracegen::{Options, Scenario, generate};
//!
//! let options = Options { spans: 100, batch_size: 50, ..Options::default() };
//! let requests = generate(Scenario::FairnessDrift, &options).unwrap();
//! assert_eq!(requests.len(), 2);
//! ```
//!
//! # What the spans carry
//!
//! Spans follow the OpenTelemetry GenAI semantic conventions for inference
//! (`gen_ai.operation.name` `chat`, `gen_ai.provider.name`,
//! `gen_ai.request.model`, `gen_ai.response.model`, token usage, finish
//! reasons, `server.address`/`server.port`, `error.type` with an error
//! status). Each resource is one pod: `service.name`, `k8s.namespace.name`,
//! `k8s.deployment.name`, `k8s.pod.name`. GPU samples are span events named
//! `gpu.sample`, stamped with the sample time, with `gpu.id`, `gpu.model`,
//! `gpu.mig.profile` (MIG slices only), `gpu.utilization` (percent),
//! `gpu.memory.used` (MiB) and `gpu.power.usage` (watts), as DCGM reports
//! them. The fairness attributes (`gen_ai.fairness.group`, `.prediction`,
//! `.label`) and explanation scores (`gen_ai.explanation.fidelity`,
//! `.stability`) are gavel's conventions, read by the bias and explainer
//! plugins. The crate README lists every attribute per scenario.
//!
//! # Determinism
//!
//! The same [`Options`] (seed included) give identical requests, byte for
//! byte, with this crate and its `rand` version. [`Options::default`] has a
//! fixed start time for that reason; the binary defaults to "now".

mod fleet;
mod generate;
mod pii;
mod scenario;

pub mod encode;
pub mod send;

pub use encode::Format;
pub use generate::{Content, Generator, Options, OptionsError, SpanKind, generate};
pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
pub use scenario::{Scenario, UnknownScenario};

#[cfg(test)]
mod tests;
