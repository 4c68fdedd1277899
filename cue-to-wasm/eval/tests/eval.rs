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

/// Checks the exact text `cue export` prints (numbers are compared as written).
fn check_text(source: &str, expected: &str) {
    match run(source) {
        Ok(out) => assert_eq!(out, expected, "source:\n{source}"),
        Err(e) => panic!("unexpected error for\n{source}\n{e}"),
    }
}

fn yaml(source: &str) -> String {
    let options = Options { format: cue_eval::Format::Yaml, ..Options::default() };
    export(&[SourceFile::new("./in.cue", source)], &options).expect("exports")
}

#[test]
fn floats_keep_their_form_like_the_official_exporter() {
    let src = "a: 156.0\nb: 1.0 * 3\nc: 4 / 2\nd: 100 / 1\ne: 1e30\nf: 7 / 3\ng: 150 / 1\nh: 1e40 / 1\ni: 0 / 5\n\
               j: 0.00 / 2\nk: 1500 / 1\nl: 1.0000000000000000000000000000000000001 + 1\nm: 3 - 3.0\n";
    check_text(
        src,
        "{\n    \"a\": 156.0,\n    \"b\": 3.0,\n    \"c\": 2.0,\n    \"d\": 1.0E+2,\n    \"e\": 1E+30,\n    \
         \"f\": 2.333333333333333333333333333333333,\n    \"g\": 150,\n    \"h\": 1E+40,\n    \"i\": 0,\n    \
         \"j\": 0.0,\n    \"k\": 1.50E+3,\n    \"l\": 2.000000000000000000000000000000000,\n    \"m\": 0.0\n}\n",
    );
    check_text("a: \"\\(4 / 2)\"\nb: \"\\(1e3)\"\n", "{\n    \"a\": \"2.0\",\n    \"b\": \"1E+3\"\n}\n");
    check_error("a: 1e3 & int", "1E+3 (mismatched types");
}

#[test]
fn negative_zero_follows_the_sign_rules() {
    let src = "a: -5 * 0\nb: -0\nc: (-5 * 0) - 0\nd: (-5 * 0) + 0\ne: -0.0\nf: 0.0 * -1\ng: -(-5 * 0)\n\
               h: 0 / -5\ni: (-5 * 0) == 0\nj: 0.00 * -1\n";
    check_text(
        src,
        "{\n    \"a\": -0,\n    \"b\": 0,\n    \"c\": -0,\n    \"d\": 0,\n    \"e\": 0.0,\n    \"f\": -0.0,\n    \
         \"g\": 0,\n    \"h\": 0,\n    \"i\": true,\n    \"j\": -0.00\n}\n",
    );
}

#[test]
fn yaml_quotes_strings_that_would_read_back_as_other_types() {
    let out =
        yaml("f: \"f\"\nx: \"nan\"\ny: \"1_000\"\nz: \"12:30\"\nw: \"Null\"\nv: \"nULL\"\nn: 1e30 * 1\nm: 1.0e3\n");
    assert_eq!(
        out,
        "\"f\": \"f\"\nx: nan\n\"y\": \"1_000\"\nz: \"12:30\"\nw: \"Null\"\nv: nULL\n\"n\": 1e+30\nm: 1.0E+3\n"
    );
}

#[test]
fn permanent_errors_hide_incomplete_ones() {
    let err = run("u: int\nx: {a: 1} & {a: 2}\nz!: int\n").expect_err("fails");
    assert!(err.starts_with("x.a: conflicting values"), "{err}");
    assert!(!err.contains("incomplete") && !err.contains("required"), "{err}");
    let err = run("u: int\nv: string\n").expect_err("fails");
    assert!(err.contains("u: incomplete value int") && err.contains("v: incomplete value string"), "{err}");
}

