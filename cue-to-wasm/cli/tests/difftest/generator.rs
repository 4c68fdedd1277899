//! A deterministic generator of random, mostly well-typed CUE programs built from the tier-1 and tier-2
//! features of `shared/design/CUE.md`: nested structs and shorthand, references and selectors (also quoted),
//! unification of compatible values and repeated declarations, bounds, disjunctions with defaults,
//! definitions with closedness and embedding, optional and required fields, hidden fields and `let`, pattern
//! constraints, list and struct comprehensions, `if` guards, interpolation, arithmetic (`+ - * /`, `div mod
//! quo rem`), `len`, comparisons, and about one program in four with a deliberate error (conflict, closedness,
//! missing required field, incomplete value, bound violation, index out of range).
//!
//! The generator tracks the kind of every field it may refer to, so references are well-typed; it does not
//! predict values — the official tool is the oracle. Changing the generator changes what each seed means:
//! regenerate the `gen:` entries of the divergence list afterwards.

use std::fmt::Write as _;

/// A small, fast, deterministic PRNG (xorshift64*, seeded through splitmix64).
pub struct Rng(u64);

impl Rng {
    /// A generator for one seed.
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).unwrap_or(1);
        lo + i64::try_from(self.next() % span).unwrap_or(0)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The kind of a value the generator can refer to.
#[derive(Debug, Clone, PartialEq)]
enum Ty {
    /// An integer, with its value when the generator knows it.
    Int(Option<i64>),
    Float,
    Str,
    Bool,
    /// A struct whose fields (selector text, kind) are known.
    Struct(Vec<(String, Ty)>),
    /// A list of known length and element kind.
    List(Box<Ty>, usize),
}

/// A field a later expression may refer to, by its path expression.
#[derive(Debug, Clone)]
struct Field {
    path: String,
    ty: Ty,
}

const WORDS: &[&str] = &["web", "api", "db", "cache", "frontend", "worker", "tcp", "udp", "alpha", "beta", "x", ""];
const LABELS: &[&str] = &["a", "b", "c", "name", "port", "kind", "mode", "size", "\"x-y\"", "\"app.io/k\""];

/// The generated program for one seed.
pub fn program(seed: u64) -> String {
    let mut g = Gen {
        rng: Rng::new(seed),
        out: String::new(),
        fields: Vec::new(),
        deferred: Vec::new(),
        next: 0,
        uses_strings: false,
    };
    if g.rng.chance(30) {
        g.out.push_str("package p\n\n");
    }
    let header = std::mem::take(&mut g.out);
    let count = 3 + g.rng.below(6);
    let error_at = if g.rng.chance(25) { Some(g.rng.below(count)) } else { None };
    let mut chunks = Vec::new();
    for i in 0..count {
        if Some(i) == error_at {
            g.error_decl();
        } else {
            g.decl();
        }
        chunks.push(std::mem::take(&mut g.out));
    }
    chunks.append(&mut g.deferred);
    // Declaration order does not matter in CUE: half the programs are shuffled, so references point forward
    // as often as backward.
    if g.rng.chance(50) {
        for i in (1..chunks.len()).rev() {
            chunks.swap(i, g.rng.below(i + 1));
        }
    }
    let mut text = header;
    if g.uses_strings {
        text.push_str("import \"strings\"\n\n");
    }
    text.push_str(&chunks.concat());
    text
}

struct Gen {
    rng: Rng,
    out: String,
    /// Fields (concrete after export) that later expressions may refer to.
    fields: Vec<Field>,
    /// Declarations appended at the end of the file (repeated declarations of one field).
    deferred: Vec<String>,
    next: usize,
    /// Whether the program calls the `strings` package (and so imports it).
    uses_strings: bool,
}

impl Gen {
    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    fn refs(&self, want: impl Fn(&Ty) -> bool) -> Vec<Field> {
        self.fields.iter().filter(|f| want(&f.ty)).cloned().collect()
    }

    fn pick_ref(&mut self, want: impl Fn(&Ty) -> bool) -> Option<Field> {
        let refs = self.refs(want);
        if refs.is_empty() { None } else { Some(self.rng.pick(&refs).clone()) }
    }

