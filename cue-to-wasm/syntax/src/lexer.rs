//! The lexer: turns source text into tokens, inserting commas at line ends as the spec requires.
//!
//! String interpolations are split into `InterpStart`, `InterpMid` and `InterpEnd` tokens with the
//! tokens of each embedded expression in between, so the parser never rescans text.

use crate::error::SyntaxError;
use crate::span::Span;
use crate::token::{Token, TokenKind};

/// The delimiters of a string or bytes literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// `"` for strings, `'` for bytes.
    pub byte: u8,
    /// True for `"""` and `'''` literals.
    pub multiline: bool,
    /// The number of `#` characters around the literal (raw strings).
    pub hashes: u32,
}

impl Quote {
    /// Returns the length of the opening or closing delimiter in bytes.
    pub fn delimiter_len(self) -> usize {
        self.hashes as usize + if self.multiline { 3 } else { 1 }
    }

    /// Returns the length of an interpolation opener `\#(` in bytes.
    pub fn interpolation_len(self) -> usize {
        self.hashes as usize + 2
    }

    /// Reads the delimiters at the start of a literal's text, if it starts one.
    pub fn parse_opening(text: &str) -> Option<Quote> {
        let bytes = text.as_bytes();
        let hashes = bytes.iter().take_while(|&&b| b == b'#').count();
        let byte = *bytes.get(hashes)?;
        if byte != b'"' && byte != b'\'' {
            return None;
        }
        let multiline = bytes.get(hashes + 1) == Some(&byte) && bytes.get(hashes + 2) == Some(&byte);
        Some(Quote { byte, multiline, hashes: hashes as u32 })
    }
}

/// The output of the lexer.
#[derive(Debug, Default)]
pub struct Lexed {
    /// The tokens, always ending with one `Eof` token.
    pub tokens: Vec<Token>,
    /// The spans of `//` comments, in source order.
    pub comments: Vec<Span>,
    /// Lexical errors, in source order.
    pub errors: Vec<SyntaxError>,
}

/// An interpolation whose expression is being lexed.
#[derive(Clone, Copy, Debug)]
struct Frame {
    quote: Quote,
    parens: u32,
}

/// Splits `source` into tokens; never fails, and reports problems as errors.
pub fn lex(source: &str) -> Lexed {
    let mut lexer = Lexer { src: source.as_bytes(), text: source, pos: 0, out: Lexed::default(), frames: Vec::new() };
    lexer.run();
    lexer.out
}

struct Lexer<'a> {
    src: &'a [u8],
    text: &'a str,
    pos: usize,
    out: Lexed,
    frames: Vec<Frame>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '$' || (!c.is_ascii() && c.is_alphabetic())
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || (!c.is_ascii() && c.is_alphanumeric())
}

impl<'a> Lexer<'a> {
    fn run(&mut self) {
        if self.text.starts_with('\u{feff}') {
            self.pos = 3;
        }
        loop {
            self.skip_trivia();
            if self.pos >= self.src.len() {
                self.finish();
                return;
            }
            let start = self.pos;
            let kind = self.scan_token();
            self.push(kind, start, self.pos);
        }
    }

    fn finish(&mut self) {
        let end = self.src.len() as u32;
        while self.frames.pop().is_some() {
            self.error(Span::empty(end), "interpolation not terminated");
            self.push(TokenKind::InterpEnd, end as usize, end as usize);
        }
        if self.insert_pending() {
            self.push(TokenKind::Newline, end as usize, end as usize);
        }
        self.push(TokenKind::Eof, end as usize, end as usize);
    }

    fn push(&mut self, kind: TokenKind, start: usize, end: usize) {
        self.out.tokens.push(Token { kind, span: Span::new(start as u32, end as u32) });
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.out.errors.push(SyntaxError::new(span, message));
    }

    fn last_kind(&self) -> Option<TokenKind> {
        self.out.tokens.last().map(|t| t.kind)
    }

    fn insert_pending(&self) -> bool {
        self.last_kind().is_some_and(TokenKind::ends_line)
    }

    fn peek(&self, offset: usize) -> u8 {
        self.src.get(self.pos + offset).copied().unwrap_or(0)
    }

    fn char_at(&self, pos: usize) -> Option<char> {
        self.text.get(pos..).and_then(|rest| rest.chars().next())
    }

