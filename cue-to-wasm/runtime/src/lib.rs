//! The CUE module contract: turns a CUE package into a Pequod renderer.
//!
//! A module is one CUE package. The host's `input` (the Transform's `spec.input`) and `context` (the
//! [`pequod_graph::RenderContext`]) are unified into the package root as the fields `input` and `context`;
//! the module defines the rest:
//!
//! ```cue
//! module: {name: "webservice", version: "1.0.0"}   // what info() reports
//! #Input: {image: string, replicas: *1 | int & >=1 & <=20}
//! input: #Input
//! graph: nodes: deployment: {object: {...}, dependsOn: [...], readyWhen: [...], applyPolicy: {...}}
//! graph: exports: {...}                             // optional
//! ```
//!
//! [`Module::load`] parses the package once and evaluates what needs no input (metadata and the JSON Schema
//! of `#Input`); [`Module::render`] evaluates it with one input and context and maps the outcome onto the
//! renderer contract:
//!
//! - errors under `input` → [`RenderFailure::Rejected`], phase `input`, paths relative to `spec.input`;
//! - constraint failures inside a node's `object` (conflicts, bounds, closedness, explicit errors: the
//!   module's output policies) → rejected, phase `output`, path `<node id>.<field path>`;
//! - a node left incomplete by a reference to `context.observed` → *deferred*: left out of the graph's
//!   nodes (with every node depending on it) and listed in `Graph::deferred` with the reason; a re-render
//!   with more observed state completes it;
//! - any other error → [`RenderFailure::Failed`] with `file:line:col`.
//!
//! This crate does no IO: the `pequod-cue-runtime-component` crate wraps it as a WebAssembly component,
//! and `cue-to-wasm build` uses it natively to check a module before building it.

mod bundle;
mod contract;
mod path;
mod schema;
mod tree;

pub use bundle::{BUNDLE_VARIABLE, Bundle, BundleError, BundleFile, BundlePackage};
pub use cue_eval::SourceFile;
pub use path::Segment;
pub use tree::{MAX_SOURCE_BYTES, MAX_SOURCE_FILES, SOURCES_VARIABLE, SourceTree, Sources, TreeError};

use cue_eval::package::{Package, SyntaxProblem};
use pequod_graph::Violation;

/// Why a module cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The package has syntax errors.
    #[error("the module does not parse:\n{}", list(.0))]
    Syntax(Vec<SyntaxProblem>),
    /// The package has no `.cue` files.
    #[error("the module has no CUE files")]
    Empty,
    /// The `module` field is missing or malformed.
    #[error(
        "the module's metadata is missing or invalid: {0}; declare it in the package as \
         `module: {{name: \"my-module\", version: \"1.0.0\"}}`"
    )]
    Metadata(String),
    /// Errors the compiler finds before evaluation: imports that resolve to no package or are unused,
    /// references no scope declares, misplaced `try` clauses.
    #[error("{}", .0.iter().map(|line| line.trim()).collect::<Vec<_>>().join("; "))]
    Compile(Vec<String>),
    /// `#Input` is missing.
    #[error(
        "the module has no `#Input` definition; declare the schema of spec.input as `#Input: {{...}}` and \
         unify it with `input: #Input`"
    )]
    NoInputSchema,
}

fn list(problems: &[SyntaxProblem]) -> String {
    problems.iter().map(|p| format!("    {p}")).collect::<Vec<_>>().join("\n")
}

/// Why a render produced no graph; the two outcomes of the WIT `render-error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenderFailure {
    /// The input or the objects it leads to broke the module's rules.
    Rejected(Vec<Violation>),
    /// The module failed; the message says where (`file:line:col`).
    Failed(String),
}

/// A loaded module: parsed, with its metadata and input schema worked out.
#[derive(Debug)]
pub struct Module {
    package: Package,
    name: String,
    version: String,
    input_schema: String,
}

