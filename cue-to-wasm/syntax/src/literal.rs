//! Decoding of string and bytes literals: escapes, raw `#` delimiters and multi-line indentation.
//!
//! An interpolated literal arrives as several token spans (fragments); the closing quote's
//! indentation, found in the last fragment, is stripped from every line of every fragment.

use crate::error::SyntaxError;
use crate::lexer::Quote;
use crate::span::Span;
use crate::token::{Token, TokenKind};

/// Decodes the text fragments of one literal; returns one byte string per fragment.
pub(crate) fn decode(src: &str, quote: Quote, tokens: &[Token], errors: &mut Vec<SyntaxError>) -> Vec<Vec<u8>> {
    let mut ranges: Vec<(usize, usize)> =
        tokens.iter().enumerate().map(|(i, t)| content_range(src, quote, i == 0, t)).collect();
    let mut indent = "";
    if quote.multiline
        && let Some(last) = ranges.last_mut()
    {
        indent = split_closing_indent(src, last, tokens.len() == 1, errors);
    }
    let mut decoder = Decoder { src, quote, indent, errors, at_line_start: true };
    ranges
        .iter()
        .enumerate()
        .map(|(i, &(start, end))| {
            decoder.at_line_start = quote.multiline && i == 0;
            decoder.decode(start, end)
        })
        .collect()
}

/// Returns the byte range of a fragment's content, without delimiters or interpolation markers.
fn content_range(src: &str, quote: Quote, first: bool, token: &Token) -> (usize, usize) {
    let (start, end) = (token.span.start as usize, token.span.end as usize);
    let text = &src[start..end];
    let mut content_start = if first { start + quote.delimiter_len() } else { start + 1 };
    if first && quote.multiline {
        let rest = src.get(content_start..end).unwrap_or("");
        content_start += if rest.starts_with("\r\n") { 2 } else { usize::from(rest.starts_with('\n')) };
    }
    let content_end = match token.kind {
        TokenKind::InterpStart | TokenKind::InterpMid => end.saturating_sub(quote.interpolation_len()),
        _ if ends_with_closing(text, quote) => end - quote.delimiter_len(),
        _ => end,
    };
    let content_start = content_start.min(end);
    (content_start, content_end.max(content_start))
}

fn ends_with_closing(text: &str, quote: Quote) -> bool {
    let quotes = if quote.multiline { 3 } else { 1 };
    let bytes = text.as_bytes();
    let len = quote.delimiter_len();
    bytes.len() > len
        && bytes[bytes.len() - len..bytes.len() - len + quotes].iter().all(|&b| b == quote.byte)
        && bytes[bytes.len() - quote.hashes as usize..].iter().all(|&b| b == b'#')
}

/// Removes the closing quote's line from the last fragment and returns its indentation.
fn split_closing_indent<'a>(
    src: &'a str,
    range: &mut (usize, usize),
    single: bool,
    errors: &mut Vec<SyntaxError>,
) -> &'a str {
    let text = &src[range.0..range.1];
    let (line_start, content_end) = match text.rfind('\n') {
        Some(i) => (range.0 + i + 1, range.0 + i - usize::from(text[..i].ends_with('\r'))),
        None if single => (range.0, range.0),
        None => {
            errors.push(SyntaxError::new(
                Span::new(range.1 as u32, range.1 as u32),
                "closing quote must be on its own line",
            ));
            return "";
        }
    };
    let indent = &src[line_start..range.1];
    if !indent.bytes().all(|b| b == b' ' || b == b'\t') {
        errors
            .push(SyntaxError::new(Span::new(range.1 as u32, range.1 as u32), "closing quote must be on its own line"));
        return "";
    }
    *range = (range.0, content_end.max(range.0));
    indent
}

struct Decoder<'a, 'e> {
    src: &'a str,
    quote: Quote,
    indent: &'a str,
    errors: &'e mut Vec<SyntaxError>,
    at_line_start: bool,
}

