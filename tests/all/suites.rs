//! Every plugin's test suite (`plugins/<name>/tests/suite.yaml`, format in
//! docs/test-suites.md), run through the real component in gavel-host.

use std::path::{Path, PathBuf};

use gavel_core::suite::{self, SubjectFile, TestSuite};
use gavel_core::{AdmissionReview, Subject};

use crate::{read, runtime};

/// One test per plugin: a plugin crate without a suite fails here.
macro_rules! suite_test {
    ($name:ident) => {
        #[allow(non_snake_case, reason = "named after the artifact constant")]
        mod $name {
            #[test]
            fn suite() {
                super::run(gavel_artifacts::$name);
            }
        }
    };
}
gavel_artifacts::foreach_plugin!(suite_test);

fn subject(dir: &Path, file: SubjectFile<'_>) -> Result<Subject, String> {
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

/// Run the suite of the plugin built at `component`; panic with every failing case.
fn run(component: &str) {
    let name = Path::new(component)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap();
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "plugins", name, "tests"]
        .iter()
        .collect();
    let path = dir.join("suite.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "plugin `{name}` has no test suite at {}: {e}",
            path.display()
        )
    });
    let suite = TestSuite::from_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        suite.plugin,
        name,
        "{}: the suite is for another plugin",
        path.display()
    );
    assert!(!suite.cases.is_empty(), "{}: no cases", path.display());
    let plugin = runtime().load_plugin(name, &read(component)).unwrap();
    let mut failures = Vec::new();
    for case in &suite.cases {
        let settings = case
            .settings
            .as_ref()
            .unwrap_or(&suite.settings)
            .to_string();
        let subject = match case.subject_file().and_then(|f| subject(&dir, f)) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        let evaluation = plugin.evaluate(&subject, &settings, &suite.limits);
        let mismatches = suite::check(&case.expect, &evaluation.outcome);
        if !mismatches.is_empty() {
            failures.push(format!("{}:\n    {}", case.name, mismatches.join("\n    ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases failed\n  {}",
        failures.len(),
        suite.cases.len(),
        failures.join("\n  ")
    );
}
