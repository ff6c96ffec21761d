//! (d) The policy as CEL, evaluated by the `cel` crate (cel-rust, the
//! maintained successor of `cel-interpreter`).
//!
//! A policy is written the way a Kubernetes ValidatingAdmissionPolicy is
//! (`policies/*.cel.yaml`): `matchConditions`, then named `variables`, then
//! `validations`, each a CEL expression over `object`, `request` and
//! `params` (the settings). Kubernetes' CEL environment adds libraries that
//! CEL itself lacks; the two the policies need are registered here with the
//! same meaning: `quantity(q)` (Kubernetes writes `quantity(q).asApproximateFloat()`;
//! a number is taken as it is) and `list.sum()`. cel-rust has no
//! `variables.` prefix, so each variable is bound under its own name, in
//! order, as Kubernetes evaluates them.
//!
//! Per evaluation: parse the body with serde_json, convert `request` and
//! `object` to CEL values, evaluate the match conditions, variables and
//! validations in a child scope of a context prepared once.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use cel::extractors::This;
use cel::{Context, Env, ExecutionError, Program, Value};
use serde::Deserialize;

use crate::{Answer, Decision, Engine, Policy};

/// A policy file: a ValidatingAdmissionPolicy's `spec`, reduced to what
/// the benchmark needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyFile {
    /// All must be true for the request to be judged.
    #[serde(default)]
    pub match_conditions: Vec<Named>,
    /// Evaluated in order; each may use the ones before it.
    #[serde(default)]
    pub variables: Vec<Named>,
    /// Each false expression is a finding.
    pub validations: Vec<Validation>,
    /// The variable that holds the hourly price, when the policy has one.
    #[serde(default)]
    pub hourly_cost: Option<String>,
}

/// A named expression.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Named {
    /// Its name.
    pub name: String,
    /// CEL.
    pub expression: String,
}

/// One rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    /// True when the request passes.
    pub expression: String,
    /// The finding code when it does not.
    pub code: String,
    /// What a failure does. Kubernetes sets this per binding
    /// (`validationActions`); here it is per rule.
    pub action: Action,
}

/// What a failed validation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Action {
    /// Refuse the request.
    Deny,
    /// Admit it with a warning.
    Warn,
    /// Record only.
    Audit,
}

/// The CEL source of `policy`.
pub fn source(policy: Policy) -> &'static str {
    match policy {
        Policy::GpuLimits => include_str!("../policies/gpu-limits.cel.yaml"),
        Policy::Cost => include_str!("../policies/cost.cel.yaml"),
    }
}

/// A compiled policy and the context it runs in.
pub struct Cel {
    root: Context<'static, 'static>,
    conditions: Vec<Program>,
    variables: Vec<(String, Program)>,
    validations: Vec<(Program, String, Action)>,
    hourly_cost: Option<String>,
}

impl Cel {
    /// Compile `policy` and bind its settings as `params`.
    pub fn new(policy: Policy) -> anyhow::Result<Self> {
        let file: PolicyFile = serde_yaml_ng::from_str(source(policy))
            .with_context(|| format!("{policy}.cel.yaml"))?;
        let mut env = Env::stdlib();
        cel::extensions::lists(&mut env).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        cel::extensions::strings(&mut env).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let env = Arc::new(env);
        let compile = |what: &str, src: &str| {
            env.compile(src)
                .map_err(|e| anyhow::anyhow!("{policy}.cel.yaml: {what}: {e}"))
        };
        let conditions = file
            .match_conditions
            .iter()
            .map(|c| compile(&c.name, &c.expression))
            .collect::<anyhow::Result<_>>()?;
        let variables = file
            .variables
            .iter()
            .map(|v| Ok((v.name.clone(), compile(&v.name, &v.expression)?)))
            .collect::<anyhow::Result<_>>()?;
        let validations = file
            .validations
            .iter()
            .map(|v| Ok((compile(&v.code, &v.expression)?, v.code.clone(), v.action)))
            .collect::<anyhow::Result<_>>()?;

        let mut root = Context::with_env(env.clone());
        root.add_function("quantity", quantity)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        root.add_function("sum", sum)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        root.add_function("max", cel::functions::max)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let params: serde_json::Value = serde_json::from_str(policy.settings())?;
        root.add_variable_from_value("params", cel::to_value(&params)?);
        Ok(Cel {
            root,
            conditions,
            variables,
            validations,
            hourly_cost: file.hourly_cost,
        })
    }
}

