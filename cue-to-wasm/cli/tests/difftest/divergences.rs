//! The checked-in list of known divergences (`cli/tests/divergences.txt`): one `kind:id  reason` per line,
//! `#` comments. The differential test fails on a divergence that is not listed, reports listed entries that
//! now agree, and can rewrite the list (`PEQUOD_UPDATE_DIVERGENCES=1`), keeping the reasons of entries that
//! still diverge and the entries of items this run did not check.

use std::collections::BTreeMap;
use std::path::Path;

/// The comment block at the top of the list.
const HEADER: &str = "\
# Known divergences between `cue-to-wasm` and the official `cue` (see cli/tests/differential.rs).
# One entry a line: `kind:id  reason`. Kinds: corpus:<case> (shared/cue-conformance), module:<dir>
# (modules/), fixture:<name> (cue-to-wasm/testdata), gen:<seed> (generated programs).
# The differential test fails on any divergence missing here; the list may only shrink.
# Regenerate (keeps the reasons of entries that still diverge):
#   PEQUOD_UPDATE_DIVERGENCES=1 cargo test -p cue-to-wasm --test differential -- --nocapture
";

/// The known divergences: id to reason.
#[derive(Debug, Default)]
pub struct Known {
    /// Entries by id.
    pub entries: BTreeMap<String, String>,
}

impl Known {
    /// Reads the list; a missing file is an empty list.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let mut entries = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            if !id.contains(':') {
                return Err(format!("{}:{}: expected `kind:id  reason`, found {line:?}", path.display(), n + 1));
            }
            entries.insert(id.to_string(), reason.trim().to_string());
        }
        Ok(Self { entries })
    }
}

/// The outcome of one checked item: `None` when the tools agree, else the divergence.
pub type Outcomes = BTreeMap<String, Option<String>>;

/// How this run's outcomes relate to the list.
#[derive(Debug, Default)]
pub struct Reconciled {
    /// Divergences not on the list: id and description.
    pub new: Vec<(String, String)>,
    /// Listed entries that now agree.
    pub fixed: Vec<String>,
    /// Listed entries that still diverge.
    pub still: usize,
}

/// Compares the outcomes with the list.
pub fn reconcile(known: &Known, outcomes: &Outcomes) -> Reconciled {
    let mut r = Reconciled::default();
    for (id, outcome) in outcomes {
        match (outcome, known.entries.contains_key(id)) {
            (Some(description), false) => r.new.push((id.clone(), description.clone())),
            (Some(_), true) => r.still += 1,
            (None, true) => r.fixed.push(id.clone()),
            (None, false) => {}
        }
    }
    r
}

/// Rewrites the list: entries of items that were checked are replaced by this run's divergences (keeping
/// known reasons), entries of items that were not checked stay.
pub fn write_updated(path: &Path, known: &Known, outcomes: &Outcomes) -> Result<usize, String> {
    let mut entries: BTreeMap<String, String> = known
        .entries
        .iter()
        .filter(|(id, _)| !outcomes.contains_key(*id))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (id, outcome) in outcomes {
        if let Some(description) = outcome {
            let reason = known.entries.get(id).filter(|r| !r.is_empty()).unwrap_or(description);
            entries.insert(id.clone(), reason.clone());
        }
    }
    let mut text = String::from(HEADER);
    for (id, reason) in &entries {
        text.push_str(id);
        text.push_str("  ");
        text.push_str(&reason.replace('\n', " "));
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(entries.len())
}
