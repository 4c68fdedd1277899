//! The `list` package.

use std::cmp::Ordering;
use std::rc::Rc;

use crate::builtins::{Fail, Func, Res, concrete, f, i64_arg, list_arg, str_list, v};
use crate::error::ErrorKind;
use crate::eval::Evaluator;
use crate::num::Num;
use crate::ops;
use crate::value::{Kinds, VId, Value};

/// Non-function members of `list`: the comparators for `list.Sort`.
pub(crate) const PRELUDE: &str = "Ascending: {\n\tT: number | string\n\tx: T\n\ty: T\n\tless: x < y\n}\n\
Descending: {\n\tT: number | string\n\tx: T\n\ty: T\n\tless: x > y\n}\n";

fn list_of(ev: &mut Evaluator<'_>, a: &Value, i: usize) -> Result<Vec<Value>, Fail> {
    list_arg(ev, a, i)
}

fn nums(ev: &mut Evaluator<'_>, a: &Value) -> Result<Vec<Num>, Fail> {
    let items = sum_items(ev, a)?;
    let mut out = Vec::new();
    for (j, x) in items.into_iter().enumerate() {
        match x {
            Value::Num(n) => out.push(n),
            other => {
                let message = format!(
                    "invalid list element {j} in argument 0 to call: cannot use value {other} ({}) as number",
                    other.kinds().name()
                );
                return Err(Fail::Msg(message));
            }
        }
    }
    Ok(out)
}

fn make(ev: &mut Evaluator<'_>, ctx: VId, items: Vec<Value>) -> Res {
    Ok(ev.make_list(ctx, items))
}

fn count(a: &Value, i: usize) -> Result<usize, Fail> {
    let n = i64_arg(a, i)?;
    if n < 0 {
        return Err("negative index".into());
    }
    Ok(n as usize)
}

