//! The abstract syntax tree. Every node carries the byte span of the source text it covers.
//!
//! The tree is shaped for an evaluator: string literals are already decoded, the shorthand
//! `a: b: c` is a field whose value is a one-field struct marked `shorthand`, and syntax that
//! could not be parsed becomes an `Error` node next to a reported `SyntaxError`.

use crate::span::Span;

/// A parsed `.cue` file.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    /// The whole file.
    pub span: Span,
    /// Attributes before the package clause, such as `@if(debug)` or `@experiment(try)`.
    pub attributes: Vec<Attribute>,
    /// The package clause, if any.
    pub package: Option<PackageClause>,
    /// The import declarations, in order.
    pub imports: Vec<ImportDecl>,
    /// The top-level declarations.
    pub decls: Vec<Decl>,
    /// The spans of all `//` comments, for tools that want them (the formatter).
    pub comments: Vec<Span>,
}

/// `package name`.
#[derive(Clone, Debug, PartialEq)]
pub struct PackageClause {
    /// The whole clause.
    pub span: Span,
    /// The package name.
    pub name: Ident,
}

/// `import "path"`, `import name "path"` or `import ( … )`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportDecl {
    /// The whole declaration.
    pub span: Span,
    /// The imported packages.
    pub specs: Vec<ImportSpec>,
}

/// One imported package.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportSpec {
    /// The whole specification.
    pub span: Span,
    /// The local name, if given.
    pub name: Option<Ident>,
    /// The import path, decoded (it may carry a `:pkg` qualifier).
    pub path: StringLit,
}

/// An identifier, also used for `_` (top).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// Where it is.
    pub span: Span,
    /// The name, e.g. `#Def` or `_hidden`.
    pub name: Box<str>,
}

/// An attribute `@name(body)`; the body is kept as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The whole attribute.
    pub span: Span,
    /// The name after `@`.
    pub name: Box<str>,
    /// The text between the parentheses.
    pub body: Box<str>,
}

/// A declaration in a file or struct literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Decl {
    /// A field `label: value`.
    Field(Field),
    /// An embedded expression.
    Embed(Expr),
    /// A comprehension, whose yielded struct is embedded.
    Comprehension(Comprehension),
    /// `let name = expr`.
    Let(LetClause),
    /// `...` (open struct).
    Ellipsis(Ellipsis),
    /// An attribute standing as a declaration (a struct attribute).
    Attribute(Attribute),
    /// An import declaration that appears after other declarations (reported as an error).
    Import(ImportDecl),
    /// Text that could not be parsed as a declaration.
    Error(Span),
}

impl Decl {
    /// Returns the span of the declaration.
    pub fn span(&self) -> Span {
        match self {
            Decl::Field(f) => f.span,
            Decl::Embed(e) => e.span,
            Decl::Comprehension(c) => c.span,
            Decl::Let(l) => l.span,
            Decl::Ellipsis(e) => e.span,
            Decl::Attribute(a) => a.span,
            Decl::Import(i) => i.span,
            Decl::Error(span) => *span,
        }
    }
}

/// A field `label: value`, possibly with a constraint marker and attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The whole field, including its attributes.
    pub span: Span,
    /// The label.
    pub label: Label,
    /// `?`, `!` or none.
    pub constraint: Constraint,
    /// The value (for `a: b: c`, a shorthand struct holding `b: c`).
    pub value: Expr,
    /// Attributes after the value.
    pub attributes: Vec<Attribute>,
}

/// The marker after a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// A regular field.
    None,
    /// `?`: an optional field constraint.
    Optional,
    /// `!`: a required field constraint.
    Required,
}

/// A field label, with its optional alias `X=label`.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// The whole label, including the alias.
    pub span: Span,
    /// `X` in `X=label`.
    pub alias: Option<Ident>,
    /// What kind of label it is.
    pub kind: LabelKind,
    /// `K` in `label~K` or `(K, V)` in `label~(K, V)` (the `aliasv2` experiment).
    pub postfix_alias: Option<PostfixAlias>,
}

/// The forms a label can take.
#[derive(Clone, Debug, PartialEq)]
pub enum LabelKind {
    /// `name` (keywords such as `if` or `true` included).
    Ident(Ident),
    /// `"quoted"`.
    String(StringLit),
    /// `"interpolated \(x)"`.
    Interpolation(Interpolation),
    /// `(expr)`: a dynamic field.
    Dynamic(Box<Expr>),
    /// `[expr]`: a pattern constraint; the expression may be an alias `[X=expr]`.
    Pattern(Box<Expr>),
    /// `[for …]`: a comprehension where a pattern belongs. The official tool parses it and rejects
    /// it when compiling ("comprehension values not allowed in this position"); so must the evaluator.
    Comprehension(Box<Comprehension>),
    /// Something that cannot be a label (already reported).
    Error(Box<Expr>),
}

