//! A walk over the syntax tree, and the checks the official tool's compiler makes on a whole file before
//! evaluation: imports the file never uses (`imported and not used: "list"`), references no scope declares
//! (`reference "x" not found`, even where evaluation would never go), comprehensions used as a field's label
//! (`[for x in l {x}]: T`), and the `try` experiment's rules (the `?` marker only inside a try clause; the
//! struct form of `try` last). It also finds the `?` markers a `try` clause must probe.

use cue_syntax::Span;
use cue_syntax::ast::{Clause, Comprehension, Decl, Expr, ExprKind, Ident, InterpPart, LabelKind, LetClause, ListElem};

/// What a walk is told about; each method returns whether to walk inside.
pub(crate) trait Visitor<'a> {
    /// An expression (before its parts).
    fn expr(&mut self, _e: &'a Expr) -> bool {
        true
    }
    /// A comprehension; `as_label` when it stands where a field's label belongs.
    fn comprehension(&mut self, _c: &'a Comprehension, _as_label: bool) -> bool {
        true
    }
    /// A declaration of a file or struct literal (before its parts).
    fn decl(&mut self, _d: &'a Decl) -> bool {
        true
    }
}

/// Walks declarations (import declarations are not walked).
pub(crate) fn walk_decls<'a>(decls: &'a [Decl], v: &mut dyn Visitor<'a>) {
    for decl in decls {
        if !v.decl(decl) {
            continue;
        }
        match decl {
            Decl::Field(f) => {
                match &f.label.kind {
                    LabelKind::Ident(_) | LabelKind::String(_) | LabelKind::Error(_) => {}
                    LabelKind::Interpolation(i) => walk_parts(&i.parts, v),
                    LabelKind::Dynamic(e) | LabelKind::Pattern(e) => walk_expr(e, v),
                    LabelKind::Comprehension(c) => walk_comprehension(c, true, v),
                }
                walk_expr(&f.value, v);
            }
            Decl::Embed(e) => walk_expr(e, v),
            Decl::Comprehension(c) => walk_comprehension(c, false, v),
            Decl::Let(l) => walk_expr(&l.value, v),
            Decl::Ellipsis(e) => {
                if let Some(t) = &e.ty {
                    walk_expr(t, v);
                }
            }
            Decl::Attribute(_) | Decl::Import(_) | Decl::Error(_) => {}
        }
    }
}

fn walk_parts<'a>(parts: &'a [InterpPart], v: &mut dyn Visitor<'a>) {
    for p in parts {
        if let InterpPart::Expr(e) = p {
            walk_expr(e, v);
        }
    }
}

/// Walks a comprehension: its clauses, body and fallback.
pub(crate) fn walk_comprehension<'a>(c: &'a Comprehension, as_label: bool, v: &mut dyn Visitor<'a>) {
    if !v.comprehension(c, as_label) {
        return;
    }
    for clause in &c.clauses {
        match clause {
            Clause::For { source, .. } => walk_expr(source, v),
            Clause::If { condition, .. } => walk_expr(condition, v),
            Clause::Let(l) => walk_expr(&l.value, v),
            Clause::Try { binding, .. } => {
                if let Some((_, e)) = binding {
                    walk_expr(e, v);
                }
            }
        }
    }
    walk_expr(&c.body, v);
    if let Some(f) = &c.fallback {
        walk_expr(f, v);
    }
}

/// Walks an expression and everything inside it.
pub(crate) fn walk_expr<'a>(e: &'a Expr, v: &mut dyn Visitor<'a>) {
    if !v.expr(e) {
        return;
    }
    match &e.kind {
        ExprKind::Ident(_)
        | ExprKind::Bottom
        | ExprKind::Null
        | ExprKind::Bool(_)
        | ExprKind::Number(_)
        | ExprKind::String(_)
        | ExprKind::Error => {}
        ExprKind::Interpolation(i) => walk_parts(&i.parts, v),
        ExprKind::List(elems) => {
            for el in elems {
                match el {
                    ListElem::Expr(e) => walk_expr(e, v),
                    ListElem::Comprehension(c) => walk_comprehension(c, false, v),
                    ListElem::Ellipsis(ell) => {
                        if let Some(t) = &ell.ty {
                            walk_expr(t, v);
                        }
                    }
                }
            }
        }
        ExprKind::Struct(lit) => walk_decls(&lit.decls, v),
        ExprKind::Paren(inner)
        | ExprKind::Optional(inner)
        | ExprKind::Spread(inner)
        | ExprKind::Alias { expr: inner, .. }
        | ExprKind::Unary { operand: inner, .. }
        | ExprKind::Selector { base: inner, .. } => walk_expr(inner, v),
        ExprKind::Binary { lhs, rhs, .. } => {
            walk_expr(lhs, v);
            walk_expr(rhs, v);
        }
        ExprKind::Index { base, index } => {
            walk_expr(base, v);
            walk_expr(index, v);
        }
        ExprKind::Slice { base, low, high } => {
            walk_expr(base, v);
            for e in [low, high].into_iter().flatten() {
                walk_expr(e, v);
            }
        }
        ExprKind::Call { func, args } => {
            walk_expr(func, v);
            for a in args {
                walk_expr(a, v);
            }
        }
    }
}

