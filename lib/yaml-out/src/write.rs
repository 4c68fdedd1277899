//! The block writer: two-space indentation, sequences indented under their key, nested sequences and the
//! first entry of a mapping on the `- ` line, empty collections as `{}` and `[]`.

use crate::Node;
use crate::style::{Chomp, Place, Style, needs_escape, style};

/// One document as `cue export --out yaml` writes it (a string document may be a literal block).
pub fn to_string(doc: &Node) -> String {
    document(doc, Place::Block)
}

/// One document as `yaml.Marshal` writes it (a string document is never a block scalar).
pub fn marshal(doc: &Node) -> String {
    document(doc, Place::Inline)
}

/// Several documents, each ended by a line break and separated by `---` lines.
pub fn stream<'a>(docs: impl IntoIterator<Item = &'a Node>) -> String {
    docs.into_iter().map(to_string).collect::<Vec<_>>().join("---\n")
}

fn document(doc: &Node, place: Place) -> String {
    let mut out = String::new();
    match doc {
        Node::Map(fields) if !fields.is_empty() => map(fields, 0, &mut out),
        Node::Seq(items) if !items.is_empty() => seq(items, 0, &mut out),
        other => {
            scalar(other, place, 2, &mut out);
            out.push('\n');
        }
    }
    out
}

