//! Deny objects that lack any of the labels listed in settings (default: `team`).
use gavel_sdk::prelude::*;
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Settings {
    labels: Option<Vec<String>>,
}
struct RequiredLabels;
impl Plugin for RequiredLabels {
    type Settings = Settings;
    fn metadata() -> PluginMetadata {
        plugin_metadata!().subjects(SubjectKind::OBJECTS).build()
    }
    fn evaluate(subject: Subject, settings: &Settings) -> Result<Verdict, Error> {
        let mut missing = settings.labels.clone().unwrap_or(vec!["team".into()]);
        let object = subject.parse_object()?;
        missing.retain(|l| object.as_ref().is_some_and(|o| o.label(l).is_none()));
        if missing.is_empty() {
            return Ok(allow());
        }
        let message = format!("add labels: {}", missing.join(", "));
        let found = finding("labels.missing", message).path("/metadata/labels");
        Ok(found.deny())
    }
}
export_plugin!(RequiredLabels);
#[cfg(test)]
mod tests;
