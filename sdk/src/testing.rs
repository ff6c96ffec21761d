//! A native test harness: run a plugin's logic under plain `cargo test`,
//! without building a component or starting a wasm runtime.
//!
//! Tests go through the same settings handling as a component: settings are
//! parsed and checked with [`Plugin::validate`] first (as the host does when
//! it loads a plugin), then the plugin evaluates.
//!
//! The constructors and assertions panic with a message that shows what was
//! expected and what the plugin returned, like `assert_eq!`. Tables of cases
//! read well with [`check`]:
//!
//! ```
//! use gavel_sdk::prelude::*;
//! use gavel_sdk::testing::{Expect, admission, check, manifest};
//!
//! # #[derive(serde::Deserialize, Default)] struct Settings {}
//! # struct NoLatest;
//! # impl Plugin for NoLatest {
//! #     type Settings = Settings;
//! #     fn metadata() -> PluginMetadata { plugin_metadata!().build() }
//! #     fn evaluate(subject: Subject, _: &Settings) -> Result<Verdict, Error> {
//! #         let mut verdict = VerdictBuilder::new();
//! #         let Some(object) = subject.parse_object()? else { return Ok(allow()) };
//! #         for c in object.containers() {
//! #             if c.image().is_some_and(|i| i.ends_with(":latest")) {
//! #                 verdict.deny(finding("image.latest", "pin the image").path(format!("{}/image", c.pointer)));
//! #             }
//! #         }
//! #         Ok(verdict.metric("containers", object.containers().len() as f64).build())
//! #     }
//! # }
//! const LATEST: &str = r#"{"kind": "Pod", "spec": {"containers": [{"image": "nginx:latest"}]}}"#;
//! const PINNED: &str = r#"{"kind": "Pod", "spec": {"containers": [{"image": "nginx:1.27"}]}}"#;
//!
//! for (name, subject, settings, expect) in [
//!     ("latest", admission(Operation::Create, LATEST), "", Expect::deny(&["image.latest"])),
//!     ("pinned", admission(Operation::Create, PINNED), "", Expect::allow().metric("containers", 1.0, 0.0)),
//!     ("manifest", manifest("pod.yaml", LATEST), "{}", Expect::deny(&["image.latest"])),
//!     ("bad settings", manifest("pod.yaml", LATEST), "3", Expect::error("invalid settings")),
//! ] {
//!     check::<NoLatest>(name, subject, settings, expect);
//! }
//! ```

use std::fmt::Write as _;

use serde_json::Value;

use crate::Plugin;
use crate::types::{
    AdmissionRequest, Decision, Error, Finding, GpuSample, GroupVersionKind, GroupVersionResource,
    InferenceSpan, Manifest, Operation, PluginMetadata, SpanStatus, Subject, UserInfo, Verdict,
};

// ------------------------------------------------------------------ subjects

/// An admission request from an AdmissionReview (`admission.k8s.io/v1`) as
/// JSON text, with or without the review envelope (`{"request": {...}}`).
///
/// # Panics
///
/// When the text is not JSON or a field has the wrong type.
#[track_caller]
pub fn admission_review(json: &str) -> Subject {
    let review: Value = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("admission review is not valid JSON: {e}"));
    let request = review.get("request").unwrap_or(&review);
    let field = Field {
        value: request,
        path: "request",
    };
    let operation = match field.str("operation").as_deref() {
        Some("CREATE") => Operation::Create,
        Some("UPDATE") => Operation::Update,
        Some("DELETE") => Operation::Delete,
        Some("CONNECT") => Operation::Connect,
        other => {
            panic!("request.operation: expected CREATE, UPDATE, DELETE or CONNECT, got {other:?}")
        }
    };
    let kind = field.child("kind");
    let resource = field.child("resource");
    let user = field.child("userInfo");
    Subject::Admission(AdmissionRequest {
        uid: field.str("uid").unwrap_or_default(),
        kind: GroupVersionKind {
            group: kind.str("group").unwrap_or_default(),
            version: kind.str("version").unwrap_or_default(),
            kind: kind.str("kind").unwrap_or_default(),
        },
        resource: GroupVersionResource {
            group: resource.str("group").unwrap_or_default(),
            version: resource.str("version").unwrap_or_default(),
            resource: resource.str("resource").unwrap_or_default(),
        },
        sub_resource: field.str("subResource"),
        namespace: field.str("namespace"),
        name: field.str("name"),
        operation,
        user_info: UserInfo {
            username: user.str("username").unwrap_or_default(),
            uid: user.str("uid").unwrap_or_default(),
            groups: user.strings("groups"),
            extra: user
                .object("extra")
                .iter()
                .map(|(k, _)| (k.clone(), user.child("extra").strings(k)))
                .collect(),
        },
        dry_run: field.bool("dryRun"),
        object: field.json("object"),
        old_object: field.json("oldObject"),
    })
}