    /// Registers a top-level field and, for structs and lists, its members.
    fn register(&mut self, path: String, ty: Ty) {
        if let Ty::Struct(members) = &ty {
            for (label, member) in members {
                let sub = if label.starts_with('"') && self.rng.chance(50) {
                    format!("{path}[{label}]")
                } else {
                    format!("{path}.{label}")
                };
                self.register(sub, member.clone());
            }
        }
        self.fields.push(Field { path, ty });
    }

    fn string_lit(&mut self) -> String {
        format!("{:?}", self.rng.pick(WORDS))
    }

    fn int_expr(&mut self, depth: usize) -> (String, Option<i64>) {
        let choice = if depth == 0 { self.rng.below(2) } else { self.rng.below(9) };
        match choice {
            0 => {
                let v = self.rng.range(-20, 120);
                (v.to_string(), Some(v))
            }
            1 => match self.pick_ref(|t| matches!(t, Ty::Int(_))) {
                Some(Field { path, ty: Ty::Int(v) }) => (path, v),
                _ => {
                    let v = self.rng.range(0, 9);
                    (v.to_string(), Some(v))
                }
            },
            2 | 3 => {
                let (a, x) = self.int_expr(depth - 1);
                let (b, y) = self.int_expr(depth - 1);
                let op = *self.rng.pick(&["+", "-", "*"]);
                let v = match (x, y, op) {
                    (Some(x), Some(y), "+") => x.checked_add(y),
                    (Some(x), Some(y), "-") => x.checked_sub(y),
                    (Some(x), Some(y), _) => x.checked_mul(y),
                    _ => None,
                };
                (format!("({a} {op} {b})"), v)
            }
            4 => {
                let (a, _) = self.int_expr(depth - 1);
                let f = *self.rng.pick(&["div", "mod", "quo", "rem"]);
                let d = self.rng.range(1, 7) * if self.rng.chance(20) { -1 } else { 1 };
                (format!("{f}({a}, {d})"), None)
            }
            5 => match self.pick_ref(|t| matches!(t, Ty::Str | Ty::List(..) | Ty::Struct(_))) {
                Some(f) => (format!("len({})", f.path), None),
                None => {
                    let s = self.string_lit();
                    (format!("len({s})"), None)
                }
            },
            6 => match self.pick_ref(|t| matches!(t, Ty::List(e, n) if **e == Ty::Int(None) && *n > 0)) {
                Some(Field { path, ty: Ty::List(_, n) }) => (format!("{path}[{}]", self.rng.below(n)), None),
                _ => self.int_expr(0),
            },
            7 => {
                // A disjunction with a default in an arithmetic operand: the default is taken.
                let d = self.rng.range(0, 9);
                (format!("(*{d} | int)"), Some(d))
            }
            _ => {
                let (a, x) = self.int_expr(depth - 1);
                (format!("-{a}"), x.and_then(i64::checked_neg))
            }
        }
    }

    fn str_expr(&mut self, depth: usize) -> String {
        let choice = if depth == 0 { self.rng.below(2) } else { self.rng.below(7) };
        match choice {
            0 => self.string_lit(),
            1 => match self.pick_ref(|t| *t == Ty::Str) {
                Some(f) => f.path,
                None => self.string_lit(),
            },
            2 => {
                let a = self.str_expr(depth - 1);
                let b = self.str_expr(depth - 1);
                format!("{a} + {b}")
            }
            3 => {
                let mut s = String::from("\"");
                for _ in 0..1 + self.rng.below(3) {
                    let part = match self.rng.below(4) {
                        0 => self.int_expr(depth - 1).0,
                        1 => self.bool_expr(depth - 1),
                        2 => self.str_expr(depth - 1),
                        _ => self.pick_ref(|t| *t == Ty::Float).map_or_else(|| "1.5".to_string(), |f| f.path),
                    };
                    let _ = write!(s, "\\({part})-");
                }
                s.push('"');
                s
            }
            4 => {
                let d = self.string_lit();
                let other = self.string_lit();
                format!("(*{d} | {other} | string)")
            }
            5 if self.rng.chance(40) => {
                self.uses_strings = true;
                let a = self.str_expr(depth - 1);
                match self.rng.below(4) {
                    0 => format!("strings.ToUpper({a})"),
                    1 => {
                        let b = self.str_expr(depth - 1);
                        format!("strings.Join([{a}, {b}], \"-\")")
                    }
                    2 => format!("strings.TrimSpace(\"  \" + {a})"),
                    _ => format!("strings.Replace({a}, \"a\", \"A\", -1)"),
                }
            }
            _ => {
                let word = self.rng.pick(WORDS);
                format!("#\"{word}\\n\\#(\"raw\")\"#")
            }
        }
    }

