//! Expression evaluation: references and scoping, selectors, indexes, operators and interpolation.

use std::rc::Rc;

use cue_syntax::ast::{self, BinaryOp, Decl, Expr, ExprKind, InterpPart, LabelKind, StringKind, UnaryOp};

use crate::error::ErrorKind;
use crate::eval::{Evaluator, unsupported};
use crate::num::Num;
use crate::ops;
use crate::value::{BoundOp, Disj, VId, Value};
use crate::vertex::{ArcKind, Conj, Env, Label, Scope, Src};

/// What an identifier resolves to.
enum Found<'a> {
    Field(VId, Label),
    Let(&'a Expr, Env<'a>),
    Value(Value),
    Import(crate::eval::ImportTarget),
    /// A field with a computed label (aliased): its declaration, the struct node and the scope.
    Dynamic(&'a ast::Field, VId, Env<'a>),
}

impl<'a> Evaluator<'a> {
    /// Evaluates an expression in an environment; `ctx` is the node being evaluated.
    pub(crate) fn eval_expr(&mut self, expr: &'a Expr, env: &Env<'a>, ctx: VId) -> Value {
        match &expr.kind {
            ExprKind::Ident(id) => self.eval_ident(&id.name, env, ctx),
            ExprKind::Bottom => Value::error(ErrorKind::User, "explicit error (_|_ literal) in source"),
            ExprKind::Null => Value::Null,
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Number(n) => match Num::parse(&n.text, n.is_int) {
                Some(num) => Value::Num(num),
                None => Value::error(ErrorKind::Eval, format!("invalid number literal {}", n.text)),
            },
            ExprKind::String(s) => match s.kind {
                StringKind::String => Value::Str(Rc::from(&*s.as_str())),
                StringKind::Bytes => Value::Bytes(Rc::from(&s.value[..])),
            },
            ExprKind::Interpolation(i) => self.interpolate(i, env, ctx),
            ExprKind::List(_) | ExprKind::Struct(_) => {
                let conj = Conj {
                    src: Src::Expr(expr),
                    env: env.clone(),
                    groups: Rc::from([]),
                    embed: None,
                    via: None,
                    explicit: false,
                };
                let t = self.temp_vertex(ctx, conj);
                if matches!(expr.kind, ExprKind::List(_)) { Value::List(t) } else { Value::Struct(t) }
            }
            ExprKind::Paren(inner) => self.eval_expr(inner, env, ctx),
            ExprKind::Unary { op, operand } => self.eval_unary(*op, operand, env, ctx),
            ExprKind::Binary { op, lhs, rhs } => self.eval_binary(*op, lhs, rhs, env, ctx),
            ExprKind::Selector { base, selector } => {
                let base = self.eval_expr(base, env, ctx);
                match self.select(base, &selector_label(selector)) {
                    Ok(v) => self.vertex_value(v),
                    Err(e) => e,
                }
            }
            ExprKind::Index { base, index } => {
                let base = self.eval_expr(base, env, ctx);
                let index = ops::default_of(&self.eval_expr(index, env, ctx));
                self.index(base, index)
            }
            ExprKind::Slice { base, low, high } => self.eval_slice(base, low.as_deref(), high.as_deref(), env, ctx),
            ExprKind::Call { func, args } => self.eval_call(func, args, env, ctx),
            ExprKind::Alias { expr, .. } => self.eval_expr(expr, env, ctx),
            // Inside a `try`, whose clause checked that the value exists (see `optional_exists`).
            ExprKind::Optional(inner) => self.eval_expr(inner, env, ctx),
            ExprKind::Spread(_) => unsupported("postfix spread `x...` (explicitopen experiment)"),
            ExprKind::Error => Value::error(ErrorKind::Eval, "invalid expression"),
        }
    }

