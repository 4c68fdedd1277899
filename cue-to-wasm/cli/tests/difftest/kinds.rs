//! The kinds of divergence from the official `cue` (the table of the CUE issue "no silent wrong answers"),
//! shared by the conformance and differential tests: classifying one comparison, counting a run, printing the
//! table and holding the dangerous kinds under recorded ceilings.

use std::fmt;

/// How our run differs from the official one. The first two are the dangerous ones: a silent answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The official tool fails, ours succeeds: a constraint it enforces is not enforced.
    SilentAccept,
    /// Both succeed with different JSON values: another object than the official tool renders.
    WrongValue,
    /// The official tool succeeds, ours fails: a valid input is rejected.
    SpuriousReject,
    /// Both fail, for different reasons (error classes of `replay.py`).
    WrongErrorClass,
    /// Both agree on success or failure (and class), but the printed output differs: non-JSON output (YAML,
    /// text) or, where bytes are compared, field order and number formatting.
    OutputDiffers,
}

impl Kind {
    /// Every kind, in table order.
    pub const ALL: [Kind; 5] =
        [Kind::SilentAccept, Kind::WrongValue, Kind::SpuriousReject, Kind::WrongErrorClass, Kind::OutputDiffers];

    /// The kinds that must not grow: a silent answer that differs from the official one.
    pub fn is_silent(self) -> bool {
        matches!(self, Kind::SilentAccept | Kind::WrongValue)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::SilentAccept => "silent-accept",
            Kind::WrongValue => "wrong-value",
            Kind::SpuriousReject => "spurious-reject",
            Kind::WrongErrorClass => "wrong error class",
            Kind::OutputDiffers => "output differs",
        })
    }
}

/// What one comparison found, as facts; [`classify`] turns them into a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The official tool succeeded.
    pub official_ok: bool,
    /// Ours succeeded.
    pub ours_ok: bool,
    /// The outputs agree (as JSON values where the output is JSON, else byte for byte).
    pub same_output: bool,
    /// The output is compared as JSON values (a difference is then a different value).
    pub json: bool,
    /// For two failures: the error classes agree.
    pub same_class: bool,
}

/// The kind of divergence, `None` when the runs agree.
pub fn classify(f: Facts) -> Option<Kind> {
    match (f.official_ok, f.ours_ok) {
        (false, true) => Some(Kind::SilentAccept),
        (true, false) => Some(Kind::SpuriousReject),
        (false, false) if !f.same_class => Some(Kind::WrongErrorClass),
        (true, true) if !f.same_output && f.json => Some(Kind::WrongValue),
        _ if !f.same_output => Some(Kind::OutputDiffers),
        _ => None,
    }
}

/// Counts of one run: agreements and each kind of divergence.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Table {
    /// Items whose runs agree.
    pub agree: usize,
    counts: [usize; 5],
}

impl Table {
    /// Adds one item's outcome.
    pub fn add(&mut self, outcome: Option<Kind>) {
        match outcome {
            None => self.agree += 1,
            Some(kind) => self.counts[kind.index()] += 1,
        }
    }

    /// The number of items of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.counts[kind.index()]
    }

    /// All items counted.
    pub fn total(&self) -> usize {
        self.agree + self.counts.iter().sum::<usize>()
    }

    /// The table as printed: one line per kind, then the agreements.
    pub fn render(&self, title: &str) -> String {
        let mut out = format!("{title}\n  {:<20} {:>6}\n", "divergence", "items");
        for kind in Kind::ALL {
            let mark = if kind.is_silent() { "  <- silent" } else { "" };
            out.push_str(&format!("  {:<20} {:>6}{mark}\n", kind.to_string(), self.count(kind)));
        }
        out.push_str(&format!("  {:<20} {:>6} of {}\n", "agree", self.agree, self.total()));
        out
    }

    /// The silent kinds whose count is above its ceiling: (kind, count, ceiling).
    pub fn over_ceilings(&self, ceilings: &Ceilings) -> Vec<(Kind, usize, usize)> {
        [(Kind::SilentAccept, ceilings.silent_accept), (Kind::WrongValue, ceilings.wrong_value)]
            .into_iter()
            .filter(|(kind, ceiling)| self.count(*kind) > *ceiling)
            .map(|(kind, ceiling)| (kind, self.count(kind), ceiling))
            .collect()
    }
}

/// The recorded maxima of the silent kinds (lowered as they are fixed; the goal is zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceilings {
    /// Most silent-accepts allowed.
    pub silent_accept: usize,
    /// Most wrong values allowed.
    pub wrong_value: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(official_ok: bool, ours_ok: bool, same_output: bool, json: bool, same_class: bool) -> Facts {
        Facts { official_ok, ours_ok, same_output, json, same_class }
    }

    #[test]
    fn every_combination_gets_the_kind_of_the_issue_table() {
        let cases = [
            (facts(false, true, true, true, false), Some(Kind::SilentAccept)),
            (facts(false, true, false, false, false), Some(Kind::SilentAccept)),
            (facts(true, true, false, true, true), Some(Kind::WrongValue)),
            (facts(true, true, false, false, true), Some(Kind::OutputDiffers)),
            (facts(true, false, true, true, false), Some(Kind::SpuriousReject)),
            (facts(false, false, true, true, false), Some(Kind::WrongErrorClass)),
            (facts(false, false, false, true, true), Some(Kind::OutputDiffers)),
            (facts(false, false, true, true, true), None),
            (facts(true, true, true, true, true), None),
            (facts(true, true, true, false, false), None),
        ];
        for (f, want) in cases {
            assert_eq!(classify(f), want, "{f:?}");
        }
    }

    #[test]
    fn a_table_counts_and_reports_the_silent_kinds_over_their_ceilings() {
        let mut table = Table::default();
        for outcome in [None, None, Some(Kind::SilentAccept), Some(Kind::WrongValue), Some(Kind::WrongValue)] {
            table.add(outcome);
        }
        table.add(Some(Kind::SpuriousReject));
        assert_eq!((table.agree, table.total()), (2, 6));
        assert_eq!(table.count(Kind::WrongValue), 2);
        let at = Ceilings { silent_accept: 1, wrong_value: 2 };
        assert!(table.over_ceilings(&at).is_empty());
        let below = Ceilings { silent_accept: 0, wrong_value: 2 };
        assert_eq!(table.over_ceilings(&below), [(Kind::SilentAccept, 1, 0)]);
        let text = table.render("t");
        assert!(text.contains("silent-accept") && text.contains("2 of 6"), "{text}");
    }
}
