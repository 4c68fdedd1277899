//! The process-wide memory budget: renders running at the same time (and whatever else the embedder
//! reserves, such as CUE compilations) never reserve more memory together than it holds.
//!
//! A render reserves its whole memory limit before it instantiates the module and gives it back when it
//! ends, so a render never fails because others hold memory: it waits for its turn instead. Waiting is
//! first come, first served, so a large reservation is not starved by a stream of small ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Reservations are counted in WebAssembly pages (64 KiB), so a budget of any practical size fits the
/// semaphore's permit counts.
const PAGE_BYTES: usize = 64 << 10;

/// A budget of bytes shared by everything that reserves from it. Cheap to clone: clones share the budget.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    shared: Option<Arc<Shared>>,
}

#[derive(Debug)]
struct Shared {
    pages: Arc<Semaphore>,
    total_bytes: usize,
    reserved_bytes: AtomicUsize,
    peak_reserved_bytes: AtomicUsize,
}

/// How much of a budget is reserved, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudgetUsage {
    /// Bytes reserved now.
    pub reserved_bytes: usize,
    /// The most bytes reserved at any one time since the budget was made.
    pub peak_reserved_bytes: usize,
    /// The budget; `None` when unlimited (nothing is then counted).
    pub total_bytes: Option<usize>,
}

/// Why a reservation cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemoryBudgetError {
    /// More was asked than the whole budget: waiting would never help.
    #[error(
        "{} MiB of memory were asked for, more than the whole render memory budget of {} MiB; lower the \
         memory limit or raise the budget (`pequod run --max-render-memory`)",
        requested_bytes.div_ceil(1 << 20), total_bytes >> 20
    )]
    LargerThanBudget {
        /// The bytes asked for.
        requested_bytes: usize,
        /// The whole budget.
        total_bytes: usize,
    },
}

impl MemoryBudget {
    /// A budget of `total_bytes` (rounded down to whole 64 KiB pages), or an unlimited one for `None`.
    pub fn new(total_bytes: Option<usize>) -> Self {
        let shared = total_bytes.map(|total_bytes| {
            let pages = (total_bytes / PAGE_BYTES).min(u32::MAX as usize);
            Arc::new(Shared {
                pages: Arc::new(Semaphore::new(pages)),
                total_bytes,
                reserved_bytes: AtomicUsize::new(0),
                peak_reserved_bytes: AtomicUsize::new(0),
            })
        });
        Self { shared }
    }

    /// Reserves `bytes`, waiting (first come, first served) while others hold the budget. Fails at once
    /// when `bytes` is more than the whole budget. The reservation lasts until the permit is dropped.
    /// Cancel-safe: dropping the future while it waits reserves nothing.
    pub async fn reserve(&self, bytes: usize) -> Result<MemoryPermit, MemoryBudgetError> {
        let Some(shared) = &self.shared else { return Ok(MemoryPermit { bytes, held: None }) };
        let too_large = MemoryBudgetError::LargerThanBudget { requested_bytes: bytes, total_bytes: shared.total_bytes };
        let pages = u32::try_from(bytes.div_ceil(PAGE_BYTES)).map_err(|_| too_large)?;
        if pages as usize > shared.total_pages() {
            return Err(too_large);
        }
        let permit =
            Arc::clone(&shared.pages).acquire_many_owned(pages).await.expect("the budget's semaphore is never closed");
        shared.add(bytes);
        Ok(MemoryPermit { bytes, held: Some((Arc::clone(shared), permit)) })
    }

    /// The budget in bytes; `None` when unlimited.
    pub fn total_bytes(&self) -> Option<usize> {
        self.shared.as_ref().map(|shared| shared.total_bytes)
    }

    /// How much is reserved now and at most so far.
    pub fn usage(&self) -> MemoryBudgetUsage {
        let Some(shared) = &self.shared else {
            return MemoryBudgetUsage { reserved_bytes: 0, peak_reserved_bytes: 0, total_bytes: None };
        };
        MemoryBudgetUsage {
            reserved_bytes: shared.reserved_bytes.load(Ordering::SeqCst),
            peak_reserved_bytes: shared.peak_reserved_bytes.load(Ordering::SeqCst),
            total_bytes: Some(shared.total_bytes),
        }
    }
}

impl Shared {
    fn total_pages(&self) -> usize {
        (self.total_bytes / PAGE_BYTES).min(u32::MAX as usize)
    }

    fn add(&self, bytes: usize) {
        let reserved = self.reserved_bytes.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.peak_reserved_bytes.fetch_max(reserved, Ordering::SeqCst);
    }
}

/// A reservation from a [`MemoryBudget`]; dropping it gives the bytes back.
#[derive(Debug)]
#[must_use = "the reservation ends when the permit is dropped"]
pub struct MemoryPermit {
    bytes: usize,
    held: Option<(Arc<Shared>, OwnedSemaphorePermit)>,
}

impl MemoryPermit {
    /// The bytes reserved.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for MemoryPermit {
    fn drop(&mut self) {
        // Uncount before the semaphore permit (dropped after this) lets a waiter in, so the count never
        // exceeds the budget.
        if let Some((shared, _permit)) = &self.held {
            shared.reserved_bytes.fetch_sub(self.bytes, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const MIB: usize = 1 << 20;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
    }

    #[test]
    fn reservations_wait_for_each_other() {
        runtime().block_on(async {
            let budget = MemoryBudget::new(Some(10 * MIB));
            let first = budget.reserve(6 * MIB).await.unwrap();
            let waiting = tokio::time::timeout(Duration::from_millis(50), budget.reserve(6 * MIB)).await;
            assert!(waiting.is_err(), "the second reservation must wait");
            assert_eq!(budget.usage().reserved_bytes, 6 * MIB);
            drop(first);
            let second = budget.reserve(6 * MIB).await.unwrap();
            assert_eq!(second.bytes(), 6 * MIB);
            assert_eq!(
                budget.usage(),
                MemoryBudgetUsage {
                    reserved_bytes: 6 * MIB,
                    peak_reserved_bytes: 6 * MIB,
                    total_bytes: Some(10 * MIB)
                }
            );
        });
    }

    #[test]
    fn more_than_the_budget_fails_at_once() {
        let budget = MemoryBudget::new(Some(10 * MIB));
        let error = runtime().block_on(budget.reserve(10 * MIB + 1)).unwrap_err();
        assert_eq!(error, MemoryBudgetError::LargerThanBudget { requested_bytes: 10 * MIB + 1, total_bytes: 10 * MIB });
        assert!(error.to_string().contains("more than the whole render memory budget of 10 MiB"), "{error}");
        assert!(runtime().block_on(budget.reserve(10 * MIB)).is_ok(), "the whole budget can be reserved");
    }

    #[test]
    fn unlimited_budgets_count_nothing() {
        let budget = MemoryBudget::new(None);
        let permit = runtime().block_on(budget.reserve(usize::MAX)).unwrap();
        assert_eq!(permit.bytes(), usize::MAX);
        assert_eq!(budget.usage(), MemoryBudgetUsage { reserved_bytes: 0, peak_reserved_bytes: 0, total_bytes: None });
    }
}