    fn eval_ident(&mut self, name: &str, env: &Env<'a>, ctx: VId) -> Value {
        if name == "_" {
            return Value::Top;
        }
        match self.lookup(name, env) {
            Some(Found::Field(vid, label)) => match self.field_of(vid, &label) {
                Some(arc) => self.vertex_value(arc),
                None => {
                    self.eval_vertex(vid);
                    match self.field_of(vid, &label) {
                        Some(arc) => self.vertex_value(arc),
                        None => Value::error(ErrorKind::Cycle, format!("cycle with field: {name}")),
                    }
                }
            },
            Some(Found::Let(expr, env)) => self.eval_expr(expr, &env, ctx),
            Some(Found::Value(v)) => v,
            Some(Found::Import(target)) => self.import_value(&target),
            Some(Found::Dynamic(field, vid, denv)) => {
                let label = match &field.label.kind {
                    LabelKind::Dynamic(e) => self.eval_expr(e, &denv, ctx),
                    LabelKind::Interpolation(i) => self.interpolate(i, &denv, ctx),
                    _ => return Value::error(ErrorKind::NotFound, format!("reference \"{name}\" not found")),
                };
                let Value::Str(label) = ops::default_of(&label) else {
                    return Value::error(ErrorKind::Incomplete, format!("unresolved label of alias {name}"));
                };
                self.eval_vertex(vid);
                match self.field_of(vid, &Label::string(label)) {
                    Some(arc) => self.vertex_value(arc),
                    None => Value::error(ErrorKind::Eval, "cyclic reference in field alias"),
                }
            }
            None if name == "self" => match self.enclosing_struct(env) {
                Some(v) => Value::Struct(v),
                None => self.predeclared(name),
            },
            // The official test suite's `__no_sharing` only switches off structure sharing: as a value it is `_`.
            None if name == "__no_sharing" => Value::Top,
            None => self.predeclared(name),
        }
    }

    /// True for an identifier bound to a value (a comprehension variable or pattern alias), which the
    /// official evaluator shares rather than re-evaluating: its fields keep their own order.
    pub(crate) fn is_bound_value(&self, expr: &Expr, env: &Env<'a>) -> bool {
        matches!(&expr.kind, ExprKind::Ident(id) if matches!(self.lookup(&id.name, env), Some(Found::Value(_))))
    }

