//! A compact S-expression rendering of the AST, used by tests to state expected trees briefly.
//!
//! Examples: `(field a (+ 1 2))`, `(field (= X [string]) (struct))`, `(comp (for k v x) (struct))`.

use std::fmt::Write;

use crate::ast::*;

/// Renders the declarations of a file (preceded by its attributes, package and imports).
pub fn dump_file(file: &File) -> String {
    let mut out = Vec::new();
    out.extend(file.attributes.iter().map(dump_attribute));
    if let Some(package) = &file.package {
        out.push(format!("(package {})", package.name.name));
    }
    for import in &file.imports {
        out.push(dump_import(import));
    }
    out.extend(file.decls.iter().map(dump_decl));
    out.join(" ")
}

/// Renders one expression.
pub fn dump_expr(expr: &Expr) -> String {
    use ExprKind::*;
    match &expr.kind {
        Ident(ident) => ident.name.to_string(),
        Bottom => "_|_".to_string(),
        Null => "null".to_string(),
        Bool(b) => b.to_string(),
        Number(n) => n.text.to_string(),
        String(s) => dump_string(s),
        Interpolation(i) => dump_interpolation(i),
        List(elems) => list("list", elems.iter().map(dump_list_elem)),
        Struct(s) if s.shorthand => s.decls.iter().map(dump_decl).collect::<Vec<_>>().join(" "),
        Struct(s) => list("struct", s.decls.iter().map(dump_decl)),
        Paren(inner) => format!("(paren {})", dump_expr(inner)),
        Unary { op, operand } => format!("({} {})", op.as_str(), dump_expr(operand)),
        Binary { op, lhs, rhs } => format!("({} {} {})", op.as_str(), dump_expr(lhs), dump_expr(rhs)),
        Selector { base, selector } => format!("(. {} {})", dump_expr(base), dump_selector(selector)),
        Index { base, index } => format!("(index {} {})", dump_expr(base), dump_expr(index)),
        Slice { base, low, high } => format!("(slice {} {} {})", dump_expr(base), dump_opt(low), dump_opt(high)),
        Call { func, args } => list("call", std::iter::once(dump_expr(func)).chain(args.iter().map(dump_expr))),
        Alias { name, expr } => format!("(= {} {})", name.name, dump_expr(expr)),
        Optional(inner) => format!("(? {})", dump_expr(inner)),
        Spread(inner) => format!("(spread {})", dump_expr(inner)),
        Error => "(error)".to_string(),
    }
}

fn list(head: &str, items: impl Iterator<Item = String>) -> String {
    let mut out = format!("({head}");
    for item in items {
        out.push(' ');
        out.push_str(&item);
    }
    out.push(')');
    out
}

fn dump_opt(expr: &Option<Box<Expr>>) -> String {
    expr.as_ref().map_or_else(|| "_".to_string(), |e| dump_expr(e))
}

fn dump_selector(selector: &Selector) -> String {
    match selector {
        Selector::Ident(ident) => ident.name.to_string(),
        Selector::String(s) => dump_string(s),
    }
}

fn dump_import(import: &ImportDecl) -> String {
    let specs = import.specs.iter().map(|spec| match &spec.name {
        Some(name) => format!("{} {}", name.name, dump_string(&spec.path)),
        None => dump_string(&spec.path),
    });
    list("import", specs)
}

fn dump_decl(decl: &Decl) -> String {
    match decl {
        Decl::Field(field) => dump_field(field),
        Decl::Embed(expr) => format!("(embed {})", dump_expr(expr)),
        Decl::Comprehension(c) => dump_comprehension(c),
        Decl::Let(l) => format!("(let {} {})", l.name.name, dump_expr(&l.value)),
        Decl::Ellipsis(e) => dump_ellipsis(e),
        Decl::Attribute(a) => dump_attribute(a),
        Decl::Import(i) => dump_import(i),
        Decl::Error(_) => "(error)".to_string(),
    }
}

