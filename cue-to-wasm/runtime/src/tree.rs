//! From a tree of files to the [`Bundle`] of one module: the module's package and the packages it imports.
//!
//! A module is a directory of one CUE package inside a CUE module (a tree with `cue.mod/module.cue` at its
//! root). Its imports resolve to packages of that CUE module (`<module path>/<dir>`) or of its
//! `cue.mod/{gen,pkg,usr}` trees; standard-library imports need no files. The same resolution serves
//! `cue-to-wasm build` (a [`SourceTree`] over the local file system, trusted) and inline or git modules
//! ([`Sources`], an in-memory tree handed to the runtime component, which resolves it inside the sandbox so
//! untrusted source is never parsed by the host).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Bundle, SourceFile};

/// The name of the environment variable that carries [`Sources`] into the component while it is
/// pre-initialised, as an alternative to a ready [`Bundle`](crate::BUNDLE_VARIABLE).
pub const SOURCES_VARIABLE: &str = "PEQUOD_CUE_SOURCES";

/// Most files a [`Sources`] tree may hold.
pub const MAX_SOURCE_FILES: usize = 2_000;
/// Most bytes of text a [`Sources`] tree may hold.
pub const MAX_SOURCE_BYTES: usize = 16 << 20;

/// Why a module's files cannot be gathered.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A directory cannot be listed.
    #[error("cannot read the module directory {dir}: {message}")]
    ReadDir {
        /// The directory.
        dir: String,
        /// The cause.
        message: String,
    },
    /// A file cannot be read.
    #[error("cannot read {path}: {message}")]
    ReadFile {
        /// The file.
        path: String,
        /// The cause.
        message: String,
    },
    /// The directory holds no CUE files.
    #[error("{dir} holds no .cue files; a module is a directory with one CUE package")]
    NoFiles {
        /// The directory.
        dir: String,
    },
    /// The directory holds files of several packages.
    #[error("{dir} holds files of packages {first} and {second}; a module is one package")]
    Packages {
        /// The directory.
        dir: String,
        /// One package.
        first: String,
        /// Another.
        second: String,
    },
    /// The tree is larger than a module may be.
    #[error("the module source is too large: {0}")]
    TooLarge(String),
}

/// Files under the root of a CUE module, named by `/`-separated paths relative to that root (`""` is the
/// root itself).
pub trait SourceTree {
    /// The names of the regular files directly in `dir`, in any order.
    fn file_names(&self, dir: &str) -> Result<Vec<String>, TreeError>;
    /// The text of the file at `path`.
    fn read(&self, path: &str) -> Result<String, TreeError>;
    /// Whether `dir` is a directory of the tree.
    fn is_dir(&self, dir: &str) -> bool;
}

/// An in-memory module source: every file of the tree by path, and the directory of the module within it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// The module's directory, relative to the root (`""` for the root).
    pub dir: String,
    /// The files, by path relative to the root.
    pub files: BTreeMap<String, String>,
}

impl Sources {
    /// Reads sources from their JSON text.
    pub fn from_json(text: &str) -> Result<Sources, crate::BundleError> {
        Ok(serde_json::from_str(text)?)
    }

    /// The sources as JSON text (deterministic: the files are sorted by path).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("sources always serialize")
    }

    /// Checks the size bounds.
    pub fn check_size(&self) -> Result<(), TreeError> {
        if self.files.len() > MAX_SOURCE_FILES {
            return Err(TreeError::TooLarge(format!("{} files (at most {MAX_SOURCE_FILES})", self.files.len())));
        }
        let bytes: usize = self.files.iter().map(|(path, text)| path.len() + text.len()).sum();
        if bytes > MAX_SOURCE_BYTES {
            return Err(TreeError::TooLarge(format!("{bytes} bytes (at most {MAX_SOURCE_BYTES})")));
        }
        Ok(())
    }

    /// The module's [`Bundle`].
    pub fn bundle(&self) -> Result<Bundle, TreeError> {
        self.check_size()?;
        Bundle::from_tree(self, &self.dir)
    }
}