    fn bool_expr(&mut self, depth: usize) -> String {
        let choice = if depth == 0 { self.rng.below(2) } else { self.rng.below(6) };
        match choice {
            0 => self.rng.pick(&["true", "false"]).to_string(),
            1 => match self.pick_ref(|t| *t == Ty::Bool) {
                Some(f) => f.path,
                None => "true".into(),
            },
            2 => {
                let (a, _) = self.int_expr(depth - 1);
                let (b, _) = self.int_expr(depth - 1);
                let op = *self.rng.pick(&["<", "<=", ">", ">=", "==", "!="]);
                format!("{a} {op} {b}")
            }
            3 => {
                let a = self.str_expr(depth - 1);
                let b = self.str_expr(depth - 1);
                let op = *self.rng.pick(&["==", "!=", "<", ">"]);
                format!("{a} {op} {b}")
            }
            4 => {
                let a = self.bool_expr(depth - 1);
                let b = self.bool_expr(depth - 1);
                let op = *self.rng.pick(&["&&", "||"]);
                format!("({a} {op} {b})")
            }
            _ => {
                let a = self.bool_expr(depth - 1);
                format!("!({a})")
            }
        }
    }

    /// A concrete scalar expression and its kind.
    fn scalar(&mut self, depth: usize) -> (String, Ty) {
        match self.rng.below(8) {
            0..=2 => {
                let (e, v) = self.int_expr(depth);
                (e, Ty::Int(v))
            }
            3 | 4 => (self.str_expr(depth), Ty::Str),
            5 | 6 => (self.bool_expr(depth), Ty::Bool),
            _ => {
                let (a, _) = self.int_expr(depth.min(1));
                let form = self.rng.below(3);
                let e = match form {
                    0 => format!("{a} / {}", self.rng.range(1, 8)),
                    1 => format!("{}.{}", self.rng.range(0, 99), self.rng.range(0, 99)),
                    _ => format!("{a} * 0.5"),
                };
                (e, Ty::Float)
            }
        }
    }

    /// A struct literal of concrete fields, with some optional, hidden and conditional ones that are not
    /// registered (they are absent from the export or not certain to exist).
    fn struct_lit(&mut self, depth: usize, indent: usize) -> (String, Vec<(String, Ty)>) {
        let pad = "\t".repeat(indent + 1);
        let mut labels: Vec<&str> = LABELS.to_vec();
        let mut members = Vec::new();
        let mut text = String::from("{\n");
        for _ in 0..1 + self.rng.below(4) {
            let label = labels.swap_remove(self.rng.below(labels.len())).to_string();
            let (value, ty) = if depth > 0 && self.rng.chance(30) {
                let (v, m) = self.struct_lit(depth - 1, indent + 1);
                (v, Ty::Struct(m))
            } else {
                self.scalar(2)
            };
            let _ = writeln!(text, "{pad}{label}: {value}");
            members.push((label, ty));
        }
        match self.rng.below(6) {
            0 => {
                let _ = writeln!(text, "{pad}opt?: int");
            }
            1 => {
                let (v, _) = self.int_expr(1);
                let _ = writeln!(text, "{pad}_hidden: {v}");
            }
            2 => {
                let cond = self.bool_expr(2);
                let (v, _) = self.scalar(1);
                let _ = writeln!(text, "{pad}if {cond} {{\n{pad}\tguarded: {v}\n{pad}}}");
            }
            3 => {
                let _ = writeln!(text, "{pad}#meta: \"m\"");
            }
            _ => {}
        }
        let _ = write!(text, "{}}}", "\t".repeat(indent));
        (text, members)
    }

