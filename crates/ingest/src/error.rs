use sightline_log::LogError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the event log failed: {0}")]
    Log(#[from] LogError),
    #[error("the dead-letter store failed: {0}")]
    DeadLetters(LogError),
    #[error(
        "the events could not be made durable, so none of them was acknowledged ({0}); the server refuses writes until it is restarted"
    )]
    CommitFailed(String),
    #[error(
        "the ingest writer has stopped (the server is shutting down or hit a fatal storage error); retry against a healthy instance"
    )]
    WriterStopped,
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}
