//! Predeclared identifiers: basic types, sized integer types and builtin functions, in tables.

use std::rc::Rc;

use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{Signed, Zero};

use crate::error::ErrorKind;
use crate::eval::Evaluator;
use crate::num::Num;
use crate::ops;
use crate::value::{BoundOp, Kinds, VId, Value};
use crate::vertex::{ArcKind, Conj, Src};

/// A builtin function: the evaluator, the arguments and the node being evaluated.
type Builtin = fn(&mut Evaluator<'_>, Vec<Value>, VId) -> Value;

/// The builtin functions by name, with their arity.
const FUNCTIONS: &[(&str, usize, Builtin)] = &[
    ("len", 1, len),
    ("close", 1, close),
    ("and", 1, and),
    ("or", 1, or),
    ("div", 2, |_, a, _| int_op(&a, "div", euclid_div)),
    ("mod", 2, |_, a, _| int_op(&a, "mod", euclid_mod)),
    ("quo", 2, |_, a, _| int_op(&a, "quo", |x, y| x / y)),
    ("rem", 2, |_, a, _| int_op(&a, "rem", |x, y| x % y)),
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
    if let Some((name, _, _)) = FUNCTIONS.iter().find(|(n, _, _)| *n == name) {
        return Some(Value::Func(name));
    }
    if name == "uint" {
        return Some(bounded(Num::Int(0.into()), None));
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

/// Calls a builtin function.
pub fn call(ev: &mut Evaluator<'_>, name: &str, args: Vec<Value>, ctx: VId) -> Value {
    let Some((_, arity, f)) = FUNCTIONS.iter().find(|(n, _, _)| *n == name) else {
        return Value::error(ErrorKind::NotFound, format!("reference \"{name}\" not found"));
    };
    if args.len() != *arity {
        let message = format!("{name}: expected {arity} argument(s), got {}", args.len());
        return Value::error(ErrorKind::Eval, message);
    }
    if let Some(err) = args.iter().find(|a| a.is_bottom()) {
        return err.clone();
    }
    f(ev, args, ctx)
}

/// Returns the values of a list node's elements.
pub fn list_values(ev: &mut Evaluator<'_>, t: VId) -> Vec<Value> {
    ev.vertex_value(t);
    let vids: Vec<VId> = ev.vertices[t].arcs.values().map(|a| a.vid).collect();
    vids.into_iter().map(|v| ev.vertex_value(v)).collect()
}

fn len(ev: &mut Evaluator<'_>, args: Vec<Value>, _: VId) -> Value {
    match ops::default_of(&args[0]) {
        Value::Str(s) => Value::int(s.len() as i64),
        Value::Bytes(b) => Value::int(b.len() as i64),
        Value::List(t) => {
            ev.vertex_value(t);
            Value::int(ev.vertices[t].arcs.len() as i64)
        }
        Value::Struct(t) => {
            ev.vertex_value(t);
            let arcs = &ev.vertices[t].arcs;
            Value::int(arcs.iter().filter(|(l, a)| l.is_regular() && a.kind == ArcKind::Regular).count() as i64)
        }
        v if v.is_atom() => Value::error(ErrorKind::Eval, format!("invalid argument {v} to len")),
        v => Value::error(ErrorKind::Incomplete, format!("len: incomplete value {v}")),
    }
}

fn close(ev: &mut Evaluator<'_>, args: Vec<Value>, ctx: VId) -> Value {
    match &args[0] {
        Value::Struct(_) | Value::Disj(_) => {
            let conj = Conj { src: Src::Value(args[0].clone()), env: None, groups: Rc::from([]), embed: None };
            let t = ev.temp_vertex(ctx, conj);
            ev.vertices[t].closing = true;
            Value::Struct(t)
        }
        other => other.clone(),
    }
}

fn list_arg(ev: &mut Evaluator<'_>, v: &Value, name: &str) -> Result<Vec<Value>, Value> {
    match ops::default_of(v) {
        Value::List(t) => Ok(list_values(ev, t)),
        other if other.is_atom() || matches!(other, Value::Struct(_)) => {
            Err(Value::error(ErrorKind::Eval, format!("{name}: cannot use {other} as list")))
        }
        other => Err(Value::error(ErrorKind::Incomplete, format!("{name}: incomplete value {other}"))),
    }
}

fn and(ev: &mut Evaluator<'_>, args: Vec<Value>, ctx: VId) -> Value {
    match list_arg(ev, &args[0], "and") {
        Ok(values) => values.into_iter().fold(Value::Top, |acc, v| ev.unify_values(acc, v, ctx)),
        Err(e) => e,
    }
}

fn or(ev: &mut Evaluator<'_>, args: Vec<Value>, _: VId) -> Value {
    match list_arg(ev, &args[0], "or") {
        Ok(values) if values.is_empty() => Value::error(ErrorKind::Eval, "empty list in call to or"),
        Ok(values) => crate::expr::disjunction(values),
        Err(e) => e,
    }
}

fn int_op(args: &[Value], name: &str, f: fn(&BigInt, &BigInt) -> BigInt) -> Value {
    let a = ops::default_of(&args[0]);
    let b = ops::default_of(&args[1]);
    match (&a, &b) {
        (Value::Num(Num::Int(x)), Value::Num(Num::Int(y))) => {
            if y.is_zero() {
                return Value::error(ErrorKind::Eval, format!("error in call to {name}: division by zero"));
            }
            Value::Num(Num::Int(f(x, y)))
        }
        _ if a.is_atom() && b.is_atom() => Value::error(ErrorKind::Eval, format!("{name}: arguments must be integers")),
        _ => Value::error(ErrorKind::Incomplete, format!("{name}: incomplete arguments")),
    }
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
