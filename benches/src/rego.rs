//! (c) The policy in Rego, evaluated by `regorus` (Microsoft's Rego
//! interpreter, the embeddable alternative to OPA in Rust).
//!
//! As an embedder uses it: one `Engine` with the policy and the settings
//! (`data.settings`) loaded once and reused. Per evaluation: parse the body
//! into a regorus value (`input`, the whole AdmissionReview, as OPA's
//! Kubernetes convention has it), evaluate `data.<package>.result`. Nothing is
//! isolated between evaluations beyond what regorus resets itself.

use anyhow::Context;

use crate::{Answer, Decision, Engine, Policy};

/// A prepared regorus engine.
pub struct Rego {
    engine: regorus::Engine,
    rule: String,
}

/// The Rego source of `policy`.
pub fn source(policy: Policy) -> &'static str {
    match policy {
        Policy::GpuLimits => include_str!("../policies/gpu-limits.rego"),
        Policy::Cost => include_str!("../policies/cost.rego"),
    }
}

impl Rego {
    /// Load the policy and its settings.
    pub fn new(policy: Policy) -> anyhow::Result<Self> {
        let mut engine = regorus::Engine::new();
        let package = engine
            .add_policy(format!("{}.rego", policy.name()), source(policy).to_owned())
            .with_context(|| format!("{policy}.rego does not compile"))?;
        let settings = regorus::Value::from_json_str(policy.settings())?;
        let mut data = regorus::Value::new_object();
        data.as_object_mut()?.insert("settings".into(), settings);
        engine.add_data(data)?;
        Ok(Rego {
            engine,
            rule: format!("{package}.result"),
        })
    }
}

impl Engine for Rego {
    fn label(&self) -> &'static str {
        "rego"
    }

    fn evaluate(&mut self, body: &[u8]) -> anyhow::Result<Answer> {
        let input = regorus::Value::from_json_str(std::str::from_utf8(body)?)?;
        self.engine.set_input(input);
        let result = self.engine.eval_rule(self.rule.clone())?;
        let decision = match result["decision"].as_string()?.as_ref() {
            "allow" => Decision::Allow,
            "warn" => Decision::Warn,
            "deny" => Decision::Deny,
            other => anyhow::bail!("unknown decision {other}"),
        };
        let codes = result["codes"]
            .as_set()?
            .iter()
            .map(|c| c.as_string().map(|s| s.to_string()))
            .collect::<anyhow::Result<_>>()?;
        let hourly_cost = match &result["hourly_cost"] {
            regorus::Value::Undefined => None,
            v => Some(v.as_f64()?),
        };
        Ok(Answer {
            decision,
            codes,
            hourly_cost,
        })
    }
}
