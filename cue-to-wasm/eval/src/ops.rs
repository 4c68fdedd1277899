//! Operations on values that do not involve nodes: unification of atoms, types and bounds,
//! disjunction distribution, arithmetic and comparison.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::rc::Rc;

use cue_syntax::ast::BinaryOp;
use regex::Regex;

use crate::error::ErrorKind;
use crate::num::Num;
use crate::value::{BoundOp, Disj, Kinds, Value};

thread_local! {
    static REGEXES: RefCell<HashMap<String, Result<Regex, String>>> = RefCell::new(HashMap::new());
}

/// Compiles a regular expression (RE2 syntax), caching the result.
pub fn regex(pattern: &str) -> Result<Regex, String> {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.entry(pattern.to_string()).or_insert_with(|| Regex::new(pattern).map_err(|e| e.to_string())).clone()
    })
}

/// Returns true if two atoms are equal (same kind and value).
pub fn atoms_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Num(x), Value::Num(y)) => x.is_int() == y.is_int() && x.cmp_value(y) == Ordering::Equal,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        _ => false,
    }
}

/// Returns true if two non-node values are the same (used to collapse duplicate disjuncts).
pub fn same_value(a: &Value, b: &Value) -> bool {
    if a.is_atom() || b.is_atom() {
        return atoms_equal(a, b);
    }
    match (a, b) {
        (Value::Struct(x), Value::Struct(y)) | (Value::List(x), Value::List(y)) => x == y,
        (Value::Top, Value::Top) => true,
        (Value::Kind(_) | Value::Bound(..) | Value::Conj(_) | Value::Validator(_) | Value::Func(_), _) => {
            a.to_string() == b.to_string()
        }
        _ => false,
    }
}

fn conflict(a: &Value, b: &Value) -> Value {
    let (ka, kb) = (a.kinds(), b.kinds());
    if ka.and(kb).0 == 0 {
        let message = format!("conflicting values {a} and {b} (mismatched types {} and {})", ka.name(), kb.name());
        return Value::error(ErrorKind::Conflict, message);
    }
    Value::error(ErrorKind::Conflict, format!("conflicting values {a} and {b}"))
}

/// Checks an atom against a validator (a `Value::Validator` or `Value::Func`): returns the atom or an error.
pub type ValidatorHook<'h> = dyn FnMut(&Value, &Value) -> Value + 'h;

/// Unifies two values that are not nodes (nodes are merged by the evaluator); validators are
/// kept but not checked (the evaluator checks them with [`unify_with`]).
pub fn unify(a: &Value, b: &Value) -> Value {
    unify_with(a, b, &mut |_, atom| atom.clone())
}

/// Unifies two values that are not nodes, checking atoms against validators with `hook`.
pub fn unify_with(a: &Value, b: &Value, hook: &mut ValidatorHook<'_>) -> Value {
    match (a, b) {
        (Value::Bottom(_), _) => a.clone(),
        (_, Value::Bottom(_)) => b.clone(),
        (Value::Top, _) => b.clone(),
        (_, Value::Top) => a.clone(),
        (Value::Disj(x), Value::Disj(y)) => disj_product(x, y, hook),
        (Value::Disj(d), other) | (other, Value::Disj(d)) => disj_map(d, |v| unify_with(v, other, &mut *hook)),
        _ if a.is_atom() && b.is_atom() => {
            if atoms_equal(a, b) {
                a.clone()
            } else {
                conflict(a, b)
            }
        }
        _ if a.is_atom() => check(b, a, hook),
        _ if b.is_atom() => check(a, b, hook),
        _ => combine_constraints(a, b),
    }
}

