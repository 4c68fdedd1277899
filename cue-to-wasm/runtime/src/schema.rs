//! The JSON Schema (draft 2020-12) of a module's `#Input`, generated from the evaluated definition.
//!
//! Covered: basic types (`int` → `integer`, `float`/`number` → `number`, …), bounds (`>=0` → `minimum`,
//! `<10` → `exclusiveMaximum`, `=~` → `pattern`, `!=` → `not.const`), concrete values (`const`),
//! disjunctions of concrete values (`enum`) and of types (`anyOf`), defaults (`*v | …` → `default`),
//! required fields (`a!:` and regular fields without a concrete value or default), optional fields (`a?:`),
//! nested structs (`additionalProperties: false` when the struct declares fields) and lists (`items` from
//! `[...T]`, `prefixItems` from closed lists). Not reflected: pattern constraints (`[string]: T`) and
//! constraints written with builtins (`strings.MaxRunes(3)`), which the schema leaves open.

use cue_eval::package::Session;
use cue_eval::value::{BoundOp, Disj, Kinds, VId, Value};
use cue_eval::vertex::ArcKind;
use serde_json::{Map, Value as Json, json};

/// How deep nested structs are described; deeper ones are left open.
const MAX_DEPTH: usize = 32;

/// The schema of the `#Input` node `input`.
pub(crate) fn input_schema(session: &mut Session<'_>, input: VId, name: &str) -> Json {
    let mut schema = Map::new();
    schema.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    schema.insert("title".into(), json!(format!("{name} input")));
    schema.extend(node(session, input, 0));
    Json::Object(schema)
}

fn node(session: &mut Session<'_>, v: VId, depth: usize) -> Map<String, Json> {
    let value = session.raw_value(v);
    value_schema(session, &value, Some(v), depth)
}

fn value_schema(session: &mut Session<'_>, value: &Value, field: Option<VId>, depth: usize) -> Map<String, Json> {
    let mut out = Map::new();
    match value {
        Value::Top | Value::Bottom(_) | Value::Func(_) => {}
        Value::Null | Value::Bool(_) | Value::Num(_) | Value::Str(_) => {
            out.insert("const".into(), atom(value).unwrap_or(Json::Null));
        }
        Value::Bytes(_) => {
            out.insert("type".into(), json!("string"));
            out.insert("contentEncoding".into(), json!("base64"));
        }
        Value::Kind(_) | Value::Bound(..) | Value::Conj(_) | Value::Validator(_) => {
            if let Some(ty) = types(value.kinds()) {
                out.insert("type".into(), ty);
            }
            bounds(value, &mut out);
        }
        Value::Disj(disj) => disjunction(session, disj, field, depth, &mut out),
        Value::Struct(s) if depth < MAX_DEPTH => object(session, *s, depth, &mut out),
        Value::Struct(_) => {
            out.insert("type".into(), json!("object"));
        }
        Value::List(l) => array(session, *l, field, depth, &mut out),
    }
    out
}

fn object(session: &mut Session<'_>, s: VId, depth: usize, out: &mut Map<String, Json>) {
    out.insert("type".into(), json!("object"));
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (label, kind, vid) in session.children(s) {
        let Some(name) = label.name().filter(|_| label.is_regular()) else { continue };
        let name = name.to_owned();
        let needed = match kind {
            ArcKind::Required => true,
            ArcKind::Regular => needs_value(session, vid, depth),
            ArcKind::Optional => false,
        };
        if needed {
            required.push(json!(name));
        }
        properties.insert(name, Json::Object(node(session, vid, depth + 1)));
    }
    if !properties.is_empty() {
        out.insert("properties".into(), Json::Object(properties));
        out.insert("additionalProperties".into(), json!(false));
    }
    if !required.is_empty() {
        out.insert("required".into(), Json::Array(required));
    }
}

fn array(session: &mut Session<'_>, l: VId, field: Option<VId>, depth: usize, out: &mut Map<String, Json>) {
    out.insert("type".into(), json!("array"));
    let elements = session.children(l);
    if !elements.is_empty() {
        let items: Vec<Json> =
            elements.iter().map(|(_, _, vid)| Json::Object(node(session, *vid, depth + 1))).collect();
        out.insert("prefixItems".into(), Json::Array(items));
    }
    let element = field.and_then(|v| session.list_element(v));
    match element {
        Some(element) => {
            let items = value_schema(session, &element, None, depth + 1);
            out.insert("items".into(), Json::Object(items));
        }
        None if !session.is_open_list(l) => {
            out.insert("items".into(), json!(false));
        }
        None => {}
    }
}

