//! The plugin's settings: one group per check, each with its own decision, so
//! an operator can, say, warn on traces but deny plaintext credentials.
//!
//! Every field has a default (an empty settings object enables every check
//! with the defaults the README documents), and unknown fields are refused so
//! a misspelt key fails at load instead of being ignored. The JSON Schema in
//! `settings.schema.json` describes the same shape; a test keeps the two equal.

use gavel_sdk::types::Decision;
use serde::{Deserialize, Serialize};

use crate::pii::Entity;

/// All settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// Findings listed per verdict; the rest are summarised in one
    /// `privacy.findings-truncated` finding. Kept below the host's default
    /// `limits.maxFindings` (256), which fails a verdict that carries more.
    pub max_findings: usize,
    /// Personal data in GenAI spans.
    pub traces: TraceSettings,
    /// Plaintext credentials in container environments and arguments.
    pub credentials: CredentialSettings,
    /// KServe payload loggers.
    pub logger: LoggerSettings,
    /// Residency and retention of workloads labelled as processing personal data.
    pub personal_data: PersonalDataSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_findings: 100,
            traces: TraceSettings::default(),
            credentials: CredentialSettings::default(),
            logger: LoggerSettings::default(),
            personal_data: PersonalDataSettings::default(),
        }
    }
}

/// What a check's findings do to the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Admit and tell.
    Warn,
    /// Refuse.
    Deny,
}

impl From<Outcome> for Decision {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Warn => Decision::Warn,
            Outcome::Deny => Decision::Deny,
        }
    }
}

/// Personal data in GenAI spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct TraceSettings {
    /// Scan trace batches at all.
    pub enabled: bool,
    /// Decision when personal data is found. `warn` by default: the spans were
    /// already exported, so refusing them protects nothing; the verdict
    /// recommends an alert instead.
    pub decision: Outcome,
    /// Entity types to look for.
    pub entities: Vec<Entity>,
    /// Attribute keys to scan besides the GenAI message attributes, as
    /// patterns where `*` matches any run of characters.
    pub attributes: Vec<String>,
    /// Positions listed in one finding's message; the rest are counted.
    pub max_positions: usize,
}

impl Default for TraceSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            decision: Outcome::Warn,
            entities: Entity::ALL.to_vec(),
            attributes: Vec::new(),
            max_positions: 5,
        }
    }
}

/// Plaintext credentials in containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialSettings {
    /// Check containers at all.
    pub enabled: bool,
    /// Decision when a credential is found.
    pub decision: Outcome,
    /// Env var names whose literal values are judged by entropy, as
    /// case-insensitive patterns where `*` matches any run of characters.
    pub secret_names: Vec<String>,
    /// Shannon entropy, in bits per character, at or above which a literal
    /// value under a secret-looking name counts as a secret.
    pub entropy_threshold: f64,
    /// Shorter values are never judged by entropy: a short string's entropy
    /// says little.
    pub min_length: usize,
    /// Also look for well-known token formats in `command` and `args`.
    pub scan_args: bool,
}

/// The default secret-looking names: suffixes, so that `TOKEN_URL` or
/// `PASSWORD_FILE` (which hold locations, not secrets) are not judged.
const SECRET_NAMES: &[&str] = &[
    "*TOKEN",
    "*SECRET",
    "*SECRET_KEY",
    "*PASSWORD",
    "*PASSWD",
    "*API_KEY",
    "*APIKEY",
    "*ACCESS_KEY",
    "*PRIVATE_KEY",
    "*CREDENTIALS",
];

impl Default for CredentialSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            decision: Outcome::Deny,
            secret_names: SECRET_NAMES.iter().map(|s| (*s).to_owned()).collect(),
            entropy_threshold: 3.5,
            min_length: 16,
            scan_args: true,
        }
    }
}

/// KServe payload loggers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct LoggerSettings {
    /// Check InferenceService loggers at all.
    pub enabled: bool,
    /// Decision when a logger sends payloads outside the allowed hosts.
    pub decision: Outcome,
    /// Hosts a logger may send payloads to, as case-insensitive patterns
    /// where `*` matches any run of characters.
    pub allowed_hosts: Vec<String>,
}

impl Default for LoggerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            decision: Outcome::Deny,
            allowed_hosts: vec!["*.svc".to_owned(), "*.svc.cluster.local".to_owned()],
        }
    }
}