#[test]
fn non_concrete_operands_are_classified_like_the_official_tool() {
    let err = run("n: int\na: n + 1\n").expect_err("fails");
    assert!(err.contains("a: non-concrete value int in operand to +"), "{err}");
    // A type written in place never becomes concrete: a permanent error, which hides `n`.
    let err = run("n: int\na: int + 1\n").expect_err("fails");
    assert!(err.starts_with("a: invalid operand int ('+' requires concrete value)"), "{err}");
    assert!(!err.contains("n: incomplete"), "{err}");
    check_error("l: [1, 2] & [1]", "incompatible list lengths (1 and 2)");
}

#[test]
fn optional_fields_cannot_be_referenced() {
    check_error("a: {b?: int}\nc: a.b\n", "c: cannot reference optional field: b");
    check_error("a: {b?: int}\nc: a[\"b\"]\n", "c: cannot reference optional field: b");
    check("a: {b?: int}\nc: [if a.b != _|_ {1}]\n", r#"{"a":{},"c":[]}"#);
}

#[test]
fn struct_literals_conflict_with_lists() {
    check_error("x: {} & [1]", "conflicting values");
    check_error("x: {_h: 1} & [1]", "conflicting values");
    check("x: ([...] | {c: 1}) & {}", r#"{"x":{"c":1}}"#);
    check("x: {#a: 1, [1, 2]}", r#"{"x":[1,2]}"#);
}

#[test]
fn values_of_different_kinds_are_unequal() {
    check(
        "a: {a: 1} == 1\nb: [1] == {}\nc: 1 == \"a\"\nd: {a: 1} != 1\ne: 1 == 1.0\n",
        r#"{"a":false,"b":false,"c":false,"d":true,"e":true}"#,
    );
}

#[test]
fn text_output_takes_only_strings() {
    let options = Options { format: cue_eval::Format::Text, expression: Some("s".into()), ..Options::default() };
    let files = [SourceFile::new("./in.cue", "s: \"hi\"\ni: 3\nf: 2.5\na: {x: 1}\n")];
    assert_eq!(export(&files, &options).expect("a string"), "hi\n");
    for (e, message) in [
        ("i", "i: cannot use value 3 (type int) as string"),
        ("f", "f: cannot use value 2.5 (type float) as string"),
        ("a", "a: cannot use value {x:1} (type struct) as string"),
    ] {
        let options = Options { format: cue_eval::Format::Text, expression: Some(e.into()), ..Options::default() };
        let err = export(&files, &options).expect_err("not a string");
        assert!(err.starts_with(message), "{err}");
    }
}

#[test]
fn comparison_with_bottom_sees_errors_inside_structs() {
    check(
        "f: ({a: 1} & {a: 2}) == _|_\nh: _|_ == ({a: 1} & {a: 2})\ng: ({a: 1} & {b: 2}) == _|_\n",
        r#"{"f":true,"h":true,"g":false}"#,
    );
}

#[test]
fn closedness_travels_only_with_definitions_on_the_reference_path() {
    let defs = "#A: {b: {x: 1}}\n#K: {k: #A}\na: #A\nc: {d: #A}\n";
    // A field reached through a regular field holding a definition is open.
    check(&format!("{defs}y: a.b & {{z: 1}}"), r#"{"a":{"b":{"x":1}},"c":{"d":{"b":{"x":1}}},"y":{"x":1,"z":1}}"#);
    check(&format!("{defs}y: c.d.b & {{z: 1}}"), r#"{"a":{"b":{"x":1}},"c":{"d":{"b":{"x":1}}},"y":{"x":1,"z":1}}"#);
    // A path through a definition, or the field holding the definition itself, is closed.
    check_error(&format!("{defs}y: #A.b & {{z: 1}}"), "y.z: field not allowed");
    check_error(&format!("{defs}y: #K.k.b & {{z: 1}}"), "y.z: field not allowed");
    check_error(&format!("{defs}y: a & {{z: 1}}"), "y.z: field not allowed");
    // Embedded, a closed value closes the embedding literal, whose own fields stay allowed.
    check(&format!("{defs}y: {{#K.k.b, z: 1}}"), r#"{"a":{"b":{"x":1}},"c":{"d":{"b":{"x":1}}},"y":{"x":1,"z":1}}"#);
    check_error(&format!("{defs}#J: {{x: int, v: 2}}\ny: #J & {{#A.b}}"), "y.v: field not allowed");
}

#[test]
fn try_yields_only_when_every_marked_value_exists() {
    let base = "@experiment(try)\na: 1\nc?: int\nl: [10, 20, ...]\nk: [10]\n";
    let run_field = |field: &str| run(&format!("{base}{field}"));
    // Struct form: all markers exist → yields; one missing → nothing, or the else body.
    let out = run_field("x: {try { s: a? + 1 }}").expect("exports");
    assert_eq!(value(&out)["x"], value(r#"{"s":2}"#));
    let out = run_field("x: {try { s: c? } else { fallback: true }}").expect("exports");
    assert_eq!(value(&out)["x"], value(r#"{"fallback":true}"#));
    let out = run_field("x: {try { s: l[5]? }}").expect("exports");
    assert_eq!(value(&out)["x"], value("{}"));
    // Assignment form.
    let out = run_field("x: {try y = a? { s: y }}").expect("exports");
    assert_eq!(value(&out)["x"], value(r#"{"s":1}"#));
    // Past the end of a closed list is an error, not a miss.
    assert!(run_field("x: {try { s: k[3]? } else { f: 1 }}").unwrap_err().contains("index out of range"));
    // The marker outside a try is a compile error for the whole file.
    assert!(run_field("x: a?").unwrap_err().contains("optional marker (?) is only valid within a try clause"));
}

/// A list or struct built by a comprehension over an error is that error wherever it is used, as in the
/// official `cue` (it reported `error in call to list.Range: step must be non zero` for each of these; ours
/// used to give `len` 0, iterate nothing and count no fields).
#[test]
fn a_comprehension_over_an_error_is_an_error_wherever_it_is_used() {
    let error = "list.Range(0, 5, 0)";
    for source in [
        format!("import \"list\"\nx: len([for i in {error} {{i}}])"),
        format!("import \"list\"\nx: [for j in [for i in {error} {{i}}] {{j}}]"),
        format!("import \"list\"\nx: len({{for i in {error} {{\"k\\(i)\": i}}}})"),
        format!("import \"list\"\nimport \"struct\"\nx: {{for i in {error} {{\"k\\(i)\": i}}}} & struct.MinFields(0)"),
        // Consumers of a list's elements: the standard library, `and`/`or`, `+`, `==`, index and slice.
        format!("import \"list\"\nx: list.Sum([for i in {error} {{i}}])"),
        format!("import \"list\"\nx: list.Concat([[for i in {error} {{i}}]])"),
        format!("import \"list\"\nx: list.FlattenN([[for i in {error} {{i}}]], 1)"),
        format!("import \"list\"\nx: list.Contains([for i in {error} {{i}}], 1)"),
        format!("import \"list\"\nx: list.Sort([for i in {error} {{i}}], list.Ascending)"),
        format!("import \"list\"\nimport \"net\"\nx: net.IPString([for i in {error} {{i}}])"),
        format!("import \"list\"\nx: and([for i in {error} {{i}}])"),
        format!("import \"list\"\nx: or([for i in {error} {{i}}])"),
        format!("import \"list\"\nx: [for i in {error} {{i}}] + [1]"),
        format!("import \"list\"\nx: [for i in {error} {{i}}] == []"),
        format!("import \"list\"\nx: [for i in {error} {{i}}][0]"),
        format!("import \"list\"\nx: [for i in {error} {{i}}][0:0]"),
        format!("@experiment(try)\nimport \"list\"\nx: {{ try {{ y: [for i in {error} {{i}}][0]? }} }}"),
    ] {
        check_error(&source, "step must be non zero");
    }
    check("x: len([for i in [1, 2] {i}])", r#"{"x":2}"#);
    check("import \"list\"\nx: list.Sum([for i in [1, 2] {i}])", r#"{"x":3}"#);
    check("x: [for i in [1, 2] {i}][0:1]", r#"{"x":[1]}"#);
    check("import \"list\"\nx: list.Concat([[for i in [1, 2] {i}], [3]]) == [1, 2, 3]", r#"{"x":true}"#);
}

/// List arithmetic is an error since language v0.11 in the official `cue` (whatever the module's language
/// version); ours used to concatenate, a silent answer where the official tool fails.
#[test]
fn list_arithmetic_is_an_error() {
    for (source, needle) in [
        ("x: [1] + [2]", "Addition of lists is superseded by list.Concat"),
        ("x: [...int] + [1]", "Addition of lists is superseded by list.Concat"),
        ("a: [1]\nx: a + a", "Addition of lists is superseded by list.Concat"),
        ("x: [1] * 2", "Multiplication of lists is superseded by list.Repeat"),
        ("x: 2 * [1]", "Multiplication of lists is superseded by list.Repeat"),
    ] {
        check_error(source, needle);
    }
    check("x: \"ab\" * 2", r#"{"x":"abab"}"#);
}

/// `&&` and `||` evaluate both operands unless the file enables `@experiment(shortcircuit)`, as in the
/// official `cue` (checked against v0.18.0-alpha.1): an error or a non-concrete value on the right is reported
/// even when the left decides. Ours used to skip the right operand: `p.x != _|_ && p.x > 1` with `x` absent
/// was `false` where the official tool reports `undefined field: x`.
#[test]
fn logical_operators_evaluate_both_operands() {
    for (source, needle) in [
        ("p: {}\na: p.x != _|_ && p.x > 1", "undefined field: x"),
        ("p: {}\nif p.x != _|_ && p.x > 1 { a: 1 }\nb: 2", "undefined field: x"),
        ("a: false && _|_", "explicit error (_|_ literal) in source"),
        ("a: true || (\"a\" + 1 == 2)", "invalid operands \"a\" and 1 to '+'"),
        ("i: int\na: false && i", "non-concrete value int in operand to &&"),
        ("a: false && int", "invalid operand int"),
        ("a: true && 1", "cannot use 1 (type int) as type bool"),
    ] {
        check_error(source, needle);
    }
    check("a: false && 1\nb: [1]\nc: false && b\nd: true || 1", r#"{"a":false,"b":[1],"c":false,"d":true}"#);
    check("x: *false | bool\na: x && true", r#"{"x":false,"a":false}"#);
    check("@experiment(shortcircuit)\n_i: int\na: false && _i\nb: true || _|_", r#"{"a":false,"b":true}"#);
}

/// `==` and `!=` over lists and structs need concrete data on both sides: `[1] == [string]` is incomplete in
/// the official `cue`, where ours said `false`.
#[test]
fn comparing_non_concrete_lists_and_structs_is_incomplete() {
    check_error("x: [1] == [string]", "invalid right-hand value to '==' (type list): 0: incomplete value string");
    check_error("x: {a: int} != {a: 1}", "invalid left-hand value to '!=' (type struct): a: incomplete value int");
    check("x: [1] == [1, 2]\ny: {a: 1} == {a: 1}", r#"{"x":false,"y":true}"#);
}

/// A comprehension whose condition is not concrete inside a definition is decided where the definition is
/// used with a concrete value (`#A & {environment: "prod"}`), as in the official `cue`. Ours used to make the
/// definition itself the incomplete error and every use of it failed with `non-concrete value … in operand
/// to ==`.
#[test]
fn comprehensions_over_non_concrete_values_are_decided_where_a_definition_is_used() {
    let def = "#A: {\n\tenvironment: \"dev\" | \"prod\"\n\tif environment == \"prod\" { pdb: true }\n}\n";
    check(&format!("{def}a: #A & {{environment: \"prod\"}}"), r#"{"a":{"environment":"prod","pdb":true}}"#);
    check(&format!("{def}a: #A & {{environment: \"dev\"}}"), r#"{"a":{"environment":"dev"}}"#);
    let input = "input: environment: \"dev\" | \"prod\"\ninput: environment: \"prod\"\n";
    check(
        &format!("{def}{input}a: #A & {{environment: input.environment}}\nb: (#A & {{environment: \"prod\"}}).pdb"),
        r#"{"input":{"environment":"prod"},"a":{"environment":"prod","pdb":true},"b":true}"#,
    );
    // Where the value stays non-concrete, export still fails.
    check_error("a: {\n\tenvironment: \"dev\" | \"prod\"\n\tif environment == \"prod\" { pdb: true }\n}", "a");
    check_error(&format!("{def}a: #A\nn: len(a)"), "\"dev\" | \"prod\"");
}

/// `list.MinItems` on an open list with too few elements is incomplete (the list may still grow), so the
/// definition that declares `ports: [...#Port] & list.MinItems(1)` is no error, as in the official `cue`;
/// a closed list with too few elements is.
#[test]
fn min_items_on_an_open_list_is_incomplete() {
    let def = "import \"list\"\n#W: {ports: [...int] & list.MinItems(1)}\n";
    check(&format!("{def}w: #W & {{ports: [80]}}"), r#"{"w":{"ports":[80]}}"#);
    check_error(&format!("{def}w: #W & {{ports: []}}"), "len(list) < MinItems(1) (0 < 1)");
    check_error(&format!("{def}w: #W"), "does not satisfy list.MinItems(1)");
}

#[test]
fn quoted_labels_are_regular_fields() {
    // (source, expected JSON): a label written as a string is exported even when it starts with `#` or `_`,
    // and is a different field from the identifier of the same name.
    let table = [
        (r##""#x": 1, "_y": 2, #x: 3, _y: 4"##, r##"{"#x": 1, "_y": 2}"##),
        (r##"a: {"#x": 1}, b: a["#x"], c: a."#x""##, r##"{"a": {"#x": 1}, "b": 1, "c": 1}"##),
        (r##"k: "#k", d: {("_p"): 1, "\(k)": 2}"##, r##"{"k": "#k", "d": {"_p": 1, "#k": 2}}"##),
        (r##"l: [for k, _ in {"#a": 1, #b: 2, "_c": 3, _d: 4} {k}]"##, r##"{"l": ["#a", "_c"]}"##),
        (r##"#D: {"#x": int}, v: #D & {"#x": 1}"##, r##"{"v": {"#x": 1}}"##),
    ];
    for (source, expected) in table {
        check(source, expected);
    }
    check_error("#D: {#x: 1}\nv: #D & {\"#x\": 1}", "field not allowed");
    check_error("p: [string]: int\np: {\"_a\": \"s\"}", "conflicting values");
    check_error("\"#dev\": int", "incomplete value");
}

#[test]
fn struct_equality_ignores_field_order() {
    check(
        "@experiment(structcmp)\nt1: {a: 1, b: 2} == {b: 2, a: 1}\nt2: {a: 1} == {a: 1.0}\n\
         t3: [{a: 1, b: {c: 1, d: 2}}] == [{b: {d: 2, c: 1}, a: 1}]\nt4: {a: 1, b: 2} != {b: 2, a: 1}\n\
         t5: {a: 1, b: 2} == {b: 2, a: 2}\nt6: {a: 1} == {a: 1, b: 1}",
        r#"{"t1": true, "t2": false, "t3": true, "t4": false, "t5": false, "t6": false}"#,
    );
}

#[test]
fn bytes_interpolated_into_strings_replace_each_invalid_run_once() {
    // (bytes literal, expected string): like Go's strings.ToValidUTF8.
    let table = [
        (r"'a\xED\x95a'", "a\u{FFFD}a"),
        (r"'a\x80\x95a'", "a\u{FFFD}a"),
        (r"'a\x80b\x95a'", "a\u{FFFD}b\u{FFFD}a"),
        (r"'\x80'", "\u{FFFD}"),
        ("'é'", "é"),
    ];
    for (bytes, want) in table {
        let expected = serde_json::json!({ "s": want }).to_string();
        check(&format!("_b: {bytes}\ns: \"\\(_b)\""), &expected);
    }
}
