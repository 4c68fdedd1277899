//! One render: the host's input and context unified into the module, the graph read out of it, and every
//! error sorted into input violations, output violations, deferred nodes or a module failure.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use cue_eval::package::{Injection, Package, Session};
use cue_eval::vertex::ArcKind;
use cue_eval::{Data, Diagnostic, ErrorKind};
use pequod_graph::{Deferred, GRAPH_VERSION, Graph, GraphMetadata, Node, Phase, Violation};
use serde_json::Value;

use crate::path::{self, Segment};
use crate::{Module, RenderFailure};

pub(crate) fn render(module: &Module, input: &str, context: &str) -> Result<String, RenderFailure> {
    let input: Value = serde_json::from_str(input)
        .map_err(|e| RenderFailure::Failed(format!("the host sent an input that is not JSON: {e}")))?;
    let context: Value = serde_json::from_str(context)
        .map_err(|e| RenderFailure::Failed(format!("the host sent a context that is not JSON: {e}")))?;
    let mut text = String::from("{input: ");
    write_cue(&input, &mut text);
    text.push_str(", context: ");
    write_cue(&context, &mut text);
    text.push('}');
    let injection = Injection::parse(&text)
        .map_err(|e| RenderFailure::Failed(format!("cannot read the host's input as CUE: {e}")))?;
    let package = &module.package;
    let mut session = package.evaluate(Some(&injection));
    let root = session.root();

    if let Some((input, _)) = session.field(root, "input")
        && let Err(errors) = session.export(input)
    {
        return Err(RenderFailure::Rejected(input_violations(&errors)));
    }

    let graph = session.field(root, "graph").map(|(v, _)| v).ok_or_else(|| {
        RenderFailure::Failed("the module has no `graph` field; declare `graph: nodes: <id>: {object: {...}}`".into())
    })?;
    let Some((nodes, _)) = session.field(graph, "nodes") else {
        if let Err(errors) = session.export(graph) {
            return Err(RenderFailure::Failed(failure(package, &errors)));
        }
        return Err(RenderFailure::Failed("the module's `graph` has no `nodes` field".into()));
    };
    if let Err(errors) = check_struct(&mut session, nodes) {
        return Err(RenderFailure::Failed(failure(package, &errors)));
    }

    let mut failed: Vec<Diagnostic> = Vec::new();
    let mut output: Vec<Violation> = Vec::new();
    let mut built: Vec<Node> = Vec::new();
    let mut deferred: Vec<(String, String)> = Vec::new();
    for (label, kind, vid) in session.fields(nodes) {
        let Some(id) = label.name().filter(|_| label.is_regular() && kind != ArcKind::Optional) else { continue };
        let id = id.to_owned();
        match session.export(vid) {
            Ok(data) => match node_from(&id, data) {
                Ok(node) => built.push(node),
                Err(message) => return Err(RenderFailure::Failed(message)),
            },
            Err(errors) => match classify(package, errors) {
                NodeOutcome::Deferred(reason) => deferred.push((id, reason)),
                NodeOutcome::Broken { violations, failures } => {
                    output.extend(violations);
                    failed.extend(failures);
                }
            },
        }
    }
    if !failed.is_empty() {
        return Err(RenderFailure::Failed(failure(package, &failed)));
    }
    if !output.is_empty() {
        return Err(RenderFailure::Rejected(dedup(output)));
    }

    // Whatever depends on a deferred node waits with it.
    let mut waiting: BTreeSet<String> = deferred.iter().map(|(id, _)| id.clone()).collect();
    loop {
        let before = waiting.len();
        let (wait, keep): (Vec<Node>, Vec<Node>) =
            built.into_iter().partition(|node| node.depends_on.iter().any(|d| waiting.contains(d)));
        built = keep;
        for node in wait {
            let on: Vec<&str> = node.depends_on.iter().filter(|d| waiting.contains(*d)).map(String::as_str).collect();
            deferred.push((node.id.clone(), format!("depends on deferred node {}", on.join(", "))));
            waiting.insert(node.id);
        }
        if waiting.len() == before {
            break;
        }
    }

    let exports = match session.field(graph, "exports") {
        Some((vid, ArcKind::Regular)) => match session.export(vid) {
            Ok(data) => match to_json(data) {
                Value::Object(map) => Some(map),
                _ => return Err(RenderFailure::Failed("`graph.exports` must be a struct".into())),
            },
            Err(errors) => return Err(RenderFailure::Failed(failure(package, &errors))),
        },
        _ => None,
    };
    let deferred = deferred.into_iter().map(|(id, reason)| Deferred { id, reason }).collect();
    let graph = Graph {
        graph_version: GRAPH_VERSION.to_owned(),
        metadata: GraphMetadata {
            module: module.name.clone(),
            version: module.version.clone(),
            ..GraphMetadata::default()
        },
        nodes: built,
        violations: Vec::new(),
        exports,
        deferred,
    };
    serde_json::to_string(&graph).map_err(|e| RenderFailure::Failed(format!("cannot serialize the graph: {e}")))
}

/// Reports a node value that is an error or not a struct.
fn check_struct(session: &mut Session<'_>, v: usize) -> Result<(), Vec<Diagnostic>> {
    match session.value(v) {
        cue_eval::value::Value::Struct(_) => Ok(()),
        _ => session.export(v).map(|_| ()).and(Err(Vec::new())),
    }
}

