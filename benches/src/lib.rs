//! # gavel-bench: gavel's benchmarks (issue #7)
//!
//! Four benchmarks, one binary each, every one printing its numbers next to
//! a baseline measured in the same run:
//!
//! 1. `compare`: one policy four ways, per evaluation (below);
//! 2. `load`: `gavel serve`'s webhook end to end under closed- and
//!    open-loop load, against a floor webhook ([`admission`], [`load`]);
//! 3. `ingest`: `/v1/traces` span throughput and window-close latency,
//!    against decoding and mapping in-process ([`ingest`], [`prom`]);
//! 4. `startup`: spawn to ready, cold and warm compile cache, against
//!    `gavel --version`.
//!
//! Benchmarks 2–4 drive the release `gavel` binary as a child process
//! ([`daemon`]: free port, pinning, `/readyz`, RSS from `/proc`) over HTTP
//! ([`client`]).
//!
//! ## Benchmark 1: one policy four ways
//!
//! The per-evaluation cost of one admission policy
//! written four ways and run on the same AdmissionReview bodies:
//!
//! - (a) [`native`]: plain Rust in the host process, the floor;
//! - (b) [`gavel`]: the same check as a gavel plugin through `gavel-host`, with
//!   a fresh isolated instance per evaluation (the product's guarantee);
//! - (c) [`rego`]: the policy in Rego, evaluated by the `regorus` crate;
//! - (d) [`cel`]: the policy as CEL expressions in the shape of a Kubernetes
//!   ValidatingAdmissionPolicy, evaluated by the `cel` crate.
//!
//! Two policies ([`Policy`]): `gpu-limits` (simple: GPU limits and a GPU cap
//! per container, required labels) and `cost` (realistic: the cost plugin's
//! pricing and budgets). Three inputs ([`fixtures`]): a small Pod, a
//! Deployment with several containers and a large InferenceService.
//!
//! Every engine takes the raw request body and returns an [`Answer`]: the
//! decision, the finding codes and, for `cost`, the hourly price. The engines
//! must agree on every input before anything is measured
//! ([`check_agreement`]): a benchmark of wrong answers is worthless.
//!
//! Where to start: the `compare` binary (`src/bin/compare.rs`) prints the
//! table; [`engines`] builds the four engines of a policy; `policies/` holds
//! the Rego, the CEL and the settings every engine shares.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{Context, bail};
pub use gavel_core::Decision;

pub mod admission;
pub mod cel;
pub mod client;
pub mod daemon;
pub mod fixtures;
pub mod gavel;
pub mod ingest;
pub mod load;
pub mod measure;
pub mod native;
pub mod prom;
pub mod rego;

/// A bench binary's exit: the error and its causes on stderr, status 2.
pub fn exit(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// What an engine decided about one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// allow, warn or deny.
    pub decision: Decision,
    /// Distinct finding codes, sorted.
    pub codes: BTreeSet<String>,
    /// The workload's hourly price in USD (the `cost` policy only).
    pub hourly_cost: Option<f64>,
}

impl Answer {
    /// An answer from `codes`, of which those in `deny` deny, those in
    /// `warn` warn, and the rest have no effect on the decision.
    pub fn from_codes(
        codes: BTreeSet<String>,
        deny: &[&str],
        warn: &[&str],
        hourly_cost: Option<f64>,
    ) -> Answer {
        let has = |set: &[&str]| codes.iter().any(|c| set.contains(&c.as_str()));
        let decision = if has(deny) {
            Decision::Deny
        } else if has(warn) {
            Decision::Warn
        } else {
            Decision::Allow
        };
        Answer {
            decision,
            codes,
            hourly_cost,
        }
    }

    /// Whether `other` is the same answer, hourly prices within a relative
    /// 1e-9 (engines add floating-point terms in different orders).
    pub fn agrees_with(&self, other: &Answer) -> bool {
        let cost = match (self.hourly_cost, other.hourly_cost) {
            (None, None) => true,
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
            _ => false,
        };
        self.decision == other.decision && self.codes == other.codes && cost
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codes: Vec<&str> = self.codes.iter().map(String::as_str).collect();
        write!(f, "{} [{}]", self.decision, codes.join(", "))?;
        if let Some(cost) = self.hourly_cost {
            write!(f, " {cost:.4} USD/h")?;
        }
        Ok(())
    }
}

