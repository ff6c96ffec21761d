//! Plugin test suites (`docs/test-suites.md`): the YAML format and the
//! comparison of an outcome with what a case expects. Reading the files a
//! suite names is the runner's job; this module does no IO.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::outcome::Outcome;
use crate::policy::{InputGrant, Limits};
use crate::subject::{InferenceSpan, Manifest};
use crate::verdict::{Action, Decision};

/// The `kind` of a test suite.
pub const KIND: &str = "TestSuite";

/// A test suite for one plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestSuite {
    /// Must be [`crate::policy::API_VERSION`].
    pub api_version: String,
    /// Must be [`KIND`].
    pub kind: String,
    /// The plugin: a `.wasm` path or a Rust plugin crate directory, relative
    /// to the suite, or the name of a plugin bundled with gavel.
    pub plugin: String,
    /// A command (program and arguments) run in the suite's directory before
    /// the plugin is loaded, for plugins built by other toolchains
    /// (componentize-py, componentize-js): for example `[sh, build.sh]`.
    #[serde(default)]
    pub build: Option<Vec<String>>,
    /// Settings for every case.
    #[serde(default = "empty_object")]
    pub settings: serde_json::Value,
    /// The grant for every case.
    #[serde(default)]
    pub limits: Limits,
    /// What of each subject the plugin is shown, as in a policy set
    /// (by default without `metadata.managedFields` and the
    /// last-applied-configuration annotation).
    #[serde(default)]
    pub input: InputGrant,
    /// The cases.
    pub cases: Vec<Case>,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// One case: a subject file, optional settings, and what to expect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Case {
    /// What the case is about.
    pub name: String,
    /// An AdmissionReview (JSON) file.
    #[serde(default)]
    pub admission: Option<String>,
    /// A file with one Kubernetes document (YAML or JSON).
    #[serde(default)]
    pub manifest: Option<String>,
    /// A JSON file with an array of inference spans.
    #[serde(default)]
    pub traces: Option<String>,
    /// Replaces the suite's settings.
    #[serde(default)]
    pub settings: Option<serde_json::Value>,
    /// What the plugin must answer.
    pub expect: Expect,
}

/// Which subject file a case names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectFile<'a> {
    /// An AdmissionReview.
    Admission(&'a str),
    /// One manifest document.
    Manifest(&'a str),
    /// Inference spans.
    Traces(&'a str),
}

impl Case {
    /// The one subject file this case names, or why it does not name exactly one.
    pub fn subject_file(&self) -> Result<SubjectFile<'_>, String> {
        match (&self.admission, &self.manifest, &self.traces) {
            (Some(a), None, None) => Ok(SubjectFile::Admission(a)),
            (None, Some(m), None) => Ok(SubjectFile::Manifest(m)),
            (None, None, Some(t)) => Ok(SubjectFile::Traces(t)),
            _ => Err(format!(
                "case `{}` must name exactly one of `admission`, `manifest`, `traces`",
                self.name
            )),
        }
    }
}

/// The decision a case expects; `error` means the plugin failed or returned an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectedDecision {
    /// Allow.
    Allow,
    /// Warn.
    Warn,
    /// Deny.
    Deny,
    /// A failure (trap, limit, plugin error).
    Error,
}

/// What a case expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expect {
    /// The decision.
    pub decision: ExpectedDecision,
    /// The finding codes, as a multiset; unchecked when absent.
    #[serde(default)]
    pub findings: Option<Vec<String>>,
    /// Metrics that must be present.
    #[serde(default)]
    pub metrics: Vec<ExpectedMetric>,
    /// The action types, as a multiset; unchecked when absent.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
}

/// A metric a case expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectedMetric {
    /// Name.
    pub name: String,
    /// Value.
    pub value: f64,
    /// Absolute tolerance (default 1e-9).
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// Exact labels, when given.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