fn parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

impl SourceTree for Sources {
    fn file_names(&self, dir: &str) -> Result<Vec<String>, TreeError> {
        Ok(self
            .files
            .keys()
            .filter_map(|path| {
                let (at, name) = parent(path);
                (at == dir).then(|| name.to_owned())
            })
            .collect())
    }

    fn read(&self, path: &str) -> Result<String, TreeError> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| TreeError::ReadFile { path: path.to_owned(), message: "no such file".into() })
    }

    fn is_dir(&self, dir: &str) -> bool {
        dir.is_empty()
            || self.files.range(format!("{dir}/")..).next().is_some_and(|(p, _)| p.starts_with(&format!("{dir}/")))
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") }
}

impl Bundle {
    /// The bundle of the module in directory `dir` of `tree`: its package (files named without their
    /// directory, so the result does not depend on where the module lives) and the packages it imports,
    /// transitively (files named relative to the root). Imports found nowhere are left for the evaluator
    /// to report.
    pub fn from_tree(tree: &dyn SourceTree, dir: &str) -> Result<Bundle, TreeError> {
        let files = read_package(tree, dir, None, "")?;
        let imported = imported_packages(tree, &files)?;
        Ok(Bundle::new(&files, &imported))
    }
}

/// The packages `files` import (other than the standard library), transitively, in the order first met.
fn imported_packages(tree: &dyn SourceTree, files: &[SourceFile]) -> Result<Vec<(String, Vec<SourceFile>)>, TreeError> {
    if !tree.is_dir("cue.mod") {
        return Ok(Vec::new());
    }
    let module_path = tree.read("cue.mod/module.cue").ok().and_then(|text| module_path(&text));
    let mut found: Vec<(String, Vec<SourceFile>)> = Vec::new();
    let mut queue: Vec<String> = files.iter().flat_map(|f| imports_of(&f.text)).collect();
    let mut seen: Vec<String> = Vec::new();
    while let Some(import) = queue.pop() {
        if cue_eval::is_std_import(&import) || seen.contains(&import) {
            continue;
        }
        seen.push(import.clone());
        let (path, qualifier) = import.split_once(':').map_or((import.as_str(), None), |(p, q)| (p, Some(q)));
        let last = path.rsplit('/').next().unwrap_or(path).split('@').next().unwrap_or(path);
        let mut candidates = Vec::new();
        if let Some(module) = &module_path
            && let Some(rest) = path.strip_prefix(&format!("{module}/"))
        {
            candidates.push(rest.to_owned());
        }
        for tree_name in ["gen", "pkg", "usr"] {
            candidates.push(format!("cue.mod/{tree_name}/{path}"));
        }
        for relative in candidates {
            if relative.split('/').any(|part| part.is_empty() || part == "." || part == "..") || !tree.is_dir(&relative)
            {
                continue;
            }
            let package = read_package(tree, &relative, Some(qualifier.unwrap_or(last)), &relative)?;
            queue.extend(package.iter().flat_map(|f| imports_of(&f.text)));
            found.push((import.clone(), package));
            break;
        }
    }
    Ok(found)
}

/// Reads `module: "path@v0"` from the text of `cue.mod/module.cue`, without the major version.
fn module_path(text: &str) -> Option<String> {
    let (parsed, _) = cue_syntax::parse(text);
    parsed.decls.iter().find_map(|d| match d {
        cue_syntax::ast::Decl::Field(f) => match (&f.label.kind, &f.value.kind) {
            (cue_syntax::ast::LabelKind::Ident(id), cue_syntax::ast::ExprKind::String(s)) if &*id.name == "module" => {
                Some(s.as_str().split('@').next().unwrap_or_default().to_owned())
            }
            _ => None,
        },
        _ => None,
    })
}

fn imports_of(text: &str) -> Vec<String> {
    let (file, _) = cue_syntax::parse(text);
    file.imports.iter().flat_map(|i| &i.specs).map(|s| s.path.as_str().to_string()).collect()
}

