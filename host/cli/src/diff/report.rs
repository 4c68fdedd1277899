//! What `pequod diff` prints and how it exits, from a [`Preview`]: pure functions.

use std::fmt::Write as _;

use pequod_operator::preview::{Conflict, Fate, NodePreview, Outcome, Preview, StalePreview};
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::clean::{mask_secrets, without_noise};

/// What one node or inventory entry comes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing changes.
    Unchanged,
    /// The object would be created.
    Create,
    /// The object would be changed.
    Update,
    /// The object left the graph and would be deleted.
    Prune,
    /// The object left the graph and would be left in place without Pequod's ownership.
    Orphan,
    /// The apply (or the preview) would fail.
    Error,
}

/// How `pequod diff` exits, after the `kubectl diff` convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing would change: exit 0.
    NoChanges,
    /// Something would change: exit 1.
    Changes,
    /// Some node cannot be applied (or previewed): exit 6, whatever else would change.
    NodeErrors,
}

impl Verdict {
    /// The verdict over every node's and entry's change.
    pub fn of(changes: &[Change]) -> Self {
        if changes.contains(&Change::Error) {
            Verdict::NodeErrors
        } else if changes.iter().any(|change| *change != Change::Unchanged) {
            Verdict::Changes
        } else {
            Verdict::NoChanges
        }
    }

    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::NoChanges => 0,
            Verdict::Changes => 1,
            Verdict::NodeErrors => 6,
        }
    }
}

/// What applying a node comes to: an apply refused, or a conflict the operator would not force, is an error.
pub fn node_change(node: &NodePreview) -> Change {
    match (&node.outcome, &node.live) {
        (Outcome::Refused(_), _) => Change::Error,
        (Outcome::Kept, _) => Change::Unchanged,
        (Outcome::Applied { conflict: Some(Conflict { forced: false, .. }), .. }, _) => Change::Error,
        (Outcome::Applied { .. }, None) => Change::Create,
        (Outcome::Applied { after, .. }, Some(live)) if without_noise(live) == without_noise(after) => {
            Change::Unchanged
        }
        (Outcome::Applied { .. }, Some(_)) => Change::Update,
    }
}

/// What pruning comes to for an entry that left the graph.
pub fn stale_change(fate: &Fate) -> Change {
    match fate {
        Fate::Pruned { .. } => Change::Prune,
        Fate::Orphaned(_) => Change::Orphan,
        Fate::Untouched(_) | Fate::Gone => Change::Unchanged,
        Fate::Unknown(_) => Change::Error,
    }
}

/// Every change of the preview, nodes first.
pub fn changes(preview: &Preview) -> Vec<Change> {
    let nodes = preview.nodes.iter().map(node_change);
    nodes.chain(preview.stale.iter().map(|entry| stale_change(&entry.fate))).collect()
}

/// The whole report: one section per node that changes or fails, one line per entry that left the graph.
pub fn report(preview: &Preview, colour: bool) -> String {
    let mut text = String::new();
    for node in &preview.nodes {
        text.push_str(&node_section(node, colour));
    }
    for entry in &preview.stale {
        text.push_str(&stale_line(entry));
    }
    text
}

/// The report of one node: nothing when it does not change.
fn node_section(node: &NodePreview, colour: bool) -> String {
    let change = node_change(node);
    let what = format!("{} (node {})", node.object, node.id);
    match &node.outcome {
        Outcome::Refused(message) => format!("error {what}: {message}\n"),
        Outcome::Kept => String::new(),
        Outcome::Applied { .. } if change == Change::Unchanged => String::new(),
        Outcome::Applied { after, conflict } => {
            let mut text = conflict.as_ref().map(|conflict| conflict_line(&what, conflict)).unwrap_or_default();
            let verb = if node.live.is_none() { "create" } else { "update" };
            let _ = writeln!(text, "{verb} {what}");
            text.push_str(&object_diff(node, after, colour));
            text
        }
    }
}

fn conflict_line(what: &str, conflict: &Conflict) -> String {
    let consequence = if conflict.forced {
        "the operator forces ownership (applyPolicy.conflictPolicy: Force, or an adoption); the forced result follows"
    } else {
        "the operator's apply would fail; set the node's applyPolicy.conflictPolicy: Force to take the fields \
         over, or have the other manager give them up. The forced result follows"
    };
    format!("conflict {what}: {}; {consequence}\n", conflict.message)
}

