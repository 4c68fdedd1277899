//! Write a Pequod renderer in Rust.
//!
//! A renderer turns a Transform's `spec.input` into a [`Graph`] of Kubernetes objects. With this crate it is
//! a type implementing [`Renderer`] plus one [`export_renderer!`] line; the crate deserializes the input
//! into your type (turning serde errors into `input` violations with a path into `spec.input`), fills the
//! graph's metadata and speaks the `pequod:renderer` WIT world for you. Build it as a component:
//!
//! ```text
//! cargo build --release --target wasm32-wasip2   # crate-type = ["cdylib"]
//! pequod render transform.yaml --module target/wasm32-wasip2/release/my_renderer.wasm
//! ```
//!
//! ```no_run
//! use pequod_plugin_sdk::{Graph, Node, RenderContext, RenderError, Renderer, json};
//!
//! #[derive(serde::Deserialize)]
//! struct Input { message: String }
//!
//! struct Hello;
//!
//! impl Renderer for Hello {
//!     const NAME: &'static str = "hello";
//!     const VERSION: &'static str = "0.1.0";
//!     type Input = Input;
//!
//!     fn input_schema() -> pequod_plugin_sdk::Value {
//!         json!({"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}})
//!     }
//!
//!     fn render(input: Input, context: &RenderContext) -> Result<Graph, RenderError> {
//!         let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
//!             "metadata": {"name": context.name}, "data": {"message": input.message}});
//!         Ok(Graph::new(Self::NAME, Self::VERSION).with_node(Node::new("config", config)))
//!     }
//! }
//!
//! pequod_plugin_sdk::export_renderer!(Hello);
//! ```
//!
//! Renderers run in a sandbox without files, network, clock or randomness; the same input always gives the
//! same graph. A panic ends the render as a trap, and the host shows the panic message to the user, so
//! prefer returning [`RenderError`] for anything a user can fix.

// The generated bindings name this crate by its external name, also from inside it.
extern crate self as pequod_plugin_sdk;

pub use pequod_graph::{
    ApplyMode, ApplyPolicy, ConditionStatus, ConflictPolicy, DeletionPolicy, GRAPH_VERSION, Graph, GraphMetadata, Node,
    Phase, Readiness, RenderContext, Severity, Violation,
};
pub use serde_json::{Map, Value, json};

/// Why a render produced no graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenderError {
    /// The input (or the objects it leads to) broke the module's rules; at least one violation of severity
    /// error. The user fixes their Transform.
    Rejected(Vec<Violation>),
    /// The module failed: a bug or an internal error. The module's author fixes the module.
    Failed(String),
}

impl RenderError {
    /// Rejects the input with one violation at `path` (relative to `spec.input`).
    pub fn input(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Rejected(vec![Violation::error(Phase::Input, path, message)])
    }
}

/// Module metadata returned by `info()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The module's name.
    pub name: String,
    /// The module's version.
    pub version: String,
    /// The JSON Schema of the input, as JSON text.
    pub input_schema: String,
}

/// A renderer with typed input. Export it with [`export_renderer!`].
pub trait Renderer {
    /// The module's name (a DNS label).
    const NAME: &'static str;
    /// The module's version (SemVer).
    const VERSION: &'static str;
    /// The input, deserialized from `spec.input`; use `#[serde(deny_unknown_fields)]` to reject typos.
    type Input: serde::de::DeserializeOwned;

    /// A JSON Schema of [`Self::Input`], published through `info()`.
    fn input_schema() -> Value;

    /// Renders the graph.
    fn render(input: Self::Input, context: &RenderContext) -> Result<Graph, RenderError>;
}

/// A renderer that handles JSON text itself; for runtimes that already produce JSON (such as the CUE
/// runtime) and for testing hosts. Export it with [`export_raw_renderer!`].
pub trait RawRenderer {
    /// The module's metadata.
    fn info() -> ModuleInfo;

    /// Renders `input` and `context` (JSON text) into a graph (JSON text).
    fn render(input: String, context: String) -> Result<String, RenderError>;
}

/// Exports a [`Renderer`] as the component's `pequod:renderer` implementation.
#[macro_export]
macro_rules! export_renderer {
    ($renderer:ty) => {
        struct __PequodTypedExport;
        impl $crate::RawRenderer for __PequodTypedExport {
            fn info() -> $crate::ModuleInfo {
                $crate::__private::typed_info::<$renderer>()
            }
            fn render(
                input: ::std::string::String,
                context: ::std::string::String,
            ) -> Result<::std::string::String, $crate::RenderError> {
                $crate::__private::typed_render::<$renderer>(&input, &context)
            }
        }
        $crate::export_raw_renderer!(__PequodTypedExport);
    };
}

