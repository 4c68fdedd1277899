//! Evaluator tests through `check(source, expected_json)` and `check_error(source, needle)`.

use cue_eval::{Options, SourceFile, export};

fn run(source: &str) -> Result<String, String> {
    export(&[SourceFile::new("./in.cue", source)], &Options::default())
}

fn value(json: &str) -> serde_json::Value {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("invalid JSON {json}: {e}"))
}

/// Checks that `source` exports to `expected` (compared as JSON values).
fn check(source: &str, expected: &str) {
    match run(source) {
        Ok(out) => assert_eq!(value(&out), value(expected), "source:\n{source}"),
        Err(e) => panic!("unexpected error for\n{source}\n{e}"),
    }
}

/// Checks that `source` fails with an error message containing `needle`.
fn check_error(source: &str, needle: &str) {
    match run(source) {
        Ok(out) => panic!("expected an error containing {needle:?} for\n{source}\ngot {out}"),
        Err(e) => assert!(e.contains(needle), "expected {needle:?} in\n{e}"),
    }
}

#[test]
fn structs_merge_across_declarations() {
    check(
        "svc: spec: type: \"ClusterIP\"\nsvc: metadata: name: \"web\"",
        r#"{"svc":{"spec":{"type":"ClusterIP"},"metadata":{"name":"web"}}}"#,
    );
}

#[test]
fn references_see_final_values_in_any_order() {
    check("b: a + 1\na: *1 | int\n", r#"{"b":2,"a":1}"#);
    check("x: {a: 1, b: a}\ny: x & {a: 1}", r#"{"x":{"a":1,"b":1},"y":{"a":1,"b":1}}"#);
}

#[test]
fn conflicts_and_bounds() {
    check_error("port: 80 & 8080", "conflicting values 80 and 8080");
    check_error("p: int & >0 & <=65535\np: 0", "invalid value 0 (out of bound >0)");
    check("r: int32 & 3", r#"{"r":3}"#);
}

#[test]
fn disjunctions_and_defaults() {
    check("t: *\"TCP\" | \"UDP\"\nu: *\"TCP\" | \"UDP\"\nu: \"UDP\"", r#"{"t":"TCP","u":"UDP"}"#);
    check_error("a: (*1 | 2) & (1 | *2)", "incomplete value");
    check("p: *{a: 1} | {b: 2}", r#"{"p":{"a":1}}"#);
}

#[test]
fn definitions_close_structs() {
    let defs = "#Port: {name?: string, port: int}\n";
    check(&format!("{defs}ok: #Port & {{port: 80, _note: \"x\", #meta: 1}}"), r#"{"ok":{"port":80}}"#);
    check_error(&format!("{defs}bad: #Port & {{port: 80, proto: \"TCP\"}}"), "bad.proto: field not allowed");
    check(&format!("{defs}emb: {{#Port, proto: \"TCP\", port: 80}}"), r#"{"emb":{"port":80,"proto":"TCP"}}"#);
}

#[test]
fn optional_and_required_fields() {
    check("a?: int\nb: 1", r#"{"b":1}"#);
    check_error("a!: int", "field is required but not present");
}

#[test]
fn lists_and_patterns() {
    check("l: [...{p: int, q: *\"TCP\" | \"UDP\"}]\nl: [{p: 1}]", r#"{"l":[{"p":1,"q":"TCP"}]}"#);
    check("labels: [string]: string\nlabels: a: \"x\"", r#"{"labels":{"a":"x"}}"#);
    check_error("l: [1, 2]\nl: [1]", "incompatible list lengths");
    check_error("l: [1][3]", "index out of range");
}

#[test]
fn comprehensions_and_existence_tests() {
    check("m: {a: 1, b: 2}\nout: [for k, v in m {\"\\(k)=\\(v)\"}]", r#"{"m":{"a":1,"b":2},"out":["a=1","b=2"]}"#);
    check("p: {x?: int}\nif p.x != _|_ {y: 1}\nif p.x == _|_ {z: 2}", r#"{"p":{},"z":2}"#);
}

#[test]
fn unsupported_features_fail_clearly() {
    check_error("import \"text/template\"\na: template.Execute(\"{{.}}\", 1)", "unsupported feature");
    check_error("#A: {a: int}\nb: {#A..., c: 1}", "unsupported feature");
}

#[test]
fn standard_library_functions() {
    check("import \"strings\"\na: strings.ToUpper(\"x\")", r#"{"a":"X"}"#);
    check("import s \"strings\"\na: s.Join([\"a\", \"b\"], \"-\")", r#"{"a":"a-b"}"#);
    check("import \"list\"\na: list.Sort([3, 1, 2], list.Ascending)", r#"{"a":[1,2,3]}"#);
    check("import \"math\"\na: math.Floor(2.7)", r#"{"a":2}"#);
    check("import \"encoding/json\"\na: json.Marshal({x: 1, y: \"<\"})", r#"{"a":"{\"x\":1,\"y\":\"<\"}"}"#);
    check("import \"encoding/yaml\"\na: yaml.Unmarshal(\"b: [1, 2]\")", r#"{"a":{"b":[1,2]}}"#);
    check(
        "import \"uuid\"\na: uuid.SHA1(uuid.ns.DNS, \"cuelang.org\")",
        r#"{"a":"052ef62d-7223-58b6-a551-c1deee46d401"}"#,
    );
    check("import \"strconv\"\na: strconv.Atoi(\"42\") + 1", r#"{"a":43}"#);
    check_error("import \"strings\"\na: strings.Join([1], \"\")", "invalid list element 0");
}

#[test]
fn validators_are_constraints() {
    check("import \"strings\"\na: strings.MaxRunes(3) & \"abc\"", r#"{"a":"abc"}"#);
    check_error(
        "import \"strings\"\na: string & strings.MaxRunes(3)\na: \"abcd\"",
        "does not satisfy strings.MaxRunes(3)",
    );
    check("import \"list\"\na: list.MinItems(1)\na: [1]", r#"{"a":[1]}"#);
    check_error("import \"list\"\na: list.MinItems(2) & [1]", "does not satisfy list.MinItems(2)");
    check_error("import \"net\"\na: net.IPv4 & \"::1\"", "does not satisfy net.IPv4");
    check("a: matchN(1, [int, string]) & 3", r#"{"a":3}"#);
    check_error("a: matchN(2, [int, string]) & 3", "1 matched, expected 2");
}

#[test]
fn imported_packages_come_from_a_package_source() {
    struct Table;
    impl cue_eval::PackageSource for Table {
        fn package(&self, path: &str) -> Result<Option<Vec<SourceFile>>, String> {
            Ok((path == "example.com/m/lib")
                .then(|| vec![SourceFile::new("./lib/lib.cue", "package lib\n#Port: int & >0\n_hidden: 1\n")]))
        }
    }
    let files = [SourceFile::new("./in.cue", "import \"example.com/m/lib\"\np: lib.#Port & 80\n")];
    let out = cue_eval::export_with(&files, &Table, &Options::default()).expect("exports");
    assert_eq!(value(&out), value(r#"{"p":80}"#));
    let missing = [SourceFile::new("./in.cue", "import \"example.com/m/other\"\np: 1\n")];
    let err = cue_eval::export_with(&missing, &Table, &Options::default()).expect_err("missing package");
    assert!(err.contains("cannot find package"), "{err}");
}

#[test]
fn structural_cycles_are_errors() {
    check_error("a: b: a", "structural cycle");
}
