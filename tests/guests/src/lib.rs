//! Paths of the hostile renderer components (see `tests/guests/hostile`), built for tests.

pub mod extra;

/// A hostile renderer: its name and the path of its component.
#[derive(Clone, Copy, Debug)]
pub struct Guest {
    /// The example's name.
    pub name: &'static str,
    /// The component file.
    pub path: &'static str,
}

impl Guest {
    /// The component bytes.
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.path).unwrap_or_else(|error| panic!("cannot read {}: {error}", self.path))
    }
}

macro_rules! guest {
    ($constant:ident, $name:literal, $doc:literal) => {
        #[doc = $doc]
        pub const $constant: Guest = Guest { name: $name, path: concat!(env!("OUT_DIR"), "/", $name, ".wasm") };
    };
}

guest!(SPIN, "spin", "Loops forever.");
guest!(HOG, "hog", "Allocates without bound.");
guest!(FLOOD, "flood", "Returns 100 MB of output.");
guest!(CYCLE, "cycle", "Returns a cyclic graph.");
guest!(PANIC, "panic", "Panics.");
guest!(GARBAGE, "garbage", "Returns text that is not JSON.");
guest!(SLEEP, "sleep", "Sleeps for an hour in a host call.");
guest!(BROKEN, "broken", "Reports an internal failure.");
