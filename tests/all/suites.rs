//! Every plugin's test suite (`plugins/<name>/tests/suite.yaml`, format in
//! docs/test-suites.md), run through the real component in gavel-host.

use std::path::{Path, PathBuf};

use gavel_core::suite::TestSuite;

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

/// Run the suite of the plugin built at `component`; panic with every failing case.
fn run(component: &str) {
    let name = Path::new(component)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap();
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "plugins",
        name,
        "tests",
        "suite.yaml",
    ]
    .iter()
    .collect();
    let resolve = |_: &Path, suite: &TestSuite| Ok((suite.plugin == name).then(|| read(component)));
    let report = runtime()
        .run_suite(&path, &resolve)
        .unwrap_or_else(|e| panic!("plugin `{name}`: {e}"));
    assert!(!report.cases.is_empty(), "{}: no cases", path.display());
    let failures: Vec<String> = report
        .cases
        .iter()
        .filter(|c| !c.passed())
        .map(|c| format!("{}:\n    {}", c.name, c.mismatches.join("\n    ")))
        .collect();
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases failed\n  {}",
        failures.len(),
        report.cases.len(),
        failures.join("\n  ")
    );
}
