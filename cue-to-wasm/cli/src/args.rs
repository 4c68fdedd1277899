//! Command-line parsing for the subset of `cue` flags we support.

use cue_eval::{Format, Options};

use crate::limits::{Limits, parse_duration, parse_size};

/// The usage text.
pub const USAGE: &str =
    "usage: cue-to-wasm export [--out json|yaml] [-e expr]… [-l path]… [--with-context] [limits] [files… | dir | .]
       cue-to-wasm vet [-l path]… [--with-context] [limits] [files… | dir | .]
       cue-to-wasm build <module-dir> [-o file.wasm]
limits: --max-steps N (default 3000000), --max-memory SIZE (default 2Gi), --timeout DURATION (default 2m)
";

/// A parsed command line.
pub enum Command {
    /// `export`.
    Export(Export),
    /// `vet`: evaluate and report errors only (inputs, `-l` paths and limits are used).
    Vet(Export),
    /// `build`: compile a module into a renderer component.
    Build(crate::build::BuildArgs),
    /// `help` or no arguments.
    Help,
}

/// The arguments of `export`.
pub struct Export {
    /// Files or directories.
    pub inputs: Vec<String>,
    /// The evaluation options (without the expression).
    pub options: Options,
    /// `-e`/`--expression`, in order: each is exported as its own document (YAML documents are separated by
    /// `---`).
    pub expressions: Vec<String>,
    /// `-l`/`--path` and `--with-context`: where data files are placed.
    pub placement: crate::load::Placement,
    /// `--max-steps`, `--max-memory`, `--timeout`.
    pub limits: Limits,
}

/// Parses the arguments after the program name.
pub fn parse(argv: &[String]) -> Result<Command, String> {
    let Some((command, rest)) = argv.split_first() else { return Ok(Command::Help) };
    match command.as_str() {
        "export" => parse_export(rest).map(Command::Export),
        "vet" => parse_export(rest).map(Command::Vet),
        "build" => parse_build(rest).map(Command::Build),
        "help" | "-h" | "--help" => Ok(Command::Help),
        other => Err(format!("unsupported command {other:?}\n{USAGE}")),
    }
}

fn parse_export(rest: &[String]) -> Result<Export, String> {
    let mut options = Options { sort_fields: debug_sortfields(), ..Options::default() };
    let mut inputs = Vec::new();
    let mut placement = crate::load::Placement::default();
    let mut expressions = Vec::new();
    let mut limits = Limits::default();
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value =
            || inline.clone().or_else(|| iter.next().cloned()).ok_or(format!("flag needs an argument: {flag}\n"));
        match flag {
            "--out" => options.format = parse_format(&value()?)?,
            "-e" | "--expression" => expressions.push(value()?),
            "-l" | "--path" => placement.paths.push(value()?),
            "--with-context" => placement.with_context = true,
            "--max-steps" => limits.max_steps = parse_count(&value()?)?,
            "--max-memory" => limits.max_memory = parse_size(&value()?)?,
            "--timeout" => limits.timeout = parse_duration(&value()?)?,
            "--strict" | "--all-errors" | "-c" | "--concrete" => {}
            f if f.starts_with('-') && f.len() > 1 => return Err(format!("unsupported flag {f}\n")),
            _ => inputs.push(arg.clone()),
        }
    }
    Ok(Export { inputs, options, expressions, placement, limits })
}

/// `CUE_DEBUG=sortfields` (a comma-separated list of debug flags): export fields in label order.
fn debug_sortfields() -> bool {
    std::env::var("CUE_DEBUG").is_ok_and(|flags| flags.split(',').any(|f| f.trim() == "sortfields"))
}

fn parse_count(text: &str) -> Result<u64, String> {
    text.parse::<u64>().ok().filter(|&n| n > 0).ok_or(format!("invalid step count {text:?}\n"))
}

fn parse_format(text: &str) -> Result<Format, String> {
    match text {
        "json" => Ok(Format::Json),
        "yaml" => Ok(Format::Yaml),
        "text" => Ok(Format::Text),
        other => Err(format!("unsupported output format {other:?}\n")),
    }
}

fn parse_build(rest: &[String]) -> Result<crate::build::BuildArgs, String> {
    let mut dir = None;
    let mut output = None;
    let mut iter = rest.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-o" | "--output" => output = Some(iter.next().ok_or(format!("flag needs an argument: {arg}\n"))?.clone()),
            flag if flag.starts_with("--output=") => output = Some(flag["--output=".len()..].to_string()),
            flag if flag.starts_with('-') && flag.len() > 1 => return Err(format!("unsupported flag {flag}\n")),
            _ if dir.is_some() => return Err(format!("build takes one module directory\n{USAGE}")),
            _ => dir = Some(arg.clone()),
        }
    }
    let dir = dir.ok_or(format!("build needs a module directory\n{USAGE}"))?;
    Ok(crate::build::BuildArgs { dir, output })
}
