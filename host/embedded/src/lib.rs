//! Renderer modules shipped inside the `pequod` binary, resolved by `cueRef.type: embedded`.
//!
//! The CUE modules under `modules/` (`webservice`, `database`, `ack-iam-webservice`, and the `policy` package
//! they import) are embedded as source and compiled on first use by `pequod-cue-compile`, exactly as
//! `cue-to-wasm build` would; the Rust plugin SDK's example renderer is embedded as a component.

use pequod_cue_runtime::Sources;

include!(concat!(env!("OUT_DIR"), "/cue_files.rs"));

/// What an embedded module is made of.
#[derive(Debug)]
pub enum EmbeddedKind {
    /// A CUE module: the directory under `modules/` holding its package.
    Cue {
        /// The directory, relative to `modules/`.
        dir: &'static str,
    },
    /// A ready renderer component.
    Component(&'static [u8]),
}

/// A module compiled into the binary.
#[derive(Debug)]
pub struct EmbeddedModule {
    /// The name a Transform uses in `spec.cueRef.ref`.
    pub name: &'static str,
    /// One line about what it renders.
    pub description: &'static str,
    /// What it is made of.
    pub kind: EmbeddedKind,
}

impl EmbeddedModule {
    /// The component of a module embedded as one; `None` for a CUE module.
    pub fn component(&self) -> Option<&'static [u8]> {
        match self.kind {
            EmbeddedKind::Component(wasm) => Some(wasm),
            EmbeddedKind::Cue { .. } => None,
        }
    }

    /// The source tree of a CUE module (every CUE file under `modules/`, the module's directory in it);
    /// `None` for a component.
    pub fn sources(&self) -> Option<Sources> {
        match self.kind {
            EmbeddedKind::Cue { dir } => Some(Sources {
                dir: dir.to_owned(),
                files: CUE_FILES.iter().map(|(path, text)| ((*path).to_owned(), (*text).to_owned())).collect(),
            }),
            EmbeddedKind::Component(_) => None,
        }
    }
}

/// The directory an inline module is placed in, beside the embedded modules.
pub const INLINE_DIR: &str = "inline";

/// The source tree of an inline module (`spec.cueRef.type: inline`): its text as the one file of a package
/// placed in the CUE module of the embedded modules, so it can import the shared policy package
/// (`import "pequod.io/modules/policy"`).
pub fn inline_sources(text: &str) -> Sources {
    package_sources([("module.cue".to_owned(), text.to_owned())])
}

/// The source tree of a package given as files by name (an inline module, the CUE files of a ConfigMap),
/// placed like [`inline_sources`]. Names with a `/` are flattened, so no file lands outside the package.
pub fn package_sources(files: impl IntoIterator<Item = (String, String)>) -> Sources {
    let mut tree: std::collections::BTreeMap<String, String> =
        CUE_FILES.iter().map(|(path, text)| ((*path).to_owned(), (*text).to_owned())).collect();
    tree.retain(|path, _| !path.starts_with(&format!("{INLINE_DIR}/")));
    for (name, text) in files {
        tree.insert(format!("{INLINE_DIR}/{}", name.replace('/', "_")), text);
    }
    Sources { dir: INLINE_DIR.to_owned(), files: tree }
}

/// Every embedded module.
pub const MODULES: &[EmbeddedModule] = &[
    EmbeddedModule {
        name: "webservice",
        description: "a web service: ServiceAccount, Deployment, Service, NetworkPolicy, optional HPA, PDB and Ingress",
        kind: EmbeddedKind::Cue { dir: "webservice" },
    },
    EmbeddedModule {
        name: "database",
        description: "a PostgreSQL StatefulSet with a headless Service and volume claims",
        kind: EmbeddedKind::Cue { dir: "database" },
    },
    EmbeddedModule {
        name: "ack-iam-webservice",
        description: "an ACK IAM Role, a ServiceAccount bound to it (IRSA) and a Deployment",
        kind: EmbeddedKind::Cue { dir: "ack-iam-webservice" },
    },
    EmbeddedModule {
        name: "webservice-example",
        description: "a web service: Deployment, Service and an optional HPA (the Rust plugin SDK example)",
        kind: EmbeddedKind::Component(include_bytes!(concat!(env!("OUT_DIR"), "/webservice-example.wasm"))),
    },
];

/// The embedded module named `name`.
pub fn find(name: &str) -> Option<&'static EmbeddedModule> {
    MODULES.iter().find(|module| module.name == name)
}

/// The names of all embedded modules, for error messages.
pub fn names() -> Vec<&'static str> {
    MODULES.iter().map(|module| module.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_modules_are_components_or_cue_packages() {
        for module in MODULES {
            match module.kind {
                EmbeddedKind::Component(wasm) => {
                    // A component starts with the wasm magic and the component-model layer/version field.
                    assert_eq!(&wasm[..4], b"\0asm", "{}", module.name);
                    assert_eq!(&wasm[4..8], &[0x0d, 0x00, 0x01, 0x00], "{} is a core module", module.name);
                }
                EmbeddedKind::Cue { .. } => {
                    let bundle = module.sources().unwrap().bundle().unwrap();
                    let (files, imported) = bundle.into_sources();
                    let loaded = pequod_cue_runtime::Module::load_with_imports(files, imported).unwrap();
                    assert_eq!(loaded.name(), module.name);
                }
            }
        }
        assert!(CUE_FILES.iter().any(|(path, _)| *path == "cue.mod/module.cue"));
        assert!(find("webservice").is_some());
        assert!(find("nope").is_none());
    }
}