/// Workloads labelled as processing personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PersonalDataSettings {
    /// Check labelled workloads at all.
    pub enabled: bool,
    /// Decision when a labelled workload lacks a constraint.
    pub decision: Outcome,
    /// The label that marks a workload as processing personal data.
    pub label: String,
    /// The value of `label` that does (compared ignoring ASCII case).
    pub label_value: String,
    /// The node label that names a node's region.
    pub region_key: String,
    /// Regions where personal data may be processed.
    pub allowed_regions: Vec<String>,
    /// The label that states how many days the workload keeps personal data.
    pub retention_label: String,
    /// The longest retention allowed, in days; no limit when absent.
    pub max_retention_days: Option<u64>,
}

/// Cloud regions in EU member states (AWS, Google Cloud, Azure), where GDPR
/// Chapter V (Art. 44 ff.) restrictions on transfers do not apply.
/// Regions in countries with an adequacy decision (Art. 45), such as the UK or
/// Switzerland, are left to the operator to add.
const EU_REGIONS: &[&str] = &[
    // AWS
    "eu-central-1",
    "eu-west-1",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    // Google Cloud
    "europe-west1",
    "europe-west3",
    "europe-west4",
    "europe-west8",
    "europe-west9",
    "europe-west10",
    "europe-west12",
    "europe-north1",
    "europe-north2",
    "europe-central2",
    "europe-southwest1",
    // Azure
    "westeurope",
    "northeurope",
    "francecentral",
    "francesouth",
    "germanywestcentral",
    "germanynorth",
    "italynorth",
    "polandcentral",
    "spaincentral",
    "swedencentral",
    "swedensouth",
    "austriaeast",
];

impl Default for PersonalDataSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            decision: Outcome::Deny,
            label: "gavel.dev/personal-data".to_owned(),
            label_value: "true".to_owned(),
            region_key: "topology.kubernetes.io/region".to_owned(),
            allowed_regions: EU_REGIONS.iter().map(|s| (*s).to_owned()).collect(),
            retention_label: "gavel.dev/retention-days".to_owned(),
            max_retention_days: None,
        }
    }
}

/// The largest `maxFindings`: one below the host's default `limits.maxFindings`
/// (256), leaving room for the truncation finding.
pub const MAX_FINDINGS_LIMIT: usize = 255;

impl Settings {
    /// Check what parsing cannot; the message names the setting and the fix.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_FINDINGS_LIMIT).contains(&self.max_findings) {
            return Err(format!(
                "maxFindings must be between 1 and {MAX_FINDINGS_LIMIT}, got {}: the host fails verdicts with more findings than limits.maxFindings (256 by default)",
                self.max_findings
            ));
        }
        let traces = &self.traces;
        if traces.enabled && traces.entities.is_empty() {
            return Err("traces.entities is empty: list at least one entity type, or set traces.enabled to false".to_owned());
        }
        non_empty_patterns("traces.attributes", &traces.attributes)?;
        if traces.max_positions > 50 {
            return Err(format!(
                "traces.maxPositions must be at most 50, got {}: a finding lists positions, not every match",
                traces.max_positions
            ));
        }
        let credentials = &self.credentials;
        non_empty_patterns("credentials.secretNames", &credentials.secret_names)?;
        let threshold = credentials.entropy_threshold;
        if !(threshold > 0.0 && threshold <= 8.0) {
            return Err(format!(
                "credentials.entropyThreshold must be above 0 and at most 8 bits per character, got {threshold}: 3.5 suits random tokens"
            ));
        }
        if credentials.min_length == 0 {
            return Err(
                "credentials.minLength must be at least 1: 16 suits random tokens".to_owned(),
            );
        }
        non_empty_patterns("logger.allowedHosts", &self.logger.allowed_hosts)?;
        let personal = &self.personal_data;
        for (name, value) in [
            ("personalData.label", &personal.label),
            ("personalData.labelValue", &personal.label_value),
            ("personalData.regionKey", &personal.region_key),
            ("personalData.retentionLabel", &personal.retention_label),
        ] {
            if value.trim().is_empty() {
                return Err(format!(
                    "{name} is empty: give a label key or value, or leave it out for the default"
                ));
            }
        }
        if personal.enabled && personal.allowed_regions.is_empty() {
            return Err("personalData.allowedRegions is empty: list the regions where personal data may be processed, or set personalData.enabled to false".to_owned());
        }
        non_empty_patterns("personalData.allowedRegions", &personal.allowed_regions)?;
        if personal.max_retention_days == Some(0) {
            return Err(
                "personalData.maxRetentionDays must be at least 1, or left out for no limit"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

fn non_empty_patterns(name: &str, patterns: &[String]) -> Result<(), String> {
    match patterns.iter().position(|p| p.trim().is_empty()) {
        Some(i) => Err(format!("{name}[{i}] is empty: remove it or give a value")),
        None => Ok(()),
    }
}