    /// One well-typed top-level declaration.
    fn decl(&mut self) {
        match self.rng.below(18) {
            0 | 1 => {
                let name = self.fresh("f");
                let (e, ty) = self.scalar(3);
                let _ = writeln!(self.out, "{name}: {e}");
                self.register(name, ty);
            }
            2 => self.bounded(),
            3 => self.disjunction(),
            4 | 5 => {
                let name = self.fresh("s");
                if self.rng.chance(30) {
                    // Shorthand nesting.
                    let (e, ty) = self.scalar(2);
                    let _ = writeln!(self.out, "{name}: a: b: {e}");
                    self.register(name, Ty::Struct(vec![("a".into(), Ty::Struct(vec![("b".into(), ty)]))]));
                } else {
                    let (text, members) = self.struct_lit(2, 0);
                    let _ = writeln!(self.out, "{name}: {text}");
                    self.register(name, Ty::Struct(members));
                }
            }
            6 => self.repeated(),
            7 | 8 => self.definition(None),
            9 => self.list(),
            10 => self.comprehension(),
            11 => self.pattern(),
            12 => self.hidden_or_let(),
            13 => self.guarded(),
            14 => self.struct_disjunction(),
            15 => self.nested_definitions(),
            16 => self.ordering(),
            _ => {
                let name = self.fresh("f");
                let a = if self.rng.chance(30) {
                    let word = self.rng.pick(WORDS);
                    format!("\"\"\"\n\t\\({})-{word}\n\t  indented\n\t\"\"\"", self.int_expr(1).0)
                } else {
                    self.str_expr(2)
                };
                let _ = writeln!(self.out, "{name}: string & {a}");
                self.register(name, Ty::Str);
            }
        }
    }

    /// Structs whose field order depends on how literals meet: explicit `&` of literals with overlapping
    /// labels in different orders, repeated fields, embeddings next to own fields, and a field selected
    /// through a regular field holding a definition (open, unlike the definition's own path).
    fn ordering(&mut self) {
        const LABELS: &[&str] = &["a", "b", "c", "k", "m", "x", "z"];
        let lit = |g: &mut Self| -> String {
            let mut labels: Vec<&str> = LABELS.to_vec();
            let keep = 2 + g.rng.below(4);
            // A random order of a random subset; a label always has the same value, so literals agree.
            for i in (1..labels.len()).rev() {
                labels.swap(i, g.rng.below(i + 1));
            }
            labels.truncate(keep);
            let fields: Vec<String> =
                labels.iter().map(|l| format!("{l}: {}", LABELS.iter().position(|x| x == l).unwrap_or(0))).collect();
            format!("{{{}}}", fields.join(", "))
        };
        let name = self.fresh("o");
        match self.rng.below(4) {
            0 => {
                let (x, y) = (lit(self), lit(self));
                let _ = writeln!(self.out, "{name}: {x} & {y}");
            }
            1 => {
                let (x, y) = (lit(self), lit(self));
                let _ = writeln!(self.out, "{name}: {x}\n{name}: {y}");
            }
            2 => {
                let (x, y) = (lit(self), lit(self));
                let inner = &y[1..y.len() - 1];
                let src = self.fresh("e");
                let _ = writeln!(self.out, "{src}: {x}\n{name}: {{{inner}, {src}}}");
            }
            _ => {
                let def = self.fresh("#Sel");
                let holder = self.fresh("h");
                let x = lit(self);
                let _ = writeln!(self.out, "{def}: {{b: {x}}}\n{holder}: {def}\n{name}: {holder}.b & {{extra: 1}}");
            }
        }
    }