/// An admission request for `object` (JSON text), as a test user would send it.
///
/// The kind, name and namespace come from the object; the resource is the
/// kind in lower case with a naive English plural (`Pod` → `pods`,
/// `NetworkPolicy` → `networkpolicies`): use [`admission_review`] when a test
/// depends on an exact resource. On DELETE the object is the `old-object` and
/// `object` is absent; on UPDATE the old object is the object itself (see
/// [`admission_update`]).
///
/// # Panics
///
/// When `object` is not JSON.
#[track_caller]
pub fn admission(operation: Operation, object: &str) -> Subject {
    let value: Value =
        serde_json::from_str(object).unwrap_or_else(|e| panic!("object is not valid JSON: {e}"));
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let kind = text(value.get("kind")).unwrap_or_default();
    let (group, version) = match text(value.get("apiVersion"))
        .unwrap_or_default()
        .split_once('/')
    {
        Some((group, version)) => (group.to_owned(), version.to_owned()),
        None => (
            String::new(),
            text(value.get("apiVersion")).unwrap_or_default(),
        ),
    };
    let object = Some(object.to_owned());
    let (object, old_object) = match operation {
        Operation::Create | Operation::Connect => (object, None),
        Operation::Update => (object.clone(), object),
        Operation::Delete => (None, object),
    };
    Subject::Admission(AdmissionRequest {
        uid: "00000000-0000-0000-0000-000000000000".to_owned(),
        resource: GroupVersionResource {
            group: group.clone(),
            version: version.clone(),
            resource: plural(&kind.to_lowercase()),
        },
        kind: GroupVersionKind {
            group,
            version,
            kind,
        },
        sub_resource: None,
        namespace: text(value.pointer("/metadata/namespace")),
        name: text(value.pointer("/metadata/name")),
        operation,
        user_info: UserInfo {
            username: "gavel-test".to_owned(),
            uid: String::new(),
            groups: vec!["system:authenticated".to_owned()],
            extra: Vec::new(),
        },
        dry_run: false,
        object,
        old_object,
    })
}

/// An UPDATE admission request from `old` to `new` (both JSON text).
///
/// # Panics
///
/// When either is not JSON.
#[track_caller]
pub fn admission_update(old: &str, new: &str) -> Subject {
    serde_json::from_str::<Value>(old)
        .unwrap_or_else(|e| panic!("old object is not valid JSON: {e}"));
    let Subject::Admission(mut request) = admission(Operation::Update, new) else {
        unreachable!("admission() returns an admission subject")
    };
    request.old_object = Some(old.to_owned());
    Subject::Admission(request)
}

/// A manifest document (JSON text; the host converts YAML before plugins see
/// it) found at `path`. The text is passed through unchecked, so tests can
/// also feed malformed documents.
pub fn manifest(path: &str, document: &str) -> Subject {
    Subject::Manifest(Manifest {
        path: path.to_owned(),
        document: document.to_owned(),
    })
}

