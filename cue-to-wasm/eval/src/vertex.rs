//! Nodes of the evaluation graph, conjuncts and lexical environments.

use std::rc::Rc;

use cue_syntax::ast::{Decl, Expr};
use indexmap::IndexMap;

use crate::error::{CueError, Pos};
use crate::order::StructInfo;
use crate::value::{VId, Value};

/// A field label or list index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    /// A struct field written as an identifier: `#x` and `_#x` are definitions, `_x` is hidden. A field
    /// written as a string is the same field when its name does not start with `#` or `_`.
    Field(Rc<str>),
    /// A regular field whose name starts with `#` or `_` but is written as a string (`"#x"`, `"\(k)"`,
    /// `("_y")`, `a["#x"]`, a data file's key): unlike the identifier `#x` or `_y`, it is neither a
    /// definition nor hidden, and is exported.
    Quoted(Rc<str>),
    /// A list element.
    Index(usize),
}

impl Label {
    /// The label of a field written as the identifier `name`.
    pub fn ident(name: Rc<str>) -> Label {
        Label::Field(name)
    }

    /// The label of a field written as the string `name` (quoted, interpolated, computed or an index).
    pub fn string(name: Rc<str>) -> Label {
        if name.starts_with('#') || name.starts_with('_') { Label::Quoted(name) } else { Label::Field(name) }
    }

    /// Returns the field name, if this is a field label.
    pub fn name(&self) -> Option<&str> {
        match self {
            Label::Field(name) | Label::Quoted(name) => Some(name),
            Label::Index(_) => None,
        }
    }

    /// Returns true for regular (exported) field labels and list indexes: not hidden, not a definition.
    pub fn is_regular(&self) -> bool {
        match self {
            Label::Field(name) => !name.starts_with('_') && !name.starts_with('#'),
            Label::Quoted(_) | Label::Index(_) => true,
        }
    }

    /// Returns true for regular field labels (not list indexes).
    pub fn is_regular_field(&self) -> bool {
        self.name().is_some() && self.is_regular()
    }

    /// Returns true for definition labels `#X` and `_#X`.
    pub fn is_definition(&self) -> bool {
        matches!(self, Label::Field(n) if n.starts_with('#') || n.starts_with("_#"))
    }
}

/// How a field is declared: the strongest declaration wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ArcKind {
    /// `a?: T`.
    Optional,
    /// `a!: T`.
    Required,
    /// `a: T`.
    Regular,
}

/// A field of a node.
#[derive(Clone, Copy, Debug)]
pub struct Arc {
    /// The field's node.
    pub vid: VId,
    /// How it is declared.
    pub kind: ArcKind,
}

/// The evaluation state of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not evaluated yet.
    Fresh,
    /// Being evaluated (a reference reaching it is a cycle).
    Busy,
    /// Evaluated.
    Done,
}

/// Where a conjunct comes from.
#[derive(Clone, Debug)]
pub enum Src<'a> {
    /// An expression of the source.
    Expr(&'a Expr),
    /// The declarations of all files of the package.
    Root,
    /// The declarations of all files of an imported package (an index into the evaluator's packages).
    Package(usize),
    /// An evaluated value.
    Value(Value),
}

/// One conjunct of a node: an expression in its lexical environment, with closedness provenance.
#[derive(Clone, Debug)]
pub struct Conj<'a> {
    /// The expression or value.
    pub src: Src<'a>,
    /// The lexical environment.
    pub env: Env<'a>,
    /// The closedness groups that vouch for the fields this conjunct declares.
    pub groups: Rc<[u32]>,
    /// For an embedded conjunct, the group of the struct literal embedding it.
    pub embed: Option<u32>,
    /// The position of the outermost reference through which this conjunct was reached (field order).
    pub via: Option<Pos>,
    /// The conjunct is an operand of an explicit `&` (field order).
    pub explicit: bool,
}

/// A lexical environment: a chain of frames.
pub type Env<'a> = Option<Rc<Frame<'a>>>;

