//! Secrets (webhook URLs with their token, passwords, API keys): read from the
//! environment or a file at start-up, never inline in the configuration, and never
//! printed: `Debug` and `Display` say `<secret>`, and delivery errors are scrubbed of
//! every secret's text before anyone sees them.

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::error::NotifyError;

/// A value that must not be logged. Only [`Secret::expose`] reveals it, at the single
/// place it is put on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("\"<secret>\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("<secret>")
    }
}

// Deserialised only so that an inline secret in the configuration can be recognised and
// rejected with a useful message, without its text ever reaching a Debug print.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// A secret's fields in a `[[receiver]]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretField {
    Url,
    Password,
    AuthToken,
    RoutingKey,
    BearerToken,
}

impl SecretField {
    /// The field's base name, e.g. `password`, and its `_env` and `_file` fields.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            SecretField::Url => ("url", "url_env", "url_file"),
            SecretField::Password => ("password", "password_env", "password_file"),
            SecretField::AuthToken => ("auth_token", "auth_token_env", "auth_token_file"),
            SecretField::RoutingKey => ("routing_key", "routing_key_env", "routing_key_file"),
            SecretField::BearerToken => ("bearer_token", "bearer_token_env", "bearer_token_file"),
        }
    }
}

/// Where a secret comes from: `<field>_env` (the name of an environment variable) or
/// `<field>_file` (a file holding it; surrounding whitespace is trimmed, so a trailing
/// newline is fine). Made by [`crate::ReceiverConfig::secret_source`].
pub(crate) struct SecretSource<'a> {
    pub receiver: &'a str,
    pub field: SecretField,
    pub inline: Option<&'a Secret>,
    pub env: Option<&'a str>,
    pub file: Option<&'a str>,
}

impl SecretSource<'_> {
    /// The secret, or `None` when none of the fields is set.
    pub fn load(&self) -> Result<Option<Secret>, NotifyError> {
        let (field, env_field, file_field) = self.field.names();
        if self.inline.is_some() {
            return Err(NotifyError::config(
                self.receiver,
                field,
                format!(
                    "must not be written in the configuration: it is a secret. Put it in an \
                     environment variable and name that in `{env_field}`, or in a file and give \
                     its path in `{file_field}`"
                ),
            ));
        }
        match (self.env, self.file) {
            (Some(_), Some(_)) => Err(NotifyError::config(
                self.receiver,
                env_field,
                format!("and `{file_field}` are both set: keep one"),
            )),
            (Some(variable), None) => match std::env::var(variable) {
                Ok(value) if !value.trim().is_empty() => Ok(Some(Secret(value.trim().to_owned()))),
                Ok(_) => Err(NotifyError::config(
                    self.receiver,
                    env_field,
                    format!("names the environment variable `{variable}`, which is empty"),
                )),
                Err(_) => Err(NotifyError::config(
                    self.receiver,
                    env_field,
                    format!(
                        "names the environment variable `{variable}`, which is not set (or not \
                         UTF-8): export it before starting Sightline"
                    ),
                )),
            },
            (None, Some(path)) => match std::fs::read_to_string(path) {
                Ok(value) if !value.trim().is_empty() => Ok(Some(Secret(value.trim().to_owned()))),
                Ok(_) => Err(NotifyError::config(
                    self.receiver,
                    file_field,
                    format!("names the file {path}, which is empty"),
                )),
                Err(error) => Err(NotifyError::config(
                    self.receiver,
                    file_field,
                    format!("names the file {path}, which cannot be read ({error})"),
                )),
            },
            (None, None) => Ok(None),
        }
    }

    /// The secret, which this receiver cannot work without.
    pub fn require(&self) -> Result<Secret, NotifyError> {
        let (field, env_field, file_field) = self.field.names();
        self.load()?.ok_or_else(|| {
            NotifyError::config(
                self.receiver,
                env_field,
                format!(
                    "is missing: give the {field} through an environment variable named in \
                     `{env_field}` or a file named in `{file_field}`"
                ),
            )
        })
    }
}

/// Replaces every secret's text in `message` by `<secret>`: errors from the HTTP and SMTP
/// libraries may quote a URL or a server's reply, and those may carry one.
pub(crate) fn scrub(message: &str, secrets: &[&Secret]) -> String {
    let mut scrubbed = message.to_owned();
    for secret in secrets {
        // Very short values would blank out ordinary words; real secrets are long.
        if secret.0.len() >= 4 {
            scrubbed = scrubbed.replace(&secret.0, "<secret>");
        }
    }
    scrubbed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("xoxb-very-secret");
        assert_eq!(format!("{secret:?}"), "\"<secret>\"");
        assert_eq!(format!("{secret}"), "<secret>");
        assert_eq!(
            scrub("POST https://hooks/xoxb-very-secret failed", &[&secret]),
            "POST https://hooks/<secret> failed"
        );
    }
}
