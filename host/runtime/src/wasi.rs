//! The WASI p2 context a plugin gets when its toolchain imports WASI:
//! nothing to reach, nothing that varies.
//!
//! No preopened directories, no environment, no arguments, no sockets, no
//! name lookups, empty stdin; stdout and stderr go to bounded buffers that
//! end up in the evaluation's log. Clocks and randomness are deterministic so
//! the same plugin on the same input gives the same verdict, which is what
//! makes audit replay meaningful.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::component::Linker;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx};

use crate::store::{StoreState, WasiState};

/// The wall clock every plugin sees: 2024-01-01T00:00:00Z.
pub const FIXED_WALL_CLOCK_SECS: u64 = 1_704_067_200;
/// How far the monotonic clock advances each time it is read, nanoseconds.
pub const MONOTONIC_STEP_NANOS: u64 = 1_000;
/// Seed of the deterministic random generators.
const RANDOM_SEED: u64 = 0x6761_7665_6c00_0001;

struct FixedWallClock;

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(FIXED_WALL_CLOCK_SECS)
    }
}

/// Starts at zero and advances a fixed step per read, so elapsed-time loops
/// in a guest terminate and measure the same every run.
#[derive(Default)]
struct SteppingClock(AtomicU64);

impl HostMonotonicClock for SteppingClock {
    fn resolution(&self) -> u64 {
        MONOTONIC_STEP_NANOS
    }

    fn now(&self) -> u64 {
        self.0.fetch_add(MONOTONIC_STEP_NANOS, Ordering::Relaxed)
    }
}

/// Build the locked-down WASI state for one evaluation.
pub(crate) fn locked_down(max_output_bytes: usize) -> WasiState {
    let stdout = MemoryOutputPipe::new(max_output_bytes);
    let stderr = MemoryOutputPipe::new(max_output_bytes);
    let ctx: WasiCtx = WasiCtx::builder()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .wall_clock(FixedWallClock)
        .monotonic_clock(SteppingClock::default())
        .secure_random(StdRng::seed_from_u64(RANDOM_SEED))
        .insecure_random(StdRng::seed_from_u64(RANDOM_SEED ^ 1))
        .insecure_random_seed(u128::from(RANDOM_SEED))
        .max_random_size(64 << 10)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    WasiState {
        ctx,
        table: ResourceTable::new(),
        stdout,
        stderr,
    }
}

/// The monotonic-clock interface wasmtime-wasi 48 provides (guests importing
/// any 0.2.x version are matched to it by semver).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replace the two clock subscriptions with functions that trap.
///
/// A subscription is how a wasip2 guest sleeps (`std::thread::sleep`), and a
/// guest blocked in a host call is interrupted by neither fuel nor epochs:
/// one sleeping plugin would hold its evaluation past every deadline. A
/// policy has no reason to wait, so sleeping is refused outright.
pub(crate) fn forbid_sleeping(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    for name in ["subscribe-duration", "subscribe-instant"] {
        clock.func_new(name, move |_, _, _, _| {
            Err(wasmtime::format_err!(
                "a gavel plugin may not sleep or wait (`{MONOTONIC_CLOCK}#{name}`): evaluate without waiting"
            ))
        })?;
    }
    linker.allow_shadowing(false);
    Ok(())
}
