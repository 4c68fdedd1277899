//! The `struct` package.

use crate::builtins::{Fail, Func, concrete, i64_arg, v};
use crate::eval::Evaluator;
use crate::value::{Kinds, Value};
use crate::vertex::ArcKind;

fn field_count(ev: &mut Evaluator<'_>, x: &Value) -> Result<i64, Fail> {
    match concrete(x, 0)? {
        Value::Struct(t) => {
            ev.finished(t).map_err(Fail::Value)?;
            let arcs = &ev.vertices[t].arcs;
            Ok(arcs.iter().filter(|(l, a)| l.is_regular() && a.kind != ArcKind::Optional).count() as i64)
        }
        other => Err(Fail::Type(0, other, "struct")),
    }
}

/// The `struct` package.
pub(crate) static STRUCT: &[Func] = &[
    v("struct.MinFields", 2, Kinds::STRUCT, |ev, a, _| {
        let (n, min) = (field_count(ev, &a[0])?, i64_arg(&a[1], 1)?);
        if n < min {
            return Err(Fail::Msg(format!("len(fields) < MinFields({min}) ({n} < {min})")));
        }
        Ok(Value::Bool(true))
    }),
    v("struct.MaxFields", 2, Kinds::STRUCT, |ev, a, _| {
        let (n, max) = (field_count(ev, &a[0])?, i64_arg(&a[1], 1)?);
        if n > max {
            return Err(Fail::Msg(format!("len(fields) > MaxFields({max}) ({n} > {max})")));
        }
        Ok(Value::Bool(true))
    }),
];
