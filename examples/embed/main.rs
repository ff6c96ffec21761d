//! Run with: `cargo run -p gavel-example-embed -- [POLICY_SET_DIR] [ADMISSION_REVIEW.json]`
//!
//! Embeds gavel-host: loads a policy-set directory (default
//! `examples/policy-set`, whose `builtin:` plugins are gavel's bundled ones,
//! built from source) and evaluates an AdmissionReview (default: a GPU Pod
//! without cost-allocation labels, which is denied).

use gavel_core::{AdmissionReview, Subject};
use gavel_host::{Builtins, RuntimeBuilder};

fn main() -> anyhow::Result<()> {
    let here = env!("CARGO_MANIFEST_DIR");
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| format!("{here}/../policy-set"));
    let review = args
        .next()
        .unwrap_or_else(|| format!("{here}/pod-review.json"));

    let runtime = RuntimeBuilder::new().build()?;
    let mut builtins = Builtins::default();
    for (name, path) in gavel_artifacts::PLUGINS {
        builtins.insert(*name, std::fs::read(path)?);
    }
    let set = runtime.load_policy_set_dir(&dir, &builtins)?;

    let review = AdmissionReview::from_json(&std::fs::read(&review)?)?;
    let composed = set.evaluate(&Subject::Admission(review.request));

    println!("{}", serde_json::to_string_pretty(&composed)?);
    println!("decision: {}", composed.decision);
    for reason in composed.denials.iter().chain(&composed.warnings) {
        println!("  {reason}");
    }
    Ok(())
}