fn dump_field(field: &Field) -> String {
    let mut label = dump_label(&field.label);
    match field.constraint {
        Constraint::None => {}
        Constraint::Optional => label.push('?'),
        Constraint::Required => label.push('!'),
    }
    let mut out = format!("(field {label} {}", dump_expr(&field.value));
    for attribute in &field.attributes {
        let _ = write!(out, " {}", dump_attribute(attribute));
    }
    out.push(')');
    out
}

fn dump_label(label: &Label) -> String {
    let kind = match &label.kind {
        LabelKind::Ident(ident) => ident.name.to_string(),
        LabelKind::String(s) => dump_string(s),
        LabelKind::Interpolation(i) => dump_interpolation(i),
        LabelKind::Dynamic(e) => format!("(dyn {})", dump_expr(e)),
        LabelKind::Pattern(e) => format!("[{}]", dump_expr(e)),
        LabelKind::Comprehension(c) => format!("[{}]", dump_comprehension(c)),
        LabelKind::Error(_) => "(error)".to_string(),
    };
    let kind = match &label.postfix_alias {
        Some(PostfixAlias { label: Some(k), value: Some(v), .. }) => format!("{kind}~({},{})", k.name, v.name),
        Some(PostfixAlias { label: Some(k), value: None, .. }) => format!("{kind}~({})", k.name),
        Some(PostfixAlias { label: None, value: Some(v), .. }) => format!("{kind}~{}", v.name),
        Some(PostfixAlias { label: None, value: None, .. }) => format!("{kind}~"),
        None => kind,
    };
    match &label.alias {
        Some(alias) => format!("(= {} {kind})", alias.name),
        None => kind,
    }
}

fn dump_list_elem(elem: &ListElem) -> String {
    match elem {
        ListElem::Expr(e) => dump_expr(e),
        ListElem::Comprehension(c) => dump_comprehension(c),
        ListElem::Ellipsis(e) => dump_ellipsis(e),
    }
}

fn dump_ellipsis(ellipsis: &Ellipsis) -> String {
    match &ellipsis.ty {
        Some(ty) => format!("(... {})", dump_expr(ty)),
        None => "(...)".to_string(),
    }
}

fn dump_comprehension(c: &Comprehension) -> String {
    let clauses = c.clauses.iter().map(|clause| match clause {
        Clause::For { key: Some(k), value, source, .. } => {
            format!("(for {} {} {})", k.name, value.name, dump_expr(source))
        }
        Clause::For { key: None, value, source, .. } => format!("(for {} {})", value.name, dump_expr(source)),
        Clause::If { condition, .. } => format!("(if {})", dump_expr(condition)),
        Clause::Let(l) => format!("(let {} {})", l.name.name, dump_expr(&l.value)),
        Clause::Try { binding: Some((name, e)), .. } => format!("(try {} {})", name.name, dump_expr(e)),
        Clause::Try { binding: None, .. } => "(try)".to_string(),
    });
    let body = std::iter::once(dump_expr(&c.body));
    let fallback = c.fallback.iter().map(|f| format!("(else {})", dump_expr(f)));
    list("comp", clauses.chain(body).chain(fallback))
}

fn dump_attribute(attribute: &Attribute) -> String {
    format!("@{}({})", attribute.name, attribute.body)
}

fn dump_bytes(kind: StringKind, value: &[u8]) -> String {
    match kind {
        StringKind::String => format!("{:?}", String::from_utf8_lossy(value)),
        StringKind::Bytes => format!("b{:?}", String::from_utf8_lossy(value)),
    }
}

fn dump_string(s: &StringLit) -> String {
    dump_bytes(s.kind, &s.value)
}

fn dump_interpolation(i: &Interpolation) -> String {
    let parts = i.parts.iter().map(|part| match part {
        InterpPart::Text(text) => dump_bytes(i.kind, text),
        InterpPart::Expr(e) => dump_expr(e),
    });
    list("interp", parts)
}
