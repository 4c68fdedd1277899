//! Command-line parsing (clap) for the subset of `cue` commands and flags we support. A usage error exits
//! with status 2 and clap's message; evaluation errors exit with status 1 (see `main.rs`).

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use cue_eval::{Format, Options};

use crate::limits::{Limits, parse_duration, parse_size};

/// Export CUE packages as JSON, YAML or text, like `cue export`, with Pequod's own evaluator; build CUE
/// modules into renderer components.
#[derive(Debug, Parser)]
#[command(name = "cue-to-wasm", version, arg_required_else_help = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A parsed command line.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate the inputs and print the result, like `cue export`.
    Export(ExportArgs),
    /// Evaluate the inputs and report errors only, like `cue vet` (prints nothing on success).
    Vet(Inputs),
    /// Compile a CUE platform module into a renderer component (`.wasm`).
    Build(BuildArgs),
}

/// The arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The output format.
    #[arg(long, value_enum, default_value_t = OutFormat::Json)]
    pub out: OutFormat,
    /// Export this expression instead of the whole package; repeat it to export several, in order, each as
    /// its own document (YAML documents are separated by `---`).
    #[arg(short = 'e', long = "expression", value_name = "EXPR", allow_hyphen_values = true)]
    pub expressions: Vec<String>,
    /// The inputs, placement and limits, shared with `vet`.
    #[command(flatten)]
    pub inputs: Inputs,
}

/// The inputs and limits of `export` and `vet`.
#[derive(Debug, Args)]
pub struct Inputs {
    /// CUE files, data files (`.json`, `.yaml`, `.jsonl`, optionally after a `json:`-style qualifier),
    /// directories or `dir:package`; the current directory when none is given.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Place each data file's documents at this path (a CUE expression over the document's fields, e.g.
    /// `kind` or `"\(metadata.name)"`); repeat it for a nested path, in order.
    #[arg(short = 'l', long = "path", value_name = "PATH", allow_hyphen_values = true)]
    pub paths: Vec<String>,
    /// Let `-l` expressions see `filename`, `index`, `recordCount` and `data` instead of the document's own
    /// fields.
    #[arg(long)]
    pub with_context: bool,
    /// The most evaluation steps before the evaluation stops with an error.
    #[arg(long, value_name = "N", default_value = "3000000", value_parser = parse_count)]
    pub max_steps: u64,
    /// The most resident memory before the evaluation stops with an error: bytes, or a number with Ki, Mi or
    /// Gi (e.g. 512Mi, 4Gi).
    #[arg(long, value_name = "SIZE", default_value = "2Gi", value_parser = parse_size)]
    pub max_memory: u64,
    /// The longest the evaluation may take: a number with ms, s, m or h (e.g. 500ms, 30s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Accepted for compatibility with `cue`; has no effect (every check is always on).
    #[arg(long, hide_short_help = true)]
    pub strict: bool,
    /// Accepted for compatibility with `cue`; has no effect (every error is always reported).
    #[arg(long, hide_short_help = true)]
    pub all_errors: bool,
    /// Accepted for compatibility with `cue`; has no effect (exported values are always concrete).
    #[arg(short = 'c', long, hide_short_help = true)]
    pub concrete: bool,
}

/// The arguments of `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The module directory (within a CUE module, `cue.mod`, or on its own).
    #[arg(value_name = "MODULE_DIR")]
    pub dir: String,
    /// Where to write the component; `<module name>.wasm` in the current directory when not given.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<String>,
}

/// `--out`: the output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// JSON with 4-space indentation.
    Json,
    /// YAML, in the official `cue`'s style.
    Yaml,
    /// The value as is; it must be a string, number or bool.
    Text,
}

impl From<OutFormat> for Format {
    fn from(format: OutFormat) -> Format {
        match format {
            OutFormat::Json => Format::Json,
            OutFormat::Yaml => Format::Yaml,
            OutFormat::Text => Format::Text,
        }
    }
}

/// What `export` and `vet` evaluate, and how.
pub struct Export {
    /// Files or directories.
    pub inputs: Vec<String>,
    /// The evaluation options (without the expression).
    pub options: Options,
    /// `-e`/`--expression`, in order: each is exported as its own document.
    pub expressions: Vec<String>,
    /// `-l`/`--path` and `--with-context`: where data files are placed.
    pub placement: crate::load::Placement,
    /// `--max-steps`, `--max-memory`, `--timeout`.
    pub limits: Limits,
}

impl Export {
    /// `export`'s arguments as an evaluation (`sort_fields`: `CUE_DEBUG=sortfields`).
    pub fn of_export(args: ExportArgs, sort_fields: bool) -> Export {
        let options = Options { format: args.out.into(), sort_fields, expression: None };
        Export { options, expressions: args.expressions, ..Export::of_vet(args.inputs) }
    }

