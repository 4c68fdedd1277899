//! The error classes of `shared/cue-conformance/replay.py`, used by the conformance and differential tests.

/// Error classes, matched in this order against the whole stderr (as `replay.py` does).
pub const ERROR_CLASSES: &[(&str, &str)] = &[
    ("not-allowed", "field not allowed"),
    ("required", "field is required but not present"),
    ("structural-cycle", "structural cycle"),
    ("cycle", "cycle"),
    ("incomplete", "incomplete value"),
    ("non-concrete", "non-concrete value"),
    ("conflict", "conflicting values"),
    ("out-of-bound", "invalid value"),
    ("undefined", "undefined field"),
    ("not-found", "not found"),
    ("index", "index out of range"),
    ("parse", "expected"),
];

/// The class of an error output: the first class whose text it contains, `other` when none does.
pub fn error_class(stderr: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(stderr);
    ERROR_CLASSES.iter().find(|(_, needle)| text.contains(needle)).map_or("other", |(name, _)| name)
}
