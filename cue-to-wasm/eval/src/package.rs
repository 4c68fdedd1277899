//! A package parsed once and evaluated many times, with values from the host unified into its root.
//!
//! This is the API a long-lived embedder (the CUE renderer runtime) uses: [`Package::parse`] keeps the
//! syntax trees, and [`Package::evaluate`] starts a fresh [`Session`] over them, optionally unified with an
//! [`Injection`] (a struct literal parsed from text the host supplies, e.g. `{input: {…}, context: {…}}`).
//! A session walks the result node by node: fields with their declaration kind, evaluated values, the
//! element type of open lists, and export with every error found. Positions in the injected text are
//! reported as belonging to file index [`Package::injection_file`], never to a module file.
//!
//! ```
//! use cue_eval::package::{Injection, Package};
//! let package = Package::parse(vec![cue_eval::SourceFile::new("m.cue", "a: int\nb: a + 1\n")]).unwrap();
//! let injection = Injection::parse("{a: 41}").unwrap();
//! let mut session = package.evaluate(Some(&injection));
//! let b = session.field(session.root(), "b").unwrap().0;
//! assert_eq!(session.export(b).unwrap(), cue_eval::Data::Num("42".into()));
//! ```

use std::rc::Rc;

use cue_syntax::LineIndex;
use cue_syntax::ast::{self, Decl, Expr, ExprKind, ListElem};

use crate::error::Pos;
use crate::eval::Evaluator;
use crate::export::Diagnostic;
use crate::ops;
use crate::value::{VId, Value};
use crate::vertex::{ArcKind, Conj, Frame, Label, Scope, Src};
use crate::{Data, SourceFile};

/// A syntax error, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxProblem {
    /// What is wrong.
    pub message: String,
    /// `file:line:col`.
    pub position: String,
}

impl std::fmt::Display for SyntaxProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.position, self.message)
    }
}

/// The files of one package (and of the packages it imports), parsed.
pub struct Package {
    sources: Vec<SourceFile>,
    files: Vec<ast::File>,
    indexes: Vec<LineIndex>,
    /// Import path and file indexes of each package; the first is the main package.
    layout: Vec<(String, Vec<u32>)>,
}

impl std::fmt::Debug for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("Package").field("files", &names).finish()
    }
}

/// A struct literal from the host, to be unified into a package's root.
#[derive(Debug)]
pub struct Injection {
    file: ast::File,
}

impl Injection {
    /// Parses `text`, which must be one struct literal (`{…}`; JSON objects qualify).
    pub fn parse(text: &str) -> Result<Injection, String> {
        let (file, errors) = cue_syntax::parse(text);
        if let Some(error) = errors.first() {
            let at = LineIndex::new(text).line_col(error.span.start);
            return Err(format!("{} at {at}", error.message));
        }
        match file.decls.as_slice() {
            [Decl::Embed(Expr { kind: ExprKind::Struct(_), .. })] => Ok(Injection { file }),
            _ => Err("the injected text must be a single struct literal".into()),
        }
    }

    fn expr(&self) -> &Expr {
        match self.file.decls.as_slice() {
            [Decl::Embed(expr)] => expr,
            _ => unreachable!("checked by Injection::parse"),
        }
    }
}

impl Package {
    /// Parses the files of one package (importing only the standard library); on failure returns every
    /// syntax error with its position.
    pub fn parse(sources: Vec<SourceFile>) -> Result<Package, Vec<SyntaxProblem>> {
        Package::parse_with_imports(sources, Vec::new())
    }

    /// Parses the files of the main package and of the packages it imports (`(import path, files)`, e.g.
    /// from a module's own packages or `cue.mod`); on failure returns every syntax error with its position.
    pub fn parse_with_imports(
        main: Vec<SourceFile>,
        imported: Vec<(String, Vec<SourceFile>)>,
    ) -> Result<Package, Vec<SyntaxProblem>> {
        let mut layout = vec![(String::new(), (0..main.len() as u32).collect::<Vec<u32>>())];
        let mut sources = main;
        for (path, files) in imported {
            let start = sources.len() as u32;
            sources.extend(files);
            layout.push((path, (start..sources.len() as u32).collect()));
        }
        let mut files = Vec::with_capacity(sources.len());
        let mut indexes = Vec::with_capacity(sources.len());
        let mut problems = Vec::new();
        for source in &sources {
            let (file, errors) = cue_syntax::parse(&source.text);
            let index = LineIndex::new(&source.text);
            for error in errors {
                let position = format!("{}:{}", source.name, index.line_col(error.span.start));
                problems.push(SyntaxProblem { message: error.message.to_string(), position });
            }
            files.push(file);
            indexes.push(index);
        }
        if problems.is_empty() { Ok(Package { sources, files, indexes, layout }) } else { Err(problems) }
    }

    /// The source files.
    pub fn sources(&self) -> &[SourceFile] {
        &self.sources
    }

    /// The syntax trees, in the order of [`Self::sources`].
    pub fn files(&self) -> &[ast::File] {
        &self.files
    }

    /// Imports that resolve to no package, as errors at the import declarations.
    pub fn import_errors(&self) -> Vec<crate::CueError> {
        Evaluator::with_packages(&self.files, self.layout.clone()).import_errors()
    }

