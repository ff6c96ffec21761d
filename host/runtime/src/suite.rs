//! Running a plugin test suite (`docs/test-suites.md`): read the suite and
//! the subject files it names, evaluate each case in the real component, and
//! compare with [`gavel_core::suite::check`].

use std::path::Path;
use std::time::Duration;

use gavel_core::suite::{self, SubjectFile, TestSuite};
use gavel_core::{AdmissionReview, Outcome, Subject};
use serde::Serialize;

use crate::runtime::Runtime;

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// What the plugin returned (absent when the subject could not be read).
    pub outcome: Option<Outcome>,
    /// How it differs from the expectation; empty when the case passes.
    pub mismatches: Vec<String>,
    /// Evaluation time.
    #[serde(skip)]
    pub duration: Duration,
}

impl CaseReport {
    /// True when the case passed.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// The result of a suite.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    /// The name the tested plugin gives itself in its metadata.
    pub plugin: String,
    /// Every case, in order.
    pub cases: Vec<CaseReport>,
}

impl SuiteReport {
    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|c| !c.passed()).count()
    }
}

/// Read the subject a case names, relative to `dir`.
pub fn load_subject(dir: &Path, file: SubjectFile<'_>) -> Result<Subject, String> {
    let load = |p: &str| {
        std::fs::read_to_string(dir.join(p)).map_err(|e| format!("cannot read `{p}`: {e}"))
    };
    Ok(match file {
        SubjectFile::Admission(p) => {
            let review = AdmissionReview::from_json(load(p)?.as_bytes())
                .map_err(|e| format!("`{p}`: {e}"))?;
            Subject::Admission(review.request)
        }
        SubjectFile::Manifest(p) => Subject::Manifest(suite::manifest_from_yaml(&load(p)?, p)?),
        SubjectFile::Traces(p) => Subject::Traces(suite::spans_from_json(&load(p)?, p)?),
    })
}

/// How an embedder finds a suite's component: given the suite's directory
/// and the parsed suite, the component's bytes, `None` to let
/// [`Runtime::run_suite`] read a `.wasm` path itself, or an error message.
pub type Resolve<'a> = dyn Fn(&Path, &TestSuite) -> Result<Option<Vec<u8>>, String> + 'a;

impl Runtime {
    /// Run the suite at `path`.
    ///
    /// `resolve` is asked first for the component the suite tests, with the
    /// suite's directory and the parsed suite: an embedder answers `Some`
    /// for the plugins it knows (bundled names, crates it builds, after the
    /// suite's `build` command). For `None`, a `plugin` ending in `.wasm` is
    /// read relative to the suite; anything else is an unknown plugin.
    pub fn run_suite(&self, path: &Path, resolve: &Resolve<'_>) -> Result<SuiteReport, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let suite = TestSuite::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        // `suite.yaml` has the parent "": its directory is the current one.
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let bytes = match resolve(dir, &suite).map_err(|e| format!("{}: {e}", path.display()))? {
            Some(bytes) => bytes,
            None if suite.plugin.ends_with(".wasm") => {
                let p = dir.join(&suite.plugin);
                std::fs::read(&p).map_err(|e| {
                    let hint = if suite.build.is_some() {
                        " (the suite's `build` command should have written it)"
                    } else {
                        ""
                    };
                    format!("cannot read plugin `{}`{hint}: {e}", p.display())
                })?
            }
            None => {
                return Err(format!(
                    "{}: unknown plugin `{}`: name a bundled plugin, a .wasm file or a plugin crate directory relative to the suite",
                    path.display(),
                    suite.plugin
                ));
            }
        };
        let plugin = self
            .load_plugin(&suite.plugin, &bytes)
            .map_err(|e| e.to_string())?;
        let omit = gavel_core::Omit::new(&suite.input.omit)
            .map_err(|e| format!("{}: input.omit: {e}", path.display()))?;
        let cases = suite
            .cases
            .iter()
            .map(|case| {
                let settings = case
                    .settings
                    .as_ref()
                    .unwrap_or(&suite.settings)
                    .to_string();
                match case.subject_file().and_then(|f| load_subject(dir, f)) {
                    Err(e) => CaseReport {
                        name: case.name.clone(),
                        outcome: None,
                        mismatches: vec![e],
                        duration: Duration::ZERO,
                    },
                    Ok(subject) => {
                        // As in production: settings are validated before the
                        // plugin is asked to evaluate with them.
                        let (outcome, duration) =
                            match plugin.validate_settings(&settings, &suite.limits) {
                                Err(f) => (Outcome::Failed(f), Duration::ZERO),
                                Ok(()) => {
                                    let shown = subject.project(&omit);
                                    let shown = shown.as_ref().unwrap_or(&subject);
                                    let e = plugin.evaluate(shown, &settings, &suite.limits);
                                    (e.outcome, e.duration)
                                }
                            };
                        CaseReport {
                            name: case.name.clone(),
                            mismatches: suite::check(&case.expect, &outcome),
                            outcome: Some(outcome),
                            duration,
                        }
                    }
                }
            })
            .collect();
        Ok(SuiteReport {
            plugin: plugin.metadata().name.clone(),
            cases,
        })
    }
}
