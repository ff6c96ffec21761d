//! # gavel-sdk: write gavel governance plugins in Rust
//!
//! A gavel plugin is a WebAssembly component that implements the
//! `gavel:policy/plugin` world (see `wit/` at the root of the repository): it
//! describes itself, checks its settings, and judges one subject (a Kubernetes
//! admission request, a manifest from a GitOps repository, or a batch of
//! inference spans) per fresh instance. This crate is what a plugin author
//! depends on. It hides `wit-bindgen` and the canonical ABI behind one trait and
//! one macro, and lets the same plugin logic run natively under `cargo test`.
//!
//! ## Where to start
//!
//! Implement [`Plugin`] and call [`export_plugin!`]:
//!
//! ```
//! use gavel_sdk::prelude::*;
//!
//! #[derive(serde::Deserialize, Default)]
//! struct Settings {
//!     max_replicas: u64,
//! }
//!
//! struct MaxReplicas;
//!
//! impl Plugin for MaxReplicas {
//!     type Settings = Settings;
//!
//!     fn metadata() -> PluginMetadata {
//!         plugin_metadata!().subjects([SubjectKind::Admission]).build()
//!     }
//!
//!     fn evaluate(subject: Subject, settings: &Settings) -> Result<Verdict, Error> {
//!         let Some(object) = subject.parse_object()? else {
//!             return Ok(allow());
//!         };
//!         let replicas = object.value().pointer("/spec/replicas").and_then(|r| r.as_u64());
//!         Ok(match replicas {
//!             Some(n) if n > settings.max_replicas => deny("replicas.too-many", "lower spec.replicas"),
//!             _ => allow(),
//!         })
//!     }
//! }
//!
//! export_plugin!(MaxReplicas);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-unknown-unknown` and turn the core module
//! into a component (`wasm-tools component new`, or the `wit-component` crate as
//! gavel's own build does), or build it for `wasm32-wasip2`, which produces a
//! component directly but imports WASI.
//!
//! The pieces, in the order an author meets them:
//!
//! - [`Plugin`]: the trait; settings arrive typed, parsed from JSON by the SDK.
//! - [`types`] and [`prelude`]: the WIT types (`Subject`, `Verdict`, `Finding`, ...).
//! - [`VerdictBuilder`], [`FindingBuilder`], [`allow`], [`deny`], [`warn`]: building verdicts.
//! - [`k8s`]: parsing admission objects and manifests, labels, containers.
//! - [`log`]: logging through the host (stderr when running natively).
//! - [`testing`]: the native test harness.
//!
//! ## Cargo features
//!
//! - `arena` (default): on `wasm32-unknown-unknown`, install a bump allocator
//!   as the global allocator. Each evaluation runs in a fresh instance that is
//!   dropped afterwards, so memory is never worth reusing; the allocator hands
//!   out the free tail of the initial linear memory first and only then calls
//!   `memory.grow`, which saves the start-up cost of Rust's default allocator
//!   (it grows memory on its first allocation). Freeing or resizing the most
//!   recent allocation happens in place; everything else is reclaimed when the
//!   instance is dropped. A plugin that allocates and frees in a long loop may
//!   prefer to disable the feature (`default-features = false`). The feature
//!   has no effect on other targets: on `wasm32-wasip2` the C library's own
//!   `malloc` owns the initial heap, and natively the system allocator is used.

#[doc(hidden)]
pub mod bindings;
pub mod k8s;
pub mod log;
pub mod prelude;
pub mod testing;

#[cfg(any(
    test,
    all(
        target_arch = "wasm32",
        target_os = "unknown",
        feature = "arena",
        not(target_feature = "atomics")
    )
))]
mod arena;
mod metadata;
mod plugin;
mod verdict;

#[doc(hidden)]
pub mod __private;

pub use metadata::MetadataBuilder;
pub use plugin::Plugin;
pub use verdict::{FindingBuilder, VerdictBuilder, allow, deny, finding, warn};

/// The types of the `gavel:policy` contract, as plugins see them.
///
/// These are generated from `wit/types.wit`; each carries the WIT
/// documentation. The SDK adds constructors and helpers to some of them
/// (for example [`Verdict::builder`](types::Verdict::builder),
/// [`Subject::parse_object`](types::Subject::parse_object),
/// [`Action::alert`](types::Action::alert)).
pub mod types {
    pub use crate::bindings::gavel::policy::types::*;

    impl SubjectKind {
        /// The subject kinds that carry a Kubernetes object (admission
        /// requests and manifests), which
        /// [`Subject::parse_object`](crate::types::Subject::parse_object) reads
        /// alike: what most object policies declare.
        pub const OBJECTS: [SubjectKind; 2] = [SubjectKind::Admission, SubjectKind::Manifest];
    }
}