/// Returns true when `name` appears as an identifier anywhere in the declarations (outside imports).
pub(crate) fn uses_name(decls: &[Decl], name: &str) -> bool {
    struct Uses<'n> {
        name: &'n str,
        found: bool,
    }
    impl<'a> Visitor<'a> for Uses<'_> {
        fn expr(&mut self, e: &'a Expr) -> bool {
            if let ExprKind::Ident(id) = &e.kind {
                self.found |= &*id.name == self.name;
            }
            !self.found
        }
    }
    let mut uses = Uses { name, found: false };
    walk_decls(decls, &mut uses);
    uses.found
}

/// The struct form of `try` (`try { … }`): the comprehension's last clause is a `try` without a binding.
pub(crate) fn is_struct_form_try(c: &Comprehension) -> bool {
    matches!(c.clauses.last(), Some(Clause::Try { binding: None, .. }))
}

/// The errors of the compiler's checks, as (position, message).
pub(crate) fn compile_errors(decls: &[Decl]) -> Vec<(Span, &'static str)> {
    /// Tracks whether the walk is inside a place where the `?` marker is allowed.
    struct Checks {
        errors: Vec<(Span, &'static str)>,
        allowed: usize,
    }
    impl<'a> Visitor<'a> for Checks {
        fn expr(&mut self, e: &'a Expr) -> bool {
            if matches!(e.kind, ExprKind::Optional(_)) && self.allowed == 0 {
                self.errors.push((e.span, "optional marker (?) is only valid within a try clause"));
            }
            if let ExprKind::Alias { name, .. } = &e.kind {
                self.binding_name(name);
            }
            true
        }
        fn decl(&mut self, d: &'a Decl) -> bool {
            match d {
                Decl::Let(l) => self.binding_name(&l.name),
                Decl::Field(f) => {
                    if let Some(alias) = &f.label.alias {
                        self.binding_name(alias);
                    }
                    if let LabelKind::Ident(id) = &f.label.kind
                        && &*id.name == "_"
                    {
                        self.errors.push((id.span, "cannot use _ as label"));
                    }
                }
                _ => {}
            }
            true
        }

        fn comprehension(&mut self, c: &'a Comprehension, as_label: bool) -> bool {
            if as_label {
                self.errors.push((c.span, "comprehension values not allowed in this position"));
                return false;
            }
            for (i, clause) in c.clauses.iter().enumerate() {
                if let Clause::Try { span, binding: None } = clause
                    && i + 1 != c.clauses.len()
                {
                    self.errors.push((*span, "struct-form try clause must be the last clause in a comprehension"));
                }
            }
            // Walk it here, with the marker allowed in a try binding and in the body of the struct form.
            for clause in &c.clauses {
                match clause {
                    Clause::For { source, .. } => walk_expr(source, self),
                    Clause::If { condition, .. } => walk_expr(condition, self),
                    Clause::Let(l) => walk_expr(&l.value, self),
                    Clause::Try { binding: Some((_, e)), .. } => {
                        self.allowed += 1;
                        walk_expr(e, self);
                        self.allowed -= 1;
                    }
                    Clause::Try { binding: None, .. } => {}
                }
            }
            let body_allows = is_struct_form_try(c);
            self.allowed += usize::from(body_allows);
            walk_expr(&c.body, self);
            self.allowed -= usize::from(body_allows);
            if let Some(f) = &c.fallback {
                walk_expr(f, self);
            }
            false
        }
    }
    impl Checks {
        /// `_` cannot name a let clause or an alias: it is top, not a name.
        fn binding_name(&mut self, name: &Ident) {
            if &*name.name == "_" {
                self.errors.push((name.span, "cannot use _ as alias or let clause"));
            }
        }
    }
    let mut checks = Checks { errors: Vec::new(), allowed: 0 };
    walk_decls(decls, &mut checks);
    checks.errors
}

/// The `?`-marked expressions of a struct-form `try` body that the clause must probe (not those of nested
/// comprehensions, which probe their own).
pub(crate) fn optional_markers(body: &Expr) -> Vec<&Expr> {
    struct Markers<'e> {
        found: Vec<&'e Expr>,
    }
    impl<'e> Visitor<'e> for Markers<'e> {
        fn expr(&mut self, e: &'e Expr) -> bool {
            if matches!(e.kind, ExprKind::Optional(_)) {
                self.found.push(e);
            }
            true
        }
        fn comprehension(&mut self, _c: &'e Comprehension, _as_label: bool) -> bool {
            false
        }
    }
    let mut markers = Markers { found: Vec::new() };
    walk_expr(body, &mut markers);
    markers.found
}

