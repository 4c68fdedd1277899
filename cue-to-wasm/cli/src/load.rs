//! Loading the input files: explicit files, or the package of a directory.

use std::fs;
use std::path::Path;

use cue_eval::SourceFile;

/// Loads the inputs (files or directories; none means the current directory).
pub fn load(inputs: &[String]) -> Result<Vec<SourceFile>, String> {
    if inputs.is_empty() {
        return load_dir(".");
    }
    let mut files = Vec::new();
    for input in inputs {
        if Path::new(input).is_dir() {
            files.extend(load_dir(input)?);
        } else {
            files.push(load_file(input)?);
        }
    }
    Ok(files)
}

fn display_name(path: &str) -> String {
    if path.starts_with("./") || path.starts_with('/') || path.starts_with("../") {
        path.to_string()
    } else {
        format!("./{path}")
    }
}

fn load_file(path: &str) -> Result<SourceFile, String> {
    let supported = [".cue", ".json"];
    if !supported.iter().any(|ext| path.ends_with(ext)) {
        return Err(format!("unsupported feature: input file {path} (only .cue and .json files are supported)\n"));
    }
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}\n"))?;
    Ok(SourceFile::new(display_name(path), text))
}

fn load_dir(dir: &str) -> Result<Vec<SourceFile>, String> {
    let dir = dir.trim_end_matches("/...");
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read directory {dir}: {e}\n"))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cue") && !n.starts_with('.') && !n.starts_with('_'))
        .collect();
    names.sort();
    let mut files = Vec::new();
    for name in names {
        let path = if dir == "." { name } else { format!("{dir}/{name}") };
        files.push(load_file(&path)?);
    }
    select_package(files)
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
