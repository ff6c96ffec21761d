//! Pre-initialisation: plugins configured with their settings once per
//! policy-set version (`Runtime::preinitialize`), and evaluations that start
//! from that snapshot.

use std::sync::Arc;

use gavel_core::digest::sha256_hex;
use gavel_core::{Outcome, Subject};
use gavel_host::{Plugin, RuntimeBuilder};

use crate::{admission, limits, read, runtime};

/// A pod with both cost labels whose one container asks for `gpus` GPUs.
fn gpu_pod(gpus: u32) -> Subject {
    admission(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "llm", "labels": {"team": "nlp", "cost-center": "cc-7"}},
        "spec": {"containers": [{
            "name": "main",
            "image": "vllm/vllm-openai:v0.6.0",
            "resources": {
                "requests": {"nvidia.com/gpu": gpus.to_string()},
                "limits": {"nvidia.com/gpu": gpus.to_string()}
            }
        }]}
    }))
}

/// `path`'s plugin as compiled, and pre-initialised with `settings`.
fn both(path: &str, settings: &str) -> (Arc<Plugin>, Arc<Plugin>) {
    let bytes = read(path);
    let plain = runtime().load_plugin(path, &bytes).unwrap();
    plain.validate_settings(settings, &limits()).unwrap();
    let configured = runtime().preinitialize(&plain, &bytes, settings, &limits());
    (plain, configured)
}

fn decision(plugin: &Plugin, subject: &Subject, settings: &str) -> (String, u64) {
    let e = plugin.evaluate(subject, settings, &limits());
    match &e.outcome {
        Outcome::Verdict(v) => (v.decision.to_string(), e.fuel_consumed),
        other => panic!("{}: expected a verdict, got {other:?}", plugin.origin()),
    }
}

#[test]
fn every_bundled_plugin_is_preinitialised() {
    for (name, path) in gavel_artifacts::PLUGINS {
        let settings = "null";
        let (plain, configured) = both(path, settings);
        assert!(plain.preinitialized_with().is_none(), "{name}");
        assert_eq!(
            configured.preinitialized_with(),
            Some(sha256_hex(settings.as_bytes()).as_str()),
            "{name}: pre-initialisation fell back (see the warning in the test output)"
        );
        // What the policy set pins and audit records name is the component
        // as written, not the snapshot.
        assert_eq!(configured.sha256(), plain.sha256(), "{name}");
        assert_eq!(configured.metadata(), plain.metadata(), "{name}");
        assert_eq!(configured.uses_wasi(), plain.uses_wasi(), "{name}");
        // The same answers, logs included, on every fixture.
        for subject in fixtures() {
            let a = plain.evaluate(&subject, settings, &limits());
            let b = configured.evaluate(&subject, settings, &limits());
            assert_eq!(
                format!("{:?}", b.outcome),
                format!("{:?}", a.outcome),
                "{name}"
            );
            assert_eq!(b.logs, a.logs, "{name}");
        }
    }
}

