//! The standard library: packages registered in tables of builtins ([`StdPackage`]), plus a small
//! CUE prelude per package for members that are values rather than functions (`math.Pi`,
//! `list.Ascending`, `uuid.ns`).

mod encoding;

pub(crate) use encoding::{compact_json, parse_json, parse_json_stream, parse_yaml_stream};
mod list;
mod math;
mod net;
mod strings;
mod structs;
mod time;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::LazyLock;

use cue_syntax::ast::{self, Decl, LabelKind};

use crate::builtins::{Fail, Func, Res};
use crate::error::ErrorKind;
use crate::eval::{Evaluator, ImportTarget};
use crate::ops;
use crate::value::{VId, Value};
use crate::vertex::{Arc, ArcKind, Conj, Frame, Label, Scope, Src, State};

/// A standard library package.
pub(crate) struct StdPackage {
    /// The import path, e.g. `encoding/json`.
    pub path: &'static str,
    /// Its functions (qualified names).
    pub funcs: &'static [Func],
    /// CUE source declaring its non-function members.
    pub prelude: &'static str,
}

/// Every standard library package.
static PACKAGES: &[StdPackage] = &[
    StdPackage { path: "strings", funcs: strings::STRINGS, prelude: "" },
    StdPackage { path: "strconv", funcs: strings::STRCONV, prelude: strings::STRCONV_PRELUDE },
    StdPackage { path: "regexp", funcs: strings::REGEXP, prelude: "" },
    StdPackage { path: "list", funcs: list::LIST, prelude: list::PRELUDE },
    StdPackage { path: "struct", funcs: structs::STRUCT, prelude: "" },
    StdPackage { path: "math", funcs: math::MATH, prelude: math::PRELUDE },
    StdPackage { path: "math/bits", funcs: math::BITS, prelude: "" },
    StdPackage { path: "encoding/json", funcs: encoding::JSON, prelude: "" },
    StdPackage { path: "encoding/yaml", funcs: encoding::YAML, prelude: "" },
    StdPackage { path: "encoding/base64", funcs: encoding::BASE64, prelude: "" },
    StdPackage { path: "encoding/hex", funcs: encoding::HEX, prelude: "" },
    StdPackage { path: "crypto/sha256", funcs: encoding::SHA256, prelude: encoding::SHA256_PRELUDE },
    StdPackage { path: "crypto/sha1", funcs: encoding::SHA1, prelude: encoding::SHA1_PRELUDE },
    StdPackage { path: "crypto/sha512", funcs: encoding::SHA512, prelude: encoding::SHA512_PRELUDE },
    StdPackage { path: "uuid", funcs: encoding::UUID, prelude: encoding::UUID_PRELUDE },
    StdPackage { path: "net", funcs: net::NET, prelude: net::PRELUDE },
    StdPackage { path: "path", funcs: strings::PATH, prelude: strings::PATH_PRELUDE },
    StdPackage { path: "time", funcs: time::TIME, prelude: time::PRELUDE },
    StdPackage { path: "crypto/md5", funcs: encoding::MD5, prelude: encoding::MD5_PRELUDE },
    // Known packages without an implementation yet: importing them works, using a member is an
    // "unsupported feature" error.
    StdPackage { path: "crypto/ed25519", funcs: &[], prelude: "" },
    StdPackage { path: "crypto/hmac", funcs: &[], prelude: "" },
    StdPackage { path: "encoding/csv", funcs: &[], prelude: "" },
    StdPackage { path: "encoding/toml", funcs: &[], prelude: "" },
    StdPackage { path: "encoding/openapi", funcs: &[], prelude: "" },
    StdPackage { path: "text/template", funcs: &[], prelude: "" },
    StdPackage { path: "text/tabwriter", funcs: &[], prelude: "" },
    StdPackage { path: "tool", funcs: &[], prelude: "" },
    StdPackage { path: "tool/cli", funcs: &[], prelude: "" },
    StdPackage { path: "tool/exec", funcs: &[], prelude: "" },
    StdPackage { path: "tool/file", funcs: &[], prelude: "" },
    StdPackage { path: "tool/http", funcs: &[], prelude: "" },
    StdPackage { path: "tool/os", funcs: &[], prelude: "" },
];

/// Finds a standard library package by import path.
pub(crate) fn package(path: &str) -> Option<&'static StdPackage> {
    PACKAGES.iter().find(|p| p.path == path)
}

static PRELUDES: LazyLock<Vec<(&'static str, ast::File)>> =
    LazyLock::new(|| PACKAGES.iter().map(|p| (p.path, cue_syntax::parse(p.prelude).0)).collect());

fn prelude(path: &str) -> Option<&'static ast::File> {
    PRELUDES.iter().find(|(p, _)| *p == path).map(|(_, f)| f)
}

/// The file index used for prelude sources (no error positions point into them).
const PRELUDE_FILE: u32 = u32::MAX;

/// What the import names of one file refer to.
pub(crate) type ImportTable = HashMap<Rc<str>, ImportTarget>;

