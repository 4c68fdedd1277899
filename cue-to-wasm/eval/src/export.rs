//! Export: turns an evaluated node into data (defaults applied; definitions, hidden, optional and
//! let fields dropped) and collects the errors `cue export` reports, each with its path.

use std::rc::Rc;

use crate::error::{CueError, ErrorKind};
use crate::eval::Evaluator;
use crate::ops;
use crate::value::{VId, Value};
use crate::vertex::{ArcKind, Label};

/// Exported data, in field order.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number, already formatted.
    Num(String),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Data>),
    /// A struct.
    Object(Vec<(String, Data)>),
}

/// An error found at a path.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// The path of the field, e.g. `a.b."c-d".0`.
    pub path: String,
    /// The error.
    pub error: Rc<CueError>,
}

/// How deep definitions and hidden fields are checked for permanent errors.
const VALIDATE_DEPTH: usize = 24;

impl Evaluator<'_> {
    /// Returns the path of a node.
    pub fn path_of(&self, v: VId) -> String {
        let mut labels = Vec::new();
        let mut cur = Some(v);
        while let Some(x) = cur {
            if let Some(label) = &self.vertices[x].label {
                labels.push(format_label(label));
            }
            cur = self.vertices[x].parent;
        }
        labels.reverse();
        labels.join(".")
    }

    /// Exports a node, collecting every error found.
    pub fn export_node(&mut self, v: VId, errors: &mut Vec<Diagnostic>) -> Option<Data> {
        let value = ops::default_of(&self.vertex_value(v));
        match value {
            Value::Bottom(e) => {
                self.report(v, e, errors);
                None
            }
            Value::Struct(s) | Value::List(s) if self.unresolved_error(v, s).is_some() => {
                if let Some(Value::Bottom(e)) = self.unresolved_error(v, s) {
                    self.report(v, e, errors);
                }
                None
            }
            Value::Struct(s) => self.export_struct(s, errors),
            Value::List(s) => self.export_list(s, errors),
            Value::Null => Some(Data::Null),
            Value::Bool(b) => Some(Data::Bool(b)),
            Value::Num(n) => Some(Data::Num(n.to_string())),
            Value::Str(s) => Some(Data::Str(s.to_string())),
            Value::Bytes(b) => Some(Data::Str(base64(&b))),
            other => {
                let err = CueError::new(ErrorKind::Incomplete, format!("incomplete value {other}"));
                self.report(v, Rc::new(err.at(self.vertices[v].pos)), errors);
                None
            }
        }
    }

    /// The unresolved comprehension error of a node or of the node its value is.
    fn unresolved_error(&self, v: VId, s: VId) -> Option<Value> {
        self.vertices[v].unresolved.clone().or_else(|| self.vertices[s].unresolved.clone())
    }

    fn report(&self, v: VId, error: Rc<CueError>, errors: &mut Vec<Diagnostic>) {
        errors.push(Diagnostic { path: self.path_of(v), error });
    }

    fn export_struct(&mut self, s: VId, errors: &mut Vec<Diagnostic>) -> Option<Data> {
        let arcs = self.ordered_arcs(s);
        let mut fields = Vec::new();
        let before = errors.len();
        for (label, arc) in arcs {
            if !label.is_regular() {
                self.validate(arc.vid, VALIDATE_DEPTH, errors);
                continue;
            }
            match arc.kind {
                ArcKind::Optional => continue,
                ArcKind::Required => {
                    let err = CueError::new(ErrorKind::Required, "field is required but not present");
                    self.report(arc.vid, Rc::new(err.at(self.vertices[arc.vid].pos)), errors);
                }
                ArcKind::Regular => {
                    if let Some(d) = self.export_node(arc.vid, errors) {
                        fields.push((label.name().unwrap_or_default().to_string(), d));
                    }
                }
            }
        }
        (errors.len() == before).then_some(Data::Object(fields))
    }

    fn export_list(&mut self, s: VId, errors: &mut Vec<Diagnostic>) -> Option<Data> {
        let vids: Vec<VId> =
            self.vertices[s].arcs.iter().filter(|(l, _)| matches!(l, Label::Index(_))).map(|(_, a)| a.vid).collect();
        let before = errors.len();
        let items: Vec<Data> = vids.into_iter().filter_map(|v| self.export_node(v, errors)).collect();
        (errors.len() == before).then_some(Data::List(items))
    }

    /// Reports permanent errors inside definitions and hidden fields.
    fn validate(&mut self, v: VId, depth: usize, errors: &mut Vec<Diagnostic>) {
        let value = self.vertex_value(v);
        match value {
            Value::Bottom(e) if !e.kind.is_incomplete() && e.kind != ErrorKind::StructuralCycle => {
                self.report(v, e, errors)
            }
            Value::Struct(s) | Value::List(s) if depth > 0 => {
                let arcs: Vec<crate::vertex::Arc> = self.vertices[s].arcs.values().copied().collect();
                for arc in arcs.into_iter().filter(|a| a.kind != ArcKind::Optional) {
                    self.validate(arc.vid, depth - 1, errors);
                }
            }
            _ => {}
        }
    }
}

/// Compares two nodes by their exported data (used by `==` on structs and lists).
pub(crate) fn equal_nodes(ev: &mut Evaluator<'_>, x: VId, y: VId) -> bool {
    compare_nodes(ev, x, y).unwrap_or(false)
}

