//! Byte spans into the source text and their conversion to lines and columns.

use std::fmt;

/// A half-open byte range `start..end` into the source text a node or token came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// The offset of the first byte.
    pub start: u32,
    /// The offset one past the last byte.
    pub end: u32,
}

impl Span {
    /// Creates the span `start..end`.
    pub fn new(start: u32, end: u32) -> Span {
        Span { start, end }
    }

    /// Creates an empty span at `offset`.
    pub fn empty(offset: u32) -> Span {
        Span { start: offset, end: offset }
    }

    /// Returns the smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    /// Returns the length of the span in bytes.
    pub fn len(self) -> u32 {
        self.end - self.start
    }

    /// Returns true if the span covers no byte.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// Returns the span as a `usize` range, for slicing the source.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A one-based line and column; the column counts bytes, like the official tool's positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    /// The line, starting at 1.
    pub line: u32,
    /// The byte column within the line, starting at 1.
    pub col: u32,
}

impl fmt::Display for LineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// The offsets at which lines start, built once per source so that positions are cheap to compute.
#[derive(Clone, Debug)]
pub struct LineIndex {
    line_starts: Vec<u32>,
}

impl LineIndex {
    /// Indexes the line starts of `source`.
    pub fn new(source: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(memchr_newlines(source.as_bytes()));
        LineIndex { line_starts }
    }

    /// Returns the line and column of a byte offset (offsets past the end map to the end).
    pub fn line_col(&self, offset: u32) -> LineCol {
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        LineCol { line: line as u32 + 1, col: offset - self.line_starts[line] + 1 }
    }

    /// Returns the number of lines in the source.
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

/// Yields the offset just after each newline byte.
fn memchr_newlines(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let index = LineIndex::new("ab\ncd\n\nx");
        assert_eq!(index.line_col(0).to_string(), "1:1");
        assert_eq!(index.line_col(2).to_string(), "1:3");
        assert_eq!(index.line_col(3).to_string(), "2:1");
        assert_eq!(index.line_col(6).to_string(), "3:1");
        assert_eq!(index.line_col(7).to_string(), "4:1");
        assert_eq!(index.line_col(8).to_string(), "4:2");
    }
}