/// A batch of inference spans.
pub fn traces(spans: impl IntoIterator<Item = InferenceSpan>) -> Subject {
    Subject::Traces(spans.into_iter().collect())
}

/// A successful one-second `chat` span of `service` calling `model`, starting
/// at 2024-01-01T00:00:00Z, with no tokens, GPU samples or attributes. Set the
/// fields a test needs:
///
/// ```
/// use gavel_sdk::testing::{gpu_sample, span, traces};
///
/// let mut s = span("chat-api", "llama-3-8b");
/// s.output_tokens = Some(512);
/// s.gpu_samples.push(gpu_sample("0", "NVIDIA-A100-SXM4-80GB", 93.0));
/// let subject = traces([s]);
/// ```
pub fn span(service: &str, model: &str) -> InferenceSpan {
    InferenceSpan {
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
        span_id: "00f067aa0ba902b7".to_owned(),
        parent_span_id: None,
        service: service.to_owned(),
        namespace: None,
        model: model.to_owned(),
        operation: "chat".to_owned(),
        start_unix_nano: SPAN_START,
        end_unix_nano: SPAN_START + 1_000_000_000,
        input_tokens: None,
        output_tokens: None,
        status: SpanStatus::Ok,
        gpu_samples: Vec::new(),
        attributes: Vec::new(),
    }
}

/// 2024-01-01T00:00:00Z in Unix nanoseconds.
const SPAN_START: u64 = 1_704_067_200_000_000_000;

/// A GPU sample taken at the start of a [`span`], at `utilization_percent`,
/// with 40 GiB of memory used and 300 W drawn.
pub fn gpu_sample(gpu: &str, model: &str, utilization_percent: f64) -> GpuSample {
    GpuSample {
        time_unix_nano: SPAN_START,
        gpu: gpu.to_owned(),
        model: model.to_owned(),
        mig_profile: None,
        utilization_percent,
        memory_used_bytes: 40 << 30,
        power_watts: 300.0,
    }
}

// ------------------------------------------------------------------ running

/// The plugin's metadata, as the host reads it when it loads the plugin.
pub fn metadata<P: Plugin>() -> PluginMetadata {
    crate::__private::metadata::<P>()
}

/// Check settings (JSON text) as the host does when it loads the plugin.
pub fn validate<P: Plugin>(settings: &str) -> Result<(), String> {
    crate::__private::validate_settings::<P>(settings.to_owned())
}

/// Validate `settings`, then evaluate `subject`. A validation failure becomes
/// [`Error::InvalidSettings`].
pub fn evaluate<P: Plugin>(subject: Subject, settings: &str) -> Outcome {
    let result = match validate::<P>(settings) {
        Ok(()) => crate::__private::evaluate::<P>(subject, settings),
        Err(message) => Err(Error::InvalidSettings(message)),
    };
    Outcome { case: None, result }
}

/// Evaluate and check against `expect`; `name` labels failure messages.
///
/// # Panics
///
/// When the outcome does not match, with a message showing the whole outcome.
#[track_caller]
pub fn check<P: Plugin>(name: &str, subject: Subject, settings: &str, expect: Expect) {
    let mut outcome = evaluate::<P>(subject, settings);
    outcome.case = Some(name.to_owned());
    outcome.assert(&expect);
}

/// What a plugin returned, with assertions. Each assertion returns `&Self` so
/// they chain.
#[derive(Debug, Clone)]
pub struct Outcome {
    case: Option<String>,
    result: Result<Verdict, Error>,
}

impl Outcome {
    /// The plugin's result.
    pub fn result(&self) -> &Result<Verdict, Error> {
        &self.result
    }

    /// The plugin's result, by value.
    pub fn into_result(self) -> Result<Verdict, Error> {
        self.result
    }

