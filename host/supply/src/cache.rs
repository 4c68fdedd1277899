//! An on-disk, content-addressed blob cache with a size limit and least-recently-used eviction.
//!
//! Files are named by their sha256 and opened through a `cap-std` directory handle, so nothing outside the
//! cache directory can be touched. Every read is checked against the digest again: a file altered on disk is
//! dropped and counted as a miss.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::SupplyError;
use crate::artifact::sha256_digest;

/// Counters of a [`BlobCache`], e.g. for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads served from the cache.
    pub hits: u64,
    /// Reads the cache could not serve.
    pub misses: u64,
    /// Blobs removed to stay under the size limit.
    pub evictions: u64,
    /// Blobs held now.
    pub entries: u64,
    /// Bytes held now.
    pub bytes: u64,
}

struct Entry {
    size: u64,
    last_used: u64,
}

#[derive(Default)]
struct Index {
    entries: HashMap<String, Entry>,
    bytes: u64,
    clock: u64,
}

/// Blobs by digest, on disk.
pub struct BlobCache {
    dir: Dir,
    limit: u64,
    index: Mutex<Index>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
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
        let io = |error: std::io::Error| SupplyError::Artifact(format!("blob cache {}: {error}", path.display()));
        std::fs::create_dir_all(path).map_err(io)?;
        let dir = Dir::open_ambient_dir(path, ambient_authority()).map_err(io)?;
        let mut found = Vec::new();
        for entry in dir.entries().map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let metadata = entry.metadata().map_err(io)?;
            if !metadata.is_file() {
                continue;
            }
            if file_name(&format!("sha256:{name}")).is_none() {
                // A partial write or a stranger: not ours to keep.
                let _ = dir.remove_file(&name);
                continue;
            }
            let modified = metadata.modified().ok().map(|time| time.into_std());
            found.push((modified, name, metadata.len()));
        }
        found.sort();
        let mut index = Index::default();
        for (_, name, size) in found {
            index.clock += 1;
            index.bytes += size;
            index.entries.insert(name, Entry { size, last_used: index.clock });
        }
        let cache = Self {
            dir,
            limit,
            index: Mutex::new(index),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        };
        cache.evict(&mut cache.lock());
        Ok(cache)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The blob with `digest`, if cached and intact.
    pub fn get(&self, digest: &str) -> Option<Vec<u8>> {
        let found = file_name(digest).and_then(|name| {
            let mut index = self.lock();
            index.entries.get(name)?;
            match self.dir.read(name) {
                Ok(data) if sha256_digest(&data) == digest => {
                    index.clock += 1;
                    let clock = index.clock;
                    if let Some(entry) = index.entries.get_mut(name) {
                        entry.last_used = clock;
                    }
                    Some(data)
                }
                _ => {
                    tracing::warn!(digest, "cached blob is missing or altered; dropping it");
                    if let Some(entry) = index.entries.remove(name) {
                        index.bytes -= entry.size;
                    }
                    let _ = self.dir.remove_file(name);
                    None
                }
            }
        });
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
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
        let size = data.len() as u64;
        if size > self.limit {
            return Ok(());
        }
        let mut index = self.lock();
        if index.entries.contains_key(name) {
            return Ok(());
        }
        let io = |error: std::io::Error| SupplyError::Artifact(format!("blob cache: cannot write {digest}: {error}"));
        // Write aside, then rename: a reader never sees half a blob.
        let partial = format!("{name}.partial");
        let mut file = self.dir.create(&partial).map_err(io)?;
        file.write_all(data).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        self.dir.rename(&partial, &self.dir, name).map_err(io)?;
        index.clock += 1;
        index.bytes += size;
        let clock = index.clock;
        index.entries.insert(name.to_owned(), Entry { size, last_used: clock });
        self.evict(&mut index);
        Ok(())
    }

    fn evict(&self, index: &mut Index) {
        while index.bytes > self.limit {
            let Some(oldest) =
                index.entries.iter().min_by_key(|(_, entry)| entry.last_used).map(|(name, _)| name.clone())
            else {
                break;
            };
            if let Some(entry) = index.entries.remove(&oldest) {
                index.bytes -= entry.size;
            }
            let _ = self.dir.remove_file(&oldest);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        let index = self.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: index.entries.len() as u64,
            bytes: index.bytes,
        }
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
