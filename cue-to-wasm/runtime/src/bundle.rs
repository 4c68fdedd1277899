//! The module source as `cue-to-wasm build` hands it to the runtime component: one JSON document.

use serde::{Deserialize, Serialize};

use crate::SourceFile;

/// The name of the environment variable that carries the bundle into the component while it is
/// pre-initialised (only then: a render sees an empty environment).
pub const BUNDLE_VARIABLE: &str = "PEQUOD_CUE_MODULE";

/// Why a bundle cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("the module bundle is not valid JSON of the expected shape: {0}")]
pub struct BundleError(#[from] serde_json::Error);

/// The files of a module, by name, in the order they are evaluated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// The files of the module's package.
    pub files: Vec<BundleFile>,
    /// The packages it imports (other than the standard library), by import path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<BundlePackage>,
}

/// An imported package of a [`Bundle`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundlePackage {
    /// The import path, e.g. `pequod.io/modules/policy`.
    pub path: String,
    /// Its files.
    pub files: Vec<BundleFile>,
}

/// One file of a [`Bundle`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleFile {
    /// The name shown in positions, e.g. `webservice.cue`.
    pub name: String,
    /// The source text.
    pub text: String,
}

impl Bundle {
    /// The bundle of a package's `files` and the packages it imports.
    pub fn new(files: &[SourceFile], imported: &[(String, Vec<SourceFile>)]) -> Bundle {
        let convert = |files: &[SourceFile]| -> Vec<BundleFile> {
            files.iter().map(|f| BundleFile { name: f.name.clone(), text: f.text.clone() }).collect()
        };
        let packages =
            imported.iter().map(|(path, files)| BundlePackage { path: path.clone(), files: convert(files) }).collect();
        Bundle { files: convert(files), packages }
    }

    /// Reads a bundle from its JSON text.
    pub fn from_json(text: &str) -> Result<Bundle, BundleError> {
        Ok(serde_json::from_str(text)?)
    }

    /// The bundle as JSON text (deterministic: same files, same text).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a bundle always serializes")
    }

    /// The files of the package and of the imported packages, as the evaluator takes them.
    pub fn into_sources(self) -> (Vec<SourceFile>, Vec<(String, Vec<SourceFile>)>) {
        let convert = |files: Vec<BundleFile>| files.into_iter().map(|f| SourceFile::new(f.name, f.text)).collect();
        let imported = self.packages.into_iter().map(|p| (p.path, convert(p.files))).collect();
        (convert(self.files), imported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let files = [SourceFile::new("a.cue", "a: \"\\u00e9\"\n"), SourceFile::new("b.cue", "b: 1\n")];
        let policy = vec![SourceFile::new("policy/p.cue", "package policy\n")];
        let bundle = Bundle::new(&files, &[("example.com/m/policy".to_owned(), policy)]);
        let back = Bundle::from_json(&bundle.to_json()).unwrap();
        assert_eq!(back, bundle);
        let (main, imported) = back.into_sources();
        assert_eq!(main[1].text, "b: 1\n");
        assert_eq!(imported[0].0, "example.com/m/policy");
        assert_eq!(imported[0].1[0].name, "policy/p.cue");
        assert!(Bundle::from_json("{\"files\": 3}").is_err());
    }
}
