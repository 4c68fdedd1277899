//! A directory of files under an entry and a byte bound, the least recently used deleted first.

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::{Bounds, CacheStats, Lru};

/// Files named by their keys in one directory, within [`Bounds`].
///
/// Names are the caller's (a digest in hex, say) and must be plain file names; writes go to a temporary
/// name and are renamed, so a reader never sees half a file. The index is this process's: a file another
/// process writes into the directory is picked up when it is first read.
pub struct DiskLru {
    dir: Dir,
    index: Mutex<Lru<String, ()>>,
}

/// The suffix of a file being written.
const PARTIAL: &str = ".partial";

/// Tells the temporary files of concurrent writers of one process apart.
static WRITES: AtomicU64 = AtomicU64::new(0);

impl std::fmt::Debug for DiskLru {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskLru").field("index", &*self.lock()).finish()
    }
}

impl DiskLru {
    /// Opens (creating it if needed) `path`, keeping within `bounds` the files already there whose names
    /// `ours` accepts, the least recently modified evicted first. Other files (left half-written by a process
    /// that stopped, say) are deleted; directories are left alone.
    pub fn open(path: &Path, bounds: Bounds, ours: impl Fn(&str) -> bool) -> std::io::Result<Self> {
        std::fs::create_dir_all(path)?;
        Self::in_dir(Dir::open_ambient_dir(path, ambient_authority())?, bounds, ours)
    }

    /// [`Self::open`] over a directory already opened.
    pub fn in_dir(dir: Dir, bounds: Bounds, ours: impl Fn(&str) -> bool) -> std::io::Result<Self> {
        let mut found: Vec<(Option<SystemTime>, String, u64)> = Vec::new();
        for entry in dir.entries()? {
            let entry = entry?;
            let metadata = entry.metadata()?;
            if !metadata.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if ours(&name) {
                found.push((metadata.modified().ok().map(|time| time.into_std()), name, metadata.len()));
            } else {
                let _ = dir.remove_file(&name);
            }
        }
        found.sort();
        let cache = Self { dir, index: Mutex::new(Lru::new(bounds)) };
        {
            let mut index = cache.lock();
            for (_, name, size) in found {
                let evicted = index.insert(name, (), size);
                cache.delete(evicted);
            }
        }
        Ok(cache)
    }

    fn lock(&self) -> MutexGuard<'_, Lru<String, ()>> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The file `name` made into a `T` by `accept`, which refuses (`None`) a file that does not check out: that
    /// file is deleted. A hit makes the file the most recently used; a missing or refused file is a miss.
    pub fn read<T>(&self, name: &str, accept: impl FnOnce(Vec<u8>) -> Option<T>) -> Option<T> {
        let accepted = match self.dir.read(name) {
            Ok(bytes) => {
                let size = bytes.len() as u64;
                let accepted = accept(bytes);
                if accepted.is_none() {
                    tracing::warn!(file = name, "removing a cache file that does not check out");
                }
                accepted.map(|value| (value, size))
            }
            Err(_) => None,
        };
        let mut index = self.lock();
        match accepted {
            Some((value, size)) => {
                index.record(true);
                if !index.contains(&name.to_owned()) {
                    let evicted = index.insert(name.to_owned(), (), size);
                    self.delete(evicted);
                } else {
                    index.items.promote(name);
                }
                Some(value)
            }
            None => {
                index.record(false);
                if index.remove(&name.to_owned()).is_some() || self.dir.exists(name) {
                    let _ = self.dir.remove_file(name);
                }
                None
            }
        }
    }

    /// Writes `contents` as the file `name` (the most recently used), deleting the least recently used files
    /// to stay within the bounds. A file larger than the whole byte bound is not kept.
    pub fn write(&self, name: &str, contents: &[u8]) -> std::io::Result<()> {
        let size = contents.len() as u64;
        if size > self.lock().bounds().max_bytes {
            return Ok(());
        }
        let temporary = format!("{name}.{}-{}{PARTIAL}", std::process::id(), WRITES.fetch_add(1, Ordering::Relaxed));
        let written = self.dir.create(&temporary).and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        });
        if let Err(error) = written {
            let _ = self.dir.remove_file(&temporary);
            return Err(error);
        }
        let mut index = self.lock();
        if let Err(error) = self.dir.rename(&temporary, &self.dir, name) {
            let _ = self.dir.remove_file(&temporary);
            return Err(error);
        }
        let evicted = index.insert(name.to_owned(), (), size);
        self.delete(evicted);
        Ok(())
    }

    /// Deletes the file `name`, if any (not counted as an eviction).
    pub fn remove(&self, name: &str) {
        let mut index = self.lock();
        index.remove(&name.to_owned());
        let _ = self.dir.remove_file(name);
    }

    /// Counts a lookup answered without reading a file (a key that names none, say) as a miss.
    pub fn count_miss(&self) {
        self.lock().record(false);
    }

    /// Whether the index holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.lock().contains(&name.to_owned())
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        self.lock().stats()
    }

    fn delete(&self, evicted: Vec<(String, ())>) {
        for (name, ()) in evicted {
            let _ = self.dir.remove_file(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_name(name: &str) -> bool {
        !name.ends_with(PARTIAL)
    }

    fn bytes(contents: Vec<u8>) -> Option<Vec<u8>> {
        Some(contents)
    }

    #[test]
    fn files_over_the_bound_are_deleted_least_recently_used_first() {
        let directory = tempfile::tempdir().unwrap();
        let cache = DiskLru::open(directory.path(), Bounds::new(10, 250), any_name).unwrap();
        cache.write("a", &[1; 100]).unwrap();
        cache.write("b", &[2; 100]).unwrap();
        assert_eq!(cache.read("a", bytes), Some(vec![1; 100])); // a is now more recent than b
        cache.write("c", &[3; 100]).unwrap(); // 300 > 250: b goes
        assert!(!directory.path().join("b").exists());
        assert_eq!(cache.read("b", bytes), None);
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 1, evictions: 1, entries: 2, bytes: 200 });

        // Reopened with a smaller bound, the older file goes.
        drop(cache);
        let reopened = DiskLru::open(directory.path(), Bounds::new(1, 1000), any_name).unwrap();
        assert_eq!(reopened.stats().entries, 1);
        assert_eq!(reopened.stats().evictions, 1);
    }

    #[test]
    fn refused_files_and_strangers_are_deleted_and_oversized_files_not_kept() {
        let directory = tempfile::tempdir().unwrap();
        std::fs::write(directory.path().join("x.1-0.partial"), b"half").unwrap();
        let cache = DiskLru::open(directory.path(), Bounds::bytes(100), any_name).unwrap();
        assert!(!directory.path().join("x.1-0.partial").exists());
        cache.write("a", b"good").unwrap();
        assert_eq!(cache.read("a", |_| None::<()>), None);
        assert!(!directory.path().join("a").exists());
        assert_eq!(cache.stats().entries, 0);
        cache.write("big", &[0; 101]).unwrap();
        assert!(!directory.path().join("big").exists());
    }

    #[test]
    fn a_file_another_process_wrote_is_found_and_indexed() {
        let directory = tempfile::tempdir().unwrap();
        let cache = DiskLru::open(directory.path(), Bounds::bytes(100), any_name).unwrap();
        std::fs::write(directory.path().join("late"), b"12345").unwrap();
        assert_eq!(cache.read("late", bytes), Some(b"12345".to_vec()));
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 0, evictions: 0, entries: 1, bytes: 5 });
    }
}
