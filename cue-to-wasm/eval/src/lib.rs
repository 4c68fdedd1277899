//! The CUE evaluator: value model, unification, disjunctions with defaults, closedness by conjunct
//! provenance, comprehensions, and export compatible with `cue export`.
//!
//! ```
//! let files = [cue_eval::SourceFile::new("in.cue", "a: *1 | int\nb: a + 1\n")];
//! let out = cue_eval::export(&files, &cue_eval::Options::default()).expect("exports");
//! assert_eq!(out, "{\n    \"a\": 1,\n    \"b\": 2\n}\n");
//! ```

mod builtins;
pub mod error;
mod eval;
pub mod export;
mod expr;
pub mod num;
mod ops;
pub mod order;
pub mod package;
mod stdlib;
pub mod value;
pub mod vertex;
mod walk;

use cue_syntax::LineIndex;
use cue_syntax::ast::{Decl, File};

pub use error::{CueError, ErrorKind};
pub use eval::Evaluator;
pub use export::{Data, Diagnostic};

/// The stack size of the evaluation thread: deep configurations recurse deeply.
const STACK_SIZE: usize = 512 * 1024 * 1024;

/// A source file of the package.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name shown in error positions, e.g. `./in.cue`.
    pub name: String,
    /// The text.
    pub text: String,
}

impl SourceFile {
    /// Creates a source file.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile { name: name.into(), text: text.into() }
    }
}

/// The output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// JSON with 4-space indentation.
    #[default]
    Json,
    /// YAML.
    Yaml,
    /// Text: the value must be a string (or number or bool), printed as is.
    Text,
}

/// Export options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-e expr`: export this expression instead of the whole package.
    pub expression: Option<String>,
    /// The output format.
    pub format: Format,
    /// Fields in label order instead of the evaluation order (`CUE_DEBUG=sortfields`).
    pub sort_fields: bool,
}

/// Where imported packages come from (module-local packages, `cue.mod/gen`, `cue.mod/pkg`, …): the
/// evaluator reads no files itself, so a loader (the CLI's, or an embedder's table) supplies them.
/// Standard library imports (`strings`, `encoding/json`, …) need no source.
pub trait PackageSource {
    /// Returns the files of the package with import path `path` (which may carry a `:name` qualifier),
    /// `Ok(None)` if there is no such package, or an error that stops the export.
    fn package(&self, path: &str) -> Result<Option<Vec<SourceFile>>, String>;
}

/// A [`PackageSource`] without packages: only standard library imports resolve.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPackages;

impl PackageSource for NoPackages {
    fn package(&self, _path: &str) -> Result<Option<Vec<SourceFile>>, String> {
        Ok(None)
    }
}

/// Limits on the work of one export, for embedders that run untrusted or unknown input natively (the
/// sandboxed runtime is bounded by its fuel and memory limits instead).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// The most evaluation steps (a node evaluated or created, a comprehension yield); `None`: unbounded.
    pub max_steps: Option<u64>,
}

/// Why an export failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportError {
    /// The program's errors, as `cue` prints them.
    Program(String),
    /// Evaluation took more than this many steps ([`Limits::max_steps`]).
    StepLimit(u64),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Program(text) => f.write_str(text),
            ExportError::StepLimit(steps) => writeln!(f, "evaluation stopped: more than {steps} steps"),
        }
    }
}

/// Parses, evaluates and exports a package; on failure returns the error text as `cue` prints it.
pub fn export(files: &[SourceFile], options: &Options) -> Result<String, String> {
    export_with(files, &NoPackages, options)
}

/// Like [`export`], with imported packages taken from `packages`.
pub fn export_with(files: &[SourceFile], packages: &dyn PackageSource, options: &Options) -> Result<String, String> {
    export_limited(files, packages, options, Limits::default()).map_err(|e| e.to_string())
}

/// Like [`export_with`], within `limits`.
pub fn export_limited(
    files: &[SourceFile],
    packages: &dyn PackageSource,
    options: &Options,
    limits: Limits,
) -> Result<String, ExportError> {
    let imported = collect_packages(files, packages).map_err(ExportError::Program)?;
    run_deep(files.to_vec(), imported, options.clone(), limits)
}

/// Runs the export on a thread with a large stack where threads exist; inline on WebAssembly (whose
/// stack size is set when the module is linked).
#[cfg(not(target_family = "wasm"))]
fn run_deep(
    files: Vec<SourceFile>,
    imported: Vec<(String, Vec<SourceFile>)>,
    options: Options,
    limits: Limits,
) -> Result<String, ExportError> {
    let worker = std::thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn(move || export_here(&files, &imported, &options, limits));
    match worker.map(|handle| handle.join()) {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(ExportError::Program("internal error: the evaluator panicked\n".into())),
        Err(e) => Err(ExportError::Program(format!("internal error: cannot start the evaluation thread: {e}\n"))),
    }
}

