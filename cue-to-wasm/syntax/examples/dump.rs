//! Prints the S-expression dump and the errors of a CUE file: `cargo run -p cue-syntax --example dump FILE`.

#![allow(clippy::print_stdout, reason = "an example that prints its result")]

fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    let source = std::fs::read_to_string(&path).unwrap_or_default();
    let (file, errors) = cue_syntax::parse(&source);
    println!("{}", cue_syntax::dump::dump_file(&file));
    let index = cue_syntax::LineIndex::new(&source);
    for error in errors {
        println!("{path}:{}", error.display_with(&index));
    }
}
