//! gavel-core: the plain domain types of gavel.
//!
//! Subjects (what plugins judge), verdicts (what they say), plugin metadata,
//! policy sets (the GitOps YAML that says which plugins run under which
//! limits) and [`compose()`], the one function that turns every plugin's
//! outcome into a decision.
//!
//! This crate does no IO and knows nothing of WebAssembly: the wasm runtime
//! lives in `gavel-host`, the daemon in `gavel-server`. Everything here is
//! serialisable with serde so that the audit trail, the CLI's `--json` output
//! and test suites share one vocabulary.
//!
//! Start with [`Subject`], [`Verdict`], [`PolicySet`] and [`compose()`].

pub mod admission;
pub mod compose;
pub mod digest;
pub mod manifests;
pub mod metadata;
pub mod outcome;
pub mod policy;
pub mod project;
pub mod redact;
pub mod subject;
pub mod suite;
pub mod verdict;

pub use admission::{AdmissionReview, AdmissionReviewError};
pub use compose::{Composed, Effect, PluginReport, compose, effect};
pub use metadata::{Category, PluginMetadata, SubjectKind};
pub use outcome::{Failure, FailureKind, Outcome};
pub use policy::{
    AuditPolicy, Authority, Durability, FailurePolicy, InputGrant, Limits, Mode, ModuleRef,
    PluginEntry, PolicyError, PolicySet, TracePolicy,
};
pub use project::Omit;
pub use subject::{
    AdmissionRequest, Attribute, AttributeValue, GpuSample, GroupVersionKind, GroupVersionResource,
    InferenceSpan, Manifest, Operation, SpanStatus, Subject, UserInfo,
};
pub use verdict::{Action, Decision, Finding, Metric, Severity, Verdict};