/// Reads the `.cue` files of a directory (not its subdirectories), sorted by name, keeping one package
/// (`only`, or the one package found); files are named `prefix/name`.
fn read_package(
    tree: &dyn SourceTree,
    dir: &str,
    only: Option<&str>,
    prefix: &str,
) -> Result<Vec<SourceFile>, TreeError> {
    let shown = if dir.is_empty() { ".".to_owned() } else { dir.to_owned() };
    let mut names: Vec<String> = tree
        .file_names(dir)?
        .into_iter()
        .filter(|n| n.ends_with(".cue") && !n.starts_with('.') && !n.starts_with('_'))
        .collect();
    names.sort();
    let mut files = Vec::new();
    let mut package: Option<String> = None;
    for name in names {
        let text = tree.read(&join(dir, &name))?;
        let this = cue_syntax::parse(&text).0.package.map(|p| p.name.name.to_string());
        if let Some(only) = only
            && this.as_deref() != Some(only)
        {
            continue;
        }
        match (&package, this) {
            (Some(first), Some(second)) if *first != second => {
                return Err(TreeError::Packages { dir: shown, first: first.clone(), second });
            }
            (None, Some(name)) => package = Some(name),
            _ => {}
        }
        let name = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        files.push(SourceFile::new(name, text));
    }
    if files.is_empty() {
        return Err(TreeError::NoFiles { dir: shown });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &str, files: &[(&str, &str)]) -> Sources {
        Sources { dir: dir.into(), files: files.iter().map(|(p, t)| ((*p).to_owned(), (*t).to_owned())).collect() }
    }

    #[test]
    fn resolves_module_local_and_gen_imports() {
        let tree = sources(
            "apps/web",
            &[
                ("cue.mod/module.cue", "module: \"example.com/platform@v0\"\n"),
                ("apps/web/b.cue", "package web\nimport \"example.com/platform/policy\"\nx: policy.p\n"),
                ("apps/web/a.cue", "package web\nimport \"k8s.io/api/core/v1\"\ny: v1.#Pod\n"),
                ("apps/web/sub/ignored.cue", "package web\n"),
                ("policy/p.cue", "package policy\nimport \"strings\"\np: strings.ToUpper(\"a\")\n"),
                ("policy/other.cue", "package other\n"),
                ("cue.mod/gen/k8s.io/api/core/v1/types.cue", "package v1\n#Pod: {}\n"),
            ],
        );
        let bundle = tree.bundle().unwrap();
        let names: Vec<&str> = bundle.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.cue", "b.cue"]);
        let packages: Vec<(&str, Vec<&str>)> = bundle
            .packages
            .iter()
            .map(|p| (p.path.as_str(), p.files.iter().map(|f| f.name.as_str()).collect()))
            .collect();
        assert_eq!(
            packages,
            [
                ("example.com/platform/policy", vec!["policy/p.cue"]),
                ("k8s.io/api/core/v1", vec!["cue.mod/gen/k8s.io/api/core/v1/types.cue"]),
            ]
        );
        assert_eq!(Sources::from_json(&tree.to_json()).unwrap(), tree);
    }

    #[test]
    fn refuses_what_is_not_one_package() {
        let empty = sources("m", &[("m/readme.md", "")]);
        assert!(matches!(empty.bundle(), Err(TreeError::NoFiles { .. })));
        let two = sources("", &[("a.cue", "package a\n"), ("b.cue", "package b\n")]);
        assert!(matches!(two.bundle(), Err(TreeError::Packages { .. })));
        let escaping = sources(
            "",
            &[("cue.mod/module.cue", "module: \"x.io/m\"\n"), ("a.cue", "package a\nimport \"x.io/m/..\"\n")],
        );
        assert_eq!(escaping.bundle().unwrap().packages.len(), 0);
        let mut big = Sources::default();
        big.files.insert("a.cue".into(), "x".repeat(MAX_SOURCE_BYTES + 1));
        assert!(matches!(big.bundle(), Err(TreeError::TooLarge(_))));
    }
}
