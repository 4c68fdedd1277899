//! The parser: recursive descent over the token vector, with precedence climbing for binary
//! operators. It never fails: problems become `SyntaxError`s and `Error` nodes, and every loop
//! makes progress, so any input terminates.

mod decl;
mod expr;
mod label;

use crate::ast::{Attribute, Ident};
use crate::error::SyntaxError;
use crate::span::Span;
use crate::token::{Token, TokenKind};

/// How deeply expressions and structs may nest before the parser gives up on a subtree; this keeps
/// hostile input from exhausting the stack.
const MAX_DEPTH: u32 = 150;

/// The parser state.
pub(crate) struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    errors: Vec<SyntaxError>,
    /// The byte range from the last error's start to the end of its line, and how many errors there were
    /// when it was computed: errors within it are not reported. Computed once per reported error, so a long
    /// line costs linear time, not quadratic.
    last_error_line: (usize, std::ops::Range<usize>),
    depth: u32,
}

impl<'a> Parser<'a> {
    /// Creates a parser over tokens that end with `Eof`.
    pub(crate) fn new(src: &'a str, tokens: Vec<Token>) -> Parser<'a> {
        Parser { src, tokens, pos: 0, errors: Vec::new(), last_error_line: (0, 0..0), depth: 0 }
    }

    /// Returns the errors found so far.
    pub(crate) fn into_errors(self) -> Vec<SyntaxError> {
        self.errors
    }

    fn kind(&self) -> TokenKind {
        self.tokens[self.pos].kind
    }

    fn nth(&self, n: usize) -> TokenKind {
        self.tokens[(self.pos + n).min(self.tokens.len() - 1)].kind
    }

    fn span(&self) -> Span {
        self.tokens[self.pos].span
    }

    fn text(&self) -> &'a str {
        &self.src[self.span().range()]
    }

    fn at(&self, kind: TokenKind) -> bool {
        self.kind() == kind
    }

    /// Returns true if the current token is the identifier `word` (a contextual keyword).
    fn at_word(&self, word: &str) -> bool {
        self.at(TokenKind::Ident) && self.text() == word
    }

    /// Returns true at tokens no construct may consume: the end of input and the string text
    /// around interpolations (which belongs to an enclosing literal).
    fn at_hard_stop(&self) -> bool {
        matches!(self.kind(), TokenKind::Eof | TokenKind::InterpMid | TokenKind::InterpEnd)
    }

    /// Returns true at a closing bracket other than `own`: it closes an enclosing construct, so a
    /// list, call or struct stops there instead of swallowing the rest of the file.
    fn at_foreign_closer(&self, own: TokenKind) -> bool {
        use TokenKind::*;
        let kind = self.kind();
        kind != own && matches!(kind, RParen | RBrack | RBrace)
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens[self.pos];
        if token.kind != TokenKind::Eof {
            self.pos += 1;
        }
        token
    }

    fn eat(&mut self, kind: TokenKind) -> bool {
        let found = self.at(kind);
        if found {
            self.bump();
        }
        found
    }

    /// Returns the end of the last consumed token, for node spans.
    fn prev_end(&self) -> u32 {
        if self.pos == 0 { 0 } else { self.tokens[self.pos - 1].span.end }
    }

    /// Records an error unless one was already reported on the same line (like the official tool).
    fn error(&mut self, span: Span, message: impl Into<String>) {
        if self.last_error_line.0 != self.errors.len()
            && let Some(last) = self.errors.last()
        {
            self.last_error_line = (self.errors.len(), self.rest_of_line(last.span.start as usize));
        }
        if !self.errors.is_empty() && self.last_error_line.1.contains(&(span.start as usize)) {
            return;
        }
        self.errors.push(SyntaxError::new(span, message));
    }

    /// The bytes from `start` to the end of its line, the newline included (to one past the end at the end).
    fn rest_of_line(&self, start: usize) -> std::ops::Range<usize> {
        let rest = self.src.as_bytes().get(start..).unwrap_or_default();
        start..rest.iter().position(|&byte| byte == b'\n').map_or(self.src.len() + 1, |offset| start + offset + 1)
    }

    /// Describes the current token like the official tool: `'}'`, `'EOF'`, `newline`, `'IDENT' x`.
    fn found(&self) -> String {
        let kind = self.kind();
        if kind == TokenKind::Newline {
            return "newline".to_string();
        }
        if kind.is_literal() {
            let text: String = self.text().chars().take(40).collect();
            return format!("'{}' {}", kind.describe(), text);
        }
        format!("'{}'", kind.describe())
    }

    /// Reports `expected <what>, found <current token>`.
    fn expected(&mut self, what: &str) {
        let message = format!("expected {what}, found {}", self.found());
        self.error(self.span(), message);
    }

    /// Consumes a token of `kind` or reports it missing.
    fn expect(&mut self, kind: TokenKind) -> bool {
        if self.eat(kind) {
            return true;
        }
        self.expected(&format!("'{}'", kind.describe()));
        false
    }

    /// Enters a nested construct; returns false (and reports once) if nesting is too deep.
    fn enter(&mut self) -> bool {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.error(self.span(), "nesting too deep");
            return false;
        }
        true
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Skips one token after a construct failed to consume anything, unless it is a hard stop.
    fn skip_stuck(&mut self, before: usize) {
        if self.pos == before && !self.at_hard_stop() {
            self.bump();
        }
    }

    /// Parses an identifier (keywords other than values are accepted as names).
    fn ident(&mut self) -> Ident {
        if self.at(TokenKind::Ident) || self.is_name_keyword() {
            let token = self.bump();
            return Ident { span: token.span, name: self.src[token.span.range()].into() };
        }
        self.expected("identifier");
        Ident { span: Span::empty(self.span().start), name: "".into() }
    }

    /// Returns true for keywords that may be used as identifiers outside their special position.
    fn is_name_keyword(&self) -> bool {
        use TokenKind::*;
        matches!(self.kind(), Package | Import | For | In | If | Let)
    }

    /// Returns true if the token at `n` starts a label's end: `:`, `?:`, `!:` or `~alias`.
    fn label_end_at(&self, n: usize) -> bool {
        use TokenKind::*;
        match self.nth(n) {
            Colon | Tilde => true,
            Question | Not => self.nth(n + 1) == Colon,
            _ => false,
        }
    }

    /// Parses an attribute token into its name and body.
    fn attribute(&mut self) -> Attribute {
        let token = self.bump();
        let text = &self.src[token.span.range()];
        let inner = &text[1..];
        let (name, body) = match inner.find('(') {
            Some(open) => (&inner[..open], inner[open + 1..].strip_suffix(')').unwrap_or(&inner[open + 1..])),
            None => (inner, ""),
        };
        Attribute { span: token.span, name: name.into(), body: body.into() }
    }
}