    /// Struct disjunctions told apart by a discriminator field, with or without a default.
    fn struct_disjunction(&mut self) {
        let name = self.fresh("u");
        let web = "{kind: \"web\", port: *80 | int, caps: *[\"ALL\"] | [...string]}";
        let job = "{kind: \"job\", schedule!: string}";
        let (text, ty) = match self.rng.below(3) {
            0 => (format!("({web} | {job}) & {{kind: \"job\", schedule: \"@daily\"}}"), Ty::Str),
            1 => (format!("*{web} | {job}"), Ty::Int(Some(80))),
            _ => {
                let port = self.rng.range(1, 999);
                (format!("({job} | {web}) & {{port: {port}}}"), Ty::Int(Some(port)))
            }
        };
        let _ = writeln!(self.out, "{name}: {text}");
        let member = if ty == Ty::Str { "schedule" } else { "port" };
        self.register(name, Ty::Struct(vec![("kind".into(), Ty::Str), (member.into(), ty)]));
    }

    /// A definition embedding another one, and an instance of the outer one.
    fn nested_definitions(&mut self) {
        let base = self.fresh("#Base");
        let ext = self.fresh("#Ext");
        let inst = self.fresh("v");
        let id = self.rng.range(0, 99);
        let _ = writeln!(
            self.out,
            "{base}: {{\n\tid: int\n\tlabels: [string]: string\n}}\n{ext}: {{\n\t{base}\n\tname: *\"x\" | string\n\t\
             kind: \"ext\"\n}}\n{inst}: {ext} & {{id: {id}, labels: {{team: \"core\"}}}}"
        );
        let members = vec![("id".into(), Ty::Int(Some(id))), ("name".into(), Ty::Str), ("kind".into(), Ty::Str)];
        self.register(inst, Ty::Struct(members));
    }

    fn bounded(&mut self) {
        let name = self.fresh("n");
        let lo = self.rng.range(-10, 50);
        let hi = lo + self.rng.range(0, 60);
        let v = self.rng.range(lo, hi);
        let (text, known) = match self.rng.below(4) {
            0 => (format!("int & >={lo} & <={hi} & {v}"), Some(v)),
            1 => (format!(">{} & <{} & {v}", lo - 1, hi + 1), Some(v)),
            2 => (format!("uint8 & {}", v.rem_euclid(256)), Some(v.rem_euclid(256))),
            _ => match self.pick_ref(|t| matches!(t, Ty::Int(Some(_)))) {
                Some(Field { path, ty: Ty::Int(Some(x)) }) => {
                    let w = x.saturating_add(v.abs());
                    (format!("int & >={path} & {w}"), Some(w))
                }
                _ => (format!("number & <={hi} & {v}"), Some(v)),
            },
        };
        let _ = writeln!(self.out, "{name}: {text}");
        self.register(name, Ty::Int(known));
    }

    fn disjunction(&mut self) {
        let name = self.fresh("d");
        let words: Vec<String> = (0..3).map(|i| format!("\"{}{i}\"", self.rng.pick(WORDS))).collect();
        let default = self.rng.below(3);
        let alts: Vec<String> =
            words.iter().enumerate().map(|(i, w)| if i == default { format!("*{w}") } else { w.clone() }).collect();
        let text = match self.rng.below(5) {
            0 => alts.join(" | "),
            1 => format!("({}) & {}", alts.join(" | "), words[self.rng.below(3)]),
            2 => format!("({}) & string", alts.join(" | ")),
            3 => {
                let n = self.rng.range(1, 9);
                let _ = writeln!(self.out, "{name}: *{n} | int & >0");
                self.register(name, Ty::Int(None));
                return;
            }
            _ => {
                let _ = writeln!(self.out, "{name}: *true | bool");
                self.register(name, Ty::Bool);
                return;
            }
        };
        let _ = writeln!(self.out, "{name}: {text}");
        self.register(name, Ty::Str);
    }

    /// The same field declared twice (once now, once at the end of the file), compatibly.
    fn repeated(&mut self) {
        let name = self.fresh("r");
        if self.rng.chance(50) {
            let (a, ma) = self.struct_lit(1, 0);
            let (e, ty) = self.scalar(1);
            let extra = if ma.iter().any(|(l, _)| l == "extra") { "extra2" } else { "extra" };
            let _ = writeln!(self.out, "{name}: {a}");
            self.deferred.push(format!("{name}: {extra}: {e}\n"));
            let mut members = ma;
            members.push((extra.into(), ty));
            self.register(name, Ty::Struct(members));
        } else {
            let (e, v) = self.int_expr(2);
            let _ = writeln!(self.out, "{name}: int");
            self.deferred.push(format!("{name}: {e}\n"));
            self.register(name, Ty::Int(v));
        }
    }