/// The `aliasv2` experiment's postfix alias on a label.
#[derive(Clone, Debug, PartialEq)]
pub struct PostfixAlias {
    /// The whole alias including `~`.
    pub span: Span,
    /// The first name inside parentheses: `K` in `~(K, V)` or `~(K)`.
    pub label: Option<Ident>,
    /// The name outside parentheses or second inside: `V` in `~V` or `~(K, V)`.
    pub value: Option<Ident>,
}

/// `let name = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct LetClause {
    /// The whole clause.
    pub span: Span,
    /// The bound name.
    pub name: Ident,
    /// The bound expression.
    pub value: Expr,
}

/// `...` or `...T`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ellipsis {
    /// The whole ellipsis.
    pub span: Span,
    /// The element type of an open list, if given.
    pub ty: Option<Box<Expr>>,
}

/// Clauses followed by a struct: `for k, v in x if cond { … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comprehension {
    /// The whole comprehension.
    pub span: Span,
    /// The clauses, at least one, the first a `for`, `if` or `try`.
    pub clauses: Vec<Clause>,
    /// The yielded struct.
    pub body: Box<Expr>,
    /// The `else { … }` or `fallback { … }` struct (experiments).
    pub fallback: Option<Box<Expr>>,
}

/// One comprehension clause.
#[derive(Clone, Debug, PartialEq)]
pub enum Clause {
    /// `for key, value in source` (the key is optional).
    For {
        /// The whole clause.
        span: Span,
        /// The key or index variable.
        key: Option<Ident>,
        /// The value variable.
        value: Ident,
        /// What is iterated over.
        source: Expr,
    },
    /// `if condition`.
    If {
        /// The whole clause.
        span: Span,
        /// The condition.
        condition: Expr,
    },
    /// `let name = value`.
    Let(LetClause),
    /// `try` or `try name = expr` (the `try` experiment).
    Try {
        /// The whole clause.
        span: Span,
        /// The optional binding.
        binding: Option<(Ident, Expr)>,
    },
}

/// An expression and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// Where it is.
    pub span: Span,
    /// What it is.
    pub kind: ExprKind,
}

/// The kinds of expressions.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A reference or `_`.
    Ident(Ident),
    /// `_|_`.
    Bottom,
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number literal.
    Number(NumberLit),
    /// A string or bytes literal without interpolation.
    String(StringLit),
    /// An interpolated string or bytes literal.
    Interpolation(Interpolation),
    /// `[a, b, ...T]`.
    List(Vec<ListElem>),
    /// `{ decls }`.
    Struct(StructLit),
    /// `(expr)`.
    Paren(Box<Expr>),
    /// `op operand`, including bounds such as `>=1` and the default marker `*x`.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// The operand.
        operand: Box<Expr>,
    },
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
    /// `base.name` or `base."quoted"`.
    Selector {
        /// The selected-from expression.
        base: Box<Expr>,
        /// The selector.
        selector: Selector,
    },
    /// `base[index]`.
    Index {
        /// The indexed expression.
        base: Box<Expr>,
        /// The index.
        index: Box<Expr>,
    },
    /// `base[low:high]` (kept so the evaluator can report it as unsupported).
    Slice {
        /// The sliced expression.
        base: Box<Expr>,
        /// The lower bound.
        low: Option<Box<Expr>>,
        /// The upper bound.
        high: Option<Box<Expr>>,
    },
    /// `func(args)`.
    Call {
        /// The called expression.
        func: Box<Expr>,
        /// The arguments.
        args: Vec<Expr>,
    },
    /// `name=expr` where an alias is allowed (field values, list elements, labels).
    Alias {
        /// The alias name.
        name: Ident,
        /// The aliased expression.
        expr: Box<Expr>,
    },
    /// `expr?` (the `try` experiment's optional reference).
    Optional(Box<Expr>),
    /// `expr...` (the `explicitopen` experiment's postfix spread).
    Spread(Box<Expr>),
    /// Text that could not be parsed as an expression (already reported).
    Error,
}

/// A selector after `.`.
#[derive(Clone, Debug, PartialEq)]
pub enum Selector {
    /// `.name`.
    Ident(Ident),
    /// `."quoted"`.
    String(StringLit),
}

