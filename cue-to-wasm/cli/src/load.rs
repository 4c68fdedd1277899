//! Loading the input files: explicit files, or the package of a directory; and, for imports, the
//! packages of the enclosing module (`cue.mod/module.cue`), of `cue.mod/gen`, `cue.mod/pkg` and
//! `cue.mod/usr`.

use std::fs;
use std::path::{Path, PathBuf};

use cue_eval::{PackageSource, SourceFile};

/// Loads the inputs (files or directories; none means the current directory). A directory may name
/// its package (`.:name`, `:name`); `json:`, `yaml:`, `jsonl:`, `text:` and `cue:` set the format of the files
/// that follow; `.yaml`/`.yml`, `.jsonl`/`.ldjson`/`.ndjson` and `.json` files are data, a `.txt` file is a string.
/// `placement.paths` (`-l`) places every data file: `name:` is a label, anything else an expression evaluated
/// over each data document (`-l kind -l name` files Kubernetes objects by kind and name).
pub fn load(inputs: &[String], placement: &Placement) -> Result<Vec<SourceFile>, String> {
    if inputs.is_empty() {
        return load_dir(".", None);
    }
    let mut files = Vec::new();
    let mut format: Option<&str> = None;
    for input in inputs {
        if let Some(f) = input.strip_suffix(':').filter(|f| !f.contains(['/', '.'])) {
            format = Some(f);
            continue;
        }
        let (path, package) = match input.rsplit_once(':') {
            Some((dir, name)) if !name.contains('/') && (dir.is_empty() || Path::new(dir).is_dir()) => {
                (if dir.is_empty() { "." } else { dir }, Some(name))
            }
            _ => (input.as_str(), None),
        };
        if Path::new(path).is_dir() {
            files.extend(load_dir(path, package)?);
        } else if input == "-" {
            files.push(load_stdin(format)?);
        } else if !Path::new(path).exists() && looks_like_import_path(input) {
            match Modules::for_inputs(inputs).package(input)? {
                Some(found) => files.extend(found),
                None => return Err(format!("cannot find package {input:?}\n")),
            }
        } else {
            files.push(load_file(path, format, placement)?);
        }
    }
    Ok(files)
}

/// Where data files go: `-l` paths and `--with-context`.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    /// `-l`/`--path`, in order.
    pub paths: Vec<String>,
    /// `--with-context`: `-l` expressions see `filename` (absolute), `index`, `recordCount` and `data`
    /// instead of the document's own fields.
    pub with_context: bool,
}

/// How many data files were placed so far (their helper names are numbered).
static PLACED_FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Places each data document (one JSON value a line, or a whole JSON text) under the `-l` path.
fn place(text: &str, format: &str, placement: &Placement, path: &str, name: &str) -> Result<String, String> {
    let paths = &placement.paths;
    // Names unique to this file: the evaluator does not keep file-level `let`s apart between files.
    let file = PLACED_FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let docs: Vec<&str> = match format {
        "yaml" | "jsonl" => text.lines().filter(|l| !l.trim().is_empty()).collect(),
        _ => vec![text.trim()],
    };
    let mut imports = std::collections::BTreeSet::new();
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if paths.iter().any(|p| !p.ends_with(':')) {
            out.push_str(&format!("let _pequodDoc{file}_{i} = {doc}\n"));
        }
        let mut labels = Vec::new();
        for (k, p) in paths.iter().enumerate() {
            match p.strip_suffix(':') {
                Some(statics) => {
                    for l in statics.split(':').map(str::trim) {
                        let quoted = l.len() > 1 && l.starts_with('"') && l.ends_with('"');
                        let hidden = l.strip_prefix('_').is_some_and(is_identifier);
                        if !(is_identifier(l) || hidden || quoted) {
                            return Err(format!(
                                "labels must be expressions (-l foo -l 'strings.ToLower(bar)') or full paths \
                                 (-l '\"foo\": \"\\(strings.ToLower(bar))\":'): invalid label {l:?} in path {p:?}\n"
                            ));
                        }
                        labels.push(l.to_string());
                    }
                }
                None if p.trim_start().starts_with('(') => {
                    return Err(format!("expression is not a valid label: {p}\n"));
                }
                None => {
                    for (short, path) in STD_FOR_PATHS {
                        if p.contains(&format!("{short}.")) {
                            imports.insert(*path);
                        }
                    }
                    let var = format!("_pequodPath{file}_{i}_{k}");
                    out.push_str(&format!("let {var} = {{\n"));
                    if placement.with_context {
                        out.push_str(&context_bindings(path, &format!("_pequodDoc{file}_{i}"), i, docs.len()));
                    } else {
                        // The expression sees the document's top-level fields by name.
                        let value: serde_json::Value =
                            serde_json::from_str(doc).map_err(|e| format!("{name}: -l {p}: {e}\n"))?;
                        let serde_json::Value::Object(fields) = value else {
                            return Err(format!("{name}: -l {p}: the data is not a struct\n"));
                        };
                        for key in fields.keys().filter(|k| is_identifier(k)) {
                            out.push_str(&format!("let {key} = _pequodDoc{file}_{i}.{key}\n"));
                        }
                    }
                    out.push_str(&format!("_pequodLabel: {p}\n}}._pequodLabel\n"));
                    labels.push(format!("({var})"));
                }
            }
        }
        for l in &labels {
            out.push_str(l);
            out.push_str(": ");
        }
        out.push_str(doc);
        out.push('\n');
    }
    let header: String = imports.iter().map(|p| format!("import \"{p}\"\n")).collect();
    Ok(header + &out)
}

