//! Hostile plugins: each attack ends in the right failure kind, within its
//! deadline plus a margin, and the host keeps evaluating correctly after.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gavel_core::{Decision, FailureKind, Limits, Outcome};
use gavel_host::{Evaluation, Plugin};

use crate::{admission, expect_verdict, limits, pod, read, runtime};

fn hostile(path: &str) -> Arc<Plugin> {
    runtime()
        .load_plugin(path, &read(path))
        .expect("hostile fixture loads")
}

/// Both builds: WASI-free (the SDK fast path) and wasm32-wasip2 (locked-down WASI).
fn builds() -> [Arc<Plugin>; 2] {
    [
        hostile(gavel_artifacts::HOSTILE),
        hostile(gavel_artifacts::HOSTILE_WASIP2),
    ]
}

fn attack(plugin: &Plugin, name: &str, limits: &Limits) -> Evaluation {
    let settings = serde_json::json!({ "attack": name }).to_string();
    plugin.evaluate(&admission(pod(serde_json::json!({}))), &settings, limits)
}

/// After any attack, a well-behaved plugin on the same runtime still works.
fn host_still_works() {
    let labels = runtime()
        .load_plugin("required-labels", &read(gavel_artifacts::REQUIRED_LABELS))
        .unwrap();
    let e = labels.evaluate(
        &admission(pod(serde_json::json!({}))),
        r#"{"labels":["team"]}"#,
        &limits(),
    );
    assert_eq!(expect_verdict(&e.outcome).decision, Decision::Deny);
    let e = labels.evaluate(
        &admission(pod(serde_json::json!({"team": "ml"}))),
        r#"{"labels":["team"]}"#,
        &limits(),
    );
    assert_eq!(expect_verdict(&e.outcome).decision, Decision::Allow);
}

#[track_caller]
fn expect_failure(e: &Evaluation, kind: FailureKind) -> &str {
    match &e.outcome {
        Outcome::Failed(f) if f.kind == kind => &f.message,
        other => panic!(
            "expected a {kind} failure, got {other:?} (logs: {:?})",
            e.logs
        ),
    }
}

/// Deadlines are checked every epoch tick (1 ms); this margin only guards
/// against a loaded CI machine and is not a performance assertion.
const MARGIN: Duration = Duration::from_secs(2);

#[test]
fn infinite_loop_hits_the_deadline() {
    for plugin in builds() {
        let l = Limits {
            timeout_ms: 50,
            fuel: u64::MAX / 2,
            ..limits()
        };
        let start = Instant::now();
        let e = attack(&plugin, "infinite-loop", &l);
        let message = expect_failure(&e, FailureKind::Deadline);
        assert!(message.contains("50 ms deadline"), "{message}");
        assert!(
            start.elapsed() < Duration::from_millis(50) + MARGIN,
            "took {:?}",
            start.elapsed()
        );
        host_still_works();
    }
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    for plugin in builds() {
        let l = Limits {
            timeout_ms: 30_000,
            fuel: 5_000_000,
            ..limits()
        };
        let e = attack(&plugin, "infinite-loop", &l);
        expect_failure(&e, FailureKind::FuelExhausted);
        assert_eq!(e.fuel_consumed, 5_000_000);
        host_still_works();
    }
}

#[test]
fn without_fuel_the_deadline_still_stops_a_loop() {
    let runtime = gavel_host::RuntimeBuilder::new()
        .max_concurrent_instances(4)
        .fuel(false)
        .build()
        .unwrap();
    let path = gavel_artifacts::HOSTILE;
    let plugin = runtime.load_plugin(path, &read(path)).unwrap();
    let l = Limits {
        timeout_ms: 50,
        fuel: 1_000,
        ..limits()
    };
    // A fuel grant that would stop the loop at once is not enforced.
    let e = attack(&plugin, "infinite-loop", &l);
    expect_failure(&e, FailureKind::Deadline);
    assert_eq!(e.fuel_consumed, 0);
    let e = attack(&plugin, "none", &l);
    assert_eq!(expect_verdict(&e.outcome).decision, Decision::Allow);
}

#[test]
fn memory_bomb_hits_the_memory_ceiling() {
    for plugin in builds() {
        let l = Limits {
            memory_mib: 16,
            ..limits()
        };
        let e = attack(&plugin, "memory-bomb", &l);
        let message = expect_failure(&e, FailureKind::MemoryLimit);
        assert!(message.contains("16 MiB"), "{message}");
        host_still_works();
    }
}

#[test]
fn deep_recursion_traps() {
    for plugin in builds() {
        let e = attack(&plugin, "deep-recursion", &limits());
        let message = expect_failure(&e, FailureKind::Trap);
        assert!(message.contains("stack"), "{message}");
        host_still_works();
    }
}

#[test]
fn panic_traps_with_its_message() {
    for plugin in builds() {
        let e = attack(&plugin, "panic", &limits());
        let message = expect_failure(&e, FailureKind::Trap);
        assert!(
            message.contains("hostile plugin panicked on purpose"),
            "{message}"
        );
        host_still_works();
    }
}