    /// For the `try` experiment: whether the value `x?` marks exists. A field that is absent, or only
    /// optional, or an index past the end of an open list does not; anything else does, including errors
    /// (a missing field of a closed struct, an index past a closed list), which evaluation then reports.
    pub(crate) fn optional_exists(&mut self, inner: &'a Expr, env: &Env<'a>, ctx: VId) -> bool {
        let base_exists = |ev: &mut Self, base: &'a Expr| match &base.kind {
            ExprKind::Optional(b) => ev.optional_exists(b, env, ctx),
            _ => true,
        };
        let (t, label) = match &inner.kind {
            ExprKind::Ident(id) => match self.lookup(&id.name, env) {
                Some(Found::Field(vid, label)) => {
                    if self.vertices[vid].state == crate::vertex::State::Fresh {
                        self.eval_vertex(vid);
                    }
                    return self.vertices[vid].arcs.get(&label).is_some_and(|a| a.kind != ArcKind::Optional);
                }
                _ => return true,
            },
            ExprKind::Selector { base, selector } => {
                if !base_exists(self, base) {
                    return false;
                }
                match ops::default_of(&self.eval_expr(base, env, ctx)) {
                    Value::Struct(t) => (t, selector_label(selector)),
                    _ => return true,
                }
            }
            ExprKind::Index { base, index } => {
                if !base_exists(self, base) {
                    return false;
                }
                let b = ops::default_of(&self.eval_expr(base, env, ctx));
                match (b, ops::default_of(&self.eval_expr(index, env, ctx))) {
                    (Value::List(t), Value::Num(n)) => match n.to_i64() {
                        Some(i) if i >= 0 => (t, Label::Index(i as usize)),
                        _ => return true,
                    },
                    (Value::Struct(t), Value::Str(s)) => (t, Label::string(s)),
                    _ => return true,
                }
            }
            _ => return true,
        };
        // A list or struct that is an error exists: evaluation reports its error.
        if self.finished(t).is_err() {
            return true;
        }
        let vt = &self.vertices[t];
        match vt.arcs.get(&label) {
            Some(arc) => arc.kind != ArcKind::Optional,
            // Absent: an open list or an open struct may still get it; a closed one reports the error.
            None => match label {
                Label::Index(_) => !vt.open_list,
                Label::Field(_) | Label::Quoted(_) => self.is_closing(t),
            },
        }
    }

    /// The node of the innermost struct literal around an environment (for `self`).
    fn enclosing_struct(&self, env: &Env<'a>) -> Option<VId> {
        let mut cur = env.clone();
        while let Some(frame) = cur {
            if let Scope::Struct { vid, .. } = &frame.scope {
                return Some(*vid);
            }
            cur = frame.parent.clone();
        }
        None
    }

    /// Returns the value an import name stands for: the package's root node.
    pub(crate) fn import_value(&mut self, target: &crate::eval::ImportTarget) -> Value {
        match target {
            crate::eval::ImportTarget::Std(path) => Value::Struct(self.std_package(path)),
            crate::eval::ImportTarget::Package(pkg) => Value::Struct(self.package_root(*pkg)),
            crate::eval::ImportTarget::Missing(message) => Value::error(ErrorKind::NotFound, message.to_string()),
        }
    }

    fn field_of(&self, vid: VId, label: &Label) -> Option<VId> {
        self.vertices[vid].arcs.get(label).map(|a| a.vid)
    }

    fn lookup(&self, name: &str, env: &Env<'a>) -> Option<Found<'a>> {
        let mut cur = env.clone();
        while let Some(frame) = cur.clone() {
            match &frame.scope {
                Scope::Bind { name: bound, value } if &**bound == name => return Some(Found::Value(value.clone())),
                Scope::Bind { .. } => {}
                Scope::Struct { vid, decls } => {
                    for decls in decls {
                        if let Some(found) = find_decl(decls, name, *vid, &cur) {
                            return Some(found);
                        }
                    }
                    if frame.parent.is_none()
                        && let Some(target) = self.imports.get(frame.file as usize).and_then(|m| m.get(name))
                    {
                        return Some(Found::Import(target.clone()));
                    }
                }
            }
            cur = frame.parent.clone();
        }
        None
    }

    fn predeclared(&mut self, name: &str) -> Value {
        match crate::builtins::predeclared(name) {
            Some(v) => v,
            None => Value::error(ErrorKind::NotFound, format!("reference \"{name}\" not found")),
        }
    }

    /// Selects a field of a struct value, following the default of a disjunction.
    pub(crate) fn select(&mut self, base: Value, label: &Label) -> Result<VId, Value> {
        let base = ops::default_of(&base);
        let t = match base {
            Value::Struct(t) | Value::List(t) => t,
            Value::Bottom(_) => return Err(base),
            Value::Disj(_) => {
                return Err(Value::error(ErrorKind::Incomplete, format!("unresolved disjunction {base}")));
            }
            other if other.is_atom() => {
                let message = format!("invalid selector {:?} for value of type {}", label, other.kinds().name());
                return Err(Value::error(ErrorKind::Eval, message));
            }
            other => return Err(Value::error(ErrorKind::Incomplete, format!("incomplete value {other}"))),
        };
        let value = self.vertex_value(t);
        match value {
            Value::Bottom(_) => return Err(value),
            Value::Struct(s) | Value::List(s) if s != t => return self.select(value, label),
            Value::Disj(_) => return self.select(value, label),
            _ => {}
        }
        match self.vertices[t].arcs.get(label) {
            Some(arc) if arc.kind == ArcKind::Regular || !label.is_regular() => Ok(arc.vid),
            Some(arc) if arc.kind == ArcKind::Required => Ok(arc.vid),
            Some(_) if label.name().is_some() => {
                let name = crate::export::format_label(label);
                Err(Value::error(ErrorKind::Incomplete, format!("cannot reference optional field: {name}")))
            }
            // A comprehension not decided yet may still add the field.
            None if self.vertices[t].unresolved.is_some() => {
                Err(self.vertices[t].unresolved.clone().unwrap_or_else(|| Value::error(ErrorKind::Incomplete, "")))
            }
            _ => {
                let name = crate::export::format_label(label);
                if let Some((path, _)) = self.std_roots.iter().find(|(_, root)| **root == t) {
                    return Err(unsupported(&format!("standard library member {path}.{name}")));
                }
                Err(Value::error(ErrorKind::Undefined, format!("undefined field: {name}")))
            }
        }
    }

    fn index(&mut self, base: Value, index: Value) -> Value {
        let base = ops::default_of(&base);
        if base.is_bottom() {
            return base;
        }
        let label = match (&base, &index) {
            (_, Value::Bottom(_)) => return index,
            (Value::List(t), Value::Num(n)) => match n.to_i64() {
                Some(i) if i >= 0 => {
                    if let Err(error) = self.finished(*t) {
                        return error;
                    }
                    let len = self.vertices[*t].arcs.len();
                    if i as usize >= len && !self.vertices[*t].open_list {
                        let message = format!("index out of range [{i}] with length {len}");
                        return Value::error(ErrorKind::Index, message);
                    }
                    Label::Index(i as usize)
                }
                _ => return Value::error(ErrorKind::Index, format!("invalid index {n} (index must be non-negative)")),
            },
            (Value::Str(s), Value::Num(n)) => return self.index_string(s, n),
            (Value::Struct(_), Value::Str(s)) => Label::string(s.clone()),
            (_, i) if !i.is_atom() => return Value::error(ErrorKind::Incomplete, format!("incomplete index {i}")),
            (b, _) if !b.is_atom() && !matches!(b, Value::Struct(_) | Value::List(_)) => {
                return Value::error(ErrorKind::Incomplete, format!("incomplete value {b}"));
            }
            (b, i) => return Value::error(ErrorKind::Eval, format!("invalid index {i} for {b}")),
        };
        match self.select(base, &label) {
            Ok(v) => self.vertex_value(v),
            Err(e) => e,
        }
    }

    fn index_string(&self, s: &str, n: &Num) -> Value {
        let _ = s;
        Value::error(ErrorKind::Eval, format!("cannot index string with {n}"))
    }

    fn eval_slice(
        &mut self,
        base: &'a Expr,
        low: Option<&'a Expr>,
        high: Option<&'a Expr>,
        env: &Env<'a>,
        ctx: VId,
    ) -> Value {
        let base = ops::default_of(&self.eval_expr(base, env, ctx));
        let Value::List(t) = base else {
            return unsupported("slices of values other than lists");
        };
        if let Err(error) = self.finished(t) {
            return error;
        }
        let len = self.vertices[t].arcs.len();
        let bound = |e: Option<&'a Expr>, dflt: usize, ev: &mut Self| match e {
            None => Ok(dflt),
            Some(e) => match ops::default_of(&ev.eval_expr(e, env, ctx)) {
                Value::Num(n) => n.to_i64().filter(|i| *i >= 0).map(|i| i as usize).ok_or(()),
                _ => Err(()),
            },
        };
        let (Ok(lo), Ok(hi)) = (bound(low, 0, self), bound(high, len, self)) else {
            return Value::error(ErrorKind::Eval, "invalid slice index");
        };
        if lo > hi || hi > len {
            return Value::error(ErrorKind::Index, format!("index out of range [{hi}] with length {len}"));
        }
        let elems: Vec<Value> = (lo..hi)
            .map(|i| self.vertices[t].arcs.get(&Label::Index(i)).map(|a| a.vid))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default()
            .into_iter()
            .map(|v| self.vertex_value(v))
            .collect();
        self.make_list(ctx, elems)
    }

    /// Builds a closed list node from values.
    pub(crate) fn make_list(&mut self, ctx: VId, elems: Vec<Value>) -> Value {
        let (parent, label) = (self.vertices[ctx].parent, self.vertices[ctx].label.clone());
        let t = self.new_vertex(parent, label);
        for (i, e) in elems.into_iter().enumerate() {
            let arc = self.new_vertex(Some(t), Some(Label::Index(i)));
            let conj =
                Conj { src: Src::Value(e), env: None, groups: Rc::from([]), embed: None, via: None, explicit: false };
            self.vertices[arc].conjs.push(conj);
            self.vertices[t].arcs.insert(Label::Index(i), crate::vertex::Arc { vid: arc, kind: ArcKind::Regular });
        }
        self.vertices[t].state = crate::vertex::State::Done;
        self.vertices[t].value = Value::List(t);
        Value::List(t)
    }

    /// Builds a struct node from field values.
    pub(crate) fn make_struct(&mut self, ctx: VId, fields: Vec<(String, Value)>) -> Value {
        let (parent, label) = (self.vertices[ctx].parent, self.vertices[ctx].label.clone());
        let t = self.new_vertex(parent, label);
        for (name, e) in fields {
            let label = Label::string(Rc::from(name));
            let arc = self.new_vertex(Some(t), Some(label.clone()));
            let conj =
                Conj { src: Src::Value(e), env: None, groups: Rc::from([]), embed: None, via: None, explicit: false };
            self.vertices[arc].conjs.push(conj);
            self.vertices[t].arcs.insert(label, crate::vertex::Arc { vid: arc, kind: ArcKind::Regular });
        }
        self.vertices[t].state = crate::vertex::State::Done;
        self.vertices[t].value = Value::Struct(t);
        Value::Struct(t)
    }

    /// Unifies two non-node values, checking validators against concrete values.
    pub(crate) fn unify_scalar(&mut self, a: &Value, b: &Value, ctx: VId) -> Value {
        ops::unify_with(a, b, &mut |validator, atom| crate::builtins::validate(self, validator, atom, ctx))
    }

    fn eval_unary(&mut self, op: UnaryOp, operand: &'a Expr, env: &Env<'a>, ctx: VId) -> Value {
        let value = self.eval_expr(operand, env, ctx);
        if op == UnaryOp::Default {
            return value;
        }
        let value = ops::default_of(&value);
        if value.is_bottom() {
            return value;
        }
        let bound = match op {
            UnaryOp::Plus => return value,
            UnaryOp::Minus => return ops::negate(&value),
            UnaryOp::Not => {
                return match value {
                    Value::Bool(b) => Value::Bool(!b),
                    v if v.is_atom() => Value::error(ErrorKind::Eval, format!("invalid operation !{v}")),
                    v => Value::error(
                        ErrorKind::Incomplete,
                        format!("invalid operand {v} ('!' requires concrete value)"),
                    ),
                };
            }
            UnaryOp::Eq => return value,
            UnaryOp::NotEq => BoundOp::Ne,
            UnaryOp::Lt => BoundOp::Lt,
            UnaryOp::Le => BoundOp::Le,
            UnaryOp::Gt => BoundOp::Gt,
            UnaryOp::Ge => BoundOp::Ge,
            UnaryOp::Match => BoundOp::Match,
            UnaryOp::NotMatch => BoundOp::NotMatch,
            UnaryOp::Default => return value,
        };
        if !value.is_atom() {
            let message = format!("invalid operand {value} ('{}' requires concrete value)", op.as_str());
            return Value::error(ErrorKind::Incomplete, message);
        }
        Value::Bound(bound, Rc::new(value))
    }

    fn eval_binary(&mut self, op: BinaryOp, lhs: &'a Expr, rhs: &'a Expr, env: &Env<'a>, ctx: VId) -> Value {
        match op {
            BinaryOp::Disjunction => self.eval_disjunction(lhs, rhs, env, ctx),
            BinaryOp::Unification => {
                let a = self.eval_expr(lhs, env, ctx);
                let b = self.eval_expr(rhs, env, ctx);
                self.unify_values(a, b, ctx)
            }
            BinaryOp::Eq | BinaryOp::NotEq if is_bottom_literal(lhs) || is_bottom_literal(rhs) => {
                let other = if is_bottom_literal(lhs) { rhs } else { lhs };
                let value = self.eval_expr(other, env, ctx);
                // A struct or list with a permanent error inside (a conflicting field) is an error too.
                let erroneous = match &value {
                    Value::Struct(t) | Value::List(t) => self.permanent_error(*t, 24).is_some(),
                    v => v.is_bottom(),
                };
                Value::Bool(erroneous == (op == BinaryOp::Eq))
            }
            BinaryOp::And | BinaryOp::Or => self.eval_logic(op, lhs, rhs, env, ctx),
            _ => {
                let a = ops::default_of(&self.eval_expr(lhs, env, ctx));
                let b = ops::default_of(&self.eval_expr(rhs, env, ctx));
                let result = self.binary_nodes(op, a.clone(), b.clone());
                self.classify_operand_error(result, op, [(&a, lhs), (&b, rhs)], env)
            }
        }
    }

    /// `&&` and `||`. Without `@experiment(shortcircuit)` both operands are evaluated, as in the official
    /// evaluator: an error or a non-concrete value on the right is reported even when the left decides
    /// (`p.x != _|_ && p.x > 1` with `x` absent is `undefined field: x`); a concrete right operand of any type
    /// then gives the left's value.
    fn eval_logic(&mut self, op: BinaryOp, lhs: &'a Expr, rhs: &'a Expr, env: &Env<'a>, ctx: VId) -> Value {
        let a = ops::default_of(&self.eval_expr(lhs, env, ctx));
        let decides = matches!(a, Value::Bool(x) if x == (op == BinaryOp::Or));
        if decides && self.has_experiment(env, "shortcircuit") {
            return a;
        }
        let b = ops::default_of(&self.eval_expr(rhs, env, ctx));
        if decides && (b.is_atom() || matches!(b, Value::Struct(_) | Value::List(_))) {
            return a;
        }
        let result = ops::binary(op, &a, &b);
        self.classify_operand_error(result, op, [(&a, lhs), (&b, rhs)], env)
    }

    /// Whether the file of an environment enables an experiment (`@experiment(name)` before its package clause).
    fn has_experiment(&self, env: &Env<'a>, name: &str) -> bool {
        let Some(file) = self.files.get(crate::eval::file_of(env) as usize) else { return false };
        file.attributes.iter().filter(|a| &*a.name == "experiment").any(|a| a.body.split(',').any(|e| e.trim() == name))
    }

    /// Gives an error about a non-concrete operand the official tool's class: a type written in
    /// place (`int + 1`) can never become concrete, a permanent error; a referenced value (`x + 1`)
    /// is incomplete ("non-concrete value int in operand to +").
    fn classify_operand_error(
        &mut self,
        result: Value,
        op: BinaryOp,
        operands: [(&Value, &'a Expr); 2],
        env: &Env<'a>,
    ) -> Value {
        let Value::Bottom(e) = &result else { return result };
        if e.kind != ErrorKind::Incomplete || !e.message.starts_with("invalid operand ") {
            return result;
        }
        let Some((value, expr)) = operands
            .into_iter()
            .find(|(v, _)| !v.is_bottom() && !v.is_atom() && !matches!(v, Value::Struct(_) | Value::List(_)))
        else {
            return result;
        };
        let referenced = match &expr.kind {
            ExprKind::Ident(id) => self.lookup(&id.name, env).is_some(),
            ExprKind::Selector { .. } | ExprKind::Index { .. } | ExprKind::Call { .. } => true,
            _ => false,
        };
        if matches!(value, Value::Top) {
            // `_` met through a reference cycle: left as it is.
            return result;
        }
        let mut error = (**e).clone();
        if referenced {
            error.message = format!("non-concrete value {value} in operand to {}", op.as_str());
        } else {
            error.kind = ErrorKind::Eval;
        }
        Value::Bottom(Rc::new(error))
    }

    fn binary_nodes(&mut self, op: BinaryOp, a: Value, b: Value) -> Value {
        if matches!(op, BinaryOp::Eq | BinaryOp::NotEq)
            && let (Value::List(x), Value::List(y)) | (Value::Struct(x), Value::Struct(y)) = (&a, &b)
        {
            return match crate::export::compare_nodes(self, *x, *y) {
                Ok(equal) => Value::Bool(equal == (op == BinaryOp::Eq)),
                Err((side, error)) => {
                    let side = if side == crate::export::Side::Left { "left" } else { "right" };
                    let operand = if matches!(a, Value::List(_)) { "list" } else { "struct" };
                    let message =
                        format!("invalid {side}-hand value to '{}' (type {operand}): {}", op.as_str(), error.message);
                    Value::error(error.kind, message)
                }
            };
        }
        if let Some(error) = list_arithmetic(op, &a, &b) {
            // An operand that is itself an error (a comprehension over an error) reports that error first.
            for operand in [&a, &b] {
                if let Value::List(t) = operand
                    && let Err(operand_error) = self.finished(*t)
                {
                    return operand_error;
                }
            }
            return error;
        }
        ops::binary(op, &a, &b)
    }

    /// Unifies two values, building a node when either is a struct, list or such a disjunction.
    pub(crate) fn unify_values(&mut self, a: Value, b: Value, ctx: VId) -> Value {
        if !is_nodeish(&a) && !is_nodeish(&b) {
            return self.unify_scalar(&a, &b, ctx);
        }
        let conj = |v: Value| Conj {
            src: Src::Value(v),
            env: None,
            groups: Rc::from([]),
            embed: None,
            via: None,
            explicit: false,
        };
        let t = self.temp_vertex(ctx, conj(a));
        self.vertices[t].conjs.push(conj(b));
        self.vertex_value(t)
    }

    fn eval_disjunction(&mut self, lhs: &'a Expr, rhs: &'a Expr, env: &Env<'a>, ctx: VId) -> Value {
        let mut operands = Vec::new();
        collect_disjuncts(lhs, &mut operands);
        collect_disjuncts(rhs, &mut operands);
        let any_marked = operands.iter().any(|(_, m)| *m);
        let mut branches = Vec::new();
        let mut has_default = any_marked;
        for (expr, marked) in operands {
            match self.eval_expr(expr, env, ctx) {
                Value::Disj(inner) => {
                    for (v, idef) in inner.branches.iter() {
                        let default = if any_marked { marked && (*idef || !inner.has_default) } else { *idef };
                        branches.push((v.clone(), default));
                    }
                    has_default |= inner.has_default;
                }
                v => branches.push((v, marked)),
            }
        }
        if !has_default {
            branches.iter_mut().for_each(|b| b.1 = false);
        }
        ops::normalize(branches, has_default)
    }

    /// Evaluates an interpolated string or bytes literal.
    pub(crate) fn interpolate(&mut self, i: &'a ast::Interpolation, env: &Env<'a>, ctx: VId) -> Value {
        let mut out: Vec<u8> = Vec::new();
        for part in &i.parts {
            match part {
                InterpPart::Text(t) => out.extend_from_slice(t),
                InterpPart::Expr(e) => match ops::default_of(&self.eval_expr(e, env, ctx)) {
                    Value::Str(s) => out.extend_from_slice(s.as_bytes()),
                    Value::Bytes(b) => out.extend_from_slice(&b),
                    Value::Num(n) => out.extend_from_slice(n.to_string().as_bytes()),
                    Value::Bool(b) => out.extend_from_slice(b.to_string().as_bytes()),
                    Value::Bottom(e) => return Value::Bottom(e),
                    v @ (Value::Struct(_) | Value::List(_) | Value::Null) => {
                        let message = format!("invalid interpolation: cannot use {v} as string");
                        return Value::error(ErrorKind::Eval, message);
                    }
                    v => {
                        let message =
                            format!("invalid interpolation: non-concrete value {v} (type {})", v.kinds().name());
                        return Value::error(ErrorKind::Incomplete, message);
                    }
                },
            }
        }
        match i.kind {
            StringKind::String => Value::Str(Rc::from(valid_utf8(&out))),
            StringKind::Bytes => Value::Bytes(Rc::from(out)),
        }
    }

    fn eval_call(&mut self, func: &'a Expr, args: &'a [Expr], env: &Env<'a>, ctx: VId) -> Value {
        let f = self.eval_expr(func, env, ctx);
        let name = match f {
            Value::Func(name) => name,
            Value::Bottom(_) => return f,
            other => return Value::error(ErrorKind::Eval, format!("cannot call non-function {other}")),
        };
        let values: Vec<Value> = args.iter().map(|a| self.eval_expr(a, env, ctx)).collect();
        crate::builtins::call(self, name, values, ctx)
    }
}

fn is_nodeish(v: &Value) -> bool {
    match v {
        Value::Struct(_) | Value::List(_) => true,
        Value::Disj(d) => d.branches.iter().any(|(b, _)| is_nodeish(b)),
        _ => false,
    }
}

fn is_bottom_literal(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Bottom => true,
        ExprKind::Paren(inner) => is_bottom_literal(inner),
        _ => false,
    }
}