/// The names a `--with-context` expression sees for document `index` of `count` in the file at `path`.
fn context_bindings(path: &str, doc: &str, index: usize, count: usize) -> String {
    let absolute = fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
    let filename = cue_string(&absolute.to_string_lossy());
    format!("let filename = {filename}\nlet index = {index}\nlet recordCount = {count}\nlet data = {doc}\n")
}

/// Standard library packages a `-l` expression may call, by the name it uses.
const STD_FOR_PATHS: &[(&str, &str)] = &[
    ("strings", "strings"),
    ("path", "path"),
    ("strconv", "strconv"),
    ("regexp", "regexp"),
    ("math", "math"),
    ("list", "list"),
];

/// A plain CUE identifier (not hidden, not a definition).
fn is_identifier(label: &str) -> bool {
    label.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// True for `example.com/pkg` or `example.com/pkg:name` (a domain-like first element).
fn looks_like_import_path(input: &str) -> bool {
    let first = input.split('/').next().unwrap_or("");
    !input.starts_with('.') && !input.starts_with('/') && first.contains('.') && !input.ends_with(".cue")
}

fn load_stdin(format: Option<&str>) -> Result<SourceFile, String> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| format!("cannot read stdin: {e}\n"))?;
    let text = match format {
        Some("yaml") => cue_eval::yaml_to_cue(&text).map_err(|e| format!("-: {e}\n"))?,
        _ => text,
    };
    Ok(SourceFile::new("-", text))
}

fn display_name(path: &str) -> String {
    if path.starts_with("./") || path.starts_with('/') || path.starts_with("../") {
        path.to_string()
    } else {
        format!("./{path}")
    }
}

fn load_file(path: &str, format: Option<&str>, placement: &Placement) -> Result<SourceFile, String> {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    let format = match format {
        Some(f) => f,
        None => match ext {
            "cue" => "cue",
            "json" => "json",
            "yaml" | "yml" => "yaml",
            "jsonl" | "ldjson" | "ndjson" => "jsonl",
            "txt" => "text",
            _ => "",
        },
    };
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}\n"))?;
    let name = display_name(path);
    let text = match format {
        "cue" => text,
        "json" => {
            if text.trim().is_empty() {
                let line = text.lines().count().max(1);
                return Err(format!("invalid JSON: unexpected end of JSON input:\n    {name}:{line}:1\n"));
            }
            cue_eval::check_json(&text, false).map_err(|e| format!("{e}:\n    {name}:1:1\n"))?;
            text
        }
        "jsonl" => {
            cue_eval::check_json(&text, true).map_err(|e| format!("{e}:\n    {name}:1:1\n"))?;
            text
        }
        "yaml" => cue_eval::yaml_to_cue(&text).map_err(|e| format!("{name}: {e}\n"))?,
        "text" => cue_string(&text),
        _ => {
            return Err(format!(
                "unsupported feature: input file {path} (only CUE, JSON, JSON Lines, YAML and text files are supported)\n"
            ));
        }
    };
    let text = if format != "cue" && !placement.paths.is_empty() {
        place(&text, format, placement, path, &name)?
    } else {
        text
    };
    Ok(SourceFile::new(name, text))
}

