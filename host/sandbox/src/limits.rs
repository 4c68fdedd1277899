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
    /// The most memory the renderer may hold, in bytes: all its linear memories and tables together. The
    /// render also reserves this much from the sandbox's memory budget while it runs.
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
    /// 64 MiB: eight renders at once fit the default memory budget
    /// ([`SandboxOptions::DEFAULT_MAX_TOTAL_MEMORY`](crate::SandboxOptions::DEFAULT_MAX_TOTAL_MEMORY)).
    pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;
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

/// Enforces the memory limit of one render over everything its Store holds: the sum of all linear
/// memories (a component has one per core instance, and each could otherwise grow to the limit on its own)
/// plus all tables, each table element counted as [`TABLE_ELEMENT_BYTES`]. It remembers whether the guest
/// hit the limit, so a trap that follows (Rust aborts when an allocation fails) or a failed instantiation is
/// reported as what it is.
///
/// Memories and tables never shrink and are freed only with the Store, so the running total only grows.
/// A growth the limiter allowed but wasmtime then could not perform (the operating system refused the
/// memory) stays counted: the total may overstate what the guest holds, never understate it.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit_bytes: usize,
    used_bytes: usize,
    pub(crate) exceeded: bool,
}

impl MemoryLimiter {
    pub(crate) fn new(limit_bytes: usize) -> Self {
        Self { limit_bytes, used_bytes: 0, exceeded: false }
    }

    /// The bytes of linear memory and tables granted so far (the most the render held).
    pub(crate) fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    /// Grants `additional` bytes when the total stays within the limit; otherwise refuses and remembers it.
    fn grant(&mut self, additional: usize) -> bool {
        match self.used_bytes.checked_add(additional).filter(|total| *total <= self.limit_bytes) {
            Some(total) => {
                self.used_bytes = total;
                true
            }
            None => {
                self.exceeded = true;
                false
            }
        }
    }
}

/// What one table element costs against the memory limit: wasmtime stores a pointer per element, and a
/// little more for bookkeeping; 16 bytes keeps a module from hiding memory in tables.
const TABLE_ELEMENT_BYTES: usize = 16;

/// The most instances, memories and tables one renderer component may create; generous for what
/// `wasm32-wasip2` toolchains emit, small enough to stop a module that tries to exhaust the host.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;
/// The most elements of one table, whatever the memory limit allows.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|maximum| desired > maximum) {
            // Past the memory's own declared maximum: wasmtime refuses it anyway (memory.grow returns -1),
            // and it is not the render's limit that was hit.
            return Ok(false);
        }
        Ok(self.grant(desired.saturating_sub(current)))
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS || maximum.is_some_and(|maximum| desired > maximum) {
            return Ok(false);
        }
        Ok(self.grant(desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES)))
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

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter as _;

    use super::*;

    const MIB: usize = 1 << 20;

    #[test]
    fn memories_count_together() {
        let mut limiter = MemoryLimiter::new(64 * MIB);
        assert!(limiter.memory_growing(0, 30 * MIB, None).unwrap());
        assert!(limiter.memory_growing(0, 30 * MIB, None).unwrap());
        assert!(!limiter.memory_growing(0, 30 * MIB, None).unwrap(), "a third memory would make 90 MiB");
        assert!(limiter.exceeded);
        assert_eq!(limiter.used_bytes(), 60 * MIB);
    }

    #[test]
    fn growth_counts_only_the_difference() {
        let mut limiter = MemoryLimiter::new(64 * MIB);
        assert!(limiter.memory_growing(0, 16 * MIB, None).unwrap());
        assert!(limiter.memory_growing(16 * MIB, 48 * MIB, None).unwrap());
        assert_eq!(limiter.used_bytes(), 48 * MIB);
        assert!(limiter.memory_growing(48 * MIB, 64 * MIB, None).unwrap());
        assert!(!limiter.memory_growing(64 * MIB, 64 * MIB + 65536, None).unwrap());
        assert!(limiter.exceeded);
    }

    #[test]
    fn tables_count_against_the_same_limit() {
        let mut limiter = MemoryLimiter::new(MIB);
        assert!(limiter.memory_growing(0, MIB / 2, None).unwrap());
        let elements = MIB / 2 / TABLE_ELEMENT_BYTES;
        assert!(limiter.table_growing(0, elements, None).unwrap());
        assert!(!limiter.table_growing(elements, elements + 1, None).unwrap());
        assert!(limiter.exceeded);
    }

    #[test]
    fn a_memory_past_its_own_maximum_is_not_the_limit() {
        let mut limiter = MemoryLimiter::new(64 * MIB);
        assert!(!limiter.memory_growing(MIB, 2 * MIB, Some(MIB)).unwrap());
        assert!(!limiter.table_growing(10, 20, Some(10)).unwrap());
        assert!(!limiter.exceeded);
        assert_eq!(limiter.used_bytes(), 0);
    }

    #[test]
    fn the_table_element_cap_holds_whatever_the_limit() {
        let mut limiter = MemoryLimiter::new(usize::MAX);
        assert!(!limiter.table_growing(0, MAX_TABLE_ELEMENTS + 1, None).unwrap());
        assert!(!limiter.exceeded);
    }
}
