//! A plugin that attacks its host, for gavel's integration tests.
//!
//! Settings `{"attack": "<name>"}` choose one attack per evaluation; the
//! subject is ignored. The component is built twice: for
//! `wasm32-unknown-unknown` (no WASI imports; `hostile.wasm`) and for
//! `wasm32-wasip2` (std's WASI imports, which the host must lock down;
//! `hostile-wasip2.wasm`).
//!
//! Attacks the host must stop (each should end in a trap or a limit error):
//!
//! | attack           | what it does                                                           |
//! |------------------|------------------------------------------------------------------------|
//! | `infinite-loop`  | spins forever                                                          |
//! | `memory-bomb`    | allocates and touches 1 MiB blocks until allocation fails (abort: trap) |
//! | `deep-recursion` | recurses without bound (stack overflow, or out-of-bounds on the shadow stack) |
//! | `huge-verdict`   | returns 1,000,000 findings                                             |
//! | `panic`          | panics with `hostile plugin panicked on purpose` (logged, then trap)   |
//! | `log-flood`      | logs 100,000 lines at info level, then allows                          |
//!
//! Attacks that observe the sandbox return a `warn` verdict, one finding with
//! code `hostile.observed` per observation, whose message says exactly what
//! was seen, so a test can assert that access was refused and values are
//! deterministic:
//!
//! | attack      | finding messages                                                                  |
//! |-------------|-----------------------------------------------------------------------------------|
//! | `read-file` | `read-file: error: /etc/passwd: <error>` or `read-file: ok: /etc/passwd: <first 32 chars>`; then `read-file: error: /: <error>` or `read-file: ok: /: <n> entries` |
//! | `env`       | `env: vars=<n> args=<n>`, or `env: unavailable` where the target has no environment |
//! | `clock`     | `clock: wall=<ns since the Unix epoch> mono_delta=<ns>`, or `clock: unavailable` where the target has no clock |
//! | `random`    | `random: getrandom: <32 hex digits>` (or `random: getrandom: error: <error>`, or `random: getrandom: unavailable`), then `random: hashmap: <32 hex digits>` (std's `RandomState` seed, hashed) |
//! | `socket`    | `socket: error: <error>` or `socket: ok: connected to 127.0.0.1:80`               |
//! | `show-input` | `show-input: <the admission object or manifest document, as received; for traces, each span's id and attributes (Debug)>` |
//!
//! `none` (the default) allows. Unknown attacks are invalid settings.

use std::hint::black_box;

use gavel_sdk::prelude::*;

#[derive(serde::Deserialize, Default, Clone, Copy, Debug)]
#[serde(rename_all = "kebab-case")]
enum Attack {
    #[default]
    None,
    InfiniteLoop,
    MemoryBomb,
    DeepRecursion,
    HugeVerdict,
    Panic,
    ReadFile,
    Env,
    Clock,
    Random,
    Socket,
    LogFlood,
    Sleep,
    ShowInput,
}

#[derive(serde::Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    attack: Attack,
    /// MiB of non-zero memory `validate-settings` fills and keeps: a plugin
    /// whose configured state is too large to snapshot.
    #[serde(rename = "keepMiB")]
    keep_mib: u32,
}

const SETTINGS_SCHEMA: &str = r#"{"type":"object","properties":{"attack":{"enum":["none","infinite-loop","memory-bomb","deep-recursion","huge-verdict","panic","read-file","env","clock","random","socket","log-flood","sleep","show-input"]},"keepMiB":{"type":"integer","minimum":0}},"additionalProperties":false}"#;

struct Hostile;

impl Plugin for Hostile {
    type Settings = Settings;

    fn metadata() -> PluginMetadata {
        MetadataBuilder::new("hostile", env!("CARGO_PKG_VERSION"))
            .description(env!("CARGO_PKG_DESCRIPTION"))
            .subjects([
                SubjectKind::Admission,
                SubjectKind::Manifest,
                SubjectKind::Traces,
            ])
            .settings_schema(SETTINGS_SCHEMA)
            .build()
    }

    fn validate(settings: &Settings) -> Result<(), String> {
        let kept = vec![0xa5_u8; settings.keep_mib as usize * 1024 * 1024];
        std::mem::forget(kept);
        Ok(())
    }