/// Checks an atom against a non-concrete constraint.
fn check(constraint: &Value, atom: &Value, hook: &mut ValidatorHook<'_>) -> Value {
    match constraint {
        Value::Kind(k) => {
            let kind = atom.kind().unwrap_or(Kinds(0));
            if k.contains(kind) { atom.clone() } else { conflict(constraint, atom) }
        }
        Value::Bound(op, bound) => check_bound(*op, bound, atom),
        Value::Conj(parts) => {
            parts.iter().fold(atom.clone(), |acc, part| if acc.is_bottom() { acc } else { check(part, &acc, hook) })
        }
        Value::Func(_) | Value::Validator(_) => {
            let kinds = constraint.kinds();
            if !kinds.contains(atom.kind().unwrap_or(Kinds(0))) && kinds != Kinds(255) {
                return conflict(constraint, atom);
            }
            hook(constraint, atom)
        }
        _ => conflict(constraint, atom),
    }
}

fn check_bound(op: BoundOp, bound: &Value, atom: &Value) -> Value {
    let ok = match op {
        BoundOp::Match | BoundOp::NotMatch => match (bound, atom) {
            (Value::Str(pattern), Value::Str(s)) => match regex(pattern) {
                Ok(re) => re.is_match(s) == (op == BoundOp::Match),
                Err(e) => return Value::error(ErrorKind::Eval, format!("invalid regular expression: {e}")),
            },
            _ => return conflict(&Value::Bound(op, Rc::new(bound.clone())), atom),
        },
        BoundOp::Ne => !atoms_equal(atom, bound),
        _ => match compare_atoms(atom, bound) {
            Some(ord) => matches!(
                (op, ord),
                (BoundOp::Lt, Ordering::Less)
                    | (BoundOp::Le, Ordering::Less | Ordering::Equal)
                    | (BoundOp::Gt, Ordering::Greater)
                    | (BoundOp::Ge, Ordering::Greater | Ordering::Equal)
            ),
            None => return conflict(&Value::Bound(op, Rc::new(bound.clone())), atom),
        },
    };
    if ok {
        return atom.clone();
    }
    Value::error(ErrorKind::OutOfBound, format!("invalid value {atom} (out of bound {}{bound})", op.as_str()))
}

