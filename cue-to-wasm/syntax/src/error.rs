//! Syntax errors: a span and a message in the official tool's wording where one exists.

use std::fmt;

use crate::span::{LineIndex, Span};

/// One problem found while lexing or parsing; parsing continues after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the problem is.
    pub span: Span,
    /// What is wrong, e.g. `expected '}', found 'EOF'`.
    pub message: String,
}

impl SyntaxError {
    /// Creates an error at `span`.
    pub fn new(span: Span, message: impl Into<String>) -> SyntaxError {
        SyntaxError { span, message: message.into() }
    }

    /// Formats the error as `line:col: message` using a line index of the same source.
    pub fn display_with(&self, index: &LineIndex) -> String {
        format!("{}: {}", index.line_col(self.span.start), self.message)
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at bytes {})", self.message, self.span)
    }
}

impl std::error::Error for SyntaxError {}
