//! Building verdicts, findings and actions.
//!
//! The decision of a verdict built with [`VerdictBuilder`] is the maximum
//! (allow < warn < deny) of what was asked for: [`VerdictBuilder::deny`] and
//! [`VerdictBuilder::warn`] add a finding and raise the decision,
//! [`VerdictBuilder::finding`] adds a finding without changing it, and
//! [`VerdictBuilder::decision`] raises it without a finding. A builder nobody
//! raised allows. Severity is independent of the decision: it says how serious
//! a finding is, while the decision says what the plugin wants done.

use crate::types::{
    Action, Alert, Decision, Finding, Metric, Rollback, ScaleDown, Severity, Verdict,
};

/// A verdict that allows, with nothing found.
pub fn allow() -> Verdict {
    VerdictBuilder::new().build()
}

/// A verdict that denies, with one [`Severity::High`] finding.
pub fn deny(code: impl Into<String>, message: impl Into<String>) -> Verdict {
    finding(code, message).severity(Severity::High).deny()
}

/// A verdict that warns, with one [`Severity::Medium`] finding.
pub fn warn(code: impl Into<String>, message: impl Into<String>) -> Verdict {
    finding(code, message).warn()
}

/// Start a finding: a stable `code` such as `cost.budget-exceeded` and a
/// message that says what to change. The severity is [`Severity::Medium`] and
/// there is no path until set.
pub fn finding(code: impl Into<String>, message: impl Into<String>) -> FindingBuilder {
    FindingBuilder {
        finding: Finding {
            code: code.into(),
            message: message.into(),
            severity: Severity::Medium,
            path: None,
        },
    }
}

/// Builds a [`Finding`]; start with [`finding`].
///
/// ```
/// use gavel_sdk::prelude::*;
///
/// let f: Finding = finding("image.latest", "pin the image to a digest")
///     .severity(Severity::Low)
///     .path("/spec/containers/0/image")
///     .into();
/// assert_eq!(f.path.as_deref(), Some("/spec/containers/0/image"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct FindingBuilder {
    finding: Finding,
}

impl FindingBuilder {
    /// Set the severity.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.finding.severity = severity;
        self
    }

    /// Set the location: a JSON pointer (RFC 6901) into the object, such as
    /// `/metadata/labels` or a [`Container::pointer`](crate::k8s::Container::pointer).
    pub fn path(mut self, pointer: impl Into<String>) -> Self {
        self.finding.path = Some(pointer.into());
        self
    }

    /// Finish.
    pub fn build(self) -> Finding {
        self.finding
    }

    /// A verdict that denies, with this one finding.
    pub fn deny(self) -> Verdict {
        VerdictBuilder::new().deny(self).build()
    }

    /// A verdict that warns, with this one finding.
    pub fn warn(self) -> Verdict {
        VerdictBuilder::new().warn(self).build()
    }
}

impl From<FindingBuilder> for Finding {
    fn from(builder: FindingBuilder) -> Self {
        builder.build()
    }
}

/// Builds a [`Verdict`]; the module documentation says how the decision is
/// derived.
///
/// Methods take `&mut self`, so the builder works both chained and in a loop:
///
/// ```
/// use gavel_sdk::prelude::*;
///
/// let images = ["nginx:latest", "registry.example/app@sha256:0123"];
/// let mut verdict = VerdictBuilder::new();
/// for (i, image) in images.iter().enumerate() {
///     if image.ends_with(":latest") {
///         verdict.warn(finding("image.latest", "pin the image").path(format!("/spec/containers/{i}/image")));
///     }
/// }
/// let verdict = verdict.metric("containers", images.len() as f64).build();
/// assert_eq!(verdict.decision, Decision::Warn);
/// assert_eq!(verdict.findings.len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct VerdictBuilder {
    verdict: Verdict,
}

impl Default for VerdictBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl VerdictBuilder {
    /// An empty builder: allow, nothing found, measured or recommended.
    pub fn new() -> Self {
        Self {
            verdict: Verdict {
                decision: Decision::Allow,
                findings: Vec::new(),
                metrics: Vec::new(),
                actions: Vec::new(),
            },
        }
    }

    /// Raise the decision to at least `decision`.
    pub fn decision(&mut self, decision: Decision) -> &mut Self {
        self.verdict.decision = self.verdict.decision.max(decision);
        self
    }

    /// Add a finding and raise the decision to at least deny.
    pub fn deny(&mut self, finding: impl Into<Finding>) -> &mut Self {
        self.finding(finding).decision(Decision::Deny)
    }

    /// Add a finding and raise the decision to at least warn.
    pub fn warn(&mut self, finding: impl Into<Finding>) -> &mut Self {
        self.finding(finding).decision(Decision::Warn)
    }

    /// Add a finding without changing the decision.
    pub fn finding(&mut self, finding: impl Into<Finding>) -> &mut Self {
        self.verdict.findings.push(finding.into());
        self
    }

    /// Add a metric without labels.
    pub fn metric(&mut self, name: impl Into<String>, value: f64) -> &mut Self {
        self.metric_with_labels(name, value, std::iter::empty::<(String, String)>())
    }

