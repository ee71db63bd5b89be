use std::path::PathBuf;

/// Everything alerting can refuse or fail at. Configuration errors name the rule, route,
/// interval or policy and the field; API errors name the alert or silence.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("alert rule {rule:?}: {field}: {message}")]
    InvalidRule {
        rule: String,
        field: String,
        message: String,
    },
    #[error("route {route}: {field}: {message}")]
    InvalidRoute {
        route: String,
        field: String,
        message: String,
    },
    #[error("time interval {interval:?}: {field}: {message}")]
    InvalidInterval {
        interval: String,
        field: String,
        message: String,
    },
    #[error("escalation policy for {severity}: {field}: {message}")]
    InvalidEscalation {
        severity: String,
        field: String,
        message: String,
    },
    #[error("inhibit rule {index}: {field}: {message}")]
    InvalidInhibit {
        index: usize,
        field: String,
        message: String,
    },
    #[error("no alert has the id {0:?}; list alerts with GET /v1/alerts")]
    UnknownAlert(String),
    #[error(
        "alert {id:?} is {state}, not firing: only a firing alert can be acknowledged; \
         resolved alerts need no action"
    )]
    NotFiring { id: String, state: String },
    #[error("no silence has the id {0:?}; list silences with GET /v1/silences")]
    UnknownSilence(String),
    #[error("invalid silence: {0}")]
    InvalidSilence(String),
    #[error(
        "cannot {action} the alert journal {path}: {source}; check the disk and permissions of the data directory"
    )]
    Journal {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the alert journal {path} failed to write or sync earlier; alert state is no longer \
         recorded durably: restart the server to recover from disk"
    )]
    JournalFailed { path: PathBuf },
}

impl AlertsError {
    pub(crate) fn journal(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> AlertsError {
        let path = path.to_path_buf();
        move |source| AlertsError::Journal {
            action,
            path,
            source,
        }
    }
}
