//! Errors of the reconcilers, sorted into transient (retry) and permanent (reported, wait for a change).

/// Why a reconcile did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request; retried with a delay.
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    /// A finalizer step failed.
    #[error("finalizer failed: {0}")]
    Finalizer(String),
    /// The object is missing a field the controller needs (e.g. a namespace).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// A short label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(_) => "finalizer",
            Error::Invalid(_) => "invalid",
        }
    }
}