/// Exports a [`RawRenderer`] as the component's `pequod:renderer` implementation.
#[macro_export]
macro_rules! export_raw_renderer {
    ($renderer:ty) => {
        const _: () = {
            struct __PequodRawExport;
            impl $crate::__wit::Guest for __PequodRawExport {
                fn info() -> $crate::__wit::pequod::renderer::types::ModuleInfo {
                    $crate::__private::wit_info(<$renderer as $crate::RawRenderer>::info())
                }
                fn render(
                    input: ::std::string::String,
                    context: ::std::string::String,
                ) -> Result<::std::string::String, $crate::__wit::pequod::renderer::types::RenderError> {
                    <$renderer as $crate::RawRenderer>::render(input, context).map_err($crate::__private::wit_error)
                }
            }
    $crate::__wit::__export_renderer_world!(__PequodRawExport with_types_in $crate::__wit);
        };
    };
}

/// The generated bindings of the `pequod:renderer` world; not part of the API.
#[doc(hidden)]
#[allow(missing_docs, unsafe_code, reason = "generated by wit-bindgen")]
pub mod __wit {
    wit_bindgen::generate!({
        path: "../wit/renderer.wit",
        world: "renderer",
        pub_export_macro: true,
        export_macro_name: "__export_renderer_world",
        default_bindings_module: "pequod_plugin_sdk::__wit",
        runtime_path: "pequod_plugin_sdk::__wit::wit_bindgen::rt",
    });
    #[doc(hidden)]
    pub use wit_bindgen;
}

/// Glue used by the export macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    use crate::__wit::pequod::renderer::types as wit;
    use crate::{GRAPH_VERSION, ModuleInfo, Phase, RenderContext, RenderError, Renderer, Severity};

    pub fn typed_info<R: Renderer>() -> ModuleInfo {
        ModuleInfo {
            name: R::NAME.to_owned(),
            version: R::VERSION.to_owned(),
            input_schema: R::input_schema().to_string(),
        }
    }

    pub fn typed_render<R: Renderer>(input: &str, context: &str) -> Result<String, RenderError> {
        let context: RenderContext = serde_json::from_str(context).map_err(|error| {
            RenderError::Failed(format!("the host sent a context this module cannot read: {error}"))
        })?;
        let input = parse_input::<R::Input>(input)?;
        let mut graph = R::render(input, &context)?;
        if graph.metadata.module.is_empty() {
            R::NAME.clone_into(&mut graph.metadata.module);
        }
        if graph.metadata.version.is_empty() {
            R::VERSION.clone_into(&mut graph.metadata.version);
        }
        serde_json::to_string(&graph)
            .map_err(|error| RenderError::Failed(format!("cannot serialize the graph: {error}")))
    }

    /// Deserializes the input, reporting where in `spec.input` it went wrong.
    pub fn parse_input<T: serde::de::DeserializeOwned>(input: &str) -> Result<T, RenderError> {
        let mut deserializer = serde_json::Deserializer::from_str(input);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let message = strip_position(&error.inner().to_string());
            RenderError::input(path, message)
        })
    }

    /// serde_json appends "at line 1 column 57"; the position in a JSON text the user never wrote is noise.
    fn strip_position(message: &str) -> String {
        match message.rfind(" at line ") {
            Some(at) => message[..at].to_owned(),
            None => message.to_owned(),
        }
    }

    pub fn wit_info(info: ModuleInfo) -> wit::ModuleInfo {
        wit::ModuleInfo {
            name: info.name,
            version: info.version,
            input_schema: info.input_schema,
            graph_version: GRAPH_VERSION.to_owned(),
        }
    }

    pub fn wit_error(error: RenderError) -> wit::RenderError {
        match error {
            RenderError::Failed(message) => wit::RenderError::Failed(message),
            RenderError::Rejected(violations) => wit::RenderError::Rejected(
                violations
                    .into_iter()
                    .map(|violation| wit::Violation {
                        path: violation.path,
                        message: violation.message,
                        severity: match violation.severity {
                            Severity::Error => wit::Severity::Error,
                            Severity::Warning => wit::Severity::Warning,
                            Severity::Info => wit::Severity::Info,
                        },
                        phase: match violation.phase {
                            Phase::Input => wit::Phase::Input,
                            Phase::Render => wit::Phase::Render,
                            Phase::Output => wit::Phase::Output,
                        },
                    })
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::__private::parse_input;
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields are read through Debug only")]
    struct Input {
        image: String,
        #[serde(default)]
        ports: Vec<Port>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "fields are read through Debug only")]
    struct Port {
        port: u16,
    }

    fn violation(input: &str) -> Violation {
        match parse_input::<Input>(input).unwrap_err() {
            RenderError::Rejected(mut violations) => violations.remove(0),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn input_errors_point_into_spec_input() {
        let nested = violation(r#"{"image": "nginx", "ports": [{"port": 80}, {"port": 70000}]}"#);
        assert_eq!(nested.path, "ports[1].port");
        assert_eq!(nested.phase, Phase::Input);
        assert!(nested.message.starts_with("invalid value: integer `70000`"), "{}", nested.message);
        assert!(!nested.message.contains("line"), "{}", nested.message);
        let missing = violation("{}");
        assert_eq!((missing.path.as_str(), missing.message.as_str()), ("", "missing field `image`"));
        let typo = violation(r#"{"image": "nginx", "replicsa": 2}"#);
        assert!(typo.message.starts_with("unknown field `replicsa`"), "{}", typo.message);
    }
}
