//! The value model: atoms, types, bounds, disjunctions and references to evaluated nodes.

use std::fmt;
use std::rc::Rc;

use crate::error::{CueError, ErrorKind};
use crate::num::Num;

/// The index of a node (vertex) in the evaluator's arena.
pub type VId = usize;

/// A set of basic kinds, as a bit set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kinds(pub u8);

impl Kinds {
    /// `null`.
    pub const NULL: Kinds = Kinds(1);
    /// `bool`.
    pub const BOOL: Kinds = Kinds(2);
    /// `int`.
    pub const INT: Kinds = Kinds(4);
    /// `float`.
    pub const FLOAT: Kinds = Kinds(8);
    /// `string`.
    pub const STRING: Kinds = Kinds(16);
    /// `bytes`.
    pub const BYTES: Kinds = Kinds(32);
    /// structs.
    pub const STRUCT: Kinds = Kinds(64);
    /// lists.
    pub const LIST: Kinds = Kinds(128);
    /// `number`.
    pub const NUMBER: Kinds = Kinds(4 | 8);

    /// Returns the intersection.
    pub fn and(self, other: Kinds) -> Kinds {
        Kinds(self.0 & other.0)
    }

    /// Returns true if every kind of `other` is in `self`.
    pub fn contains(self, other: Kinds) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Returns the name used in messages (`int`, `number`, `int | string`).
    pub fn name(self) -> String {
        if self == Kinds::NUMBER {
            return "number".into();
        }
        let names = ["null", "bool", "int", "float", "string", "bytes", "struct", "list"];
        let parts: Vec<&str> = (0..8).filter(|i| self.0 & (1 << i) != 0).map(|i| names[i]).collect();
        parts.join(" | ")
    }
}

/// A bound operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `!=`
    Ne,
    /// `=~`
    Match,
    /// `!~`
    NotMatch,
}

impl BoundOp {
    /// Returns the operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BoundOp::Lt => "<",
            BoundOp::Le => "<=",
            BoundOp::Gt => ">",
            BoundOp::Ge => ">=",
            BoundOp::Ne => "!=",
            BoundOp::Match => "=~",
            BoundOp::NotMatch => "!~",
        }
    }
}

/// A disjunction: its branches and which are defaults.
#[derive(Clone, Debug)]
pub struct Disj {
    /// The branches with their default marks.
    pub branches: Vec<(Value, bool)>,
    /// True if some branch is marked as a default.
    pub has_default: bool,
}

/// An evaluated value.
#[derive(Clone, Debug)]
pub enum Value {
    /// `_`.
    Top,
    /// An error.
    Bottom(Rc<CueError>),
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Num(Num),
    /// A string.
    Str(Rc<str>),
    /// Bytes.
    Bytes(Rc<[u8]>),
    /// A basic type such as `int` or `string`.
    Kind(Kinds),
    /// A bound `op value`, e.g. `>=0` or `=~"^a"`.
    Bound(BoundOp, Rc<Value>),
    /// A conjunction of non-concrete constraints, e.g. `int & >0`.
    Conj(Rc<[Value]>),
    /// A disjunction.
    Disj(Rc<Disj>),
    /// A struct node.
    Struct(VId),
    /// A list node.
    List(VId),
    /// A builtin function.
    Func(&'static str),
    /// A validator: a builtin returning a bool, called without its first argument
    /// (`strings.MaxRunes(63)`), used as a constraint.
    Validator(Rc<Validator>),
}

/// A validator call with its first argument left out.
#[derive(Clone, Debug)]
pub struct Validator {
    /// The builtin's qualified name, e.g. `strings.MaxRunes`.
    pub name: &'static str,
    /// The arguments after the validated value.
    pub args: Vec<Value>,
    /// The kinds the validated value may have.
    pub kinds: Kinds,
}

impl Value {
    /// Creates an error value.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Value {
        Value::Bottom(Rc::new(CueError::new(kind, message)))
    }

    /// Creates a string value.
    pub fn string(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }

    /// Creates an integer value.
    pub fn int(i: i64) -> Value {
        Value::Num(Num::Int(i.into()))
    }

    /// Returns true for atoms (null, bool, numbers, strings, bytes).
    pub fn is_atom(&self) -> bool {
        matches!(self, Value::Null | Value::Bool(_) | Value::Num(_) | Value::Str(_) | Value::Bytes(_))
    }

    /// Returns true for error values.
    pub fn is_bottom(&self) -> bool {
        matches!(self, Value::Bottom(_))
    }

    /// Returns the kind of an atom or node value, if it has exactly one.
    pub fn kind(&self) -> Option<Kinds> {
        Some(match self {
            Value::Null => Kinds::NULL,
            Value::Bool(_) => Kinds::BOOL,
            Value::Num(Num::Int(_) | Num::NegZeroInt) => Kinds::INT,
            Value::Num(Num::Float(_)) => Kinds::FLOAT,
            Value::Str(_) => Kinds::STRING,
            Value::Bytes(_) => Kinds::BYTES,
            Value::Struct(_) => Kinds::STRUCT,
            Value::List(_) => Kinds::LIST,
            _ => return None,
        })
    }

    /// Returns the possible kinds of a value (all for `_`).
    pub fn kinds(&self) -> Kinds {
        match self {
            Value::Kind(k) => *k,
            Value::Bound(op, v) => match (op, &**v) {
                (BoundOp::Match | BoundOp::NotMatch, _) => Kinds::STRING,
                (_, Value::Num(_)) => Kinds::NUMBER,
                (_, Value::Str(_)) => Kinds::STRING,
                (_, Value::Bytes(_)) => Kinds::BYTES,
                _ => Kinds(255),
            },
            Value::Conj(parts) => parts.iter().fold(Kinds(255), |k, p| k.and(p.kinds())),
            Value::Disj(d) => Kinds(d.branches.iter().fold(0, |k, (b, _)| k | b.kinds().0)),
            Value::Validator(v) => v.kinds,
            Value::Func(name) => crate::builtins::validator_kinds(name),
            Value::Top | Value::Bottom(_) => Kinds(255),
            other => other.kind().unwrap_or(Kinds(255)),
        }
    }
}

/// Quotes a string the way CUE prints string literals.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Top => f.write_str("_"),
            Value::Bottom(e) => write!(f, "_|_ // {}", e.message),
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Num(n) => write!(f, "{n}"),
            Value::Str(s) => f.write_str(&quote(s)),
            Value::Bytes(b) => write!(f, "'{}'", String::from_utf8_lossy(b)),
            Value::Kind(k) => f.write_str(&k.name()),
            Value::Bound(op, v) => write!(f, "{}{}", op.as_str(), v),
            Value::Conj(parts) => write_joined(f, parts.iter(), " & "),
            Value::Disj(d) => {
                let parts = d
                    .branches
                    .iter()
                    .map(|(v, def)| if *def && d.has_default { format!("*{v}") } else { v.to_string() });
                f.write_str(&parts.collect::<Vec<_>>().join(" | "))
            }
            Value::Struct(_) => f.write_str("{...}"),
            Value::List(_) => f.write_str("[...]"),
            Value::Func(name) => write!(f, "{name}"),
            Value::Validator(v) => {
                f.write_str(v.name)?;
                if !v.args.is_empty() {
                    f.write_str("(")?;
                    write_joined(f, v.args.iter(), ", ")?;
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

fn write_joined<'v>(f: &mut fmt::Formatter<'_>, parts: impl Iterator<Item = &'v Value>, sep: &str) -> fmt::Result {
    let texts: Vec<String> = parts.map(ToString::to_string).collect();
    f.write_str(&texts.join(sep))
}