    /// The verdict.
    ///
    /// # Panics
    ///
    /// When the plugin returned an error.
    #[track_caller]
    pub fn verdict(&self) -> &Verdict {
        match &self.result {
            Ok(verdict) => verdict,
            Err(_) => self.fail("expected a verdict, got an error"),
        }
    }

    /// The error.
    ///
    /// # Panics
    ///
    /// When the plugin returned a verdict.
    #[track_caller]
    pub fn error(&self) -> &Error {
        match &self.result {
            Err(error) => error,
            Ok(_) => self.fail("expected an error, got a verdict"),
        }
    }

    /// Assert everything `expect` says.
    #[track_caller]
    pub fn assert(&self, expect: &Expect) -> &Self {
        if let Some(want) = &expect.error {
            return self.assert_error(want);
        }
        if let Some(decision) = expect.decision {
            self.assert_decision(decision);
        }
        if let Some(codes) = &expect.codes {
            let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
            self.assert_codes(&codes);
        }
        for m in &expect.metrics {
            let labels: Vec<(&str, &str)> = m
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            self.assert_metric_with_labels(&m.name, &labels, m.value, m.tolerance);
        }
        self
    }

    /// Assert the decision.
    #[track_caller]
    pub fn assert_decision(&self, decision: Decision) -> &Self {
        let got = self.verdict().decision;
        if got != decision {
            self.fail(&format!("expected decision {decision:?}, got {got:?}"));
        }
        self
    }

    /// Assert the finding codes, in any order, repeats counted.
    #[track_caller]
    pub fn assert_codes(&self, codes: &[&str]) -> &Self {
        let mut want = codes.to_vec();
        want.sort_unstable();
        let mut got: Vec<&str> = self
            .verdict()
            .findings
            .iter()
            .map(|f| f.code.as_str())
            .collect();
        got.sort_unstable();
        if got != want {
            self.fail(&format!("expected finding codes {want:?}, got {got:?}"));
        }
        self
    }

    /// Assert there is a finding with `code` and return the first one, to
    /// check its message, severity or path.
    #[track_caller]
    pub fn assert_finding(&self, code: &str) -> &Finding {
        match self.verdict().findings.iter().find(|f| f.code == code) {
            Some(finding) => finding,
            None => self.fail(&format!("expected a finding with code {code:?}")),
        }
    }

    /// Assert the metric `name` without labels is within `tolerance` of `value`.
    #[track_caller]
    pub fn assert_metric(&self, name: &str, value: f64, tolerance: f64) -> &Self {
        self.assert_metric_with_labels(name, &[], value, tolerance)
    }

    /// Assert the metric `name` with exactly `labels` (in any order) is within
    /// `tolerance` of `value`.
    #[track_caller]
    pub fn assert_metric_with_labels(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        value: f64,
        tolerance: f64,
    ) -> &Self {
        let mut want_labels = labels.to_vec();
        want_labels.sort_unstable();
        let found = self.verdict().metrics.iter().find(|m| {
            let mut labels: Vec<(&str, &str)> = m
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            labels.sort_unstable();
            m.name == name && labels == want_labels
        });
        match found {
            None => self.fail(&format!(
                "expected a metric {name:?} with labels {want_labels:?}"
            )),
            Some(m) if !within(m.value, value, tolerance) => self.fail(&format!(
                "expected metric {name:?} {want_labels:?} = {value} ± {tolerance}, got {}",
                m.value
            )),
            Some(_) => self,
        }
    }

    /// Assert the plugin returned an error whose message contains `text`
    /// (case-sensitive; the variant name counts, so `"InvalidSettings"` matches
    /// any [`Error::InvalidSettings`]).
    #[track_caller]
    pub fn assert_error(&self, text: &str) -> &Self {
        let got = format!("{:?}", self.error());
        if !got.contains(text) {
            self.fail(&format!("expected an error containing {text:?}, got {got}"));
        }
        self
    }

