//! One test per construct, through `check` (the S-expression dump of a clean parse) and
//! `check_errors` (the `line:col: message` list of a bad one).

use cue_syntax::dump::dump_file;
use cue_syntax::{LineIndex, parse};

#[track_caller]
fn check(source: &str, expect: &str) {
    let (file, errors) = parse(source);
    let index = LineIndex::new(source);
    let errors: Vec<String> = errors.iter().map(|e| e.display_with(&index)).collect();
    assert!(errors.is_empty(), "unexpected errors for {source:?}: {errors:?}");
    assert_eq!(dump_file(&file), expect, "source: {source:?}");
}

#[track_caller]
fn check_errors(source: &str, expect: &[&str]) {
    let (_, errors) = parse(source);
    let index = LineIndex::new(source);
    let errors: Vec<String> = errors.iter().map(|e| e.display_with(&index)).collect();
    assert_eq!(errors, expect, "source: {source:?}");
}

#[test]
fn package_imports_and_file_attributes() {
    check(
        "@if(debug)\npackage foo\n\nimport \"strings\"\nimport (\n\tl \"list\"\n\t\"a.b/c:d\"\n)\nx: 1",
        r#"@if(debug) (package foo) (import "strings") (import l "list" "a.b/c:d") (field x 1)"#,
    );
    check("package: 1\nimport: 2", "(field package 1) (field import 2)");
}

#[test]
fn identifiers_of_every_kind() {
    check(
        "#D: 1, _h: 2, _#hd: 3, $x: 4, αβ: 5, #: 6",
        "(field #D 1) (field _h 2) (field _#hd 3) (field $x 4) (field αβ 5) (field # 6)",
    );
}

#[test]
fn keywords_as_labels_and_names() {
    check(
        "if: 1\nfor: 2\nin: 3\nlet: 4\ntrue: 5\nnull?: 6\nx: a.if",
        "(field if 1) (field for 2) (field in 3) (field let 4) (field true 5) (field null? 6) (field x (. a if))",
    );
}

#[test]
fn number_literals() {
    check(
        "a: [0, 42, 1_000, 0x1F, 0XaB, 0o17, 0b101, 1.5, 1., .5, 1e3, 1.5E-3, 072.40, 1K, 1Ki, 1.5M, 2Gi, .5Ti]",
        "(field a (list 0 42 1_000 0x1F 0XaB 0o17 0b101 1.5 1. .5 1e3 1.5E-3 072.40 1K 1Ki 1.5M 2Gi .5Ti))",
    );
}

