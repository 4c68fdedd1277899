//! Pequod's YAML writer: turns a data tree into block-style YAML the way the official `cue` tool writes
//! `cue export --out yaml` and `yaml.Marshal` — two-space indentation, sequences indented under their key,
//! `{}`/`[]` for empty collections, no line wrapping, and, for every string, the same choice between a plain
//! scalar, a single-quoted one, a double-quoted one and a literal block (`|-`, `|`, `|+`).
//!
//! Both `cue-to-wasm export --out yaml` (through `cue-eval`) and `pequod render -o yaml` use it, so the two
//! print the same bytes for the same object.
//!
//! Why our own writer: no YAML crate we keep reproduces the official (Go) encoder's style decisions —
//! `serde_yaml` quotes differently (`'--foo'`, `"{\"a\":1}"`) and never writes block scalars. The rules here
//! were read off the official binary's output, case by case (see `tests/official.rs` and the table tests in
//! [`style`]); this is a writer only, there is no parser. It departs from the official output in one case
//! only, where that output does not read back as the same string: text whose first non-empty line follows
//! empty lines and starts with a space is double-quoted instead of written as a literal block.
//!
//! ```
//! use pequod_yaml::Node;
//! let doc = Node::Map(vec![
//!     ("args".into(), Node::Seq(vec![Node::String("--verbose".into())])),
//!     ("script".into(), Node::String("set -e\nmake\n".into())),
//!     ("json".into(), Node::String(r#"{"a":1}"#.into())),
//! ]);
//! assert_eq!(pequod_yaml::to_string(&doc), "args:\n  - --verbose\nscript: |\n  set -e\n  make\njson: '{\"a\":1}'\n");
//! ```

mod resolve;
pub mod style;
mod write;

pub use write::{marshal, stream, to_string};

/// A YAML data tree. Map entries keep their order; numbers are written exactly as given.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, already formatted (written verbatim).
    Number(String),
    /// A string; the writer picks its style.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with string keys, in order.
    Map(Vec<(String, Node)>),
}

impl From<&serde_json::Value> for Node {
    fn from(value: &serde_json::Value) -> Node {
        match value {
            serde_json::Value::Null => Node::Null,
            serde_json::Value::Bool(b) => Node::Bool(*b),
            serde_json::Value::Number(n) => Node::Number(n.to_string()),
            serde_json::Value::String(s) => Node::String(s.clone()),
            serde_json::Value::Array(items) => Node::Seq(items.iter().map(Node::from).collect()),
            serde_json::Value::Object(fields) => {
                Node::Map(fields.iter().map(|(k, v)| (k.clone(), Node::from(v))).collect())
            }
        }
    }
}