/// The `list` package.
pub(crate) static LIST: &[Func] = &[
    f("list.Avg", 1, |ev, a, _| {
        let xs = nums(ev, &a[0])?;
        if xs.is_empty() {
            return Err("empty list".into());
        }
        let sum = xs.iter().fold(Num::Int(0.into()), |acc, x| acc.add(x));
        let avg = sum.div(&Num::Int((xs.len() as i64).into())).map_err(|_| Fail::Msg("division by zero".into()))?;
        Ok(Value::Num(avg))
    }),
    f("list.Sum", 1, |ev, a, _| {
        let xs = sum_items(ev, &a[0])?;
        let mut acc = Value::int(0);
        for x in xs {
            acc = ops::binary(cue_syntax::ast::BinaryOp::Add, &acc, &x);
            if acc.is_bottom() {
                return Err(Fail::Value(acc));
            }
        }
        Ok(acc)
    }),
    f("list.Product", 1, |ev, a, _| {
        let xs = nums(ev, &a[0])?;
        Ok(Value::Num(xs.iter().fold(Num::Int(1.into()), |acc, x| acc.mul(x))))
    }),
    f("list.Max", 1, |ev, a, _| {
        let xs = nums(ev, &a[0])?;
        xs.into_iter()
            .reduce(|m, x| if x.cmp_value(&m) == Ordering::Greater { x } else { m })
            .map(Value::Num)
            .ok_or_else(|| Fail::Msg("empty list".into()))
    }),
    f("list.Min", 1, |ev, a, _| {
        let xs = nums(ev, &a[0])?;
        xs.into_iter()
            .reduce(|m, x| if x.cmp_value(&m) == Ordering::Less { x } else { m })
            .map(Value::Num)
            .ok_or_else(|| Fail::Msg("empty list".into()))
    }),
    f("list.Range", 3, |ev, a, ctx| {
        let start = crate::builtins::num_arg(&a[0], 0)?;
        let limit = crate::builtins::num_arg(&a[1], 1)?;
        let step = crate::builtins::num_arg(&a[2], 2)?;
        let zero = Num::Int(0.into());
        let dir = step.cmp_value(&zero);
        if dir == Ordering::Equal {
            return Err("step must be non zero".into());
        }
        if dir == Ordering::Greater && limit.cmp_value(&start) == Ordering::Less {
            return Err("end must be greater than start when step is positive".into());
        }
        if dir == Ordering::Less && limit.cmp_value(&start) == Ordering::Greater {
            return Err("end must be less than start when step is negative".into());
        }
        let mut items = Vec::new();
        let mut x = start;
        while x.cmp_value(&limit) == if dir == Ordering::Greater { Ordering::Less } else { Ordering::Greater } {
            items.push(Value::Num(x.clone()));
            if items.len() > 1_000_000 {
                return Err("range too long".into());
            }
            x = x.add(&step);
        }
        make(ev, ctx, items)
    }),
    f("list.Take", 2, |ev, a, ctx| {
        let xs = list_of(ev, &a[0], 0)?;
        let n = count(&a[1], 1)?;
        make(ev, ctx, xs.into_iter().take(n).collect())
    }),
    f("list.Drop", 2, |ev, a, ctx| {
        let xs = list_of(ev, &a[0], 0)?;
        let n = count(&a[1], 1)?;
        make(ev, ctx, xs.into_iter().skip(n).collect())
    }),
    f("list.Slice", 3, |ev, a, ctx| {
        let xs = list_of(ev, &a[0], 0)?;
        let (lo, hi) = (i64_arg(&a[1], 1)?, i64_arg(&a[2], 2)?);
        if lo < 0 {
            return Err("negative index".into());
        }
        if lo > hi {
            return Err("invalid index: 3 > 1".replace("3", &lo.to_string()).replace("1", &hi.to_string()).into());
        }
        if hi as usize > xs.len() {
            return Err("slice bounds out of range".into());
        }
        make(ev, ctx, xs[lo as usize..hi as usize].to_vec())
    }),
    f("list.FlattenN", 2, |ev, a, ctx| {
        let depth = match concrete(&a[1], 1)? {
            Value::Num(Num::Int(n)) => num_traits::ToPrimitive::to_i64(&n).unwrap_or(-1),
            other => return Err(Fail::Type(1, other, "int")),
        };
        let xs = match concrete(&a[0], 0)? {
            Value::List(t) => crate::builtins::list_values(ev, t).map_err(Fail::Value)?,
            other => {
                return Err(Fail::Msg(format!("cannot use value {other} (type {}) as list", other.kinds().name())));
            }
        };
        let mut out = Vec::new();
        flatten(ev, xs, depth, &mut out)?;
        make(ev, ctx, out)
    }),
    f("list.Concat", 1, |ev, a, ctx| {
        let lists = list_of(ev, &a[0], 0)?;
        let mut out = Vec::new();
        for l in lists {
            match ops::default_of(&l) {
                Value::List(t) => out.extend(crate::builtins::list_values(ev, t).map_err(Fail::Value)?),
                Value::Bottom(e) => return Err(Fail::Msg(e.message.clone())),
                other => {
                    let message = format!("cannot use value {other} (type {}) as list", other.kinds().name());
                    return Err(Fail::Msg(message));
                }
            }
        }
        make(ev, ctx, out)
    }),
    f("list.Repeat", 2, |ev, a, ctx| {
        let xs = list_of(ev, &a[0], 0)?;
        let n = i64_arg(&a[1], 1)?;
        if n < 0 {
            return Err("negative count".into());
        }
        if (n as u128) * (xs.len().max(1) as u128) > 1_000_000 {
            return Err(Fail::Msg(format!("count {n} exceeds limit of 1000000")));
        }
        let mut out = Vec::new();
        for _ in 0..n {
            out.extend(xs.iter().cloned());
        }
        make(ev, ctx, out)
    }),
    f("list.Reverse", 1, |ev, a, ctx| {
        let mut xs = list_of(ev, &a[0], 0)?;
        xs.reverse();
        make(ev, ctx, xs)
    }),
    v("list.Contains", 2, Kinds::LIST, |ev, a, _| {
        let xs = list_of(ev, &a[0], 0)?;
        let needle = ops::default_of(&a[1]);
        for x in xs {
            if equal(ev, &ops::default_of(&x), &needle) {
                return Ok(Value::Bool(true));
            }
        }
        Ok(Value::Bool(false))
    }),
    v("list.MinItems", 2, Kinds::LIST, |ev, a, _| {
        let xs = list_of(ev, &a[0], 0)?;
        let (count, min) = (xs.len() as i64, i64_arg(&a[1], 1)?);
        if count >= min {
            return Ok(Value::Bool(true));
        }
        let detail = format!("len(list) < MinItems({min}) ({count} < {min})");
        // An open list may still get the missing elements: too few is incomplete, as in the official `cue`
        // (so `ports: [...#Port] & list.MinItems(1)` is no error on the definition that declares it).
        match ops::default_of(&a[0]) {
            Value::List(t) if ev.vertices[t].open_list => {
                let shown = format!("{}", ops::default_of(&a[0]));
                let message = format!("invalid value {shown} (does not satisfy list.MinItems({min})): {detail}");
                Err(Fail::Value(Value::error(ErrorKind::Incomplete, message)))
            }
            _ => Err(Fail::Msg(detail)),
        }
    }),
    v("list.MaxItems", 2, Kinds::LIST, |ev, a, _| {
        let xs = list_of(ev, &a[0], 0)?;
        Ok(Value::Bool(xs.len() as i64 <= i64_arg(&a[1], 1)?))
    }),
    v("list.UniqueItems", 1, Kinds::LIST, |ev, a, _| {
        let xs: Vec<Value> = list_of(ev, &a[0], 0)?.iter().map(ops::default_of).collect();
        for i in 0..xs.len() {
            for j in i + 1..xs.len() {
                if equal(ev, &xs[i], &xs[j]) {
                    let message = if xs[i].is_atom() {
                        format!("equal value ({}) at position {i} and {j}", xs[i])
                    } else {
                        format!("equal values at position {i} and {j}")
                    };
                    return Err(Fail::Msg(message));
                }
            }
        }
        Ok(Value::Bool(true))
    }),
    v("list.IsSorted", 2, Kinds::LIST, |ev, a, ctx| {
        let xs = list_of(ev, &a[0], 0)?;
        for w in xs.windows(2) {
            if less(ev, &a[1], &w[1], &w[0], ctx)? {
                return Ok(Value::Bool(false));
            }
        }
        Ok(Value::Bool(true))
    }),
    v("list.IsSortedStrings", 1, Kinds::LIST, |ev, a, _| {
        let xs = str_list(ev, &a[0], 0)?;
        Ok(Value::Bool(xs.windows(2).all(|w| w[0] <= w[1])))
    }),
    f("list.SortStrings", 1, |ev, a, ctx| {
        let mut xs = str_list(ev, &a[0], 0)?;
        xs.sort();
        make(ev, ctx, xs.into_iter().map(Value::Str).collect())
    }),
    f("list.Sort", 2, sort),
    f("list.SortStable", 2, sort),
    v("list.MatchN", 3, Kinds::LIST, |ev, a, ctx| {
        let xs = list_of(ev, &a[0], 0)?;
        let mut count = 0;
        for x in &xs {
            if ev.matches_schema(x, &a[2], ctx).map_err(Fail::Value)? {
                count += 1;
            }
        }
        let n = ops::default_of(&a[1]);
        if ops::unify(&n, &Value::int(count)).is_bottom() {
            return Err(Fail::Msg(format!("number of matched elements is {count}: does not satisfy {n}")));
        }
        Ok(Value::Bool(true))
    }),
];

