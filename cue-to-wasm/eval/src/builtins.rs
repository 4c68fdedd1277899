//! Predeclared identifiers and builtin functions: basic types, sized integer types, the core functions
//! (`len close and or div mod quo rem matchN matchIf error`) and the standard library packages, all
//! registered in tables ([`Func`]); calls, partial application as validators, and argument helpers.

use std::rc::Rc;

use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{Signed, Zero};

use crate::error::{CueError, ErrorKind};
use crate::eval::Evaluator;
use crate::num::Num;
use crate::ops;
use crate::value::{BoundOp, Kinds, VId, Validator, Value};
use crate::vertex::{ArcKind, Conj, Src};

/// Why a builtin call failed.
pub(crate) enum Fail {
    /// A permanent error, reported as `error in call to NAME: message`.
    Msg(String),
    /// An argument is not concrete yet.
    Incomplete(usize),
    /// An error value to pass through unchanged.
    Value(Value),
    /// An argument of the wrong type: (argument index, value, wanted type).
    Type(usize, Value, &'static str),
}

impl From<String> for Fail {
    fn from(message: String) -> Fail {
        Fail::Msg(message)
    }
}

impl From<&str> for Fail {
    fn from(message: &str) -> Fail {
        Fail::Msg(message.to_string())
    }
}

/// The result of a builtin.
pub(crate) type Res = Result<Value, Fail>;

/// A builtin function: the evaluator, the arguments and the node being evaluated.
pub(crate) type Builtin = fn(&mut Evaluator<'_>, &[Value], VId) -> Res;

/// One builtin function of a table.
pub(crate) struct Func {
    /// The name inside its package (`ToUpper`), or the predeclared name (`len`).
    pub name: &'static str,
    /// The number of parameters.
    pub params: usize,
    /// How many trailing parameters may be left out.
    pub optional: usize,
    /// For functions returning a bool: the kinds of the first argument (they can be validators).
    pub validator: Option<Kinds>,
    /// The implementation.
    pub call: Builtin,
}

/// A function entry.
pub(crate) const fn f(name: &'static str, params: usize, call: Builtin) -> Func {
    Func { name, params, optional: 0, validator: None, call }
}

/// A function entry whose last `optional` parameters may be left out.
pub(crate) const fn fo(name: &'static str, params: usize, optional: usize, call: Builtin) -> Func {
    Func { name, params, optional, validator: None, call }
}

/// A validator entry: a function returning a bool, whose first argument has one of `kinds`.
pub(crate) const fn v(name: &'static str, params: usize, kinds: Kinds, call: Builtin) -> Func {
    Func { name, params, optional: 0, validator: Some(kinds), call }
}

/// All kinds.
pub(crate) const ANY: Kinds = Kinds(255);

/// The predeclared builtin functions.
const FUNCTIONS: &[Func] = &[
    f("len", 1, len),
    f("close", 1, close),
    f("and", 1, and),
    f("or", 1, or),
    f("div", 2, |_, a, _| int_op(a, "div", euclid_div)),
    f("mod", 2, |_, a, _| int_op(a, "mod", euclid_mod)),
    f("quo", 2, |_, a, _| int_op(a, "quo", |x, y| x / y)),
    f("rem", 2, |_, a, _| int_op(a, "rem", |x, y| x % y)),
    v("matchN", 3, ANY, crate::stdlib::matchn),
    v("matchIf", 4, ANY, crate::stdlib::matchif),
    f("error", 1, user_error),
    f("__closeAll", 1, close_all),
];

/// The basic types by name.
const TYPES: &[(&str, Kinds)] = &[
    ("int", Kinds::INT),
    ("float", Kinds::FLOAT),
    ("number", Kinds::NUMBER),
    ("string", Kinds::STRING),
    ("bytes", Kinds::BYTES),
    ("bool", Kinds::BOOL),
];

/// Returns the value of a predeclared identifier.
pub fn predeclared(name: &str) -> Option<Value> {
    if let Some((_, k)) = TYPES.iter().find(|(n, _)| *n == name) {
        return Some(Value::Kind(*k));
    }
    if let Some(func) = FUNCTIONS.iter().find(|f| f.name == name) {
        return Some(Value::Func(func.name));
    }
    if name == "uint" {
        return Some(bounded(Num::Int(0.into()), None));
    }
    // The IEEE 754 ranges, as numbers (not only floats), like the official tool's.
    let float_max = match name {
        "float32" => Some("3.40282346638528859811704183484516925440e+38"),
        "float64" => Some("1.797693134862315708145274237317043567981e+308"),
        _ => None,
    };
    if let Some(max) = float_max.and_then(|m| Num::parse(m, false)) {
        let parts = vec![
            Value::Kind(Kinds::NUMBER),
            Value::Bound(BoundOp::Ge, Rc::new(Value::Num(max.neg()))),
            Value::Bound(BoundOp::Le, Rc::new(Value::Num(max))),
        ];
        return Some(Value::Conj(Rc::from(parts)));
    }
    let (lo, hi) = ops::int_range(name)?;
    Some(bounded(lo, Some(hi)))
}

fn bounded(lo: Num, hi: Option<Num>) -> Value {
    let mut parts = vec![Value::Kind(Kinds::INT), Value::Bound(BoundOp::Ge, Rc::new(Value::Num(lo)))];
    if let Some(hi) = hi {
        parts.push(Value::Bound(BoundOp::Le, Rc::new(Value::Num(hi))));
    }
    Value::Conj(Rc::from(parts))
}

/// Finds a builtin by its qualified name (`len`, `strings.ToUpper`, `encoding/json.Marshal`).
pub(crate) fn lookup(name: &str) -> Option<&'static Func> {
    match name.rsplit_once('.') {
        None => FUNCTIONS.iter().find(|f| f.name == name),
        Some((pkg, _)) => crate::stdlib::package(pkg)?.funcs.iter().find(|f| f.name == name),
    }
}

/// Returns the kinds a builtin used as a validator accepts (all kinds for other functions).
pub(crate) fn validator_kinds(name: &str) -> Kinds {
    lookup(name).and_then(|f| f.validator).unwrap_or(ANY)
}

/// Calls a builtin function; a validator called without its first argument becomes a constraint.
pub fn call(ev: &mut Evaluator<'_>, name: &'static str, args: Vec<Value>, ctx: VId) -> Value {
    let Some(func) = lookup(name) else {
        return Value::error(ErrorKind::NotFound, format!("reference \"{name}\" not found"));
    };
    if args.len() + 1 == func.params
        && let Some(kinds) = func.validator
    {
        if let Some(err) = args.iter().find(|a| a.is_bottom()) {
            return err.clone();
        }
        return Value::Validator(Rc::new(Validator { name, args, kinds }));
    }
    if args.len() > func.params || args.len() + func.optional < func.params {
        let which = if args.len() < func.params { "not enough" } else { "too many" };
        let message = format!("{which} arguments in call to {name} (have {}, want {})", args.len(), func.params);
        return Value::error(ErrorKind::Eval, message);
    }
    if name != "error"
        && let Some(err) = args.iter().find(|a| a.is_bottom())
    {
        return err.clone();
    }
    let result = (func.call)(ev, &args, ctx);
    finish(name, result)
}

fn finish(name: &str, result: Res) -> Value {
    match result {
        Ok(v) => v,
        Err(Fail::Value(v)) => v,
        Err(Fail::Msg(m)) => Value::error(ErrorKind::Eval, format!("error in call to {name}: {m}")),
        Err(Fail::Incomplete(i)) => {
            Value::error(ErrorKind::Incomplete, format!("error in call to {name}: non-concrete argument {i}"))
        }
        Err(Fail::Type(i, v, want)) => {
            let message =
                format!("cannot use {v} (type {}) as {want} in argument {} to {name}", v.kinds().name(), i + 1);
            Value::error(ErrorKind::Eval, message)
        }
    }
}

/// Checks a concrete value against a validator (`Value::Validator` or a bare `Value::Func`).
pub(crate) fn validate(ev: &mut Evaluator<'_>, validator: &Value, x: &Value, ctx: VId) -> Value {
    let (name, args): (&'static str, Vec<Value>) = match validator {
        Value::Validator(v) => (v.name, v.args.clone()),
        Value::Func(name) => (name, Vec::new()),
        _ => return x.clone(),
    };
    let Some(func) = lookup(name) else { return x.clone() };
    if func.validator.is_none() || func.params != args.len() + 1 {
        let message = format!("conflicting values {validator} and {x}");
        return Value::error(ErrorKind::Conflict, message);
    }
    let key = validator.to_string();
    if ev.validating.contains(&key) || ev.validating.len() > 16 {
        return x.clone();
    }
    let mut all = vec![x.clone()];
    all.extend(args);
    ev.validating.push(key);
    let result = (func.call)(ev, &all, ctx);
    ev.validating.pop();
    let shown = match validator {
        Value::Validator(v) if !v.args.is_empty() && !matches!(name, "matchN" | "matchIf") => validator.to_string(),
        _ => name.to_string(),
    };
    let failed = |detail: Option<String>| {
        let suffix = detail.map(|d| format!(": {d}")).unwrap_or_default();
        Value::error(ErrorKind::OutOfBound, format!("invalid value {} (does not satisfy {shown}){suffix}", show(x)))
    };
    match result {
        Ok(Value::Bool(true)) => x.clone(),
        Ok(Value::Bool(false)) => failed(None),
        Ok(other) if other.is_bottom() => other,
        Ok(_) => x.clone(),
        Err(Fail::Msg(m)) => failed(Some(m)),
        Err(Fail::Incomplete(_)) => {
            Value::error(ErrorKind::Incomplete, format!("incomplete value {validator} & {}", show(x)))
        }
        Err(Fail::Value(v)) => match &v {
            Value::Bottom(e) if e.kind.is_incomplete() => v,
            Value::Bottom(e) => failed(Some(e.message.clone())),
            _ => v,
        },
        Err(Fail::Type(_, value, want)) => {
            failed(Some(format!("cannot use {value} (type {}) as {want}", value.kinds().name())))
        }
    }
}

fn show(x: &Value) -> String {
    match x {
        Value::Struct(_) | Value::List(_) => x.to_string(),
        other => other.to_string(),
    }
}

/// Returns the values of a list node's elements, or the list's own error (see [`Evaluator::finished`]).
pub fn list_values(ev: &mut Evaluator<'_>, t: VId) -> Result<Vec<Value>, Value> {
    ev.finished(t)?;
    let vids: Vec<VId> = ev.vertices[t].arcs.values().map(|a| a.vid).collect();
    Ok(vids.into_iter().map(|v| ev.vertex_value(v)).collect())
}

// ---- argument helpers ------------------------------------------------------------------------

/// Returns the concrete value (default applied) of argument `i`.
pub(crate) fn concrete(v: &Value, i: usize) -> Result<Value, Fail> {
    match ops::default_of(v) {
        b @ Value::Bottom(_) => Err(Fail::Value(b)),
        x if x.is_atom() || matches!(x, Value::Struct(_) | Value::List(_)) => Ok(x),
        _ => Err(Fail::Incomplete(i)),
    }
}

/// Argument `i` as a string.
pub(crate) fn str_arg(v: &Value, i: usize) -> Result<Rc<str>, Fail> {
    match concrete(v, i)? {
        Value::Str(s) => Ok(s),
        other => Err(Fail::Type(i, other, "string")),
    }
}

/// Argument `i` as bytes (strings are accepted).
pub(crate) fn bytes_arg(v: &Value, i: usize) -> Result<Vec<u8>, Fail> {
    match concrete(v, i)? {
        Value::Str(s) => Ok(s.as_bytes().to_vec()),
        Value::Bytes(b) => Ok(b.to_vec()),
        other => Err(Fail::Type(i, other, "bytes")),
    }
}

/// Argument `i` as a number.
pub(crate) fn num_arg(v: &Value, i: usize) -> Result<Num, Fail> {
    match concrete(v, i)? {
        Value::Num(n) => Ok(n),
        other => Err(Fail::Type(i, other, "number")),
    }
}

/// Argument `i` as an integer.
pub(crate) fn int_arg(v: &Value, i: usize) -> Result<BigInt, Fail> {
    match concrete(v, i)? {
        Value::Num(n) if n.is_int() => Ok(n.as_int().cloned().unwrap_or_default()),
        other => Err(Fail::Type(i, other, "int")),
    }
}

/// Argument `i` as an `i64`.
pub(crate) fn i64_arg(v: &Value, i: usize) -> Result<i64, Fail> {
    let n = int_arg(v, i)?;
    num_traits::ToPrimitive::to_i64(&n).ok_or_else(|| Fail::Msg(format!("argument {i} out of range: {n}")))
}

/// Argument `i` as a bool.
pub(crate) fn bool_arg(v: &Value, i: usize) -> Result<bool, Fail> {
    match concrete(v, i)? {
        Value::Bool(b) => Ok(b),
        other => Err(Fail::Type(i, other, "bool")),
    }
}

/// Argument `i` as the element values of a list.
pub(crate) fn list_arg(ev: &mut Evaluator<'_>, v: &Value, i: usize) -> Result<Vec<Value>, Fail> {
    match concrete(v, i)? {
        Value::List(t) => list_values(ev, t).map_err(Fail::Value),
        other => Err(Fail::Type(i, other, "list")),
    }
}

/// Argument `i` as a list of concrete elements, each converted by `conv`.
pub(crate) fn list_of<T>(
    ev: &mut Evaluator<'_>,
    v: &Value,
    i: usize,
    want: &str,
    conv: impl Fn(&Value) -> Option<T>,
) -> Result<Vec<T>, Fail> {
    let items = list_arg(ev, v, i)?;
    let mut out = Vec::new();
    for (j, item) in items.iter().enumerate() {
        let item = ops::default_of(item);
        if let Value::Bottom(_) = item {
            return Err(Fail::Value(item));
        }
        match conv(&item) {
            Some(x) => out.push(x),
            None => {
                let message = format!(
                    "invalid list element {j} in argument {i} to call: cannot use value {item} ({}) as {want}",
                    item.kinds().name()
                );
                return Err(Fail::Msg(message));
            }
        }
    }
    Ok(out)
}

/// Argument `i` as a list of strings.
pub(crate) fn str_list(ev: &mut Evaluator<'_>, v: &Value, i: usize) -> Result<Vec<Rc<str>>, Fail> {
    list_of(ev, v, i, "string", |x| match x {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    })
}

/// A string result.
pub(crate) fn s(text: impl AsRef<str>) -> Res {
    Ok(Value::Str(Rc::from(text.as_ref())))
}

/// An integer result.
pub(crate) fn int(n: impl Into<BigInt>) -> Res {
    Ok(Value::Num(Num::Int(n.into())))
}

// ---- the predeclared functions ---------------------------------------------------------------

fn len(ev: &mut Evaluator<'_>, args: &[Value], _: VId) -> Res {
    Ok(match ops::default_of(&args[0]) {
        Value::Str(s) => Value::int(s.len() as i64),
        Value::Bytes(b) => Value::int(b.len() as i64),
        // A list or struct whose own value is an error (a comprehension over an error) has that error, not a
        // length.
        Value::List(t) => match ev.finished(t) {
            Ok(()) => Value::int(ev.vertices[t].arcs.len() as i64),
            Err(error) => error,
        },
        Value::Struct(t) => match ev.finished(t) {
            Ok(()) => {
                let arcs = &ev.vertices[t].arcs;
                Value::int(arcs.iter().filter(|(l, a)| l.is_regular() && a.kind == ArcKind::Regular).count() as i64)
            }
            Err(error) => error,
        },
        v if v.is_atom() => Value::error(ErrorKind::Eval, format!("invalid argument {v} to len")),
        v => Value::error(ErrorKind::Incomplete, format!("len: incomplete value {v}")),
    })
}

fn close(ev: &mut Evaluator<'_>, args: &[Value], ctx: VId) -> Res {
    Ok(match &args[0] {
        Value::Struct(_) | Value::Disj(_) => {
            let conj = Conj {
                src: Src::Value(args[0].clone()),
                env: None,
                groups: Rc::from([]),
                embed: None,
                via: None,
                explicit: false,
            };
            let t = ev.temp_vertex(ctx, conj);
            ev.vertices[t].closing = true;
            Value::Struct(t)
        }
        other => other.clone(),
    })
}

/// `__closeAll(x)`: closes a struct or list literal recursively (closing is recursive here anyway).
fn close_all(ev: &mut Evaluator<'_>, args: &[Value], ctx: VId) -> Res {
    match ops::default_of(&args[0]) {
        Value::Struct(_) => close(ev, args, ctx),
        Value::List(_) => Ok(args[0].clone()),
        _ => Err(Fail::Msg("argument must be a struct or list literal".into())),
    }
}

fn core_list(ev: &mut Evaluator<'_>, v: &Value, name: &str) -> Result<Vec<Value>, Value> {
    match ops::default_of(v) {
        Value::List(t) => list_values(ev, t),
        other if other.is_atom() || matches!(other, Value::Struct(_)) => {
            Err(Value::error(ErrorKind::Eval, format!("{name}: cannot use {other} as list")))
        }
        other => Err(Value::error(ErrorKind::Incomplete, format!("{name}: incomplete value {other}"))),
    }
}

fn and(ev: &mut Evaluator<'_>, args: &[Value], ctx: VId) -> Res {
    Ok(match core_list(ev, &args[0], "and") {
        Ok(values) => values.into_iter().fold(Value::Top, |acc, v| ev.unify_values(acc, v, ctx)),
        Err(e) => e,
    })
}

fn or(ev: &mut Evaluator<'_>, args: &[Value], _: VId) -> Res {
    Ok(match core_list(ev, &args[0], "or") {
        Ok(values) if values.is_empty() => Value::error(ErrorKind::Eval, "empty list in call to or"),
        Ok(values) => crate::expr::disjunction(values),
        Err(e) => e,
    })
}

fn user_error(_: &mut Evaluator<'_>, args: &[Value], _: VId) -> Res {
    let message = match ops::default_of(&args[0]) {
        Value::Str(s) => s.to_string(),
        Value::Bottom(e) => return Ok(Value::Bottom(e)),
        other if other.is_atom() => other.to_string(),
        _ => return Err(Fail::Incomplete(0)),
    };
    Ok(Value::Bottom(Rc::new(CueError::new(ErrorKind::User, message))))
}

fn int_op(args: &[Value], name: &str, f: fn(&BigInt, &BigInt) -> BigInt) -> Res {
    let a = ops::default_of(&args[0]);
    let b = ops::default_of(&args[1]);
    Ok(match (&a, &b) {
        (Value::Num(x), Value::Num(y)) if x.is_int() && y.is_int() => {
            let (x, y) = (x.as_int().cloned().unwrap_or_default(), y.as_int().cloned().unwrap_or_default());
            if y.is_zero() {
                return Err(Fail::Msg("division by zero".into()));
            }
            Value::Num(Num::Int(f(&x, &y)))
        }
        _ if a.is_atom() && b.is_atom() => {
            let (i, bad) = if matches!(&a, Value::Num(n) if n.is_int()) { (1, &b) } else { (0, &a) };
            return Err(Fail::Type(i, bad.clone(), "int"));
        }
        _ => Value::error(ErrorKind::Incomplete, format!("{name}: incomplete arguments")),
    })
}

fn euclid_mod(x: &BigInt, y: &BigInt) -> BigInt {
    let m = x.mod_floor(&y.abs());
    if m.is_negative() { m + y.abs() } else { m }
}

fn euclid_div(x: &BigInt, y: &BigInt) -> BigInt {
    (x - euclid_mod(x, y)) / y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euclidean_division() {
        let (a, b) = (BigInt::from(-5), BigInt::from(3));
        assert_eq!(euclid_div(&a, &b), BigInt::from(-2));
        assert_eq!(euclid_mod(&a, &b), BigInt::from(1));
        assert_eq!(euclid_div(&a, &-b.clone()), BigInt::from(2));
    }

    #[test]
    fn sized_types_are_bounds() {
        assert_eq!(predeclared("uint8").expect("known").to_string(), "int & >=0 & <=255");
    }
}
