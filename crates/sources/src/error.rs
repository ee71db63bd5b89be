//! What can go wrong in a source, outside one delivery's own problems (those are
//! [`crate::shopify::Refusal`]s, answered to the sender).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "Shopify shop {shop}: the {what} is read from environment variable {name}, which is not set; export it before starting Sightline"
    )]
    SecretEnvMissing {
        shop: String,
        what: &'static str,
        name: String,
    },
    #[error(
        "Shopify shop {shop}: cannot read the {what} from {path}: {source}; check the path and its permissions"
    )]
    SecretFile {
        shop: String,
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Shopify shop {shop}: the {what} is empty; set the secret Shopify shows for the app")]
    SecretEmpty { shop: String, what: &'static str },
    #[error(
        "Shopify shop {shop} has no access token for the Admin API; set access_token_env or access_token_file in its [[sources.shopify.shops]] table"
    )]
    NoAccessToken { shop: String },
    #[error("no Shopify shop {shop} in the configuration; the configured shops are: {known}")]
    UnknownShop { shop: String, known: String },
    #[error("cannot open the Shopify state journal {path}: {source}; check the data directory")]
    JournalOpen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot write the Shopify state journal {path}: {source}; the delivery was not acknowledged, Shopify will retry"
    )]
    JournalWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Admin API request {url} failed: {message}")]
    AdminApi { url: String, message: String },
    #[error("Admin API answer from {url} is not the documented orders shape: {message}")]
    AdminApiShape { url: String, message: String },
    #[error(
        "Odoo source: the {what} is read from environment variable {name}, which is not set; export it before starting Sightline"
    )]
    OdooSecretEnvMissing { what: &'static str, name: String },
    #[error(
        "Odoo source: cannot read the {what} from {path}: {source}; check the path and its permissions"
    )]
    OdooSecretFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Odoo source: the {what} is empty; set it in [sources.odoo]")]
    OdooSecretEmpty { what: &'static str },
    #[error("Odoo API request {url} failed: {message}")]
    OdooApi { url: String, message: String },
    #[error("Odoo API answer from {url} is not the documented shape: {message}")]
    OdooApiShape { url: String, message: String },
    #[error(
        "Odoo refused {what} at {url}: {message}; check [sources.odoo.poller] db, user and password or API key"
    )]
    OdooAuth {
        what: &'static str,
        url: String,
        message: String,
    },
    #[error("cannot {action} the Odoo poll cursors {path}: {source}; check the data directory")]
    OdooCursor {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the Odoo outbox in PostgreSQL: {message}")]
    OdooOutbox { message: String },
    #[error(
        "committing Odoo events failed: {message}; nothing was acknowledged, it is tried again"
    )]
    Commit { message: String },
}

/// Why a verified delivery's body cannot be translated; the message starts with the path
/// of the field in Shopify's payload, as every rejection in Sightline does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    #[error(
        "body: not a JSON object ({message}); Shopify sends JSON webhooks, check the subscription's format"
    )]
    NotJson { message: String },
    #[error("{path}: required field is missing")]
    Missing { path: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl TranslateError {
    pub fn missing(path: impl Into<String>) -> TranslateError {
        TranslateError::Missing { path: path.into() }
    }

    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> TranslateError {
        TranslateError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same problem inside `prefix` (an element of an array: `refunds[2]`), its path
    /// prefixed.
    pub fn nested(self, prefix: &str) -> TranslateError {
        match self {
            TranslateError::Missing { path } => TranslateError::missing(format!("{prefix}.{path}")),
            TranslateError::Invalid { path, message } => {
                TranslateError::invalid(format!("{prefix}.{path}"), message)
            }
            other => other,
        }
    }

    /// The dead-letter class of this problem.
    pub fn code(&self) -> sightline_model::RejectionCode {
        match self {
            TranslateError::NotJson { .. } => sightline_model::RejectionCode::InvalidJson,
            TranslateError::Missing { .. } => sightline_model::RejectionCode::MissingField,
            TranslateError::Invalid { .. } => sightline_model::RejectionCode::InvalidField,
        }
    }
}