fn sum_items(ev: &mut Evaluator<'_>, a: &Value) -> Result<Vec<Value>, Fail> {
    match concrete(a, 0)? {
        Value::List(t) => {
            let items = crate::builtins::list_values(ev, t).map_err(Fail::Value)?;
            let mut out = Vec::new();
            for (j, item) in items.iter().enumerate() {
                let item = ops::default_of(item);
                match &item {
                    Value::Bottom(e) => return Err(Fail::Msg(e.message.clone())),
                    Value::Num(_) | Value::Struct(_) | Value::List(_) => out.push(item),
                    x if x.is_atom() || x.kinds().and(Kinds::NUMBER).0 == 0 => {
                        let message = format!(
                            "invalid list element {j} in argument 0 to call: cannot use value {x} ({}) as number",
                            x.kinds().name()
                        );
                        return Err(Fail::Msg(message));
                    }
                    _ => return Err(Fail::Msg("non-concrete list for argument 0".into())),
                }
            }
            Ok(out)
        }
        other => Err(Fail::Type(0, other, "list")),
    }
}

fn flatten(ev: &mut Evaluator<'_>, xs: Vec<Value>, depth: i64, out: &mut Vec<Value>) -> Result<(), Fail> {
    for x in xs {
        match ops::default_of(&x) {
            Value::List(t) if depth != 0 => {
                let inner = crate::builtins::list_values(ev, t).map_err(Fail::Value)?;
                flatten(ev, inner, depth - 1, out)?;
            }
            other => out.push(other),
        }
    }
    Ok(())
}