fn disjunction(session: &mut Session<'_>, disj: &Disj, field: Option<VId>, depth: usize, out: &mut Map<String, Json>) {
    let defaults: Vec<&Value> = disj.branches.iter().filter(|(_, d)| *d && disj.has_default).map(|(v, _)| v).collect();
    if let [default] = defaults.as_slice()
        && let Some(default) = concrete(session, default)
    {
        out.insert("default".into(), default);
    }
    let branches: Vec<&Value> = disj.branches.iter().map(|(v, _)| v).collect();
    if branches.iter().all(|b| b.is_atom()) {
        let values: Vec<Json> = branches.iter().filter_map(|b| atom(b)).collect();
        if let Some(ty) = types(Kinds(branches.iter().fold(0, |k, b| k | b.kinds().0))) {
            out.insert("type".into(), ty);
        }
        out.insert("enum".into(), Json::Array(values));
        return;
    }
    // `*1 | int`: a concrete branch covered by a type branch adds nothing but the default.
    let open_kinds = branches.iter().filter(|b| !b.is_atom()).fold(0, |k, b| k | b.kinds().0);
    let kept: Vec<&Value> = branches.into_iter().filter(|b| !b.is_atom() || b.kinds().0 & !open_kinds != 0).collect();
    let mut schemas: Vec<Map<String, Json>> = kept.iter().map(|b| value_schema(session, b, field, depth)).collect();
    if schemas.len() == 1 {
        out.extend(schemas.remove(0));
    } else {
        out.insert("anyOf".into(), Json::Array(schemas.into_iter().map(Json::Object).collect()));
    }
}

/// Whether a regular field needs a value from the user: not concrete, no default, or a struct with such a
/// field inside.
fn needs_value(session: &mut Session<'_>, v: VId, depth: usize) -> bool {
    match session.value(v) {
        Value::Struct(s) if depth < MAX_DEPTH => {
            session.children(s).into_iter().filter(|(label, _, _)| label.is_regular()).any(
                |(_, kind, vid)| match kind {
                    ArcKind::Required => true,
                    ArcKind::Regular => needs_value(session, vid, depth + 1),
                    ArcKind::Optional => false,
                },
            )
        }
        value => !(value.is_atom() || matches!(value, Value::List(_) | Value::Struct(_) | Value::Bottom(_))),
    }
}

fn bounds(value: &Value, out: &mut Map<String, Json>) {
    match value {
        Value::Conj(parts) => parts.iter().for_each(|p| bounds(p, out)),
        Value::Bound(op, limit) => {
            let key = match (op, &**limit) {
                (BoundOp::Ge, Value::Num(_)) => "minimum",
                (BoundOp::Gt, Value::Num(_)) => "exclusiveMinimum",
                (BoundOp::Le, Value::Num(_)) => "maximum",
                (BoundOp::Lt, Value::Num(_)) => "exclusiveMaximum",
                (BoundOp::Match, Value::Str(pattern)) => {
                    out.insert("pattern".into(), json!(&**pattern));
                    return;
                }
                (BoundOp::NotMatch, Value::Str(pattern)) => {
                    out.insert("not".into(), json!({"pattern": &**pattern}));
                    return;
                }
                (BoundOp::Ne, other) => {
                    if let Some(value) = atom(other) {
                        out.insert("not".into(), json!({"const": value}));
                    }
                    return;
                }
                _ => return,
            };
            if let Some(limit) = atom(limit) {
                out.insert(key.into(), limit);
            }
        }
        _ => {}
    }
}

/// The JSON type keyword for a set of kinds; `None` when any value is allowed.
fn types(kinds: Kinds) -> Option<Json> {
    if kinds.0 == 255 || kinds.0 == 0 {
        return None;
    }
    let mut names = Vec::new();
    let table = [
        (Kinds::NULL, "null"),
        (Kinds::BOOL, "boolean"),
        (Kinds::STRING, "string"),
        (Kinds::BYTES, "string"),
        (Kinds::STRUCT, "object"),
        (Kinds::LIST, "array"),
    ];
    if kinds.contains(Kinds::FLOAT) {
        names.push("number");
    } else if kinds.contains(Kinds::INT) {
        names.push("integer");
    }
    for (kind, name) in table {
        if kinds.contains(kind) && !names.contains(&name) {
            names.push(name);
        }
    }
    match names.as_slice() {
        [one] => Some(json!(one)),
        _ => Some(json!(names)),
    }
}

fn atom(value: &Value) -> Option<Json> {
    match value {
        Value::Null => Some(Json::Null),
        Value::Bool(b) => Some(json!(b)),
        Value::Num(n) => serde_json::from_str(&n.to_string()).ok(),
        Value::Str(s) => Some(json!(&**s)),
        _ => None,
    }
}

/// A concrete default as JSON: an atom, or a struct or list that exports.
fn concrete(session: &mut Session<'_>, value: &Value) -> Option<Json> {
    match value {
        Value::Struct(v) | Value::List(v) => session.export(*v).ok().map(crate::contract::to_json),
        other => atom(other),
    }
}