/// A text file's content as one CUE string literal (its JSON spelling, which has no interpolation).
fn cue_string(text: &str) -> String {
    cue_eval::export::to_json(&cue_eval::Data::Str(text.into())).trim_end().to_string()
}

fn load_dir(dir: &str, package: Option<&str>) -> Result<Vec<SourceFile>, String> {
    let dir = dir.trim_end_matches("/...");
    let files = cue_files(Path::new(dir), &display_dir(dir))?;
    let mut files = match package {
        Some(name) => {
            let chosen: Vec<SourceFile> =
                files.into_iter().filter(|f| package_of(f).as_deref() == Some(name)).collect();
            if chosen.is_empty() {
                return Err(format!("build constraints exclude all CUE files in {dir}\n"));
            }
            chosen
        }
        None => select_package(files)?,
    };
    // Inside a module, files of the same package in the directories above (up to the module root)
    // belong to the package too.
    if let (Some(root), Some(name)) = (module_root(Path::new(dir)), files.first().and_then(package_of)) {
        let here = fs::canonicalize(dir).unwrap_or_else(|_| PathBuf::from(dir));
        let mut above = Vec::new();
        let mut cur = here.parent().map(Path::to_path_buf);
        let mut prefix = String::from("..");
        while let Some(d) = cur.filter(|d| d.starts_with(&root)) {
            let shown = if dir == "." { prefix.clone() } else { format!("{dir}/{prefix}") };
            let found = cue_files(&d, &shown)?;
            above.splice(0..0, found.into_iter().filter(|f| package_of(f).as_deref() == Some(&name)));
            cur = d.parent().map(Path::to_path_buf);
            prefix.push_str("/..");
        }
        above.append(&mut files);
        files = above;
    }
    Ok(files)
}

fn display_dir(dir: &str) -> String {
    if dir == "." { String::new() } else { dir.trim_end_matches('/').to_string() }
}

/// The `.cue` files of a directory (not hidden ones), sorted, named `shown/name`.
fn cue_files(dir: &Path, shown: &str) -> Result<Vec<SourceFile>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read directory {}: {e}\n", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cue") && !n.starts_with('.') && !n.starts_with('_'))
        .collect();
    names.sort();
    let mut files = Vec::new();
    for name in names {
        let path = dir.join(&name);
        let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}\n", path.display()))?;
        let shown = if shown.is_empty() { name } else { format!("{shown}/{name}") };
        files.push(SourceFile::new(display_name(&shown), text));
    }
    Ok(files)
}

fn package_of(file: &SourceFile) -> Option<String> {
    let (parsed, _) = cue_syntax::parse(&file.text);
    parsed.package.map(|p| p.name.name.to_string())
}

fn select_package(files: Vec<SourceFile>) -> Result<Vec<SourceFile>, String> {
    let packages: Vec<Option<String>> = files.iter().map(package_of).collect();
    let mut named: Vec<&String> = packages.iter().flatten().collect();
    named.sort();
    named.dedup();
    match named.as_slice() {
        [] if files.is_empty() => Err("no CUE files in directory\n".into()),
        [] => Ok(files),
        [one] => {
            let one = (*one).clone();
            Ok(files.into_iter().zip(packages).filter(|(_, p)| p.as_deref() == Some(&one)).map(|(f, _)| f).collect())
        }
        [a, b, ..] => Err(format!("found packages {a} and {b} in directory\n")),
    }
}

/// Finds the module root (the directory holding `cue.mod`) at or above `start`.
fn module_root(start: &Path) -> Option<PathBuf> {
    let start = fs::canonicalize(start).ok()?;
    let mut cur = Some(start.as_path());
    while let Some(dir) = cur {
        if dir.join("cue.mod").is_dir() {
            return Some(dir.to_path_buf());
        }
        cur = dir.parent();
    }
    None
}