    fn evaluate(subject: Subject, settings: &Settings) -> Result<Verdict, Error> {
        Ok(match settings.attack {
            Attack::None => allow(),
            Attack::InfiniteLoop => infinite_loop(),
            Attack::MemoryBomb => memory_bomb(),
            Attack::DeepRecursion => {
                let depth = recurse(0);
                deny(
                    "hostile.survived",
                    format!("recursion ended at depth {depth}"),
                )
            }
            Attack::HugeVerdict => huge_verdict(),
            Attack::Panic => panic!("hostile plugin panicked on purpose"),
            Attack::LogFlood => {
                for _ in 0..100_000 {
                    gavel_sdk::log::info("hostile plugin flooding the log");
                }
                allow()
            }
            Attack::ReadFile => observed(&read_file()),
            Attack::Env => observed(&[env()]),
            Attack::Clock => observed(&[clock()]),
            Attack::Random => observed(&[random_bytes(), hashmap_seed()]),
            Attack::Socket => observed(&[socket()]),
            Attack::ShowInput => {
                let text = match subject {
                    Subject::Admission(r) => r.object.unwrap_or_default(),
                    Subject::Manifest(m) => m.document,
                    Subject::Traces(spans) => spans
                        .iter()
                        .map(|s| format!("{}: {:?}", s.span_id, s.attributes))
                        .collect::<Vec<_>>()
                        .join("; "),
                };
                observed(&[format!("show-input: {text}")])
            }
            // On wasip2 this blocks inside a host call, where neither fuel nor
            // epochs reach: gavel must refuse it rather than wait an hour.
            Attack::Sleep => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                observed(&["sleep: woke up after an hour".to_owned()])
            }
        })
    }
}

export_plugin!(Hostile);

fn observed(messages: &[String]) -> Verdict {
    let mut verdict = VerdictBuilder::new();
    for message in messages {
        verdict.warn(finding("hostile.observed", message).severity(Severity::Info));
    }
    verdict.build()
}

fn infinite_loop() -> ! {
    let mut i = 0_u64;
    loop {
        // black_box keeps the loop from being proven side-effect free.
        i = black_box(i.wrapping_add(1));
    }
}

fn memory_bomb() -> ! {
    let mut blocks = Vec::new();
    loop {
        let mut block = vec![0_u8; 1 << 20];
        // Write to every page so the memory is really used, not just reserved.
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        blocks.push(black_box(block));
    }
}

/// Recurse until the stack runs out. Only scalars pass through `black_box`,
/// so frames stay small and the engine's stack limit is what stops it.
fn recurse(depth: u64) -> u64 {
    // Never true, but the optimiser cannot know: keeps the recursion
    // conditional (no unconditional-recursion lint, no infinite-loop rewrite).
    if black_box(depth) == u64::MAX {
        return depth;
    }
    // black_box on the result keeps the call out of tail position.
    black_box(recurse(depth + 1))
}

fn huge_verdict() -> Verdict {
    let mut verdict = VerdictBuilder::new();
    for i in 0..1_000_000 {
        verdict.warn(finding("hostile.huge", format!("finding {i}")));
    }
    verdict.build()
}

fn read_file() -> Vec<String> {
    let passwd = match std::fs::read_to_string("/etc/passwd") {
        Ok(text) => {
            let head: String = text.chars().take(32).collect();
            format!("read-file: ok: /etc/passwd: {head}")
        }
        Err(e) => format!("read-file: error: /etc/passwd: {e}"),
    };
    let root = match std::fs::read_dir("/") {
        Ok(entries) => format!("read-file: ok: /: {} entries", entries.count()),
        Err(e) => format!("read-file: error: /: {e}"),
    };
    vec![passwd, root]
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn env() -> String {
    // The `_os` variants: `vars()` panics on a non-UTF-8 variable.
    let vars = std::env::vars_os().count();
    let args = std::env::args_os().count();
    format!("env: vars={vars} args={args}")
}

/// std panics on this target ("not supported on this platform"): there is
/// no environment to observe.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn env() -> String {
    "env: unavailable".to_owned()
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn clock() -> String {
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    let wall = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_nanos().to_string(),
        Err(before) => format!("-{}", before.duration().as_nanos()),
    };
    let start = Instant::now();
    for i in 0..1000_u32 {
        black_box(i);
    }
    let mono_delta = start.elapsed().as_nanos();
    format!("clock: wall={wall} mono_delta={mono_delta}")
}

/// std panics on this target ("time not implemented on this platform"):
/// there is no clock to observe, so say so instead of trapping.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn clock() -> String {
    "clock: unavailable".to_owned()
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn random_bytes() -> String {
    let mut bytes = [0_u8; 16];
    match getrandom::fill(&mut bytes) {
        Ok(()) => format!("random: getrandom: {}", hex(&bytes)),
        Err(e) => format!("random: getrandom: error: {e}"),
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn random_bytes() -> String {
    "random: getrandom: unavailable".to_owned()
}

/// std seeds `RandomState` from the platform (on wasip2, a WASI random
/// import); hashing two fixed values shows the seed without revealing it.
fn hashmap_seed() -> String {
    use std::hash::BuildHasher;

    let state = std::collections::hash_map::RandomState::new();
    let bytes = [
        state.hash_one(0_u8).to_be_bytes(),
        state.hash_one(1_u8).to_be_bytes(),
    ]
    .concat();
    format!("random: hashmap: {}", hex(&bytes))
}

fn socket() -> String {
    match std::net::TcpStream::connect("127.0.0.1:80") {
        Ok(_) => "socket: ok: connected to 127.0.0.1:80".to_owned(),
        Err(e) => format!("socket: error: {e}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
