//! The WASI context every Pequod guest runs in, whether a render in the sandbox (`pequod-sandbox`) or a CUE
//! module's pre-initialisation (`pequod-cue-compile`): no files, no network, no arguments, an empty stdin,
//! clocks frozen at the Unix epoch and a fixed stream of "random" bytes, so the only inputs a guest has are
//! the ones its host passes explicitly and its results are reproducible.

use std::time::Duration;

use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

/// A WASI context builder with the deterministic settings; stdout and stderr go to `output`, and every
/// request for randomness gets `random` (repeated). Callers add what else the guest may see (an environment
/// variable, say) and build it.
pub fn deterministic(output: &MemoryOutputPipe, random: &[u8]) -> WasiCtxBuilder {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(output.clone())
        .stderr(output.clone())
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .secure_random(wasmtime_wasi::Deterministic::new(random.to_vec()))
        .insecure_random(wasmtime_wasi::Deterministic::new(random.to_vec()))
        .insecure_random_seed(0)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    builder
}

/// A clock that always reads zero.
pub struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}