/// Orders two atoms of comparable kinds.
pub fn compare_atoms(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => Some(x.cmp_value(y)),
        (Value::Str(x), Value::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Bytes(x), Value::Bytes(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn parts(v: &Value) -> Vec<Value> {
    match v {
        Value::Conj(p) => p.to_vec(),
        other => vec![other.clone()],
    }
}

fn combine_constraints(a: &Value, b: &Value) -> Value {
    if a.kinds().and(b.kinds()).0 == 0 {
        return conflict(a, b);
    }
    if let (Value::Kind(x), Value::Kind(y)) = (a, b) {
        return Value::Kind(x.and(*y));
    }
    if matches!(a, Value::Struct(_) | Value::List(_)) || matches!(b, Value::Struct(_) | Value::List(_)) {
        return if matches!(a, Value::Kind(_)) { b.clone() } else { a.clone() };
    }
    let mut all = parts(a);
    for p in parts(b) {
        if !all.iter().any(|q| same_value(q, &p)) {
            all.push(p);
        }
    }
    if all.len() == 1 {
        return all.remove(0);
    }
    Value::Conj(Rc::from(all))
}

/// Applies `f` to every branch of a disjunction, dropping failed branches.
pub fn disj_map(d: &Disj, mut f: impl FnMut(&Value) -> Value) -> Value {
    let branches = d.branches.iter().map(|(v, def)| (f(v), *def)).collect();
    normalize(branches, d.has_default)
}

fn disj_product(x: &Disj, y: &Disj, hook: &mut ValidatorHook<'_>) -> Value {
    let mut branches = Vec::new();
    for (a, da) in &x.branches {
        for (b, db) in &y.branches {
            let default = (*da || !x.has_default) && (*db || !y.has_default);
            branches.push((unify_with(a, b, &mut *hook), default));
        }
    }
    normalize(branches, x.has_default || y.has_default)
}

/// Drops failed and duplicate branches; a single survivor stands for itself.
pub fn normalize(branches: Vec<(Value, bool)>, has_default: bool) -> Value {
    let mut kept: Vec<(Value, bool)> = Vec::new();
    let mut first_error = None;
    let mut user_errors: Vec<Rc<crate::error::CueError>> = Vec::new();
    for (value, default) in branches {
        if let Value::Bottom(e) = &value {
            if e.kind == ErrorKind::User {
                user_errors.push(e.clone());
            }
            first_error.get_or_insert(value);
            continue;
        }
        if let Some(existing) = kept.iter_mut().find(|(v, _)| same_value(v, &value)) {
            existing.1 |= default;
            continue;
        }
        kept.push((value, default));
    }
    match kept.len() {
        // A custom error (`error("…")`) explains an empty disjunction better than the other failures.
        0 if user_errors.len() == 1 => Value::Bottom(user_errors.remove(0)),
        0 if user_errors.len() > 1 => {
            let lines: Vec<&str> = user_errors.iter().map(|e| e.message.as_str()).collect();
            let message = format!("{} errors in empty disjunction: {}", lines.len(), lines.join("; "));
            Value::error(ErrorKind::User, message)
        }
        0 => first_error.unwrap_or_else(|| Value::error(ErrorKind::Conflict, "empty disjunction")),
        1 => kept.remove(0).0,
        _ => {
            let has_default = has_default && kept.iter().any(|(_, d)| *d);
            Value::Disj(Rc::new(Disj { branches: kept, has_default }))
        }
    }
}

/// Returns the default of a disjunction (or the value itself).
pub fn default_of(v: &Value) -> Value {
    let Value::Disj(d) = v else { return v.clone() };
    let defaults: Vec<&Value> = d.branches.iter().filter(|(_, def)| *def && d.has_default).map(|(v, _)| v).collect();
    if defaults.len() == 1 {
        return defaults[0].clone();
    }
    v.clone()
}

fn incomplete_operand(op: BinaryOp, v: &Value) -> Value {
    let message = format!("invalid operand {v} ('{}' requires concrete value)", op.as_str());
    Value::error(ErrorKind::Incomplete, message)
}

/// Applies a binary operator to two operands whose defaults have been taken.
pub fn binary(op: BinaryOp, a: &Value, b: &Value) -> Value {
    for v in [a, b] {
        if v.is_bottom() {
            return v.clone();
        }
    }
    if matches!(op, BinaryOp::Eq | BinaryOp::NotEq) {
        return equality(op, a, b);
    }
    for v in [a, b] {
        if !v.is_atom() && !matches!(v, Value::Struct(_) | Value::List(_)) {
            return incomplete_operand(op, v);
        }
    }
    match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div => arithmetic(op, a, b),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => ordering(op, a, b),
        BinaryOp::Match | BinaryOp::NotMatch => matching(op, a, b),
        BinaryOp::And | BinaryOp::Or => logic(op, a, b),
        _ => Value::error(ErrorKind::Eval, format!("unsupported operator {}", op.as_str())),
    }
}

fn mismatch(op: BinaryOp, a: &Value, b: &Value) -> Value {
    let message = format!(
        "invalid operands {a} and {b} to '{}' (type {} and {})",
        op.as_str(),
        a.kinds().name(),
        b.kinds().name()
    );
    Value::error(ErrorKind::Eval, message)
}

/// `==` and `!=`: values of different concrete kinds are simply unequal (`1 == "a"`, `{a: 1} == 1`).
fn equality(op: BinaryOp, a: &Value, b: &Value) -> Value {
    let concrete = |v: &Value| v.is_atom() || matches!(v, Value::Struct(_) | Value::List(_));
    let equal = match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.cmp_value(y) == Ordering::Equal,
        _ if a.is_atom() && b.is_atom() => a.kinds().and(b.kinds()).0 != 0 && atoms_equal(a, b),
        _ if concrete(a) && concrete(b) => false,
        _ if concrete(a) => return incomplete_operand(op, b),
        _ => return incomplete_operand(op, a),
    };
    Value::Bool(equal == (op == BinaryOp::Eq))
}

fn arithmetic(op: BinaryOp, a: &Value, b: &Value) -> Value {
    match (op, a, b) {
        (BinaryOp::Add, Value::Num(x), Value::Num(y)) => Value::Num(x.add(y)),
        (BinaryOp::Sub, Value::Num(x), Value::Num(y)) => Value::Num(x.sub(y)),
        (BinaryOp::Mul, Value::Num(x), Value::Num(y)) => Value::Num(x.mul(y)),
        (BinaryOp::Div, Value::Num(x), Value::Num(y)) => match x.div(y) {
            Ok(n) => Value::Num(n),
            Err(_) => Value::error(ErrorKind::Eval, "division by zero"),
        },
        (BinaryOp::Add, Value::Str(x), Value::Str(y)) => Value::Str(Rc::from(format!("{x}{y}"))),
        (BinaryOp::Add, Value::Bytes(x), Value::Bytes(y)) => Value::Bytes(Rc::from([&x[..], &y[..]].concat())),
        (BinaryOp::Mul, Value::Str(s), Value::Num(n)) | (BinaryOp::Mul, Value::Num(n), Value::Str(s)) => {
            match n.to_i64().filter(|n| (0..=1_000_000).contains(n)) {
                Some(count) => Value::Str(Rc::from(s.repeat(count as usize))),
                None => mismatch(op, a, b),
            }
        }
        _ => mismatch(op, a, b),
    }
}

fn ordering(op: BinaryOp, a: &Value, b: &Value) -> Value {
    let Some(ord) = compare_atoms(a, b) else { return mismatch(op, a, b) };
    let result = match op {
        BinaryOp::Lt => ord == Ordering::Less,
        BinaryOp::Le => ord != Ordering::Greater,
        BinaryOp::Gt => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    };
    Value::Bool(result)
}

fn matching(op: BinaryOp, a: &Value, b: &Value) -> Value {
    let (Value::Str(s), Value::Str(pattern)) = (a, b) else { return mismatch(op, a, b) };
    match regex(pattern) {
        Ok(re) => Value::Bool(re.is_match(s) == (op == BinaryOp::Match)),
        Err(e) => Value::error(ErrorKind::Eval, format!("invalid regular expression: {e}")),
    }
}

fn logic(op: BinaryOp, a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => Value::Bool(if op == BinaryOp::And { *x && *y } else { *x || *y }),
        (Value::Bool(_), other) | (other, _) => {
            let message = format!("cannot use {other} (type {}) as type bool in {}", other.kinds().name(), op.as_str());
            Value::error(ErrorKind::Eval, message)
        }
    }
}

