//! What a plugin says about itself (the WIT `plugin-metadata` record).

use serde::{Deserialize, Serialize};

/// The governance area a plugin belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Fairness and bias.
    Bias,
    /// Privacy and data protection.
    Privacy,
    /// Cost and FinOps.
    Cost,
    /// Explainability.
    Explainer,
    /// Anything else.
    Other,
}

impl Category {
    /// The lower-case name used in policy sets, metadata and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Bias => "bias",
            Category::Privacy => "privacy",
            Category::Cost => "cost",
            Category::Explainer => "explainer",
            Category::Other => "other",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of subject a plugin can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubjectKind {
    /// Kubernetes admission requests.
    Admission,
    /// Manifest documents.
    Manifest,
    /// Inference span batches.
    Traces,
}

impl SubjectKind {
    /// Every subject kind.
    pub const ALL: [SubjectKind; 3] = [
        SubjectKind::Admission,
        SubjectKind::Manifest,
        SubjectKind::Traces,
    ];

    /// The lower-case name used in policy sets and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Admission => "admission",
            SubjectKind::Manifest => "manifest",
            SubjectKind::Traces => "traces",
        }
    }
}

impl std::fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginMetadata {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// Governance area.
    pub category: Category,
    /// Subject kinds it handles.
    pub subjects: Vec<SubjectKind>,
    /// JSON Schema of its settings, as JSON text.
    pub settings_schema: String,
}
