//! Compiled components, cached in memory and on disk by the sha256 digest of the component bytes.
//!
//! A disk entry is `MAGIC ‖ source digest ‖ sha256(body) ‖ body`, where the body is wasmtime's serialized
//! component. An entry is deserialized only when its magic, its recorded source digest and the hash of its
//! body all check out; anything else is a corrupt or foreign file, which is removed and recompiled. Entries
//! live in a subdirectory named after the engine's compatibility hash, so a different wasmtime build or
//! configuration never even looks at them. The directory is opened once with cap-std, and every file
//! operation stays inside it.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Mutex;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use pequod_cache::{Bounds, CacheStats, DiskLru, Lru};
use sha2::{Digest as _, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A sha256 digest of module bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl std::fmt::Display for Digest {
    /// The OCI form, `sha256:<hex>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

const MAGIC: &[u8; 8] = b"PEQUODC1";
const HEADER_LEN: usize = MAGIC.len() + 32 + 32;

/// Where a component came from on a [`ComponentCache::get_or_compile`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Already compiled in this process.
    Memory,
    /// Read back from a verified disk entry.
    Disk,
    /// Compiled now.
    Compiled,
}

/// The counters of the compiled-component caches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComponentCacheStats {
    /// Compiled components in memory (bytes: their code images).
    pub memory: CacheStats,
    /// Serialized components on disk, when the sandbox has a cache directory.
    pub disk: Option<CacheStats>,
}

/// The in-memory and on-disk cache of compiled components, each within its bounds.
pub(crate) struct ComponentCache {
    memory: Mutex<Lru<Digest, Component>>,
    disk: Option<DiskLru>,
}

