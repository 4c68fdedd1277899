//! Renderer modules shipped inside the `pequod` binary, resolved by `cueRef.type: embedded`.
//!
//! For now this is the plugin SDK's example web service; the CUE modules under `modules/` take its place
//! once `cue-to-wasm build` produces them.

/// A renderer component compiled into the binary.
#[derive(Debug)]
pub struct EmbeddedModule {
    /// The name a Transform uses in `spec.cueRef.ref`.
    pub name: &'static str,
    /// One line about what it renders.
    pub description: &'static str,
    /// The component bytes.
    pub wasm: &'static [u8],
}

/// Every embedded module.
pub const MODULES: &[EmbeddedModule] = &[EmbeddedModule {
    name: "webservice-example",
    description: "a web service: Deployment, Service and an optional HorizontalPodAutoscaler (plugin SDK example)",
    wasm: include_bytes!(concat!(env!("OUT_DIR"), "/webservice-example.wasm")),
}];

/// The embedded module named `name`.
pub fn find(name: &str) -> Option<&'static EmbeddedModule> {
    MODULES.iter().find(|module| module.name == name)
}

/// The names of all embedded modules, for error messages.
pub fn names() -> Vec<&'static str> {
    MODULES.iter().map(|module| module.name).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_modules_are_components() {
        for module in super::MODULES {
            // A component starts with the wasm magic and the component-model layer/version field.
            assert_eq!(&module.wasm[..4], b"\0asm", "{}", module.name);
            assert_eq!(
                &module.wasm[4..8],
                &[0x0d, 0x00, 0x01, 0x00],
                "{} is a core module, not a component",
                module.name
            );
        }
        assert!(super::find("webservice-example").is_some());
        assert!(super::find("nope").is_none());
    }
}
