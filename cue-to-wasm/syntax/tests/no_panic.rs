//! Robustness: random and mutated inputs never panic, and every span stays inside the source.
//!
//! The mutator is hand-rolled (a xorshift generator), so the test is deterministic and needs no
//! dependency; it mutates the repository's own test sources when the corpus is absent.

use cue_syntax::ast::*;
use cue_syntax::{Span, parse};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "\"",
    "'",
    "\"\"\"\n",
    "'''",
    "#\"",
    "\"#",
    "\\(",
    "\\#(",
    ")",
    ":",
    "?",
    "!",
    "=",
    ",",
    "\n",
    " ",
    "...",
    "_|_",
    "&",
    "|",
    "*",
    ">=",
    "=~",
    "for x in ",
    "if ",
    "let y = ",
    "try ",
    "else",
    "@a(",
    "1.5Ki",
    "0x",
    "1_",
    "a",
    "#D",
    "_#h",
    "é",
    "\\u00",
    "\\",
    "//",
    "~",
    ".",
    "import \"x\"",
    "package p",
];

fn check_span(source: &str, span: Span) {
    assert!(span.start <= span.end && span.end as usize <= source.len(), "span {span} out of bounds in {source:?}");
}

fn walk_expr(source: &str, expr: &Expr) {
    check_span(source, expr.span);
    match &expr.kind {
        ExprKind::List(elems) => elems.iter().for_each(|e| match e {
            ListElem::Expr(e) => walk_expr(source, e),
            ListElem::Comprehension(c) => walk_comprehension(source, c),
            ListElem::Ellipsis(e) => check_span(source, e.span),
        }),
        ExprKind::Struct(s) => s.decls.iter().for_each(|d| walk_decl(source, d)),
        ExprKind::Paren(e) | ExprKind::Optional(e) | ExprKind::Spread(e) => walk_expr(source, e),
        ExprKind::Unary { operand, .. } => walk_expr(source, operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            walk_expr(source, lhs);
            walk_expr(source, rhs);
        }
        ExprKind::Selector { base, .. } | ExprKind::Slice { base, .. } => walk_expr(source, base),
        ExprKind::Index { base, index } => {
            walk_expr(source, base);
            walk_expr(source, index);
        }
        ExprKind::Call { func, args } => {
            walk_expr(source, func);
            args.iter().for_each(|a| walk_expr(source, a));
        }
        ExprKind::Alias { expr, .. } => walk_expr(source, expr),
        ExprKind::Interpolation(i) => i.parts.iter().for_each(|p| {
            if let InterpPart::Expr(e) = p {
                walk_expr(source, e);
            }
        }),
        _ => {}
    }
}

fn walk_comprehension(source: &str, c: &Comprehension) {
    check_span(source, c.span);
    walk_expr(source, &c.body);
}

fn walk_decl(source: &str, decl: &Decl) {
    check_span(source, decl.span());
    match decl {
        Decl::Field(f) => {
            check_span(source, f.label.span);
            walk_expr(source, &f.value);
        }
        Decl::Embed(e) => walk_expr(source, e),
        Decl::Comprehension(c) => walk_comprehension(source, c),
        Decl::Let(l) => walk_expr(source, &l.value),
        _ => {}
    }
}

fn check_input(source: &str) {
    let (file, errors) = parse(source);
    for error in &errors {
        check_span(source, error.span);
    }
    file.decls.iter().for_each(|d| walk_decl(source, d));
}

fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut bytes: Vec<u8> = seed.as_bytes().to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 if !bytes.is_empty() => {
                let end = (at + rng.below(8)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 => {
                let piece = PIECES[rng.below(PIECES.len())];
                bytes.splice(at..at, piece.bytes());
            }
            2 if !bytes.is_empty() => {
                let from = rng.below(bytes.len());
                let len = rng.below(32).min(bytes.len() - from);
                let chunk: Vec<u8> = bytes[from..from + len].to_vec();
                bytes.splice(at..at, chunk);
            }
            _ => bytes.insert(at, rng.below(128) as u8),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn seeds() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = vec![std::fs::read_to_string(root.join("tests/parse.rs")).unwrap_or_default()];
    let cases = root.join("../../../shared/cue-conformance/cases");
    if let Ok(entries) = std::fs::read_dir(cases) {
        let mut dirs: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs.iter().step_by(40) {
            if let Ok(text) = std::fs::read_to_string(dir.join("work/in.cue")) {
                seeds.push(text);
            }
        }
    }
    seeds
}

#[test]
fn mutated_inputs_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for seed in seeds() {
        for _ in 0..60 {
            check_input(&mutate(&mut rng, &seed));
        }
    }
}

#[test]
fn random_token_soup_never_panics() {
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let source: String = (0..rng.below(40)).map(|_| PIECES[rng.below(PIECES.len())]).collect();
        check_input(&source);
    }
}

#[test]
fn deep_nesting_is_cut_off_without_overflow() {
    for piece in ["[", "(", "{", "-", "a: ", "\"\\(", "{for x in y ", "[X=", "*"] {
        let source = piece.repeat(20_000);
        check_input(&source);
        let (_, errors) = parse(&source);
        assert!(!errors.is_empty(), "{piece}");
    }
}

#[test]
fn edge_inputs() {
    for source in
        ["", "\u{feff}", "\0", "\"", "'''", "#", "##\"", "@", "@a(", "_|", "0x_", "\"\\(", "\"\"\"\n\\(", ")\""]
    {
        check_input(source);
    }
}
