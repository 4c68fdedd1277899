//! Checks of a whole file before evaluation, as the official tool's compiler makes them: imports the file never
//! uses (`imported and not used: "list"`, which catches typos and leftovers) and comprehensions used as a
//! field's label (`[for x in l {x}]: T`).

use cue_syntax::Span;
use cue_syntax::ast::{Clause, Comprehension, Decl, Expr, ExprKind, InterpPart, Interpolation, LabelKind, ListElem};

/// Returns true when `name` appears as an identifier anywhere in the declarations (outside imports).
pub(crate) fn uses_name(decls: &[Decl], name: &str) -> bool {
    decls.iter().any(|d| decl_uses(d, name))
}

/// The spans of comprehensions used as labels (`[for x in l {x}]: T`), which no evaluation allows.
pub(crate) fn comprehension_labels(decls: &[Decl]) -> Vec<Span> {
    let mut found = Vec::new();
    for decl in decls {
        collect_labels(decl, &mut found);
    }
    found
}

fn collect_labels(decl: &Decl, found: &mut Vec<Span>) {
    match decl {
        Decl::Field(f) => {
            if let LabelKind::Comprehension(c) = &f.label.kind {
                found.push(c.span);
            }
            collect_in_expr(&f.value, found);
        }
        Decl::Embed(e) => collect_in_expr(e, found),
        Decl::Comprehension(c) => collect_in_expr(&c.body, found),
        Decl::Let(l) => collect_in_expr(&l.value, found),
        _ => {}
    }
}

fn collect_in_expr(e: &Expr, found: &mut Vec<Span>) {
    match &e.kind {
        ExprKind::Struct(lit) => lit.decls.iter().for_each(|d| collect_labels(d, found)),
        ExprKind::Paren(inner) | ExprKind::Alias { expr: inner, .. } => collect_in_expr(inner, found),
        ExprKind::Binary { lhs, rhs, .. } => {
            collect_in_expr(lhs, found);
            collect_in_expr(rhs, found);
        }
        ExprKind::List(elems) => {
            for el in elems {
                match el {
                    ListElem::Expr(e) => collect_in_expr(e, found),
                    ListElem::Comprehension(c) => collect_in_expr(&c.body, found),
                    ListElem::Ellipsis(_) => {}
                }
            }
        }
        _ => {}
    }
}

fn decl_uses(decl: &Decl, name: &str) -> bool {
    match decl {
        Decl::Field(f) => {
            let label = match &f.label.kind {
                LabelKind::Ident(_) | LabelKind::String(_) => false,
                LabelKind::Interpolation(i) => interpolation_uses(i, name),
                LabelKind::Dynamic(e) | LabelKind::Pattern(e) => expr_uses(e, name),
                LabelKind::Comprehension(c) => comprehension_uses(c, name),
                LabelKind::Error(_) => false,
            };
            label || expr_uses(&f.value, name)
        }
        Decl::Embed(e) => expr_uses(e, name),
        Decl::Comprehension(c) => comprehension_uses(c, name),
        Decl::Let(l) => expr_uses(&l.value, name),
        Decl::Ellipsis(e) => e.ty.as_deref().is_some_and(|t| expr_uses(t, name)),
        Decl::Attribute(_) | Decl::Import(_) | Decl::Error(_) => false,
    }
}

fn comprehension_uses(c: &Comprehension, name: &str) -> bool {
    let clauses = c.clauses.iter().any(|clause| match clause {
        Clause::For { source, .. } => expr_uses(source, name),
        Clause::If { condition, .. } => expr_uses(condition, name),
        Clause::Let(l) => expr_uses(&l.value, name),
        Clause::Try { binding, .. } => binding.as_ref().is_some_and(|(_, e)| expr_uses(e, name)),
    });
    clauses || expr_uses(&c.body, name) || c.fallback.as_deref().is_some_and(|f| expr_uses(f, name))
}

fn interpolation_uses(i: &Interpolation, name: &str) -> bool {
    i.parts.iter().any(|p| matches!(p, InterpPart::Expr(e) if expr_uses(e, name)))
}

fn expr_uses(e: &Expr, name: &str) -> bool {
    match &e.kind {
        ExprKind::Ident(id) => &*id.name == name,
        ExprKind::Bottom
        | ExprKind::Null
        | ExprKind::Bool(_)
        | ExprKind::Number(_)
        | ExprKind::String(_)
        | ExprKind::Error => false,
        ExprKind::Interpolation(i) => interpolation_uses(i, name),
        ExprKind::List(elems) => elems.iter().any(|el| match el {
            ListElem::Expr(e) => expr_uses(e, name),
            ListElem::Comprehension(c) => comprehension_uses(c, name),
            ListElem::Ellipsis(ell) => ell.ty.as_deref().is_some_and(|t| expr_uses(t, name)),
        }),
        ExprKind::Struct(lit) => uses_name(&lit.decls, name),
        ExprKind::Paren(inner)
        | ExprKind::Optional(inner)
        | ExprKind::Spread(inner)
        | ExprKind::Alias { expr: inner, .. }
        | ExprKind::Unary { operand: inner, .. }
        | ExprKind::Selector { base: inner, .. } => expr_uses(inner, name),
        ExprKind::Binary { lhs, rhs, .. } => expr_uses(lhs, name) || expr_uses(rhs, name),
        ExprKind::Index { base, index } => expr_uses(base, name) || expr_uses(index, name),
        ExprKind::Slice { base, low, high } => {
            expr_uses(base, name)
                || low.as_deref().is_some_and(|l| expr_uses(l, name))
                || high.as_deref().is_some_and(|h| expr_uses(h, name))
        }
        ExprKind::Call { func, args } => expr_uses(func, name) || args.iter().any(|a| expr_uses(a, name)),
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
    fn finds_comprehension_labels() {
        let (file, _) = cue_syntax::parse("a: {b: [for x in [1] {x}]: string}\nc: [string]: int");
        assert_eq!(comprehension_labels(&file.decls).len(), 1);
    }

    #[test]
    fn labels_and_strings_are_not_uses() {
        assert!(!uses("strings: 1\na: \"strings\"\nb: x.strings", "strings"));
    }
}
