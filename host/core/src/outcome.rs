//! Outcomes: a verdict, or a failure of a named kind.
//!
//! **Architecture Invariant:** "the policy said no" is a [`Verdict`] with
//! [`Decision::Deny`](crate::Decision::Deny); "the plugin broke" is a
//! [`Failure`]. The two never mix: a failure is turned into a decision only by
//! the plugin's failure policy, in [`compose`](crate::compose()).

use serde::{Deserialize, Serialize};

use crate::Verdict;

/// Why a plugin produced no verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The guest trapped (panic, `unreachable`, stack overflow, bad memory access).
    Trap,
    /// The plugin used up its fuel grant.
    FuelExhausted,
    /// The plugin ran past its wall-clock deadline.
    Deadline,
    /// The plugin tried to grow its memory past its grant.
    MemoryLimit,
    /// The plugin returned something the host does not accept (too many
    /// findings, too many bytes, an invalid value).
    InvalidOutput,
    /// The plugin rejected its settings.
    SettingsRejected,
    /// The subject is larger than the plugin's input grant.
    InputTooLarge,
    /// The plugin reported an error instead of a verdict.
    PluginError,
    /// The plugin could not be instantiated (for example the pool is exhausted).
    Instantiation,
}

impl FailureKind {
    /// The kebab-case name used in logs, metrics and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::FuelExhausted => "fuel-exhausted",
            FailureKind::Deadline => "deadline",
            FailureKind::MemoryLimit => "memory-limit",
            FailureKind::InvalidOutput => "invalid-output",
            FailureKind::SettingsRejected => "settings-rejected",
            FailureKind::InputTooLarge => "input-too-large",
            FailureKind::PluginError => "plugin-error",
            FailureKind::Instantiation => "instantiation",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin failure: its kind and a message that says what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// Details, for operators.
    pub message: String,
}

impl Failure {
    /// A failure of `kind` with `message`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// What came of asking one plugin about one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The plugin judged the subject.
    Verdict(Verdict),
    /// The plugin broke.
    Failed(Failure),
    /// The plugin does not receive this kind of subject.
    Skipped,
}
