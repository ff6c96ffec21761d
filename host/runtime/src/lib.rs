//! gavel-host: the embeddable gavel runtime.
//!
//! gavel governs AI workloads with policies written as WebAssembly
//! components (the `gavel:policy` WIT world). This crate is what a Rust
//! program embeds to run them: it compiles plugins once, checks what they
//! import, runs each evaluation in a fresh sandboxed instance under the
//! limits the policy set grants (fuel, deadline, memory, input and output
//! size), and composes the verdicts of a whole policy set into a decision.
//!
//! Start with [`RuntimeBuilder`], then either load one [`Plugin`] and call
//! [`Plugin::evaluate`], or load a [`PolicySetRuntime`] from a directory and
//! call [`PolicySetRuntime::evaluate`].
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use gavel_host::{Builtins, RuntimeBuilder};
//! let runtime = RuntimeBuilder::new().build()?;
//! let set = runtime.load_policy_set_dir("policies/", &Builtins::default())?;
//! let review = gavel_core::AdmissionReview::from_json(&std::fs::read("review.json")?)?;
//! let composed = set.evaluate(&gavel_core::Subject::Admission(review.request));
//! println!("{}", composed.decision);
//! # Ok(()) }
//! ```
//!
//! **Architecture Invariant:** evaluation is synchronous. wasmtime's async
//! API costs ~14 µs per evaluation here, so a tokio embedder calls
//! [`Plugin::evaluate`] from a blocking context; deadlines are enforced by
//! epoch interruption, not by the async executor.
//!
//! **API Boundary:** everything an embedder needs is re-exported here; the
//! wasmtime types stay private, so a wasmtime upgrade is not a breaking change.

mod bindings;
mod cache;
mod error;
mod imports;
mod plugin;
mod policy_set;
mod preinit;
mod runtime;
mod store;
pub mod suite;
mod wasi;

pub use error::LoadError;
pub use plugin::{Evaluation, LogLine, Plugin};
pub use policy_set::{
    Builtins, LoadProgress, LoadedPlugin, MAX_MODULE_BYTES, POLICY_SET_FILE, PolicySetRuntime,
    Prepared,
};
pub use runtime::{ComponentShape, Runtime, RuntimeBuilder};
pub use store::LogLevel;
pub use wasi::{FIXED_WALL_CLOCK_SECS, MONOTONIC_STEP_NANOS};

pub use gavel_core as core;
