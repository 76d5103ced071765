//! One error type for programs that use all of Kiln.

/// Any Kiln error, so a program can use `?` across data, model and training calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From `kiln-datasets` (boxed: its variants carry paths, addresses and hashes).
    #[error(transparent)]
    Data(Box<kiln_datasets::Error>),
    /// From `kiln-model`.
    #[error(transparent)]
    Model(#[from] kiln_model::Error),
    /// From `kiln-train`.
    #[error(transparent)]
    Train(#[from] kiln_train::Error),
    /// From the backend choice.
    #[error(transparent)]
    Backend(#[from] crate::backend::BackendError),
}

impl From<kiln_datasets::Error> for Error {
    fn from(e: kiln_datasets::Error) -> Self {
        Error::Data(Box::new(e))
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes on one line: `cannot access x: permission denied`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// [`error_chain`] for an owned error, handy in `map_err`.
pub fn error_chain_string<E: std::error::Error>(error: E) -> String {
    error_chain(&error)
}