/// References no scope declares, as (span, message, field path): the official compiler rejects the whole
/// file for them (`reference "x" not found`), whether or not evaluation would reach them. `package_names` are
/// the top-level names of every file of the package; `imports` the names this file imports.
pub(crate) fn unresolved_references(
    decls: &[Decl],
    package_names: &[&str],
    imports: &[&str],
    predeclared: &dyn Fn(&str) -> bool,
) -> Vec<(Span, String, String)> {
    let mut r = Resolver { scopes: Vec::new(), path: Vec::new(), errors: Vec::new(), predeclared };
    let mut top: Vec<&str> = package_names.to_vec();
    top.extend_from_slice(imports);
    top.extend(decls.iter().filter_map(|d| match d {
        Decl::Let(l) => Some(&*l.name.name),
        _ => None,
    }));
    r.scopes.push(top);
    r.decls(decls, false);
    r.errors
}

/// The names a struct literal's declarations bind for its fields and lets.
pub(crate) fn declared_names(decls: &[Decl]) -> Vec<&str> {
    let mut names = Vec::new();
    for d in decls {
        match d {
            Decl::Field(f) => {
                if let LabelKind::Ident(id) = &f.label.kind {
                    names.push(&*id.name);
                }
                if let Some(a) = &f.label.alias {
                    names.push(&*a.name);
                }
                if let Some(p) = &f.label.postfix_alias
                    && !matches!(f.label.kind, LabelKind::Pattern(_))
                {
                    names.extend(p.label.iter().chain(p.value.iter()).map(|i| &*i.name));
                }
            }
            Decl::Let(l) => names.push(&*l.name.name),
            _ => {}
        }
    }
    names
}

/// The indexes of `names` that an expression refers to, outside struct literals that declare the same name.
fn free_uses(e: &Expr, names: &[String]) -> Vec<usize> {
    struct Free<'n> {
        names: Vec<String>,
        out: &'n mut Vec<usize>,
    }
    impl<'a> Visitor<'a> for Free<'_> {
        fn expr(&mut self, e: &'a Expr) -> bool {
            match &e.kind {
                ExprKind::Ident(id) => {
                    if let Some(i) = self.names.iter().position(|n| *n == *id.name)
                        && !self.out.contains(&i)
                    {
                        self.out.push(i);
                    }
                    true
                }
                ExprKind::Struct(lit) => {
                    walk_decls(&lit.decls, &mut self.shadowing(&declared_names(&lit.decls)));
                    false
                }
                _ => true,
            }
        }
        fn comprehension(&mut self, c: &'a Comprehension, _as_label: bool) -> bool {
            let bound: Vec<&str> = c
                .clauses
                .iter()
                .flat_map(|clause| match clause {
                    Clause::For { key, value, .. } => key.iter().chain([value]).map(|i| &*i.name).collect(),
                    Clause::Let(l) => vec![&*l.name.name],
                    Clause::Try { binding: Some((name, _)), .. } => vec![&*name.name],
                    Clause::If { .. } | Clause::Try { binding: None, .. } => Vec::new(),
                })
                .collect();
            let mut inner = self.shadowing(&bound);
            for clause in &c.clauses {
                match clause {
                    Clause::For { source: e, .. }
                    | Clause::If { condition: e, .. }
                    | Clause::Try { binding: Some((_, e)), .. } => walk_expr(e, &mut inner),
                    Clause::Let(l) => walk_expr(&l.value, &mut inner),
                    Clause::Try { binding: None, .. } => {}
                }
            }
            walk_expr(&c.body, &mut inner);
            if let Some(f) = &c.fallback {
                walk_expr(f, self);
            }
            false
        }
    }
    impl Free<'_> {
        /// The same search where `shadowed` names are bound by an inner scope: such a name keeps its index but
        /// can no longer match an identifier.
        fn shadowing(&mut self, shadowed: &[&str]) -> Free<'_> {
            let names =
                self.names.iter().map(|n| if shadowed.contains(&n.as_str()) { String::new() } else { n.clone() });
            Free { names: names.collect(), out: &mut *self.out }
        }
    }
    let mut out = Vec::new();
    walk_expr(e, &mut Free { names: names.to_vec(), out: &mut out });
    out
}