fn collect_disjuncts<'a>(e: &'a Expr, out: &mut Vec<(&'a Expr, bool)>) {
    match &e.kind {
        ExprKind::Binary { op: BinaryOp::Disjunction, lhs, rhs } => {
            collect_disjuncts(lhs, out);
            collect_disjuncts(rhs, out);
        }
        ExprKind::Unary { op: UnaryOp::Default, operand } => out.push((operand, true)),
        _ => out.push((e, false)),
    }
}

/// Bytes as a string the way Go's `strings.ToValidUTF8` makes one, as the official tool does when it
/// interpolates bytes into a string: each run of invalid bytes becomes one U+FFFD (`'a\x80\x95a'` gives
/// `"a\u{FFFD}a"`, where `String::from_utf8_lossy` would write two).
fn valid_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut after_invalid = false;
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        let invalid = !chunk.invalid().is_empty();
        let continues_a_run = after_invalid && chunk.valid().is_empty();
        if invalid && !continues_a_run {
            out.push(char::REPLACEMENT_CHARACTER);
        }
        after_invalid = invalid;
    }
    out
}

/// The label a selector names: `.x` an identifier's, `."x"` a string's.
fn selector_label(selector: &ast::Selector) -> Label {
    match selector {
        ast::Selector::Ident(id) => Label::ident(Rc::from(&*id.name)),
        ast::Selector::String(s) => Label::string(Rc::from(&*s.as_str())),
    }
}

