//! Support for the differential test (`differential.rs`): running the official `cue` and ours side by side.

pub mod classes;
pub mod compare;
pub mod divergences;
pub mod generator;
pub mod kinds;
pub mod tools;