fn stale_line(entry: &StalePreview) -> String {
    let what = format!("{} (node {})", entry.object, entry.node);
    match &entry.fate {
        Fate::Pruned { grace: None } => format!("would be pruned {what}\n"),
        Fate::Pruned { grace: Some(grace) } => format!("would be pruned {what} after its grace period of {grace}\n"),
        Fate::Orphaned(why) => format!("would be orphaned {what}: {why}\n"),
        Fate::Untouched(why) => format!("left alone {what}: {why}\n"),
        Fate::Gone => format!("gone already {what}\n"),
        Fate::Unknown(error) => format!("error {what}: cannot tell what pruning would do: {error}\n"),
    }
}

/// The unified diff of the live object and the dry-run result, both without noise and with Secret values
/// masked.
fn object_diff(node: &NodePreview, after: &Value, colour: bool) -> String {
    let mut before = node.live.as_ref().map(without_noise);
    let mut after = without_noise(after);
    mask_secrets(before.as_mut(), Some(&mut after));
    let yaml = |object: &Value| pequod_yaml::to_string(&pequod_yaml::Node::from(object));
    let name = object_path(&node.object);
    let live_label = if before.is_some() { format!("live/{name}") } else { "/dev/null".to_owned() };
    unified(
        &before.as_ref().map(yaml).unwrap_or_default(),
        &yaml(&after),
        (&live_label, &format!("dry-run/{name}")),
        colour,
    )
}

/// `Kind/namespace/name`, for diff headers.
fn object_path(object: &pequod_operator::preview::ObjectName) -> String {
    match &object.namespace {
        Some(namespace) => format!("{}/{namespace}/{}", object.kind, object.name),
        None => format!("{}/{}", object.kind, object.name),
    }
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

/// A unified diff with three lines of context, red and green when `colour`.
pub fn unified(before: &str, after: &str, (old, new): (&str, &str), colour: bool) -> String {
    let diff = TextDiff::from_lines(before, after);
    let mut text = format!("--- {old}\n+++ {new}\n");
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        text.push_str(&paint(&format!("{}\n", hunk.header()), CYAN, colour));
        for change in hunk.iter_changes() {
            let (sign, paint_with) = match change.tag() {
                ChangeTag::Delete => ('-', Some(RED)),
                ChangeTag::Insert => ('+', Some(GREEN)),
                ChangeTag::Equal => (' ', None),
            };
            let mut line = format!("{sign}{}", change.value());
            if change.missing_newline() {
                line.push_str("\n\\ No newline at end of file\n");
            }
            text.push_str(&match paint_with {
                Some(code) => paint(&line, code, colour),
                None => line,
            });
        }
    }
    text
}

fn paint(line: &str, code: &str, colour: bool) -> String {
    if !colour {
        return line.to_owned();
    }
    let body = line.strip_suffix('\n').unwrap_or(line);
    format!("{code}{body}{RESET}\n")
}

/// The summary line, e.g. `1 to create, 2 to update, 1 to prune, 0 to orphan, 0 errors`.
pub fn summary(changes: &[Change]) -> String {
    let count = |wanted: Change| changes.iter().filter(|change| **change == wanted).count();
    let errors = count(Change::Error);
    format!(
        "{} to create, {} to update, {} to prune, {} to orphan, {} unchanged, {errors} error{}",
        count(Change::Create),
        count(Change::Update),
        count(Change::Prune),
        count(Change::Orphan),
        count(Change::Unchanged),
        if errors == 1 { "" } else { "s" },
    )
}

#[cfg(test)]
mod tests {
    use pequod_operator::preview::ObjectName;
    use serde_json::json;

    use super::*;

    fn node(live: Option<Value>, outcome: Outcome) -> NodePreview {
        let object = ObjectName { kind: "ConfigMap".into(), namespace: Some("team".into()), name: "web".into() };
        NodePreview { id: "config".into(), object, live, outcome }
    }

