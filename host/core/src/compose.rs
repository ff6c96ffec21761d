//! Composition: every plugin's outcome in, one decision out.
//!
//! **Architecture Invariant:** this is the only place where a verdict or a
//! failure turns into an effect on the decision. The rules, in order:
//!
//! 1. A plugin that was skipped (does not receive this subject) has no effect.
//! 2. A failure counts as `deny` under `fail-closed` and as `warn` under
//!    `fail-open`: a failure is never silent.
//! 3. An `advisory` plugin's `deny` (including a fail-closed failure) becomes `warn`.
//! 4. Mode `warn` turns `deny` into `warn`; mode `audit` removes the effect
//!    (the outcome is still recorded).
//! 5. The decision is the strictest effect (`allow < warn < deny`); no
//!    plugins, or only skipped ones, allow.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::outcome::{Failure, Outcome};
use crate::policy::{Authority, FailurePolicy, Mode};
use crate::verdict::{Decision, Verdict};

/// The parts of a plugin's grant that decide what its outcome may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Effect {
    /// Mode.
    pub mode: Mode,
    /// Authority.
    pub authority: Authority,
    /// Failure policy.
    pub failure_policy: FailurePolicy,
}

/// The effect of one outcome under one grant; `None` means no effect.
pub fn effect(grant: Effect, outcome: &Outcome) -> Option<Decision> {
    let raw = match outcome {
        Outcome::Skipped => return None,
        Outcome::Verdict(v) => v.decision,
        Outcome::Failed(_) => match grant.failure_policy {
            FailurePolicy::FailClosed => Decision::Deny,
            FailurePolicy::FailOpen => Decision::Warn,
        },
    };
    let capped = match grant.authority {
        Authority::Deny => raw,
        Authority::Advisory => raw.min(Decision::Warn),
    };
    match grant.mode {
        Mode::Enforce => Some(capped),
        Mode::Warn => Some(capped.min(Decision::Warn)),
        Mode::Audit => None,
    }
}

/// One plugin's part in a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginReport {
    /// Plugin name in the policy set.
    pub name: String,
    /// Its grant.
    pub grant: Effect,
    /// What it returned.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What that did to the decision (`None`: nothing, as in audit mode).
    pub effect: Option<Decision>,
    /// How long it took, including instantiation.
    #[serde(with = "micros")]
    pub duration: Duration,
}

/// The composed result of evaluating one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Composed {
    /// The final decision.
    pub decision: Decision,
    /// Every plugin's outcome and effect, in policy-set order.
    pub plugins: Vec<PluginReport>,
    /// Why the decision is `deny`: one line per denying finding or failure.
    pub denials: Vec<String>,
    /// Warnings to show the user: one line per warning finding or failure.
    pub warnings: Vec<String>,
}

/// Compose reports (whose `effect` is recomputed here) into a decision.
pub fn compose(reports: impl IntoIterator<Item = PluginReport>) -> Composed {
    let mut composed = Composed {
        decision: Decision::Allow,
        plugins: Vec::new(),
        denials: Vec::new(),
        warnings: Vec::new(),
    };
    for mut report in reports {
        report.effect = effect(report.grant, &report.outcome);
        if let Some(effect) = report.effect {
            composed.decision = composed.decision.max(effect);
            match effect {
                Decision::Allow => {}
                Decision::Deny => explain(&report, effect, &mut composed.denials),
                Decision::Warn => explain(&report, effect, &mut composed.warnings),
            }
        }
        composed.plugins.push(report);
    }
    composed
}

fn explain(report: &PluginReport, effect: Decision, lines: &mut Vec<String>) {
    let name = &report.name;
    match &report.outcome {
        Outcome::Skipped => {}
        Outcome::Failed(Failure { kind, message }) => lines.push(match effect {
            Decision::Deny => format!(
                "{name}: plugin failed ({kind}: {message}); denied because it is fail-closed"
            ),
            _ => format!("{name}: plugin failed ({kind}: {message})"),
        }),
        Outcome::Verdict(Verdict {
            decision, findings, ..
        }) => {
            let note = if *decision > effect {
                " (not enforced)"
            } else {
                ""
            };
            let before = lines.len();
            lines.extend(
                findings
                    .iter()
                    .map(|f| format!("{name}: {}: {}{note}", f.code, f.message)),
            );
            if lines.len() == before {
                lines.push(format!("{name}: {decision}{note}"));
            }
        }
    }
}