#[cfg(target_family = "wasm")]
fn run_deep(
    files: Vec<SourceFile>,
    imported: Vec<(String, Vec<SourceFile>)>,
    options: Options,
    limits: Limits,
) -> Result<String, ExportError> {
    let _ = STACK_SIZE;
    export_here(&files, &imported, &options, limits)
}

/// Converts YAML text (one or more documents) to CUE source text with one embedded value per
/// document, for loaders that take YAML data files as input. An empty stream becomes `null`.
pub fn yaml_to_cue(text: &str) -> Result<String, String> {
    let docs = stdlib::parse_yaml_stream(text)?;
    if docs.is_empty() {
        return Ok("null\n".into());
    }
    let mut out = String::new();
    for d in docs {
        stdlib::compact_json(&d, &mut out);
        out.push('\n');
    }
    Ok(out)
}

/// Checks that `text` is one JSON value (`stream`: a sequence of values, as in JSON Lines).
pub fn check_json(text: &str, stream: bool) -> Result<(), String> {
    let ok = if stream { stdlib::parse_json_stream(text).is_some() } else { stdlib::parse_json(text).is_some() };
    if ok { Ok(()) } else { Err("invalid JSON: invalid character in JSON input".into()) }
}

/// Returns true for standard library import paths (no dot in the first path element).
pub fn is_std_import(path: &str) -> bool {
    !path.split('/').next().unwrap_or("").contains('.')
}

/// Finds every non-standard package the files import, transitively, in the order first met.
fn collect_packages(
    files: &[SourceFile],
    source: &dyn PackageSource,
) -> Result<Vec<(String, Vec<SourceFile>)>, String> {
    let mut found: Vec<(String, Vec<SourceFile>)> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let mut queue: Vec<String> = files.iter().flat_map(|f| imports_of(&f.text)).collect();
    while let Some(path) = queue.pop() {
        if is_std_import(&path) || found.iter().any(|(p, _)| *p == path) || missing.contains(&path) {
            continue;
        }
        match source.package(&path)? {
            Some(pkg_files) => {
                queue.extend(pkg_files.iter().flat_map(|f| imports_of(&f.text)));
                found.push((path, pkg_files));
            }
            None => missing.push(path),
        }
    }
    Ok(found)
}

fn imports_of(text: &str) -> Vec<String> {
    let (file, _) = cue_syntax::parse(text);
    file.imports.iter().flat_map(|i| &i.specs).map(|s| s.path.as_str().to_string()).collect()
}

fn export_here(
    main: &[SourceFile],
    imported: &[(String, Vec<SourceFile>)],
    options: &Options,
    limits: Limits,
) -> Result<String, ExportError> {
    let mut files: Vec<SourceFile> = main.to_vec();
    let mut layout = vec![(String::new(), (0..main.len() as u32).collect::<Vec<u32>>())];
    for (path, pkg_files) in imported {
        let start = files.len() as u32;
        files.extend(pkg_files.iter().cloned());
        layout.push((path.clone(), (start..files.len() as u32).collect()));
    }
    let files = &files[..];
    let mut parsed = Vec::new();
    let mut syntax = String::new();
    for f in files {
        let (file, errors) = cue_syntax::parse(&f.text);
        let index = LineIndex::new(&f.text);
        for e in errors {
            syntax.push_str(&format!("{}:\n    {}:{}\n", e.message, f.name, index.line_col(e.span.start)));
        }
        parsed.push(file);
    }
    if !syntax.is_empty() {
        return Err(ExportError::Program(syntax));
    }
    let expression = options.expression.as_deref().map(cue_syntax::parse);
    let mut ev = Evaluator::with_packages(&parsed, layout);
    ev.set_max_steps(limits.max_steps);
    let result = export_evaluated(&mut ev, expression.as_ref(), options, files);
    match limits.max_steps {
        Some(max) if ev.out_of_steps() => Err(ExportError::StepLimit(max)),
        _ => result.map_err(ExportError::Program),
    }
}