/// Compares two values for equality as `==` does (structs and lists by their exported data).
fn equal(ev: &mut Evaluator<'_>, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Struct(x), Value::Struct(y)) | (Value::List(x), Value::List(y)) => {
            crate::export::equal_nodes(ev, *x, *y)
        }
        _ if a.is_atom() && b.is_atom() => {
            ops::atoms_equal(a, b)
                || matches!((a, b), (Value::Num(x), Value::Num(y)) if x.cmp_value(y) == Ordering::Equal)
        }
        _ => false,
    }
}

/// Evaluates `less` of the comparator struct `cmp` for `x` and `y`.
fn less(ev: &mut Evaluator<'_>, cmp: &Value, x: &Value, y: &Value, ctx: VId) -> Result<bool, Fail> {
    let args = ev.make_struct(ctx, vec![("x".into(), x.clone()), ("y".into(), y.clone())]);
    let unified = ev.unify_values(cmp.clone(), args, ctx);
    if let Value::Bottom(e) = &unified {
        return Err(Fail::Msg(e.message.clone()));
    }
    let label = crate::vertex::Label::Field(Rc::from("less"));
    let result = match ev.select(unified, &label) {
        Ok(vid) => ev.vertex_value(vid),
        Err(e) => e,
    };
    // Errors of the comparator's fields (a conflict on `x` or `y`) make the comparison fail.
    match ops::default_of(&result) {
        Value::Bool(b) => Ok(b),
        Value::Bottom(e) if e.kind.is_incomplete() => Err(Fail::Incomplete(1)),
        Value::Bottom(e) => Err(Fail::Msg(e.message.clone())),
        _ => Err(Fail::Incomplete(1)),
    }
}

fn sort(ev: &mut Evaluator<'_>, a: &[Value], ctx: VId) -> Res {
    let xs = list_of(ev, &a[0], 0)?;
    let mut failure = None;
    let mut indexed: Vec<(usize, Value)> = xs.into_iter().enumerate().collect();
    // A stable merge sort driven by the comparator; the first failure stops the comparisons.
    indexed = merge_sort(indexed, &mut |x, y| {
        if failure.is_some() {
            return false;
        }
        match less(ev, &a[1], y, x, ctx) {
            Ok(b) => b,
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let items = indexed.into_iter().map(|(_, v)| v).collect();
    Ok(ev.make_list(ctx, items))
}

/// Stable merge sort; `after(x, y)` is true when `x` must come after `y` (that is, `y < x`).
fn merge_sort(mut items: Vec<(usize, Value)>, after: &mut dyn FnMut(&Value, &Value) -> bool) -> Vec<(usize, Value)> {
    if items.len() <= 1 {
        return items;
    }
    let right = items.split_off(items.len() / 2);
    let left = merge_sort(items, after);
    let right = merge_sort(right, after);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(x), Some(y)) = (l.peek(), r.peek()) {
        if after(&x.1, &y.1) {
            out.extend(r.next());
        } else {
            out.extend(l.next());
        }
    }
    out.extend(l);
    out.extend(r);
    out
}