impl Module {
    /// Parses a module's files and evaluates what needs no input: the `module` metadata and the JSON
    /// Schema of `#Input`.
    pub fn load(files: Vec<SourceFile>) -> Result<Module, LoadError> {
        Module::load_with_imports(files, Vec::new())
    }

    /// [`Self::load`] for a module that imports packages (`(import path, files)`) besides the standard
    /// library.
    pub fn load_with_imports(
        files: Vec<SourceFile>,
        imported: Vec<(String, Vec<SourceFile>)>,
    ) -> Result<Module, LoadError> {
        if files.is_empty() {
            return Err(LoadError::Empty);
        }
        let package = Package::parse_with_imports(files, imported).map_err(LoadError::Syntax)?;
        let unresolved = package.import_errors();
        if !unresolved.is_empty() {
            let at = |e: &cue_eval::CueError| e.positions.iter().find_map(|p| package.position(*p)).unwrap_or_default();
            return Err(LoadError::Compile(
                unresolved.iter().map(|e| format!("    {}: {}", at(e), e.message)).collect(),
            ));
        }
        let (name, version, input_schema) = {
            let mut session = package.evaluate(None);
            let (name, version) = metadata(&mut session)?;
            let root = session.root();
            let (input, _) = session.field(root, "#Input").ok_or(LoadError::NoInputSchema)?;
            let schema = schema::input_schema(&mut session, input, &name);
            (name, version, schema.to_string())
        };
        Ok(Module { package, name, version, input_schema })
    }

    /// The module's name (a DNS label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The module's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The JSON Schema (draft 2020-12) of `#Input`, as JSON text.
    pub fn input_schema(&self) -> &str {
        &self.input_schema
    }

    /// The module's source files.
    pub fn sources(&self) -> &[SourceFile] {
        self.package.sources()
    }

    /// Renders `input` and `context` (JSON text) into a Graph (JSON text).
    pub fn render(&self, input: &str, context: &str) -> Result<String, RenderFailure> {
        contract::render(self, input, context)
    }
}

/// Reads `module: {name, version}`.
fn metadata(session: &mut cue_eval::package::Session<'_>) -> Result<(String, String), LoadError> {
    let root = session.root();
    let (field, _) = session.field(root, "module").ok_or_else(|| LoadError::Metadata("no `module` field".into()))?;
    let data = session.export(field).map_err(|errors| {
        let first = errors.first().map_or_else(String::new, |d| format!("{}: {}", d.path, d.error.message));
        LoadError::Metadata(format!("`module` is not concrete ({first})"))
    })?;
    let cue_eval::Data::Object(fields) = data else {
        return Err(LoadError::Metadata("`module` is not a struct".into()));
    };
    let text = |key: &str| {
        fields.iter().find(|(k, _)| k == key).and_then(|(_, v)| match v {
            cue_eval::Data::Str(s) => Some(s.clone()),
            _ => None,
        })
    };
    let name = text("name").ok_or_else(|| LoadError::Metadata("`module.name` is not a string".into()))?;
    let version = text("version").ok_or_else(|| LoadError::Metadata("`module.version` is not a string".into()))?;
    if !is_dns_label(&name) {
        return Err(LoadError::Metadata(format!("`module.name` {name:?} is not a DNS label (a-z, 0-9, `-`)")));
    }
    if !is_semver(&version) {
        return Err(LoadError::Metadata(format!("`module.version` {version:?} is not a SemVer version (1.2.3)")));
    }
    Ok((name, version))
}

fn is_dns_label(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn is_semver(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_checks() {
        assert!(is_dns_label("web-service1"));
        assert!(!is_dns_label("Web"));
        assert!(!is_dns_label("-a"));
        assert!(is_semver("1.2.3"));
        assert!(is_semver("1.2.3-rc.1+build"));
        assert!(!is_semver("1.2"));
        assert!(!is_semver("v1.2.3"));
    }
}