/// Exports the evaluator's package (or `-e` expression) in the requested format.
fn export_evaluated<'a>(
    ev: &mut Evaluator<'a>,
    expression: Option<&'a (File, Vec<cue_syntax::SyntaxError>)>,
    options: &Options,
    files: &[SourceFile],
) -> Result<String, String> {
    let mut errors: Vec<Diagnostic> =
        ev.static_errors().into_iter().map(|(path, e)| Diagnostic { path, error: std::rc::Rc::new(e) }).collect();
    if !errors.is_empty() {
        return Err(render_errors(&errors, files));
    }
    let data = match (expression, &options.expression) {
        (Some(parsed), Some(text)) => export_expression(ev, parsed, text, &mut errors),
        _ => {
            let root = ev.root;
            ev.export_node(root, &mut errors)
        }
    };
    let data = if options.sort_fields { data.map(sorted) } else { data };
    match data {
        Some(d) if errors.is_empty() => match options.format {
            Format::Json => Ok(export::to_json(&d)),
            Format::Yaml => Ok(export::to_yaml(&d)),
            Format::Text => match d {
                Data::Str(s) => Ok(format!("{s}\n")),
                other => {
                    let prefix = options.expression.as_deref().map(|e| format!("{e}: ")).unwrap_or_default();
                    let (text, kind) = (compact_cue(&other), data_kind(&other));
                    Err(format!("{prefix}cannot use value {text} (type {kind}) as string\n"))
                }
            },
        },
        _ => Err(render_errors(&only_permanent(errors), files)),
    }
}

/// Data with every struct's fields sorted by label.
fn sorted(data: Data) -> Data {
    match data {
        Data::List(items) => Data::List(items.into_iter().map(sorted).collect()),
        Data::Object(fields) => {
            let mut fields: Vec<(String, Data)> = fields.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Data::Object(fields)
        }
        other => other,
    }
}

/// Like the official tool, reports only the permanent errors when there are any: incomplete values
/// and missing required fields are left out next to a conflict.
/// Errors that may come from this evaluator's own limits (an unsupported feature, a builtin it lacks,
/// its disjunction budget) hide nothing.
fn only_permanent(errors: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let hides = |d: &Diagnostic| {
        !d.error.kind.is_incomplete()
            && !matches!(d.error.kind, ErrorKind::Unsupported | ErrorKind::NotFound)
            && !d.error.message.contains("budget exceeded")
    };
    if !errors.iter().any(hides) {
        return errors;
    }
    errors.into_iter().filter(|d| !d.error.kind.is_incomplete()).collect()
}

/// The kind of exported data, as error messages name it.
fn data_kind(d: &Data) -> &'static str {
    match d {
        Data::Null => "null",
        Data::Bool(_) => "bool",
        Data::Num(n) if n.contains(['.', 'E']) => "float",
        Data::Num(_) => "int",
        Data::Str(_) => "string",
        Data::List(_) => "list",
        Data::Object(_) => "struct",
    }
}

/// Data in compact CUE syntax (`{a:1,b:[true]}`), as values are shown in messages.
fn compact_cue(d: &Data) -> String {
    match d {
        Data::Null => "null".into(),
        Data::Bool(b) => b.to_string(),
        Data::Num(n) => n.clone(),
        Data::Str(s) => value::quote(s),
        Data::List(items) => format!("[{}]", items.iter().map(compact_cue).collect::<Vec<_>>().join(",")),
        Data::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| {
                    format!("{}:{}", export::format_label(&vertex::Label::string(k.as_str().into())), compact_cue(v))
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
    }
}

fn export_expression<'a>(
    ev: &mut Evaluator<'a>,
    parsed: &'a (File, Vec<cue_syntax::SyntaxError>),
    text: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<Data> {
    let (file, syntax) = parsed;
    let expr = match file.decls.as_slice() {
        [Decl::Embed(e)] if syntax.is_empty() => e,
        _ => {
            let err = CueError::new(ErrorKind::Eval, format!("invalid expression {text:?}"));
            errors.push(Diagnostic { path: String::new(), error: std::rc::Rc::new(err) });
            return None;
        }
    };
    ev.export_expr(expr, errors)
}

fn render_errors(errors: &[Diagnostic], files: &[SourceFile]) -> String {
    let indexes: Vec<LineIndex> = files.iter().map(|f| LineIndex::new(&f.text)).collect();
    let mut out = String::new();
    for d in errors {
        let prefix = if d.path.is_empty() { String::new() } else { format!("{}: ", d.path) };
        let colon = if d.error.positions.is_empty() { "" } else { ":" };
        out.push_str(&format!("{prefix}{}{colon}\n", d.error.message));
        for pos in &d.error.positions {
            let Some(file) = files.get(pos.file as usize) else { continue };
            out.push_str(&format!("    {}:{}\n", file.name, indexes[pos.file as usize].line_col(pos.offset)));
        }
    }
    out
}
