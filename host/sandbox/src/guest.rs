//! The state of one render's Store: a WASI context with nothing to reach, and the memory limiter.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::limits::MemoryLimiter;

/// How much of what a renderer prints (stdout and stderr together) is kept for error reports.
const GUEST_OUTPUT_CAPACITY: usize = 64 << 10;

/// The data of a render's Store.
pub(crate) struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    output: MemoryOutputPipe,
}

impl GuestState {
    /// A state whose WASI context gives the guest no files, no network, no environment or arguments, an
    /// empty stdin, a clock frozen at the Unix epoch and a fixed stream of "random" bytes: the only inputs a
    /// render has are its arguments, so renders are deterministic.
    pub(crate) fn new(memory_bytes: usize) -> Self {
        let output = MemoryOutputPipe::new(GUEST_OUTPUT_CAPACITY);
        let wasi = pequod_wasi_deterministic::deterministic(&output, &FIXED_RANDOM_BYTES).build();
        Self { wasi, table: ResourceTable::new(), limiter: MemoryLimiter::new(memory_bytes), output }
    }

    /// What the guest printed, lossily decoded, trimmed; empty when it printed nothing.
    pub(crate) fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.contents()).trim().to_owned()
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Bytes returned for every request for randomness; fixed so that hash seeds and the like never change a
/// render's result.
const FIXED_RANDOM_BYTES: [u8; 8] = [0x70, 0x65, 0x71, 0x75, 0x6f, 0x64, 0x21, 0x2a];