/// One scope.
#[derive(Debug)]
pub struct Frame<'a> {
    /// The enclosing scope.
    pub parent: Env<'a>,
    /// What this scope binds.
    pub scope: Scope<'a>,
    /// The index of the file whose source this scope belongs to.
    pub file: u32,
}

/// What a scope binds.
#[derive(Debug)]
pub enum Scope<'a> {
    /// The fields and lets of struct literals, resolved in the node they are evaluated into.
    Struct {
        /// The node.
        vid: VId,
        /// The declarations (several for the files of a package).
        decls: Vec<&'a [Decl]>,
    },
    /// A name bound to a value (comprehension variables, pattern aliases).
    Bind {
        /// The name.
        name: Rc<str>,
        /// The value.
        value: Value,
    },
}

/// A node of the evaluation graph.
#[derive(Debug)]
pub struct Vertex<'a> {
    /// The enclosing node.
    pub parent: Option<VId>,
    /// The label in the parent.
    pub label: Option<Label>,
    /// The conjuncts.
    pub conjs: Vec<Conj<'a>>,
    /// The evaluation state.
    pub state: State,
    /// The value once evaluated.
    pub value: Value,
    /// The fields or elements.
    pub arcs: IndexMap<Label, Arc>,
    /// True for `close()` results.
    pub closing: bool,
    /// For a disjunction branch: the branch chosen for each node-valued disjunction met.
    pub choice: Vec<usize>,
    /// True for disjunction branches.
    pub is_branch: bool,
    /// References expanded into this node: (expression address, target).
    pub refs: Vec<(usize, VId)>,
    /// An error decided by the parent (a field not allowed).
    pub forced: Option<Rc<CueError>>,
    /// The incomplete error of a comprehension whose clauses cannot be decided yet (a condition over a value
    /// that is not concrete here, like `if environment == "prod"` inside a definition). The node keeps its other
    /// fields, so that a reference re-evaluates its conjuncts where the value is concrete
    /// (`#A & {environment: "prod"}`); export and the consumers of its fields ([`crate::Evaluator`]'s
    /// `finished`) report the error.
    pub unresolved: Option<Value>,
    /// The position of the first conjunct.
    pub pos: Option<Pos>,
    /// True for open lists.
    pub open_list: bool,
    /// How many times the node was evaluated again after meeting a cycle.
    pub reevaluations: u32,
    /// The number of ancestors.
    pub depth: u32,
    /// For a disjunction branch, how many of `refs` were inherited from the split node.
    pub inherited_refs: usize,
    /// The struct literals evaluated into the node, for the order of its fields.
    pub structs: Vec<StructInfo>,
}

impl<'a> Vertex<'a> {
    /// Creates a fresh node.
    pub fn new(parent: Option<VId>, label: Option<Label>) -> Vertex<'a> {
        Vertex {
            parent,
            label,
            conjs: Vec::new(),
            state: State::Fresh,
            value: Value::Top,
            arcs: IndexMap::new(),
            closing: false,
            choice: Vec::new(),
            is_branch: false,
            refs: Vec::new(),
            forced: None,
            unresolved: None,
            pos: None,
            open_list: false,
            reevaluations: 0,
            depth: 0,
            inherited_refs: 0,
            structs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Label;

    #[test]
    fn labels_written_as_strings_are_regular_fields() {
        // (label, regular, definition)
        let table = [
            (Label::ident("a".into()), true, false),
            (Label::ident("#a".into()), false, true),
            (Label::ident("_#a".into()), false, true),
            (Label::ident("_a".into()), false, false),
            (Label::string("a".into()), true, false),
            (Label::string("#a".into()), true, false),
            (Label::string("_#a".into()), true, false),
            (Label::string("_a".into()), true, false),
        ];
        for (label, regular, definition) in table {
            assert_eq!((label.is_regular(), label.is_definition()), (regular, definition), "{label:?}");
        }
        assert_eq!(Label::string("a".into()), Label::ident("a".into()), "\"a\" and a are one field");
        assert_ne!(Label::string("#a".into()), Label::ident("#a".into()), "\"#a\" and #a are two fields");
    }
}