    #[track_caller]
    fn fail(&self, what: &str) -> ! {
        let mut message = String::new();
        if let Some(case) = &self.case {
            let _ = write!(message, "case `{case}`: ");
        }
        let _ = write!(message, "{what}\nthe plugin returned: {:#?}", self.result);
        panic!("{message}")
    }
}

/// What a case should produce, for [`check`] and [`Outcome::assert`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Expect {
    decision: Option<Decision>,
    codes: Option<Vec<String>>,
    metrics: Vec<ExpectedMetric>,
    error: Option<String>,
}

#[derive(Debug, Clone)]
struct ExpectedMetric {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    tolerance: f64,
}

impl Expect {
    /// Allow, with no findings.
    pub fn allow() -> Self {
        Self::decision(Decision::Allow).codes(&[])
    }

    /// Warn, with exactly these finding codes (in any order).
    pub fn warn(codes: &[&str]) -> Self {
        Self::decision(Decision::Warn).codes(codes)
    }

    /// Deny, with exactly these finding codes (in any order).
    pub fn deny(codes: &[&str]) -> Self {
        Self::decision(Decision::Deny).codes(codes)
    }

    /// This decision; findings are not checked unless [`Expect::codes`] is added.
    pub fn decision(decision: Decision) -> Self {
        Self {
            decision: Some(decision),
            ..Self::default()
        }
    }

    /// An error (for example from invalid settings) whose message contains
    /// `text`; see [`Outcome::assert_error`].
    pub fn error(text: &str) -> Self {
        Self {
            error: Some(text.to_owned()),
            ..Self::default()
        }
    }

    /// Exactly these finding codes, in any order.
    pub fn codes(mut self, codes: &[&str]) -> Self {
        self.codes = Some(codes.iter().map(|c| (*c).to_owned()).collect());
        self
    }

    /// A metric without labels within `tolerance` of `value`.
    pub fn metric(self, name: &str, value: f64, tolerance: f64) -> Self {
        self.metric_with_labels(name, &[], value, tolerance)
    }

    /// A metric with exactly `labels` within `tolerance` of `value`.
    pub fn metric_with_labels(
        mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: f64,
        tolerance: f64,
    ) -> Self {
        self.metrics.push(ExpectedMetric {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            value,
            tolerance,
        });
        self
    }
}

// ------------------------------------------------------------------ helpers

/// A JSON object being read into WIT types, with the path for messages.
struct Field<'a> {
    value: &'a Value,
    path: &'a str,
}

impl<'a> Field<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.value.get(name).filter(|v| !v.is_null())
    }

    #[track_caller]
    fn str(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| match v.as_str() {
            Some(s) => s.to_owned(),
            None => panic!("{}.{name}: expected a string, got {v}", self.path),
        })
    }

    #[track_caller]
    fn bool(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| {
            v.as_bool()
                .unwrap_or_else(|| panic!("{}.{name}: expected a boolean, got {v}", self.path))
        })
    }

    #[track_caller]
    fn strings(&self, name: &str) -> Vec<String> {
        let Some(v) = self.get(name) else {
            return Vec::new();
        };
        let items = v
            .as_array()
            .map(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>());
        match items.flatten() {
            Some(items) => items.into_iter().map(str::to_owned).collect(),
            None => panic!(
                "{}.{name}: expected an array of strings, got {v}",
                self.path
            ),
        }
    }

    #[track_caller]
    fn object(&self, name: &str) -> serde_json::Map<String, Value> {
        match self.get(name) {
            None => serde_json::Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(v) => panic!("{}.{name}: expected an object, got {v}", self.path),
        }
    }

    #[track_caller]
    fn child(&self, name: &'a str) -> Field<'a> {
        static EMPTY: Value = Value::Null;
        match self.get(name) {
            None => Field {
                value: &EMPTY,
                path: name,
            },
            Some(v @ Value::Object(_)) => Field {
                value: v,
                path: name,
            },
            Some(v) => panic!("{}.{name}: expected an object, got {v}", self.path),
        }
    }

    /// An embedded object, re-serialised: the host passes the original text,
    /// which serialises to the same JSON value.
    fn json(&self, name: &str) -> Option<String> {
        self.get(name).map(Value::to_string)
    }
}