fn find_decl<'a>(decls: &'a [Decl], name: &str, vid: VId, env: &Env<'a>) -> Option<Found<'a>> {
    for decl in decls {
        match decl {
            Decl::Field(f) => {
                let postfix = f.label.postfix_alias.as_ref();
                let alias = f.label.alias.as_ref().is_some_and(|a| &*a.name == name)
                    || postfix.and_then(|p| p.value.as_ref()).is_some_and(|a| &*a.name == name);
                let label_alias = postfix.and_then(|p| p.label.as_ref()).is_some_and(|a| &*a.name == name);
                let matches = matches!(&f.label.kind, LabelKind::Ident(id) if &*id.name == name);
                if alias || matches || label_alias {
                    let label = match &f.label.kind {
                        LabelKind::Ident(id) => Label::ident(Rc::from(&*id.name)),
                        LabelKind::String(s) => Label::string(Rc::from(&*s.as_str())),
                        LabelKind::Dynamic(_) | LabelKind::Interpolation(_) if !label_alias => {
                            return Some(Found::Dynamic(f, vid, env.clone()));
                        }
                        LabelKind::Pattern(_) if !matches => continue,
                        _ => return Some(Found::Value(unsupported("alias of a dynamic or pattern label"))),
                    };
                    if let (true, Some(name)) = (label_alias, label.name()) {
                        return Some(Found::Value(Value::string(name)));
                    }
                    return Some(Found::Field(vid, label));
                }
            }
            Decl::Let(l) if &*l.name.name == name => return Some(Found::Let(&l.value, env.clone())),
            _ => {}
        }
    }
    None
}

