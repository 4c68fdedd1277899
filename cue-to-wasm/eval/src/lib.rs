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
pub mod value;
pub mod vertex;

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
}

/// Export options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-e expr`: export this expression instead of the whole package.
    pub expression: Option<String>,
    /// The output format.
    pub format: Format,
}

/// Parses, evaluates and exports a package; on failure returns the error text as `cue` prints it.
pub fn export(files: &[SourceFile], options: &Options) -> Result<String, String> {
    let files = files.to_vec();
    let options = options.clone();
    let worker = std::thread::Builder::new().stack_size(STACK_SIZE).spawn(move || export_here(&files, &options));
    match worker.map(|handle| handle.join()) {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err("internal error: the evaluator panicked\n".into()),
        Err(e) => Err(format!("internal error: cannot start the evaluation thread: {e}\n")),
    }
}

fn export_here(files: &[SourceFile], options: &Options) -> Result<String, String> {
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
        return Err(syntax);
    }
    let expression = options.expression.as_deref().map(cue_syntax::parse);
    let mut ev = Evaluator::new(&parsed);
    let mut errors = Vec::new();
    let data = match (&expression, &options.expression) {
        (Some(parsed), Some(text)) => export_expression(&mut ev, parsed, text, &mut errors),
        _ => {
            let root = ev.root;
            ev.export_node(root, &mut errors)
        }
    };
    match data {
        Some(d) if errors.is_empty() => Ok(match options.format {
            Format::Json => export::to_json(&d),
            Format::Yaml => export::to_yaml(&d),
        }),
        _ => Err(render_errors(&errors, files)),
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
