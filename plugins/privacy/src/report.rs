//! A verdict builder that keeps the number of findings bounded.
//!
//! The host fails a verdict with more findings than the policy set's
//! `limits.maxFindings` (256 by default) as `invalid-output`, and a window of
//! spans can hold thousands of matches. Past `maxFindings`, findings are
//! counted instead of listed, and one `privacy.findings-truncated` finding
//! says how many were left out; the decision is raised all the same.

use gavel_sdk::prelude::*;

/// The code of the finding that stands for the findings left out.
pub const TRUNCATED: &str = "privacy.findings-truncated";

/// Collects findings, metrics and actions into a [`Verdict`].
pub struct Report {
    verdict: VerdictBuilder,
    listed: usize,
    dropped: usize,
    max_findings: usize,
}

impl Report {
    /// A report that lists at most `max_findings` findings.
    pub fn new(max_findings: usize) -> Self {
        Self {
            verdict: VerdictBuilder::new(),
            listed: 0,
            dropped: 0,
            max_findings,
        }
    }

    /// Add a finding and raise the decision to at least `decision`.
    pub fn add(&mut self, decision: Decision, finding: FindingBuilder) {
        self.verdict.decision(decision);
        if self.listed < self.max_findings {
            self.verdict.finding(finding);
            self.listed += 1;
        } else {
            self.dropped += 1;
        }
    }

    /// Add a metric.
    pub fn metric<'a>(
        &mut self,
        name: &str,
        value: f64,
        labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        self.verdict.metric_with_labels(name, value, labels);
    }

    /// Recommend an action.
    pub fn action(&mut self, action: Action) {
        self.verdict.action(action);
    }

    /// Finish.
    pub fn build(mut self) -> Verdict {
        if self.dropped > 0 {
            let message = format!(
                "{} more findings were left out of this verdict: fix the ones listed and evaluate again, or raise maxFindings",
                self.dropped
            );
            self.verdict
                .finding(finding(TRUNCATED, message).severity(Severity::Info));
        }
        self.verdict.build()
    }
}