    fn config(color: &str, resource_version: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "web", "namespace": "team", "resourceVersion": resource_version},
               "data": {"color": color}})
    }

    fn applied(after: Value, conflict: Option<Conflict>) -> Outcome {
        Outcome::Applied { after, conflict }
    }

    #[test]
    fn what_each_node_comes_to() {
        let conflict = |forced| Some(Conflict { message: "conflict with \"kubectl\"".into(), forced });
        let cases = [
            (node(None, applied(config("blue", "1"), None)), Change::Create),
            (node(Some(config("blue", "1")), applied(config("blue", "2"), None)), Change::Unchanged),
            (node(Some(config("blue", "1")), applied(config("green", "2"), None)), Change::Update),
            (node(Some(config("blue", "1")), Outcome::Kept), Change::Unchanged),
            (node(None, Outcome::Refused("forbidden".into())), Change::Error),
            (node(Some(config("red", "1")), applied(config("blue", "2"), conflict(true))), Change::Update),
            (node(Some(config("red", "1")), applied(config("blue", "2"), conflict(false))), Change::Error),
        ];
        for (node, expected) in cases {
            assert_eq!(node_change(&node), expected, "{node:?}");
        }
    }

    #[test]
    fn what_each_stale_entry_comes_to() {
        let cases = [
            (Fate::Pruned { grace: None }, Change::Prune),
            (Fate::Orphaned("kept"), Change::Orphan),
            (Fate::Untouched("not ours".into()), Change::Unchanged),
            (Fate::Gone, Change::Unchanged),
            (Fate::Unknown("forbidden".into()), Change::Error),
        ];
        for (fate, expected) in cases {
            assert_eq!(stale_change(&fate), expected, "{fate:?}");
        }
    }

    #[test]
    fn exit_codes_follow_kubectl_diff() {
        use Change::*;
        let cases: [(&[Change], Verdict, u8); 6] = [
            (&[], Verdict::NoChanges, 0),
            (&[Unchanged, Unchanged], Verdict::NoChanges, 0),
            (&[Unchanged, Create], Verdict::Changes, 1),
            (&[Prune], Verdict::Changes, 1),
            (&[Orphan, Unchanged], Verdict::Changes, 1),
            (&[Update, Error, Unchanged], Verdict::NodeErrors, 6),
        ];
        for (changes, verdict, code) in cases {
            assert_eq!(Verdict::of(changes), verdict, "{changes:?}");
            assert_eq!(verdict.exit_code(), code);
        }
    }

    #[test]
    fn an_update_is_a_unified_diff_without_noise() {
        let update = node(Some(config("blue", "1")), applied(config("green", "2"), None));
        let text = node_section(&update, false);
        let expected = "update ConfigMap team/web (node config)\n--- live/ConfigMap/team/web\n\
                        +++ dry-run/ConfigMap/team/web\n@@ -4,4 +4,4 @@\n   name: web\n   namespace: team\n \
                        data:\n-  color: blue\n+  color: green\n";
        assert_eq!(text, expected);
        assert!(!text.contains("resourceVersion"));
        let coloured = node_section(&update, true);
        assert!(coloured.contains("\x1b[31m-  color: blue\x1b[0m\n") && coloured.contains("\x1b[32m+  color: green"));
    }

    #[test]
    fn a_new_object_is_all_added_and_an_unchanged_one_prints_nothing() {
        let create = node_section(&node(None, applied(config("blue", "1"), None)), false);
        let body: Vec<&str> = create.lines().skip(4).collect();
        assert!(create.starts_with("create ConfigMap team/web (node config)\n--- /dev/null\n"), "{create}");
        assert!(!body.is_empty() && body.iter().all(|line| line.starts_with('+')), "{create}");
        let unchanged = node(Some(config("blue", "1")), applied(config("blue", "2"), None));
        assert_eq!(node_section(&unchanged, false), "");
    }

    #[test]
    fn conflicts_and_stale_entries_are_named() {
        let conflict = Conflict {
            message: "Apply failed with 1 conflict: conflict with \"kubectl\": .data.color".into(),
            forced: false,
        };
        let text = node_section(&node(Some(config("red", "1")), applied(config("blue", "2"), Some(conflict))), false);
        assert!(text.starts_with("conflict ConfigMap team/web (node config): Apply failed with 1 conflict"), "{text}");
        assert!(text.contains("apply would fail") && text.contains("-  color: red"), "{text}");
        let object = ObjectName { kind: "Secret".into(), namespace: Some("team".into()), name: "db".into() };
        let stale = |fate| StalePreview { node: "db".into(), object: object.clone(), fate };
        assert_eq!(stale_line(&stale(Fate::Pruned { grace: None })), "would be pruned Secret team/db (node db)\n");
        assert_eq!(stale_line(&stale(Fate::Orphaned("kept"))), "would be orphaned Secret team/db (node db): kept\n");
        assert_eq!(
            summary(&[Change::Create, Change::Error]),
            "1 to create, 0 to update, 0 to prune, 0 to orphan, 0 unchanged, 1 error"
        );
    }
}