/// Whether `got` is within `tolerance` of `want`; never for NaN.
fn within(got: f64, want: f64, tolerance: f64) -> bool {
    (got - want).abs() <= tolerance
}

/// Kubernetes' resource name for a lower-case kind, for the common cases.
fn plural(kind: &str) -> String {
    if kind.ends_with('s') || kind.ends_with('x') || kind.ends_with("ch") || kind.ends_with("sh") {
        format!("{kind}es")
    } else if let Some(stem) = kind
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'i', 'o', 'u']))
    {
        format!("{stem}ies")
    } else {
        format!("{kind}s")
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;
    use crate::prelude::*;

    /// Denies objects without a `team` label and counts labels; settings
    /// `{"min": n}` require at least n labels.
    struct Labels;

    #[derive(serde::Deserialize, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Settings {
        min: usize,
    }

    impl Plugin for Labels {
        type Settings = Settings;

        fn metadata() -> PluginMetadata {
            plugin_metadata!().build()
        }

        fn validate(settings: &Settings) -> Result<(), String> {
            match settings.min {
                0..=10 => Ok(()),
                n => Err(format!("min must be at most 10, got {n}")),
            }
        }

        fn evaluate(subject: Subject, settings: &Settings) -> Result<Verdict, Error> {
            let Some(object) = subject.parse_object()? else {
                return Ok(allow());
            };
            let count = object.labels().count();
            let mut verdict = VerdictBuilder::new();
            if object.label("team").is_none() {
                verdict.deny(finding("labels.team", "add a team label").path("/metadata/labels"));
            }
            if count < settings.min {
                verdict.warn(finding("labels.few", format!("{count} < {}", settings.min)));
            }
            Ok(verdict
                .metric("labels", count as f64)
                .metric_with_labels(
                    "labels_by_kind",
                    count as f64,
                    [("kind", object.kind().unwrap_or("?"))],
                )
                .build())
        }
    }

    const TEAM: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n", "labels": {"team": "a"}}}"#;
    const NONE: &str = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}"#;

    #[test]
    fn cases() {
        for (name, subject, settings, expect) in [
            (
                "team",
                admission(Operation::Create, TEAM),
                "",
                Expect::allow().metric("labels", 1.0, 0.0),
            ),
            (
                "no team",
                admission(Operation::Create, NONE),
                "null",
                Expect::deny(&["labels.team"]),
            ),
            (
                "few",
                manifest("p.yaml", TEAM),
                r#"{"min": 2}"#,
                Expect::warn(&["labels.few"]),
            ),
            (
                "both",
                manifest("p.yaml", NONE),
                r#"{"min": 2}"#,
                Expect::deny(&["labels.few", "labels.team"]),
            ),
            (
                "delete",
                admission(Operation::Delete, NONE),
                "",
                Expect::allow(),
            ),
            ("traces", traces([span("s", "m")]), "", Expect::allow()),
            (
                "settings type",
                manifest("p.yaml", TEAM),
                r#"{"min": "2"}"#,
                Expect::error("InvalidSettings"),
            ),
            (
                "settings check",
                manifest("p.yaml", TEAM),
                r#"{"min": 11}"#,
                Expect::error("min must be at most 10, got 11"),
            ),
            (
                "bad json",
                manifest("p.yaml", "{"),
                "",
                Expect::error("InvalidSubject"),
            ),
            (
                "labels",
                manifest("p.yaml", TEAM),
                "",
                Expect::decision(Decision::Allow).metric_with_labels(
                    "labels_by_kind",
                    &[("kind", "Pod")],
                    1.0,
                    0.0,
                ),
            ),
        ] {
            check::<Labels>(name, subject, settings, expect);
        }
    }

    #[test]
    fn outcome_accessors() {
        let outcome = evaluate::<Labels>(admission(Operation::Create, NONE), "");
        let finding = outcome.assert_finding("labels.team");
        assert_eq!(finding.path.as_deref(), Some("/metadata/labels"));
        outcome
            .assert_metric("labels", 0.4, 0.5)
            .assert_codes(&["labels.team"]);
        assert_eq!(validate::<Labels>(r#"{"min": 1}"#), Ok(()));
        assert!(
            validate::<Labels>(r#"{"mim": 1}"#)
                .unwrap_err()
                .contains("unknown field `mim`")
        );
    }

    /// The panic message of `f`.
    fn failure(f: impl FnOnce()) -> String {
        let err = catch_unwind(AssertUnwindSafe(f)).expect_err("expected the assertion to fail");
        err.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn failure_messages() {
        let check_fails = |expect: Expect, want: &str| {
            let got =
                failure(|| check::<Labels>("c", admission(Operation::Create, NONE), "", expect));
            assert!(
                got.starts_with(want),
                "message {got:?} does not start with {want:?}"
            );
            assert!(
                got.contains("the plugin returned: Ok("),
                "message {got:?} lacks the outcome"
            );
        };
        check_fails(
            Expect::allow(),
            "case `c`: expected decision Decision::Allow, got Decision::Deny",
        );
        check_fails(
            Expect::deny(&["x"]),
            r#"case `c`: expected finding codes ["x"], got ["labels.team"]"#,
        );
        check_fails(
            Expect::deny(&[]).metric("labels", 1.0, 0.5),
            "case `c`: expected finding codes [], got",
        );
        check_fails(
            Expect::decision(Decision::Deny).metric("labels", 1.0, 0.5),
            r#"case `c`: expected metric "labels" [] = 1 ± 0.5, got 0"#,
        );
        check_fails(
            Expect::decision(Decision::Deny).metric("nope", 1.0, 0.5),
            r#"case `c`: expected a metric "nope" with labels []"#,
        );
        check_fails(
            Expect::error("x"),
            "case `c`: expected an error, got a verdict",
        );
        let got = failure(|| check::<Labels>("e", manifest("p", TEAM), "3", Expect::allow()));
        assert!(
            got.starts_with("case `e`: expected a verdict, got an error"),
            "{got}"
        );
        let got = failure(|| check::<Labels>("e", manifest("p", TEAM), "3", Expect::error("nope")));
        assert!(got.starts_with(r#"case `e`: expected an error containing "nope", got Error::InvalidSettings("invalid settings: invalid type: integer"#), "{got}");
        let got = failure(|| {
            evaluate::<Labels>(manifest("p", TEAM), "").assert_finding("nope");
        });
        assert!(
            got.starts_with(r#"expected a finding with code "nope""#),
            "{got}"
        );
    }

    #[test]
    fn metric_tolerance() {
        assert!(within(1.0, 1.25, 0.25) && within(1.25, 1.0, 0.25) && within(0.0, 0.0, 0.0));
        assert!(
            !within(1.0, 1.5, 0.25) && !within(f64::NAN, 1.0, 1.0) && !within(1.0, 1.0, f64::NAN)
        );
    }

    #[test]
    fn admission_from_review() {
        let review = r#"{
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                "subResource": "scale",
                "name": "web", "namespace": "prod", "operation": "UPDATE",
                "userInfo": {"username": "alice", "uid": "u1", "groups": ["dev"], "extra": {"scopes": ["a", "b"]}},
                "object": {"kind": "Deployment", "metadata": {"name": "web"}},
                "oldObject": {"kind": "Deployment"},
                "dryRun": true
            }
        }"#;
        let Subject::Admission(r) = admission_review(review) else {
            unreachable!()
        };
        assert_eq!(r.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert_eq!(
            (
                r.kind.group.as_str(),
                r.kind.version.as_str(),
                r.kind.kind.as_str()
            ),
            ("apps", "v1", "Deployment")
        );
        assert_eq!(r.resource.resource, "deployments");
        assert_eq!(
            (
                r.sub_resource.as_deref(),
                r.name.as_deref(),
                r.namespace.as_deref()
            ),
            (Some("scale"), Some("web"), Some("prod"))
        );
        assert_eq!(r.operation, Operation::Update);
        assert_eq!(r.user_info.username, "alice");
        assert_eq!(r.user_info.groups, ["dev"]);
        assert_eq!(
            r.user_info.extra,
            [("scopes".to_owned(), vec!["a".to_owned(), "b".to_owned()])]
        );
        assert!(r.dry_run);
        assert_eq!(r.parse_object().unwrap().unwrap().name(), Some("web"));
        assert_eq!(
            r.parse_old_object().unwrap().unwrap().kind(),
            Some("Deployment")
        );

        // Without the envelope, and a DELETE with no object.
        let Subject::Admission(r) =
            admission_review(r#"{"uid": "u", "operation": "DELETE", "object": null}"#)
        else {
            unreachable!()
        };
        assert_eq!(
            (r.operation, r.object, r.dry_run),
            (Operation::Delete, None, false)
        );

        let got = failure(|| drop(admission_review(r#"{"operation": "PATCH"}"#)));
        assert!(got.contains(r#"request.operation: expected CREATE, UPDATE, DELETE or CONNECT, got Some("PATCH")"#), "{got}");
        let got = failure(|| {
            drop(admission_review(
                r#"{"operation": "CREATE", "userInfo": {"groups": [1]}}"#,
            ))
        });
        assert_eq!(
            got,
            "userInfo.groups: expected an array of strings, got [1]"
        );
    }

    #[test]
    fn admission_from_object() {
        let check = |kind: &str, api: &str, want: (&str, &str, &str)| {
            let object = format!(r#"{{"apiVersion": "{api}", "kind": "{kind}"}}"#);
            let Subject::Admission(r) = admission(Operation::Create, &object) else {
                unreachable!()
            };
            let got = (
                r.resource.group.as_str(),
                r.resource.version.as_str(),
                r.resource.resource.as_str(),
            );
            assert_eq!(got, want, "{object}");
            assert_eq!(r.kind.kind, kind);
        };
        check("Pod", "v1", ("", "v1", "pods"));
        check("Deployment", "apps/v1", ("apps", "v1", "deployments"));
        check(
            "Ingress",
            "networking.k8s.io/v1",
            ("networking.k8s.io", "v1", "ingresses"),
        );
        check(
            "NetworkPolicy",
            "networking.k8s.io/v1",
            ("networking.k8s.io", "v1", "networkpolicies"),
        );
        check(
            "Gateway",
            "gateway.networking.k8s.io/v1",
            ("gateway.networking.k8s.io", "v1", "gateways"),
        );

        let Subject::Admission(r) = admission(Operation::Create, TEAM) else {
            unreachable!()
        };
        assert_eq!(
            (r.name.as_deref(), r.namespace.as_deref()),
            (Some("p"), Some("n"))
        );
        assert_eq!((r.object.as_deref(), r.old_object), (Some(TEAM), None));
        let Subject::Admission(r) = admission(Operation::Delete, TEAM) else {
            unreachable!()
        };
        assert_eq!((r.object, r.old_object.as_deref()), (None, Some(TEAM)));
        let Subject::Admission(r) = admission_update(NONE, TEAM) else {
            unreachable!()
        };
        assert_eq!(
            (r.object.as_deref(), r.old_object.as_deref()),
            (Some(TEAM), Some(NONE))
        );
    }
}
