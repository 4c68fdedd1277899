//! Evaluation errors: a class matching the official tool's messages, a message and source positions.

use std::fmt;

/// The class of an evaluation error, as the official tool distinguishes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Two values that cannot be unified.
    Conflict,
    /// More information could still make the value concrete.
    Incomplete,
    /// A regular field that a closed struct does not allow.
    NotAllowed,
    /// A required field without a value.
    Required,
    /// A value that contains itself.
    StructuralCycle,
    /// A reference cycle that never becomes concrete.
    Cycle,
    /// A value outside a bound or failing a validator.
    OutOfBound,
    /// A selector naming a field that does not exist.
    Undefined,
    /// An identifier that resolves to nothing.
    NotFound,
    /// An index outside a list.
    Index,
    /// A construct this evaluator does not implement.
    Unsupported,
    /// An explicit error (`_|_` or `error()`).
    User,
    /// Any other permanent error.
    Eval,
}

impl ErrorKind {
    /// Returns true for errors that more information could still resolve.
    pub fn is_incomplete(self) -> bool {
        matches!(self, ErrorKind::Incomplete | ErrorKind::Cycle | ErrorKind::Undefined | ErrorKind::Required)
    }
}

/// A position in one of the evaluated files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pos {
    /// The index of the file in the evaluated package.
    pub file: u32,
    /// The byte offset.
    pub offset: u32,
}

/// An evaluation error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CueError {
    /// The class.
    pub kind: ErrorKind,
    /// The message, in the official tool's wording where one exists.
    pub message: String,
    /// Where the error comes from.
    pub positions: Vec<Pos>,
}

impl CueError {
    /// Creates an error without positions.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CueError {
        CueError { kind, message: message.into(), positions: Vec::new() }
    }

    /// Adds a position.
    pub fn at(mut self, pos: Option<Pos>) -> CueError {
        if let Some(pos) = pos
            && !self.positions.contains(&pos)
        {
            self.positions.push(pos);
        }
        self
    }
}

impl fmt::Display for CueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