/// Negates a number.
pub fn negate(v: &Value) -> Value {
    match v {
        Value::Num(n) => Value::Num(n.neg()),
        Value::Bottom(_) => v.clone(),
        other if other.is_atom() => Value::error(ErrorKind::Eval, format!("invalid operation -{other}")),
        other => Value::error(ErrorKind::Incomplete, format!("invalid operand {other} ('-' requires concrete value)")),
    }
}

/// Returns the integer range of a sized integer type such as `int32`.
pub fn int_range(name: &str) -> Option<(Num, Num)> {
    let (signed, bits) = match name {
        "int8" => (true, 8),
        "int16" => (true, 16),
        "int32" => (true, 32),
        "int64" => (true, 64),
        "int128" => (true, 128),
        "uint8" | "byte" => (false, 8),
        "uint16" => (false, 16),
        "uint32" => (false, 32),
        "uint64" => (false, 64),
        "uint128" => (false, 128),
        "rune" => return Some((Num::Int(0.into()), Num::Int(0x10FFFF.into()))),
        _ => return None,
    };
    let two = num_bigint::BigInt::from(2);
    if signed {
        let half = num_traits::pow(two, bits - 1);
        Some((Num::Int(-half.clone()), Num::Int(half - 1)))
    } else {
        Some((Num::Int(0.into()), Num::Int(num_traits::pow(two, bits) - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unifies_atoms_and_types() {
        assert_eq!(unify(&Value::Kind(Kinds::INT), &Value::int(3)).to_string(), "3");
        assert!(unify(&Value::int(80), &Value::int(8080)).is_bottom());
        let bound = Value::Bound(BoundOp::Gt, Rc::new(Value::int(0)));
        assert!(unify(&bound, &Value::int(0)).is_bottom());
    }
}