/// A struct literal.
#[derive(Clone, Debug, PartialEq)]
pub struct StructLit {
    /// The declarations.
    pub decls: Vec<Decl>,
    /// True for the implicit struct of the shorthand `a: b: c` (no braces in the source).
    pub shorthand: bool,
}

/// An element of a list literal.
#[derive(Clone, Debug, PartialEq)]
pub enum ListElem {
    /// An element expression (possibly an alias).
    Expr(Expr),
    /// A comprehension yielding elements.
    Comprehension(Comprehension),
    /// `...` or `...T`, which opens the list.
    Ellipsis(Ellipsis),
}

/// The radix of a number literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Radix {
    /// Base 2, `0b`.
    Binary,
    /// Base 8, `0o`.
    Octal,
    /// Base 10.
    Decimal,
    /// Base 16, `0x`.
    Hex,
}

/// A number literal, kept as its source text; the evaluator parses it with arbitrary precision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberLit {
    /// True for integers (including `1.5Ki`-style multiplied literals), false for floats.
    pub is_int: bool,
    /// The radix.
    pub radix: Radix,
    /// The source text, e.g. `1_000`, `0xFF`, `1.5Gi`.
    pub text: Box<str>,
}

/// Whether a literal is a string or a bytes literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringKind {
    /// `"…"`, `"""…"""`: valid UTF-8.
    String,
    /// `'…'`, `'''…'''`: arbitrary bytes.
    Bytes,
}

/// A decoded string or bytes literal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StringLit {
    /// Where it is.
    pub span: Span,
    /// String or bytes.
    pub kind: StringKind,
    /// True for `"""` and `'''` literals.
    pub multiline: bool,
    /// The decoded value (valid UTF-8 for strings).
    pub value: Box<[u8]>,
}

impl StringLit {
    /// Returns the value as text (lossily for bytes that are not UTF-8).
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }
}

/// An interpolated literal: text parts and expressions, starting and ending with text.
#[derive(Clone, Debug, PartialEq)]
pub struct Interpolation {
    /// String or bytes.
    pub kind: StringKind,
    /// True for `"""` and `'''` literals.
    pub multiline: bool,
    /// Alternating parts: text, expression, text, …, text.
    pub parts: Vec<InterpPart>,
}

/// A part of an interpolated literal.
#[derive(Clone, Debug, PartialEq)]
pub enum InterpPart {
    /// Decoded literal text.
    Text(Box<[u8]>),
    /// An interpolated expression.
    Expr(Expr),
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `+x`
    Plus,
    /// `-x`
    Minus,
    /// `!x`
    Not,
    /// `*x`, the default marker.
    Default,
    /// `==x`
    Eq,
    /// `!=x`
    NotEq,
    /// `<x`
    Lt,
    /// `<=x`
    Le,
    /// `>x`
    Gt,
    /// `>=x`
    Ge,
    /// `=~x`
    Match,
    /// `!~x`
    NotMatch,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `|` (precedence 1).
    Disjunction,
    /// `&` (precedence 2).
    Unification,
    /// `||` (precedence 3).
    Or,
    /// `&&` (precedence 4).
    And,
    /// `==` (precedence 5).
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=~`
    Match,
    /// `!~`
    NotMatch,
    /// `+` (precedence 6).
    Add,
    /// `-`
    Sub,
    /// `*` (precedence 7).
    Mul,
    /// `/`
    Div,
}

impl BinaryOp {
    /// Returns the operator's precedence, 1 (`|`) to 7 (`*`, `/`).
    pub fn precedence(self) -> u8 {
        use BinaryOp::*;
        match self {
            Disjunction => 1,
            Unification => 2,
            Or => 3,
            And => 4,
            Eq | NotEq | Lt | Le | Gt | Ge | Match | NotMatch => 5,
            Add | Sub => 6,
            Mul | Div => 7,
        }
    }

    /// Returns the operator as written.
    pub fn as_str(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Disjunction => "|",
            Unification => "&",
            Or => "||",
            And => "&&",
            Eq => "==",
            NotEq => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            Match => "=~",
            NotMatch => "!~",
            Add => "+",
            Sub => "-",
            Mul => "*",
            Div => "/",
        }
    }
}

impl UnaryOp {
    /// Returns the operator as written.
    pub fn as_str(self) -> &'static str {
        use UnaryOp::*;
        match self {
            Plus => "+",
            Minus => "-",
            Not => "!",
            Default => "*",
            Eq => "==",
            NotEq => "!=",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            Match => "=~",
            NotMatch => "!~",
        }
    }
}