impl TestSuite {
    /// Parse a suite from YAML.
    pub fn from_yaml(text: &str) -> Result<TestSuite, String> {
        let suite: TestSuite = serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
            Some(l) => format!("invalid test suite at line {}: {e}", l.line()),
            None => format!("invalid test suite: {e}"),
        })?;
        if suite.kind != KIND {
            return Err(format!("kind is `{}`, expected `{KIND}`", suite.kind));
        }
        if suite.api_version != crate::policy::API_VERSION {
            return Err(format!(
                "apiVersion is `{}`, expected `{}`",
                suite.api_version,
                crate::policy::API_VERSION
            ));
        }
        if suite.build.as_ref().is_some_and(|b| b.is_empty()) {
            return Err(
                "build is empty: give the program and its arguments, for example `build: [sh, build.sh]`, or remove the key".into(),
            );
        }
        for case in &suite.cases {
            case.subject_file()?;
        }
        Ok(suite)
    }
}

/// Read one Kubernetes document (YAML or JSON) into a manifest subject.
pub fn manifest_from_yaml(text: &str, path: &str) -> Result<Manifest, String> {
    let value: serde_json::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| format!("`{path}` is not one YAML document: {e}"))?;
    Ok(Manifest {
        path: path.to_owned(),
        document: value.to_string(),
    })
}

/// Read a JSON array of inference spans.
pub fn spans_from_json(text: &str, path: &str) -> Result<Vec<InferenceSpan>, String> {
    serde_json::from_str(text)
        .map_err(|e| format!("`{path}` is not a JSON array of inference spans: {e}"))
}

fn action_type(a: &Action) -> &'static str {
    match a {
        Action::Alert { .. } => "alert",
        Action::ScaleDown { .. } => "scale-down",
        Action::RollbackToVersion { .. } => "rollback-to-version",
    }
}

fn sorted<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = items.into_iter().collect();
    v.sort_unstable();
    v
}