    /// Add a metric with labels that distinguish series, such as `("group", "b")`.
    pub fn metric_with_labels<K, V>(
        &mut self,
        name: impl Into<String>,
        value: f64,
        labels: impl IntoIterator<Item = (K, V)>,
    ) -> &mut Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.verdict.metrics.push(Metric {
            name: name.into(),
            value,
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        });
        self
    }

    /// Recommend an action, for example [`Action::alert`].
    pub fn action(&mut self, action: Action) -> &mut Self {
        self.verdict.actions.push(action);
        self
    }

    /// The decision so far.
    pub fn current_decision(&self) -> Decision {
        self.verdict.decision
    }

    /// Finish, leaving this builder empty.
    pub fn build(&mut self) -> Verdict {
        std::mem::take(self).verdict
    }
}

impl From<VerdictBuilder> for Verdict {
    fn from(builder: VerdictBuilder) -> Self {
        builder.verdict
    }
}

impl Verdict {
    /// Start a [`VerdictBuilder`].
    pub fn builder() -> VerdictBuilder {
        VerdictBuilder::new()
    }
}

impl Action {
    /// Recommend raising an alert.
    pub fn alert(severity: Severity, message: impl Into<String>) -> Self {
        Action::Alert(Alert {
            severity,
            message: message.into(),
        })
    }

    /// Recommend scaling `target` (for example `deployment/llm-serve`) to `replicas`.
    pub fn scale_down(target: impl Into<String>, replicas: u32, reason: impl Into<String>) -> Self {
        Action::ScaleDown(ScaleDown {
            target: target.into(),
            replicas,
            reason: reason.into(),
        })
    }

    /// Recommend rolling `target` back to `version`.
    pub fn rollback(
        target: impl Into<String>,
        version: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Action::RollbackToVersion(Rollback {
            target: target.into(),
            version: version.into(),
            reason: reason.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_is_the_maximum_asked_for() {
        let check = |build: fn(&mut VerdictBuilder), want: Decision| {
            let mut builder = VerdictBuilder::new();
            build(&mut builder);
            assert_eq!(builder.build().decision, want);
        };
        check(|_| {}, Decision::Allow);
        check(
            |b| {
                b.finding(finding("a", "a"));
            },
            Decision::Allow,
        );
        check(
            |b| {
                b.warn(finding("a", "a"));
            },
            Decision::Warn,
        );
        check(
            |b| {
                b.deny(finding("a", "a")).warn(finding("b", "b"));
            },
            Decision::Deny,
        );
        check(
            |b| {
                b.warn(finding("a", "a")).decision(Decision::Allow);
            },
            Decision::Warn,
        );
        check(
            |b| {
                b.decision(Decision::Deny).finding(finding("a", "a"));
            },
            Decision::Deny,
        );
    }

    #[test]
    fn shorthands() {
        let v = deny("x.code", "do y");
        assert_eq!(v.decision, Decision::Deny);
        assert_eq!(
            v.findings,
            [Finding {
                code: "x.code".into(),
                message: "do y".into(),
                severity: Severity::High,
                path: None,
            }]
        );
        let v = finding("x.code", "do y").path("/a").deny();
        assert_eq!(
            (v.decision, v.findings[0].path.as_deref()),
            (Decision::Deny, Some("/a"))
        );
        let v = warn("x.code", "do y");
        assert_eq!(
            (v.decision, v.findings[0].severity),
            (Decision::Warn, Severity::Medium)
        );
        assert_eq!(allow(), Verdict::builder().build());
        assert!(
            allow().findings.is_empty() && allow().metrics.is_empty() && allow().actions.is_empty()
        );
    }

    #[test]
    fn metrics_and_actions() {
        let v = Verdict::builder()
            .metric("hourly_cost", 12.5)
            .metric_with_labels("parity", 0.8, [("group", "b")])
            .action(Action::scale_down("deployment/llm", 1, "over budget"))
            .action(Action::alert(Severity::High, "over budget"))
            .action(Action::rollback("model/m", "v3", "drift"))
            .build();
        assert_eq!(v.decision, Decision::Allow);
        assert_eq!(
            v.metrics[0],
            Metric {
                name: "hourly_cost".into(),
                value: 12.5,
                labels: vec![]
            }
        );
        assert_eq!(v.metrics[1].labels, [("group".to_owned(), "b".to_owned())]);
        assert!(
            matches!(&v.actions[0], Action::ScaleDown(s) if s.replicas == 1 && s.target == "deployment/llm")
        );
        assert!(matches!(&v.actions[1], Action::Alert(a) if a.severity == Severity::High));
        assert!(matches!(&v.actions[2], Action::RollbackToVersion(r) if r.version == "v3"));
    }

    #[test]
    fn build_leaves_the_builder_empty() {
        let mut b = VerdictBuilder::new();
        b.deny(finding("a", "a"));
        assert_eq!(b.current_decision(), Decision::Deny);
        assert_eq!(b.build().findings.len(), 1);
        assert_eq!(b.build(), allow());
    }
}
