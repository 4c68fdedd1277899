//! An on-disk, content-addressed blob cache with a size limit and least-recently-used eviction.
//!
//! Files are named by their sha256 and opened through a `cap-std` directory handle, so nothing outside the
//! cache directory can be touched. Every read is checked against the digest again: a file altered on disk is
//! dropped and counted as a miss.

use std::path::Path;

pub use pequod_cache::CacheStats;
use pequod_cache::{Bounds, DiskLru};

use crate::SupplyError;
use crate::artifact::sha256_digest;

/// Blobs by digest, on disk.
pub struct BlobCache {
    files: DiskLru,
    limit: u64,
}

impl std::fmt::Debug for BlobCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobCache").field("limit", &self.limit).field("stats", &self.stats()).finish()
    }
}

/// The file name for `digest`: its hex part, when it is a well-formed sha256 digest.
fn file_name(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))).then_some(hex)
}

impl BlobCache {
    /// Opens (creating it if needed) the cache in `path`, holding at most `limit` bytes. Blobs already there
    /// are kept, the least recently modified evicted first.
    pub fn open(path: &Path, limit: u64) -> Result<Self, SupplyError> {
        let files = DiskLru::open(path, Bounds::bytes(limit), |name| file_name(&format!("sha256:{name}")).is_some())
            .map_err(|error| SupplyError::Artifact(format!("blob cache {}: {error}", path.display())))?;
        Ok(Self { files, limit })
    }

    /// The blob with `digest`, if cached and intact (an altered file is dropped and counted as a miss).
    pub fn get(&self, digest: &str) -> Option<Vec<u8>> {
        let Some(name) = file_name(digest) else {
            self.files.count_miss();
            return None;
        };
        self.files.read(name, |data| (sha256_digest(&data) == digest).then_some(data))
    }

    /// Stores `data` under `digest` (which it must match), evicting the least recently used blobs to stay
    /// under the limit. A blob larger than the whole limit is not stored.
    pub fn put(&self, digest: &str, data: &[u8]) -> Result<(), SupplyError> {
        let name = file_name(digest)
            .ok_or_else(|| SupplyError::Artifact(format!("blob cache: {digest:?} is not a sha256 digest")))?;
        let actual = sha256_digest(data);
        if actual != digest {
            return Err(SupplyError::Artifact(format!("blob cache: content is {actual}, not {digest}")));
        }
        if self.files.contains(name) {
            return Ok(());
        }
        self.files
            .write(name, data)
            .map_err(|error| SupplyError::Artifact(format!("blob cache: cannot write {digest}: {error}")))
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        self.files.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(fill: u8, size: usize) -> (String, Vec<u8>) {
        let data = vec![fill; size];
        (sha256_digest(&data), data)
    }

    #[test]
    fn hits_misses_and_lru_eviction() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path(), 250).unwrap();
        let (a, a_data) = blob(1, 100);
        let (b, b_data) = blob(2, 100);
        let (c, c_data) = blob(3, 100);
        assert_eq!(cache.get(&a), None);
        cache.put(&a, &a_data).unwrap();
        cache.put(&b, &b_data).unwrap();
        assert_eq!(cache.get(&a).as_deref(), Some(a_data.as_slice())); // a is now more recent than b
        cache.put(&c, &c_data).unwrap(); // 300 > 250: b goes
        assert_eq!(cache.get(&b), None);
        assert!(cache.get(&a).is_some() && cache.get(&c).is_some());
        assert_eq!(cache.stats(), CacheStats { hits: 3, misses: 2, evictions: 1, entries: 2, bytes: 200 });

        // Reopened, the blobs are still there; a smaller limit evicts on open.
        drop(cache);
        let reopened = BlobCache::open(dir.path(), 150).unwrap();
        assert_eq!(reopened.stats().entries, 1);
        assert_eq!(reopened.stats().evictions, 1);
    }

    #[test]
    fn wrong_content_and_bad_names_are_refused_and_altered_files_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path(), 1000).unwrap();
        let (a, a_data) = blob(1, 10);
        assert!(cache.put(&a, b"not it").is_err());
        assert!(cache.put("sha256:../../etc/passwd", b"x").is_err());
        assert_eq!(cache.get("sha256:../x"), None);
        cache.put(&a, &a_data).unwrap();
        std::fs::write(dir.path().join(a.strip_prefix("sha256:").unwrap()), b"tampered").unwrap();
        assert_eq!(cache.get(&a), None);
        assert_eq!(cache.stats().entries, 0);
        // Too large for the whole cache: not stored, not an error.
        let (big, big_data) = blob(9, 2000);
        cache.put(&big, &big_data).unwrap();
        assert_eq!(cache.get(&big), None);
    }
}
