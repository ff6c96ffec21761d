//! Verdicts: what a plugin says about a subject. These mirror the WIT
//! `verdict` record of `gavel:policy@0.1.0`.

use serde::{Deserialize, Serialize};

/// A decision, ordered `Allow < Warn < Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Nothing to object to.
    Allow,
    /// Admit, but tell the user.
    Warn,
    /// Refuse.
    Deny,
}

impl Decision {
    /// The lower-case name used in logs, metrics and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Warn => "warn",
            Decision::Deny => "deny",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// One thing a plugin found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable identifier, for example `cost.budget-exceeded`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Severity.
    pub severity: Severity,
    /// JSON pointer into the object, when the finding has a location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A measured value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Name, snake_case.
    pub name: String,
    /// Value.
    pub value: f64,
    /// Labels distinguishing series.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<(String, String)>,
}

/// A remediation a plugin recommends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Action {
    /// Raise an alert.
    Alert {
        /// Severity of the alert.
        severity: Severity,
        /// What the alert says.
        message: String,
    },
    /// Scale a workload down.
    ScaleDown {
        /// Workload to scale.
        target: String,
        /// Replica count to scale to.
        replicas: u32,
        /// Why.
        reason: String,
    },
    /// Roll back to a known-good version.
    RollbackToVersion {
        /// Workload or model to roll back.
        target: String,
        /// Version to roll back to.
        version: String,
        /// Why.
        reason: String,
    },
}

/// A plugin's judgement of one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// What was found.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// What was measured.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// What should be done.
    #[serde(default)]
    pub actions: Vec<Action>,
}

impl Verdict {
    /// A verdict that allows with nothing to report.
    pub fn allow() -> Self {
        Verdict {
            decision: Decision::Allow,
            findings: Vec::new(),
            metrics: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// The bytes of text this verdict carries (codes, messages, paths, names,
    /// labels), used to enforce a plugin's `maxOutputBytes`.
    pub fn text_size(&self) -> usize {
        let findings: usize = self
            .findings
            .iter()
            .map(|f| f.code.len() + f.message.len() + f.path.as_deref().map_or(0, str::len))
            .sum();
        let metrics: usize = self
            .metrics
            .iter()
            .map(|m| {
                m.name.len()
                    + 8
                    + m.labels
                        .iter()
                        .map(|(k, v)| k.len() + v.len())
                        .sum::<usize>()
            })
            .sum();
        let actions: usize = self
            .actions
            .iter()
            .map(|a| match a {
                Action::Alert { message, .. } => message.len(),
                Action::ScaleDown { target, reason, .. } => target.len() + reason.len() + 4,
                Action::RollbackToVersion {
                    target,
                    version,
                    reason,
                } => target.len() + version.len() + reason.len(),
            })
            .sum();
        findings + metrics + actions
    }
}
