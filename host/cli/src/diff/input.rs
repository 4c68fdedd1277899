//! Which Transform `pequod diff` previews, and the overrides of its input and module: pure functions.

use std::path::PathBuf;

use serde_json::Value;

/// Where the Transform comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A manifest file; `-` is standard input.
    File(PathBuf),
    /// A Transform in the cluster, by name (`tf/NAME`, `transform/NAME`, `transforms/NAME`).
    Live(String),
}

/// The prefixes that name a Transform in the cluster, as `kubectl` spells them.
const LIVE_PREFIXES: [&str; 4] = ["tf/", "transform/", "transforms/", "transform.platform.pequod.io/"];

/// Reads the command's argument: a Transform in the cluster when it has a `kubectl`-style prefix, else a file.
pub fn parse_source(text: &str) -> Source {
    let live = LIVE_PREFIXES.iter().find_map(|prefix| text.strip_prefix(prefix)).filter(|name| !name.is_empty());
    match live {
        Some(name) => Source::Live(name.to_owned()),
        None => Source::File(PathBuf::from(text)),
    }
}

/// One `--set path=value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// The dotted path under `spec.input`, e.g. `resources.cpu` or `ports.0`.
    pub path: Vec<String>,
    /// The value: an integer, `true`, `false`, `null`, a JSON string, array or object; anything else is a string.
    pub value: Value,
}

/// Parses `path=value` (clap value parser).
pub fn parse_assignment(text: &str) -> Result<Assignment, String> {
    let (path, value) =
        text.split_once('=').ok_or_else(|| format!("{text:?} is not path=value (e.g. --set replicas=3)"))?;
    let path: Vec<String> = path.split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(format!("{text:?}: the path has an empty segment (write it as a.b.c)"));
    }
    Ok(Assignment { path, value: typed(value) })
}

/// A value as `--set` reads it: only what is unambiguous is typed (`1.20` stays the string "1.20").
fn typed(text: &str) -> Value {
    let structured = text.starts_with(['"', '[', '{']);
    let scalar = matches!(text, "true" | "false" | "null") || text.parse::<i64>().is_ok();
    if structured || scalar {
        serde_json::from_str(text).unwrap_or_else(|_| Value::from(text))
    } else {
        Value::from(text)
    }
}

/// Sets `assignment` in `input`, making the objects on the way; a number indexes an existing array.
pub fn assign(input: &mut Value, assignment: &Assignment) -> Result<(), String> {
    let shown = assignment.path.join(".");
    let mut at = input;
    for segment in &assignment.path {
        if at.is_null() {
            *at = Value::Object(Default::default());
        }
        at = match at {
            Value::Object(fields) => fields.entry(segment.clone()).or_insert(Value::Null),
            Value::Array(items) => segment
                .parse::<usize>()
                .ok()
                .and_then(|index| items.get_mut(index))
                .ok_or_else(|| format!("--set {shown}: {segment} is not an index of the list there"))?,
            _ => return Err(format!("--set {shown}: {segment} is under a value that is neither an object nor a list")),
        };
    }
    *at = assignment.value.clone();
    Ok(())
}

/// The Transform's namespace: the manifest's, `--namespace`, else the kubeconfig's default; the manifest's and
/// `--namespace` must agree when both are given.
pub fn namespace(manifest: Option<&str>, flag: Option<&str>, default: &str) -> Result<String, String> {
    match (manifest, flag) {
        (Some(manifest), Some(flag)) if manifest != flag => Err(format!(
            "the Transform's metadata.namespace is {manifest:?} but --namespace is {flag:?}; drop one of them"
        )),
        (Some(namespace), _) | (None, Some(namespace)) => Ok(namespace.to_owned()),
        (None, None) => Ok(default.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sources() {
        let cases = [
            ("tf/shop", Source::Live("shop".into())),
            ("transform/shop", Source::Live("shop".into())),
            ("transforms/shop", Source::Live("shop".into())),
            ("transform.platform.pequod.io/shop", Source::Live("shop".into())),
            ("tf/", Source::File("tf/".into())),
            ("examples/shop.yaml", Source::File("examples/shop.yaml".into())),
            ("-", Source::File("-".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_source(text), expected, "{text}");
        }
    }

    #[test]
    fn assignments_type_only_what_is_unambiguous() {
        let cases = [
            ("replicas=3", vec!["replicas"], json!(3)),
            ("image.tag=1.20", vec!["image", "tag"], json!("1.20")),
            ("debug=true", vec!["debug"], json!(true)),
            ("name=\"42\"", vec!["name"], json!("42")),
            ("ports=[80,443]", vec!["ports"], json!([80, 443])),
            ("message=hello world", vec!["message"], json!("hello world")),
            ("empty=", vec!["empty"], json!("")),
            ("broken={", vec!["broken"], json!("{")),
        ];
        for (text, path, value) in cases {
            let expected = Assignment { path: path.into_iter().map(str::to_owned).collect(), value };
            assert_eq!(parse_assignment(text), Ok(expected), "{text}");
        }
        assert!(parse_assignment("replicas").unwrap_err().contains("path=value"));
        assert!(parse_assignment("a..b=1").unwrap_err().contains("empty segment"));
    }

    #[test]
    fn assignments_make_objects_and_index_lists() {
        let set = |input: &mut Value, text: &str| assign(input, &parse_assignment(text).unwrap());
        let mut input = json!({"replicas": 1, "ports": [80, 81]});
        set(&mut input, "replicas=3").unwrap();
        set(&mut input, "resources.cpu=500m").unwrap();
        set(&mut input, "ports.1=8080").unwrap();
        assert_eq!(input, json!({"replicas": 3, "ports": [80, 8080], "resources": {"cpu": "500m"}}));
        let mut null = Value::Null;
        set(&mut null, "a.b=1").unwrap();
        assert_eq!(null, json!({"a": {"b": 1}}));
        assert!(set(&mut input, "ports.7=1").unwrap_err().contains("not an index"));
        assert!(set(&mut input, "replicas.x=1").unwrap_err().contains("neither an object nor a list"));
    }

    #[test]
    fn namespaces() {
        assert_eq!(namespace(Some("team"), None, "default"), Ok("team".into()));
        assert_eq!(namespace(Some("team"), Some("team"), "default"), Ok("team".into()));
        assert_eq!(namespace(None, Some("team"), "default"), Ok("team".into()));
        assert_eq!(namespace(None, None, "default"), Ok("default".into()));
        assert!(namespace(Some("team"), Some("other"), "default").unwrap_err().contains("drop one"));
    }
}