#[test]
fn simple_strings_and_escapes() {
    check(r#"a: "x\n\t\"\\\/\u00e9\U0001F600""#, r#"(field a "x\n\t\"\\/é😀")"#);
    check(r"b: '\x41\101\'\u00e9'", r#"(field b b"AA'é")"#);
    check(r#"c: """#, r#"(field c "")"#);
}

#[test]
fn multiline_strings_strip_closing_indentation() {
    check("a: \"\"\"\n\t\tline 1\n\t\t  line 2\n\n\t\t\"\"\"", r#"(field a "line 1\n  line 2\n")"#);
    check("b: '''\n  x\n  '''", r#"(field b b"x")"#);
    check("c: \"\"\"\n  a \\(x) b\n  c\n  \"\"\"", r#"(field c (interp "a " x " b\nc"))"#);
}

#[test]
fn multiline_string_errors() {
    check_errors(
        "a: \"\"\"\n  x\n y\n  \"\"\"",
        &["3:1: invalid whitespace: line is not indented like the closing quote"],
    );
    check_errors("a: \"\"\"x\n\"\"\"", &["1:4: expected newline after multiline quote"]);
    check_errors("a: \"\"\"\n x \"\"\"", &["2:4: closing quote must be on its own line"]);
}

#[test]
fn raw_strings() {
    check(r##"a: #"x\n"y"#"##, r#"(field a "x\\n\"y")"#);
    check(r##"a: #"x\#n\#(y)"#"##, r#"(field a (interp "x\n" y ""))"#);
    check(r###"a: ##"a"#b"##"###, r##"(field a "a\"#b")"##);
}

#[test]
fn interpolations_nest() {
    check(r#"a: "x\(b + "y\(c)")z""#, r#"(field a (interp "x" (+ b (interp "y" c "")) "z"))"#);
    check(r#""\(k)-\(v)": 1"#, r#"(field (interp "" k "-" v "") 1)"#);
}

#[test]
fn string_errors() {
    check_errors("a: \"abc\nb: 1", &["1:4: string literal not terminated"]);
    check_errors(r#"a: "\q""#, &["1:5: unknown escape sequence"]);
    check_errors(r#"a: "\x41""#, &["1:5: hexadecimal and octal escapes are only allowed in bytes literals"]);
    check_errors(r#"a: "\U00110000""#, &["1:5: escape sequence is invalid Unicode code point"]);
}

#[test]
fn precedence_follows_the_spec() {
    check("a: 1 | 2 & 3 || 4 && 5 == 6 + 7 * 8", "(field a (| 1 (& 2 (|| 3 (&& 4 (== 5 (+ 6 (* 7 8))))))))");
    check("a: x / y * z - w - v", "(field a (- (- (* (/ x y) z) w) v))");
    check("a: x =~ y && z !~ w || !p", "(field a (|| (&& (=~ x y) (!~ z w)) (! p)))");
}

#[test]
fn unary_operators_and_bounds() {
    check(
        "a: *1 | int, b: >=0 & <10, c: !=null, d: =~\"^a\", e: !~\"b\", f: -x + +y, g: ==1, h: <=2, i: >3",
        r#"(field a (| (* 1) int)) (field b (& (>= 0) (< 10))) (field c (!= null)) (field d (=~ "^a")) (field e (!~ "b")) (field f (+ (- x) (+ y))) (field g (== 1)) (field h (<= 2)) (field i (> 3))"#,
    );
}

#[test]
fn primary_expressions() {
    check(
        "a: x.y.#z._h.\"q-r\"[0][\"k\"](1, 2,)(  )\nb: l[1:2]\nc: (x + y) * 2",
        r#"(field a (call (call (index (index (. (. (. (. x y) #z) _h) "q-r") 0) "k") 1 2))) (field b (slice l 1 2)) (field c (* (paren (+ x y)) 2))"#,
    );
}

#[test]
fn bottom_top_null_bool() {
    check(
        "a: _|_, b: _, c: null, d: true, e: false",
        "(field a _|_) (field b _) (field c null) (field d true) (field e false)",
    );
}

#[test]
fn labels_of_every_kind() {
    check(
        "a: 1\n\"b-c\": 2\n(k): 3\n[string]: 4\nX=d: 5\nY=[=~\"^x\"]: 6\n[N=string]: 7\n(k)?: 8\ne!: 9\n\"f\"?: 10",
        r#"(field a 1) (field "b-c" 2) (field (dyn k) 3) (field [string] 4) (field (= X d) 5) (field (= Y [(=~ "^x")]) 6) (field [(= N string)] 7) (field (dyn k)? 8) (field e! 9) (field "f"? 10)"#,
    );
}

#[test]
fn shorthand_fields_nest() {
    check("a: b?: c!: 1 @go(C)", "(field a (field b? (field c! 1 @go(C))))");
}

#[test]
fn value_aliases_and_attributes() {
    check("a: X={x: X.b} @a(1) @b(x=\"y\", [z])", r#"(field a (= X (struct (field x (. X b)))) @a(1) @b(x="y", [z]))"#);
    check("a: {\n\t@jsonschema(id=\"x\")\n\tb: 1\n}", r#"(field a (struct @jsonschema(id="x") (field b 1)))"#);
}

#[test]
fn embeddings_lets_and_ellipsis() {
    check(
        "#A: {#B, c: 1, ...}\nlet x = 1 + 2\ny: x",
        "(field #A (struct (embed #B) (field c 1) (...))) (let x (+ 1 2)) (field y x)",
    );
}

#[test]
fn lists() {
    check(
        "a: [1, 2, ...int]\nb: [...]\nc: [\n\t1\n\t2\n]\nd: [X=1, X]",
        "(field a (list 1 2 (... int))) (field b (list (...))) (field c (list 1 2)) (field d (list (= X 1) X))",
    );
}

#[test]
fn comprehensions() {
    check(
        "for k, v in x if v > 1 let y = v {(k): y}\na: [for x in l {x}]\nif p {b: 1}",
        "(comp (for k v x) (if (> v 1)) (let y v) (struct (field (dyn k) y))) (field a (list (comp (for x l) (struct (embed x))))) (comp (if p) (struct (field b 1)))",
    );
    check("for x in l\nif x {x}", "(comp (for x l) (if x) (struct (embed x)))");
}

#[test]
fn experiments_try_else_postfix_alias_and_spread() {
    check(
        "@experiment(try)\na: { try { b: c? + 1 } else { d: 0 } }",
        "@experiment(try) (field a (struct (comp (try) (struct (field b (+ (? c) 1))) (else (struct (field d 0))))))",
    );
    check("try x = a? if x > 0 {y: x}", "(comp (try x (? a)) (if (> x 0)) (struct (field y x)))");
    check(
        "a~X: 1\n[string]~(K,V): 2\nb~(L): 3\nc: {d...}",
        "(field a~X 1) (field [string]~(K,V) 2) (field b~(L) 3) (field c (struct (embed (spread d))))",
    );
}

#[test]
fn comma_insertion_and_leading_commas() {
    check("a: 1\nb: [1,\n2]\nc: f(1,\n2)", "(field a 1) (field b (list 1 2)) (field c (call f 1 2))");
    check("{ \"a\": 1\n, \"b\"\n: 2\n}", r#"(embed (struct (field "a" 1) (field "b" 2)))"#);
}

#[test]
fn comments_are_kept_on_the_file() {
    let source = "// doc\na: 1 // trailing\n";
    let (file, errors) = parse(source);
    assert!(errors.is_empty());
    let comments: Vec<&str> = file.comments.iter().map(|s| &source[s.range()]).collect();
    assert_eq!(comments, ["// doc", "// trailing"]);
}

#[test]
fn spans_cover_nodes() {
    let source = "a: b + c\n";
    let (file, _) = parse(source);
    let cue_syntax::ast::Decl::Field(field) = &file.decls[0] else { panic!("not a field") };
    assert_eq!(&source[field.span.range()], "a: b + c");
    assert_eq!(&source[field.value.span.range()], "b + c");
    assert_eq!(LineIndex::new(source).line_col(field.value.span.start).to_string(), "1:4");
}

#[test]
fn errors_match_the_official_wording() {
    check_errors("a: {\n\tb: 1\n", &["3:1: expected '}', found 'EOF'"]);
    check_errors("a: 1 b: 2", &["1:6: missing ',' in struct literal"]);
    check_errors("a: [1 2]", &["1:7: missing ',' in list literal"]);
    check_errors("a: }", &["1:4: expected operand, found '}'"]);
    check_errors("a: (1", &["1:6: expected ')', found newline"]);
    check_errors("a: 1\nb: 2\nimport \"x\"", &["3:1: imports must appear before other declarations"]);
    check_errors("a: 0x", &["1:4: illegal hexadecimal number"]);
    check_errors("a: 1__0", &["1:4: '_' must separate successive digits"]);
    check_errors("a: 1 ^ 2", &["1:6: illegal character U+005E '^'"]);
}

#[test]
fn recovery_keeps_later_declarations() {
    let (file, errors) = parse("a: )\nb: 2\nc: [1, }\nd: 4\n");
    assert!(!errors.is_empty());
    let dump = dump_file(&file);
    assert!(dump.contains("(field b 2)") && dump.contains("(field d 4)"), "{dump}");
}