fn map(fields: &[(String, Node)], indent: usize, out: &mut String) {
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            pad(indent, out);
        }
        string(key, Place::Inline, indent, out);
        out.push(':');
        match value {
            Node::Map(inner) if !inner.is_empty() => {
                out.push('\n');
                pad(indent + 2, out);
                map(inner, indent + 2, out);
            }
            Node::Seq(items) if !items.is_empty() => {
                out.push('\n');
                pad(indent + 2, out);
                seq(items, indent + 2, out);
            }
            other => {
                out.push(' ');
                scalar(other, Place::Block, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

/// Writes a sequence whose first `- ` goes where the cursor is (already indented).
fn seq(items: &[Node], indent: usize, out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            pad(indent, out);
        }
        out.push_str("- ");
        match item {
            Node::Map(fields) if !fields.is_empty() => map(fields, indent + 2, out),
            Node::Seq(inner) if !inner.is_empty() => seq(inner, indent + 2, out),
            other => {
                scalar(other, Place::Inline, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

fn pad(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar or empty collection, without the final line break; block lines are indented by `indent`.
fn scalar(node: &Node, place: Place, indent: usize, out: &mut String) {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Number(n) => out.push_str(n),
        Node::String(s) => string(s, place, indent, out),
        Node::Seq(_) => out.push_str("[]"),
        Node::Map(_) => out.push_str("{}"),
    }
}

fn string(s: &str, place: Place, indent: usize, out: &mut String) {
    match style(s, place) {
        Style::Plain => out.push_str(s),
        Style::SingleQuoted => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        Style::DoubleQuoted => double_quoted(s, out),
        Style::Literal(chomp) => literal(s, chomp, indent, out),
    }
}

/// `|-`, `|` or `|+`, then each line indented (empty lines left empty). The last line's break is the
/// caller's.
fn literal(s: &str, chomp: Chomp, indent: usize, out: &mut String) {
    let (header, body) = match chomp {
        Chomp::Strip => ("|-", s),
        Chomp::Clip => ("|", &s[..s.len() - 1]),
        Chomp::Keep => ("|+", &s[..s.len() - 1]),
    };
    out.push_str(header);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(indent, out);
            out.push_str(line);
        }
    }
}

/// A double-quoted scalar with Go-style escapes: `\n`, `\t`, `\"`, `\\`, `\a`…, `\x1b`, `\u2028`, `\U000e0001`.
fn double_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if printable(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
}

/// Printable as Go's `unicode.IsPrint` sees it, for the characters that matter in practice: not a control,
/// not a separator other than the ASCII space, not a format character, not private use, not a
/// non-character. (Unassigned code points count as printable here; Go escapes them.)
fn printable(c: char) -> bool {
    let u = c as u32;
    let format = matches!(u, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890..=0x891 | 0x8e2 | 0x180e
        | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff | 0xfff9..=0xfffb
        | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a | 0xe0001 | 0xe0020..=0xe007f);
    let space = matches!(u, 0xa0 | 0x1680 | 0x2000..=0x200a | 0x2028 | 0x2029 | 0x202f | 0x205f | 0x3000);
    let private = matches!(u, 0xe000..=0xf8ff | 0xf0000..=0xffffd | 0x100000..=0x10fffd);
    let nonchar = matches!(u, 0xfdd0..=0xfdef) || u & 0xfffe == 0xfffe;
    !(c.is_control() || needs_escape(c) || format || space || private || nonchar)
}

#[cfg(test)]
mod tests {
    use crate::{Node, marshal, stream, to_string};

    fn s(text: &str) -> Node {
        Node::String(text.into())
    }

    #[test]
    fn layout_of_collections() {
        let table: &[(Node, &str)] = &[
            (Node::Map(vec![]), "{}\n"),
            (Node::Seq(vec![]), "[]\n"),
            (s("x"), "x\n"),
            (s("a\nb"), "|-\n  a\n  b\n"),
            (Node::Number("5".into()), "5\n"),
            (Node::Seq(vec![Node::Number("1".into()), Node::Number("2".into())]), "- 1\n- 2\n"),
            (
                Node::Map(vec![(
                    "seq".into(),
                    Node::Seq(vec![
                        Node::Seq(vec![Node::Number("1".into()), Node::Seq(vec![])]),
                        Node::Map(vec![("a".into(), Node::Null), ("b".into(), Node::Seq(vec![Node::Bool(true)]))]),
                        Node::Map(vec![]),
                        Node::Seq(vec![Node::Seq(vec![s("x")])]),
                    ]),
                )]),
                "seq:\n  - - 1\n    - []\n  - a: null\n    b:\n      - true\n  - {}\n  - - - x\n",
            ),
            (
                Node::Map(vec![("a".into(), Node::Map(vec![("b".into(), Node::Map(vec![("c".into(), s("x"))]))]))]),
                "a:\n  b:\n    c: x\n",
            ),
        ];
        for (node, want) in table {
            assert_eq!(to_string(node), *want, "{node:?}");
        }
    }

    #[test]
    fn block_scalars_are_indented_under_their_key() {
        let doc = Node::Map(vec![
            ("k".into(), Node::Seq(vec![Node::Map(vec![("script".into(), s("a\n\n b\n"))]), s("a\nb")])),
            ("keep".into(), s("\n\n")),
            ("a\nb".into(), Node::Number("1".into())),
        ]);
        let want = "k:\n  - script: |\n      a\n\n       b\n  - \"a\\nb\"\nkeep: |+\n\n\n\"a\\nb\": 1\n";
        assert_eq!(to_string(&doc), want);
    }

    #[test]
    fn quoting_and_escapes() {
        let table: &[(&str, &str)] = &[
            ("'a'", "'''a'''\n"),
            ("tab\there\u{7}\u{1b}\u{0}\u{7f}", "\"tab\\there\\a\\x1b\\x00\\x7f\"\n"),
            ("\t\u{80}\u{a0}\u{2028}\u{e0001}é😀\"\\", "\"\\t\\u0080\\u00a0\\u2028\\U000e0001é😀\\\"\\\\\"\n"),
        ];
        for (text, want) in table {
            assert_eq!(to_string(&s(text)), *want, "{text:?}");
        }
    }

    #[test]
    fn marshal_and_streams() {
        assert_eq!(marshal(&s("a\nb")), "\"a\\nb\"\n");
        let docs = [Node::Number("1".into()), s("x"), Node::Map(vec![])];
        assert_eq!(stream(&docs), "1\n---\nx\n---\n{}\n");
    }

    #[test]
    fn from_json() {
        let value = serde_json::json!({"kind": "ConfigMap", "data": {"a.json": "{\"x\":1}", "n": "1"}, "list": []});
        let want = "kind: ConfigMap\ndata:\n  a.json: '{\"x\":1}'\n  \"n\": \"1\"\nlist: []\n";
        assert_eq!(to_string(&Node::from(&value)), want);
    }
}