#[test]
fn huge_verdict_is_invalid_output() {
    for plugin in builds() {
        // Time enough to build a million findings: the limit under test is the output grant.
        let l = Limits {
            memory_mib: 512,
            timeout_ms: 20_000,
            fuel: u64::MAX / 2,
            ..limits()
        };
        let e = attack(&plugin, "huge-verdict", &l);
        let message = expect_failure(&e, FailureKind::InvalidOutput);
        assert!(
            message.contains("more data than its output grant"),
            "{message}"
        );
        host_still_works();
    }
}

#[test]
fn huge_verdict_under_a_small_grant_hits_memory() {
    let [plugin, _] = builds();
    let l = Limits {
        memory_mib: 8,
        ..limits()
    };
    let e = attack(&plugin, "huge-verdict", &l);
    expect_failure(&e, FailureKind::MemoryLimit);
    host_still_works();
}

#[test]
fn log_flood_is_bounded() {
    for plugin in builds() {
        // Time enough for 100,000 host calls on a loaded machine: the limit
        // under test is the log budget.
        let l = Limits {
            max_log_bytes: 4096,
            timeout_ms: 20_000,
            fuel: u64::MAX / 2,
            ..limits()
        };
        let e = attack(&plugin, "log-flood", &l);
        expect_verdict(&e.outcome);
        let kept: usize = e.logs.iter().map(|l| l.message.len()).sum();
        assert!(kept <= 4096, "kept {kept} bytes");
        assert!(e.dropped_logs > 0, "the flood must be counted");
        host_still_works();
    }
}

/// What an observing attack saw, from its `hostile.observed` finding.
fn observed(e: &Evaluation) -> String {
    let v = expect_verdict(&e.outcome);
    assert_eq!(v.decision, Decision::Warn);
    v.findings
        .iter()
        .find(|f| f.code == "hostile.observed")
        .map(|f| f.message.clone())
        .unwrap_or_else(|| panic!("no observation in {v:?}"))
}

fn wasip2() -> Arc<Plugin> {
    let plugin = hostile(gavel_artifacts::HOSTILE_WASIP2);
    assert!(plugin.uses_wasi(), "the wasip2 build imports WASI");
    plugin
}

#[test]
fn files_cannot_be_read() {
    let seen = observed(&attack(&wasip2(), "read-file", &limits()));
    assert!(seen.starts_with("read-file: error"), "{seen}");
    assert!(!seen.contains("root:"), "{seen}");
}

#[test]
fn environment_and_arguments_are_empty() {
    assert_eq!(
        observed(&attack(&wasip2(), "env", &limits())),
        "env: vars=0 args=0"
    );
}

#[test]
fn sockets_cannot_be_opened() {
    let seen = observed(&attack(&wasip2(), "socket", &limits()));
    assert!(seen.starts_with("socket: error"), "{seen}");
}

#[test]
fn clocks_are_deterministic() {
    let plugin = wasip2();
    let first = observed(&attack(&plugin, "clock", &limits()));
    let second = observed(&attack(&plugin, "clock", &limits()));
    assert_eq!(first, second);
    let wall = gavel_host::FIXED_WALL_CLOCK_SECS * 1_000_000_000;
    assert!(
        first.starts_with(&format!("clock: wall={wall} ")),
        "{first}"
    );
}

#[test]
fn random_is_deterministic() {
    let plugin = wasip2();
    let first = observed(&attack(&plugin, "random", &limits()));
    let second = observed(&attack(&plugin, "random", &limits()));
    assert_eq!(first, second);
    assert!(first.starts_with("random: "), "{first}");
}

#[test]
fn concurrent_attacks_do_not_disturb_each_other() {
    let [pure, wasi] = builds();
    std::thread::scope(|s| {
        let loops = s.spawn(|| {
            let l = Limits {
                timeout_ms: 100,
                fuel: u64::MAX / 2,
                ..limits()
            };
            attack(&pure, "infinite-loop", &l)
        });
        let bombs = s.spawn(|| {
            attack(
                &wasi,
                "memory-bomb",
                &Limits {
                    memory_mib: 16,
                    ..limits()
                },
            )
        });
        for _ in 0..20 {
            host_still_works();
        }
        expect_failure(&loops.join().unwrap(), FailureKind::Deadline);
        expect_failure(&bombs.join().unwrap(), FailureKind::MemoryLimit);
    });
}

#[test]
fn sleeping_is_refused_not_waited_for() {
    // Blocked in a host call, a guest is reached by neither fuel nor epochs:
    // the clock subscriptions trap instead (the deadline here is 30 s; the
    // attack sleeps an hour).
    let start = Instant::now();
    let l = Limits {
        timeout_ms: 30_000,
        ..limits()
    };
    let e = attack(&wasip2(), "sleep", &l);
    let message = expect_failure(&e, FailureKind::Trap);
    assert!(message.contains("may not sleep or wait"), "{message}");
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "took {:?}",
        start.elapsed()
    );
    host_still_works();
}