/// The operand of a comparison of nodes that could not be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The left-hand operand.
    Left,
    /// The right-hand operand.
    Right,
}

/// Compares two nodes by their exported data; when either is not concrete data (an element `string` makes
/// `[1] == [string]` incomplete, not false), the first error found, with its operand and its path relative to
/// that operand (`0: incomplete value string`).
pub(crate) fn compare_nodes(ev: &mut Evaluator<'_>, x: VId, y: VId) -> Result<bool, (Side, CueError)> {
    let mut data = Vec::new();
    for (side, v) in [(Side::Left, x), (Side::Right, y)] {
        let mut errors = Vec::new();
        match ev.export_node(v, &mut errors) {
            Some(d) if errors.is_empty() => data.push(d),
            _ => {
                let Some(first) = errors.into_iter().next() else {
                    return Err((side, CueError::new(ErrorKind::Incomplete, "incomplete value")));
                };
                let base = ev.path_of(v);
                let inner = first.path.strip_prefix(base.as_str()).unwrap_or(&first.path).trim_start_matches('.');
                let mut error = (*first.error).clone();
                if !inner.is_empty() {
                    error.message = format!("{inner}: {}", error.message);
                }
                return Err((side, error));
            }
        }
    }
    Ok(same_data(&data[0], &data[1]))
}

/// Whether two exported values are equal: structs by their fields, whatever their order (`{a: 1, b: 2} ==
/// {b: 2, a: 1}`); numbers by their form, as the official tool compares them in structs (`{a: 1} == {a: 1.0}`
/// is false).
fn same_data(x: &Data, y: &Data) -> bool {
    match (x, y) {
        (Data::List(xs), Data::List(ys)) => xs.len() == ys.len() && xs.iter().zip(ys).all(|(a, b)| same_data(a, b)),
        (Data::Object(xs), Data::Object(ys)) => {
            let fields: std::collections::HashMap<&str, &Data> = ys.iter().map(|(k, v)| (k.as_str(), v)).collect();
            xs.len() == ys.len() && xs.iter().all(|(k, a)| fields.get(k.as_str()).is_some_and(|b| same_data(a, b)))
        }
        _ => x == y,
    }
}

/// Formats a label as it appears in a path.
pub fn format_label(label: &Label) -> String {
    match label {
        Label::Index(i) => i.to_string(),
        Label::Field(name) if is_identifier(name) => name.to_string(),
        Label::Field(name) | Label::Quoted(name) => crate::value::quote(name),
    }
}

fn is_identifier(name: &str) -> bool {
    let body = name.trim_start_matches('_').trim_start_matches('#');
    let mut chars = body.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        || name.starts_with('#') && body.is_empty()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes data as JSON with 4-space indentation and no HTML escaping, like `cue export`.
pub fn to_json(data: &Data) -> String {
    let mut out = String::new();
    write_json(data, 0, &mut out);
    out.push('\n');
    out
}

fn write_json(data: &Data, indent: usize, out: &mut String) {
    match data {
        Data::Null => out.push_str("null"),
        Data::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Data::Num(n) => out.push_str(n),
        Data::Str(s) => json_string(s, out),
        Data::List(items) if items.is_empty() => out.push_str("[]"),
        Data::Object(fields) if fields.is_empty() => out.push_str("{}"),
        Data::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                push_indent(indent + 1, out);
                write_json(item, indent + 1, out);
            }
            out.push('\n');
            push_indent(indent, out);
            out.push(']');
        }
        Data::Object(fields) => {
            out.push('{');
            for (i, (key, value)) in fields.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                push_indent(indent + 1, out);
                json_string(key, out);
                out.push_str(": ");
                write_json(value, indent + 1, out);
            }
            out.push('\n');
            push_indent(indent, out);
            out.push('}');
        }
    }
}

fn push_indent(level: usize, out: &mut String) {
    out.push_str(&"    ".repeat(level));
}

/// Writes a JSON string literal without HTML escaping.
pub(crate) fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes data as YAML like `cue export --out yaml`, with the shared writer (`pequod-yaml`).
pub fn to_yaml(data: &Data) -> String {
    pequod_yaml::to_string(&yaml_node(data))
}

/// Writes data as YAML like `yaml.Marshal` (a string document is never a block scalar).
pub fn to_yaml_marshal(data: &Data) -> String {
    pequod_yaml::marshal(&yaml_node(data))
}

fn yaml_node(data: &Data) -> pequod_yaml::Node {
    use pequod_yaml::Node;
    match data {
        Data::Null => Node::Null,
        Data::Bool(b) => Node::Bool(*b),
        Data::Num(n) => Node::Number(yaml_number(n)),
        Data::Str(s) => Node::String(s.clone()),
        Data::List(items) => Node::Seq(items.iter().map(yaml_node).collect()),
        Data::Object(fields) => Node::Map(fields.iter().map(|(k, v)| (k.clone(), yaml_node(v))).collect()),
    }
}

/// A number in YAML: an exponent without a fraction is written in lower case (`1e+30`), as a YAML
/// float; with a fraction it stays as the official tool prints it (`1.0E+30`).
fn yaml_number(n: &str) -> String {
    if n.contains('E') && !n.contains('.') { n.to_ascii_lowercase() } else { n.to_string() }
}