/// The admission fixtures, as subjects.
fn fixtures() -> Vec<Subject> {
    let mut paths: Vec<_> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/admission"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    paths.sort();
    assert!(paths.len() >= 5, "fixtures missing: {paths:?}");
    paths
        .iter()
        .map(|p| {
            let review = gavel_core::AdmissionReview::from_json(&std::fs::read(p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            Subject::Admission(review.request)
        })
        .collect()
}

#[test]
fn evaluations_skip_the_settings_the_snapshot_holds() {
    let settings = include_str!("../../benches/policies/cost.settings.json");
    let settings = serde_json::from_str::<serde_json::Value>(settings)
        .unwrap()
        .to_string();
    let (plain, configured) = both(gavel_artifacts::COST, &settings);
    let pod = gpu_pod(1);
    let (plain_decision, plain_fuel) = decision(&plain, &pod, &settings);
    let (configured_decision, fuel) = decision(&configured, &pod, &settings);
    assert_eq!(configured_decision, plain_decision);
    // Fuel is deterministic: the snapshot's evaluation does strictly less
    // work, because it does not parse the settings.
    assert!(
        fuel < plain_fuel,
        "pre-initialised {fuel} fuel, as compiled {plain_fuel}"
    );
    // Evaluating twice from the snapshot does exactly the same work: every
    // evaluation starts from the same state.
    assert_eq!(decision(&configured, &pod, &settings).1, fuel);
}

#[test]
fn other_settings_are_parsed_not_the_snapshot_reused() {
    let at_most_four = r#"{"maxGpusPerContainer":4}"#;
    let at_most_one = r#"{"maxGpusPerContainer":1}"#;
    let (_, configured) = both(gavel_artifacts::GPU_LIMITS, at_most_four);
    assert!(configured.preinitialized_with().is_some());
    let pod = gpu_pod(2);
    assert_eq!(decision(&configured, &pod, at_most_four).0, "allow");
    assert_eq!(decision(&configured, &pod, at_most_one).0, "deny");
    // Same meaning, other text: parsed too, same answer.
    assert_eq!(
        decision(&configured, &pod, r#"{ "maxGpusPerContainer": 1 }"#).0,
        "deny"
    );
}

#[test]
fn same_plugin_and_settings_are_preinitialised_once() {
    let settings = r#"{"maxGpusPerContainer":3}"#;
    let (_, a) = both(gavel_artifacts::GPU_LIMITS, settings);
    let (_, b) = both(gavel_artifacts::GPU_LIMITS, settings);
    assert!(Arc::ptr_eq(&a, &b));
    let (_, c) = both(gavel_artifacts::GPU_LIMITS, r#"{"maxGpusPerContainer":2}"#);
    assert!(!Arc::ptr_eq(&a, &c));
    // Pre-initialising a pre-initialised plugin changes nothing.
    let again =
        runtime().preinitialize(&a, &read(gavel_artifacts::GPU_LIMITS), settings, &limits());
    assert!(Arc::ptr_eq(&a, &again));
}

#[test]
fn plugins_that_cannot_be_snapshotted_run_as_compiled() {
    // A WASI guest: its configuration could read clocks or randomness.
    let (plain, configured) = both(gavel_artifacts::HOSTILE_WASIP2, "null");
    assert!(Arc::ptr_eq(&plain, &configured));
    // Settings it rejects: nothing to snapshot.
    let bytes = read(gavel_artifacts::GPU_LIMITS);
    let plain = runtime().load_plugin("gpu-limits", &bytes).unwrap();
    let rejected = r#"{"maxGpusPerContainer":"many"}"#;
    let same = runtime().preinitialize(&plain, &bytes, rejected, &limits());
    assert!(Arc::ptr_eq(&plain, &same));
    // A plugin that fills more memory while configuring itself than gavel
    // snapshots: it still loads and evaluates, configuring itself each time.
    let bloated = r#"{"keepMiB":20}"#;
    let (plain, configured) = both(gavel_artifacts::HOSTILE, bloated);
    assert!(Arc::ptr_eq(&plain, &configured));
    assert_eq!(decision(&configured, &gpu_pod(1), bloated).0, "allow");
    // A snapshot is every evaluation's starting memory: one that fills more
    // than half of the entry's memory grant is not taken.
    let half = r#"{"keepMiB":6}"#;
    let bytes = read(gavel_artifacts::HOSTILE);
    let plain = runtime().load_plugin("hostile", &bytes).unwrap();
    let tight = gavel_core::Limits {
        memory_mib: 10,
        ..limits()
    };
    let same = runtime().preinitialize(&plain, &bytes, half, &tight);
    assert!(Arc::ptr_eq(&plain, &same));
    // Bytes that are not the plugin's are refused, not snapshotted.
    let other = read(gavel_artifacts::REQUIRED_LABELS);
    let same = runtime().preinitialize(&plain, &other, "null", &limits());
    assert!(Arc::ptr_eq(&plain, &same));
    // Under the bound it is snapshotted, kept memory and all.
    let (_, configured) = both(gavel_artifacts::HOSTILE, r#"{"keepMiB":2}"#);
    assert!(configured.preinitialized_with().is_some());
    assert_eq!(
        decision(&configured, &gpu_pod(1), r#"{"keepMiB":2}"#).0,
        "allow"
    );
}

#[test]
fn preinitialisation_can_be_turned_off() {
    let rt = RuntimeBuilder::new()
        .max_concurrent_instances(4)
        .preinitialize(false)
        .build()
        .unwrap();
    let bytes = read(gavel_artifacts::GPU_LIMITS);
    let plain = rt.load_plugin("gpu-limits", &bytes).unwrap();
    let same = rt.preinitialize(&plain, &bytes, "null", &limits());
    assert!(Arc::ptr_eq(&plain, &same));
}

#[test]
fn snapshots_are_kept_in_the_compile_cache() {
    let dir = std::env::temp_dir().join(format!("gavel-preinit-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = read(gavel_artifacts::GPU_LIMITS);
    let settings = r#"{"labels":["team"]}"#;
    let mut written = Vec::new();
    for round in 0..2 {
        // A new runtime each round: the second loads both from disk.
        let rt = RuntimeBuilder::new()
            .max_concurrent_instances(4)
            .cache_dir(&dir)
            .build()
            .unwrap();
        let plain = rt.load_plugin("gpu-limits", &bytes).unwrap();
        let configured = rt.preinitialize(&plain, &bytes, settings, &limits());
        assert!(configured.preinitialized_with().is_some(), "round {round}");
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path(), e.metadata().unwrap().modified().unwrap())
            })
            .collect();
        entries.sort();
        assert_eq!(
            entries.len(),
            2,
            "the plugin and its snapshot, round {round}"
        );
        if round == 0 {
            written = entries;
        } else {
            assert_eq!(entries, written, "round 1 loads, it does not rewrite");
        }
        let pod = admission(crate::pod(serde_json::json!({"team": "nlp"})));
        assert_eq!(
            decision(&configured, &pod, settings).0,
            "allow",
            "round {round}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn entries_that_differ_only_in_memory_get_their_own_snapshots() {
    let yaml = r#"
apiVersion: gavel.dev/v1alpha1
kind: PolicySet
name: preinit
plugins:
  - name: roomy
    module: builtin:gpu-limits
    settings: { maxGpusPerContainer: 2 }
    limits: { memoryMiB: 64 }
  - name: tight
    module: builtin:gpu-limits
    settings: { maxGpusPerContainer: 2 }
    limits: { memoryMiB: 8 }
"#;
    let mut builtins = gavel_host::Builtins::default();
    builtins.insert("gpu-limits", read(gavel_artifacts::GPU_LIMITS));
    let set = gavel_core::PolicySet::from_yaml(yaml).unwrap();
    let set = runtime().load_policy_set(set, None, &builtins).unwrap();
    let [roomy, tight] = set.plugins() else {
        panic!("two plugins")
    };
    assert!(roomy.plugin.preinitialized_with().is_some());
    assert!(tight.plugin.preinitialized_with().is_some());
    assert!(!Arc::ptr_eq(&roomy.plugin, &tight.plugin));
    assert_eq!(set.evaluate(&gpu_pod(2)).decision.to_string(), "allow");
    assert_eq!(set.evaluate(&gpu_pod(3)).decision.to_string(), "deny");
}