/// Compare an outcome with a case's expectation; each mismatch is one line
/// of the form `field: expected …, got …`. Empty means the case passes.
pub fn check(expect: &Expect, outcome: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    let verdict = match outcome {
        Outcome::Verdict(v) => v,
        Outcome::Failed(f) => {
            if expect.decision != ExpectedDecision::Error {
                let expected = format!("{:?}", expect.decision).to_lowercase();
                out.push(format!(
                    "decision: expected {expected}, got a failure ({f})"
                ));
            }
            return out;
        }
        Outcome::Skipped => {
            return vec!["the plugin was skipped: it does not handle this subject".into()];
        }
    };
    let got = match verdict.decision {
        Decision::Allow => ExpectedDecision::Allow,
        Decision::Warn => ExpectedDecision::Warn,
        Decision::Deny => ExpectedDecision::Deny,
    };
    if got != expect.decision {
        out.push(format!("decision: expected {:?}, got {:?}", expect.decision, got).to_lowercase());
    }
    if let Some(codes) = &expect.findings {
        let want = sorted(codes.iter().map(String::as_str));
        let have = sorted(verdict.findings.iter().map(|f| f.code.as_str()));
        if want != have {
            out.push(format!("findings: expected {want:?}, got {have:?}"));
        }
    }
    if let Some(actions) = &expect.actions {
        let want = sorted(actions.iter().map(String::as_str));
        let have = sorted(verdict.actions.iter().map(action_type));
        if want != have {
            out.push(format!("actions: expected {want:?}, got {have:?}"));
        }
    }
    for m in &expect.metrics {
        let tolerance = m.tolerance.unwrap_or(1e-9);
        let candidates: Vec<_> = verdict
            .metrics
            .iter()
            .filter(|g| g.name == m.name)
            .filter(|g| {
                m.labels.as_ref().is_none_or(|want| {
                    let have: BTreeMap<String, String> = g.labels.iter().cloned().collect();
                    &have == want
                })
            })
            .collect();
        match candidates.as_slice() {
            [] => {
                let labels = m
                    .labels
                    .as_ref()
                    .map(|l| format!(" with labels {l:?}"))
                    .unwrap_or_default();
                out.push(format!(
                    "metric {}{labels}: expected {}, but the plugin did not report it",
                    m.name, m.value
                ));
            }
            found if !found.iter().any(|g| (g.value - m.value).abs() <= tolerance) => {
                let values: Vec<f64> = found.iter().map(|g| g.value).collect();
                out.push(format!(
                    "metric {}: expected {} ± {tolerance}, got {}",
                    m.name,
                    m.value,
                    values
                        .iter()
                        .map(f64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{Failure, FailureKind};
    use crate::verdict::{Finding, Metric, Severity, Verdict};

    fn verdict() -> Outcome {
        Outcome::Verdict(Verdict {
            decision: Decision::Deny,
            findings: ["b.x", "a.y", "b.x"]
                .into_iter()
                .map(|c| Finding {
                    code: c.into(),
                    message: String::new(),
                    severity: Severity::High,
                    path: None,
                })
                .collect(),
            metrics: vec![
                Metric {
                    name: "ratio".into(),
                    value: 0.75,
                    labels: vec![("group".into(), "a".into())],
                },
                Metric {
                    name: "ratio".into(),
                    value: 0.5,
                    labels: vec![("group".into(), "b".into())],
                },
            ],
            actions: vec![Action::Alert {
                severity: Severity::High,
                message: String::new(),
            }],
        })
    }

    fn expect(yaml: &str) -> Expect {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn cases() {
        let table: &[(&str, &[&str])] = &[
            ("decision: deny", &[]),
            ("decision: deny\nfindings: [a.y, b.x, b.x]", &[]),
            ("decision: allow", &["decision: expected allow, got deny"]),
            (
                "decision: deny\nfindings: [b.x]",
                &["findings: expected [\"b.x\"], got [\"a.y\", \"b.x\", \"b.x\"]"],
            ),
            (
                "decision: deny\nfindings: []",
                &["findings: expected [], got [\"a.y\", \"b.x\", \"b.x\"]"],
            ),
            ("decision: deny\nactions: [alert]", &[]),
            (
                "decision: deny\nactions: [scale-down]",
                &["actions: expected [\"scale-down\"], got [\"alert\"]"],
            ),
            ("decision: deny\nmetrics: [{name: ratio, value: 0.5}]", &[]),
            (
                "decision: deny\nmetrics: [{name: ratio, value: 0.5, labels: {group: b}}]",
                &[],
            ),
            (
                "decision: deny\nmetrics: [{name: ratio, value: 0.5, labels: {group: a}}]",
                &["metric ratio: expected 0.5 ± 0.000000001, got 0.75"],
            ),
            (
                "decision: deny\nmetrics: [{name: ratio, value: 0.7, tolerance: 0.1}]",
                &[],
            ),
            (
                "decision: deny\nmetrics: [{name: cost, value: 1}]",
                &["metric cost: expected 1, but the plugin did not report it"],
            ),
        ];
        for (yaml, want) in table {
            assert_eq!(check(&expect(yaml), &verdict()), *want, "{yaml}");
        }
        let failed = Outcome::Failed(Failure::new(FailureKind::Trap, "boom"));
        assert!(check(&expect("decision: error"), &failed).is_empty());
        assert_eq!(
            check(&expect("decision: allow"), &failed),
            ["decision: expected allow, got a failure (trap: boom)"]
        );
    }

    #[test]
    fn suite_parses_and_rejects_ambiguous_cases() {
        let ok = "apiVersion: gavel.dev/v1alpha1\nkind: TestSuite\nplugin: x\ncases:\n  - name: a\n    manifest: m.yaml\n    expect: {decision: allow}\n";
        assert_eq!(
            TestSuite::from_yaml(ok).unwrap().cases[0].subject_file(),
            Ok(SubjectFile::Manifest("m.yaml"))
        );
        let both = ok.replace(
            "    manifest: m.yaml\n",
            "    manifest: m.yaml\n    traces: t.json\n",
        );
        assert!(
            TestSuite::from_yaml(&both)
                .unwrap_err()
                .contains("exactly one of")
        );
        let typo = ok.replace("expect:", "expected:");
        assert!(
            TestSuite::from_yaml(&typo)
                .unwrap_err()
                .contains("unknown field `expected`")
        );
    }
}
