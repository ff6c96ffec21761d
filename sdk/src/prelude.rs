//! Everything a plugin usually needs: `use gavel_sdk::prelude::*;`.

pub use crate::k8s::Object;
pub use crate::types::*;
pub use crate::{
    FindingBuilder, MetadataBuilder, Plugin, VerdictBuilder, allow, deny, export_plugin, finding,
    plugin_metadata, warn,
};