impl Decoder<'_, '_> {
    fn decode(&mut self, start: usize, end: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(end - start);
        let mut pos = start;
        while pos < end {
            if self.at_line_start {
                pos = self.strip_indent(pos, end);
                self.at_line_start = false;
                continue;
            }
            let b = self.src.as_bytes()[pos];
            match b {
                b'\\' if self.escape_follows(pos, end) => pos = self.escape(pos, end, &mut out),
                b'\r' => pos += 1,
                b'\n' => {
                    out.push(b'\n');
                    pos += 1;
                    self.at_line_start = self.quote.multiline;
                }
                _ => {
                    out.push(b);
                    pos += 1;
                }
            }
        }
        out
    }

    /// Skips the closing quote's indentation at the start of a line, or reports a line that lacks it.
    fn strip_indent(&mut self, pos: usize, end: usize) -> usize {
        let rest = &self.src[pos..end];
        if rest.starts_with(self.indent) {
            return pos + self.indent.len();
        }
        let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
        if !line.bytes().all(|b| b == b' ' || b == b'\t' || b == b'\r') {
            let span = Span::new(pos as u32, pos as u32 + 1);
            self.errors.push(SyntaxError::new(span, "invalid whitespace: line is not indented like the closing quote"));
            return pos;
        }
        pos + line.len()
    }

    fn escape_follows(&self, pos: usize, end: usize) -> bool {
        let hashes = self.quote.hashes as usize;
        pos + 1 + hashes <= end && self.src.as_bytes()[pos + 1..pos + 1 + hashes].iter().all(|&b| b == b'#')
    }

    /// Decodes one escape sequence at `pos` and returns the position after it.
    fn escape(&mut self, pos: usize, end: usize, out: &mut Vec<u8>) -> usize {
        let at = pos + 1 + self.quote.hashes as usize;
        let Some(c) = self.src[at..end].chars().next() else {
            self.report(pos, at, "unknown escape sequence");
            return at;
        };
        let bytes = self.quote.byte == b'\'';
        let simple = match c {
            'a' => Some(7),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '/' => Some(b'/'),
            '\\' => Some(b'\\'),
            '\'' if bytes => Some(b'\''),
            '"' if !bytes => Some(b'"'),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            return at + 1;
        }
        match c {
            'u' => self.unicode(pos, at + 1, 4, end, out),
            'U' => self.unicode(pos, at + 1, 8, end, out),
            'x' if bytes => self.byte_value(pos, at + 1, 2, 16, end, out),
            '0'..='7' if bytes => self.byte_value(pos, at, 3, 8, end, out),
            _ => {
                let msg = match c {
                    'x' | '0'..='7' => "hexadecimal and octal escapes are only allowed in bytes literals",
                    _ => "unknown escape sequence",
                };
                self.report(pos, at + c.len_utf8(), msg);
                at + c.len_utf8()
            }
        }
    }

    fn digits(&self, from: usize, count: usize, radix: u32, end: usize) -> Option<u32> {
        let text = self.src.get(from..from + count).filter(|_| from + count <= end)?;
        if !text.bytes().all(|b| (b as char).is_digit(radix)) {
            return None;
        }
        u32::from_str_radix(text, radix).ok()
    }

    fn unicode(&mut self, pos: usize, from: usize, count: usize, end: usize, out: &mut Vec<u8>) -> usize {
        let Some(value) = self.digits(from, count, 16, end) else {
            self.report(pos, from, "illegal character in escape sequence");
            return from;
        };
        match char::from_u32(value) {
            Some(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            None => self.report(pos, from + count, "escape sequence is invalid Unicode code point"),
        }
        from + count
    }

    fn byte_value(
        &mut self,
        pos: usize,
        from: usize,
        count: usize,
        radix: u32,
        end: usize,
        out: &mut Vec<u8>,
    ) -> usize {
        match self.digits(from, count, radix, end) {
            Some(value) if value <= 255 => out.push(value as u8),
            Some(_) => self.report(pos, from + count, "octal escape value > 255"),
            None => {
                self.report(pos, from, "illegal character in escape sequence");
                return from;
            }
        }
        from + count
    }

    fn report(&mut self, start: usize, end: usize, message: &str) {
        self.errors.push(SyntaxError::new(Span::new(start as u32, end as u32), message));
    }
}
