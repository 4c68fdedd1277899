//! The limits of one render, and the memory limiter that enforces the memory limit.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits of one render. Cluster admins set them in a `PlatformPolicy`; the CLI takes them as flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxLimits {
    /// WebAssembly fuel: roughly one unit per instruction executed. Ignored when the engine was built
    /// without fuel metering.
    pub fuel: u64,
    /// The most linear memory the renderer may hold, in bytes.
    pub memory_bytes: usize,
    /// The most wall-clock time a render may take.
    #[serde(with = "millis")]
    pub timeout: Duration,
    /// The largest Graph (JSON text) a render may return, in bytes. The Graph is stored in a ResourceGraph
    /// object, and etcd refuses objects over about 1.5 MiB.
    pub max_output_bytes: usize,
    /// The most nodes a Graph may have.
    pub max_nodes: usize,
}

impl SandboxLimits {
    /// 1e9 fuel: a few hundred milliseconds of straight-line WebAssembly.
    pub const DEFAULT_FUEL: u64 = 1_000_000_000;
    /// 256 MiB.
    pub const DEFAULT_MEMORY_BYTES: usize = 256 << 20;
    /// One second.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
    /// 1 MiB.
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1 << 20;
    /// 500 nodes.
    pub const DEFAULT_MAX_NODES: usize = 500;
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            fuel: Self::DEFAULT_FUEL,
            memory_bytes: Self::DEFAULT_MEMORY_BYTES,
            timeout: Self::DEFAULT_TIMEOUT,
            max_output_bytes: Self::DEFAULT_MAX_OUTPUT_BYTES,
            max_nodes: Self::DEFAULT_MAX_NODES,
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// Enforces the memory limit and remembers whether the guest hit it, so a trap that follows (Rust aborts
/// when an allocation fails) is reported as what it is.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit_bytes: usize,
    pub(crate) exceeded: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(limit_bytes: usize) -> Self {
        Self { limit_bytes, exceeded: false }
    }
}

/// The most instances, memories and tables one renderer component may create; generous for what
/// `wasm32-wasip2` toolchains emit, small enough to stop a module that tries to exhaust the host.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = desired <= self.limit_bytes;
        if !allowed {
            self.exceeded = true;
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}
