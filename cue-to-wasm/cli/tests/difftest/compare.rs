//! Comparing one run of each tool by the rules of `shared/cue-conformance/replay.py`: both succeed or both
//! fail; equal JSON values (or identical bytes for non-JSON output); for failures, the same error class.

use serde_json::Value;

use super::kinds::{Facts, Kind, classify};
use super::tools::Run;

/// The error class of a failed run's stderr (`other` when no class matches, `timeout` when it was stopped).
pub fn error_class(run: &Run) -> &'static str {
    if run.timed_out {
        return "timeout";
    }
    super::classes::error_class(&run.stderr)
}

/// How two runs compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Same outcome; `exact` when stdout is also byte-identical.
    Agree {
        /// Byte-identical stdout.
        exact: bool,
    },
    /// A divergence of a kind, described in one line.
    Diverge(Kind, String),
}

/// Compares the official run with ours. `json` compares stdout as JSON values (falling back to bytes when
/// either side is not JSON, e.g. an empty stdout of a failure).
pub fn compare(official: &Run, ours: &Run, json: bool) -> Verdict {
    let exact = official.stdout == ours.stdout;
    let same_output = exact || (json && json_equal(&official.stdout, &ours.stdout));
    let (theirs, mine) = (error_class(official), error_class(ours));
    let facts = Facts { official_ok: official.ok(), ours_ok: ours.ok(), same_output, json, same_class: theirs == mine };
    match classify(facts) {
        None => Verdict::Agree { exact },
        Some(kind) => Verdict::Diverge(kind, describe(kind, official, ours, json)),
    }
}

/// One line about a divergence of a kind.
fn describe(kind: Kind, official: &Run, ours: &Run, json: bool) -> String {
    match kind {
        _ if ours.timed_out && !official.timed_out => "ours timed out".into(),
        Kind::SpuriousReject => {
            format!("official succeeds, ours fails ({}): {}", error_class(ours), first_line(&ours.stderr))
        }
        Kind::SilentAccept => {
            format!("official fails ({}): {}; ours succeeds", error_class(official), first_line(&official.stderr))
        }
        Kind::WrongErrorClass => format!(
            "error class differs: official {} ({}), ours {} ({})",
            error_class(official),
            first_line(&official.stderr),
            error_class(ours),
            first_line(&ours.stderr)
        ),
        Kind::WrongValue | Kind::OutputDiffers => describe_output_difference(official, ours, json),
    }
}

fn json_equal(a: &[u8], b: &[u8]) -> bool {
    match (serde_json::from_slice::<Value>(a), serde_json::from_slice::<Value>(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn describe_output_difference(official: &Run, ours: &Run, json: bool) -> String {
    if json {
        if let (Ok(a), Ok(b)) =
            (serde_json::from_slice::<Value>(&official.stdout), serde_json::from_slice::<Value>(&ours.stdout))
        {
            let path = first_difference(&a, &b, String::new());
            return format!("values differ at {}", if path.is_empty() { "the root" } else { &path });
        }
        if serde_json::from_slice::<Value>(&ours.stdout).is_err() {
            return format!("ours printed no JSON value: {}", first_line(&ours.stdout));
        }
    }
    "stdout differs".into()
}

/// The path (`a.b[2]`) of the first place two JSON values differ.
fn first_difference(a: &Value, b: &Value, path: String) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) if v == w => {}
                    Some(w) => return first_difference(v, w, join(&path, k)),
                    None => return format!("{} (missing in ours)", join(&path, k)),
                }
            }
            match y.keys().find(|k| !x.contains_key(*k)) {
                Some(k) => format!("{} (only in ours)", join(&path, k)),
                None => path,
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            match x.iter().zip(y).enumerate().find(|(_, (v, w))| v != w) {
                Some((i, (v, w))) => first_difference(v, w, format!("{path}[{i}]")),
                None => path,
            }
        }
        _ => format!("{path} (official {}, ours {})", clip(&a.to_string(), 40), clip(&b.to_string(), 40)),
    }
}

fn join(path: &str, label: &str) -> String {
    if path.is_empty() { label.to_string() } else { format!("{path}.{label}") }
}

/// The first non-empty line of some output, shortened.
pub fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    clip(text.lines().find(|l| !l.trim().is_empty()).unwrap_or("(empty)").trim(), 100)
}

/// Shortens text to at most `max` characters.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(max).collect();
        short.push('…');
        short
    }
}