/// Builds, per file, the table of import names (standard library packages and packages of the program) and
/// the name each import declaration binds, in declaration order.
pub(crate) fn import_tables(
    files: &[ast::File],
    packages: &[(String, Vec<u32>)],
) -> (Vec<ImportTable>, Vec<Vec<Rc<str>>>) {
    let mut tables = Vec::new();
    let mut all_names = Vec::new();
    for file in files {
        let mut table = HashMap::new();
        let mut names = Vec::new();
        for spec in file.imports.iter().flat_map(|i| &i.specs) {
            let full = spec.path.as_str().to_string();
            let (path, qualifier) = match full.split_once(':') {
                Some((p, q)) => (p.to_string(), Some(q.to_string())),
                None => (full.clone(), None),
            };
            let last = path.rsplit('/').next().unwrap_or("").to_string();
            let is_std = !path.split('/').next().unwrap_or("").contains('.');
            let (target, name) = if is_std {
                match package(&path) {
                    Some(p) => (ImportTarget::Std(p.path), last),
                    None => (ImportTarget::Missing(Rc::from(format!("builtin package \"{path}\" undefined"))), last),
                }
            } else {
                match packages.iter().position(|(p, _)| *p == full) {
                    Some(i) => {
                        let clause = packages[i]
                            .1
                            .first()
                            .and_then(|f| files[*f as usize].package.as_ref())
                            .map(|p| p.name.name.to_string());
                        (ImportTarget::Package(i), qualifier.or(clause).unwrap_or(last))
                    }
                    None => {
                        let message = format!("import failed: cannot find package \"{full}\"");
                        (ImportTarget::Missing(Rc::from(message)), qualifier.unwrap_or(last))
                    }
                }
            };
            let name: Rc<str> = Rc::from(spec.name.as_ref().map_or(name, |n| n.name.to_string()));
            names.push(name.clone());
            table.insert(name, target);
        }
        tables.push(table);
        all_names.push(names);
    }
    (tables, all_names)
}

impl<'a> Evaluator<'a> {
    /// Returns the node of a standard library package, creating it on first use.
    pub(crate) fn std_package(&mut self, path: &'static str) -> VId {
        if let Some(v) = self.std_roots.get(path) {
            return *v;
        }
        let root = self.new_vertex(None, None);
        self.std_roots.insert(path, root);
        let Some(pkg) = package(path) else { return root };
        for func in pkg.funcs {
            let member = func.name.rsplit_once('.').map_or(func.name, |(_, m)| m);
            let arc = self.new_vertex(Some(root), Some(Label::Field(Rc::from(member))));
            self.vertices[arc].state = State::Done;
            self.vertices[arc].value = Value::Func(func.name);
            self.vertices[root].arcs.insert(Label::Field(Rc::from(member)), Arc { vid: arc, kind: ArcKind::Regular });
        }
        if let Some(file) = prelude(path) {
            let decls: &'static [Decl] = &file.decls;
            let env = Some(Rc::new(Frame {
                parent: None,
                scope: Scope::Struct { vid: root, decls: vec![decls] },
                file: PRELUDE_FILE,
            }));
            for decl in decls {
                let Decl::Field(field) = decl else { continue };
                let label = match &field.label.kind {
                    LabelKind::Ident(id) => Label::ident(Rc::from(&*id.name)),
                    LabelKind::String(s) => Label::string(Rc::from(&*s.as_str())),
                    _ => continue,
                };
                let arc = self.new_vertex(Some(root), Some(label.clone()));
                let conj = Conj {
                    src: Src::Expr(&field.value),
                    env: env.clone(),
                    groups: Rc::from([]),
                    embed: None,
                    via: None,
                    explicit: false,
                };
                self.vertices[arc].conjs.push(conj);
                self.vertices[root].arcs.insert(label, Arc { vid: arc, kind: ArcKind::Regular });
            }
        }
        self.vertices[root].state = State::Done;
        self.vertices[root].value = Value::Struct(root);
        root
    }

    /// Returns true if `x & schema` evaluates without a permanent error.
    pub(crate) fn matches_schema(&mut self, x: &Value, schema: &Value, ctx: VId) -> Result<bool, Value> {
        let unified = self.unify_values(x.clone(), schema.clone(), ctx);
        match &unified {
            Value::Bottom(e) if e.kind == ErrorKind::StructuralCycle => return Err(unified.clone()),
            Value::Bottom(e) if e.kind.is_incomplete() && !matches!(e.kind, ErrorKind::Required) => {
                return Ok(true);
            }
            Value::Bottom(_) => return Ok(false),
            _ => {}
        }
        let conj =
            Conj { src: Src::Value(unified), env: None, groups: Rc::from([]), embed: None, via: None, explicit: false };
        let t = self.temp_vertex(ctx, conj);
        Ok(self.permanent_error(t, 24).is_none() && self.missing_required(t, 24).is_none())
    }
}

/// `matchN(n, [schemas])`: the number of schemas the value matches must unify with `n`.
pub(crate) fn matchn(ev: &mut Evaluator<'_>, args: &[Value], ctx: VId) -> Res {
    let x = &args[0];
    let schemas = crate::builtins::list_arg(ev, &args[2], 2)?;
    let mut count = 0i64;
    for schema in &schemas {
        match ev.matches_schema(x, schema, ctx) {
            Ok(true) => count += 1,
            Ok(false) => {}
            Err(e) => return Err(Fail::Value(e)),
        }
    }
    let n = ops::default_of(&args[1]);
    if ops::unify(&n, &Value::int(count)).is_bottom() {
        return Err(Fail::Msg(format!("{count} matched, expected {n}")));
    }
    Ok(Value::Bool(true))
}

/// `matchIf(if, then, else)`: the value must match `then` if it matches `if`, and `else` otherwise.
pub(crate) fn matchif(ev: &mut Evaluator<'_>, args: &[Value], ctx: VId) -> Res {
    let x = &args[0];
    let cond = ev.matches_schema(x, &args[1], ctx).map_err(Fail::Value)?;
    let branch = if cond { &args[2] } else { &args[3] };
    let unified = ev.unify_values(x.clone(), branch.clone(), ctx);
    if let Value::Bottom(e) = &unified {
        return Err(Fail::Msg(e.message.clone()));
    }
    Ok(Value::Bool(ev.matches_schema(x, branch, ctx).map_err(Fail::Value)?))
}