    /// A definition and an instance of it. `error` asks for a deliberate error of the given sort.
    fn definition(&mut self, error: Option<usize>) {
        let def = self.fresh("#D");
        let open = self.rng.chance(15);
        let mut decls = Vec::new();
        // (label, must supply, value to supply, kind when exported)
        let mut supplies: Vec<(String, bool, String, Option<Ty>)> = Vec::new();
        decls.push("name!: string".to_string());
        let who = self.string_lit();
        supplies.push(("name".into(), true, who, Some(Ty::Str)));
        decls.push("port: int & >0 & <=65535".into());
        let port = self.rng.range(1, 9000);
        supplies.push(("port".into(), true, port.to_string(), Some(Ty::Int(Some(port)))));
        if self.rng.chance(70) {
            decls.push("proto: *\"TCP\" | \"UDP\"".into());
            let udp = self.rng.chance(40);
            supplies.push(("proto".into(), udp, "\"UDP\"".into(), Some(Ty::Str)));
        }
        if self.rng.chance(50) {
            decls.push("tags?: [...string]".into());
            supplies.push(("tags".into(), self.rng.chance(50), "[\"a\", \"b\"]".into(), None));
        }
        if self.rng.chance(50) {
            decls.push("meta: {team: *\"core\" | string, tier?: int}".into());
            supplies.push(("meta".into(), self.rng.chance(30), "{team: \"edge\"}".into(), None));
        }
        if self.rng.chance(40) {
            decls.push("url: \"http://\\(name):\\(port)\"".into());
            supplies.push(("url".into(), false, String::new(), Some(Ty::Str)));
        }
        if open {
            decls.push("...".into());
        }
        let _ = writeln!(self.out, "{def}: {{\n\t{}\n}}", decls.join("\n\t"));

        let inst = self.fresh("v");
        let mut given: Vec<String> = Vec::new();
        let mut members = Vec::new();
        for (i, (label, must, value, ty)) in supplies.iter().enumerate() {
            let omit = error == Some(0) && i == 0;
            if *must && !omit {
                given.push(format!("{label}: {value}"));
            }
            if let Some(ty) = ty {
                members.push((label.clone(), ty.clone()));
            }
        }
        match error {
            Some(1) => given.push("extra: 1".into()),
            Some(2) => given.push("port: \"eighty\"".into()),
            Some(_) => given.push("port: 70000".into()),
            None => {
                if self.rng.chance(30) {
                    given.push("_note: \"hidden is allowed\"".into());
                }
            }
        }
        let body = given.join(", ");
        match self.rng.below(3) {
            0 => {
                let _ = writeln!(self.out, "{inst}: {def} & {{{body}}}");
            }
            1 => {
                // Embedding: the literal's own fields are allowed besides the definition's.
                let _ = writeln!(self.out, "{inst}: {{{def}, own: 1, {body}}}");
                members.push(("own".into(), Ty::Int(Some(1))));
            }
            _ => {
                let _ = writeln!(self.out, "{inst}: {def}");
                self.deferred.push(format!("{inst}: {{{body}}}\n"));
            }
        }
        if error.is_none() {
            self.register(inst, Ty::Struct(members));
        }
    }

    fn list(&mut self) {
        let name = self.fresh("l");
        let n = self.rng.below(5);
        let items: Vec<String> = (0..n).map(|_| self.int_expr(1).0).collect();
        let text = match self.rng.below(3) {
            0 => format!("[{}]", items.join(", ")),
            1 => format!("[...int] & [{}]", items.join(", ")),
            _ if items.is_empty() => "[...int]".to_string(),
            _ => format!("[{}, ...int]", items.join(", ")),
        };
        let _ = writeln!(self.out, "{name}: {text}");
        self.register(name, Ty::List(Box::new(Ty::Int(None)), n));
    }