impl Engine for Cel {
    fn label(&self) -> &'static str {
        "cel"
    }

    fn evaluate(&mut self, body: &[u8]) -> anyhow::Result<Answer> {
        let mut review: serde_json::Value = serde_json::from_slice(body)?;
        let mut request = review
            .get_mut("request")
            .map(serde_json::Value::take)
            .context("no request")?;
        let (object, old_object) = match request.as_object_mut() {
            Some(r) => (r.remove("object"), r.remove("oldObject")),
            None => bail!("request is not an object"),
        };
        let mut ctx = self.root.new_inner_scope();
        ctx.add_variable_from_value("request", cel::to_value(&request)?);
        let null = serde_json::Value::Null;
        ctx.add_variable_from_value("object", cel::to_value(object.as_ref().unwrap_or(&null))?);
        ctx.add_variable_from_value(
            "oldObject",
            cel::to_value(old_object.as_ref().unwrap_or(&null))?,
        );
        let run = |ctx: &Context<'_, '_>, program: &Program, what: &str| {
            program
                .execute(ctx)
                .map_err(|e| anyhow::anyhow!("{what}: {e}"))
        };
        for condition in &self.conditions {
            if run(&ctx, condition, "match condition")? != Value::Bool(true) {
                return Ok(Answer::from_codes(BTreeSet::new(), &[], &[], None));
            }
        }
        let mut hourly_cost = None;
        for (name, program) in &self.variables {
            let value = run(&ctx, program, name)?;
            if self.hourly_cost.as_ref() == Some(name) {
                hourly_cost = Some(number(&value).context("hourly cost is not a number")?);
            }
            ctx.add_variable_from_value(name.clone(), value);
        }
        let mut codes = BTreeSet::new();
        let mut decision = Decision::Allow;
        for (program, code, action) in &self.validations {
            match run(&ctx, program, code)? {
                Value::Bool(true) => {}
                Value::Bool(false) => {
                    codes.insert(code.clone());
                    decision = decision.max(match action {
                        Action::Deny => Decision::Deny,
                        Action::Warn => Decision::Warn,
                        Action::Audit => Decision::Allow,
                    });
                }
                other => bail!("{code}: not a bool: {other:?}"),
            }
        }
        Ok(Answer {
            decision,
            codes,
            hourly_cost,
        })
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Kubernetes' `list.sum()`, as a double.
fn sum(This(list): This<Arc<Vec<Value>>>) -> Result<Value, ExecutionError> {
    list.iter()
        .map(|v| number(v).ok_or_else(|| ExecutionError::function_error("sum", "not a number")))
        .sum::<Result<f64, _>>()
        .map(Value::Float)
}

/// Kubernetes' `quantity(q).asApproximateFloat()`: a resource quantity
/// (`500m`, `4Gi`, `20G`, `1e3`) as a double; a number as it is.
fn quantity(q: Value) -> Result<Value, ExecutionError> {
    let parsed = match &q {
        Value::String(s) => parse_quantity(s),
        other => number(other),
    };
    parsed.map(Value::Float).ok_or_else(|| {
        ExecutionError::function_error("quantity", format!("invalid quantity {q:?}"))
    })
}

/// Parse a Kubernetes quantity: sign, decimal number, one suffix.
pub fn parse_quantity(s: &str) -> Option<f64> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(end);
    if number.is_empty() || number.matches('.').count() > 1 {
        return None;
    }
    let binary = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(shift) = binary {
        return Some(number.parse::<f64>().ok()? * f64::from(2u32).powi(shift));
    }
    let exponent: i32 = match suffix {
        "" => 0,
        "n" => -9,
        "u" => -6,
        "m" => -3,
        "k" => 3,
        "M" => 6,
        "G" => 9,
        "T" => 12,
        "P" => 15,
        "E" => 18,
        e if e.starts_with(['e', 'E']) => e[1..].parse().ok()?,
        _ => return None,
    };
    // Through the decimal text, so that 100m is the double nearest 0.1.
    format!("{number}e{exponent}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_quantity;

    #[test]
    fn quantities() {
        for (text, want) in [
            ("1", Some(1.0)),
            ("100m", Some(0.1)),
            ("4Gi", Some(4.0 * 1024.0 * 1024.0 * 1024.0)),
            ("20G", Some(20e9)),
            ("1e3", Some(1000.0)),
            ("1.5", Some(1.5)),
            ("2GB", None),
            ("", None),
            ("Gi", None),
        ] {
            assert_eq!(parse_quantity(text), want, "{text}");
        }
    }
}