    /// Skips spaces, newlines (inserting commas) and comments.
    fn skip_trivia(&mut self) {
        while self.pos < self.src.len() {
            match self.src[self.pos] {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    if self.insert_pending() && !self.next_line_continues() {
                        self.push(TokenKind::Newline, self.pos, self.pos);
                    }
                    self.pos += 1;
                }
                b'/' if self.peek(1) == b'/' => {
                    let start = self.pos;
                    let len = self.src[start..].iter().position(|&b| b == b'\n').unwrap_or(self.src.len() - start);
                    self.pos = start + len;
                    self.out.comments.push(Span::new(start as u32, self.pos as u32));
                }
                _ => return,
            }
        }
    }

    /// Returns true if the next token after this newline is `,` or `:`, which continue the line:
    /// the official tool accepts JSON written with leading commas and colons.
    fn next_line_continues(&self) -> bool {
        let mut pos = self.pos;
        while pos < self.src.len() {
            match self.src[pos] {
                b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
                b'/' if self.src.get(pos + 1) == Some(&b'/') => {
                    pos += self.src[pos..].iter().position(|&b| b == b'\n').unwrap_or(self.src.len() - pos);
                }
                b',' | b':' => return true,
                _ => return false,
            }
        }
        false
    }

    fn scan_token(&mut self) -> TokenKind {
        let b = self.src[self.pos];
        match b {
            b'0'..=b'9' => self.scan_number(),
            b'.' if self.peek(1).is_ascii_digit() && !self.after_operand() => self.scan_number(),
            b'"' | b'\'' => self.scan_string_start(0),
            b'#' => self.scan_hash(),
            b'@' => self.scan_attribute(),
            b'_' if self.peek(1) == b'|' && self.peek(2) == b'_' => {
                self.pos += 3;
                TokenKind::Bottom
            }
            _ if b.is_ascii() && !is_ident_start(b as char) => self.scan_operator(b),
            _ => self.scan_word(),
        }
    }

    /// Returns true if the previous token ends an operand, so that `.5` is a selector, not a number.
    fn after_operand(&self) -> bool {
        self.last_kind().is_some_and(|k| k.ends_line() || k == TokenKind::Period)
    }

    fn scan_word(&mut self) -> TokenKind {
        let start = self.pos;
        match self.char_at(self.pos) {
            Some('_') if self.peek(1) == b'#' && self.char_at(self.pos + 2).is_some_and(is_ident_start) => {
                self.pos += 2;
                self.eat_ident_rest();
                TokenKind::Ident
            }
            Some(c) if is_ident_start(c) => {
                self.pos += c.len_utf8();
                self.eat_ident_rest();
                TokenKind::keyword_or_ident(&self.text[start..self.pos])
            }
            Some(c) => {
                self.pos += c.len_utf8();
                self.error(Span::new(start as u32, self.pos as u32), format!("illegal character {}", describe_char(c)));
                TokenKind::Illegal
            }
            None => {
                self.pos += 1;
                TokenKind::Illegal
            }
        }
    }

    fn eat_ident_rest(&mut self) {
        while let Some(c) = self.char_at(self.pos) {
            if !is_ident_continue(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// Scans `#Def`, `#"raw"#` or reports a stray `#`.
    fn scan_hash(&mut self) -> TokenKind {
        let start = self.pos;
        let hashes = self.src[start..].iter().take_while(|&&b| b == b'#').count();
        match self.src.get(start + hashes) {
            Some(b'"') | Some(b'\'') => {
                self.pos += hashes;
                self.scan_string_start(hashes as u32)
            }
            _ if hashes == 1 && self.char_at(start + 1).is_some_and(is_ident_start) => {
                self.pos += 1;
                self.scan_word()
            }
            _ => {
                // A lone `#` is accepted as an identifier by the official tool (e.g. the label `#:`).
                self.pos += 1;
                TokenKind::Ident
            }
        }
    }

    fn scan_operator(&mut self, b: u8) -> TokenKind {
        use TokenKind::*;
        let next = self.peek(1);
        let (kind, len) = match b {
            b'+' => (Plus, 1),
            b'-' => (Minus, 1),
            b'*' => (Star, 1),
            b'/' => (Slash, 1),
            b'&' if next == b'&' => (AndAnd, 2),
            b'&' => (And, 1),
            b'|' if next == b'|' => (OrOr, 2),
            b'|' => (Or, 1),
            b'=' if next == b'=' => (EqEq, 2),
            b'=' if next == b'~' => (Match, 2),
            b'=' => (Assign, 1),
            b'!' if next == b'=' => (NotEq, 2),
            b'!' if next == b'~' => (NotMatch, 2),
            b'!' => (Not, 1),
            b'<' if next == b'=' => (Le, 2),
            // `<-` is a token of its own in CUE (reserved): `<-8` is not `< -8`.
            b'<' if next == b'-' => {
                self.pos += 2;
                let span = Span::new(self.pos as u32 - 2, self.pos as u32);
                self.error(span, "expected operand, found '<-'".to_string());
                return Illegal;
            }
            b'<' => (Lt, 1),
            b'>' if next == b'=' => (Ge, 2),
            b'>' => (Gt, 1),
            b'?' => (Question, 1),
            b':' => (Colon, 1),
            b'~' => (Tilde, 1),
            b',' => (Comma, 1),
            b'.' if next == b'.' && self.peek(2) == b'.' => (Ellipsis, 3),
            b'.' => (Period, 1),
            b'(' => (LParen, 1),
            b')' => return self.scan_rparen(),
            b'[' => (LBrack, 1),
            b']' => (RBrack, 1),
            b'{' => (LBrace, 1),
            b'}' => (RBrace, 1),
            _ => {
                self.pos += 1;
                let span = Span::new(self.pos as u32 - 1, self.pos as u32);
                self.error(span, format!("illegal character {}", describe_char(b as char)));
                return Illegal;
            }
        };
        if kind == LParen
            && let Some(frame) = self.frames.last_mut()
        {
            frame.parens += 1;
        }
        self.pos += len;
        kind
    }

    /// Scans `)`, which either closes a parenthesis or resumes the string around an interpolation.
    fn scan_rparen(&mut self) -> TokenKind {
        self.pos += 1;
        match self.frames.last_mut() {
            Some(frame) if frame.parens > 0 => {
                frame.parens -= 1;
                TokenKind::RParen
            }
            Some(_) => {
                let frame = self
                    .frames
                    .pop()
                    .unwrap_or(Frame { quote: Quote { byte: b'"', multiline: false, hashes: 0 }, parens: 0 });
                let start = self.pos - 1;
                self.scan_string_body(start, frame.quote, false)
            }
            None => TokenKind::RParen,
        }
    }

    /// Scans a literal whose opening `#`s (if any) have been consumed; `pos` is at the quote.
    fn scan_string_start(&mut self, hashes: u32) -> TokenKind {
        let start = self.pos - hashes as usize;
        let byte = self.src[self.pos];
        let multiline = self.peek(1) == byte && self.peek(2) == byte;
        let quote = Quote { byte, multiline, hashes };
        if multiline {
            self.pos += 3;
            let rest = &self.src[self.pos..];
            if rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
                self.pos += if rest[0] == b'\r' { 2 } else { 1 };
            } else {
                self.error(Span::new(start as u32, self.pos as u32), "expected newline after multiline quote");
            }
        } else {
            self.pos += 1;
        }
        self.scan_string_body(start, quote, true)
    }

    /// Scans string content up to the closing delimiter or the next interpolation.
    fn scan_string_body(&mut self, start: usize, quote: Quote, first: bool) -> TokenKind {
        let (open_kind, close_kind) = if first {
            (TokenKind::InterpStart, TokenKind::String)
        } else {
            (TokenKind::InterpMid, TokenKind::InterpEnd)
        };
        let hashes = quote.hashes as usize;
        loop {
            let Some(&b) = self.src.get(self.pos) else {
                self.error(Span::new(start as u32, self.pos as u32), "string literal not terminated");
                return close_kind;
            };
            if b == b'\\' && self.has_hashes(self.pos + 1, hashes) {
                let after = self.pos + 1 + hashes;
                if self.src.get(after) == Some(&b'(') {
                    self.pos = after + 1;
                    self.frames.push(Frame { quote, parens: 0 });
                    return open_kind;
                }
                self.pos = after;
                match self.char_at(after) {
                    Some('\n') | None => {}
                    Some(c) => self.pos += c.len_utf8(),
                }
            } else if b == b'\n' && !quote.multiline {
                self.error(Span::new(start as u32, self.pos as u32), "string literal not terminated");
                return close_kind;
            } else if b == quote.byte && self.closes(quote) {
                self.pos += quote.delimiter_len();
                return close_kind;
            } else {
                self.pos += 1;
            }
        }
    }

    fn has_hashes(&self, at: usize, count: usize) -> bool {
        self.src.len() >= at + count && self.src[at..at + count].iter().all(|&b| b == b'#')
    }

    fn closes(&self, quote: Quote) -> bool {
        let quotes = if quote.multiline { 3 } else { 1 };
        let rest = &self.src[self.pos..];
        rest.len() >= quotes
            && rest[..quotes].iter().all(|&b| b == quote.byte)
            && self.has_hashes(self.pos + quotes, quote.hashes as usize)
    }

    fn scan_attribute(&mut self) -> TokenKind {
        let start = self.pos;
        self.pos += 1;
        let name_start = self.pos;
        if self.peek(0) == b'#' {
            self.pos += 1;
        }
        self.eat_ident_rest();
        if self.pos == name_start {
            self.error(Span::new(start as u32, self.pos as u32), "invalid attribute: expected identifier");
            return TokenKind::Attribute;
        }
        if self.peek(0) != b'(' {
            self.error(Span::new(start as u32, self.pos as u32), "invalid attribute: expected '('");
            return TokenKind::Attribute;
        }
        self.scan_attribute_body(start);
        TokenKind::Attribute
    }

    /// Scans the balanced bracket sequence of an attribute, starting at its `(`.
    fn scan_attribute_body(&mut self, start: usize) {
        let mut stack: Vec<u8> = Vec::new();
        while let Some(&b) = self.src.get(self.pos) {
            self.pos += 1;
            match b {
                b'(' => stack.push(b')'),
                b'[' => stack.push(b']'),
                b'{' => stack.push(b'}'),
                b')' | b']' | b'}' => {
                    if stack.pop() != Some(b) {
                        let span = Span::new(self.pos as u32 - 1, self.pos as u32);
                        self.error(span, format!("unexpected '{}' in attribute", b as char));
                        return;
                    }
                    if stack.is_empty() {
                        return;
                    }
                }
                b'"' | b'\'' => self.skip_attribute_string(b),
                _ => {}
            }
        }
        self.error(Span::new(start as u32, self.pos as u32), "attribute missing ')'");
    }

    fn skip_attribute_string(&mut self, quote: u8) {
        let triple = [quote; 3];
        if self.src[self.pos..].starts_with(&triple[..2]) {
            self.pos += 2;
            while self.pos < self.src.len() && !self.src[self.pos..].starts_with(&triple) {
                self.pos += if self.src[self.pos] == b'\\' { 2 } else { 1 };
            }
            self.pos = (self.pos + 3).min(self.src.len());
            return;
        }
        while let Some(&b) = self.src.get(self.pos) {
            match b {
                b'\\' => self.pos += 2,
                b'\n' => return,
                _ if b == quote => {
                    self.pos += 1;
                    return;
                }
                _ => self.pos += 1,
            }
        }
        self.pos = self.pos.min(self.src.len());
    }

    fn scan_number(&mut self) -> TokenKind {
        let start = self.pos;
        if self.peek(0) == b'0' && matches!(self.peek(1), b'x' | b'X' | b'o' | b'b') {
            return self.scan_prefixed_number(start);
        }
        let mut float = false;
        if self.peek(0) != b'.' {
            self.scan_digits(10);
        }
        if self.peek(0) == b'.' && self.peek(1) != b'.' {
            self.pos += 1;
            float = true;
            if self.peek(0).is_ascii_digit() {
                self.scan_digits(10);
            }
        }
        if matches!(self.peek(0), b'e' | b'E') {
            let sign = usize::from(matches!(self.peek(1), b'+' | b'-'));
            if self.peek(1 + sign).is_ascii_digit() {
                self.pos += 1 + sign;
                self.scan_digits(10);
                float = true;
            }
        }
        if matches!(self.peek(0), b'K' | b'M' | b'G' | b'T' | b'P') {
            self.pos += 1;
            if self.peek(0) == b'i' {
                self.pos += 1;
            }
            return TokenKind::Int;
        }
        if !float && self.src[start] == b'0' && self.pos - start > 1 {
            let span = Span::new(start as u32, self.pos as u32);
            self.error(span, "illegal integer number: leading zeros are not allowed (use the 0o prefix for octal)");
        }
        if float { TokenKind::Float } else { TokenKind::Int }
    }

    fn scan_prefixed_number(&mut self, start: usize) -> TokenKind {
        let (radix, name) = match self.peek(1) {
            b'x' | b'X' => (16, "hexadecimal"),
            b'o' => (8, "octal"),
            _ => (2, "binary"),
        };
        self.pos += 2;
        let digits = self.scan_digits(radix);
        if digits == 0 {
            let span = Span::new(start as u32, self.pos as u32);
            self.error(span, format!("illegal {name} number"));
        }
        TokenKind::Int
    }

    /// Scans digits of `radix` with interstitial underscores; returns how many digits there were.
    fn scan_digits(&mut self, radix: u32) -> usize {
        let mut count = 0;
        let mut last_underscore = false;
        let start = self.pos;
        loop {
            let b = self.peek(0);
            if b == b'_' {
                if count == 0 || last_underscore {
                    self.underscore_error(start);
                }
                last_underscore = true;
            } else if (b as char).is_digit(radix.max(10)) && (b as char).is_digit(radix) {
                count += 1;
                last_underscore = false;
            } else {
                break;
            }
            self.pos += 1;
        }
        if last_underscore {
            self.underscore_error(start);
        }
        count
    }

    fn underscore_error(&mut self, start: usize) {
        let span = Span::new(start as u32, (self.pos + 1).min(self.src.len()) as u32);
        if self.out.errors.last().is_none_or(|e| e.span.start != span.start) {
            self.error(span, "'_' must separate successive digits");
        }
    }
}

/// Formats a character the way the official tool names it: `U+0023 '#'`.
fn describe_char(c: char) -> String {
    format!("U+{:04X} '{}'", c as u32, c.escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> String {
        let lexed = lex(src);
        assert!(lexed.errors.is_empty(), "{:?}", lexed.errors);
        let parts: Vec<String> =
            lexed.tokens.iter().map(|t| format!("{:?}({})", t.kind, &src[t.span.range()])).collect();
        parts.join(" ")
    }

    #[test]
    fn inserts_commas_after_operands_only() {
        assert_eq!(
            kinds("a: 1\nb: c +\n d"),
            "Ident(a) Colon(:) Int(1) Newline() Ident(b) Colon(:) Ident(c) Plus(+) Ident(d) Newline() Eof()"
        );
        assert_eq!(kinds("x // c\n"), "Ident(x) Newline() Eof()");
    }

    #[test]
    fn splits_interpolations() {
        assert_eq!(
            kinds(r#""a\(b("c\(d)"))e""#),
            r#"InterpStart("a\() Ident(b) LParen(() InterpStart("c\() Ident(d) InterpEnd()") RParen()) InterpEnd()e") Newline() Eof()"#
        );
        assert_eq!(
            kinds(r##"#"a\(b)\#(c)"#"##),
            r##"InterpStart(#"a\(b)\#() Ident(c) InterpEnd()"#) Newline() Eof()"##
        );
    }

    #[test]
    fn scans_numbers() {
        assert_eq!(
            kinds("1_000 0x1F 0o7 0b1 1.5 + .5 1e3 1Ki 1.5M 0.5 0"),
            "Int(1_000) Int(0x1F) Int(0o7) Int(0b1) Float(1.5) Plus(+) Float(.5) Float(1e3) Int(1Ki) Int(1.5M) Float(0.5) Int(0) Newline() Eof()"
        );
        assert_eq!(kinds("a.b"), "Ident(a) Period(.) Ident(b) Newline() Eof()");
    }

    #[test]
    fn scans_identifiers_and_bottom() {
        assert_eq!(
            kinds("#A _b _#c $d _|_ _"),
            "Ident(#A) Ident(_b) Ident(_#c) Ident($d) Bottom(_|_) Ident(_) Newline() Eof()"
        );
    }

    #[test]
    fn scans_attributes_with_nested_brackets() {
        assert_eq!(kinds(r#"@go(a,(b)["x)"]) a"#), r#"Attribute(@go(a,(b)["x)"])) Ident(a) Newline() Eof()"#);
    }
}