    /// The file index that positions inside an [`Injection`] carry.
    pub fn injection_file(&self) -> u32 {
        self.files.len() as u32
    }

    /// `file:line:col` of a position in one of the package's files; `None` for positions in an injection.
    pub fn position(&self, pos: Pos) -> Option<String> {
        let source = self.sources.get(pos.file as usize)?;
        Some(format!("{}:{}", source.name, self.indexes[pos.file as usize].line_col(pos.offset)))
    }

    /// The source text from a position to the end of its line; `None` for positions in an injection.
    pub fn line_from(&self, pos: Pos) -> Option<&str> {
        let text = &self.sources.get(pos.file as usize)?.text;
        let rest = text.get(pos.offset as usize..)?;
        Some(rest.split('\n').next().unwrap_or(rest))
    }

    /// Starts an evaluation of the package, unified with `injection` if given.
    pub fn evaluate<'a>(&'a self, injection: Option<&'a Injection>) -> Session<'a> {
        let mut ev = Evaluator::with_packages(&self.files, self.layout.clone());
        if let Some(injection) = injection {
            let root = ev.root;
            let frame = Frame {
                parent: None,
                scope: Scope::Struct { vid: root, decls: Vec::new() },
                file: self.injection_file(),
            };
            let conj = Conj {
                src: Src::Expr(injection.expr()),
                env: Some(Rc::new(frame)),
                groups: Rc::from([]),
                embed: None,
                via: None,
                explicit: false,
            };
            ev.vertices[root].conjs.push(conj);
        }
        Session { ev }
    }
}

/// One evaluation of a package. Nodes are evaluated lazily, as they are visited.
pub struct Session<'a> {
    ev: Evaluator<'a>,
}

impl Session<'_> {
    /// The package's root node.
    pub fn root(&self) -> VId {
        self.ev.root
    }

    /// The evaluated value of a node, with its default taken when it has exactly one.
    pub fn value(&mut self, v: VId) -> Value {
        ops::default_of(&self.ev.vertex_value(v))
    }

    /// The evaluated value of a node, defaults not taken (a disjunction stays a disjunction).
    pub fn raw_value(&mut self, v: VId) -> Value {
        self.ev.vertex_value(v)
    }

    /// The fields (or list elements) of a struct (or list) node, in order, with how each is declared;
    /// empty for other values.
    pub fn fields(&mut self, v: VId) -> Vec<(Label, ArcKind, VId)> {
        match self.value(v) {
            Value::Struct(s) | Value::List(s) => self.children(s),
            _ => Vec::new(),
        }
    }

    /// The fields of a struct node already known to be `s` (e.g. a branch of a disjunction).
    pub fn children(&mut self, s: VId) -> Vec<(Label, ArcKind, VId)> {
        self.ev.vertices[s].arcs.iter().map(|(label, arc)| (label.clone(), arc.kind, arc.vid)).collect()
    }

    /// The field `name` (as an identifier: `#Input` is the definition, not a field `"#Input"`) of a struct
    /// node, with how it is declared.
    pub fn field(&mut self, v: VId, name: &str) -> Option<(VId, ArcKind)> {
        let wanted = Label::ident(name.into());
        self.fields(v).into_iter().find(|(label, _, _)| *label == wanted).map(|(_, kind, vid)| (vid, kind))
    }

    /// The labels from the root to a node.
    pub fn labels(&self, v: VId) -> Vec<Label> {
        let mut labels = Vec::new();
        let mut cur = Some(v);
        while let Some(x) = cur {
            if let Some(label) = &self.ev.vertices[x].label {
                labels.push(label.clone());
            }
            cur = self.ev.vertices[x].parent;
        }
        labels.reverse();
        labels
    }

    /// Whether a list node is open (`[...T]`).
    pub fn is_open_list(&mut self, v: VId) -> bool {
        match self.value(v) {
            Value::List(s) => self.ev.vertices[s].open_list,
            _ => false,
        }
    }

    /// The element type of an open list node written as a literal `[…, ...T]`, evaluated; `None` when the
    /// list is closed or its type is not written in a literal.
    pub fn list_element(&mut self, v: VId) -> Option<Value> {
        let conjs = self.ev.vertices[v].conjs.clone();
        for conj in conjs {
            let Src::Expr(Expr { kind: ExprKind::List(elems), .. }) = conj.src else { continue };
            for elem in elems {
                if let ListElem::Ellipsis(ellipsis) = elem {
                    let src = ellipsis.ty.as_deref().map_or(Src::Value(Value::Top), Src::Expr);
                    let t = self.ev.temp_vertex(
                        v,
                        Conj {
                            src,
                            env: conj.env.clone(),
                            groups: conj.groups.clone(),
                            embed: None,
                            via: None,
                            explicit: false,
                        },
                    );
                    return Some(self.raw_value(t));
                }
            }
        }
        None
    }

    /// Exports a node (defaults taken; definitions, hidden and optional fields dropped), or returns every
    /// error found under it.
    pub fn export(&mut self, v: VId) -> Result<Data, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        match self.ev.export_node(v, &mut errors) {
            Some(data) if errors.is_empty() => Ok(data),
            _ => Err(errors),
        }
    }
}
