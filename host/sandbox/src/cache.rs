//! Compiled components, cached in memory and on disk by the sha256 digest of the component bytes.
//!
//! A disk entry is `MAGIC ‖ source digest ‖ sha256(body) ‖ body`, where the body is wasmtime's serialized
//! component. An entry is deserialized only when its magic, its recorded source digest and the hash of its
//! body all check out; anything else is a corrupt or foreign file, which is removed and recompiled. Entries
//! live in a subdirectory named after the engine's compatibility hash, so a different wasmtime build or
//! configuration never even looks at them. The directory is opened once with cap-std, and every file
//! operation stays inside it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Mutex;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
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

/// The in-memory and on-disk cache of compiled components.
pub(crate) struct ComponentCache {
    memory: Mutex<HashMap<Digest, Component>>,
    disk: Option<Dir>,
}

impl ComponentCache {
    /// A cache that also keeps entries under `directory` (created if missing), or only in memory. A
    /// directory that cannot be opened is logged and ignored: the cache is an optimisation.
    pub(crate) fn new(engine: &Engine, directory: Option<&Path>) -> Self {
        let disk = directory.and_then(|directory| match open_engine_dir(engine, directory) {
            Ok(dir) => Some(dir),
            Err(error) => {
                tracing::warn!(directory = %directory.display(), %error, "component cache directory unusable; caching in memory only");
                None
            }
        });
        Self { memory: Mutex::new(HashMap::new()), disk }
    }

    /// The compiled component for `bytes` (whose digest is `digest`), compiling it only when neither cache
    /// has it.
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        digest: Digest,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        if let Some(component) = self.memory.lock().expect("cache lock poisoned").get(&digest) {
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
        self.memory.lock().expect("cache lock poisoned").insert(digest, component.clone());
        Ok((component, outcome))
    }

    fn read_disk(&self, engine: &Engine, digest: Digest) -> Option<Component> {
        let dir = self.disk.as_ref()?;
        let name = entry_name(digest);
        let entry = dir.read(&name).ok()?;
        let Some(body) = verified_body(&entry, digest) else {
            tracing::warn!(entry = %name, "removing a component cache entry that does not match its digest");
            let _ = dir.remove_file(&name);
            return None;
        };
        // SAFETY: `Component::deserialize` trusts its input to be the output of `Component::serialize` by a
        // compatible engine. The body was written by `write_disk` below from `Component::serialize`, and
        // `verified_body` has just checked that the file carries our magic, was written for this exact
        // source digest, and that the body's sha256 equals the one recorded when it was written, so the
        // bytes are the ones we produced. wasmtime itself checks that the engine configuration matches.
        #[allow(unsafe_code, reason = "deserializing a precompiled component we produced and verified")]
        let component = unsafe { Component::deserialize(engine, body) };
        match component {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(entry = %name, %error, "removing a component cache entry wasmtime refused");
                let _ = dir.remove_file(&name);
                None
            }
        }
    }

    fn write_disk(&self, digest: Digest, component: &Component) {
        let Some(dir) = &self.disk else { return };
        let result = component.serialize().map_err(|error| error.to_string()).and_then(|body| {
            let mut entry = Vec::with_capacity(HEADER_LEN + body.len());
            entry.extend_from_slice(MAGIC);
            entry.extend_from_slice(&digest.0);
            entry.extend_from_slice(&Sha256::digest(&body));
            entry.extend_from_slice(&body);
            // Write under a temporary name and rename, so a reader never sees half an entry.
            let name = entry_name(digest);
            let temporary = format!("{name}.{}.tmp", std::process::id());
            dir.write(&temporary, &entry)
                .and_then(|()| dir.rename(&temporary, dir, &name))
                .map_err(|error| error.to_string())
        });
        if let Err(error) = result {
            tracing::warn!(%digest, %error, "could not write a component cache entry");
        }
    }
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

fn open_engine_dir(engine: &Engine, directory: &Path) -> std::io::Result<Dir> {
    std::fs::create_dir_all(directory)?;
    let root = Dir::open_ambient_dir(directory, ambient_authority())?;
    let mut hasher = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let subdirectory = format!("wasmtime-{:016x}", hasher.finish());
    root.create_dir_all(&subdirectory)?;
    root.open_dir(&subdirectory)
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

    #[test]
    fn digest_prints_in_oci_form() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