mod micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::FailureKind;
    use crate::verdict::{Finding, Severity};
    use Authority::{Advisory, Deny as MayDeny};
    use Decision::{Allow, Deny, Warn};
    use FailurePolicy::{FailClosed, FailOpen};
    use Mode::{Audit, Enforce, Warn as WarnMode};

    #[derive(Clone, Copy, Debug)]
    enum O {
        A,
        W,
        D,
        Fail,
        Skip,
    }

    fn outcome(o: O) -> Outcome {
        let verdict = |decision| {
            Outcome::Verdict(Verdict {
                decision,
                findings: vec![Finding {
                    code: "t.code".into(),
                    message: "msg".into(),
                    severity: Severity::High,
                    path: None,
                }],
                metrics: vec![],
                actions: vec![],
            })
        };
        match o {
            O::A => verdict(Allow),
            O::W => verdict(Warn),
            O::D => verdict(Deny),
            O::Fail => Outcome::Failed(Failure::new(FailureKind::FuelExhausted, "out of fuel")),
            O::Skip => Outcome::Skipped,
        }
    }

    /// Every combination of mode × authority × failure policy × outcome.
    #[test]
    fn effect_table_is_exhaustive() {
        #[rustfmt::skip]
        let table: &[(Mode, Authority, FailurePolicy, [Option<Decision>; 5])] = &[
            //                                  A            W            D            Fail         Skip
            (Enforce,  MayDeny,  FailClosed, [Some(Allow), Some(Warn), Some(Deny), Some(Deny), None]),
            (Enforce,  MayDeny,  FailOpen,   [Some(Allow), Some(Warn), Some(Deny), Some(Warn), None]),
            (Enforce,  Advisory, FailClosed, [Some(Allow), Some(Warn), Some(Warn), Some(Warn), None]),
            (Enforce,  Advisory, FailOpen,   [Some(Allow), Some(Warn), Some(Warn), Some(Warn), None]),
            (WarnMode, MayDeny,  FailClosed, [Some(Allow), Some(Warn), Some(Warn), Some(Warn), None]),
            (WarnMode, MayDeny,  FailOpen,   [Some(Allow), Some(Warn), Some(Warn), Some(Warn), None]),
            (WarnMode, Advisory, FailClosed, [Some(Allow), Some(Warn), Some(Warn), Some(Warn), None]),
            (WarnMode, Advisory, FailOpen,   [Some(Allow), Some(Warn), Some(Warn), Some(Warn), None]),
            (Audit,    MayDeny,  FailClosed, [None,        None,       None,       None,       None]),
            (Audit,    MayDeny,  FailOpen,   [None,        None,       None,       None,       None]),
            (Audit,    Advisory, FailClosed, [None,        None,       None,       None,       None]),
            (Audit,    Advisory, FailOpen,   [None,        None,       None,       None,       None]),
        ];
        assert_eq!(
            table.len(),
            12,
            "3 modes × 2 authorities × 2 failure policies"
        );
        for &(mode, authority, failure_policy, expected) in table {
            let grant = Effect {
                mode,
                authority,
                failure_policy,
            };
            for (o, want) in [O::A, O::W, O::D, O::Fail, O::Skip]
                .into_iter()
                .zip(expected)
            {
                assert_eq!(effect(grant, &outcome(o)), want, "{grant:?} {o:?}");
            }
        }
    }

    fn report(name: &str, grant: Effect, o: O) -> PluginReport {
        PluginReport {
            name: name.into(),
            grant,
            outcome: outcome(o),
            effect: None,
            duration: Duration::from_micros(7),
        }
    }

    #[track_caller]
    fn check(plugins: &[(Effect, O)], decision: Decision, denials: usize, warnings: usize) {
        let composed = compose(
            plugins
                .iter()
                .enumerate()
                .map(|(i, (g, o))| report(&format!("p{i}"), *g, *o)),
        );
        assert_eq!(composed.decision, decision, "{plugins:?}");
        assert_eq!(
            (composed.denials.len(), composed.warnings.len()),
            (denials, warnings),
            "{composed:#?}"
        );
        assert_eq!(
            composed.plugins.len(),
            plugins.len(),
            "every plugin is reported"
        );
    }

    #[test]
    fn strictest_effect_wins() {
        let e = Effect::default();
        let audit = Effect { mode: Audit, ..e };
        let advisory = Effect {
            authority: Advisory,
            ..e
        };
        let open = Effect {
            failure_policy: FailOpen,
            ..e
        };
        check(&[], Allow, 0, 0);
        check(&[(e, O::Skip)], Allow, 0, 0);
        check(&[(e, O::A), (e, O::A)], Allow, 0, 0);
        check(&[(e, O::A), (e, O::W)], Warn, 0, 1);
        check(&[(e, O::W), (e, O::D)], Deny, 1, 1);
        check(&[(e, O::D), (e, O::Skip), (e, O::A)], Deny, 1, 0);
        check(&[(audit, O::D), (e, O::A)], Allow, 0, 0);
        check(&[(audit, O::Fail)], Allow, 0, 0);
        check(&[(advisory, O::D), (e, O::A)], Warn, 0, 1);
        check(&[(open, O::Fail), (e, O::A)], Warn, 0, 1);
        check(&[(e, O::Fail), (open, O::Fail)], Deny, 1, 1);
        check(&[(advisory, O::D), (e, O::D)], Deny, 1, 1);
    }

    #[test]
    fn messages_name_plugin_and_finding() {
        let e = Effect::default();
        let advisory = Effect {
            authority: Advisory,
            ..e
        };
        let c = compose([
            report("labels", e, O::D),
            report("cost", advisory, O::D),
            report("bias", e, O::Fail),
        ]);
        assert_eq!(
            c.denials,
            [
                "labels: t.code: msg",
                "bias: plugin failed (fuel-exhausted: out of fuel); denied because it is fail-closed"
            ]
        );
        assert_eq!(c.warnings, ["cost: t.code: msg (not enforced)"]);
        assert_eq!(c.plugins[1].effect, Some(Warn));
    }

    #[test]
    fn verdict_without_findings_still_explains() {
        let mut r = report("quiet", Effect::default(), O::D);
        if let Outcome::Verdict(v) = &mut r.outcome {
            v.findings.clear();
        }
        assert_eq!(compose([r]).denials, ["quiet: deny"]);
    }

    #[test]
    fn report_serialises_with_duration_in_micros() {
        let json = serde_json::to_value(report("p", Effect::default(), O::Fail)).unwrap();
        assert_eq!(json["duration"], 7);
        assert_eq!(json["outcome"], "failed");
        assert_eq!(json["kind"], "fuel-exhausted");
        assert_eq!(json["grant"]["failurePolicy"], "fail-closed");
    }
}