/// Builds a disjunction value from branches (used by `or`).
pub(crate) fn disjunction(branches: Vec<Value>) -> Value {
    let d = Disj { branches: branches.into_iter().map(|b| (b, false)).collect(), has_default: false };
    ops::normalize(d.branches, false)
}

impl<'a> Evaluator<'a> {
    /// Resolves a reference expression (`a`, `a.b`, `a["b"]`) to the node it names.
    fn resolve_vertex(&mut self, expr: &'a Expr, env: &Env<'a>, ctx: VId) -> Result<VId, Value> {
        match &expr.kind {
            ExprKind::Ident(id) => match self.lookup(&id.name, env) {
                Some(Found::Field(vid, label)) => {
                    self.eval_vertex(vid);
                    self.field_of(vid, &label).ok_or_else(|| Value::error(ErrorKind::Cycle, "cycle"))
                }
                _ => Err(self.eval_expr(expr, env, ctx)),
            },
            ExprKind::Selector { base, selector } => {
                let base = match self.resolve_vertex(base, env, ctx) {
                    Ok(v) => self.vertex_value(v),
                    Err(e) => e,
                };
                self.select(base, &selector_label(selector))
            }
            ExprKind::Paren(inner) => self.resolve_vertex(inner, env, ctx),
            _ => Err(self.eval_expr(expr, env, ctx)),
        }
    }