impl ComponentCache {
    /// A cache that also keeps entries under `directory` (created if missing), or only in memory. A
    /// directory that cannot be opened is logged and ignored: the cache is an optimisation.
    pub(crate) fn new(engine: &Engine, directory: Option<&Path>, memory: Bounds, disk: Bounds) -> Self {
        let disk = directory.and_then(|directory| match open_engine_dir(engine, directory, disk) {
            Ok(dir) => Some(dir),
            Err(error) => {
                tracing::warn!(directory = %directory.display(), %error, "component cache directory unusable; caching in memory only");
                None
            }
        });
        Self { memory: Mutex::new(Lru::new(memory)), disk }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Lru<Digest, Component>> {
        self.memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The component compiled for `digest` in this process, if it is still in memory (counted as a hit or a
    /// miss).
    pub(crate) fn get(&self, digest: Digest) -> Option<Component> {
        self.memory().get(&digest).cloned()
    }

    /// The compiled component for `bytes` (whose digest is `digest`), compiling it only when neither cache
    /// has it.
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        digest: Digest,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        match self.get(digest) {
            Some(component) => Ok((component, CacheOutcome::Memory)),
            None => self.read_or_compile(engine, digest, bytes),
        }
    }

    /// The compiled component for `bytes`, read from disk or compiled, after a memory miss (so it is not
    /// counted again); kept in memory.
    pub(crate) fn read_or_compile(
        &self,
        engine: &Engine,
        digest: Digest,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        if let Some(component) = self.memory().peek(&digest) {
            // Another load compiled it meanwhile.
            return Ok((component.clone(), CacheOutcome::Memory));
        }
        let (component, outcome) = match self.read_disk(engine, digest) {
            Some(component) => (component, CacheOutcome::Disk),
            None => {
                let component = Component::new(engine, bytes)?;
                self.write_disk(digest, &component);
                (component, CacheOutcome::Compiled)
            }
        };
        let size = image_size(&component);
        let evicted = self.memory().insert(digest, component.clone(), size);
        for (digest, _) in evicted {
            tracing::debug!(%digest, "compiled component dropped from memory to stay within the cache bounds");
        }
        Ok((component, outcome))
    }

    /// The counters of both caches.
    pub(crate) fn stats(&self) -> ComponentCacheStats {
        ComponentCacheStats { memory: self.memory().stats(), disk: self.disk.as_ref().map(DiskLru::stats) }
    }

    fn read_disk(&self, engine: &Engine, digest: Digest) -> Option<Component> {
        let dir = self.disk.as_ref()?;
        let name = entry_name(digest);
        dir.read(&name, |entry| {
            let body = verified_body(&entry, digest)?;
            // SAFETY: `Component::deserialize` trusts its input to be the output of `Component::serialize` by
            // a compatible engine. The body was written by `write_disk` below from `Component::serialize`, and
            // `verified_body` has just checked that the file carries our magic, was written for this exact
            // source digest, and that the body's sha256 equals the one recorded when it was written, so the
            // bytes are the ones we produced. wasmtime itself checks that the engine configuration matches.
            #[allow(unsafe_code, reason = "deserializing a precompiled component we produced and verified")]
            let component = unsafe { Component::deserialize(engine, body) };
            component.map_err(|error| tracing::warn!(entry = %name, %error, "wasmtime refused a cache entry")).ok()
        })
    }

    fn write_disk(&self, digest: Digest, component: &Component) {
        let Some(dir) = &self.disk else { return };
        let result = component.serialize().map_err(|error| error.to_string()).and_then(|body| {
            let mut entry = Vec::with_capacity(HEADER_LEN + body.len());
            entry.extend_from_slice(MAGIC);
            entry.extend_from_slice(&digest.0);
            entry.extend_from_slice(&Sha256::digest(&body));
            entry.extend_from_slice(&body);
            dir.write(&entry_name(digest), &entry).map_err(|error| error.to_string())
        });
        if let Err(error) = result {
            tracing::warn!(%digest, %error, "could not write a component cache entry");
        }
    }
}

/// The bytes of a compiled component's code image: what keeping it in memory costs.
fn image_size(component: &Component) -> u64 {
    let range = component.image_range();
    (range.end as usize).saturating_sub(range.start as usize) as u64
}

/// The body of a cache entry when its header matches `digest` and its body hash.
fn verified_body(entry: &[u8], digest: Digest) -> Option<&[u8]> {
    let (header, body) = entry.split_at_checked(HEADER_LEN)?;
    let (magic, rest) = header.split_at(MAGIC.len());
    let (source, body_hash) = rest.split_at(32);
    let matches = magic == MAGIC && source == digest.0 && body_hash == Sha256::digest(body).as_slice();
    matches.then_some(body)
}

fn entry_name(digest: Digest) -> String {
    format!("{}.cwasm", hex::encode(digest.0))
}

/// Whether `name` is an entry's name (anything else in the directory is left over from an interrupted write).
fn is_entry_name(name: &str) -> bool {
    name.strip_suffix(".cwasm").is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

fn open_engine_dir(engine: &Engine, directory: &Path, bounds: Bounds) -> std::io::Result<DiskLru> {
    std::fs::create_dir_all(directory)?;
    let root = Dir::open_ambient_dir(directory, ambient_authority())?;
    let mut hasher = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let subdirectory = format!("wasmtime-{:016x}", hasher.finish());
    root.create_dir_all(&subdirectory)?;
    DiskLru::in_dir(root.open_dir(&subdirectory)?, bounds, is_entry_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_entries_for_the_digest_with_a_matching_body_verify() {
        let digest = Digest::of(b"module");
        let body = b"serialized component";
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(&digest.0);
        entry.extend_from_slice(&Sha256::digest(body));
        entry.extend_from_slice(body);
        assert_eq!(verified_body(&entry, digest), Some(&body[..]));
        assert_eq!(verified_body(&entry, Digest::of(b"other module")), None);
        let mut tampered = entry.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(verified_body(&tampered, digest), None);
        assert_eq!(verified_body(&entry[..HEADER_LEN - 1], digest), None);
        let mut foreign = entry;
        foreign[0] = b'X';
        assert_eq!(verified_body(&foreign, digest), None);
    }

    /// The smallest component there is: the preamble alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn components_over_the_memory_bound_are_dropped_least_recently_used_first() {
        let engine = Engine::default();
        let cache = ComponentCache::new(&engine, None, Bounds::new(2, u64::MAX), Bounds::bytes(0));
        let [a, b, c] = [b"a", b"b", b"c"].map(|name| Digest::of(name));
        let load = |digest| cache.get_or_compile(&engine, digest, EMPTY_COMPONENT).unwrap().1;
        assert_eq!(load(a), CacheOutcome::Compiled);
        assert_eq!(load(b), CacheOutcome::Compiled);
        assert_eq!(load(a), CacheOutcome::Memory); // a is now more recent than b
        assert_eq!(load(c), CacheOutcome::Compiled); // three entries > two: b goes
        assert_eq!(load(a), CacheOutcome::Memory);
        assert_eq!(load(b), CacheOutcome::Compiled);
        let memory = cache.stats().memory;
        assert_eq!((memory.hits, memory.misses, memory.evictions, memory.entries), (2, 4, 2, 2));
        assert!(memory.bytes > 0, "compiled code is counted");
    }

    #[test]
    fn serialized_components_over_the_disk_bound_are_deleted() {
        let directory = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let one = {
            let cache =
                ComponentCache::new(&engine, Some(directory.path()), Bounds::new(8, u64::MAX), Bounds::bytes(u64::MAX));
            cache.get_or_compile(&engine, Digest::of(b"a"), EMPTY_COMPONENT).unwrap();
            cache.stats().disk.unwrap().bytes
        };
        let cache = ComponentCache::new(&engine, Some(directory.path()), Bounds::new(8, u64::MAX), Bounds::bytes(one));
        assert_eq!(cache.get_or_compile(&engine, Digest::of(b"a"), EMPTY_COMPONENT).unwrap().1, CacheOutcome::Disk);
        cache.get_or_compile(&engine, Digest::of(b"b"), EMPTY_COMPONENT).unwrap();
        let disk = cache.stats().disk.unwrap();
        assert_eq!((disk.hits, disk.evictions, disk.entries, disk.bytes), (1, 1, 1, one));
    }

    #[test]
    fn digest_prints_in_oci_form() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
