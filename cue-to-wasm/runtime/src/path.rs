//! Paths: the evaluator's dotted form (`a."b-c".0`) read into segments, and written the way violations
//! show them (`a["b-c"][0]`, relative to `spec.input` or to a node).

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A struct field.
    Field(String),
    /// A list element.
    Index(usize),
}

/// Reads the evaluator's path form: identifiers, quoted labels and list indexes joined by dots.
pub fn parse(path: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut chars = path.chars().peekable();
    while chars.peek().is_some() {
        let mut label = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => label.push('\n'),
                        Some('t') => label.push('\t'),
                        Some(other) => label.push(other),
                        None => {}
                    },
                    '"' => break,
                    c => label.push(c),
                }
            }
            segments.push(Segment::Field(label));
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                label.push(c);
                chars.next();
            }
            match label.parse::<usize>() {
                Ok(index) => segments.push(Segment::Index(index)),
                Err(_) => segments.push(Segment::Field(label)),
            }
        }
        if chars.peek() == Some(&'.') {
            chars.next();
        }
    }
    segments
}

/// Writes segments as a violation path: `ports[0].name`, `labels["app.kubernetes.io/name"]`.
pub fn display(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::Field(name) if is_plain(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Segment::Field(name) => out.push_str(&format!("[{}]", serde_json::Value::String(name.clone()))),
        }
    }
    out
}

fn is_plain(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$' || c == '#')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_paths() {
        let segments = parse(r#"input.ports.0."app.kubernetes.io/name".x"#);
        assert_eq!(
            segments,
            vec![
                Segment::Field("input".into()),
                Segment::Field("ports".into()),
                Segment::Index(0),
                Segment::Field("app.kubernetes.io/name".into()),
                Segment::Field("x".into()),
            ]
        );
        assert_eq!(display(&segments[1..]), r#"ports[0]["app.kubernetes.io/name"].x"#);
        assert_eq!(display(&parse("replicas")), "replicas");
        assert!(parse("").is_empty());
    }
}