    fn comprehension(&mut self) {
        let name = self.fresh("c");
        let lists = self.refs(|t| matches!(t, Ty::List(e, _) if **e == Ty::Int(None)));
        let structs = self.refs(|t| matches!(t, Ty::Struct(m) if !m.is_empty()));
        if !lists.is_empty() && (structs.is_empty() || self.rng.chance(50)) {
            let src = self.rng.pick(&lists).path.clone();
            let k = self.rng.range(-5, 50);
            let text = match self.rng.below(3) {
                0 => format!("[for i, x in {src} if x > {k} {{x + i}}]"),
                1 => format!("[for x in {src} {{\"item-\\(x)\"}}]"),
                _ => format!("{{for i, x in {src} {{\"k\\(i)\": x * 2}}}}"),
            };
            let _ = writeln!(self.out, "{name}: {text}");
            if text.starts_with("[for x") {
                self.register(name, Ty::List(Box::new(Ty::Str), 0));
            }
        } else if !structs.is_empty() {
            let src = self.rng.pick(&structs).path.clone();
            let text = match self.rng.below(3) {
                0 => format!("{{for k, v in {src} {{\"p_\\(k)\": v}}}}"),
                1 => format!("[for k, v in {src} if k != \"a\" {{k}}]"),
                _ => format!("{{for k, v in {src} {{(k): {{value: v, label: k}}}}}}"),
            };
            let _ = writeln!(self.out, "{name}: {text}");
        } else {
            let _ = writeln!(self.out, "{name}: [for x in [1, 2, 3] if x != 2 {{x}}]");
            self.register(name, Ty::List(Box::new(Ty::Int(None)), 2));
        }
    }

    fn pattern(&mut self) {
        let name = self.fresh("p");
        let text = match self.rng.below(3) {
            0 => format!("{{[string]: int, a: {}, b: {}}}", self.rng.range(0, 9), self.rng.range(0, 9)),
            1 => "{[=~\"^x\"]: string, xa: \"s\", y: 1}".to_string(),
            _ => "{[N=string]: {name: N}, web: {}, db: {port: 5432}}".to_string(),
        };
        let _ = writeln!(self.out, "{name}: {text}");
    }

    fn hidden_or_let(&mut self) {
        let (e, _) = self.int_expr(2);
        let name = self.fresh("f");
        if self.rng.chance(50) {
            let hidden = self.fresh("_h");
            let _ = writeln!(self.out, "{hidden}: {e}\n{name}: {hidden} * 2");
        } else {
            let binding = self.fresh("L");
            let _ = writeln!(self.out, "let {binding} = {e}\n{name}: {binding} + 1");
        }
        self.register(name, Ty::Int(None));
    }

    fn guarded(&mut self) {
        let name = self.fresh("g");
        let cond = self.bool_expr(2);
        let (e, _) = self.scalar(1);
        let exists = self.pick_ref(|_| true).map_or_else(|| "base".to_string(), |f| f.path);
        let _ = writeln!(
            self.out,
            "{name}: {{\n\tbase: 1\n\tif {cond} {{\n\t\textra: {e}\n\t}}\n\tif {exists} != _|_ {{\n\t\tseen: true\n\t}}\n}}"
        );
        self.register(name, Ty::Struct(vec![("base".into(), Ty::Int(Some(1)))]));
    }

    /// A declaration with a deliberate error.
    fn error_decl(&mut self) {
        let name = self.fresh("e");
        let text = match self.rng.below(12) {
            0 => format!("{} & {}", self.rng.range(0, 5), self.rng.range(6, 9)),
            1 => "int & \"text\"".into(),
            2 => format!(">{} & {}", self.rng.range(10, 20), self.rng.range(0, 9)),
            3 => "{a: 1} & {a: 2}".into(),
            4 => "int".into(),
            5 => "*1 | *2".into(),
            6 => "[1, 2] & [1]".into(),
            7 => "[1, 2, 3][5]".into(),
            8 => "close({a: 1}) & {b: 2}".into(),
            9 => {
                let sort = self.rng.below(4);
                self.definition(Some(sort));
                return;
            }
            10 => "{name!: string, other: 1}".into(),
            _ => "\"\\({a: 1})\"".into(),
        };
        let _ = writeln!(self.out, "{name}: {text}");
    }
}