    /// Exports the value of an expression evaluated at the package root (`-e expr`).
    pub fn export_expr(&mut self, expr: &'a Expr, errors: &mut Vec<crate::Diagnostic>) -> Option<crate::Data> {
        let root = self.root;
        let env = self.root_env(0);
        self.eval_vertex(root);
        let vid = match self.resolve_vertex(expr, &env, root) {
            Ok(v) => v,
            Err(value) => {
                let conj = Conj {
                    src: Src::Value(value),
                    env: None,
                    groups: Rc::from([]),
                    embed: None,
                    via: None,
                    explicit: false,
                };
                let t = self.new_vertex(None, None);
                self.vertices[t].conjs.push(conj);
                t
            }
        };
        self.export_node(vid, errors)
    }
}

/// List arithmetic (`[1] + [2]`, `[1] * 2`) is an error since language v0.11, whatever the module's language
/// version, as in the official `cue`.
fn list_arithmetic(op: BinaryOp, a: &Value, b: &Value) -> Option<Value> {
    let (name, instead) = match (op, a, b) {
        (BinaryOp::Add, Value::List(_), Value::List(_)) => ("Addition", "list.Concat"),
        (BinaryOp::Mul, Value::List(_), Value::Num(_)) | (BinaryOp::Mul, Value::Num(_), Value::List(_)) => {
            ("Multiplication", "list.Repeat")
        }
        _ => return None,
    };
    let message =
        format!("{name} of lists is superseded by {instead}; see https://cuelang.org/e/v0.11-list-arithmetic");
    Some(Value::error(ErrorKind::Eval, message))
}
