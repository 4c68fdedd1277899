//! The CUE syntax layer: a lexer, a parser and an AST with byte spans.
//!
//! [`parse`] never fails: it always returns a [`ast::File`] (with `Error` nodes where the source
//! could not be parsed) together with every [`SyntaxError`] found, each carrying a [`Span`].
//! Turn spans into `line:col` with a [`LineIndex`].
//!
//! ```
//! let (file, errors) = cue_syntax::parse("a: b: *1 | int\n");
//! assert!(errors.is_empty());
//! assert_eq!(cue_syntax::dump::dump_file(&file), "(field a (field b (| (* 1) int)))");
//! ```

pub mod ast;
pub mod dump;
mod error;
pub mod lexer;
mod literal;
mod parser;
mod span;
pub mod token;

pub use error::SyntaxError;
pub use span::{LineCol, LineIndex, Span};

/// Parses one CUE source file; always returns a tree, plus the errors found, in source order.
pub fn parse(source: &str) -> (ast::File, Vec<SyntaxError>) {
    if u32::try_from(source.len()).is_err() {
        let file = ast::File {
            span: Span::empty(0),
            attributes: Vec::new(),
            package: None,
            imports: Vec::new(),
            decls: Vec::new(),
            comments: Vec::new(),
        };
        return (file, vec![SyntaxError::new(Span::empty(0), "source file larger than 4 GiB")]);
    }
    let lexed = lexer::lex(source);
    let mut parser = parser::Parser::new(source, lexed.tokens);
    let file = parser.parse_file(lexed.comments);
    let mut errors = lexed.errors;
    errors.extend(parser.into_errors());
    errors.sort_by_key(|e| e.span.start);
    (file, one_per_line(source, errors))
}

/// Keeps the first error of each line, as the official tool does: later ones are mostly echoes.
fn one_per_line(source: &str, errors: Vec<SyntaxError>) -> Vec<SyntaxError> {
    let mut kept: Vec<SyntaxError> = Vec::with_capacity(errors.len());
    for error in errors {
        if let Some(last) = kept.last() {
            let between = source.as_bytes().get(last.span.start as usize..error.span.start as usize);
            if between.is_some_and(|text| !text.contains(&b'\n')) {
                continue;
            }
        }
        kept.push(error);
    }
    kept
}
