//! Building [`PluginMetadata`].

use crate::types::{Category, PluginMetadata, SubjectKind};

/// The settings schema used when a plugin declares none: any JSON object.
const ANY_OBJECT_SCHEMA: &str = r#"{"type":"object"}"#;

/// Builds a plugin's [`PluginMetadata`].
///
/// Usually started with [`plugin_metadata!`](crate::plugin_metadata!), which
/// takes the name, version and description from the plugin's `Cargo.toml`.
/// Until set, the category is [`Category::Other`], the plugin handles no
/// subjects (the host then never calls it), and the settings schema accepts
/// any JSON object.
///
/// ```
/// use gavel_sdk::prelude::*;
///
/// let metadata = MetadataBuilder::new("gpu-cost", "1.2.0")
///     .description("Deny inference deployments over the hourly GPU budget")
///     .category(Category::Cost)
///     .subjects([SubjectKind::Admission, SubjectKind::Manifest])
///     .settings_schema(r#"{"type":"object","properties":{"budget":{"type":"number"}}}"#)
///     .build();
/// assert_eq!(metadata.subjects, [SubjectKind::Admission, SubjectKind::Manifest]);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MetadataBuilder {
    metadata: PluginMetadata,
}

impl MetadataBuilder {
    /// Start with a plugin name (kebab-case) and version (semver).
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            metadata: PluginMetadata {
                name: name.into(),
                version: version.into(),
                description: String::new(),
                category: Category::Other,
                subjects: Vec::new(),
                settings_schema: ANY_OBJECT_SCHEMA.to_owned(),
            },
        }
    }

    /// Set the one-line description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.metadata.description = description.into();
        self
    }

    /// Set the governance area.
    pub fn category(mut self, category: Category) -> Self {
        self.metadata.category = category;
        self
    }

    /// Set the subject kinds the plugin handles.
    pub fn subjects(mut self, subjects: impl IntoIterator<Item = SubjectKind>) -> Self {
        self.metadata.subjects = subjects.into_iter().collect();
        self
    }

    /// Set the JSON Schema of the settings, as JSON text.
    pub fn settings_schema(mut self, schema: impl Into<String>) -> Self {
        self.metadata.settings_schema = schema.into();
        self
    }

    /// Finish.
    pub fn build(self) -> PluginMetadata {
        self.metadata
    }
}

impl From<MetadataBuilder> for PluginMetadata {
    fn from(builder: MetadataBuilder) -> Self {
        builder.build()
    }
}

/// Start a [`MetadataBuilder`] from the calling crate's `Cargo.toml`: its
/// package name, version and description.
///
/// ```
/// # use gavel_sdk::prelude::*;
/// let metadata = plugin_metadata!().category(Category::Privacy).build();
/// assert_eq!(metadata.version, env!("CARGO_PKG_VERSION"));
/// ```
#[macro_export]
macro_rules! plugin_metadata {
    () => {
        $crate::MetadataBuilder::new(
            ::core::env!("CARGO_PKG_NAME"),
            ::core::env!("CARGO_PKG_VERSION"),
        )
        .description(::core::env!("CARGO_PKG_DESCRIPTION"))
    };
}