    /// `vet`'s arguments as an evaluation: the default options, no expressions.
    pub fn of_vet(args: Inputs) -> Export {
        let limits = Limits { max_steps: args.max_steps, max_memory: args.max_memory, timeout: args.timeout };
        let placement = crate::load::Placement { paths: args.paths, with_context: args.with_context };
        Export { inputs: args.inputs, options: Options::default(), expressions: Vec::new(), placement, limits }
    }
}

/// Whether a `CUE_DEBUG` value (a comma-separated list of debug flags) asks for fields in label order.
pub fn debug_sortfields(flags: Option<&str>) -> bool {
    flags.is_some_and(|flags| flags.split(',').any(|f| f.trim() == "sortfields"))
}

fn parse_count(text: &str) -> Result<u64, String> {
    text.parse::<u64>().ok().filter(|&n| n > 0).ok_or(format!("invalid step count {text:?} (a positive integer)"))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{BuildArgs, Cli, Command, Export, OutFormat, debug_sortfields};
    use crate::limits::Limits;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("cue-to-wasm").chain(args.iter().copied())).map(|cli| cli.command)
    }

    fn export(args: &[&str]) -> Export {
        match parse(args) {
            Ok(Command::Export(export)) => Export::of_export(export, false),
            other => panic!("{args:?}: not an export: {other:?}"),
        }
    }

    #[test]
    fn the_command_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn export_defaults() {
        let export = export(&["export"]);
        assert!(export.inputs.is_empty() && export.expressions.is_empty() && export.placement.paths.is_empty());
        assert_eq!(export.options.format, cue_eval::Format::Json);
        assert_eq!(export.limits, Limits::default());
        assert!(!export.placement.with_context);
    }

    #[test]
    fn repeated_flags_keep_their_order_among_inputs() {
        let export = export(&["export", "a.cue", "-e", "b", "--expression=a", "x:", "-l", "kind", "-e", "-1", "y"]);
        assert_eq!(export.expressions, ["b", "a", "-1"]);
        assert_eq!(export.inputs, ["a.cue", "x:", "y"]);
        assert_eq!(export.placement.paths, ["kind"]);
    }

    #[test]
    fn formats_and_limits() {
        let table: &[(&[&str], OutFormat)] = &[
            (&["--out", "yaml"], OutFormat::Yaml),
            (&["--out=text"], OutFormat::Text),
            (&["--out", "json"], OutFormat::Json),
        ];
        for (flags, want) in table {
            let args: Vec<&str> = std::iter::once("export").chain(flags.iter().copied()).collect();
            assert_eq!(export(&args).options.format, (*want).into(), "{flags:?}");
        }
        let limited = export(&["export", "--max-steps", "10", "--max-memory=1Mi", "--timeout", "5s", "--strict", "-c"]);
        let want = Limits { max_steps: 10, max_memory: 1 << 20, timeout: std::time::Duration::from_secs(5) };
        assert_eq!(limited.limits, want);
    }

    #[test]
    fn usage_errors() {
        let table: &[&[&str]] = &[
            &["export", "--out", "cue"],
            &["export", "--max-steps", "0"],
            &["export", "--max-memory", "lots"],
            &["export", "--timeout", "30"],
            &["export", "--unknown"],
            &["export", "-e"],
            &["vet", "-e", "x"],
            &["build"],
            &["build", "a", "b"],
            &["eval"],
            &[],
        ];
        for args in table {
            let error = parse(args).expect_err(&format!("{args:?} parses"));
            assert_eq!(error.exit_code(), 2, "{args:?}: {error}");
        }
    }

    #[test]
    fn vet_and_build() {
        match parse(&["vet", "--with-context", "-l", "kind", "d.json"]) {
            Ok(Command::Vet(inputs)) => {
                let vet = Export::of_vet(inputs);
                assert_eq!((vet.inputs, vet.placement.paths), (vec!["d.json".to_string()], vec!["kind".to_string()]));
                assert!(vet.placement.with_context);
            }
            other => panic!("not a vet: {other:?}"),
        }
        match parse(&["build", "modules/webservice", "-o", "ws.wasm"]) {
            Ok(Command::Build(BuildArgs { dir, output })) => {
                assert_eq!((dir.as_str(), output.as_deref()), ("modules/webservice", Some("ws.wasm")));
            }
            other => panic!("not a build: {other:?}"),
        }
    }

    #[test]
    fn sortfields() {
        let table = [(None, false), (Some("sortfields"), true), (Some("x, sortfields"), true), (Some("sort"), false)];
        for (flags, want) in table {
            assert_eq!(debug_sortfields(flags), want, "{flags:?}");
        }
    }
}