/// Turns a node's exported data into a graph node with id `id`.
fn node_from(id: &str, data: Data) -> Result<Node, String> {
    let mut value = to_json(data);
    let Value::Object(map) = &mut value else {
        return Err(format!("graph.nodes.{id} must be a struct {{object, dependsOn, readyWhen, applyPolicy}}"));
    };
    map.insert("id".into(), Value::String(id.to_owned()));
    serde_json::from_value(value).map_err(|e| {
        format!("graph.nodes.{id} is not a valid node: {e} (a node has `object`, and optionally `dependsOn`, `readyWhen`, `applyPolicy`)")
    })
}

/// What went wrong in one node.
enum NodeOutcome {
    /// Incomplete only because of `context.observed`.
    Deferred(String),
    /// Output policy violations and module failures.
    Broken { violations: Vec<Violation>, failures: Vec<Diagnostic> },
}

fn classify(package: &Package, errors: Vec<Diagnostic>) -> NodeOutcome {
    let waits: Vec<&Diagnostic> = errors.iter().filter(|d| waits_for_observed(package, d)).collect();
    if !waits.is_empty() && waits.len() == errors.len() {
        let first = waits[0];
        let field = node_field(&path::parse(&first.path)).map(|(_, rest)| path::display(&rest)).unwrap_or_default();
        let at = first.error.positions.iter().find_map(|p| package.position(*p)).unwrap_or_default();
        return NodeOutcome::Deferred(format!(
            "{} is not known yet ({}; {at}); waiting for context.observed",
            if field.is_empty() { "the node".to_owned() } else { field },
            first.error.message
        ));
    }
    let mut violations = Vec::new();
    let mut failures = Vec::new();
    for d in errors {
        let segments = path::parse(&d.path);
        match node_field(&segments) {
            Some((node, rest))
                if is_policy_failure(d.error.kind) && rest.first() == Some(&Segment::Field("object".into())) =>
            {
                let mut at = vec![Segment::Field(node)];
                at.extend_from_slice(&rest[1..]);
                violations.push(Violation::error(Phase::Output, path::display(&at), d.error.message.clone()));
            }
            _ => failures.push(d),
        }
    }
    NodeOutcome::Broken { violations, failures }
}

/// Splits `graph.nodes.<id>.<rest>` into the id and the rest.
fn node_field(segments: &[Segment]) -> Option<(String, Vec<Segment>)> {
    match segments {
        [Segment::Field(g), Segment::Field(n), Segment::Field(id), rest @ ..] if g == "graph" && n == "nodes" => {
            Some((id.clone(), rest.to_vec()))
        }
        _ => None,
    }
}

/// Constraint failures in a rendered object (including a field a policy requires but the object lacks):
/// the module's output policies said no.
fn is_policy_failure(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Conflict | ErrorKind::OutOfBound | ErrorKind::NotAllowed | ErrorKind::User | ErrorKind::Required
    )
}

/// An incomplete value whose source mentions `observed`: the node needs state the cluster has not
/// reported yet. Anything else incomplete is a module bug and fails the render.
fn waits_for_observed(package: &Package, d: &Diagnostic) -> bool {
    matches!(d.error.kind, ErrorKind::Incomplete | ErrorKind::Cycle | ErrorKind::Undefined)
        && d.error.positions.iter().any(|p| package.line_from(*p).is_some_and(|line| line.contains("observed")))
}

fn input_violations(errors: &[Diagnostic]) -> Vec<Violation> {
    let violations = errors.iter().map(|d| {
        let segments = path::parse(&d.path);
        let relative = match segments.split_first() {
            Some((Segment::Field(first), rest)) if first == "input" => rest,
            _ => &segments[..],
        };
        let message = match d.error.message.strip_prefix("incomplete value ") {
            Some(ty) if d.error.kind == ErrorKind::Incomplete => format!("a value is required (expected {ty})"),
            _ => d.error.message.clone(),
        };
        Violation::error(Phase::Input, path::display(relative), message)
    });
    dedup(violations.collect())
}

fn dedup(violations: Vec<Violation>) -> Vec<Violation> {
    let mut out: Vec<Violation> = Vec::new();
    for v in violations {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// A module failure message: each error with its path and positions.
fn failure(package: &Package, errors: &[Diagnostic]) -> String {
    if errors.is_empty() {
        return "`graph.nodes` must be a struct of nodes keyed by id".into();
    }
    let mut out = String::new();
    for (i, d) in errors.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !d.path.is_empty() {
            let _ = write!(out, "{}: ", d.path);
        }
        out.push_str(&d.error.message);
        let positions: Vec<String> = d.error.positions.iter().filter_map(|p| package.position(*p)).collect();
        if !positions.is_empty() {
            let _ = write!(out, " ({})", positions.join(", "));
        }
    }
    out
}

/// Converts exported data to JSON.
pub(crate) fn to_json(data: Data) -> Value {
    match data {
        Data::Null => Value::Null,
        Data::Bool(b) => Value::Bool(b),
        Data::Num(n) => serde_json::from_str(&n).unwrap_or(Value::String(n)),
        Data::Str(s) => Value::String(s),
        Data::List(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Data::Object(fields) => Value::Object(fields.into_iter().map(|(k, v)| (k, to_json(v))).collect()),
    }
}

/// Writes JSON as a CUE literal: every label quoted, strings escaped, nothing interpolated.
pub(crate) fn write_cue(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_cue_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_cue(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_cue_string(key, out);
                out.push_str(": ");
                write_cue(item, out);
            }
            out.push('}');
        }
    }
}

fn write_cue_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