/// Imported packages from the module around the inputs and its `cue.mod` trees.
pub struct Modules {
    /// The module root, if the inputs are inside a module.
    root: Option<PathBuf>,
    /// The module path declared in `cue.mod/module.cue`.
    module: Option<String>,
    /// The current directory (file names are shown relative to it).
    cwd: PathBuf,
}

impl Modules {
    /// Finds the module enclosing the current directory (as `cue` does, whatever the inputs).
    pub fn for_inputs(_inputs: &[String]) -> Modules {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let root = module_root(&cwd);
        let module = root.as_ref().and_then(|r| module_path(&r.join("cue.mod").join("module.cue")));
        let cwd = fs::canonicalize(&cwd).unwrap_or(cwd);
        Modules { root, module, cwd }
    }

    fn shown(&self, path: &Path) -> String {
        match path.strip_prefix(&self.cwd) {
            Ok(rel) => format!("./{}", rel.display()),
            Err(_) => path.display().to_string(),
        }
    }

    /// The directories an import path may live in, with whether ancestor directories count.
    fn candidates(&self, path: &str) -> Vec<(PathBuf, Option<PathBuf>)> {
        let Some(root) = &self.root else { return Vec::new() };
        let mut dirs = Vec::new();
        if let Some(module) = &self.module {
            let module = module.split('@').next().unwrap_or(module);
            if path == module {
                dirs.push((root.clone(), Some(root.clone())));
            } else if let Some(rest) = path.strip_prefix(&format!("{module}/")) {
                dirs.push((root.join(rest), Some(root.clone())));
            }
        }
        for tree in ["gen", "pkg", "usr"] {
            dirs.push((root.join("cue.mod").join(tree).join(path), None));
        }
        dirs
    }
}

/// Reads `module: "path"` from a `module.cue` file.
fn module_path(file: &Path) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    let (parsed, _) = cue_syntax::parse(&text);
    parsed.decls.iter().find_map(|d| match d {
        cue_syntax::ast::Decl::Field(f) => match (&f.label.kind, &f.value.kind) {
            (cue_syntax::ast::LabelKind::Ident(id), cue_syntax::ast::ExprKind::String(s)) if &*id.name == "module" => {
                Some(s.as_str().to_string())
            }
            _ => None,
        },
        _ => None,
    })
}

impl PackageSource for Modules {
    fn package(&self, import: &str) -> Result<Option<Vec<SourceFile>>, String> {
        let (path, qualifier) = match import.split_once(':') {
            Some((p, q)) => (p, Some(q)),
            None => (import, None),
        };
        if qualifier == Some("_") {
            return Err(format!("invalid import path qualifier _ in {import:?}\n"));
        }
        let last = path.rsplit('/').next().unwrap_or(path);
        let last = last.split('@').next().unwrap_or(last);
        for (dir, ancestors_from) in self.candidates(path) {
            if !dir.is_dir() {
                continue;
            }
            // A directory inside a nested module belongs to that module, not this one.
            if let Some(root) = &ancestors_from
                && dir.ancestors().take_while(|d| d != root).any(|d| d.join("cue.mod").is_dir())
            {
                continue;
            }
            let files = cue_files(&dir, &self.shown(&dir))?;
            let names: Vec<Option<String>> = files.iter().map(package_of).collect();
            let distinct: Vec<&String> = names.iter().flatten().collect();
            let wanted = match qualifier {
                Some(q) => q.to_string(),
                None if distinct.iter().any(|n| n.as_str() == last) => last.to_string(),
                None => last.to_string(),
            };
            let mut chosen: Vec<SourceFile> = files
                .into_iter()
                .zip(names)
                .filter(|(_, n)| n.as_deref() == Some(wanted.as_str()))
                .map(|(f, _)| f)
                .collect();
            if chosen.is_empty() {
                continue;
            }
            if let Some(root) = ancestors_from {
                let mut above = Vec::new();
                let mut cur = dir.parent().map(Path::to_path_buf);
                while let Some(d) = cur.filter(|d| d.starts_with(&root)) {
                    let found = cue_files(&d, &self.shown(&d))?;
                    above.splice(0..0, found.into_iter().filter(|f| package_of(f).as_deref() == Some(wanted.as_str())));
                    cur = d.parent().map(Path::to_path_buf);
                }
                above.append(&mut chosen);
                chosen = above;
            }
            return Ok(Some(chosen));
        }
        Ok(None)
    }
}
