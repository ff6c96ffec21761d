//! Credentials written into a workload in plain text, instead of read from a
//! Secret (`env[].valueFrom.secretKeyRef`).
//!
//! A literal `env[].value` is stored in etcd and in Git unencrypted, shown by
//! `kubectl describe`, and readable by anyone who may read the workload, which
//! is many more people than may read its Secrets. Two tests:
//!
//! - the value holds a well-known token format (`privacy.credential-in-env`),
//!   whatever the variable is called;
//! - the variable's name looks secret (`*_TOKEN`, `*_PASSWORD`, ...) and its
//!   literal value is long and random enough (Shannon entropy at or above the
//!   threshold) to be one (`privacy.secret-in-env`).
//!
//! `command` and `args` are checked for token formats too
//! (`privacy.credential-in-args`): `--api-key sk-…` leaks the same way.

use gavel_sdk::prelude::*;
use serde_json::Value;

use crate::credentials::{self, Kind};
use crate::glob;
use crate::report::Report;
use crate::settings::CredentialSettings;
use crate::workload::Container;

/// A well-known token format in an env value.
pub const CREDENTIAL_IN_ENV: &str = "privacy.credential-in-env";
/// A high-entropy literal under a secret-looking env var name.
pub const SECRET_IN_ENV: &str = "privacy.secret-in-env";
/// A well-known token format in `command` or `args`.
pub const CREDENTIAL_IN_ARGS: &str = "privacy.credential-in-args";

/// What checking the containers counted.
#[derive(Debug, Default)]
pub struct Counts {
    /// Env vars with a literal value.
    pub literal_env_vars: usize,
    /// Credentials found.
    pub credentials: usize,
}

/// Check every container; add findings to `report`.
pub fn check(
    containers: &[Container<'_>],
    settings: &CredentialSettings,
    report: &mut Report,
) -> Counts {
    let mut counts = Counts::default();
    let decision = Decision::from(settings.decision);
    for container in containers {
        let env = container
            .spec
            .get("env")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        for (i, var) in env.iter().enumerate() {
            let Some(value) = var
                .get("value")
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
            else {
                continue;
            };
            counts.literal_env_vars += 1;
            let name = var.get("name").and_then(Value::as_str).unwrap_or_default();
            let pointer = format!("{}/env/{i}", container.pointer);
            if let Some(kind) = credentials::known_format(value) {
                counts.credentials += 1;
                report.add(
                    decision,
                    in_env(
                        CREDENTIAL_IN_ENV,
                        container,
                        name,
                        kind.describe(),
                        pointer,
                        Severity::Critical,
                    ),
                );
            } else if is_secret_name(name, settings) && looks_random(value, settings) {
                counts.credentials += 1;
                let what = "a literal value that looks like a secret (random, under a secret-looking name)";
                report.add(
                    decision,
                    in_env(
                        SECRET_IN_ENV,
                        container,
                        name,
                        what,
                        pointer,
                        Severity::High,
                    ),
                );
            }
        }
        if !settings.scan_args {
            continue;
        }
        for field in ["command", "args"] {
            let items = container
                .spec
                .get(field)
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            for (i, item) in items.iter().enumerate() {
                let Some(kind) = item.as_str().and_then(credentials::known_format) else {
                    continue;
                };
                counts.credentials += 1;
                report.add(decision, in_args(container, field, i, kind));
            }
        }
    }
    counts
}

fn is_secret_name(name: &str, settings: &CredentialSettings) -> bool {
    settings
        .secret_names
        .iter()
        .any(|p| glob::matches(p, name, true))
}

fn looks_random(value: &str, settings: &CredentialSettings) -> bool {
    value.chars().count() >= settings.min_length
        && !credentials::is_placeholder(value)
        && credentials::entropy(value) >= settings.entropy_threshold
}

fn in_env(
    code: &str,
    container: &Container<'_>,
    name: &str,
    what: &str,
    pointer: String,
    severity: Severity,
) -> FindingBuilder {
    let var = if name.is_empty() {
        "an unnamed env var".to_owned()
    } else {
        format!("env var `{name}`")
    };
    let message = format!(
        "{var} of {} holds {what} in plain text: store it in a Secret, reference it with valueFrom.secretKeyRef, and rotate it, since it is already in the object's history",
        container.label()
    );
    finding(code, message).severity(severity).path(pointer)
}

fn in_args(container: &Container<'_>, field: &str, i: usize, kind: Kind) -> FindingBuilder {
    let message = format!(
        "{field}[{i}] of {} holds {} in plain text: set an env var from a Secret (valueFrom.secretKeyRef), pass it as $(VAR), and rotate the credential",
        container.label(),
        kind.describe()
    );
    finding(CREDENTIAL_IN_ARGS, message)
        .severity(Severity::Critical)
        .path(format!("{}/{field}/{i}", container.pointer))
}
