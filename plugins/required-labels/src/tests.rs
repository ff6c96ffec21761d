use gavel_sdk::prelude::*;
use gavel_sdk::testing::{Expect, admission, admission_update, check, evaluate, manifest};

use super::RequiredLabels;

const BOTH: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"team": "search", "cost-center": "42"}}}"#;
const TEAM: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"team": "search"}}}"#;
const NONE: &str = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}"#;
const EXEC: &str = r#"{"apiVersion": "v1", "kind": "PodExecOptions", "command": ["/bin/sh"]}"#;
const TEAM_AND_COST: &str = r#"{"labels": ["team", "cost-center"]}"#;

#[test]
fn cases() {
    let missing = || Expect::deny(&["labels.missing"]);
    for (name, subject, settings, expect) in [
        (
            "default requires team",
            admission(Operation::Create, TEAM),
            "",
            Expect::allow(),
        ),
        (
            "default, no labels",
            admission(Operation::Create, NONE),
            "",
            missing(),
        ),
        (
            "null settings",
            admission(Operation::Create, NONE),
            "null",
            missing(),
        ),
        (
            "empty settings object",
            admission(Operation::Create, TEAM),
            "{}",
            Expect::allow(),
        ),
        (
            "all listed present",
            admission(Operation::Create, BOTH),
            TEAM_AND_COST,
            Expect::allow(),
        ),
        (
            "one listed missing",
            admission(Operation::Create, TEAM),
            TEAM_AND_COST,
            missing(),
        ),
        (
            "update checks the new object",
            admission_update(TEAM, NONE),
            "",
            missing(),
        ),
        (
            "delete has no object",
            admission(Operation::Delete, NONE),
            "",
            Expect::allow(),
        ),
        (
            "connect options are not an object",
            admission(Operation::Connect, EXEC),
            "",
            Expect::allow(),
        ),
        ("manifest", manifest("apps/web.yaml#0", NONE), "", missing()),
        (
            "no labels required",
            manifest("apps/web.yaml#0", NONE),
            r#"{"labels": []}"#,
            Expect::allow(),
        ),
        (
            "traces are not objects",
            gavel_sdk::testing::traces([]),
            "",
            Expect::allow(),
        ),
        (
            "misspelt setting",
            manifest("a", TEAM),
            r#"{"label": ["x"]}"#,
            Expect::error("unknown field `label`"),
        ),
        (
            "malformed manifest",
            manifest("a", "{"),
            "",
            Expect::error("InvalidSubject"),
        ),
    ] {
        check::<RequiredLabels>(name, subject, settings, expect);
    }
}

#[test]
fn finding_lists_the_missing_labels_at_metadata_labels() {
    let outcome = evaluate::<RequiredLabels>(manifest("a", NONE), TEAM_AND_COST);
    let finding = outcome.assert_finding("labels.missing");
    assert_eq!(finding.message, "add labels: team, cost-center");
    assert_eq!(finding.path.as_deref(), Some("/metadata/labels"));
}

#[test]
fn metadata() {
    let metadata = gavel_sdk::testing::metadata::<RequiredLabels>();
    assert_eq!(metadata.name, "required-labels");
    assert_eq!(metadata.subjects, SubjectKind::OBJECTS);
}
