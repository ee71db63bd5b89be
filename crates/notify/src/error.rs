//! What can go wrong setting the receivers up. Delivery failures are not errors of this
//! kind: they are [`crate::DeliveryError`]s, counted, retried and reported per attempt.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum NotifyError {
    /// A receiver's configuration is wrong; the message says how to fix it.
    #[error("receiver `{receiver}`: `{field}` {problem}")]
    Config {
        receiver: String,
        field: &'static str,
        problem: String,
    },
    #[error(
        "receiver `{0}` is defined twice: give each [[receiver]] its own name (routes refer to it)"
    )]
    DuplicateReceiver(String),
    /// The `[[receiver]]` tables could not be read at all.
    #[error("{location}: {problem}")]
    Parse { location: String, problem: String },
}

impl NotifyError {
    pub(crate) fn config(
        receiver: &str,
        field: &'static str,
        problem: impl Into<String>,
    ) -> NotifyError {
        NotifyError::Config {
            receiver: receiver.to_owned(),
            field,
            problem: problem.into(),
        }
    }
}