/// A policy of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Simple: every container requesting `nvidia.com/gpu` sets it in limits,
    /// at most N GPUs per container, labels `team` and `cost-center`
    /// (`plugins/gpu-limits`).
    GpuLimits,
    /// Realistic: the cost plugin's pricing of GPU, CPU and memory requests,
    /// budgets and allocation labels (`plugins/cost`).
    Cost,
}

impl Policy {
    /// Both policies, simple first.
    pub const ALL: [Policy; 2] = [Policy::GpuLimits, Policy::Cost];

    /// The plugin's name (its directory in `plugins/`).
    pub fn name(self) -> &'static str {
        match self {
            Policy::GpuLimits => "gpu-limits",
            Policy::Cost => "cost",
        }
    }

    /// The settings every engine gets: the plugin's settings JSON, the Rego
    /// `data.settings` and the CEL `params`.
    pub fn settings(self) -> &'static str {
        match self {
            Policy::GpuLimits => include_str!("../policies/gpu-limits.settings.json"),
            Policy::Cost => include_str!("../policies/cost.settings.json"),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One way of evaluating a policy: takes an AdmissionReview body, answers.
pub trait Engine {
    /// A short label for tables: `native`, `gavel`, `rego`, `cel`.
    fn label(&self) -> &'static str;

    /// Judge one AdmissionReview body (JSON), from bytes to answer.
    fn evaluate(&mut self, body: &[u8]) -> anyhow::Result<Answer>;
}

/// The four engines of `policy`, in table order: native, gavel, rego, cel.
pub fn engines(policy: Policy) -> anyhow::Result<Vec<Box<dyn Engine>>> {
    Ok(vec![
        native::engine(policy)?,
        Box::new(gavel::Gavel::new(policy)?),
        Box::new(rego::Rego::new(policy)?),
        Box::new(cel::Cel::new(policy)?),
    ])
}

/// Evaluate every input with every engine and fail unless all engines give
/// the same answer on each input. Returns the answers, one per input.
pub fn check_agreement(
    policy: Policy,
    engines: &mut [Box<dyn Engine>],
    inputs: &[fixtures::Input],
) -> anyhow::Result<Vec<Answer>> {
    let mut answers = Vec::new();
    for input in inputs {
        let mut first: Option<(&'static str, Answer)> = None;
        for engine in engines.iter_mut() {
            let answer = engine
                .evaluate(&input.body)
                .with_context(|| format!("{policy} / {} / {}", input.name, engine.label()))?;
            match &first {
                None => first = Some((engine.label(), answer)),
                Some((label, expected)) if !expected.agrees_with(&answer) => bail!(
                    "{policy} / {}: {label} says {expected}, but {} says {answer}",
                    input.name,
                    engine.label()
                ),
                Some(_) => {}
            }
        }
        if let Some((_, answer)) = first {
            answers.push(answer);
        }
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decisions the fixtures were written to produce, so that a change
    /// that makes every engine wrong the same way is caught too.
    #[test]
    fn engines_agree_on_every_fixture() {
        let inputs = fixtures::load().unwrap();
        let expected = [
            (
                Policy::GpuLimits,
                [
                    (Decision::Allow, vec![]),
                    (Decision::Deny, vec!["gpu.too-many"]),
                    (Decision::Deny, vec!["labels.missing"]),
                ],
            ),
            (
                Policy::Cost,
                [
                    (Decision::Allow, vec![]),
                    (Decision::Deny, vec!["cost.budget-exceeded"]),
                    (Decision::Warn, vec!["cost.missing-allocation-labels"]),
                ],
            ),
        ];
        for (policy, want) in expected {
            let mut engines = engines(policy).unwrap();
            let answers = check_agreement(policy, &mut engines, &inputs).unwrap();
            for ((input, answer), (decision, codes)) in inputs.iter().zip(&answers).zip(want) {
                assert_eq!(answer.decision, decision, "{policy} / {}", input.name);
                let codes: BTreeSet<String> = codes.into_iter().map(String::from).collect();
                assert_eq!(answer.codes, codes, "{policy} / {}", input.name);
            }
        }
    }

    #[test]
    fn answers_compare_prices_with_a_tolerance() {
        let answer = |cost| Answer::from_codes(BTreeSet::new(), &[], &[], cost);
        assert!(answer(Some(1.0)).agrees_with(&answer(Some(1.0 + 1e-12))));
        assert!(!answer(Some(1.0)).agrees_with(&answer(Some(1.001))));
        assert!(!answer(Some(1.0)).agrees_with(&answer(None)));
    }
}