/// Whether `start` is reached again from its successors (a cycle through other nodes).
fn reaches(edges: &[Vec<usize>], start: usize) -> bool {
    let mut seen = vec![false; edges.len()];
    let mut stack: Vec<usize> = edges[start].iter().copied().filter(|n| *n != start).collect();
    while let Some(n) = stack.pop() {
        if n == start {
            return true;
        }
        if !std::mem::replace(&mut seen[n], true) {
            stack.extend(edges[n].iter().copied());
        }
    }
    false
}

struct Resolver<'a, 'p> {
    scopes: Vec<Vec<&'a str>>,
    path: Vec<String>,
    errors: Vec<(Span, String, String)>,
    predeclared: &'p dyn Fn(&str) -> bool,
}

impl<'a> Resolver<'a, '_> {
    fn resolves(&self, name: &str) -> bool {
        // `__x` names are the official test suite's builtins (`__reclose`, `__no_sharing`, …).
        matches!(name, "_" | "self")
            || name.starts_with("__")
            || self.scopes.iter().rev().any(|s| s.contains(&name))
            || (self.predeclared)(name)
    }

    fn with_scope(&mut self, names: Vec<&'a str>, f: impl FnOnce(&mut Self)) {
        self.scopes.push(names);
        f(self);
        self.scopes.pop();
    }

    /// Lets of one declaration list whose values refer to themselves: directly (`let X = X`, the official
    /// compiler's `reference "X" not found`) or through each other (`let X = Y` with `let Y = X`: `cyclic
    /// references in let clause or alias`). Ours used to recurse until the stack overflowed.
    fn let_cycles(&mut self, decls: &'a [Decl]) {
        let lets: Vec<&'a LetClause> = decls
            .iter()
            .filter_map(|d| match d {
                Decl::Let(l) => Some(l),
                _ => None,
            })
            .collect();
        let names: Vec<String> = lets.iter().map(|l| l.name.name.to_string()).collect();
        let edges: Vec<Vec<usize>> = lets.iter().map(|l| free_uses(&l.value, &names)).collect();
        for (i, l) in lets.iter().enumerate() {
            if edges[i].contains(&i) {
                self.errors.push((
                    l.name.span,
                    format!("reference \"{}\" not found", l.name.name),
                    self.path.join("."),
                ));
            } else if reaches(&edges, i) {
                let message = "cyclic references in let clause or alias".to_string();
                self.errors.push((l.span, message, self.path.join(".")));
            }
        }
    }

    /// Walks declarations; `own_scope` when they form a struct literal (the file's scope is pushed already).
    fn decls(&mut self, decls: &'a [Decl], own_scope: bool) {
        self.let_cycles(decls);
        if own_scope {
            self.scopes.push(declared_names(decls));
        }
        for d in decls {
            match d {
                Decl::Field(f) => {
                    let mut value_scope = Vec::new();
                    match &f.label.kind {
                        LabelKind::Interpolation(i) => self.parts(&i.parts),
                        LabelKind::Dynamic(e) => self.expr(e),
                        LabelKind::Pattern(e) => {
                            if let ExprKind::Alias { name, expr } = &e.kind {
                                value_scope.push(&*name.name);
                                self.expr(expr);
                            } else {
                                self.expr(e);
                            }
                            if let Some(p) = &f.label.postfix_alias {
                                value_scope.extend(p.label.iter().chain(p.value.iter()).map(|i| &*i.name));
                            }
                        }
                        LabelKind::Comprehension(_) | LabelKind::Ident(_) | LabelKind::String(_) => {}
                        LabelKind::Error(_) => {}
                    }
                    let label = match &f.label.kind {
                        LabelKind::Ident(id) => id.name.to_string(),
                        LabelKind::String(s) => s.as_str().to_string(),
                        _ => "[]".to_string(),
                    };
                    self.path.push(label);
                    self.with_scope(value_scope, |r| r.expr(&f.value));
                    self.path.pop();
                }
                Decl::Embed(e) => self.expr(e),
                Decl::Comprehension(c) => self.comprehension(c),
                Decl::Let(l) => self.expr(&l.value),
                Decl::Ellipsis(e) => {
                    if let Some(t) = &e.ty {
                        self.expr(t);
                    }
                }
                Decl::Attribute(_) | Decl::Import(_) | Decl::Error(_) => {}
            }
        }
        if own_scope {
            self.scopes.pop();
        }
    }

    fn comprehension(&mut self, c: &'a Comprehension) {
        let depth = self.scopes.len();
        for clause in &c.clauses {
            match clause {
                Clause::For { key, value, source, .. } => {
                    self.expr(source);
                    let mut names: Vec<&str> = key.iter().map(|k| &*k.name).collect();
                    names.push(&value.name);
                    self.scopes.push(names);
                }
                Clause::If { condition, .. } => self.expr(condition),
                Clause::Let(l) => {
                    self.expr(&l.value);
                    self.scopes.push(vec![&*l.name.name]);
                }
                Clause::Try { binding, .. } => {
                    if let Some((name, e)) = binding {
                        self.expr(e);
                        self.scopes.push(vec![&*name.name]);
                    }
                }
            }
        }
        self.expr(&c.body);
        self.scopes.truncate(depth);
        if let Some(f) = &c.fallback {
            self.expr(f);
        }
    }

    fn parts(&mut self, parts: &'a [InterpPart]) {
        for p in parts {
            if let InterpPart::Expr(e) = p {
                self.expr(e);
            }
        }
    }

    fn expr(&mut self, e: &'a Expr) {
        match &e.kind {
            ExprKind::Ident(id) => {
                if !self.resolves(&id.name) {
                    let message = format!("reference \"{}\" not found", id.name);
                    self.errors.push((id.span, message, self.path.join(".")));
                }
            }
            ExprKind::Bottom
            | ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Number(_)
            | ExprKind::String(_)
            | ExprKind::Error => {}
            ExprKind::Interpolation(i) => self.parts(&i.parts),
            ExprKind::List(elems) => {
                for el in elems {
                    match el {
                        ListElem::Expr(x) => self.expr(x),
                        ListElem::Comprehension(c) => self.comprehension(c),
                        ListElem::Ellipsis(ell) => {
                            if let Some(t) = &ell.ty {
                                self.expr(t);
                            }
                        }
                    }
                }
            }
            ExprKind::Struct(lit) => self.decls(&lit.decls, true),
            ExprKind::Alias { name, expr } => self.with_scope(vec![&*name.name], |r| r.expr(expr)),
            ExprKind::Paren(inner)
            | ExprKind::Optional(inner)
            | ExprKind::Spread(inner)
            | ExprKind::Unary { operand: inner, .. }
            | ExprKind::Selector { base: inner, .. } => self.expr(inner),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Index { base, index } => {
                self.expr(base);
                self.expr(index);
            }
            ExprKind::Slice { base, low, high } => {
                self.expr(base);
                for x in [low, high].into_iter().flatten() {
                    self.expr(x);
                }
            }
            ExprKind::Call { func, args } => {
                self.expr(func);
                for a in args {
                    self.expr(a);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(source: &str, name: &str) -> bool {
        let (file, errors) = cue_syntax::parse(source);
        assert!(errors.is_empty(), "{errors:?}");
        uses_name(&file.decls, name)
    }

    #[test]
    fn finds_uses_in_every_position() {
        for source in [
            "a: strings.ToUpper(\"x\")",
            "a: \"\\(strings.x)\"",
            "(strings.x): 1",
            "[strings.x]: int",
            "a: [for x in strings.l {x}]",
            "if strings.ok {a: 1}",
            "let x = strings.y\na: x",
            "a: [...strings.T]",
            "a: {b: c: [1, strings.x][0]}",
            "a: -strings.x",
            "a: x[strings.i:]",
        ] {
            assert!(uses(source, "strings"), "{source}");
        }
    }

    #[test]
    fn labels_and_strings_are_not_uses() {
        assert!(!uses("strings: 1\na: \"strings\"\nb: x.strings", "strings"));
    }

    #[test]
    fn compile_checks() {
        let (file, _) = cue_syntax::parse("a: {b: [for x in [1] {x}]: string}\nc: [string]: int");
        assert_eq!(compile_errors(&file.decls).len(), 1);
        let (file, _) = cue_syntax::parse("a: 1\nb: a?\nc: {try { d: a? }}\ne: {try x = a? { f: x }}");
        let errors = compile_errors(&file.decls);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].1.contains("optional marker"));
        let (file, _) = cue_syntax::parse("a: {try if true { x: 1 }}");
        assert!(compile_errors(&file.decls)[0].1.contains("must be the last clause"));
        // `_` is top, not a name (the official compiler's messages).
        let (file, _) = cue_syntax::parse(
            "a: {_=X: 1}\nb: {let _ = 1}\nc: {_: 1}\nd: [for x in [] let _ = x {1}]\ne: {for _, v in [] {}}\nf: _={g: 1}",
        );
        let messages: Vec<&str> = compile_errors(&file.decls).into_iter().map(|(_, m)| m).collect();
        assert_eq!(
            messages,
            [
                "cannot use _ as alias or let clause",
                "cannot use _ as alias or let clause",
                "cannot use _ as label",
                "cannot use _ as alias or let clause"
            ],
            "a `let _` clause of a comprehension and a `_` key are allowed"
        );
    }

    #[test]
    fn references_resolve_through_every_kind_of_scope() {
        let unresolved = |source: &str| {
            let (file, errors) = cue_syntax::parse(source);
            assert!(errors.is_empty(), "{errors:?}");
            let names = declared_names(&file.decls);
            let found =
                unresolved_references(&file.decls, &names, &["strings"], &|n| matches!(n, "int" | "string" | "len"));
            found.into_iter().map(|(_, message, path)| format!("{path}: {message}")).collect::<Vec<_>>()
        };
        let ok = "a: 1\nX=b: {c: a, d: X.c, e: self}\n[N=string]: {n: N}\nl: [for k, v in b {k + v}]\n\
                  let L = a\nm: L + len(strings.x)\nv: W={w: W.x, x: int}\n#D: _h\n_h: 1\ns: {try y = a? {z: y}}\n";
        assert_eq!(unresolved(ok), Vec::<String>::new());
        assert_eq!(
            unresolved("a: {b: c}\nd: [for x in [1] {x + y}]"),
            ["a.b: reference \"c\" not found", "d: reference \"y\" not found"]
        );
        // A let that refers to itself, directly or through other lets (a field alias does not count).
        assert_eq!(unresolved("a: {let X = X\nb: X}"), ["a: reference \"X\" not found"]);
        assert_eq!(unresolved("a: {let X = {c: X}\nb: X}"), ["a: reference \"X\" not found"]);
        assert_eq!(unresolved("let X = Y\nlet Y = X\nb: X").len(), 2);
        assert_eq!(
            unresolved("a: {let X = {X: 1, y: X}\nlet Y = X.y\nb: Y}\nZ=c: {d: Z.e, e: 1}"),
            Vec::<String>::new()
        );
        assert_eq!(unresolved("a: {let X = [for _, X in [1] {X}]\nb: X}"), Vec::<String>::new());
        // A comprehension's variables are not visible in its else body; quoted labels are not referable.
        assert_eq!(unresolved("\"q\": 1\na: {for x in [] {x} else {y: x}}\nb: q").len(), 2);
    }

    #[test]
    fn finds_the_markers_a_try_probes() {
        let (file, _) = cue_syntax::parse("x: {y: a? + b.c?, z: [d?], w: {try { q: e? }}}");
        let Decl::Field(f) = &file.decls[0] else { panic!() };
        assert_eq!(optional_markers(&f.value).len(), 3, "the nested try probes its own");
    }
}
