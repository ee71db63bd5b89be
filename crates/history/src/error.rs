/// A history store that cannot be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot open the history store {path}: {message}")]
    Open { path: String, message: String },
    #[error("history store: {0}")]
    Storage(String),
    #[error(
        "history store: a stored window cannot be read ({0}); it was written by another version"
    )]
    Decode(String),
}

impl HistoryError {
    pub(crate) fn storage(error: impl std::fmt::Display) -> HistoryError {
        HistoryError::Storage(error.to_string())
    }
}
